"""graphc/collector.py: the garbage collector paused while graphc compiles, and put back as it
was, whatever happens in between."""
import gc

import numpy as np
import pytest

import graphc as gc_
from graphc.collector import collecting, paused


@pytest.fixture(autouse=True)
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_nests_and_restores():
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
        with collecting():
            assert gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with paused():
            1 / 0
    assert gc.isenabled()


def test_a_collector_the_user_turned_off_stays_off():
    gc.disable()
    with paused():
        with collecting():  # not ours to turn on
            assert not gc.isenabled()
    assert not gc.isenabled()


def test_collecting_outside_paused_changes_nothing():
    with collecting():
        assert gc.isenabled()
    gc.disable()
    with collecting():
        assert not gc.isenabled()


def _spy(seen):
    def spy(graph):  # a pass: runs inside gc.compile
        seen.append(gc.isenabled())
        return graph
    return spy


def test_compile_pauses_it_and_puts_it_back():
    seen = []
    x = gc_.tensor("x", (3,))
    f = gc_.compile(x * 2, passes=[_spy(seen)], backend="reference")
    assert seen == [False]
    assert gc.isenabled()
    np.testing.assert_array_equal(f(x=np.ones(3, np.float32)), 2)


def test_a_failed_compile_puts_it_back():
    x = gc_.tensor("x", (3,))
    with pytest.raises(ValueError):
        gc_.compile(x * 2, backend="no such backend")
    assert gc.isenabled()


def test_train_step_pauses_it_and_puts_it_back():
    seen = []
    w = gc_.nn.Linear(3, 1)
    x = gc_.tensor("x", ("B", 3))
    loss = (w(x) ** 2).mean()
    gc_.train_step(loss, gc_.optim.SGD(w.parameters(), lr=0.1), backend="reference",
                   passes=[_spy(seen)])
    assert seen == [False]
    assert gc.isenabled()


def test_what_a_paused_block_built_goes_to_the_oldest_generation():
    """...unlooked at (a young collection scanning a compile's objects took 18 ms), and it
    is still collected: with the oldest generation."""
    with paused():
        kept = [[] for _ in range(3)]
        cycle = []
        cycle.append(cycle)
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(kept) in oldest and id(cycle) in oldest
    del cycle
    assert gc.collect() >= 1


def test_objects_someone_else_froze_stay_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused():
            made = [[]]
        assert gc.get_freeze_count() == frozen and made
    finally:
        gc.unfreeze()
