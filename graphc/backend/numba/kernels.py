"""Kernel printers: one function per kernel kind (functools.singledispatch on the kernel's
class), each returning readable Python source for `numba.njit`. Here: what every printer
shares (KernelSource, the line writer, when a loop is split across threads, a reduction's
accumulator) and the elementwise kernels; reductions.py has the reductions and softmax,
index_kernels.py one_hot, arange, gathers, argmax and random_uniform, contract.py the
contractions (graphc/backend/numba/driver.py imports them all, which registers them).

A kernel function takes its flat arrays, then the integer parameters its sizes, strides and
offsets need (their values are computed by the driver from the dims), so it compiles once
per structure and dtypes, never per batch size. Every loop is plain Python a reader can
follow; NUMBA_DISABLE_JIT=1 runs them as such.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import sympy

from ...lower.program import ElementwiseKernel
from ...lower.views import row_major
from .printer import (Params, ScalarPrinter, body_lines, calls_transcendental, subscript,
                      uses_vector_math)

JIT_PARALLEL = '@njit(cache=True, error_model="numpy", nogil=True, parallel=True)'
# An elementwise kernel splits its loop across Numba's threads from this many elements (a
# GELU over 262,144 float32: 1.08 ms on one thread, 0.54 ms on two; under about 2^16 simple
# elements the split costs what it saves). Only a kernel that can be that large compiles the
# split (a parallel loop costs Numba about 0.5 s more to compile): one whose sizes known when
# it is printed already make PARALLEL_STATIC elements.
PARALLEL_FROM = 2 ** 16
PARALLEL_STATIC = 2 ** 12
# what a kernel module with a parallel loop imports: Numba's pool started before its code,
# loaded from the cache, looks for the pool's entry points
PARALLEL_IMPORTS = ["from numba import prange",
                    "from numba.np.ufunc.parallel import _launch_threads", "",
                    "_launch_threads()"]


@dataclass
class KernelSource:
    name: str
    doc: str
    array_params: list           # the array parameters' names (x0, x1, out...), in order
    int_params: list             # then the int parameters' names
    body: list                   # the function's lines after its docstring
    arrays: list                 # buffer names, in argument order (one per array parameter)
    ints: list                   # sympy expressions of the int parameters, in order
    notes: list = field(default_factory=list)  # what the printer chose (BLAS, flattened...)
    imports: list = field(default_factory=list)  # lines the kernel's module needs
    # a loop split across Numba's threads (above PARALLEL_FROM): the lines with it split, and
    # the elements that decide it, as code over int_params and as sympy over the dims
    parallel_body: list = field(default_factory=list)
    split_total: str = ""
    split_elements: object = None
    faults: list = field(default_factory=list)  # what it cannot compute: returns 1, and
    # the driver raises ValueError with these
    signature: str = ""          # its entry point's, as `render` printed it last

    @property
    def split_loop(self) -> bool:
        """Whether it has a loop split across threads (its parallel version: render)."""
        return bool(self.parallel_body)

    def render(self, dtypes: list, name: str | None = None) -> str:
        """The function's source: a C entry point (entry.py) that the driver calls by symbol,
        each array given as its address and length (`dtypes`: per array parameter its dtype,
        None for an int such as a contraction's mode), wherever the array is: an input, an
        output, or a buffer of the workspace. So kernels of one structure are one function
        whatever their arrays are (the big MLP's first and second layer, its three weight
        updates), compiled once.

        A kernel with a split loop runs its loops serially here, and from PARALLEL_FROM
        elements calls its parallel version (`render_parallel`) where that is loaded: a
        module of its own, compiled when a call first reaches that size (runtime.py,
        jobs.load). Numba compiles a parallel loop about twice (the loop, then its body as a
        gufunc), and many programs never reach the size (`cnn_digits.py`'s first run: 12.5 ->
        11.3 s)."""
        name = name or self.name
        params, arrays, signature = self._entry(dtypes)
        header = [f"@entry({signature})", f"def {name}({', '.join(params + self.int_params)}):",
                  f'    """{self.doc}"""']
        export = f"{name}_call = export({name!r}, {name}, {signature})\n"
        if not self.split_loop:
            return "\n".join(header + arrays + self.body + ["    return 0"]) + "\n\n\n" + \
                export
        cell = f"graphc_{name}_parallel"  # (entry.symbol's name for it)
        ready = [f"{name}_parallel = through({cell!r}, {signature})",
                 f"{name}_parallel_loaded = filled({cell!r})", "", ""]
        split = [f"    if {self.split_total} >= {PARALLEL_FROM} and {name}_parallel_loaded():",
                 f"        return {name}_parallel({', '.join(params + self.int_params)})"]
        return "\n".join(ready + header + arrays + split + self.body + ["    return 0"]) + \
            "\n\n\n" + export

    def render_parallel(self, dtypes: list, name: str) -> str:
        """The parallel version of kernel `name` (render's), an entry point of the same
        signature, which fills the cell the kernel calls it through as its module loads."""
        params, arrays, signature = self._entry(dtypes)
        # Numba's parallel loops compute garbage from views of one array made in the same
        # function (two views of the workspace read back zeros): the loops are a function of
        # their own, given the arrays as arguments
        arguments = ", ".join(self.array_params + self.int_params)
        loops = [JIT_PARALLEL, f"def {name}_loops({arguments}):",
                 f'    """The loops of {name}, split across threads, on arrays."""'] + \
            self.parallel_body + ["    return 0"]
        entry_point = [f"@entry({signature})",
                       f"def {name}_parallel({', '.join(params + self.int_params)}):",
                       f'    """{self.doc} (split across threads)"""'] + arrays + \
            [f"    return {name}_loops({arguments})"]
        return "\n".join(loops) + "\n\n\n" + "\n".join(entry_point) + "\n\n\n" + \
            f"fill('graphc_{name}_parallel', {name}_parallel.address)\n"

    def _entry(self, dtypes: list) -> tuple:
        """(the entry point's parameters, the lines making its arrays, its signature)."""
        types, params, arrays = [], [], []
        for j, p in enumerate(self.array_params):
            if dtypes[j] is None:  # an int
                types.append("I")
                params.append(p)
            else:
                types += ["P", "I"]
                params += [f"{p}_p", f"{p}_n"]
                dtype = "bool_" if dtypes[j] == "bool" else dtypes[j]
                arrays.append(f"    {p} = carray({p}_p, ({p}_n,), np.{dtype})")
        types += ["I"] * len(self.int_params)
        signature = self.signature = f"status({', '.join(types)})"
        return params, arrays, signature


class _Writer:
    def __init__(self):
        self.lines: list[str] = []
        self.depth = 1
        self.outer = None  # (line index, variable, extent) of the first loop at the top
        self.faults: list[str] = []
        self.split = None  # (elements as code, as sympy, the lines split): split_outer

    def line(self, text: str):
        self.lines.append("    " * self.depth + text)

    def fail(self, message: str):
        """Stop here: the kernel cannot compute this (its entry point returns 1, and the
        driver raises ValueError(message), entry.py)."""
        self.line(f"return 1  # {message}")
        self.faults.append(message)

    def loop(self, var: str, extent: str):
        if self.outer is None and self.depth == 1:
            self.outer = (len(self.lines), var, extent)
        self.line(f"for {var} in range({extent}):")
        self.depth += 1

    def split_outer(self, extents: list, domain) -> None:
        """A second copy of the code, its outermost loop's iterations split across Numba's
        threads (prange), for calls where the elements (the product of `extents`, the
        kernel's parameters, which is `domain`'s in the dims) reach PARALLEL_FROM
        (KernelSource: a module of its own, compiled when a call first does). The outer
        loop's iterations must be independent (each writes its own outputs)."""
        at, var, extent = self.outer
        head, body = self.lines[:at], self.lines[at:]
        self.split = (" * ".join(extents), sympy.Mul(*domain),
                      head + [f"    for {var} in prange({extent}):"] + body[1:])


def _dims_of(*bodies) -> tuple:
    """The dims the bodies read, sorted by name: in a set's order (its elements' hashes, which
    differ from process to process) the same graph printed a different source in one process
    out of two, and a second process missed the cache for it."""
    out = set()
    for b in bodies:
        if b is not None:
            out.update(b.dim_symbols())
    return tuple(sorted(out, key=str))


def _finish(name, doc, params: Params, arrays, w: _Writer, notes=()) -> KernelSource:
    ks = KernelSource(name, doc, list(arrays), list(params.names), list(w.lines), None,
                      list(params.exprs), list(notes), faults=list(w.faults))
    if w.split is not None:
        ks.split_total, ks.split_elements, ks.parallel_body = w.split
    return ks


def _contiguous_over(access, domain) -> bool:
    return all(s == 0 for s in access.strides) or (
        access.offset == 0 and tuple(access.strides) == row_major(domain))


def flat_read(name: str, access, params: Params) -> str:
    """An operand read at flat index i of a kernel whose accesses are all contiguous: the
    element itself, or for one that repeats one element (strides all 0) that element, at its
    offset (a scalar picked out of a tensor, x[0, 1], has one)."""
    if any(s != 0 for s in access.strides):
        return f"{name}[i]"
    offset = params.term(access.offset, "o", (access.buffer, "offset"))
    return f"{name}[{offset if access.offset != 0 else 0}]"


@functools.singledispatch
def print_kernel(kernel) -> KernelSource:
    raise NotImplementedError(f"the cpu printer has no kernel for {type(kernel).__name__}")


# ---- elementwise (and copies) ----------------------------------------------------------------
@print_kernel.register
def _(k: ElementwiseKernel) -> KernelSource:
    params, w = Params(), _Writer()
    dims = {d: params.term(d, "d") for d in _dims_of(k.body)}
    arrays = [f"x{j}" for j in range(len(k.operands))] + ["out"]
    flat = all(_contiguous_over(a, k.domain) for a in k.operands + (k.out,))
    if flat:  # one loop over every element: what the compiler vectorizes best
        extents = [params.term(sympy.Mul(*k.domain) if k.domain else 1, "n")]
        loops = ["i"]
        reads = [flat_read(f"x{j}", a, params) for j, a in enumerate(k.operands)]
        target = flat_read("out", k.out, params)
    else:
        loops = [f"i{j}" for j in range(len(k.domain))]
        extents = [params.term(d, "n", axis) for axis, d in enumerate(k.domain)]
        reads = [f"x{j}[{subscript(a, loops, params)}]" for j, a in enumerate(k.operands)]
        target = f"out[{subscript(k.out, loops, params)}]"
    vector_math = uses_vector_math(k.body)
    lines, result = body_lines(k.body, [f"a{j}" for j in range(len(reads))], dims,
                               printer=ScalarPrinter(vector_math))
    for v, e in zip(loops, extents):
        w.loop(v, e)
    for j, r in enumerate(reads):
        w.line(f"a{j} = {r}")
    for ln in lines:
        w.line(ln)
    w.line(f"{target} = {result}")
    parallel = bool(k.domain) and _may_split(k.domain, calls_transcendental(k.body))
    if parallel:
        w.split_outer(extents, k.domain)
    what = " ".join(k.body.lines()[:-1]) or "copy"
    ks = _finish(k.name, f"{'+'.join(k.provenance)}: {what}", params, arrays, w,
                 ["one flat loop" if flat else "strided loops"] +
                 ([f"split across threads from {PARALLEL_FROM} elements"] if parallel else []))
    ks.arrays = [a.buffer for a in k.operands] + [k.out.buffer]
    ks.imports = ["from graphc.backend.numba.vmath import erf64, exp64"] if vector_math else []
    return ks


# a symbolic size (a batch, a sequence length) counts this much for a kernel whose elements
# each call a transcendental function: the tiny transformer's GELU over (B, T, 256) is
# 262,144 elements at B = T = 32, and 10 ms of a 26 ms step on one thread
SYMBOLIC_SIZE = 32


def _may_split(domain, transcendental: bool) -> bool:
    """Whether a kernel carries a split loop: the sizes known when it is printed make
    PARALLEL_STATIC elements (a symbolic size counting 1), or, for a kernel that calls a
    transcendental function per element (printer.calls_transcendental), SYMBOLIC_SIZE each."""
    known, guessed = 1, 1
    for d in domain:
        for f in sympy.Mul.make_args(sympy.sympify(d)):
            known *= int(f) if f.is_Integer else 1
            guessed *= int(f) if f.is_Integer else SYMBOLIC_SIZE
    return known >= PARALLEL_STATIC or (transcendental and guessed >= PARALLEL_STATIC)


# ---- reductions ----------------------------------------------------------------------------
_INIT = {"sum": "0", "max": "-np.inf", "min": "np.inf", "logsumexp": None}


def _acc_type(reduce: str, dtype: str) -> str:
    """What a reduction accumulates in: its result's dtype, as NumPy does (a float32 sum adds
    in float32, so it overflows where NumPy's does), but float16 in float32 and a logsumexp's
    sum of exponentials in float64."""
    if reduce == "logsumexp" or dtype == "float16":
        return "float64" if reduce == "logsumexp" else "float32"
    return dtype


def _combine(w: _Writer, reduce: str, acc: str, v: str, acc_type: str):
    if reduce == "sum":
        # from 0.0, as NumPy (and torch): a sum of -0.0 is 0.0
        w.line(f"{acc} += np.{acc_type}({v})")
    elif reduce in ("max", "min"):
        cmp = ">" if reduce == "max" else "<"
        nan = f" or {v} != {v}" if acc_type.startswith("float") else ""
        w.line(f"if {v} {cmp} {acc}{nan}:  # NaN wins, as in NumPy")
        w.line(f"    {acc} = np.{acc_type}({v})")
    elif reduce == "logsumexp":  # online: m the running maximum, s the sum of exp(v - m)
        w.line(f"vv = np.float64({v})")
        w.line("if vv > m:")
        w.line("    s = s * np.exp(m - vv) + 1.0")
        w.line("    m = vv")
        w.line("elif vv != -np.inf:")
        w.line("    s += 1.0 if vv == m else np.exp(vv - m)  # +inf twice: inf - inf is NaN")
    else:
        raise NotImplementedError(f"reduction {reduce!r}")


def _init(w: _Writer, reduce: str, acc: str, acc_type: str):
    if reduce == "logsumexp":
        w.line("m = -np.inf")
        w.line("s = 0.0")
    elif reduce in ("max", "min") and acc_type == "bool":
        w.line(f"{acc} = {reduce == 'min'}")
    elif reduce in ("max", "min") and not acc_type.startswith("float"):
        info = "min" if reduce == "max" else "max"
        w.line(f"{acc} = np.{acc_type}(np.iinfo(np.{acc_type}).{info})")
    else:
        w.line(f"{acc} = np.{acc_type}({_INIT[reduce]})")


def _final(reduce: str, acc: str) -> str:
    return "m + np.log(s)" if reduce == "logsumexp" else acc
