"""gc.optim: optimizers whose update rules are graph nodes (compiled by gc.train_step)."""
from .optimizer import Optimizer, UpdateGraph
from .sgd import SGD
from .adam import Adam

__all__ = ["Optimizer", "UpdateGraph", "SGD", "Adam"]
