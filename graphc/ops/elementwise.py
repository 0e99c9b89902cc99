"""Elementwise ops: each is one sympy formula; its gradient is `sympy.diff` of it.

Every elementwise node, a built-in like tanh or a fused kernel of twenty ops, is the single
op "elementwise" whose attribute `body` holds straight-line statements (graphc/ir/body.py).
A node built by the DSL has a body of one statement: one formula over its operands and
literals. Inputs broadcast as in NumPy.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy

from ..ir.body import BodyBuilder, Lit, split_terms
from ..ir.node import make, rebuild
from ..ir.op import OpDef
from ..ir.scalar import (OUT, ScalarFn, derivative, derivative_reading_output,
                         derivative_via_output)
from ..ir.shapes import broadcast_shapes, numel
from ..ir.terms import count_ops, free_symbols
from .common import concrete, evaluate_body, is_float

x, y, z = sympy.symbols("x y z")


def _infer(inputs, attrs):
    body = attrs["body"]
    if len(inputs) != body.n_params:
        raise ValueError(f"{body.name}: the body reads {body.n_params} operands, got "
                         f"{len(inputs)}")
    for k, (i, d) in enumerate(zip(inputs, body.param_dtypes)):
        if i.dtype != d:
            raise ValueError(f"{body.name}: operand {k} is {i.dtype}, the body reads {d}")
    return broadcast_shapes(body.name, *[i.shape for i in inputs]), body.dtype


def _reference(values, node, dims):
    out = evaluate_body(node.attrs["body"], values, dims)
    return np.broadcast_to(np.asarray(out), concrete(node.shape, dims))


def _flops(node):
    return body_flops(node.attrs["body"]) * numel(node.shape)


def body_flops(body) -> sympy.Expr:
    """Operations per element: each statement's formula counted once (sympy.count_ops, each
    term a formula repeats counted once: terms.py)."""
    return sympy.Integer(sum(_formula_ops(s.fn) for s in body.stmts))


def _formula_ops(fn: ScalarFn) -> int:
    # (both remembered per formula in terms.py)
    return count_ops(fn.expr) if free_symbols(fn.expr) else 0


# ---- building nodes ------------------------------------------------------------------------
def apply_fn(fn: ScalarFn, operands, dtype: str | None = None, inputs_first=()):
    """One elementwise node applying `fn` to operands (nodes, or Lits for literals); the
    same node given twice is read through one parameter. `dtype` asks for the result dtype
    (a conversion, or integer arithmetic that stays integer). The node's inputs follow the
    operands' order, except that the operands at positions `inputs_first` come first (a
    compiled function orders its inputs by first use)."""
    b = BodyBuilder()
    inputs, args = _bind(b, operands, inputs_first)
    return make("elementwise", inputs, body=b.build(b.apply(fn, args, dtype)))


def apply_stmt(stmt, operands):
    """One elementwise node computing `stmt` (its dtypes kept) over operands (nodes, Lits)."""
    b = BodyBuilder()
    inputs, args = _bind(b, operands)
    return make("elementwise", inputs,
                body=b.build(b.add(stmt.fn, args, stmt.dtype, stmt.compute)))


def _bind(b: BodyBuilder, operands, first=()):
    """(input nodes, statement args): one param per distinct node, Lits as they are."""
    inputs, refs = [], {}
    order = list(first) + [k for k in range(len(operands)) if k not in first]
    for k in order:
        o = operands[k]
        if not isinstance(o, Lit) and id(o) not in refs:
            refs[id(o)] = b.param(o.dtype)
            inputs.append(o)
    args = [o if isinstance(o, Lit) else refs[id(o)] for o in operands]
    return inputs, args


def operands_of(node) -> list:
    """The operand of each parameter of a one-statement node's formula: its input node or
    its Lit (a node whose body is not one statement gives None)."""
    stmt = node.attrs["body"].single
    if stmt is None:
        return None
    return [a if isinstance(a, Lit) else node.inputs[a] for a in stmt.args]


# ---- gradients -----------------------------------------------------------------------------
def _vjp(node, g):
    """g * d fn / d operand for a one-statement body (the driver expands fused bodies)."""
    stmt = node.attrs["body"].single
    if stmt is None:
        raise ValueError("elementwise vjp: a fused body is differentiated by expansion")
    split = split_terms(node.attrs["body"])
    if split is not node.attrs["body"]:  # a formula that repeats terms: one statement each
        from ..grad.expand import vjp_by_expansion  # (the autodiff imports the ops)
        return vjp_by_expansion(rebuild(node, body=split), g)
    fn, operands = _specialized(stmt, node)
    grads = []
    for inp in node.inputs:
        positions = [j for j, o in enumerate(operands) if o is inp]
        if not is_float(inp.dtype) or not is_float(stmt.compute) or not positions:
            grads.append(None)
            continue
        grads.append(_grad_of_operand(node, stmt.dtype, fn, operands, positions, g))
    return tuple(grads)


_NONFINITE = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)


def _specialized(stmt, node):
    """(formula, operand per param) with the statement's literals put into the formula: the
    derivative of x ** 2 is 2*x, where the general y*x**y/x would be 0/0 at x = 0. (Only the
    derivative's formula is simplified; the statement itself stays as the user wrote it.)"""
    fn = stmt.fn
    lits = {p: _sympy_literal(a) for p, a in zip(fn.params, stmt.args) if isinstance(a, Lit)}
    operands = [a if isinstance(a, Lit) else node.inputs[a] for a in stmt.args]
    if not lits:
        return fn, operands
    expr = fn.expr.xreplace(lits)
    if expr.has(*_NONFINITE):
        return fn, operands  # x / 0: keep the literal an operand, as the forward has it
    params = tuple(p for p in fn.params if p not in lits)
    kept = [o for p, o in zip(fn.params, operands) if p not in lits]
    derivatives = None if fn.derivatives is None else \
        tuple(d.xreplace(lits) for p, d in zip(fn.params, fn.derivatives) if p not in lits)
    return ScalarFn(fn.name, params, expr, fn.grad_via_output, kind=fn.kind,
                    derivatives=derivatives), kept


def _sympy_literal(a: Lit):
    return sympy.Float(a.value) if a.kind == "float" else sympy.sympify(a.value)


def _grad_of_operand(node, dtype, fn, operands, positions, g):
    """g * sum over the formula parameters reading this operand of d fn/d param, as one
    elementwise node over the operands (and literals) the derivative reads."""
    via_out = derivative_via_output(fn) if len(positions) == 1 else None
    if via_out is not None and dtype == node.dtype:
        parts, params, args = [via_out], (OUT,), [node]
    else:
        # a derivative may read the op's result (OUT) where that is the statement's value
        # (computed in the node's dtype) and OUT is not a param already: in a derivative's
        # own formula it is the result that one was taken of
        reads_out = dtype == node.dtype and OUT not in fn.params
        by = derivative_reading_output if reads_out else derivative
        parts = [by(fn, j) for j in positions]
        used = [j for j, p in enumerate(fn.params)
                if any(p in part.free_symbols for part in parts)]
        params = tuple(fn.params[j] for j in used)
        args = [operands[j] for j in used]
        if reads_out and any(OUT in part.free_symbols for part in parts):
            params, args = params + (OUT,), args + [node]
    d = sympy.Add(*parts)
    if d == 0:
        return None
    if d == 1:
        return g
    g_sym = _fresh_cotangent(params + tuple(d.free_symbols))
    names = "".join(str(fn.params[j]) for j in positions)
    # the cotangent times each position's derivative, then the sum: g*x + g*y for x*x, where
    # g*(x + y) overflowed at x = 3e38 though each term is finite (mse_loss's gradient)
    grad_fn = ScalarFn(f"d{fn.name}/d{names}", params + (g_sym,),
                       sympy.Add(*[g_sym * part for part in parts]))
    return apply_fn(grad_fn, args + [g])


def _fresh_cotangent(taken_symbols):
    """A symbol for the cotangent named unlike every parameter and dim of the formula. A
    derivative's formula already has one (g) and its derivative another (g2, ...): third
    order must not reuse either."""
    taken = {str(p) for p in taken_symbols}
    k = 1
    while (name := "g" if k == 1 else f"g{k}") in taken:
        k += 1
    return sympy.Symbol(name)


ELEMENTWISE = OpDef("elementwise", "elementwise", _infer, _reference, _vjp, _flops,
                    doc="Straight-line statements over broadcast inputs. attrs: body (a Body); "
                        "a fused kernel also has fused (the names of the ops it replaced).")
DECLARATIONS = [ELEMENTWISE]


# ---- the built-in formulas -----------------------------------------------------------------
def unary(name: str, expr, grad_via_output=None, template=None, kind="arith") -> ScalarFn:
    return ScalarFn(name, (x,), expr, grad_via_output, kind=kind,
                    template=template or f"{name}({{0}})")


def binary(name: str, expr, template=None, kind="arith", commutative=False,
           derivatives=None) -> ScalarFn:
    return ScalarFn(name, (x, y), expr, kind=kind, commutative=commutative,
                    template=template or f"{name}({{0}}, {{1}})", derivatives=derivatives)


ADD = binary("add", x + y, "{0} + {1}", kind="ring", commutative=True)
SUB = binary("sub", x - y, "{0} - {1}", kind="ring")
MUL = binary("mul", x * y, "{0} * {1}", kind="ring", commutative=True)
# d/dy as -(x/y)/y, torch's, read from the quotient: -x/y**2 overflowed with y**2 (d/dy at
# x = 1e30, y = 1e20 was -0.0 for -1e-10) and underflowed (at x = 1e-30, y = 1e-25 -inf for
# -1e20)
DIV = binary("div", x / y, "{0} / {1}", derivatives=(1 / y, -OUT / y))
# d/dx as y * x**(y - 1), not sympy's y * x**y / x, which is 0/0 at x = 0 (NaN where
# torch's is 0, for a tensor exponent: a literal one is put into the formula first). At the
# points where the formulas are 0 * inf, torch and JAX give 0, as the limits are: d/dx where
# y = 0 (x**0 is 1 for every x), d/dy where x = 0 and y >= 0 (0**y is 0 for y > 0).
POW = binary("pow", x ** y, "{0} ** {1}", derivatives=(
    sympy.Piecewise((0, sympy.Eq(y, 0)), (y * x ** (y - 1), True)),
    sympy.Piecewise((0, sympy.Eq(x, 0) & (y >= 0)), (x ** y * sympy.log(x), True))))
NEG = unary("neg", -x, template="-{0}", kind="ring")
EXP = unary("exp", sympy.exp(x))
LOG = unary("log", sympy.log(x))
SQRT = unary("sqrt", sympy.sqrt(x))
TANH = unary("tanh", sympy.tanh(x))
# sigmoid through tanh: the textbook 1/(1+exp(-x)) has a derivative that is inf/inf = nan
# at x = -1000; this form and its derivative stay finite everywhere.
SIGMOID = unary("sigmoid", (1 + sympy.tanh(x / 2)) / 2)
# relu as max(x, 0) in NumPy, torch and JAX: NaN stays NaN (0 where x <= 0, not x where
# x > 0, which gave 0 for NaN and hid it from a loss). relu' is [x <= 0 ? 0 : 1] =
# [relu(x) <= 0 ? 0 : 1]: said through the output, a fused forward kernel need not keep x
# alive for the backward pass; 1 at NaN, as torch's.
RELU = unary("relu", sympy.Piecewise((0, x <= 0), (x, True)),
             grad_via_output=sympy.Piecewise((0, OUT <= 0), (1, True)))
GELU = unary("gelu", x / 2 * (1 + sympy.erf(x / sympy.sqrt(2))))
# 1 where x equals y, else 0, in float: the tie mask in the gradient of max and min.
EQUAL = binary("is_equal", sympy.Piecewise((1, sympy.Eq(x, y)), (0, True)), "[{0} == {1}]",
               commutative=True)
# identity with a dtype: the conversion is the operand's, to the statement's compute dtype;
# its derivative 1 passes the cotangent straight on
CAST = unary("cast", x, template="{0}")

# where(c, a, b): the condition is read as bool, a and b are promoted together
WHERE = ScalarFn("where", (z, x, y), sympy.Piecewise((x, z), (y, True)), kind="select",
                 template="where({0}, {1}, {2})")


# Comparisons: the operands promoted together, a bool result (NaN compares false, except
# with !=), and no gradient (a step function's derivative is 0 wherever it is defined).
def compare(name: str, relation, symbol: str) -> ScalarFn:
    return binary(name, sympy.Piecewise((1, relation), (0, True)), f"{{0}} {symbol} {{1}}",
                  kind="compare", commutative=symbol in ("==", "!="))


GREATER = compare("greater", x > y, ">")
GREATER_EQUAL = compare("greater_equal", x >= y, ">=")
LESS = compare("less", x < y, "<")
LESS_EQUAL = compare("less_equal", x <= y, "<=")
EQUAL_TO = compare("equal", sympy.Eq(x, y), "==")
NOT_EQUAL = compare("not_equal", sympy.Ne(x, y), "!=")

# The min/max family keeps integer dtypes ("promote") and propagates NaN (np.maximum). Their
# derivatives follow torch at ties: d max(x, y)/dx is 1/2 where x == y (torch.maximum splits
# the gradient in half), else Heaviside(x - y), which is 1 at NaN as torch's is; the tie is
# asked for first, since at a tie of infinities x - y is NaN (each side got 1, the gradient
# twice over). d|x|/dx = sign(x), 0 at 0. Not commutative for CSE: np.maximum(-0.0, 0.0) is
# 0.0, the other way -0.0.
def _tie_first(step):
    return sympy.Piecewise((sympy.Rational(1, 2), sympy.Eq(x, y)), (step, True))


MAXIMUM = ScalarFn("maximum", (x, y), sympy.Max(x, y), kind="promote",
                   template="maximum({0}, {1})",
                   derivatives=(_tie_first(sympy.Heaviside(x - y)),
                                _tie_first(sympy.Heaviside(y - x))))
MINIMUM = ScalarFn("minimum", (x, y), sympy.Min(x, y), kind="promote",
                   template="minimum({0}, {1})",
                   derivatives=(_tie_first(sympy.Heaviside(y - x)),
                                _tie_first(sympy.Heaviside(x - y))))
ABS = unary("abs", sympy.Abs(x), kind="promote")
# clip(x, lo, hi) as np.clip, min(max(x, lo), hi) (NaN stays NaN; lo > hi gives hi), with
# x itself where lo <= x <= hi: that way its derivative is torch.clamp's, 1 there, bounds
# included (min and max alone would give 1/2 at a bound), and 0 elsewhere, NaN included, as
# torch's and JAX's (sympy's would be 1 at NaN); the bounds' derivatives are sympy's.
lo, hi = sympy.symbols("lo hi")
_CLIPPED = ScalarFn("clip", (x, lo, hi),
                    sympy.Piecewise((x, (x >= lo) & (x <= hi)),
                                    (sympy.Min(sympy.Max(x, lo), hi), True)),
                    kind="promote", template="clip({0}, {1}, {2})")
CLIP = replace(_CLIPPED, derivatives=(
    sympy.Piecewise((1, (x >= lo) & (x <= hi)), (0, True)),
    derivative(_CLIPPED, 1), derivative(_CLIPPED, 2)))

BUILTINS = {f.name: f for f in (ADD, SUB, MUL, DIV, POW, NEG, EXP, LOG, SQRT, TANH, SIGMOID,
                                RELU, GELU, EQUAL, CAST, WHERE, GREATER, GREATER_EQUAL, LESS,
                                LESS_EQUAL, EQUAL_TO, NOT_EQUAL, MAXIMUM, MINIMUM, ABS, CLIP)}
COMPARISONS = {f.name: f for f in (GREATER, GREATER_EQUAL, LESS, LESS_EQUAL, EQUAL_TO,
                                   NOT_EQUAL)}
