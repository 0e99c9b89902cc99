"""fuse_elementwise: chains of elementwise ops become one kernel with one sympy body.

`relu(x + b) * 2` is three nodes, each walking memory once; fused, it is one elementwise
node whose `fn` body is the three bodies composed by substitution. A reduction fed by
elementwise ops becomes one "fused_reduce" (reduce over a prologue body): softmax's
denominator, log-sum-exp, sum(logits * one_hot), mean((a - b)**2) (a scale after a sum
moves into the sum: sum(x) / n = sum(x / n)).

Where values are stored (the fan-out rule). An elementwise node is computed inside its
readers' kernel, never stored, when all of these hold:
  - it is not a graph output;
  - every node that reads it, seen through views, is an elementwise node or a reduction,
    and all those readers end up in the same kernel;
  - it converts no dtype (an astype, attr `dtype`) unless its reader is a reduction.
(A fused body evaluates each part in its operands' dtype, as the separate ops did; only
an explicit conversion would be lost by inlining.)
Otherwise it is materialized: computed once by a kernel of its own and read from memory.
Arithmetic is never duplicated into two kernels, so nothing expensive is computed twice;
the only things duplicated are views (broadcast_to, and reshapes that only add or drop
axes of size 1), which inside a kernel are index arithmetic. (A producer read through a
broadcast runs once per element of the larger shape, as a layer norm's 1/sqrt(var) per
feature: about 0.2% more FLOPs in the tiny transformer's step, in memory-bound kernels,
for not storing and re-reading it; a kernel whose leaves all are narrower than its result
runs at their shape and is broadcast after.) Contractions read their operands from memory
(fuse_matmul_epilogue fuses what follows them), and a reduction's result is read by later
kernels.

The composed body is built by plain sympy substitution, so sympy's automatic evaluation
applies: identities true of complex numbers such as exp(log(x)) = x or x - x = 0. They
change a result only where the unfused graph produced nan or inf (log of a negative number,
inf - inf). An unevaluated composition would keep those too, but sympy's own algorithms
(Piecewise conditions, cse, diff) break on unevaluated trees, and every later stage
(codegen, gradients of fused nodes) needs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from ..ir.graph import Graph, users
from ..ir.node import Node, building_like, make, rebuild
from ..ir.scalar import ScalarFn
from ..ir.shapes import broadcast_shapes, dims_equal
from ..ops.common import is_float
from ..ops.fused import fresh_params
from .patterns import broadcast, exact_integers, filled, nonfinite, uniform_value
from .rewrite import keep, note, rewrite

REDUCE_ROOTS = ("sum", "max", "logsumexp", "fused_reduce")
MAX_ROUNDS = 8  # one round fuses all it can; a second only where a body cancelled a read
_WHY_OP = {"matmul": " (a contraction reads its operands from memory)",
           "einsum": " (a contraction reads its operands from memory)",
           "transpose": " (a transpose moves data between kernels)",
           "reshape": " (this reshape regroups axes, so it reads stored data)"}


# ---- views: what a kernel body sees through ------------------------------------------------
def is_view(node: Node) -> bool:
    """broadcast_to, or a reshape that only adds or drops axes of size 1."""
    if node.op == "broadcast_to":
        return True
    return node.op == "reshape" and _unit_reshape(node.inputs[0].shape, node.shape)


def _non_unit(shape):
    return [d for d in shape if d != 1]


def _unit_reshape(src, dst) -> bool:
    a, b = _non_unit(src), _non_unit(dst)
    return len(a) == len(b) and all(dims_equal(p, q) for p, q in zip(a, b))


def _strip_leading_units(shape) -> tuple:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _view(memo: dict, op: str, node: Node, shape) -> Node:
    """op(node, shape): the graph's own such view where it has one (a second pipeline run
    would merge a copy with it), else one made once per fusion pass."""
    key = (op, id(node), tuple(shape))
    if key not in memo:
        memo[key] = make(op, (node,), shape=tuple(shape))
    return memo[key]


def _fits(node, shape) -> bool:
    """`node` is `shape` up to leading 1s, which broadcasting adds."""
    return node.ndim <= len(shape) and \
        _strip_leading_units(shape) == _strip_leading_units(node.shape)


def _same_shape(a, b) -> bool:
    return len(a) == len(b) and all(dims_equal(p, q) for p, q in zip(a, b))


# ---- the plan: which kernel computes each elementwise node ---------------------------------
@dataclass
class Plan:
    kernel: dict = field(default_factory=dict)   # id(node) -> id(root of its kernel)
    why: dict = field(default_factory=dict)      # id(materialized node) -> why it is stored
    members: dict = field(default_factory=dict)  # id(root) -> how many nodes it absorbs


def plan(graph: Graph) -> Plan:
    """Decide, users before producers, which elementwise nodes join their readers' kernel."""
    outs = {id(o) for o in graph.outputs}
    readers = users(graph.outputs)
    p = Plan()
    for node in reversed(graph.nodes()):
        if node.op in REDUCE_ROOTS:
            p.kernel[id(node)] = id(node)
        elif node.op == "elementwise":
            why, k = _placement(node, readers, outs, p.kernel)
            p.kernel[id(node)] = id(node) if why else k
            if why:
                p.why[id(node)] = why
            else:
                p.members[k] = p.members.get(k, 0) + 1
    return p


