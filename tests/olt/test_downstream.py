"""Downstream scheduler: strict priority between classes, DRR among queues of a class."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.scenario.limits import MAX_BUFFER_BYTES, MAX_WEIGHT
from olt.downstream import DrrScheduler, weighted_quanta

Q = 1528  # one encapsulated 1518-byte frame (XGEM)


def run(sched: DrrScheduler, demand: np.ndarray, room: int, frames: int) -> np.ndarray:
    total = np.zeros(len(demand), dtype=np.int64)
    for _ in range(frames):
        order, share = sched.share(demand, room)
        total[order] += share
    return total


@settings(max_examples=200, deadline=None)
@given(
    queues=st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 2)), min_size=1, max_size=12),
    room=st.integers(0, 60_000),
    frames=st.integers(1, 6),
)
def test_shares_respect_room_demand_and_order(
    queues: list[tuple[int, int]], room: int, frames: int
) -> None:
    """Every frame: Σ share ≤ room, no share above demand, transmission order by (priority,
    index), work-conserving (the room is used while anyone wants more)."""
    demand = np.array([q[0] for q in queues], dtype=np.int64)
    prio = np.array([q[1] for q in queues], dtype=np.int64)
    sched = DrrScheduler(prio, Q)
    for _ in range(frames):
        order, share = sched.share(demand, room)
        assert int(share.sum()) <= room
        assert np.all(share > 0) and np.all(share <= demand[order])
        keys = list(zip(prio[order].tolist(), order.tolist(), strict=True))
        assert keys == sorted(keys)
        assert int(share.sum()) == min(room, int(demand.sum()))
        assert np.all(sched.deficit >= 0)


def test_strict_priority() -> None:
    """While the high class wants more than the frame, the low class gets nothing."""
    sched = DrrScheduler(np.array([0, 0, 1]), Q)
    order, share = sched.share(np.array([50_000, 50_000, 50_000]), 60_000)
    assert 2 not in order.tolist()
    order, share = sched.share(np.array([10_000, 10_000, 50_000]), 60_000)
    assert dict(zip(order.tolist(), share.tolist(), strict=True))[2] == 40_000


def test_equal_backlogged_queues_get_equal_service() -> None:
    """Backlogged queues of one class: over many frames their bytes differ by less than one
    quantum (DRR's fairness bound), whatever the frame's room."""
    for room in (4_000, 10_000, 155_000):
        total = run(DrrScheduler(np.zeros(5, dtype=np.int64), Q), np.full(5, 10**9), room, 500)
        assert total.max() - total.min() <= Q, (room, total)


def test_light_queue_is_not_starved() -> None:
    """A queue asking less than its fair share keeps getting served (the bug class of a
    round robin whose pointer never reaches it)."""
    total = run(
        DrrScheduler(np.zeros(3, dtype=np.int64), 1500), np.array([10**6, 300, 10**6]), 3000, 1000
    )
    assert total[1] > 0.8 * 300 * 1000
    assert abs(int(total[0]) - int(total[2])) <= 1500


def test_quantum_bounds_queues_served_per_frame() -> None:
    """With less room than one quantum per queue, a frame serves a few queues whole quanta
    (fewer cut packets) instead of a sliver to each."""
    sched = DrrScheduler(np.zeros(20, dtype=np.int64), Q)
    order, share = sched.share(np.full(20, 10**6), 3 * Q)
    assert len(order) <= 4


def test_idle_queue_loses_its_deficit() -> None:
    sched = DrrScheduler(np.zeros(2, dtype=np.int64), Q)
    sched.share(np.array([10**6, 10**6]), Q + 100)  # one queue is cut mid-turn
    assert sched.deficit.max() > 0
    sched.share(np.array([0, 0]), 10_000)
    assert sched.deficit.tolist() == [0, 0]


def test_empty_and_zero_room() -> None:
    sched = DrrScheduler(np.array([0, 1]), Q)
    order, share = sched.share(np.array([0, 0]), 1000)
    assert len(order) == 0
    order, share = sched.share(np.array([5, 9]), 0)
    assert len(order) == 0


def test_weighted_quanta_round_and_never_reach_zero() -> None:
    """quantum_i = max(1, round(Q·w)): weight 1 is Q itself (unweighted DRR unchanged), a tiny
    weight still gets 1 byte a round, MAX_WEIGHT gives Q·10^6."""
    got = weighted_quanta(Q, [1.0, 3.0, 0.5, 1e-12, MAX_WEIGHT, 1.0004])
    assert got.dtype == np.int64
    assert got.tolist() == [Q, 3 * Q, Q // 2, 1, Q * int(MAX_WEIGHT), Q + 1]


@pytest.mark.parametrize("use_kernel", [True, False])
def test_far_apart_quanta_at_the_largest_buffer(use_kernel: bool) -> None:
    """A 1-byte quantum (tiny weight) next to a Q·MAX_WEIGHT one, both queues holding the
    largest buffer: the rounds needed by the 1-byte queue (2^40) times the big quantum
    overflow int64 unless k is capped where f_i stops growing.  By hand: round 1 gives
    queue 0 its 1 byte and queue 1 the rest of the room, cut; the next frame queue 1 goes on
    with its deficit (no new quantum) and takes the whole room."""
    big = Q * int(MAX_WEIGHT)
    sched = DrrScheduler(np.zeros(2, dtype=np.int64), np.array([1, big]))
    sched.use_kernel = use_kernel
    demand = np.full(2, MAX_BUFFER_BYTES, dtype=np.int64)
    order, share = sched.share(demand, 10**6)
    assert (order.tolist(), share.tolist()) == ([0, 1], [1, 10**6 - 1])
    assert sched.deficit.tolist() == [0, big - (10**6 - 1)]
    order, share = sched.share(demand, 10**6)
    assert (order.tolist(), share.tolist()) == ([1], [10**6])
    # Room for everything: queue 0 needs 10^12 rounds, and 10^12 · Q·10^6 wraps negative in
    # int64 (it would clip to 0 bytes for queue 1).
    sched = DrrScheduler(np.zeros(2, dtype=np.int64), np.array([1, big]))
    sched.use_kernel = use_kernel
    order, share = sched.share(np.array([10**12, 5_000]), 2 * 10**12)
    assert (order.tolist(), share.tolist()) == ([0, 1], [10**12, 5_000])


def test_backlogged_queues_are_served_in_proportion_to_their_quanta() -> None:
    """Weighted DRR's fairness bound (Shreedhar & Varghese 1995, byte-granular service):
    while queues are backlogged, bytes / quantum differ by at most about two rounds between
    any two of them, whatever the frame's room."""
    quanta = weighted_quanta(Q, [1.0, 3.0, 0.5, 2.5, 1.0])
    for room in (2_000, 9_000, 38_880, 155_000):
        total = run(DrrScheduler(np.zeros(5, dtype=np.int64), quanta), np.full(5, 10**9), room, 800)
        rounds = total / quanta
        assert rounds.max() - rounds.min() <= 2, (room, rounds)
        assert rounds.min() > 10  # long enough that the bound means something


#: Per-queue quanta for the twin tests: around Q, 1 byte (a tiny weight) and Q·10^6 (the
#: largest weight), so the quanta are far apart and k·Q_i would overflow without the cap.
QUANTA = st.one_of(st.integers(1, 5 * Q), st.sampled_from([1, Q, 3 * Q, Q * 10**6]))


@settings(max_examples=100, deadline=None)
@given(
    queues=st.lists(
        st.tuples(st.integers(0, 20_000), st.integers(0, 2), QUANTA), min_size=1, max_size=12
    ),
    rooms=st.lists(st.integers(0, 60_000), min_size=1, max_size=8),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1, 2**26]),
)
def test_compiled_share_equals_numpy_share(
    queues: list[tuple[int, int, int]], rooms: list[int], seed: int, scale: int
) -> None:
    """The compiled twin (olt.downstream_kernel) and the numpy code give the same shares and
    carry the same DRR state from frame to frame (demands change between frames), with a
    quantum of its own for each queue (weighted DRR); ``scale`` makes demands reach 2^40
    (the largest buffer) to exercise the int64 range."""
    prio = np.array([q[1] for q in queues], dtype=np.int64)
    quanta = np.array([q[2] for q in queues], dtype=np.int64)
    rng = np.random.default_rng(seed)
    demands = [
        np.array([q[0] for q in queues], dtype=np.int64) * scale * rng.integers(0, 2, len(queues))
        for _ in rooms
    ]
    results = []
    for use_kernel in (True, False):
        sched = DrrScheduler(prio, quanta)
        # Set on the instance: the constructor reads ftth.jit.ACCELERATED once.
        sched.use_kernel = use_kernel
        frames = []
        for demand, room in zip(demands, rooms, strict=True):
            order, share = sched.share(demand, room * scale)
            assert int(share.sum()) == min(room * scale, int(demand.sum()))
            assert np.all(share <= demand[order])
            frames.append((order.tolist(), share.tolist()))
        results.append((frames, sched.deficit.tolist(), sched.pointer.tolist(), sched.cut.tolist()))
    assert results[0] == results[1]


