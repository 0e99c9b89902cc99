"""The Program: an optimized graph as kernels over flat buffers, what every printer reads.

A Program is data: buffers (inputs, constants, temporaries, outputs), kernels in the order
they run, the views the outputs are, and the memory plan. Each kernel has an iteration domain
with symbolic extents, an `Access` per operand (graphc/lower/views.py), a typed straight-line
body (graphc/ir/body.py), and a loop schedule (which axis is split across threads, and from
how much work on). The Numba CPU printer and the CUDA printer print the same Program.

Kernel kinds:
- ElementwiseKernel: out[i] = body(operands[i]) over the domain (a copy has an empty body);
- ReduceKernel: out[kept] = epilogue(reduce over `axes` of body(operands), extras);
  ArgmaxKernel, one of them: the position of the first maximum along its one axis;
- ContractKernel: out[b, m, n] = epilogue(sum_k a[b, m, k] * b[b, k, n], extras), with the
  tile schedule, computed by a generated tiled loop nest or by a BLAS call;
- NormalizeKernel: softmax / log_softmax along one axis;
- OneHotKernel: out[..., c] = (labels[...] == c);
- ArangeKernel: out[i] = i;
- GatherKernel: a gather, out[i] = data[i, its axis at index[i]], or a scatter-add,
  out[i, its axis at index[i]] += data[i] (take, take_along_axis and their adjoints);
- RandomKernel: out[i] = the counter-based uniform of (seed, stream, i) (random_uniform);
- ReferenceKernel: what has no native kernel runs its NumPy reference (correct, slow): an
  einsum of three or more operands, or one whose letters fit no (batch, m, n, k) grouping.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from ..ir.body import Body
from ..ir.schedule import Schedule
from ..ir.shapes import dims_equal
from .views import Access, View


@dataclass(frozen=True)
class Buffer:
    name: str
    shape: tuple
    dtype: str
    role: str  # "input" | "const" | "temp" | "output"

    @property
    def numel(self) -> sympy.Expr:
        return sympy.Mul(*self.shape) if self.shape else sympy.Integer(1)

    @property
    def nbytes(self) -> sympy.Expr:
        return self.numel * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class Loop:
    """The domain axis split across threads (None: always serial), and the work (elements
    times statements) below which the kernel runs serially: threads cost microseconds."""

    parallel_axis: int | None
    grain: int = 1 << 16

    @staticmethod
    def over(domain, reduced=()) -> "Loop":
        """Threads over the first axis of `domain` that is not reduced."""
        kept = [k for k in range(len(domain)) if k not in reduced]
        return Loop(kept[0] if kept else None)


def identity(dtype: str) -> Body:
    """A body returning its one parameter: what a copy computes."""
    return Body((dtype,), (), 0)


def provenance(node) -> tuple:
    """The ops of the graph a node's kernel computes (a fused node's, in order)."""
    if "fused" in node.attrs:
        return tuple(node.attrs["fused"])
    return (node.attrs["body"].name,) if node.op == "elementwise" else (node.op,)


@dataclass(frozen=True)
class Kernel:
    name: str
    provenance: tuple  # the ops of the graph it computes ("matmul", "add", "relu")

    def reads(self) -> tuple:
        return ()

    def writes(self) -> tuple:
        return ()


@dataclass(frozen=True)
class ElementwiseKernel(Kernel):
    domain: tuple
    operands: tuple  # Access per body param
    body: Body
    out: Access
    loop: Loop

    def reads(self):
        return tuple(a.buffer for a in self.operands)

    def writes(self):
        return (self.out.buffer,)


@dataclass(frozen=True)
class ReduceKernel(Kernel):
    domain: tuple         # the prologue's shape
    axes: tuple           # reduced domain axes
    reduce: str           # sum | max | logsumexp | min ...
    operands: tuple       # Access over the domain, per prologue param
    body: Body
    acc_dtype: str
    epilogue: Body | None
    extras: tuple         # Access over the domain (stride 0 on reduced axes)
    out: Access           # over the domain, stride 0 on reduced axes
    loop: Loop

    def reads(self):
        return tuple(a.buffer for a in self.operands + self.extras)

    def writes(self):
        return (self.out.buffer,)


@dataclass(frozen=True)
class ArgmaxKernel(ReduceKernel):
    """A ReduceKernel whose accumulator is a pair (value, position) along its one reduced
    axis: out[kept] = the first position of the maximum, as np.argmax (NaN wins, the first
    NaN; ties and -0.0 == 0.0 go to the first), written as int64 (`acc_dtype`). `reduce` is
    "argmax", the body the identity of the input's dtype, no epilogue nor extras. An empty
    axis is an error at call time, as on the reference."""


@dataclass(frozen=True)
class ContractKernel(Kernel):
    """Domain (batch..., m, n, k); `a` reads (batch..., m, k), `b` (batch..., k, n) (stride 0
    on the other axes), `out` and the extras (batch..., m, n)."""

    domain: tuple
    a: Access
    b: Access
    acc_dtype: str
    epilogue: Body
    extras: tuple
    out: Access
    schedule: Schedule

    @property
    def nbatch(self) -> int:
        return len(self.domain) - 3

    def reads(self):
        return (self.a.buffer, self.b.buffer) + tuple(e.buffer for e in self.extras)

    def writes(self):
        return (self.out.buffer,)

    def dense_layout(self):
        """How a BLAS gemm reads each operand: "C" (row-major) or "F" (column-major) for A
        (m, k), B (k, n) and the result (m, n), or None when one of them is not a dense matrix
        per batch item, the dtype is no BLAS float, or the result is not stored in it (an
        epilogue that compares or casts: a gemm would write floats into a bool or int32
        result, or half of a float64 one)."""
        if self.acc_dtype not in ("float32", "float64") or not self.stores_acc_dtype():
            return None
        nb = self.nbatch
        M, N, K = self.domain[nb:]

        def layout(rows_stride, cols_stride, rows, cols):
            if cols_stride == 1 and _same(rows_stride, cols):
                return "C"
            if rows_stride == 1 and _same(cols_stride, rows):
                return "F"
            return None
        a = layout(self.a.strides[nb], self.a.strides[nb + 2], M, K)
        b = layout(self.b.strides[nb + 2], self.b.strides[nb + 1], K, N)
        c = layout(self.out.strides[nb], self.out.strides[nb + 1], M, N)
        return None if None in (a, b, c) else (a, b, c)

    def stores_acc_dtype(self) -> bool:
        """Whether the result is stored in the accumulator's dtype, so that a product may write
        its sums there before the epilogue runs over them in place."""
        return self.epilogue.value_dtype(self.epilogue.result) == self.acc_dtype

    def is_result(self, extra: Access) -> bool:
        """Whether an epilogue operand reads the result's own elements, in place."""
        return extra.buffer == self.out.buffer and extra.strides == self.out.strides and \
            extra.offset == self.out.offset

    def gemm_form(self, copy_ok: bool = False):
        """(alpha, beta, e) when the epilogue is `alpha * acc + beta * e` with e the result's
        own buffer read in place (a parameter update w - lr * grad, or a momentum buffer
        grad + 0.9 * v, written into w or v): one gemm computes it. alpha and beta are
        (sign, c) with c a Lit, the index of an extra read as one number (lr, fed each step),
        or None for 1; e is the index of the extra that is the result's buffer. None for any
        other epilogue. copy_ok: e may be any extra (the caller copies it into the result
        first, a bias or the parameter of an update returned fresh)."""
        from ..ir.body import Lit
        from ..ops import elementwise as ew
        body, acc = self.epilogue, 0
        stmts = body.stmts
        if not 1 <= len(stmts) <= 2 or body.result != body.n_params + len(stmts) - 1 or \
                any(st.dtype != self.acc_dtype or st.compute != self.acc_dtype for st in stmts):
            return None

        def in_place(v):
            if not (isinstance(v, int) and 1 <= v < body.n_params):
                return False
            return copy_ok or self.is_result(self.extras[v - 1])

        def scalar(v):
            if isinstance(v, Lit):
                return v if v.kind != "dim" else None
            if isinstance(v, int) and 1 <= v < body.n_params and \
                    all(st == 0 for st in self.extras[v - 1].strides):
                return v - 1  # an extra read as one number
            return None
        one = (1, None)
        last = stmts[-1]
        if last.fn not in (ew.ADD, ew.SUB):
            return None
        x, y = last.args
        neg = -1 if last.fn is ew.SUB else 1
        if len(stmts) == 1:  # acc + e, e + acc, e - acc, acc - e
            if x == acc and in_place(y):
                return one, (neg, None), y - 1
            if y == acc and in_place(x):
                return (neg, None), one, x - 1
            return None
        mul, t = stmts[0], body.n_params
        if mul.fn is not ew.MUL or t not in (x, y):
            return None
        a, b = mul.args
        scaled, c = (a, scalar(b)) if scalar(b) is not None else (b, scalar(a))
        other = y if x == t else x
        sign_t, sign_other = (1, neg) if x == t else (neg, 1)
        if c is None or scaled == other:
            return None
        if scaled == acc and in_place(other):  # c * acc +- e
            return (sign_t, c), (sign_other, None), other - 1
        if in_place(scaled) and other == acc:  # acc +- c * e
            return (sign_other, None), (sign_t, c), scaled - 1
        return None


