"""What each node of a drawing says, and its colours: shared by the DOT text and the built-in
drawing, so both show the same picture.

An op is named as a user wrote it (`relu`, `x - y`, `2.0*x`, `x @ y`, `sum(axis=1)`), never as
the sympy text of its body (`Piecewise((0, x <= 0), (x, True))`). A fused kernel lists the ops
it replaced, in order (`matmul → add → relu`). The last line is the shape and dtype.
"""
from __future__ import annotations

from ..ir.node import Node
from ..ir.op import is_reduction
from ..ir.shapes import fmt_shape

# fill and border per kind of box: inputs green, forward blue, backward (gc.grad) orange
FILL = {"input": "#e2f0d9", "constant": "#f3f3f3", "forward": "#dbe9f6", "grad": "#fde2c4"}
BORDER = {"input": "#38761d", "constant": "#888888", "forward": "#2b6cb0", "grad": "#c05621"}
EDGE = "#555555"

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
        return elementwise_title(node)
    if node.op in ("softmax", "log_softmax"):
        return f"{node.op}(axis={a['axis']})"
    if is_reduction(node):  # sum, max, logsumexp
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


INPUT_NAMES = ("x", "y", "z", "u", "v", "w")


def input_name(k: int) -> str:
    return INPUT_NAMES[k] if k < len(INPUT_NAMES) else f"x{k}"


def elementwise_title(node: Node) -> str:
    """The statement as a user wrote it, its inputs named x, y, ... in order and its literals
    shown: `x - y`, `2.0 * x`, `-x`, `relu(x)`, `dmul/dx(x, y)`."""
    stmt = node.attrs["body"].single
    if stmt is None:
        return node.attrs["body"].name
    args = [str(a) if not isinstance(a, int) else input_name(a) for a in stmt.args]
    if stmt.fn.template is None or stmt.fn.template == f"{stmt.fn.name}({{0}})":
        # a function of one tensor is its name (relu, exp, dtanh/dx); of several, with its
        # operands (smooth_max(x, y)): the edges say which is which
        return stmt.fn.name if len(args) == 1 and args == ["x"] else \
            f"{stmt.fn.name}({', '.join(args)})"
    text = stmt.fn.written(args)
    return text if len(text) <= 28 else stmt.fn.name


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
        stmt = node.attrs["body"].single
        if stmt is None or stmt.fn.commutative:
            return [""] * n
        return [input_name(k) for k in range(n)]
    if node.op == "matmul":
        return ["x", "y"]
    if node.op == "einsum":
        return list(node.attrs["terms"])
    return [str(k) for k in range(n)]
