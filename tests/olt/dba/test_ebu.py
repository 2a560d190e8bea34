"""``ebu`` DBA: negative available-byte counters and same-cycle reuse of unused assured
bandwidth.

Tolerances and why:

* expected grants are computed here from the rates with the same whole-unit rounding the
  DBA must use (XG-PON: 4-byte words): fixed R_F floored to a word (its bucket carries the
  rest), AB floored to words, and water-filled shares within one word of the ideal;
* R_M on average: one banked cycle plus one unit per frame (``test_max_min.py``);
* capacity / BWmap invariants exact; engine as in ``test_max_min.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.phy import get_profile
from olt.dba import kernel as dk
from olt.dba.ebu import EbuDba
from olt.dba.registry import get_dba
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
    mixed_table,
    run_random_rounds,
    throughput_ratio,
)

TECH = "xg-pon"
LINE = float(get_profile(TECH).upstream_bps)
BYTES_PER_FRAME = LINE * 125e-6 / 8  # 38,880
WORD = 4
BIG = 10**8


def floor_words(n_bytes: float) -> int:
    return math.floor(n_bytes / WORD) * WORD


def test_registered_with_summary() -> None:
    assert get_dba("ebu") is EbuDba and EbuDba.summary


def pool_pon() -> Any:
    """A: type 2 (R_A 30 %), B: type 3 (R_A 10 %, R_M = line), E: type 5 with fixed only
    (R_F 30 %, R_M = line)."""
    table = make_table(
        TECH,
        3,
        types=[2, 3, 5],
        fixed_bps=[0, 0, 0.3 * LINE],
        assured_bps=[0.3 * LINE, 0.1 * LINE, 0],
        max_bps=[0.3 * LINE, LINE, LINE],
    )
    return make_ctx(TECH, table)


def test_unused_assured_goes_to_busy_assured_tcont_in_the_same_cycle() -> None:
    ctx = pool_pon()
    dba = EbuDba(ctx, {"overdraft_cycles": 0.0})
    capacity = ctx.payload_capacity(np.array([False, True, True])) // WORD * WORD
    fixed_e = floor_words(0.3 * BYTES_PER_FRAME)
    ab_a, ab_b = floor_words(0.3 * BYTES_PER_FRAME), floor_words(0.1 * BYTES_PER_FRAME)
    for k in range(3):  # the same every cycle: the pool is this cycle's, never banked
        g = dba.allocate(k * ctx.frame_ps, make_reports([0, BIG, BIG], frame=k))
        assert g[0] == 0  # A is idle
        rest = capacity - fixed_e - ab_b - ab_a
        # B: its AB, all of A's unused AB, then a quarter of the rest (weights R_A 10 % :
        # R_F 30 %); E: its R_F and three quarters of the rest.
        assert abs(int(g[1]) - (ab_b + ab_a + rest / 4)) <= WORD, (g, rest)
        assert abs(int(g[2]) - (fixed_e + 3 * rest / 4)) <= WORD
        assert int(g.sum()) == capacity
    # Had A's AB been plain surplus, B would have a quarter of it, not all of it:
    assert g[1] > ab_b + (rest + ab_a) / 4 + 2 * WORD


def test_owner_gets_its_assured_back_at_once() -> None:
    ctx = pool_pon()
    dba = EbuDba(ctx, {"overdraft_cycles": 0.0})
    dba.allocate(0, make_reports([0, BIG, BIG]))  # A idle: B used A's assured bytes
    g = dba.allocate(ctx.frame_ps, make_reports([BIG, BIG, BIG], frame=1))
    # A is busy again: its assured bandwidth (≤ its R_M = R_A: bucket allows one word more)
    # is back in the same cycle.
    assert floor_words(0.3 * BYTES_PER_FRAME) <= g[0] <= floor_words(0.3 * BYTES_PER_FRAME) + WORD


def overdraft_pon() -> Any:
    table = make_table(TECH, 2, types=[3, 3], assured_bps=[0.2 * LINE] * 2, max_bps=[LINE, LINE])
    return make_ctx(TECH, table)


def test_negative_counter_burst_now_repay_later() -> None:
    ctx = overdraft_pon()
    ab = 0.2 * BYTES_PER_FRAME  # 7776 B
    dba = EbuDba(ctx, {})  # overdraft 1 cycle of AB
    # Cycle 0: B (0) is busy, D (1) idle.  B's own grant may reach VB + AB = 2 AB.
    dba.allocate(0, make_reports([BIG, 0]))
    assert dba.vb_bytes[0] == pytest.approx(-ab)  # B owes one AB
    # Cycle 1: both busy.  B repays (no own grant: its counter is back to 0), D bursts 2 AB;
    # the rest is shared equally, so D is ahead of B by 2 AB.
    g1 = dba.allocate(ctx.frame_ps, make_reports([BIG, BIG], frame=1))
    assert abs(int(g1[1] - g1[0]) - 2 * floor_words(ab)) <= 2 * WORD, g1
    # Cycle 2: now D owes and B bursts.
    g2 = dba.allocate(2 * ctx.frame_ps, make_reports([BIG, BIG], frame=2))
    assert abs(int(g2[0] - g2[1]) - 2 * floor_words(ab)) <= 2 * WORD, g2
    # Without overdraft the counters never go negative and both get the same every cycle.
    flat = EbuDba(ctx, {"overdraft_cycles": 0.0})
    flat.allocate(0, make_reports([BIG, 0]))
    for k in (1, 2):
        g = flat.allocate(k * ctx.frame_ps, make_reports([BIG, BIG], frame=k))
        assert abs(int(g[0]) - int(g[1])) <= WORD
    assert np.all(flat.vb_bytes >= 0)


def test_assured_share_on_average_with_overdraft() -> None:
    # Both busy for 100 cycles, alternating bursts: the same total each, up to one burst
    # (own grants of at most VB + overdraft = 3 AB; the rest of the frame is shared equally).
    ctx = overdraft_pon()
    total = backlogged_totals(EbuDba(ctx, {"overdraft_cycles": 2.0}), ctx, 100)
    assert abs(int(total[0]) - int(total[1])) <= 3 * 0.2 * BYTES_PER_FRAME + WORD


@pytest.mark.parametrize("cycle", [1, 3])
def test_respects_max_bps_on_average(cycle: int) -> None:
    table = make_table(
        TECH,
        4,
        types=[2, 3, 4, 5],
        fixed_bps=[0, 0, 0, 5e6],
        assured_bps=[30e6, 20e6, 0, 5e6],
        max_bps=[30e6, 60e6, 1e6, 40e6],
    )
    ctx = make_ctx(TECH, table, cycle=cycle)
    frames = 240
    total = backlogged_totals(EbuDba(ctx, {"overdraft_cycles": 4.0}), ctx, frames)
    ceiling = np.maximum(
        ctx.max_bytes_per_frame, ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
    )
    slack = ceiling * cycle + WORD * cycle
    # A slow T-CONT (a cycle's ceiling below one encapsulated 1518-byte frame) banks one
    # such frame and is served in whole packets (olt.dba.shares.rate_bucket).
    mtu = float(ctx.kernel_ctx[dk.C_MTU_GRANT])
    slack = np.where(slack < mtu, slack + mtu, slack)
    assert np.all(total <= ceiling * frames + slack), (total, ceiling * frames)
    assert np.all(total >= ceiling * frames - slack)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), overdraft=st.sampled_from([0.0, 1.0, 16.0]))
def test_never_exceeds_capacity_and_builds(data: st.DataObject, overdraft: float) -> None:
    run_random_rounds("ebu", {"overdraft_cycles": overdraft}, data)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"bogus": 1}, "bogus"),
        ({"overdraft_cycles": -0.5}, "overdraft_cycles"),
        ({"overdraft_cycles": 17}, "overdraft_cycles"),
        ({"overdraft_cycles": "1"}, "overdraft_cycles"),
    ],
)
def test_rejects_bad_params(params: dict[str, Any], key: str) -> None:
    ctx = make_ctx("gpon", make_table("gpon", 2))
    err = assert_rejects("ebu", ctx, params, key)
    assert "overdraft_cycles" in err.why or "0..16" in err.why


def test_light_load_grants_equal_max_min() -> None:
    """Issue 15's finding, explained in the module docstring: when every report fits the
    frame, EBU and max-min grant the same (R_F plus the demand, within R_M); when the
    frame is full they differ (EBU's pool goes to the assured T-CONTs first)."""
    ctx = make_ctx(TECH, mixed_table(TECH, 8))
    n = ctx.tconts.count
    ebu, mm = EbuDba(ctx, {}), get_dba("max-min")(ctx, {})
    rng = np.random.default_rng(7)
    unit = ctx.grant_unit_bytes
    for k in range(40):
        demand = rng.integers(0, 1200, n) * (rng.random(n) < 0.5)
        rep = make_reports(demand, frame=k)
        g = ebu.allocate(k * ctx.frame_ps, rep)
        np.testing.assert_array_equal(g, mm.allocate(k * ctx.frame_ps, rep))
        # Everything reported is granted (rounded up to units), as the frame has room.
        assert np.all(g >= -(-demand // unit) * unit)
        assert int(g.sum()) < ctx.payload_capacity(np.ones(n, dtype=bool)) // 2
    # Overload, A idle: EBU gives A's unused assured bytes to B first, max-min does not.
    ctx = pool_pon()
    rep = make_reports([0, BIG, BIG])
    g_ebu = EbuDba(ctx, {"overdraft_cycles": 0.0}).allocate(0, rep)
    g_mm = get_dba("max-min")(ctx, {}).allocate(0, rep)
    assert g_ebu[1] > g_mm[1] + 2 * WORD, (g_ebu, g_mm)


def test_engine_half_load() -> None:
    run = engine_half_load("ebu")
    assert_ledger(run)
    assert abs(throughput_ratio(run) - 1) < 0.03


def test_fast_and_reference_identical() -> None:
    assert_same_departures(*engine_pair("ebu"))