@dataclass(frozen=True)
class NormalizeKernel(Kernel):
    op: str               # softmax | log_softmax
    domain: tuple
    axis: int
    operand: Access
    out: Access
    dtype: str
    loop: Loop

    def reads(self):
        return (self.operand.buffer,)

    def writes(self):
        return (self.out.buffer,)


@dataclass(frozen=True)
class OneHotKernel(Kernel):
    domain: tuple         # the output's shape (..., depth)
    labels: Access        # over the domain, stride 0 on the class axis
    out: Access
    dtype: str

    def reads(self):
        return (self.labels.buffer,)

    def writes(self):
        return (self.out.buffer,)


@dataclass(frozen=True)
class ArangeKernel(Kernel):
    domain: tuple         # (n,)
    out: Access

    def writes(self):
        return (self.out.buffer,)


@dataclass(frozen=True)
class GatherKernel(Kernel):
    """Over the domain (the values' shape): j = index[i] (plus axis_size where negative, as
    NumPy's take), then

        gather:       out[i] = data[i + j * axis_stride]
        scatter-add:  out[i + j * axis_stride] += data[i]   (into zeros written before)

    where the access that j moves (data's, or out's) has stride 0 along the indexed axes.
    `in_range`: the indices are known to lie in [-axis_size, axis_size) before the kernel
    runs (checked at call time, or in range by construction: graphc/lower/gathers.py); else
    the kernel checks each index it reads and reports one out of range as an error of the
    call, reading and writing nothing for it."""

    domain: tuple
    index: Access
    data: Access
    out: Access
    axis_stride: object   # sympy: the stride of the indexed axis in the moved buffer
    axis_size: object     # sympy: its length (what a negative index counts back from)
    scatter: bool
    in_range: bool

    def reads(self):
        return (self.index.buffer, self.data.buffer) + ((self.out.buffer,) if self.scatter
                                                        else ())

    def writes(self):
        return (self.out.buffer,)


