"""The NumPy printer of bodies: a body becomes a Python function, one line per statement.

    >>> from graphc.ir.body import one_op, Lit
    >>> from graphc.ops.elementwise import MUL
    >>> print(body_source(one_op(MUL, ["float32", Lit(0.9)])))
    def body(x0):
        t1 = x0*float32(0.9)
        return t1

Each statement prints its op's formula (a sympy code printer, NumPyPrinter, with the formula's
parameters printed as the statement's argument names), so nothing is composed or simplified.
Operands are converted to the statement's compute dtype where their dtype differs, and a
result NumPy would give in another dtype (true division of integers, an indicator's bool)
is converted to the statement's dtype. Literals print as NumPy scalars of the compute dtype
(`float32(0.9)`): the conversion the statement's dtype rules say a literal gets.

This is the reference interpreter's evaluator of every elementwise, fused-reduce prologue and
contraction epilogue body. The generated functions are cached (a bounded cache).
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from .body import Body, Lit, value_name
from .terms import straight_line


def _erf(x):
    try:
        from scipy.special import erf
        return erf(x)
    except ImportError:  # scipy is optional: the reference may be slow, never wrong
        return np.vectorize(math.erf, otypes=[np.float64])(x)


# What generated code may name: NumPy's functions unqualified (as the printer prints them).
NAMESPACE = {k: getattr(np, k) for k in dir(np) if not k.startswith("_")}
NAMESPACE.update({"np": np, "erf": _erf, "nan": np.nan, "inf": np.inf})


class FormulaPrinter(NumPyPrinter):
    """Prints one op's formula over argument texts (`args`: param symbol -> text)."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": False, "inline": True,
                          "allow_unknown_functions": True, "user_functions": {}})
        self.args: dict = {}
        self.dims: dict = {}

    def formula(self, fn, texts, dims=None, name: str = "t") -> tuple[list, str]:
        """(lines binding the terms the formula repeats to `name`_0, `name`_1..., each once
        (terms.py's shared_terms), the formula's code)."""
        self.args = dict(zip(fn.params, texts))
        self.dims = dims or {}
        return straight_line(fn.expr, self.doprint, self.args, name)

    def _print_ITE(self, expr):  # sympy's if-then-else of booleans, in a condition
        return "where({}, {}, {})".format(*(self._print(e) for e in expr.args))

    def _print_Symbol(self, s):
        if s in self.args:
            return self.args[s]
        return self.dims.get(s, super()._print_Symbol(s))

    def _print_Dummy(self, s):  # a term bound by `formula` (a Dummy prints as name_index)
        return self.args[s] if s in self.args else super()._print_Dummy(s)

    def _print(self, expr, **kwargs):
        # a constant such as sqrt(2) prints as a Python float, which NumPy treats as weak (a
        # float32 kernel stays float32); numpy.sqrt(2) would be a float64 scalar, which is not
        if isinstance(expr, sympy.Expr) and expr.is_number and not expr.is_Rational \
                and expr.is_extended_real and expr.is_finite:
            return repr(float(expr))
        return super()._print(expr, **kwargs)

    def _print_Piecewise(self, expr):
        # nested where rather than select (which builds lists of full-size arrays); an
        # indicator [c] (relu's mask) prints as the bool array itself
        if expr.args[0][0] == 1 and expr.args[1:] == ((0, sympy.true),):
            return f"({self._print(expr.args[0][1])})"
        *pieces, (last, last_cond) = expr.args
        out = self._print(last) if last_cond == sympy.true else \
            f"where({self._print(last_cond)}, {self._print(last)}, nan)"
        for value, cond in reversed(pieces):
            out = f"where({self._print(cond)}, {self._print(value)}, {out})"
        return out

    def _print_Max(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"maximum({out}, {self._print(a)})"
        return out

    def _print_Or(self, expr):
        # chained, not logical_or.reduce((a, b)): a literal's condition is a scalar, and a
        # tuple of a scalar and an array is no array
        return self._chain("logical_or", expr.args)

    def _print_And(self, expr):
        return self._chain("logical_and", expr.args)

    def _chain(self, fn, args):
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

    def _print_Min(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"minimum({out}, {self._print(a)})"
        return out


_RESERVED = re.compile(r"^[xt]\d+$")


def dim_names(body: Body) -> dict:
    """dim symbol -> the Python name it has in generated code (its own name unless that
    would shadow a value or a NumPy function)."""
    out = {}
    for d in body.dim_symbols():
        name = str(d)
        out[d] = f"dim_{name}" if name in NAMESPACE or _RESERVED.match(name) else name
    return out


def _literal(a: Lit, dtype: str, printer: FormulaPrinter) -> str:
    """A literal as a NumPy scalar of the dtype its statement converts operands to (so
    arithmetic on literals alone is NumPy's, 1/0 is inf, and nothing widens)."""
    value = printer.doprint(a.value) if a.kind == "dim" else repr(a.value)
    return f"{dtype}({value})"


def _natural_dtype(code: str, operand_dtypes: dict, dims: dict):
    """The dtype NumPy gives `code` over empty arrays of the operands' dtypes."""
    env = {name: np.empty((0,), dtype) for name, dtype in operand_dtypes.items()}
    env.update({name: 1 for name in dims.values()})
    with np.errstate(all="ignore"):
        try:
            v = eval(code, NAMESPACE, env)  # noqa: S307 (our own generated code)
        except Exception:
            return None
    return v.dtype if isinstance(v, np.ndarray) else None


def statement_lines(body: Body, names=None, dims=None) -> list[str]:
    """`name = expression` per statement, in NumPy."""
    printer = FormulaPrinter()
    n = body.n_params
    names = names or [value_name(v, n) for v in range(n + len(body.stmts))]
    dims = dim_names(body) if dims is None else dims
    lines = []
    for k, s in enumerate(body.stmts):
        texts, operands = [], {}
        for j, a in enumerate(s.args):
            if isinstance(a, Lit):
                texts.append(_literal(a, s.operand_dtype(j), printer))
                continue
            want = s.operand_dtype(j)
            have = body.value_dtype(a)
            texts.append(names[a] if have == want else f"{names[a]}.astype({want})")
            operands[names[a]] = have
        terms, code = printer.formula(s.fn, texts, dims, names[n + k])
        lines += terms
        natural = _natural_dtype(code, operands, dims) if operands else None
        if not operands:
            code = f"asarray({code}, dtype={s.dtype})"
        elif natural is None or natural != np.dtype(s.dtype):
            code = f"asarray({code}).astype({s.dtype})"
        lines.append(f"{names[n + k]} = {code}")
    return lines


def body_source(body: Body, name: str = "body") -> str:
    """The body as a Python function of its params (then its dims, by name)."""
    n = body.n_params
    dims = dim_names(body)
    params = [value_name(v, n) for v in range(n)] + list(dims.values())
    lines = [f"def {name}({', '.join(params)}):"]
    lines += ["    " + line for line in statement_lines(body, dims=dims)]
    lines.append(f"    return {value_name(body.result, n)}")
    return "\n".join(lines) + "\n"


_CACHE: OrderedDict = OrderedDict()
CACHE_SIZE = 512  # generated functions kept; a graph built in a loop must not grow it forever


def compiled(body: Body):
    """(function, dim symbols in its argument order) for `body`, from a bounded cache."""
    hit = _CACHE.get(body)
    if hit is not None:
        _CACHE.move_to_end(body)
        return hit
    source = body_source(body)
    namespace = dict(NAMESPACE)
    for dtype in {*body.param_dtypes, *(s.dtype for s in body.stmts),
                  *(s.compute for s in body.stmts), "bool"}:
        namespace[dtype] = np.dtype(dtype).type
    exec(compile(source, "<graphc body>", "exec"), namespace)  # noqa: S102 (generated here)
    hit = (namespace["body"], tuple(dim_names(body)))
    _CACHE[body] = hit
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return hit


def evaluate(body: Body, values, dims: dict):
    """The body's result over NumPy arrays (NumPy broadcasting), dims bound to sizes."""
    fn, dsyms = compiled(body)
    missing = [d for d in dsyms if d not in dims]
    if missing:
        raise ValueError(f"body {body.name}: dims {missing} are not bound")
    with np.errstate(all="ignore"):
        return fn(*values, *[int(dims[d]) for d in dsyms])