@settings(max_examples=100, deadline=None)
@given(
    queues=st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 2)), min_size=1, max_size=12),
    rooms=st.lists(st.integers(0, 60_000), min_size=1, max_size=8),
    seed=st.integers(0, 2**16),
)
def test_weights_of_one_are_the_unweighted_drr(
    queues: list[tuple[int, int]], rooms: list[int], seed: int
) -> None:
    """Every class weight 1 (quanta from :func:`weighted_quanta`) gives frame after frame the
    integers of the DRR before weights (one scalar quantum, frozen in tests/olt/drr_scalar.py),
    through both the compiled twin and the numpy code."""
    from tests.olt.drr_scalar import ScalarDrr

    prio = np.array([q[1] for q in queues], dtype=np.int64)
    rng = np.random.default_rng(seed)
    demands = [
        np.array([q[0] for q in queues], dtype=np.int64) * rng.integers(0, 2, len(queues))
        for _ in rooms
    ]
    for use_kernel in (True, False):
        sched = DrrScheduler(prio, weighted_quanta(Q, np.ones(len(queues))))
        sched.use_kernel = use_kernel
        oracle = ScalarDrr(prio, Q)
        for demand, room in zip(demands, rooms, strict=True):
            order, share = sched.share(demand, room)
            o_order, o_share = oracle.share(demand, room)
            assert order.tolist() == o_order.tolist() and share.tolist() == o_share.tolist()
            assert sched.deficit.tolist() == oracle.deficit.tolist()
            assert sched.pointer.tolist() == oracle.pointer.tolist()
            assert sched.cut.tolist() == oracle.cut.tolist()
