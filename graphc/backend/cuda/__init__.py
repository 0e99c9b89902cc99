"""The "cuda" backend: the Program (graphc/lower) printed as Numba CUDA kernels, and a runtime
that keeps the memory plan on the device (target.py, kernels.py, contract.py, module.py,
runtime.py). graphc/backend/numba_cuda.py registers it when a GPU or the simulator is there."""
