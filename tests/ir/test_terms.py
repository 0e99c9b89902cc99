"""Formulas as graphs of their distinct terms: walks that visit each term once, and
straight-line code that says each repeated term once. Mirrors graphc/ir/terms.py."""
import sympy

from graphc.ir.scalar import ScalarFn
from graphc.ir.terms import (atoms, count_ops, distinct_terms, free_symbols, has, said, same,
                             shared_terms)
from graphc.ops import elementwise as ew

x, y = sympy.symbols("x y")


def nest(levels):
    """Each level reads the last one three times: a tree of 3^levels copies of x."""
    v = x
    for c in range(levels):
        v = sympy.Piecewise((v, x > c), (v * sympy.tanh(v), True))
    return v


def test_shared_terms_bind_each_repeated_term_once_inner_first():
    v = nest(8)
    terms, rest = shared_terms(v)
    assert len(terms) == 7  # each level's v but the first, x
    # each term reads only x and the terms bound before it; the rest, only the last ones
    bound = set()
    for symbol, term in terms:
        assert term.free_symbols <= {x} | bound
        bound.add(symbol)
    assert rest.free_symbols <= bound | {x}
    # and all together they are the formula: substituted back, in reverse order
    for symbol, term in reversed(terms):
        rest = rest.xreplace({symbol: term})
    assert rest == v
    # the op says its formula so too (a user op's docstring): its tree printed 3^8 copies
    said = str(ScalarFn("nest", (x,), v))
    assert len(said) < 600 and "where _t0 = Piecewise((x, x > 0), (x*tanh(x), True))" in said


def test_a_formula_that_repeats_nothing_has_no_shared_terms():
    for fn in ew.BUILTINS.values():
        assert shared_terms(fn.expr) == ((), fn.expr), fn.name
    # a symbol read twice is no term: it prints as its name
    assert shared_terms(x * sympy.tanh(x)) == ((), x * sympy.tanh(x))
    # sign(t) prints as a conditional reading t three times: t is bound
    terms, _ = shared_terms(sympy.sign(sympy.exp(x)))
    assert [t for _, t in terms] == [sympy.exp(x)]


def test_a_repeated_branch_is_said_again_and_the_value_in_it_is_bound():
    # two conditionals share a branch, (deep, x > 0): a branch is no value a statement can
    # compute (bound to a symbol, it made an invalid Piecewise); the value in it is bound once
    with sympy.evaluate(False):  # (each level reads the last twice; sympy would expand it)
        deep = x
        for _ in range(30):
            deep = sympy.tanh(deep) * deep
    f = sympy.Add(sympy.Piecewise((deep, x > 0), (y, True), evaluate=False),
                  sympy.Piecewise((deep, x > 0), (x, True), evaluate=False), evaluate=False)
    terms, rest = shared_terms(f)
    assert len(terms) == 30 and all(isinstance(t, sympy.Expr) for _, t in terms)
    last = terms[-1][0]
    assert set(rest.args) == {sympy.Piecewise((last, x > 0), (y, True)),
                              sympy.Piecewise((last, x > 0), (x, True))}
    assert len(said(f)) < 30 * 40
    previous = x  # each term is the level it stands for, over the term before it
    for symbol, term in terms:
        assert term.func is sympy.Mul and set(term.args) == {sympy.tanh(previous), previous}
        previous = symbol


def test_the_walks_agree_with_sympys_on_formulas_that_repeat_nothing():
    for fn in ew.BUILTINS.values():
        e = fn.expr
        assert free_symbols(e) == e.free_symbols, fn.name
        assert atoms(e, sympy.Function) == e.atoms(sympy.Function), fn.name
        assert atoms(e, sympy.Pow) == e.atoms(sympy.Pow), fn.name
        assert count_ops(e) == sympy.count_ops(e), fn.name
        assert has(e, sympy.Piecewise, sympy.Max) == e.has(sympy.Piecewise, sympy.Max), fn.name
        assert has(e, sympy.oo, sympy.nan) == e.has(sympy.oo, sympy.nan), fn.name
    # children before parents, each once, the formula last
    order = distinct_terms(x * sympy.tanh(x) + sympy.tanh(x))
    assert order.count(x) == 1 and order[-1] == x * sympy.tanh(x) + sympy.tanh(x)
    assert order.index(sympy.tanh(x)) < order.index(x * sympy.tanh(x))


def test_a_formula_that_repeats_terms_is_walked_and_counted_as_its_straight_line_code():
    # 40 levels: a tree of 3^40 copies of x, which sympy's own walks would visit one by one
    v = nest(40)
    assert len(distinct_terms(v)) < 40 * 10
    assert free_symbols(v) == {x}
    # (compared as a bool: a failing assert would print the tree)
    tanhs_each_level = atoms(v, sympy.tanh) == {sympy.tanh(t) for t in _levels(40)[:-1]}
    assert tanhs_each_level and len(atoms(v, sympy.Piecewise)) == 40
    assert has(v, sympy.tanh) and not has(v, sympy.exp, sympy.nan)
    # each repeated term counted once, as the code computes it: each level is a tanh, a
    # product and a comparison, one way or the other (count_ops of the tree grows 3x a level)
    terms, rest = shared_terms(v)
    assert count_ops(v) == sum(sympy.count_ops(t) for _, t in terms) + sympy.count_ops(rest)
    assert count_ops(nest(3)) < sympy.count_ops(nest(3))
    assert count_ops(v) < 40 * 10
    # a user op says it so: its docstring would hold 3^40 copies of x
    assert len(str(ScalarFn("nest", (x,), v))) < 40 * 120


def _levels(n):
    v, out = x, [x]
    for c in range(n):
        v = sympy.Piecewise((v, x > c), (v * sympy.tanh(v), True))
        out.append(v)
    return out


def test_two_equal_formulas_built_apart_compare_once_per_pair_of_terms():
    # sympy's == walks both trees: 3^30 comparisons for two equal 30-level formulas that share
    # no objects (two ops defined alike; sympy's cache, cleared here, usually hides it), which
    # stalled gc.compile's deduplication. ScalarFn compares its formulas with `same`
    first = nest(30)
    sympy.core.cache.clear_cache()
    second = nest(30)
    assert first is not second and same(first, second)
    assert not same(first, nest(29)) and not same(first, sympy.tanh(first))
    assert ScalarFn("nest", (x,), first) == ScalarFn("nest", (x,), second)
    assert ScalarFn("nest", (x,), first) != ScalarFn("other", (x,), second)
    assert hash(ScalarFn("nest", (x,), first)) == hash(ScalarFn("nest", (x,), second))