def consumers(node: Node, readers: dict, outs: set) -> tuple[list, bool]:
    """The non-view nodes reading `node` through any chain of views, and whether one of
    those views is itself a graph output."""
    found, view_out, stack, seen = [], False, [node], set()
    while stack:
        for u in readers.get(id(stack.pop()), []):
            if not is_view(u):
                found.append(u)
            elif id(u) not in seen:
                seen.add(id(u))
                view_out |= id(u) in outs
                stack.append(u)
    return found, view_out


def _placement(node, readers, outs, kernel):
    """(why the node is stored, None) or (None, id of the kernel that computes it)."""
    if id(node) in outs:
        return "feeds a graph output", None
    found, view_out = consumers(node, readers, outs)
    if view_out:
        return "a view of it is a graph output", None
    foreign = sorted({u.op for u in found if u.op not in REDUCE_ROOTS and u.op != "elementwise"})
    if foreign and len(found) == 1:
        return f"feeds a {foreign[0]}{_WHY_OP.get(foreign[0], '')}", None
    if foreign:
        return f"fan-out to {len(found)} users including a {', '.join(foreign)}", None
    kernels = {kernel[id(u)] for u in found}
    if len(kernels) > 1:
        return (f"fan-out: read by {len(kernels)} kernels (computing it in each would "
                f"repeat its work)"), None
    # A conversion (astype) inlined into an elementwise reader would vanish: its reader
    # would compute on the unconverted values. At the top of a reduction's prologue it
    # stays (the fused_reduce stores its prologue in that dtype).
    if "dtype" in node.attrs and any(u.op in ("elementwise", "fused_reduce") for u in found):
        return f"converts to {node.dtype}: the conversion is stored, not folded", None
    return None, kernels.pop()


