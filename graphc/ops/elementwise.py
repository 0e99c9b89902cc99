"""Elementwise ops: each is one sympy expression; its gradient is `sympy.diff` of it.

Every elementwise node, a built-in like tanh or a fused kernel of twenty ops, is the single
op "elementwise" whose attribute `fn` holds the body. Inputs broadcast as in NumPy.
"""
from __future__ import annotations

import numpy as np
import sympy

from ..ir.node import make
from ..ir.op import OpDef, register
from ..ir.scalar import OUT, ScalarFn, derivative, derivative_via_output, evaluate
from ..ir.shapes import broadcast_shapes
from .common import concrete, float_operands, is_float, result_dtype

x, y = sympy.symbols("x y")


def _infer(inputs, attrs):
    fn = attrs["fn"]
    if len(inputs) != fn.arity:
        raise ValueError(f"{fn.name}: takes {fn.arity} inputs, got {len(inputs)}")
    shape = broadcast_shapes(fn.name, *[i.shape for i in inputs])
    floats = [i.dtype for i in inputs if is_float(i.dtype)]
    dtype = attrs.get("dtype") or (result_dtype(*floats) if floats else "float32")
    return shape, dtype


def _reference(values, node, dims):
    out = evaluate(node.attrs["fn"], float_operands(values, node.dtype), dims)
    out = np.broadcast_to(np.asarray(out), concrete(node.shape, dims))
    return out


def _vjp(node, g):
    fn = node.attrs["fn"]
    grads = []
    for i, inp in enumerate(node.inputs):
        if not is_float(inp.dtype):
            grads.append(None)
            continue
        grads.append(_grad_of_param(node, fn, i, g))
    return tuple(grads)


def _grad_of_param(node, fn, i, g):
    """g * d fn/d param_i, as one elementwise node over the inputs the derivative reads."""
    via_out = derivative_via_output(fn)
    if via_out is not None:
        d, args, params = via_out, (node,), (OUT,)
    else:
        d = derivative(fn, i)
        used = [k for k, p in enumerate(fn.params) if p in d.free_symbols]
        args = tuple(node.inputs[k] for k in used)
        params = tuple(fn.params[k] for k in used)
    if d == 0:
        return None
    if d == 1:
        return g
    g_sym = _fresh_cotangent(params + tuple(d.free_symbols))
    body = ScalarFn(f"d{fn.name}/d{fn.params[i]}", params + (g_sym,), g_sym * d)
    return make("elementwise", args + (g,), fn=body)


def _fresh_cotangent(taken_symbols):
    """A symbol for the cotangent named unlike every parameter and dim of the body. A
    derivative's body already has one (g) and its derivative another (g2, ...): third order
    must not reuse either."""
    taken = {str(p) for p in taken_symbols}
    k = 1
    while (name := "g" if k == 1 else f"g{k}") in taken:
        k += 1
    return sympy.Symbol(name)


register(OpDef("elementwise", "elementwise", _infer, _reference, _vjp,
               doc="A sympy body over broadcast inputs. attrs: fn (a ScalarFn)."))


def unary(name: str, expr, grad_via_output=None) -> ScalarFn:
    return ScalarFn(name, (x,), expr, grad_via_output)


def binary(name: str, expr) -> ScalarFn:
    return ScalarFn(name, (x, y), expr)


# The built-ins. Each is its formula; nothing else is needed for forward or backward.
ADD = binary("add", x + y)
SUB = binary("sub", x - y)
MUL = binary("mul", x * y)
DIV = binary("div", x / y)
POW = binary("pow", x ** y)
NEG = unary("neg", -x)
EXP = unary("exp", sympy.exp(x))
LOG = unary("log", sympy.log(x))
SQRT = unary("sqrt", sympy.sqrt(x))
TANH = unary("tanh", sympy.tanh(x))
# sigmoid through tanh: the textbook 1/(1+exp(-x)) has a derivative that is inf/inf = nan
# at x = -1000; this form and its derivative stay finite everywhere.
SIGMOID = unary("sigmoid", (1 + sympy.tanh(x / 2)) / 2)
# relu' is [x > 0] = [relu(x) > 0]: said through the output, a fused forward kernel need
# not keep x alive for the backward pass.
RELU = unary("relu", sympy.Piecewise((x, x > 0), (0, True)),
             grad_via_output=sympy.Piecewise((1, OUT > 0), (0, True)))
GELU = unary("gelu", x / 2 * (1 + sympy.erf(x / sympy.sqrt(2))))
# 1 where x equals y, else 0: the tie mask in the gradient of max.
EQUAL = binary("equal", sympy.Piecewise((1, sympy.Eq(x, y)), (0, True)))

BUILTINS = {f.name: f for f in (ADD, SUB, MUL, DIV, POW, NEG, EXP, LOG, SQRT, TANH, SIGMOID,
                                RELU, GELU, EQUAL)}
# identity with another dtype attribute; its derivative 1 passes the cotangent straight on
CAST = unary("cast", x)
BUILTINS["cast"] = CAST
