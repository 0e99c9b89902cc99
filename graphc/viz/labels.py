"""What each node of a drawing says, and its colours: shared by the DOT text and the built-in
drawing, so both show the same picture.

An op is named as a user wrote it (`relu`, `x - y`, `2.0*x`, `x @ y`, `sum(axis=1)`), never as
the sympy text of its body (`Piecewise((x, x > 0), (0, True))`). A fused kernel lists the ops
it replaced, in order (`matmul → add → relu`). The last line is the shape and dtype.
"""
from __future__ import annotations

import sympy

from ..ir.node import Node
from ..ir.shapes import fmt_shape

# fill and border per kind of box: inputs green, forward blue, backward (gc.grad) orange
FILL = {"input": "#e2f0d9", "constant": "#f3f3f3", "forward": "#dbe9f6", "grad": "#fde2c4"}
BORDER = {"input": "#38761d", "constant": "#888888", "forward": "#2b6cb0", "grad": "#c05621"}
EDGE = "#555555"

# elementwise ops that are Python operators, drawn as the expression a user typed
OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
COMMUTATIVE = ("add", "mul")  # their operands need no x / y on the edges
ARROW = " → "
OPS_PER_LINE = 4  # a fused kernel's op list wraps after this many


def kind(node: Node) -> str:
    """The colour class of a node: input, constant, forward or grad."""
    if node.op in ("input", "constant"):
        return node.op
    return "grad" if node.origin == "grad" else "forward"


def title(node: Node) -> str:
    """The op as a user wrote it (may span lines for a fused kernel)."""
    a = node.attrs
    if "fused" in a:
        return fused_title(a["fused"])
    if node.op == "input":
        return f"input {node.name}"
    if node.op == "constant":
        return f"constant {a['value']!r}"
    if node.op == "elementwise":
        return elementwise_title(a["fn"])
    if node.op in ("sum", "max", "logsumexp"):
        return reduction_title(node.op, tuple(a["axes"]), a.get("keepdims", False))
    if node.op == "matmul":
        return "x @ y"
    if node.op == "einsum":
        return f"einsum {','.join(a['terms'])}->{a['out']}"
    if node.op == "transpose":
        return f"transpose{tuple(a['perm'])}"
    if node.op == "one_hot":
        return f"one_hot(depth={a['depth']})"
    return node.op


def fused_title(ops) -> str:
    """'matmul → add → relu', wrapped every few ops so a long chain stays narrow."""
    ops = list(ops)
    rows = [ARROW.join(ops[k:k + OPS_PER_LINE]) for k in range(0, len(ops), OPS_PER_LINE)]
    return (ARROW.rstrip() + "\n").join(rows)


def elementwise_title(fn) -> str:
    """`x - y` for an operator on two tensors; `2.0*x` for one with a literal folded in (sympy
    prints it short); the op's name for a function of one tensor (relu, exp, dtanh/dx), and
    with its parameters for one of several (`dmul/dx(y, g)`: the edges say which is which)."""
    symbol = OPERATORS.get(fn.name)
    if symbol is not None and fn.arity == 2:
        return f"{fn.params[0]} {symbol} {fn.params[1]}"
    if fn.name == "neg" and fn.arity == 1:
        return f"-{fn.params[0]}"
    if symbol is not None and fn.arity == 1 and not fn.expr.has(sympy.Piecewise):
        text = str(fn.expr)
        if len(text) <= 24:
            return text
    if fn.arity > 1:
        return f"{fn.name}({', '.join(map(str, fn.params))})"
    return fn.name


def reduction_title(op: str, axes: tuple, keepdims: bool) -> str:
    axis = axes[0] if len(axes) == 1 else axes
    return f"{op}(axis={axis}{', keepdims' if keepdims else ''})"


def lines(node: Node) -> list[str]:
    """Every line of a node's box: title, schedule (tiled contractions), shape and dtype."""
    out = title(node).split("\n")
    if "fused" in node.attrs:
        out.append(f"fused kernel of {len(node.attrs['fused'])} ops")
    if "schedule" in node.attrs:
        out.append(str(node.attrs["schedule"]))
    out.append(f"{fmt_shape(node.shape)} {node.dtype}")
    return out


def operand_labels(node: Node) -> list[str]:
    """The label of each input edge: which operand it is, where the order matters."""
    n = len(node.inputs)
    if n < 2:
        return [""] * n
    if node.op == "elementwise" and "fused" not in node.attrs:
        fn = node.attrs["fn"]
        if fn.name in COMMUTATIVE or len(fn.params) != n:
            return [""] * n
        return [str(p) for p in fn.params]
    if node.op == "matmul":
        return ["x", "y"]
    if node.op == "einsum":
        return list(node.attrs["terms"])
    return [str(k) for k in range(n)]