# ---- composing one kernel ------------------------------------------------------------------
class _Kernel:
    """Builds the fused node for one root from the nodes the plan put in its kernel."""

    def __init__(self, root, plan_, made, view_memo):
        self.root, self.plan, self.made, self.view_memo = root, plan_, made, view_memo
        self.leaves: dict[int, tuple] = {}  # id(new leaf node) -> (placeholder, node)
        self.replaced: dict[int, Node] = {}  # the arithmetic ops the kernel absorbs
        self.memo: dict = {}

    def body(self, fn, inputs, steps=()):
        """fn's expression with each parameter replaced by its input's expression."""
        return fn.expr.xreplace({p: self.expr(i, steps) for p, i in zip(fn.params, inputs)})

    def expr(self, node, steps):
        """The expression of `node` as this kernel computes it; `steps` are the reshapes
        seen through on the way (outermost first), replayed on leaves so axes line up."""
        key = (id(node), steps)
        if key not in self.memo:
            self.memo[key] = self._expr(node, steps)
        return self.memo[key]

    def _expr(self, node, steps):
        if is_view(node):
            step = (node.inputs[0].shape, node.shape) if node.op == "reshape" else None
            return self.expr(node.inputs[0], steps + ((step,) if step else ()))
        if node is not self.root and self.plan.kernel.get(id(node)) == id(self.root):
            self.replaced[id(node)] = node
            return self.body(node.attrs["fn"], node.inputs, steps)
        return self.leaf(self.made[id(node)], steps)

    def leaf(self, node, steps):
        for src, dst in reversed(steps):  # the reshape nearest the leaf first
            node = self._reshaped(node, src, dst)
        if id(node) not in self.leaves:
            self.leaves[id(node)] = (sympy.Dummy(f"in{len(self.leaves)}"), node)
        return self.leaves[id(node)][0]

    def _reshaped(self, node, src, dst):
        """`node` (broadcastable to src) with the unit axes of src -> dst added / dropped."""
        padded = (sympy.Integer(1),) * (len(src) - node.ndim) + tuple(node.shape)
        shape = [sympy.Integer(1)] * len(dst)
        for a, b in zip([k for k, d in enumerate(src) if d != 1],
                        [k for k, d in enumerate(dst) if d != 1]):
            shape[b] = padded[a]
        if _fits(node, shape):
            return node  # only missing leading 1s differ: broadcasting adds them
        while node.op == "reshape":  # reshape(reshape(x, s), t) = reshape(x, t)
            node = node.inputs[0]
        return node if _fits(node, shape) else self.view("reshape", node, shape)

    def view(self, op, node, shape):
        return _view(self.view_memo, op, node, shape)

    def finish(self, expr, shape=None):
        """(fn named "fused", leaf nodes): leaves the body no longer reads are dropped, and
        one leaf is broadcast to `shape` (a reduction's prologue shape) when the rest no
        longer span it. None when the composition is not a float computation: y / (x - x)
        composes to zoo*y."""
        if nonfinite(expr):
            return None
        with_literals = expr.xreplace(self._literals(expr))
        expr = expr if nonfinite(with_literals) else with_literals  # x / c for c = 0
        if all(is_float(n.dtype) for _, n in self.leaves.values()):
            expr = exact_integers(expr)  # (x*2.0)*0.5 composes to 1.0*x: as simplify, x
        leaves = [(s, n) for s, n in self.leaves.values() if s in expr.free_symbols] or \
            list(self.leaves.values())[:1]
        dims = expr.free_symbols - {s for s, _ in self.leaves.values()}
        params = fresh_params(len(leaves), "x", dims)
        expr = expr.xreplace({s: p for (s, _), p in zip(leaves, params)})
        nodes = [n for _, n in leaves]
        if shape is not None and \
                not _same_shape(broadcast_shapes("fused", *[n.shape for n in nodes]), shape):
            nodes[0] = self.view("broadcast_to", nodes[0], shape)
        return ScalarFn("fused", params, expr), nodes

    def _literals(self, expr) -> dict:
        """Constant leaves of one exact, short value (the gradient seed 1, a 0.5) become
        literals of the body, as simplify does for single ops; only in the kernel's own
        dtype, while a leaf of that dtype remains (a wider constant decided the precision)."""
        out = {}
        for s, n in self.leaves.values():
            v = uniform_value(n) if n.dtype == self.root.dtype else None
            if v is not None and sympy.Rational(v).q <= 1024:
                out[s] = sympy.Rational(v)
        carrier = any(s not in out and n.dtype == self.root.dtype
                      for s, n in self.leaves.values())  # still sets the precision
        return out if carrier and "dtype" not in self.root.attrs else {}

    def fused_names(self, order) -> tuple:
        names = []
        for n in sorted(self.replaced.values(), key=lambda n: order[id(n)]) + [self.root]:
            names.extend(op_names(n))
        return tuple(names)


def op_names(node: Node) -> tuple:
    """The names of the ops a node computes: its `fused` list, else its op or body name."""
    if "fused" in node.attrs:
        return tuple(node.attrs["fused"])
    return (node.attrs["fn"].name,) if node.op == "elementwise" else (node.op,)


