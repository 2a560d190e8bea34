"""The kernels DBAs share (:mod:`olt.dba.shares`), called from Python.

The water-filling / integer-fill property tests and the test of the prefix-capacity oracle live in
``test_max_min.py``; here: service in order, strict priority, service with overhead,
demand in units, admission to the allocation structures and the rate buckets.

Tolerances: none — every helper here is integer arithmetic (or float water-filling turned
into whole units, checked against its own definition).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from olt.dba.shares import (
    admit_allocations,
    bucket_allowance,
    bucket_charge,
    demand_units,
    fill_by_priority,
    grant_fixed_first,
    integer_fill,
    rate_bucket,
    serve_with_overhead,
)
from tests.olt.dba.helpers import (
    make_ctx,
    make_table,
    prefix_capacity_units,
    serve_in_order,
    tcont_tables,
)


def i64(x: list[int]) -> np.ndarray:
    return np.array(x, dtype=np.int64)


def test_serve_in_order_numbers() -> None:
    # Order 2, 0, 1 over 10 units: 4 in full, 5 in full, 1 left for the last.
    got = serve_in_order(i64([5, 7, 4]), i64([2, 0, 1]), 10)
    np.testing.assert_array_equal(got, [5, 1, 4])
    np.testing.assert_array_equal(serve_in_order(i64([5, 7]), i64([0, 1]), 0), [0, 0])
    # Entries not in the order get nothing.
    np.testing.assert_array_equal(serve_in_order(i64([5, 7]), i64([1]), 100), [0, 7])


@settings(max_examples=100, deadline=None)
@given(
    request_=st.lists(st.integers(0, 50), min_size=1, max_size=20),
    prio=st.data(),
    capacity=st.integers(0, 600),
)
def test_fill_by_priority_serves_levels_in_order(
    request_: list[int], prio: st.DataObject, capacity: int
) -> None:
    n = len(request_)
    req = i64(request_)
    priority = i64(prio.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    weight = np.array(
        prio.draw(st.lists(st.sampled_from([0.5, 1.0, 3.0]), min_size=n, max_size=n)),
        dtype=np.float64,
    )
    got = fill_by_priority(req, priority, weight, capacity)
    assert np.all((got >= 0) & (got <= req))
    assert int(got.sum()) == min(capacity, int(req.sum()))
    left = capacity
    for level in range(4):
        sel = priority == level
        # A level is served in full before the next gets anything, and shares what is
        # left exactly as integer_fill does.
        np.testing.assert_array_equal(
            got[sel], integer_fill(req[sel].copy(), weight[sel].copy(), max(left, 0))
        )
        left -= int(req[sel].sum())


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_serve_with_overhead_is_serve_in_order_within_prefix_capacity(
    data: st.DataObject,
) -> None:
    tech, table, cycle, fec = data.draw(tcont_tables(max_onus=30))
    ctx = make_ctx(tech, table, fec=fec, cycle=cycle)
    n = table.count
    allocated = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    order = i64(data.draw(st.permutations(range(n))))
    request = i64(data.draw(st.lists(st.sampled_from([0, 0, 1, 30, 2000]), min_size=n, max_size=n)))
    used = data.draw(st.integers(0, 3000))
    got = serve_with_overhead(ctx.kernel_ctx, ctx.onu_of, request, order, allocated, used)
    assert np.all((got >= 0) & (got <= request))
    # Whatever was served fits the frame with its overhead, and a T-CONT short of its
    # request means the frame (net of the overhead) is full up to it.
    served = allocated | (got > 0)
    cap = ctx.payload_capacity(served) // ctx.grant_unit_bytes
    if np.any(got > 0):
        assert used + int(got.sum()) <= cap
    busy = order[request[order] > 0]
    room = prefix_capacity_units(ctx.kernel_ctx, ctx.onu_of, allocated, busy)
    before = 0
    for i, j in enumerate(busy):
        assert got[j] == min(max(room[i] - used - before, 0), request[j])
        before += int(request[j])


def test_demand_units_rounds_up_per_frame_then_to_units() -> None:
    ctx = make_ctx("xgs-pon", make_table("xgs-pon", 4), cycle=3)
    got = demand_units(ctx.kernel_ctx, i64([0, 1, 100, -5]))
    # 100 B over 3 frames: 34 B per frame → 3 words of 16 B; a negative demand is none.
    np.testing.assert_array_equal(got, [0, 1, 3, 0])


def test_admit_allocations_trims_to_the_structures() -> None:
    ctx = make_ctx("xgs-pon", make_table("xgs-pon", 300, 2))
    n = 600
    fixed = np.zeros(n, dtype=np.int64)
    want = np.arange(1, n + 1, dtype=np.int64)  # the smallest requests wait
    poll = np.zeros(n, dtype=np.int64)
    poll[:10] = 1
    cap = admit_allocations(ctx.kernel_ctx, ctx.onu_of, fixed, want, poll)
    kept = want > 0
    assert int(np.count_nonzero(kept | (poll != 0))) == 512
    # Polled T-CONTs keep theirs; of the others the 502 largest requests stay.
    assert np.all(want[:10] > 0) and np.all(want[-502:] > 0) and np.all(want[10:-502] == 0)
    assert cap == ctx.payload_capacity(kept | (poll != 0)) // ctx.grant_unit_bytes


def test_rate_bucket_banks_one_cycle_and_a_unit() -> None:
    # 100 B per frame, cycle 2, unit 16: 200 B per cycle, depth 232 B.
    bucket = rate_bucket(np.array([100.0]), cycle_frames=2, unit=16)
    out = np.zeros(1, dtype=np.int64)
    for _ in range(5):  # idle: never more than the depth
        bucket_allowance(bucket, 32.0, out)
    assert bucket[2] == 232.0 and out[0] == 232 // 32
    bucket_charge(bucket, 32.0, out)
    assert bucket[2] == 232.0 - 7 * 32


def test_grant_fixed_first_grants_fixed_without_demand() -> None:
    tech = "xgs-pon"
    table = make_table(tech, 2, types=[1, 4], fixed_bps=[10e6, 0], max_bps=[0, 1e9])
    ctx = make_ctx(tech, table)
    unit = ctx.grant_unit_bytes
    bucket = rate_bucket(ctx.fixed_bytes_per_frame, 1, unit)
    want = i64([0, 5])
    poll = np.zeros(2, dtype=np.int64)
    weight = np.ones(2, dtype=np.float64)
    total = 0
    for _ in range(8):
        grant, left = grant_fixed_first(ctx.kernel_ctx, ctx.onu_of, bucket, want, weight, poll)
        assert grant[1] == 0 and want[1] == 5
        cap = ctx.payload_capacity(np.array([True, True])) // unit
        assert left == cap - grant[0]
        total += int(grant[0]) * unit
    # 10 Mb/s for 8 frames = 1250 B, less at most one unit still in the bucket.
    assert 1250 - unit <= total <= 1250
