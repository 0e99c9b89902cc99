"""Graph size is no limit: chains of thousands of ops, nested bodies and wide sums compile,
explain, cost and run with no recursion (a subprocess runs them under a small recursion
limit) and with bodies that grow linearly. No timing thresholds here: the growth table is
benchmarks/bench_compile.py --growth."""
import subprocess
import sys
import textwrap

import numpy as np

import graphc as gc
from graphc.passes.fuse_elementwise import MAX_KERNEL_OPS
from graphc.passes.kernels import kernels


def nested(depth):
    x = gc.tensor("x", ("B", 4))
    y = x
    for _ in range(depth):
        y = gc.tanh(y) * 0.9
    return x, y


def test_nested_bodies_grow_linearly_and_differentiate():
    for depth in (10, 40, 200):
        x, y = nested(depth)
        # the reference sums as NumPy does (pairwise), which the exact comparison below needs
        f = gc.compile([gc.sum(y)] + gc.grad(gc.sum(y), [x]), backend="reference")
        forward = [k for k in kernels(f.graph) if k.origin == "forward"]
        assert sum(len(k.attrs["body"].stmts) for k in forward if "body" in k.attrs) == 2 * depth
        v = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
        total, g = f(x=v)
        want = v
        for _ in range(depth):
            want = (np.tanh(want) * np.float32(0.9)).astype(np.float32)
        np.testing.assert_array_equal(total, want.sum(dtype=np.float32))
        assert np.isfinite(g).all()


def test_a_sum_of_5000_inputs_fuses_into_bounded_kernels_that_run():
    xs = [gc.tensor(f"x{k}", (2,)) for k in range(5000)]
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    # the pipeline's test: on the cpu backend a driver of 5,000 array arguments takes minutes
    # to compile in Numba (issue 10's note)
    f = gc.compile(total, backend="reference")
    bodies = [len(k.attrs["body"].stmts) for k in kernels(f.graph)]
    assert sum(bodies) == 4999 and max(bodies) <= MAX_KERNEL_OPS
    assert len(bodies) == -(-4999 // MAX_KERNEL_OPS)
    out = f(**{x.name: np.full(2, 0.5, np.float32) for x in xs})
    np.testing.assert_array_equal(out, [2500.0, 2500.0])


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import graphc as gc
    from graphc.cli import main
    sys.setrecursionlimit(250)  # far below the graph's depth: nothing may recurse per node
    x = gc.tensor("x", (3,))
    y = x
    for k in range(3000):
        y = y + float(k % 7)
    f = gc.compile([y, gc.grad(gc.sum(y), x)])
    print(float(f(x=np.zeros(3, np.float32))[0][0]))
    text = gc.explain(y)
    cost = str(gc.cost(y))
    dot = gc.to_dot(y)
    print(len(text) > 0, len(cost) > 0, dot.count("->") >= 3000)
""")


def test_deep_chains_need_no_recursion_in_compile_explain_cost_or_drawing():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    value, flags = done.stdout.split("\n")[:2]
    assert float(value) == sum(float(k % 7) for k in range(3000))
    assert flags == "True True True"


def test_the_cli_explains_a_deep_chain(tmp_path):
    script = tmp_path / "deep.py"
    script.write_text(textwrap.dedent("""
        import graphc as gc
        def chain():
            x = gc.tensor("x", (3,))
            y = x
            for _ in range(600):
                y = y + 1.0
            return y
    """))
    done = subprocess.run([sys.executable, "-m", "graphc", "explain", f"{script}:chain"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"kernels after ({-(-600 // MAX_KERNEL_OPS)})" in done.stdout