def _build(root, kern: _Kernel, order) -> Node | None:
    """The fused node for `root`, a node that is no kernel at all (see _computes_nothing),
    or None where the ops cannot be composed (they then stay as they are)."""
    a = root.attrs
    if root.op == "elementwise":
        finished = kern.finish(kern.body(a["fn"], root.inputs))
        if finished is None:
            return None
        fn, nodes = finished
        trivial = _computes_nothing(fn, nodes, root, kern.view_memo)
        if trivial is not None:
            note("composed bodies that compute nothing")
            return trivial
        # at the shape its leaves span, then a view: f(broadcast(x)) = broadcast(f(x)), so
        # a body whose wide operands cancelled runs once per element of the narrow ones
        new = make("elementwise", nodes, fn=fn, dtype=a.get("dtype"))
    else:
        if root.op == "fused_reduce":
            expr, full = kern.body(a["fn"], root.inputs), _prologue_shape(root)
        else:
            expr, full = kern.expr(root.inputs[0], ()), root.inputs[0].shape
        finished = kern.finish(expr, full)
        if finished is None:
            return None
        fn, nodes = finished
        new = make("fused_reduce", nodes, reduce=a.get("reduce", root.op), fn=fn,
                   axes=a["axes"], keepdims=a["keepdims"], dtype=a.get("dtype"))
    if new.dtype != root.dtype:  # a dropped leaf may have decided the dtype
        new = rebuild(new, dtype=root.dtype)
    new = rebuild(new, fused=kern.fused_names(order))
    note("kernels fused")
    note("ops fused", len(new.attrs["fused"]))
    return broadcast(new, root.shape)


def _computes_nothing(fn: ScalarFn, nodes: list, root: Node, memo: dict) -> Node | None:
    """A composed body that is one operand ((x*2)*0.5) is that operand; one that reads no
    operand and no dim (x - 1 - x) is a constant, one per value in a pass. Neither is a
    kernel, and making one would leave work for a second run of the pipeline."""
    if fn.expr in fn.params:
        leaf = nodes[fn.params.index(fn.expr)]
        return broadcast(leaf, root.shape) if leaf.dtype == root.dtype else None
    if not fn.expr.free_symbols:
        key = ("filled", fn.expr, tuple(root.shape), root.dtype)
        return memo.setdefault(key, filled(fn.expr, root.shape, root.dtype))
    return None


def _prologue_shape(node):
    return broadcast_shapes("fused_reduce", *[i.shape for i in node.inputs])


def fuse_elementwise(graph: Graph) -> Graph:
    """Fuse elementwise chains (and the reductions they feed) into single kernels.

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 8)); g = gc.Graph.of([gc.relu(x + 1.0) * 2.0])
    >>> [n.attrs["fused"] for n in fuse_elementwise(g).nodes() if n.op == "elementwise"]
    [('add', 'relu', 'mul')]
    """
    # A composed body can cancel a read (exp(x) * (1/exp(x)) = 1), so a value stored for
    # two readers may be left with one, which a next round fuses: rounds run until nothing
    # changes, so that the pass (and the pipeline) applied to its own result changes nothing.
    for _ in range(MAX_ROUNDS):
        fused = _fuse_once(graph)
        if fused.outputs == graph.outputs:
            break
        graph = fused
    return graph


def _fuse_once(graph: Graph) -> Graph:
    p = plan(graph)
    order = {id(n): k for k, n in enumerate(graph.nodes())}
    made: dict[int, Node] = {}
    view_memo: dict = {}

    def visit(old, new_inputs):
        new = None
        if p.members.get(id(old)):
            with building_like(old):  # a fused backward kernel is still drawn as backward
                new = _build(old, _Kernel(old, p, made, view_memo), order)
        if new is None and old.op == "broadcast_to":  # it may read a kernel's own broadcast
            base = broadcast(new_inputs[0], old.shape)  # which it then replaces
            new = base if base.op != "broadcast_to" else \
                _view(view_memo, "broadcast_to", base.inputs[0], old.shape)
        if new is None:  # not a kernel root, or one whose ops cannot be composed
            new = keep(old, new_inputs)
        if new.op in ("reshape", "broadcast_to"):  # kernels reuse it (see _Kernel.view)
            view_memo.setdefault((new.op, id(new.inputs[0]), tuple(new.shape)), new)
        made[id(old)] = new
        return new
    return _fold_scales(rewrite(graph, visit))


