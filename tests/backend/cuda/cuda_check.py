"""Comparing backend "cuda" with the reference: the same outputs, dtypes and shapes, floats
within float32 tolerances (a GPU's libdevice and NumPy may differ by an ulp or two; a
parallel sum adds in another order), NaN where the reference has NaN."""
import numpy as np

import graphc as gc


def tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def assert_same(want, got, label=""):
    for k, (w, g) in enumerate(zip(want, got)):
        w, g = np.asarray(w), np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (label, k, g.dtype, w.dtype, g.shape,
                                                          w.shape)
        if w.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{label} {k}")
            np.testing.assert_allclose(g, w, err_msg=f"{label} output {k}", **tolerance(w.dtype))
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{label} output {k}")


def assert_agree(outputs, feeds, opt_level=None, inputs=None):
    ref = gc.compile(outputs, inputs=inputs, backend="reference", opt_level=opt_level)
    dev = gc.compile(outputs, inputs=inputs, backend="cuda", opt_level=opt_level)
    with np.errstate(all="ignore"):
        want, got = ref(**feeds), dev(**feeds)
    if not isinstance(want, tuple):
        want, got = (want,), (got,)
    assert_same(want, got)
    return dev
