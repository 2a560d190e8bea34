"""Downstream scheduler: strict priority between classes, DRR among queues of a class."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from olt.downstream import DrrScheduler

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


@settings(max_examples=100, deadline=None)
@given(
    queues=st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 2)), min_size=1, max_size=12),
    rooms=st.lists(st.integers(0, 60_000), min_size=1, max_size=8),
    seed=st.integers(0, 2**16),
)
def test_compiled_share_equals_numpy_share(
    queues: list[tuple[int, int]], rooms: list[int], seed: int
) -> None:
    """The compiled twin (olt.downstream_kernel) and the numpy code give the same shares and
    carry the same DRR state from frame to frame (demands change between frames)."""
    import pytest

    import olt.downstream as ds

    prio = np.array([q[1] for q in queues], dtype=np.int64)
    rng = np.random.default_rng(seed)
    demands = [
        np.array([q[0] for q in queues], dtype=np.int64) * rng.integers(0, 2, len(queues))
        for _ in rooms
    ]
    results = []
    for accelerated in (True, False):
        sched = DrrScheduler(prio, Q)
        frames = []
        with pytest.MonkeyPatch.context() as monkey:
            monkey.setattr(ds, "ACCELERATED", accelerated)
            for demand, room in zip(demands, rooms, strict=True):
                order, share = sched.share(demand, room)
                frames.append((order.tolist(), share.tolist()))
        results.append((frames, sched.deficit.tolist(), sched.pointer.tolist(), sched.cut.tolist()))
    assert results[0] == results[1]
