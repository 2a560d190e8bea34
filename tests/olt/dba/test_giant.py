"""``giant`` DBA: service timers, AB_min / AB_sur, class order fixed → assured → surplus.

Tolerances and why:

* AB = rate × SI rounded up to the grant unit (XG-PON: 4-byte words), so expected grants
  are computed here as ``ceil(rate·SI / unit)·unit`` — exact;
* over K frames a service is served at most ``K/SI + 1`` times (the timers start expired),
  so a backlogged T-CONT gets at most ``rate·K + AB + (K/SI + 1)·unit`` per service;
* capacity and BWmap invariants: exact (see ``check_grants``);
* engine: as in ``test_max_min.py`` (3 % on throughput, exact fast-vs-reference).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.phy import get_profile
from olt.dba.giant import GiantDba
from olt.dba.registry import get_dba
from tests.ftth.emulator.helpers import assert_variant, use_fast_variant
from tests.olt.dba.helpers import (
    assert_ledger,
    assert_rejects,
    assert_same_departures,
    backlogged_totals,
    engine_half_load,
    engine_pair,
    make_ctx,
    make_reports,
    make_table,
    run_random_rounds,
    throughput_ratio,
)

TECH = "xg-pon"
LINE = float(get_profile(TECH).upstream_bps)
WORD = 4


def ab_bytes(rate_bps: float, si_frames: int, unit: int = WORD) -> int:
    """AB = rate × SI, rounded up to the grant unit."""
    return math.ceil(rate_bps * 125e-6 / 8 * si_frames / unit) * unit


def test_registered_with_summary() -> None:
    assert get_dba("giant") is GiantDba and GiantDba.summary


def test_best_effort_served_only_when_its_timer_expires() -> None:
    # One type-4 T-CONT, R_M = 100 Mb/s, SI_min = 4, always backlogged; the frame has room.
    ctx = make_ctx(TECH, make_table(TECH, 1, max_bps=100e6))
    dba = GiantDba(ctx, {"si_min_frames": 4})
    grants = [
        int(dba.allocate(k * ctx.frame_ps, make_reports([10**7], frame=k))[0]) for k in range(12)
    ]
    ab = ab_bytes(100e6, 4)  # 6250 B → 6252 (1563 words)
    assert grants == [ab, 0, 0, 0] * 3


def test_idle_expiry_restarts_the_timer() -> None:
    # Expired with nothing to send: the service is spent (only polled); demand that appears
    # one frame later waits for the next expiry — GIANT's known extra delay.
    ctx = make_ctx(TECH, make_table(TECH, 1, max_bps=100e6))
    dba = GiantDba(ctx, {"si_min_frames": 4})
    demand = [0, 5000, 5000, 5000, 5000]
    grants = [
        int(dba.allocate(k * ctx.frame_ps, make_reports([d], frame=k))[0])
        for k, d in enumerate(demand)
    ]
    assert grants == [0, 0, 0, 0, 5000]


def test_fixed_granted_without_demand() -> None:
    ctx = make_ctx(TECH, make_table(TECH, 1, types=[1], fixed_bps=[20e6], max_bps=[0.0]))
    dba = GiantDba(ctx, {"si_max_frames": 8})
    grants = [int(dba.allocate(k * ctx.frame_ps, make_reports([0], frame=k))[0]) for k in range(16)]
    ab = ab_bytes(20e6, 8)  # 2500 B
    assert grants == [ab] + [0] * 7 + [ab] + [0] * 7


def test_classes_served_in_order_when_the_frame_is_short() -> None:
    # All services due every frame (SI 1), every queue far above the frame.
    # T0 fixed 30 %, T1 assured 30 %, T2 assured 10 % + non-assured up to the line,
    # T3 best effort up to the line.
    table = make_table(
        TECH,
        4,
        types=[1, 2, 3, 4],
        fixed_bps=[0.3 * LINE, 0, 0, 0],
        assured_bps=[0, 0.3 * LINE, 0.1 * LINE, 0],
        max_bps=[0, 0.3 * LINE, LINE, LINE],
    )
    ctx = make_ctx(TECH, table)
    g = GiantDba(ctx, {"si_max_frames": 1, "si_min_frames": 1}).allocate(
        0, make_reports([10**8] * 4)
    )
    # T3 gets nothing, so only three bursts share the frame.
    capacity = ctx.payload_capacity(np.array([True, True, True, False])) // WORD * WORD
    assert g[0] == ab_bytes(0.3 * LINE, 1)  # fixed: AB_min in full
    assert g[1] == ab_bytes(0.3 * LINE, 1)  # assured: AB_min in full
    # T2: its AB_min, then non-assured up to what the frame has left.
    assert g[2] == capacity - g[0] - g[1]
    assert g[3] == 0  # best effort comes last and finds nothing
    assert int(g.sum()) == capacity


def test_partial_service_stays_due_and_rotates() -> None:
    # Two best-effort T-CONTs whose AB (2 frames at line rate) exceeds the frame: each cycle
    # one of them takes the whole frame, stays due with the rest owed, and they alternate.
    ctx = make_ctx(TECH, make_table(TECH, 2))
    dba = GiantDba(ctx, {"si_min_frames": 2})
    # Only one T-CONT (one burst) is in the frame, so the whole one-burst capacity is used.
    capacity = ctx.payload_capacity(np.array([True, False])) // WORD * WORD
    seen = []
    for k in range(4):
        g = dba.allocate(k * ctx.frame_ps, make_reports([10**8, 10**8], frame=k))
        assert int(g.sum()) == capacity and np.count_nonzero(g) == 1
        seen.append(int(np.flatnonzero(g)[0]))
    assert seen in ([0, 1, 0, 1], [1, 0, 1, 0])
    # Both services are still due (neither got its AB = 2 frames at line rate).
    assert np.all(dba.timer[3] <= 0) and np.all(dba.partial[3] > 0)


def test_multi_frame_cycle_spreads_ab() -> None:
    ctx = make_ctx(TECH, make_table(TECH, 1, max_bps=100e6), cycle=2)
    dba = GiantDba(ctx, {"si_min_frames": 3})  # rounded up to 4 frames = 2 cycles
    # One row per frame of the cycle: AB spread evenly, the same grant in both frames.
    rows = [
        dba.allocate(2 * k * ctx.frame_ps, make_reports([10**7], frame=2 * k))[:, 0].tolist()
        for k in range(4)
    ]
    per_frame = math.ceil(100e6 * 125e-6 / 8 * 4 / 2 / WORD) * WORD  # AB over 2 frames
    assert rows == [[per_frame] * 2, [0] * 2, [per_frame] * 2, [0] * 2]


@pytest.mark.parametrize("cycle", [1, 3])
@pytest.mark.parametrize(("si_max", "si_min"), [(8, 4), (1, 1), (5, 3)])
def test_rates_held_on_average(cycle: int, si_max: int, si_min: int) -> None:
    table = make_table(
        TECH,
        5,
        types=[1, 2, 3, 4, 5],
        fixed_bps=[30e6, 0, 0, 0, 10e6],
        assured_bps=[0, 40e6, 20e6, 0, 10e6],
        max_bps=[0, 40e6, 200e6, 150e6, 100e6],
    )
    ctx = make_ctx(TECH, table, cycle=cycle)
    dba = GiantDba(ctx, {"si_max_frames": si_max, "si_min_frames": si_min})
    frames = 240
    total = backlogged_totals(dba, ctx, frames)
    rate = dba.rate  # bytes per frame of each service, (4, n)
    si = dba.si[:, None]
    unit_cost = WORD * cycle
    slack = (rate * si + unit_cost * (frames / si + 1)).sum(axis=0)
    ceiling = rate.sum(axis=0) * frames
    assert np.all(total <= ceiling + slack), (total, ceiling + slack)
    assert np.all(total >= ceiling - slack), (total, ceiling - slack)  # and granted


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    si_max=st.sampled_from([1, 2, 8, 64]),
    si_min=st.sampled_from([1, 3, 4]),
)
def test_never_exceeds_capacity_and_builds(data: st.DataObject, si_max: int, si_min: int) -> None:
    run_random_rounds("giant", {"si_max_frames": si_max, "si_min_frames": si_min}, data)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"bogus": 1}, "bogus"),
        ({"si_max_frames": 0}, "si_max_frames"),
        ({"si_max_frames": 65}, "si_max_frames"),
        ({"si_min_frames": 2.5}, "si_min_frames"),
        ({"si_min_frames": "4"}, "si_min_frames"),
        ({"immediate_allocation": True}, "immediate_allocation"),  # X-GIANT only
    ],
)
def test_rejects_bad_params(params: dict[str, Any], key: str) -> None:
    ctx = make_ctx("gpon", make_table("gpon", 2))
    err = assert_rejects("giant", ctx, params, key)
    assert "si_max_frames" in err.why or "1..64" in err.why


def test_engine_half_load() -> None:
    run = engine_half_load("giant")
    assert_ledger(run)
    assert abs(throughput_ratio(run) - 1) < 0.03


@pytest.mark.parametrize("variant", ["stepped", "compiled"])
def test_fast_and_reference_identical(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths of the fast engine (the stepped Python frame loop calling the kernel, and
    the compiled frame loop calling it directly) give the reference engine's departures."""
    use_fast_variant(variant, monkeypatch)
    fast, ref = engine_pair("giant")
    assert_variant(fast, variant)
    assert_same_departures(fast, ref)
