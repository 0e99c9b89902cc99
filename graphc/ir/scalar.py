"""Scalar functions: the formula of one elementwise op.

An elementwise op is a `ScalarFn`: named parameters and one sympy expression in them (and,
for user formulas, in symbolic dims such as `B`). Its derivatives come from `sympy.diff`, so a
user-defined op (`gc.elementwise`) is differentiable with no more code. A ScalarFn is only
ever the formula of ONE op: a fused kernel is a sequence of statements that each apply one
ScalarFn to named values (graphc/ir/body.py), never one composed expression, so nothing a
user wrote is cancelled or reassociated by sympy's automatic evaluation.

`kind` says how the operands' dtypes combine (see graphc/ir/body.py, `statement_dtypes`):
- "arith": float math. The result is the float operands' common dtype (integers alone give
  float32, graphc's default float), or the dtype the node asks for; every operand is
  converted to it first.
- "ring": +, - and *, exact in integers: as "arith", except that integer operands (bools
  among them) with no float operand or float literal keep NumPy's integer promotion, as
  NumPy, torch and JAX do (int32 + int32 is int32, and wraps on overflow as theirs do;
  float32 lost every integer past 2**24). Bools alone are still counted in float32.
- "promote": dtype-preserving (maximum, abs): the result is NumPy's promotion of all operands,
  integers included.
- "compare": the operands are promoted together and compared; the result is bool.
- "select": `where(c, a, b)`: c is read as bool, a and b are promoted together.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import sympy

from .terms import count_ops, distinct_terms, free_symbols, said, same

# The symbol standing for an op's own output in a derivative written through the output
# (d tanh(x)/dx = 1 - out**2): the backward pass then reads the forward result and not x.
OUT = sympy.Symbol("out")
KINDS = ("arith", "ring", "promote", "compare", "select")
ARITHMETIC = ("arith", "ring")  # the kinds whose formulas are float math on floats


@dataclass(frozen=True)
class ScalarFn:
    name: str
    params: tuple
    expr: sympy.Expr
    # Optional, unary only: d expr / d param written in OUT, for derivatives sympy's
    # substitution cannot find (relu' = [out > 0]); tests check it against sympy.diff.
    grad_via_output: sympy.Expr | None = field(default=None)
    kind: str = "arith"
    # f(a, b) = f(b, a) exactly in IEEE arithmetic (a + b, a * b): CSE may merge the two
    commutative: bool = False
    # how a user writes it, for drawings and reports: "{0} + {1}", "-{0}", "relu({0})"
    template: str | None = None
    # Optional: d expr / d param, one per param, where sympy.diff's form is poor arithmetic
    # (d x**y/dx is y*x**y/x, 0/0 at x = 0, where y*x**(y - 1) is 0); tests check that they
    # equal sympy.diff. One may read OUT, the op's result (d(x/y)/dy = -out/y, where
    # -x/y**2 overflows with y**2)
    derivatives: tuple | None = None

    def __eq__(self, other):
        # the formulas compared as graphs (terms.same): sympy's == walks their trees
        if self is other:
            return True
        if not isinstance(other, ScalarFn):
            return NotImplemented
        return (self.name, self.params, self.kind, self.commutative, self.template,
                self.grad_via_output, self.derivatives) == \
            (other.name, other.params, other.kind, other.commutative, other.template,
             other.grad_via_output, other.derivatives) and same(self.expr, other.expr)

    def __hash__(self):
        return hash((self.name, self.params, self.expr, self.kind))

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"ScalarFn {self.name}: kind must be one of {KINDS}, "
                             f"got {self.kind!r}")

    @property
    def arity(self) -> int:
        return len(self.params)

    @cached_property
    def cheap(self) -> bool:
        """A few cycles per element: a handful of adds, multiplies, divides, compares and
        selects, no transcendental function. Fusion may compute such an op again in each
        kernel that reads it rather than store it and read it back."""
        if count_ops(self.expr) > 4:
            return False
        for e in distinct_terms(self.expr):
            if isinstance(e, sympy.Function) and not isinstance(e, _CHEAP_FUNCTIONS):
                return False
            if isinstance(e, sympy.Pow) and e.exp not in (-1, 2, -2):
                return False
        return True

    @cached_property
    def reads(self) -> tuple:
        """For each param, whether the formula mentions it (a formula may ignore one)."""
        free = free_symbols(self.expr)
        return tuple(p in free for p in self.params)

    def dim_symbols(self) -> tuple:
        """Free symbols that are not parameters: symbolic dims, bound at call time."""
        return tuple(sorted(free_symbols(self.expr) - set(self.params), key=str))

    def written(self, args) -> str:
        """The op as a user writes it, over argument texts: `x + y`, `tanh(t1)`."""
        if self.template is not None:
            return self.template.format(*args)
        return f"{self.name}({', '.join(args)})"

    def __str__(self):
        # a formula that repeats terms is said once per term (terms.py), not as its tree
        return f"{self.name}({', '.join(map(str, self.params))}) = {said(self.expr)}"


_CHEAP_FUNCTIONS = (sympy.Piecewise, sympy.Max, sympy.Min, sympy.Abs, sympy.sign,
                    sympy.Heaviside)


def param_symbols(n: int, prefix: str = "x") -> tuple:
    if n == 1:
        return (sympy.Symbol(prefix),)
    if n == 2 and prefix == "x":
        return (sympy.Symbol("x"), sympy.Symbol("y"))
    return tuple(sympy.Symbol(f"{prefix}{i}") for i in range(n))


# Bounded: a graph built in a loop with a new user formula each time must not grow them forever.
@lru_cache(maxsize=1024)
def derivative(fn: ScalarFn, i: int) -> sympy.Expr:
    """d fn / d param i, in the params alone: the op's own where it gives one (OUT put back
    as the formula), else by sympy (cached per op and parameter)."""
    if fn.derivatives is not None:
        return fn.derivatives[i].xreplace({OUT: fn.expr})
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


def derivative_reading_output(fn: ScalarFn, i: int) -> sympy.Expr:
    """d fn / d param i as the op gives it, which may read OUT, its result; else as
    `derivative`."""
    return fn.derivatives[i] if fn.derivatives is not None else derivative(fn, i)


@lru_cache(maxsize=1024)
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
