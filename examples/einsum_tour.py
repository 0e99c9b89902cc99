"""A tour of the lecture's linear algebra, as graphs: matmul as einsum, batched matmul, a
linear layer on a 4-D input, stacked layers, and the backward graph of a linear layer.

Each graph is built once with symbolic dims (b, d, e, ...), drawn, its FLOP count printed as
a formula (matmul: 2*b*d*e, the O(b*d*e) of the lecture), then compiled and run on small
arrays and checked against numpy.einsum.

    python examples/einsum_tour.py [--backend reference]
    graphc dot examples/einsum_tour.py:batched_matmul -o bmm.svg
    graphc dot examples/einsum_tour.py:linear_cross_entropy --grad -o backward.svg
    graphc cost examples/einsum_tour.py:linear_4d

Writes each graph's picture to out/einsum_tour/ (NAME.svg, drawn by Graphviz where it is
installed and by graphc otherwise, with NAME.dot beside it).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import sympy

import graphc as gc
from graphc.cost import node_cost
from _common import example_parser, out_dir, parse_example_args, save_graph

# The lecture's 4-D input: x = torch.randn(128, 4096, 30, 20) through nn.Linear(20, 30).
LECTURE_SIZES = {"n": 128, "s": 4096, "h": 30}


# ---- the graphs (module-level, so `graphc dot/cost examples/einsum_tour.py:NAME` finds them) --
def matmul_as_einsum():
    """Y = XW as einsum: Y[b,e] = sum_d X[b,d] W[d,e]."""
    X, W = gc.tensor("X", ("b", "d")), gc.tensor("W", ("d", "e"))
    return gc.einsum("bd,de->be", X, W)


def batched_matmul():
    """Y[b,i,j] = sum_k A[b,i,k] B[b,k,j]: one matmul per batch element."""
    A, B = gc.tensor("A", ("b", "i", "k")), gc.tensor("B", ("b", "k", "j"))
    return gc.einsum("bik,bkj->bij", A, B)


# The lecture's building blocks: m1 = nn.Linear(20, 30), m2 = nn.Linear(30, 40). gc.nn.Linear
# computes Y = XW + b with W of shape (in_features, out_features), on inputs (*, in_features).
gc.nn.manual_seed(0)
m1 = gc.nn.Linear(20, 30)
m2 = gc.nn.Linear(30, 40)


def linear_4d():
    """x (n, s, h, 20) through m1 = Linear(20, 30) -> (n, s, h, 30)."""
    x = gc.tensor("x", ("n", "s", "h", 20))
    return m1(x)


def stacked_linears():
    """Y1 = X W1 + b1, Y2 = Y1 W2 + b2: m2(m1(x)) on the 4-D input."""
    x = gc.tensor("x", ("n", "s", "h", 20))
    return m2(m1(x))


def linear_cross_entropy():
    """The lecture's backward example, forward only: z = xw + b, loss = CrossEntropy(z,
    target). `graphc dot ...:linear_cross_entropy --grad` adds its backward graph, and
    linear_cross_entropy_with_grads returns [loss, dloss/dw, dloss/db, dloss/dx]."""
    x, w = gc.tensor("x", ("b", "d")), gc.tensor("w", ("d", "e"))
    bias, target = gc.tensor("bias", ("e",)), gc.tensor("target", ("b",), dtype="int64")
    return gc.cross_entropy(gc.einsum("bd,de->be", x, w) + bias, target)


def linear_cross_entropy_with_grads():
    """[loss, dloss/dw, dloss/db, dloss/dx]: the backward graph, built once."""
    loss = linear_cross_entropy()
    inputs = {i.name: i for i in gc.Graph.of([loss]).inputs}
    return [loss] + gc.grad(loss, [inputs["w"], inputs["bias"], inputs["x"]])


# ---- helpers ---------------------------------------------------------------------------------
def at(expr, sizes: dict):
    """A symbolic count evaluated at concrete sizes (dims are matched by name)."""
    return expr.subs({s: sizes[s.name] for s in expr.free_symbols if s.name in sizes})


def flops(outputs):
    return gc.cost(outputs).raw.flops


def check(name: str, got, want, tol: float = 1e-4) -> float:
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want)))
    scale = max(1.0, float(np.max(np.abs(want))))
    status = "OK" if err <= tol * scale else "MISMATCH"
    print(f"  {status}: {name} matches numpy (max abs diff {err:.2e})")
    if status != "OK":
        raise SystemExit(f"{name}: graphc and numpy disagree by {err}")
    return err


def check_formula(what: str, got, want, shown: str | None = None) -> None:
    """A printed FLOP count, checked against the formula the lecture derives."""
    if sympy.expand(got - want) != 0:
        raise SystemExit(f"{what}: graphc counts {got} FLOPs, the formula says {want}")
    print(f"  OK: {what} = {shown or want}")


def draw(outputs, name: str, title: str) -> None:
    files = save_graph(outputs, os.path.join(out_dir("einsum_tour"), name), title)
    print("  drew " + ", ".join(os.path.basename(f) for f in reversed(files)))


def section(title: str) -> None:
    print(f"\n== {title}")


# ---- the tour --------------------------------------------------------------------------------
def main(argv=None) -> int:
    p = example_parser(__doc__)
    args = parse_example_args(p, argv)
    rng = np.random.default_rng(args.seed)

    def rand(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def run(outputs, **feeds):
        return gc.compile(outputs, backend=args.backend)(**feeds)

    section("1. Y = XW as einsum 'bd,de->be'")
    Y = matmul_as_einsum()
    print(f"  Y {Y.shape}; FLOPs = {flops(Y)}   (b*e dot products of length d: O(b*d*e))")
    b, d, e = (*Y.inputs[0].shape, Y.inputs[1].shape[1])
    check_formula("FLOPs of XW", flops(Y), 2 * b * d * e)
    X, W = rand(4, 3), rand(3, 5)
    check("einsum('bd,de->be')", run(Y, X=X, W=W), np.einsum("bd,de->be", X, W))
    Xt, Wt = gc.tensor("X", ("b", "d")), gc.tensor("W", ("d", "e"))
    check("X @ W (the same product)", run(Xt @ Wt, X=X, W=W), np.einsum("bd,de->be", X, W))
    draw(Y, "1_matmul_einsum", "Y = einsum('bd,de->be', X, W)")

    section("2. batched matmul 'bik,bkj->bij'")
    Yb = batched_matmul()
    print(f"  Y {Yb.shape}; FLOPs = {flops(Yb)}")
    (b, i, k), j = Yb.inputs[0].shape, Yb.inputs[1].shape[2]
    check_formula("FLOPs of the batched product", flops(Yb), b * (2 * i * j * k))
    A, B = rand(10, 3, 4), rand(10, 4, 5)
    check("einsum('bik,bkj->bij')", run(Yb, A=A, B=B), np.einsum("bik,bkj->bij", A, B))
    draw(Yb, "2_batched_matmul", "Y = einsum('bik,bkj->bij', A, B)")

    section("3. a 4-D input through m1 = gc.nn.Linear(20, 30)")
    Y1 = linear_4d()
    f1 = flops(Y1)
    print(f"  x (n, s, h, 20) -> Y1 {Y1.shape}; FLOPs = {f1}")
    rows = sympy.Mul(*Y1.shape[:-1])  # every leading axis is a batch axis
    check_formula("FLOPs of XW + b, with n*s*h rows", f1,
                  2 * rows * m1.in_features * m1.out_features + rows * m1.out_features,
                  f"2*({rows})*{m1.in_features}*{m1.out_features} + ({rows})*{m1.out_features}")
    print(f"  at the lecture's size x = (128, 4096, 30, 20): {float(at(f1, LECTURE_SIZES)):.3e} "
          f"FLOPs; the same graph runs at a small size:")
    x = rand(2, 3, 5, 20)
    want1 = np.einsum("nshd,de->nshe", x, m1.weight.value) + m1.bias.value
    got1 = gc.nn.function(Y1, backend=args.backend)(x=x)  # feeds m1's parameters itself
    check("m1 on (2, 3, 5, 20)", got1, want1)
    draw(Y1, "3_linear_4d", "Linear(20, 30) on a 4-D input")

    section("4. stacking blocks: m2(m1(x)) with m2 = gc.nn.Linear(30, 40)")
    Y2 = stacked_linears()
    f2 = flops(Y2)
    print(f"  Y2 {Y2.shape}; FLOPs = {f2}")
    print(f"  at the lecture's size: {float(at(f2, LECTURE_SIZES)):.3e} FLOPs")
    want2 = np.einsum("nshd,de->nshe", want1, m2.weight.value) + m2.bias.value
    check("m2(m1(x))", gc.nn.function(Y2, backend=args.backend)(x=x), want2)
    draw(Y2, "4_stacked_linears", "Linear(30, 40) after Linear(20, 30)")

    section("5. the backward graph of z = xw + b, loss = CrossEntropy(z, target)")
    outs = linear_cross_entropy_with_grads()
    backward = 0
    for node in gc.Graph.of(outs).nodes():
        if node.origin == "grad" and node.op == "einsum":
            eq = ",".join(node.attrs["terms"]) + "->" + node.attrs["out"]
            print(f"  backward contraction {eq:<12} {str(node.shape):<8} "
                  f"FLOPs = {node_cost(node).flops}")
            backward += node_cost(node).flops
    forward = flops(matmul_as_einsum())
    check_formula("backward contraction FLOPs (dL/dw and dL/dx)", backward, 2 * forward)
    print("  the backward pass costs two more contractions of the forward one's size")
    xv, wv, bv = rand(6, 4), rand(4, 3), rand(3)
    tv = rng.integers(0, 3, 6)
    loss, gw, gbias, gx = run(outs, x=xv, w=wv, bias=bv, target=tv)
    z = xv.astype(np.float64) @ wv + bv                       # the chain rule, by hand:
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(3)[tv]) / len(tv)                        # dloss/dz
    check("loss", loss, np.mean(-np.log(p[np.arange(len(tv)), tv])))
    check("dloss/dw = x^T dloss/dz", gw, xv.T @ dz)
    check("dloss/db = sum_b dloss/dz", gbias, dz.sum(0))
    check("dloss/dx = dloss/dz w^T", gx, dz @ wv.T)
    draw(outs, "5_linear_backward", "cross-entropy of xw + b: forward (blue), backward (orange)")

    print(f"\ngraphs written to {out_dir('einsum_tour')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
