"""f.impl.profile on the cpu backend: a clock read in the compiled driver around each kernel
(graphc/backend/numba/clock.py)."""
import numpy as np

import graphc as gc


def test_the_profile_times_every_kernel_inside_the_compiled_step():
    # f.impl.profile reads a clock in the compiled driver around each kernel: one time per
    # kernel, in seconds, none negative, the kernels run as a step runs them
    x, w, y = gc.tensor("x", ("B", 8)), gc.tensor("w", (8, 3)), gc.tensor("y", ("B",), "int64")
    loss = gc.cross_entropy(gc.relu(x @ w), y)
    f = gc.compile([loss] + gc.grad(loss, [w]), backend="cpu")
    feeds = {"x": np.ones((5, 8), np.float32), "w": np.ones((8, 3), np.float32),
             "y": np.arange(5) % 3}
    times = f.impl.profile(feeds, {"B": 5}, repeat=3)
    assert sorted(times) == sorted(k.name for k in f.kernels)
    assert all(np.isfinite(t) and t >= 0 for t in times.values())
    assert "now(clock)" in f.impl.source
