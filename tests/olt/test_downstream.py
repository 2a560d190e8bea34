"""Downstream frame scheduler (olt/downstream.py): water-filling and strict priority.

All quantities are integer bytes; every property is exact (no tolerance) except max-min
fairness, whose integer form allows one byte of difference between queues of a class that
are not fully served (the indivisible remainder handed out by rotation).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from olt.downstream import schedule_frame, water_fill

demands = st.lists(st.integers(0, 50_000), min_size=1, max_size=24)
rooms = st.integers(0, 200_000)


# --------------------------------------------------------------------------- water_fill
def test_water_fill_examples() -> None:
    assert water_fill(np.array([10, 20, 30]), 100).tolist() == [10, 20, 30]
    assert water_fill(np.array([10, 20, 30]), 60).tolist() == [10, 20, 30]
    assert water_fill(np.array([10, 20, 30]), 45).tolist() == [10, 17, 17]  # level 17, 1 left
    assert water_fill(np.array([5, 100, 100]), 0).tolist() == [0, 0, 0]
    assert water_fill(np.array([0, 7]), 3).tolist() == [0, 3]


@settings(max_examples=300, deadline=None)
@given(demands, rooms)
def test_water_fill_max_min_fair(demand_list: list[int], room: int) -> None:
    d = np.array(demand_list, dtype=np.int64)
    s = water_fill(d, room)
    assert s.dtype == np.int64 and s.shape == d.shape
    assert np.all(s >= 0) and np.all(s <= d), "share above demand"
    assert int(s.sum()) <= room
    if int(d.sum()) <= room:
        np.testing.assert_array_equal(s, d)
        return
    # Max-min fair: one water level L; every queue gets min(demand, L) ...
    unmet = s < d
    assert np.any(unmet)
    level = int(s[unmet].max())
    np.testing.assert_array_equal(s, np.minimum(d, level))
    # ... and L is the largest level that fits: one more byte each would overflow, so what
    # is left is fewer bytes than the queues still wanting more.
    left = room - int(s.sum())
    assert 0 <= left < int(np.count_nonzero(unmet))
    assert int(np.minimum(d, level + 1).sum()) > room


# --------------------------------------------------------------------------- schedule_frame
def test_strict_priority_example() -> None:
    demand = np.array([300, 500, 400, 100])
    prio = np.array([1, 0, 1, 2])
    order, share = schedule_frame(demand, prio, 700, rotate=0)
    full = dict(zip(order.tolist(), share.tolist(), strict=True))
    assert full[1] == 500  # class 0 first, in full
    assert full[0] + full[2] == 200 and abs(full[0] - full[2]) <= 1  # class 1 shares the rest
    assert 3 not in full  # class 2 gets nothing
    assert order.tolist() == [1, 0, 2]  # laid out by (priority, queue index)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40_000), st.integers(0, 3)), min_size=1, max_size=24),
    rooms,
    st.integers(0, 10_000),
)
def test_schedule_frame_properties(queues: list[tuple[int, int]], room: int, rotate: int) -> None:
    demand = np.array([q[0] for q in queues], dtype=np.int64)
    prio = np.array([q[1] for q in queues], dtype=np.int64)
    order, share = schedule_frame(demand, prio, room, rotate)
    n = len(demand)
    full = np.zeros(n, dtype=np.int64)
    full[order] = share
    # Only queues with a share, each once, in (priority, index) order.
    assert len(set(order.tolist())) == len(order) and np.all(share > 0)
    keys = list(zip(prio[order].tolist(), order.tolist(), strict=True))
    assert keys == sorted(keys)
    # Never more than the room, never more than a queue's demand, and work-conserving.
    assert np.all(full <= demand)
    assert int(full.sum()) == min(room, int(demand.sum()))
    for level in np.unique(prio):
        mine = prio == level
        higher = prio < level
        # Strict priority: a class gets bytes only if every higher class is fully served.
        if int(full[mine].sum()) > 0:
            np.testing.assert_array_equal(full[higher], demand[higher])
        # Max-min fair inside the class: unserved queues are within 1 byte of the class max.
        unmet = mine & (full < demand)
        if np.any(unmet):
            assert int(full[mine].max()) - int(full[unmet].min()) <= 1
            # Nothing left for lower classes.
            assert int(full[prio > level].sum()) == 0


def test_lower_class_starves_while_higher_demand_exceeds_room() -> None:
    demand = np.array([10_000, 10_000, 5])
    prio = np.array([0, 0, 1])
    for rotate in range(5):
        order, share = schedule_frame(demand, prio, 15_000, rotate)
        assert 2 not in order.tolist()
        assert int(share.sum()) == 15_000


@pytest.mark.parametrize("n", [2, 3, 5])
def test_leftover_rotates(n: int) -> None:
    """The indivisible remainder goes to different queues frame after frame, so over ``n``
    consecutive frames equal queues receive exactly the same total."""
    demand = np.full(n, 1000, dtype=np.int64)
    prio = np.zeros(n, dtype=np.int64)
    room = 10 * n + (n - 1)  # level 10, n-1 bytes left over
    totals = np.zeros(n, dtype=np.int64)
    winners = []
    for frame in range(n):
        order, share = schedule_frame(demand, prio, room, frame)
        full = np.zeros(n, dtype=np.int64)
        full[order] = share
        assert int(full.sum()) == room
        assert set(full.tolist()) == {10, 11}
        winners.append(tuple(np.flatnonzero(full == 10).tolist()))
        totals += full
    assert len(set(winners)) == n, "the same queue loses the leftover every frame"
    assert np.all(totals == totals[0])


def test_zero_demand_and_zero_room() -> None:
    order, share = schedule_frame(np.array([0, 0]), np.array([0, 1]), 1000, 0)
    assert len(order) == 0 and len(share) == 0
    order, share = schedule_frame(np.array([5, 9]), np.array([0, 1]), 0, 0)
    assert len(order) == 0
