"""The CUDA tests run where backend "cuda" is available: on a GPU, or in a process started
with NUMBA_ENABLE_CUDASIM=1 (tests/backend/test_cuda.py starts one, so every run of the suite
runs them on the simulator). Anywhere else they are not collected."""
import os
import sys

import graphc as gc

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))  # tests/backend: cpu_cases

if "cuda" not in gc.available_backends():
    collect_ignore_glob = ["test_*.py"]
elif os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    # the simulator runs a block's threads as Python threads and polls them in a loop that
    # holds the GIL for a whole switch interval: shorter turns make it several times faster
    sys.setswitchinterval(5e-5)
