"""What the cpu and cuda index-kernel tests share: argmax's special rows and the check that a
backend raises the reference's own error."""
import numpy as np
import pytest

nan, inf = np.nan, np.inf

# each row a case for argmax along axis 1: a tie, NaNs, all -inf, signed zeros, +inf twice,
# all NaN, NaN after the maximum, the maximum last
SPECIAL = np.array([[1, 3, 3, 0], [nan, 1, nan, 2], [-inf, -inf, -inf, -inf],
                    [-0.0, 0.0, -0.0, 0.0], [-1, inf, 2, inf], [nan, nan, nan, nan],
                    [5, -inf, nan, 7], [-2, -3, -4, 8]])


def assert_same_error(backend, ref, feeds, kind):
    """Both raise `kind` with the same message (the reference's)."""
    with pytest.raises(kind) as want:
        ref(**feeds)
    with pytest.raises(kind) as got:
        backend(**feeds)
    assert type(got.value) is type(want.value) and str(got.value) == str(want.value)
