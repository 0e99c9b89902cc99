"""A formula as a graph of its distinct terms, walked in time linear in that graph.

A sympy formula is a tree in what it says but a graph in memory: a term the Python that built
it shared (`v = Piecewise((v, x > c), (v * tanh(v), True))` ten times over) is one object
however many times the tree repeats it. sympy's own walks (`free_symbols`, `atoms`, `has`,
`count_ops`, `diff`, printing) follow the tree, so on such a formula they take time
exponential in its depth: 3^10 copies of x in the formula above. graphc walks its formulas
here instead, each distinct term once, and prints and differentiates a formula that repeats
terms as straight-line code, one statement per repeated term (`shared_terms`).
"""
from __future__ import annotations

from collections import OrderedDict
from functools import wraps

import sympy


def _by_identity(function):
    """Remembers `function` of the last 1024 formulas by identity. sympy's == compares two
    equal formulas that are distinct objects along their trees (exponential, as above), so a
    cache keyed by equality (lru_cache) met an equal formula built by other code and stalled.
    Each entry keeps its formula alive, so its id is not reused."""
    memo: OrderedDict = OrderedDict()

    @wraps(function)
    def remembered(expr):
        hit = memo.get(id(expr))
        if hit is not None and hit[0] is expr:
            memo.move_to_end(id(expr))
            return hit[1]
        value = function(expr)
        memo[id(expr)] = (expr, value)
        if len(memo) > 1024:
            memo.popitem(last=False)
        return value
    return remembered


@_by_identity
def distinct_terms(expr: sympy.Basic) -> tuple:
    """Each distinct subterm of `expr` once (symbols and numbers included), children before
    parents, `expr` last. Iterative: a deep formula does not overflow the stack."""
    order, seen, stack = [], set(), [(expr, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in seen:  # (by identity: == walks the tree)
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((a, False) for a in reversed(node.args))
    return tuple(order)


def same(a: sympy.Basic, b: sympy.Basic) -> bool:
    """a == b, each pair of terms compared once (sympy's == walks both trees: two equal
    formulas that share no objects took 3^levels comparisons)."""
    if a is b:
        return True
    if hash(a) != hash(b):  # (sympy remembers each term's hash)
        return False
    compared, stack = set(), [(a, b)]
    while stack:
        p, q = stack.pop()
        if p is q or (id(p), id(q)) in compared:
            continue
        compared.add((id(p), id(q)))
        if type(p) is not type(q):
            return False
        if not p.args:  # a symbol, a number: itself
            if p != q:
                return False
            continue
        mine, theirs = p._hashable_content(), q._hashable_content()
        if len(mine) != len(theirs):
            return False
        for m, t in zip(mine, theirs):
            if isinstance(m, sympy.Basic) and isinstance(t, sympy.Basic):
                stack.append((m, t))
            elif m != t:
                return False
    return True


@_by_identity
def free_symbols(expr: sympy.Basic) -> frozenset:
    """The symbols `expr` mentions (sympy's `free_symbols`; formulas bind none)."""
    return frozenset(t for t in distinct_terms(expr) if isinstance(t, sympy.Symbol))


def atoms(expr: sympy.Basic, *types) -> set:
    """The subterms of `expr` that are instances of `types` (sympy's `atoms`)."""
    return {t for t in distinct_terms(expr) if isinstance(t, types)}


def has(expr: sympy.Basic, *items) -> bool:
    """Whether `expr` holds a subterm that is an instance of one of the classes in `items`
    or equals one of the others (sympy's `has`, for classes and terms)."""
    types = tuple(i for i in items if isinstance(i, type))
    terms = {i for i in items if not isinstance(i, type)}
    return any(isinstance(t, types) or t in terms for t in distinct_terms(expr))


@_by_identity
def count_ops(expr: sympy.Basic) -> int:
    """sympy's `count_ops` of the formula as straight-line code: each repeated term counted
    once, as the code computes it (a formula that repeats nothing: sympy's count)."""
    terms, rest = shared_terms(expr)
    return int(sum(sympy.count_ops(t) for _, t in terms) + sympy.count_ops(rest))


def said(expr: sympy.Basic) -> str:
    """`expr` as text, each repeated term said once: `Piecewise((_t0, x > 1), ...) where
    _t0 = ...` (its tree's text grows exponentially)."""
    terms, rest = shared_terms(expr)
    where = f" where {', '.join(f'{s} = {t}' for s, t in terms)}" if terms else ""
    return f"{rest}{where}"


@_by_identity
def shared_terms(expr: sympy.Basic) -> tuple[tuple, sympy.Basic]:
    """A formula as straight-line code: ((symbol, term), ...) and what is left of it, where each
    value the formula's tree would say more than once is bound to a symbol once, inner terms
    first. A printer then prints each term once, and the autodiff differentiates one
    statement per term (graphc/ir/body.py, split_terms). A formula that repeats nothing, as
    every builtin, comes back as it is. Linear in the formula's size as a graph; the terms are
    rebuilt with sympy's evaluation off (nothing is simplified).

    Only values (sympy.Expr) are bound: a repeated condition (x > t0) or Piecewise branch is
    said again where it is used, and the values in it are what gets bound."""
    order = [t for t in distinct_terms(expr) if t.args]  # a symbol or number says itself
    # by identity throughout, as distinct_terms: sympy's == walks trees
    # how often the code says each term, given the bindings made so far (counted up to 2)
    times_said = {id(expr): 1}
    bind = set()
    for node in reversed(order):  # parents first: every use of a term is counted before it
        times = times_said.get(id(node), 0)
        if times > 1 and node is not expr and isinstance(node, sympy.Expr):
            bind.add(id(node))
            times = 1
        # a printer writes sign(t) as a conditional that reads t three times
        each = 3 * times if isinstance(node, sympy.sign) else times
        for a in node.args:
            if a.args:
                times_said[id(a)] = min(2, times_said.get(id(a), 0) + each)
    if not bind:
        return (), expr
    bound, rebuilt, terms = {}, {}, []
    with sympy.evaluate(False):
        for node in order:
            args = tuple(bound.get(id(a), rebuilt.get(id(a), a)) for a in node.args)
            unchanged = all(a is b for a, b in zip(args, node.args))
            rebuilt[id(node)] = node if unchanged else node.func(*args)
            if id(node) in bind:
                bound[id(node)] = sympy.Dummy(f"t{len(terms)}")
                terms.append((bound[id(node)], rebuilt[id(node)]))
    return tuple(terms), rebuilt[id(expr)]


def straight_line(expr: sympy.Basic, print_term, args: dict, name: str) -> tuple[list, str]:
    """(lines `name`_k = term, each term the formula repeats printed once; the formula's code),
    printed by `print_term`, a printer that reads each bound term's symbol from `args` (the
    printers of every backend: graphc/ir/numpy_code.py, graphc/backend/numba/printer.py)."""
    terms, rest = shared_terms(expr)
    lines = []
    for k, (symbol, term) in enumerate(terms):
        lines.append(f"{name}_{k} = {print_term(term)}")
        args[symbol] = f"{name}_{k}"
    return lines, print_term(rest)
