"""The static memory planner: no two live buffers overlap, and chains meet the lower bound."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sparsec.passes.memory import Buffer, align_up, plan_memory


def overlaps(a, b, plan):
    time = a.first <= b.last and b.first <= a.last
    lo_a, lo_b = plan.offsets[a.name], plan.offsets[b.name]
    space = lo_a < lo_b + plan.sizes[b.name] and lo_b < lo_a + plan.sizes[a.name]
    return time and space


@st.composite
def buffer_sets(draw):
    n = draw(st.integers(1, 12))
    out = []
    for i in range(n):
        first = draw(st.integers(0, 10))
        out.append(Buffer(f"b{i}", draw(st.integers(1, 5000)), first, first + draw(st.integers(0, 4))))
    return out


@settings(max_examples=200, deadline=None)
@given(buffer_sets(), st.sampled_from([4, 16, 32]))
def test_live_buffers_never_overlap(buffers, alignment):
    plan = plan_memory(buffers, alignment)
    for i, a in enumerate(buffers):
        assert plan.offsets[a.name] % alignment == 0
        for b in buffers[i + 1 :]:
            assert not overlaps(a, b, plan), (a, b, plan)
    assert plan.lower_bound <= plan.peak <= sum(plan.sizes.values())


@given(st.lists(st.integers(1, 4096), min_size=1, max_size=10))
def test_chain_meets_lower_bound(sizes):
    # A chain of layers: buffer i is written at step i and read at step i+1.
    buffers = [Buffer(f"b{i}", s, i, i + 1) for i, s in enumerate(sizes)]
    plan = plan_memory(buffers, 16)
    assert plan.peak == plan.lower_bound


def test_debug_plan_reuses_nothing():
    buffers = [Buffer("a", 100, 0, 1), Buffer("b", 100, 2, 3)]
    assert plan_memory(buffers, 16).peak == 112
    assert plan_memory(buffers, 16, reuse=False).peak == 224


def test_align_up():
    assert [align_up(n, 16) for n in (0, 1, 16, 17)] == [0, 16, 16, 32]
