#!/usr/bin/env bash
# The GPU check of backend "cuda": one command, a few minutes on an H100 or H200.
#
#     benchmarks/gpu_check.sh          (from anywhere; PYTHON=... picks the interpreter)
#
# 1. Sets up what is missing: .venv with graphc[test], and numba-cuda built for the driver's
#    CUDA major version (numba-cuda[cu12] or [cu13] from wheels: the bindings, NVVM, libdevice).
# 2. Runs the CUDA tests (tests/backend/cuda) on the device, not the simulator.
# 3. Runs benchmarks/gpu_bench.py: matmul TFLOP/s at 1024, 2048, 4096 float32 against cuBLAS
#    (CuPy or PyTorch, when installed) and the MLP training step against PyTorch eager (when
#    installed). Peers are not installed by this script; a missing one is skipped, said so.
#
# Write what it prints into docs/performance.md with the date and the GPU.
# Exit status: 0 when the tests passed, 1 when they failed, 2 when no GPU could be used.
set -uo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s ==\n' "$*"; }

say "GPU"
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "nvidia-smi not found: this machine has no NVIDIA driver; nothing to check."
    exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || exit 2
CUDA_MAJOR=$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -1)
CUDA_MAJOR=${CUDA_MAJOR:-12}
echo "driver's CUDA version: ${CUDA_MAJOR}.x"

say "Python environment"
if [ -z "${PYTHON:-}" ]; then
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv || exit 2
    fi
    PYTHON=.venv/bin/python
fi
if ! "$PYTHON" -c "import graphc, pytest, hypothesis" >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q -e '.[test]' || exit 2
fi

# a kernel compiled and run on the device proves the bindings, NVVM and the driver agree
probe() {
    env -u NUMBA_ENABLE_CUDASIM "$PYTHON" - <<'EOF'
import numpy as np
from numba import cuda

@cuda.jit
def twice(a):
    i = cuda.grid(1)
    if i < a.size:
        a[i] *= 2

a = cuda.to_device(np.arange(4, dtype=np.float32))
twice[1, 32](a)
assert a.copy_to_host().tolist() == [0, 2, 4, 6]
EOF
}
if ! probe >/dev/null 2>&1; then
    echo "installing numba-cuda[cu${CUDA_MAJOR}] (bindings, NVVM, libdevice from wheels)"
    "$PYTHON" -m pip install -q "numba-cuda[cu${CUDA_MAJOR}]>=0.30" || exit 2
fi
if ! probe; then
    echo "numba-cuda cannot compile and run a kernel on this GPU (see above); stopping."
    exit 2
fi
"$PYTHON" - <<'EOF'
import sys
from importlib.metadata import version
print("python", sys.version.split()[0], "| numba", version("numba"), "| numba-cuda",
      version("numba-cuda"), "| numpy", version("numpy"))
EOF

say "CUDA tests on the device"
start=$(date +%s)
env -u NUMBA_ENABLE_CUDASIM "$PYTHON" -m pytest -o addopts= -q -p no:cacheprovider \
    tests/backend/cuda
tests=$?
echo "tests: $([ $tests -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"

say "Benchmarks"
env -u NUMBA_ENABLE_CUDASIM "$PYTHON" benchmarks/gpu_bench.py || echo "benchmarks FAILED"

[ $tests -eq 0 ] || exit 1
