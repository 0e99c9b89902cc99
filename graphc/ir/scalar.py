"""Scalar functions: the sympy body of an elementwise op (and of every fused kernel).

An elementwise op is a `ScalarFn`: named parameters and one sympy expression in them. Its
derivatives come from `sympy.diff`, so a user-defined op (`gc.elementwise`) is differentiable
with no more code. An expression may also mention symbolic dims (a mean divides by `B`);
evaluators bind those to sizes at call time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

# The symbol standing for an op's own output in a derivative written through the output
# (d tanh(x)/dx = 1 - out**2): the backward pass then reads the forward result and not x.
OUT = sympy.Symbol("out")


@dataclass(frozen=True)
class ScalarFn:
    name: str
    params: tuple
    expr: sympy.Expr
    # Optional, unary only: d expr / d param written in OUT, for derivatives sympy's
    # substitution cannot find (relu' = [out > 0]); tests check it against sympy.diff.
    grad_via_output: sympy.Expr | None = field(default=None)

    @property
    def arity(self) -> int:
        return len(self.params)

    def dim_symbols(self) -> tuple:
        """Free symbols that are not parameters: symbolic dims, bound at call time."""
        return tuple(sorted(self.expr.free_symbols - set(self.params), key=str))

    def __str__(self):
        return f"{self.name}({', '.join(map(str, self.params))}) = {self.expr}"


def param_symbols(n: int, prefix: str = "x") -> tuple:
    if n == 1:
        return (sympy.Symbol(prefix),)
    if n == 2 and prefix == "x":
        return (sympy.Symbol("x"), sympy.Symbol("y"))
    return tuple(sympy.Symbol(f"{prefix}{i}") for i in range(n))


@lru_cache(maxsize=None)
def derivative(fn: ScalarFn, i: int) -> sympy.Expr:
    """d fn / d param i, by sympy (cached per op and parameter)."""
    d = sympy.diff(fn.expr, fn.params[i])
    if d.has(sympy.Derivative):
        # sympy takes a plain symbol as complex and leaves d|x|/dx as Derivative(re(x)) terms
        # no evaluator can print; the params are real numbers, so ask again as such (sign(x))
        real = {p: sympy.Dummy(str(p), real=True) for p in fn.params}
        d = sympy.diff(fn.expr.xreplace(real), real[fn.params[i]])
        d = d.xreplace({r: p for p, r in real.items()})
    # a step's derivative (Heaviside, sign) is DiracDelta: 0 wherever it is defined, which is
    # what gradient descent can use (as every autodiff framework takes it)
    return d.replace(sympy.DiracDelta, lambda *args: sympy.Integer(0))


@lru_cache(maxsize=None)
def derivative_via_output(fn: ScalarFn):
    """d fn / d x written only in OUT (unary fns), or None where it cannot be."""
    if fn.arity != 1:
        return None
    if fn.grad_via_output is not None:
        return fn.grad_via_output
    d = derivative(fn, 0).subs(fn.expr, OUT)
    # a derivative that reads neither x nor out (d(2x)/dx = 2) is no reason to keep the
    # forward result alive for the backward pass
    return d if OUT in d.free_symbols and fn.params[0] not in d.free_symbols else None


def _erf(x):
    try:
        from scipy.special import erf
        return erf(x)
    except ImportError:  # scipy is optional: the reference may be slow, never wrong
        return np.vectorize(math.erf, otypes=[np.float64])(x)


_NUMPY_MODULES = [{"erf": _erf}, "numpy"]


class _WeakNumberPrinter(NumPyPrinter):
    """Prints a constant such as sqrt(2) as a Python float, not `numpy.sqrt(2)`: NumPy treats a
    Python float as weakly typed, so a float32 kernel (gelu's x/sqrt(2)) stays float32.
    Prints a Piecewise as nested `where` rather than `select`, which builds lists of full-size
    arrays: relu and its mask are Piecewise, and `select` made them the slowest kernels."""

    def _print(self, expr, **kwargs):
        if isinstance(expr, sympy.Expr) and expr.is_number and not expr.is_Rational \
                and expr.is_extended_real and expr.is_finite:
            return repr(float(expr))
        return super()._print(expr, **kwargs)

    def _print_Piecewise(self, expr):
        if expr.args[0][0] == 1 and expr.args[1:] == ((0, sympy.true),):
            # an indicator [c] (relu's mask): the bool array itself, which float arithmetic
            # keeps in the float's dtype where where(c, 1, 0) would be int64
            return f"({self._print(expr.args[0][1])})"
        *pieces, (last, last_cond) = expr.args
        out = self._print(last) if last_cond == sympy.true else \
            f"where({self._print(last_cond)}, {self._print(last)}, nan)"
        for value, cond in reversed(pieces):
            out = f"where({self._print(cond)}, {self._print(value)}, {out})"
        return out


@lru_cache(maxsize=None)
def numpy_callable(expr: sympy.Expr, args: tuple):
    """A NumPy function of `args` (params, then dims) evaluating `expr` elementwise."""
    # A dim may share its name with a parameter (a dim called "x"): two symbols, one Python
    # argument name. Only then are the arguments renamed: renaming substitutes, and that
    # re-evaluates a body a fused kernel keeps unevaluated on purpose (exp(log(x)) is not x).
    names = [str(a) for a in args]
    clash = len(set(names)) < len(names)
    return sympy.lambdify(args, expr, modules=_NUMPY_MODULES, dummify=clash,
                          printer=_WeakNumberPrinter({"fully_qualified_modules": False,
                                                      "inline": True,
                                                      "allow_unknown_functions": True,
                                                      "user_functions": {}}))


def evaluate(fn: ScalarFn, values, dims: dict, expr: sympy.Expr | None = None,
             params: tuple | None = None):
    """Evaluate `expr` (default: fn.expr) on NumPy arrays with NumPy broadcasting."""
    expr = fn.expr if expr is None else expr
    params = fn.params if params is None else params
    dsyms = tuple(sorted(expr.free_symbols - set(params), key=str))
    missing = [s for s in dsyms if s not in dims]
    if missing:
        raise ValueError(f"{fn.name}: expression {expr} mentions unbound symbols {missing}")
    f = numpy_callable(expr, tuple(params) + dsyms)
    with np.errstate(all="ignore"):
        return f(*values, *[dims[s] for s in dsyms])
