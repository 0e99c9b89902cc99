"""fuse_elementwise: chains of elementwise ops become one kernel with one straight-line body.

`relu(x + b) * 2` is three nodes, each walking memory once; fused, it is one elementwise
node whose body holds the three statements, in the order the graph ran them, each with the
dtype it had (t1 = x0 + x1; t2 = relu(t1); t3 = t2 * 2). A reduction fed by elementwise ops
becomes one "fused_reduce" (a reduction over a prologue body): softmax's denominator,
sum(where(mask, log_softmax, 0)), mean((a - b)**2). Statements are copied, never composed,
so a fused kernel computes exactly what the ops did one by one.

Where values are stored (the fan-out rule). An elementwise node is computed inside its
readers' kernel, never stored, when all of these hold:
  - it is not a graph output;
  - every node that reads it, seen through views, is an elementwise node or a reduction,
    and all those readers end up in the same kernel, or it is a few cheap ops (adds,
    multiplies, selects: `ScalarFn.cheap`), which each reader's kernel computes again (the
    cotangent where(mask, -g/n, 0) of a cross-entropy, read by a sum and by the softmax
    gradient): a few cycles per element instead of a store and a load.
Otherwise it is materialized: computed once by a kernel of its own and read from memory.
Nothing expensive is computed twice; besides cheap ops, the only things duplicated are
views (broadcast_to, and reshapes that only add or drop axes of size 1), which inside a
kernel are index arithmetic. (A producer read through a
broadcast runs once per element of the larger shape, as a layer norm's 1/sqrt(var) per
feature, for not storing and re-reading it; a kernel whose leaves all are narrower than its
result runs at their shape and is broadcast after.) Contractions read their operands from
memory (fuse_matmul_epilogue fuses what follows them), and a reduction's result is read by
later kernels (fuse_reduce_epilogue fuses what follows it at its own shape).

Every walk here is iterative, and a kernel holds at most MAX_KERNEL_OPS ops: a chain of 10,000
ops fuses into 79 kernels of at most 128 statements each.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.body import BodyBuilder
from ..ir.graph import Graph, users
from ..ir.node import Node, building_like, make, same_nodes
from ..ir.op import is_reduction
from ..ir.shapes import as_shape, broadcast_shapes, dims_equal
from .patterns import broadcast
from .rewrite import keep, note, rewrite

# A kernel's body holds at most this many statements: LLVM's compile time grows faster than
# linearly in the length of one function (a 400-statement body took 6 s, a 200-statement one
# 2 s), while storing and re-reading one value every hundred statements costs next to nothing.
MAX_KERNEL_OPS = 128
MAX_ROUNDS = 8  # one round fuses all it can; the next finds nothing (the pass is idempotent)
EVERY_READER = -1  # the kernel "id" of a cheap node each reading kernel computes itself
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


def is_reduce_root(node: Node) -> bool:
    return is_reduction(node)


# ---- the plan: which kernel computes each elementwise node ---------------------------------
@dataclass
class Plan:
    kernel: dict = field(default_factory=dict)   # id(node) -> id(root of its kernel)
    why: dict = field(default_factory=dict)      # id(materialized node) -> why it is stored
    members: dict = field(default_factory=dict)  # id(root) -> how many nodes it absorbs
    statements: dict = field(default_factory=dict)  # id(root) -> statements its body holds


def plan(graph: Graph) -> Plan:
    """Decide, users before producers, which elementwise nodes join their readers' kernel."""
    outs = {id(o) for o in graph.outputs}
    readers = users(graph.outputs)
    p = Plan()
    for node in reversed(graph.nodes()):
        if is_reduce_root(node):
            p.kernel[id(node)] = id(node)
            p.statements[id(node)] = _statements(node)
        elif node.op == "elementwise":
            why, k = _placement(node, readers, outs, p.kernel)
            n = _statements(node)
            joins = [] if why else [k] if k != EVERY_READER else \
                list({p.kernel[id(u)] for u in consumers(node, readers, outs)[0]})
            if any(p.statements.get(r, 0) + n > MAX_KERNEL_OPS for r in joins):
                why, joins = (f"its reader's kernel holds {MAX_KERNEL_OPS} statements already "
                              f"(a native compile grows faster than linearly in a body's "
                              f"length)"), []
            p.kernel[id(node)] = id(node) if why else k
            if why:
                p.why[id(node)] = why
                p.statements[id(node)] = n
            for r in joins:
                p.members[r] = p.members.get(r, 0) + 1
                p.statements[r] = p.statements.get(r, 0) + n
    return p


