"""Drawing graphs: `to_dot` (Graphviz DOT text) and `render` (a picture file), each loaded when
first asked for: the compiler needs only `names` (what a drawing calls a gradient), and loading
the drawing code with it took 5 ms of every first compile."""
import importlib

_LAZY = {"to_dot": "graphc.viz.dot", "render": "graphc.viz.pictures"}


def __getattr__(name):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'graphc.viz' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
