"""Run by benchmarks/run.py's "compile latency" block in a fresh process: import graphc,
build the big MLP's gc.train_step on backend "cpu", take one step; print, as JSON, when
(time.time()) the import ended and the step ended, and how long the import alone took.

    python first_step.py [--import-only]
"""
import json
import sys
import time

start = time.perf_counter()
import graphc as gc  # noqa: E402

imported = time.time()
result = {"import_s": time.perf_counter() - start, "imported": imported}
if "--import-only" not in sys.argv:
    import numpy as np
    sizes, batch = (784, 512, 512, 10), 256
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [gc.nn.Linear(a, b), gc.nn.ReLU()]
    model = gc.nn.Sequential(*layers[:-1])
    x, y = gc.tensor("x", ("B", sizes[0])), gc.tensor("y", ("B",), dtype="int64")
    loss = gc.nn.CrossEntropyLoss()(model(x), y)
    step = gc.train_step(loss, gc.optim.SGD(model.parameters(), lr=0.01), backend="cpu")
    rng = np.random.default_rng(0)
    step(x=rng.standard_normal((batch, sizes[0]), dtype=np.float32),
         y=rng.integers(0, sizes[-1], batch))
    result["stepped"] = time.time()
print(json.dumps(result))