def _statements(node: Node) -> int:
    body = node.attrs.get("body")
    return len(body.stmts) if body is not None else 1


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
    foreign = sorted({u.op for u in found if not is_reduce_root(u) and u.op != "elementwise"})
    if foreign and len(found) == 1:
        return f"feeds a {foreign[0]}{_WHY_OP.get(foreign[0], '')}", None
    if foreign:
        return f"fan-out to {len(found)} users including a {', '.join(foreign)}", None
    if any(u.op == "fused_reduce" and _reads_in_epilogue(u, node) for u in found):
        return "feeds a reduction's epilogue", None
    kernels = {kernel[id(u)] for u in found}
    if EVERY_READER in kernels:
        return "feeds a cheap op that each reading kernel computes again", None
    if len(kernels) > 1:
        if is_cheap(node):
            return None, EVERY_READER
        return (f"fan-out: read by {len(kernels)} kernels (computing it in each would "
                f"repeat its work)"), None
    return None, kernels.pop()


CHEAP_STATEMENTS = 4


def is_cheap(node: Node) -> bool:
    """A few cheap statements (a few cycles per element): recomputing beats storing."""
    stmts = node.attrs["body"].stmts
    return len(stmts) <= CHEAP_STATEMENTS and all(s.fn.cheap for s in stmts)


def _reads_in_epilogue(fused_reduce: Node, node: Node) -> bool:
    n = fused_reduce.attrs["body"].n_params
    return any(_through_views(i) is node for i in fused_reduce.inputs[n:])


def _through_views(node: Node) -> Node:
    while is_view(node):
        node = node.inputs[0]
    return node


# ---- composing one kernel ------------------------------------------------------------------
class _Kernel:
    """Builds the body of one root's kernel from the nodes the plan put in it: their
    statements copied in graph order, leaves (stored values) as parameters."""

    def __init__(self, root, plan_, made, view_memo):
        self.root, self.plan, self.made, self.view_memo = root, plan_, made, view_memo
        self.b = BodyBuilder()
        self.leaves: list[Node] = []
        self.leaf_ref: dict[int, tuple] = {}
        self.replaced: dict[int, Node] = {}  # the arithmetic ops the kernel absorbs
        self.memo: dict = {}

    def member(self, node) -> bool:
        return node is not self.root and \
            self.plan.kernel.get(id(node)) in (id(self.root), EVERY_READER)

    def value(self, start: Node, start_steps=()):
        """The ref of `start`'s value as this kernel computes it. `steps` are the reshapes
        seen through on the way (outermost first), replayed on leaves so axes line up.
        Iterative (post-order with an explicit stack): chains of any length."""
        stack = [(start, start_steps, False)]
        while stack:
            node, steps, expanded = stack.pop()
            key = (id(node), steps)
            if key in self.memo:
                continue
            if is_view(node):
                step = ((node.inputs[0].shape, node.shape),) if node.op == "reshape" else ()
                child = (node.inputs[0], steps + step)
                if expanded:
                    self.memo[key] = self.memo[(id(child[0]), child[1])]
                else:
                    stack += [(node, steps, True), (*child, False)]
            elif self.member(node):
                if expanded:
                    self.replaced[id(node)] = node
                    self.memo[key] = self.b.inline(
                        node.attrs["body"], [self.memo[(id(i), steps)] for i in node.inputs])
                else:
                    stack.append((node, steps, True))
                    stack += [(i, steps, False) for i in reversed(node.inputs)]
            else:
                self.memo[key] = self.leaf(self.made[id(node)], steps)
        return self.memo[(id(start), start_steps)]

    def leaf(self, node, steps):
        for src, dst in reversed(steps):  # the reshape nearest the leaf first
            node = self._reshaped(node, src, dst)
        if id(node) not in self.leaf_ref:
            self.leaf_ref[id(node)] = self.b.param(node.dtype)
            self.leaves.append(node)
        return self.leaf_ref[id(node)]

    def _reshaped(self, node, src, dst):
        """`node` (broadcastable to src) with the unit axes of src -> dst added / dropped."""
        padded = (1,) * (len(src) - node.ndim) + tuple(node.shape)
        shape = [1] * len(dst)
        for a, b in zip([k for k, d in enumerate(src) if d != 1],
                        [k for k, d in enumerate(dst) if d != 1]):
            shape[b] = padded[a]
        shape = as_shape(shape)
        if _fits(node, shape):
            return node  # only missing leading 1s differ: broadcasting adds them
        while node.op == "reshape":  # reshape(reshape(x, s), t) = reshape(x, t)
            node = node.inputs[0]
        return node if _fits(node, shape) else _view(self.view_memo, "reshape", node, shape)

    def finish(self, result, span=None):
        """(body, leaf nodes); with `span` (a reduction's prologue shape), one leaf is
        broadcast to it when the leaves alone do not span it."""
        body = self.b.build(result)
        nodes = list(self.leaves)
        if len(nodes) != body.n_params:
            raise AssertionError("fuse_elementwise: every leaf is a parameter")
        if span is not None and nodes and not _same_shape(
                broadcast_shapes("fused", *[n.shape for n in nodes]), span):
            nodes[0] = _view(self.view_memo, "broadcast_to", nodes[0], span)
        return body, nodes

    def fused_names(self, order) -> tuple:
        names = []
        for n in sorted(self.replaced.values(), key=lambda n: order[id(n)]) + [self.root]:
            names.extend(op_names(n))
        return tuple(names)