# ---- a scale after a sum: sum(x) * c = sum(x * c) ------------------------------------------
def scale_of_sum(node: Node, readers: dict, outs: set):
    """c when `node` is c * s for the result s of a sum that nothing else reads (a mean's
    division by the count), else None. Moving c into the sum's prologue saves a kernel for
    one multiply per element, which is hidden under the memory traffic of the sum."""
    if node.op != "elementwise" or len(node.inputs) != 1 or "dtype" in node.attrs:
        return None
    (s,) = node.inputs
    is_sum = s.op == "sum" or (s.op == "fused_reduce" and s.attrs["reduce"] == "sum")
    if not is_sum or id(s) in outs or any(u is not node for u in readers.get(id(s), [])):
        return None
    if s.dtype != node.dtype:
        return None  # mean of ints: the int sum is exact, a sum of scaled floats is not
    fn = node.attrs["fn"]
    c, rest = fn.expr.as_independent(fn.params[0], as_Add=False)
    return c if rest == fn.params[0] else None


def _fold_scales(graph: Graph) -> Graph:
    readers, outs = users(graph.outputs), {id(o) for o in graph.outputs}

    def visit(old, new_inputs):
        c = scale_of_sum(old, readers, outs)
        if c is None:
            return keep(old, new_inputs)
        note("scales moved into a sum")
        with building_like(old):
            return _scaled_sum(new_inputs[0], c, op_names(old.inputs[0]) + op_names(old),
                               old.dtype)
    return rewrite(graph, visit)


def _scaled_sum(s: Node, c, names: tuple, dtype: str) -> Node:
    if s.op == "sum":
        body, inputs = sympy.Symbol("x"), s.inputs
        fn = ScalarFn("fused", (body,), body)
    else:
        fn, inputs = s.attrs["fn"], s.inputs
    params = fresh_params(fn.arity, "x", c.free_symbols | set(fn.dim_symbols()))
    expr = c * fn.expr.xreplace(dict(zip(fn.params, params)))
    new = make("fused_reduce", inputs, reduce="sum", fn=ScalarFn("fused", params, expr),
               axes=s.attrs["axes"], keepdims=s.attrs["keepdims"], dtype=s.attrs.get("dtype"))
    new = new if new.dtype == dtype else rebuild(new, dtype=dtype)
    return rebuild(new, fused=names)


# ---- why an elementwise op was left alone --------------------------------------------------
def unfused_reasons(graph: Graph) -> dict[int, str]:
    """For each elementwise node of `graph` that fuse_elementwise leaves as a one-op kernel:
    id(node) -> why (why it is stored, and why none of its producers could join it). Call it
    on the graph the pass receives; nodes already fused are not listed."""
    p = plan(graph)
    readers, outs = users(graph.outputs), {id(o) for o in graph.outputs}
    out = {}
    for n in graph.nodes():
        if n.op != "elementwise" or p.kernel[id(n)] != id(n) or p.members.get(id(n)) \
                or len(n.attrs.get("fused", ())) > 1 or scale_of_sum(n, readers, outs) is not None:
            continue
        out[id(n)] = f"{p.why[id(n)]}; {_why_alone(n, readers, outs)}"
    return out


def _why_alone(node, readers, outs) -> str:
    kinds = set()
    for i in node.inputs:
        while is_view(i):
            i = i.inputs[0]
        if i.op == "elementwise":
            kinds.add("elementwise ops stored for their own reasons")
        elif i.op in ("input", "constant"):
            kinds.add(f"input {i.name}" if i.op == "input" else "a constant")
        else:
            kinds.add(f"a {i.op}")
    why = "nothing elementwise feeds it (it reads " + ", ".join(sorted(kinds)) + ")"
    # the test fuse_matmul_epilogue applies: a direct contraction input with no other reader
    epilogue = any((i.op == "matmul" or (i.op == "einsum" and len(i.inputs) == 2))
                   and id(i) not in outs and all(u is node for u in readers.get(id(i), []))
                   for i in node.inputs)
    return why + ("; fuse_matmul_epilogue makes it its contraction's epilogue" if epilogue
                  else "")