@dataclass(frozen=True)
class RandomKernel(Kernel):
    """out[i] = uniform(seed, stream, i) at each flat row-major index i of the domain: the
    counter-based generator of graphc/ops/random.py, bit for bit (SplitMix64's (i+1)-th
    output of key = mix64(seed ^ stream * GOLDEN), its top 24 bits over 2**24). `seed` reads
    one integer; `out` is a whole fresh buffer, written at the flat index i."""

    domain: tuple
    seed: Access
    stream: int
    out: Access

    def reads(self):
        return (self.seed.buffer,)

    def writes(self):
        return (self.out.buffer,)


@dataclass(frozen=True)
class ReferenceKernel(Kernel):
    """An op the printer has no kernel for: its NumPy reference, called from native code."""

    node: object
    operands: tuple       # View per input
    out: str              # output buffer (contiguous, the node's shape)

    def reads(self):
        return tuple(v.buffer for v in self.operands)

    def writes(self):
        return (self.out,)


@dataclass
class Program:
    inputs: list                 # input Buffers, in the compiled function's order
    consts: dict                 # buffer name -> ndarray (flat)
    buffers: dict                # name -> Buffer (every buffer)
    kernels: list                # in the order they run
    outputs: list                # View per graph output (each a whole output buffer)
    dims: list                   # symbolic dims, in argument order
    decisions: list = field(default_factory=list)  # layout choices, for gc.explain
    plan: object = None          # the memory plan (graphc/lower/plan.py)

    def kernel_summary(self) -> list[str]:
        return [f"{k.name}: {type(k).__name__} {'+'.join(k.provenance)}" for k in self.kernels]


def _same(a, b) -> bool:
    return a == b or dims_equal(a, b)


def access_shape_check(access: Access, domain) -> None:
    if len(access.strides) != len(domain):
        raise ValueError(f"access of {access.buffer} has {len(access.strides)} strides for a "
                         f"domain of rank {len(domain)}")


__all__ = ["Buffer", "Loop", "identity", "provenance", "Kernel", "ElementwiseKernel",
           "ReduceKernel", "ArgmaxKernel", "ContractKernel", "NormalizeKernel", "OneHotKernel",
           "ArangeKernel", "GatherKernel", "RandomKernel", "ReferenceKernel", "Program",
           "Access", "View"]