def op_names(node: Node) -> tuple:
    """The names of the ops a node computes: its `fused` list, else its op or body name."""
    if "fused" in node.attrs:
        return tuple(node.attrs["fused"])
    return (node.attrs["body"].name,) if node.op == "elementwise" else (node.op,)


def _build(root, kern: _Kernel, order) -> Node | None:
    """The fused node for `root`, or None where there is nothing to fuse into it."""
    a = root.attrs
    if root.op == "elementwise":
        result = kern.b.inline(a["body"], [kern.value(i) for i in root.inputs])
        body, nodes = kern.finish(result)
        # at the shape its leaves span, then a view: f(broadcast(x)) = broadcast(f(x)), so
        # a body over narrow operands runs once per element of them
        new = make("elementwise", nodes, body=body, fused=kern.fused_names(order))
    else:
        if root.op == "fused_reduce":
            n = a["body"].n_params
            result = kern.b.inline(a["body"], [kern.value(i) for i in root.inputs[:n]])
            full, extras = _prologue_shape(root), list(root.inputs[n:])
        else:
            result, full, extras = kern.value(root.inputs[0]), root.inputs[0].shape, []
        body, nodes = kern.finish(result, full)
        if not nodes:
            return None  # a prologue of literals alone spans no shape to reduce
        attrs = dict(reduce=a.get("reduce", root.op), body=body, axes=a["axes"],
                     keepdims=a["keepdims"], epilogue=a.get("epilogue"))
        new = make("fused_reduce", nodes + extras, fused=kern.fused_names(order), **attrs)
    note("kernels fused")
    note("ops fused", len(new.attrs["fused"]))
    return broadcast(new, root.shape)


def _prologue_shape(node):
    from ..ops.fused import prologue_shape
    return prologue_shape(node)


def fuse_elementwise(graph: Graph) -> Graph:
    """Fuse elementwise chains (and the reductions they feed) into single kernels.

    >>> import graphc as gc
    >>> x = gc.tensor("x", ("B", 8)); g = gc.Graph.of([gc.relu(x + 1.0) * 2.0])
    >>> [n.attrs["fused"] for n in fuse_elementwise(g).nodes() if n.op == "elementwise"]
    [('add', 'relu', 'mul')]
    """
    for _ in range(MAX_ROUNDS):
        fused = _fuse_once(graph)
        if same_nodes(fused.outputs, graph.outputs):
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
        if new is None:  # not a kernel root
            new = keep(old, new_inputs)
        if new.op in ("reshape", "broadcast_to"):  # kernels reuse it (see _Kernel.view)
            view_memo.setdefault((new.op, id(new.inputs[0]), tuple(new.shape)), new)
        made[id(old)] = new
        return new
    return rewrite(graph, visit)


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
                or len(n.attrs.get("fused", ())) > 1:
            continue
        out[id(n)] = f"{p.why[id(n)]}; {_why_alone(n, readers, outs)}"
    return out


def _why_alone(node, readers, outs) -> str:
    kinds = set()
    for i in node.inputs:
        i = _through_views(i)
        if i.op == "elementwise":
            kinds.add("elementwise ops stored for their own reasons")
        elif i.op in ("input", "constant"):
            kinds.add(f"input {i.name}" if i.op == "input" else "a constant")
        else:
            kinds.add(f"a {i.op}")
    why = "nothing elementwise feeds it (it reads " + ", ".join(sorted(kinds)) + ")"
    # the tests fuse_matmul_epilogue and fuse_reduce_epilogue apply
    sole = [i for i in node.inputs if id(i) not in outs
            and all(u is node for u in readers.get(id(i), []))]
    if any(i.op == "matmul" or (i.op == "einsum" and len(i.inputs) == 2) for i in sole):
        why += "; fuse_matmul_epilogue makes it its contraction's epilogue"
    elif any(is_reduction(i) for i in sole):
        why += "; fuse_reduce_epilogue may make it its reduction's epilogue"
    return why
