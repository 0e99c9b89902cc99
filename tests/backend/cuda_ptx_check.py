"""Compile every CUDA kernel the suite's graphs print for a GPU (an H100's constants: 256
threads, warp shuffles, the large tiles) to PTX with Numba's CUDA compiler, no GPU needed:
what the simulator cannot catch (types Numba's CUDA target does not have, a shuffle of a type
it cannot move). Needs NVVM and NVRTC (pip install 'numba-cuda[cu12]' or [cu13]); prints
"SKIP: ..." and exits 0 without them. Run by tests/backend/test_cuda.py, or by hand:

    python tests/backend/cuda_ptx_check.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import numpy as np  # noqa: E402


def can_compile() -> str | None:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "the simulator compiles nothing"
    try:
        from numba import cuda, float32

        def probe(a):
            a[0] = a[0] + np.float32(1)
        cuda.compile_ptx(probe, (float32[::1],), cc=(9, 0))
    except Exception as e:
        return f"Numba cannot compile CUDA here ({type(e).__name__}: {str(e)[:120]})"
    return None


def graphs():
    import sympy

    import graphc as gc
    from cpu_cases import CASES
    for case in CASES:
        yield case.__name__, case()[0]
    x, m = gc.tensor("x", ("B", 4)), gc.tensor("m", ("B", 3), "bool")
    i8 = gc.tensor("i", ("B", 3), "int8")
    mix = gc.elementwise(lambda v: sympy.sign(v) + sympy.Abs(v) + sympy.Max(v, 0)
                         + sympy.erf(v) + sympy.sqrt(v * v), "mix")
    a = gc.argmax(x, 1)
    computed = gc.take(gc.tensor("t", (3, 2)), gc.maximum(a, 1))  # a kernel checking indices
    yield "index", [gc.argmax(m, 1), gc.argmax(i8, 0), gc.argmax(x, 0), computed,
                    *gc.grad(gc.sum(computed), [gc.tensor("t", (3, 2))])]
    yield "more", [gc.max(m, axis=1), gc.max(i8, axis=0), gc.logsumexp(x, axis=0),
                   gc.log_softmax(x, axis=0), mix(x), gc.relu(x) @ gc.tensor("w", (4, 3)),
                   gc.einsum("bij,bjk->bik", gc.tensor("a", ("B", 5, 6), "float64"),
                             gc.tensor("b", ("B", 6, 7), "float64"))]


def main() -> int:
    why = can_compile()
    if why:
        print(f"SKIP: {why}")
        return 0
    import numba
    from numba import cuda

    import graphc as gc
    from graphc.backend.cuda.kernels import FAULT
    from graphc.backend.cuda.module import CudaModule, versions
    from graphc.backend.cuda.target import Target
    from graphc.backend.numba import cache
    from graphc.lower import lower
    from graphc.passes.pipeline import optimize

    gpu = Target("an H100 (PTX check)", False, threads=256, max_blocks=132 * 8, sms=132,
                 shared_bytes=48 * 1024, shuffles=True)
    done, failed = set(), []
    for label, outputs in graphs():
        program = lower(optimize(gc.Graph.of(outputs))[0])
        module = CudaModule(program, versions(gpu), gpu)
        for k in program.kernels:
            ck = module.kernels.get(k.name)
            if ck is None:
                continue
            types = tuple(numba.types.Array(numba.from_dtype(np.dtype(
                program.buffers[a].dtype if a != FAULT else "int32")), 1, "C")
                for a in ck.arrays) + \
                (numba.types.int64,) * len(ck.ints)
            for fn in module.functions[k.name]:
                if fn in done:
                    continue
                done.add(fn)
                name = f"graphc_c_{fn}"
                kernel = getattr(cache.load(module.kernel_modules[name], name), fn)
                try:
                    cuda.compile_ptx(kernel.py_func, types, cc=(9, 0))
                except Exception as e:
                    failed.append(f"{label} {k.name} ({name}.py): {type(e).__name__}: "
                                  f"{str(e)[:600]}")
    print(f"{len(done)} kernels compiled to PTX, {len(failed)} failed")
    print("\n".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
