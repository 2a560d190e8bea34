"""``sr-dba``, the ITU reference status-reporting DBA: issue 5's acceptance checks.

Two kinds of test:

* ``allocate`` called directly with a :class:`DbaContext` and hand-made :class:`Reports`:
  the order of the four steps, the caps, the rounding and the frame limits.  These are
  exact up to the DBA's one source of rounding, the grant "rung" (a payload ``p`` with
  ``p + DBRu`` a whole number of grant units: XGS-PON 12, 28, 44 … bytes): a rounded grant is
  within one grant unit of the value the four steps define.
* Emulation runs (XGS-PON, 32 ONUs, T-CONT types 1–4 on every ONU, fast engine — the
  stepped path, which calls ``allocate`` so every decision can be recorded; the compiled
  loop calls the same kernel) for the service guarantees, and small fast-vs-reference runs
  on both fast paths (identical departures, no tolerance).  Each run test checks first
  that its scenario really is in the regime it claims (overload, idle T-CONTs, capped
  T-CONTs …), so a scenario that turned trivial cannot keep a test green.

Every tolerance is stated where it is used, with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.emulator import RawRun, run_spec
from ftth.emulator import fast as fast_engine
from ftth.emulator.collector import DirectionStats
from ftth.emulator.spec import EmulationSpec
from ftth.errors import InputError
from ftth.metrics import jain_index
from ftth.phy import Profile, encapsulated_bytes, get_profile, saturation_goodput_bps
from ftth.units import PS_PER_MS
from olt.bwmap import BwmapBuilder
from olt.dba.base import DbaContext, KernelDba, Reports, TcontTable
from olt.dba.registry import get_dba
from olt.dba.shares import water_fill
from olt.dba.sr_dba import SrDba
from olt.upstream import OltUpstream, UpstreamPlan
from tests.ftth.emulator.helpers import (
    assert_identical,
    assert_variant,
    make_spec,
    source,
    use_fast_variant,
)

TECHNOLOGIES = ("gpon", "xg-pon", "xgs-pon")
FRAME_S = 125e-6


# =========================================================================== helpers
@dataclass
class T:
    """One T-CONT: type, rates (bit/s), best-effort priority and weight, optional traffic."""

    type: int
    fixed: float = 0.0
    assured: float = 0.0
    maximum: float = 0.0
    priority: int = 0
    weight: float = 1.0
    traffic: tuple[str, Mapping[str, Any]] | None = None


def table(p: Profile, per_onu: Sequence[Sequence[T]]) -> TcontTable:
    flat = [t for onu in per_onu for t in onu]
    n = len(flat)
    return TcontTable(
        onu_index=np.repeat(np.arange(len(per_onu)), [len(o) for o in per_onu]).astype(np.int64),
        alloc_id=(p.min_assignable_alloc_id + np.arange(n)).astype(np.int64),
        tcont_type=np.array([t.type for t in flat], dtype=np.int64),
        fixed_bps=np.array([t.fixed for t in flat], dtype=float),
        assured_bps=np.array([t.assured for t in flat], dtype=float),
        max_bps=np.array([t.maximum for t in flat], dtype=float),
        priority=np.array([t.priority for t in flat], dtype=np.int64),
        weight=np.array([t.weight for t in flat], dtype=float),
    )


def context(
    tech: str, per_onu: Sequence[Sequence[T]], cycle: int = 1, fec: bool | None = None
) -> DbaContext:
    p = get_profile(tech)
    return DbaContext(p, p.fec("upstream", fec), table(p, per_onu), len(per_onu), cycle, True)


def reports(demand: Any, poll: Any = None, frame: int = 0) -> Reports:
    d = np.asarray(demand, dtype=np.int64)
    z = np.zeros(len(d), dtype=np.int64)
    mask = np.zeros(len(d), dtype=bool) if poll is None else np.asarray(poll, dtype=bool)
    return Reports(d, z, z, d, z, z, mask, frame)


def dba(ctx: DbaContext, **params: Any) -> SrDba:
    out = get_dba("sr-dba")(ctx, params)
    assert isinstance(out, SrDba)
    return out


def on_rungs(g: np.ndarray, ctx: DbaContext) -> bool:
    """Every grant is 0 or a payload that fills whole grant units with its DBRu."""
    unit, dbru = ctx.grant_unit_bytes, ctx.profile.dbru_bytes
    return bool(np.all((g == 0) | ((g > 0) & ((g + dbru) % unit == 0))))


def floor_rung(x: float, ctx: DbaContext) -> int:
    unit, dbru = ctx.grant_unit_bytes, ctx.profile.dbru_bytes
    r = int(np.floor((x + dbru) / unit)) * unit - dbru
    return r if r > 0 else 0


def ceil_rung(x: float, ctx: DbaContext) -> int:
    unit, dbru = ctx.grant_unit_bytes, ctx.profile.dbru_bytes
    p = ctx.profile
    useful = max(p.encap_min_frame_bytes, p.encap_header_bytes + p.encap_align_bytes)
    k = max(int(np.ceil((x + dbru) / unit)), dbru // unit + 1, -(-(useful + dbru) // unit))
    return k * unit - dbru if x > 0 else 0


def rate(ctx: DbaContext, bps: float) -> float:
    """Bytes per frame of a rate."""
    return bps * ctx.frame_ps / 1e12 / 8


BIG = 10**9  # a demand far above any frame


# =========================================================================== registry, params
def test_registered_stepped_and_params_checked() -> None:
    cls = get_dba("sr-dba")
    assert cls is SrDba and cls.uses_reports
    assert issubclass(cls, KernelDba), "a kernel DBA: runs in the compiled frame loop"
    ctx = context("xgs-pon", [[T(4, maximum=1e9)]])
    with pytest.raises(InputError) as err:
        dba(ctx, best_effort_share=0.5)
    assert err.value.where == "dba.params.best_effort_share"
    for bad in (-1, 1.5, True, "8", 2_000_000):
        with pytest.raises(InputError) as err:
            dba(ctx, demand_slack_bytes=bad)
        assert err.value.where == "dba.params.demand_slack_bytes"
    assert dba(ctx, demand_slack_bytes=0).slack == 0


@pytest.mark.parametrize(("tech", "slack"), [("xgs-pon", 8 + 2 * 12), ("xg-pon", 8), ("gpon", 5)])
def test_default_slack_is_header_plus_in_flight_poll_rooms(tech: str, slack: int) -> None:
    """Exact: one GEM/XGEM header + two DBRu-only poll rooms (16-4 = 12 B on XGS-PON only)."""
    assert dba(context(tech, [[T(4, maximum=1e9)]])).slack == slack


def test_water_fill_is_weighted_max_min() -> None:
    """Exact up to float rounding (1e-9 relative): λ·w capped by the bounds, sum = pool."""
    w = np.array([1.0, 2.0, 1.0, 0.0, 3.0])
    b = np.array([10.0, 1000.0, 1000.0, 50.0, 0.0])
    x = water_fill(b, w, 310.0)
    np.testing.assert_allclose(x, [10.0, 200.0, 100.0, 0.0, 0.0], rtol=1e-9)
    np.testing.assert_allclose(water_fill(b, w, 5000.0), [10.0, 1000.0, 1000.0, 0.0, 0.0])
    assert not water_fill(b, w, 0.0).any()


# =========================================================================== step 1: fixed
@pytest.mark.parametrize("tech", TECHNOLOGIES)
@pytest.mark.parametrize("cycle", [1, 4])
def test_fixed_every_cycle_even_idle_and_exact_long_run(tech: str, cycle: int) -> None:
    """Types 1 and 5 get R_F every cycle with no demand and no report; after every cycle the
    cumulative grant lags R_F × elapsed time by ≥ 0 and < one grant per frame of the cycle —
    one grant unit, or the smallest useful grant (one minimum GEM/XGEM frame) when R_F is
    slower than that per frame (the credit keeps the fraction; grants sit on rungs)."""
    rates = [64e3, 1e6, 2e6, 10e6, 123.456e6]
    per_onu = [[T(1, fixed=f)] for f in rates] + [[T(5, fixed=3e6, assured=1e6, maximum=1e9)]]
    per_onu.append([T(2, assured=5e6), T(3, assured=5e6, maximum=1e9), T(4, maximum=1e9)])
    ctx = context(tech, per_onu, cycle)
    d = dba(ctx)
    n = ctx.tconts.count
    fixed = ctx.fixed_bytes_per_frame * cycle  # per cycle
    unit = ctx.grant_unit_bytes
    total = np.zeros(n)
    for c in range(1, 2001):
        frames = d.allocate(0, reports(np.zeros(n)))
        # One row per frame of the cycle (a single row for 1-frame cycles), all the same.
        assert frames.shape == ((n,) if cycle == 1 else (cycle, n))
        g = np.atleast_2d(frames)[0]
        assert np.all(np.atleast_2d(frames) == g)
        assert on_rungs(g, ctx)
        assert not g[-3:].any(), "a T-CONT without fixed bandwidth got an idle grant"
        total += g * cycle
        lag = c * fixed - total
        assert np.all(lag >= -1e-6) and np.all(lag < max(unit, d.min_rung) * cycle), (c, lag)
    assert np.all(total[:6] > 0)


# =========================================================================== step order
def four_types(onus: int, a3: Sequence[float], m3: float, m4: float) -> list[list[T]]:
    return [
        [T(1, fixed=20e6), T(2, assured=100e6), T(3, assured=a3[i], maximum=m3), T(4, maximum=m4)]
        for i in range(onus)
    ]


def test_fixed_then_assured_then_non_assured_by_guaranteed_rate() -> None:
    """Every T-CONT backlogged: type 1 gets its rung of R_F, type 2 its rung of R_A, the
    type-3 T-CONTs share all the surplus in proportion to R_A (their R_M is the line rate),
    so best effort (step 4) gets nothing.  Tolerance: one grant unit per T-CONT (rungs)."""
    a3 = [10e6, 20e6, 30e6, 40e6, 10e6, 20e6, 30e6, 40e6]
    ctx = context("xgs-pon", four_types(8, a3, 9.9e9, 9.9e9), fec=False)
    ty = ctx.tconts.tcont_type
    unit = ctx.grant_unit_bytes
    g = dba(ctx).allocate(0, reports(np.full(ctx.tconts.count, BIG)))
    # The DBA budgets for every T-CONT that may get an allocation (here: all, they all have
    # demand), so the type-4 allocations it then does not make are unused.
    cap = ctx.payload_capacity(np.ones(ctx.tconts.count, dtype=bool))
    assert on_rungs(g, ctx)
    assert cap - 2 * unit <= g.sum() <= cap, "frame not used, or overfilled"
    assert np.all(g[ty == 1] == floor_rung(rate(ctx, 20e6), ctx))
    assert np.all(g[ty == 2] == floor_rung(rate(ctx, 100e6), ctx))
    assert np.all(g[ty == 4] == 0), "best effort served before the non-assured surplus ran out"
    surplus = g[ty == 3] - rate(ctx, 1) * np.array(a3)
    ideal = (cap - g[ty != 3].sum() - rate(ctx, 1) * sum(a3)) * np.array(a3) / sum(a3)
    assert np.all(np.abs(surplus - ideal) < 2 * unit), (surplus, ideal)


def test_non_assured_demand_met_then_best_effort_equal_shares() -> None:
    """Type 3 asks for little (demand-limited: granted demand + slack rounded up to a rung,
    exact); the rest of the frame goes to the equal type-4 T-CONTs in equal shares (within
    one grant unit: rungs plus the largest-remainder units)."""
    ctx = context("xgs-pon", four_types(8, [20e6] * 8, 9.9e9, 9.9e9), fec=False)
    ty = ctx.tconts.tcont_type
    unit = ctx.grant_unit_bytes
    d = dba(ctx)
    demand = np.where(ty == 3, 5000, BIG)
    g = d.allocate(0, reports(demand))
    assert np.all(g[ty == 3] == ceil_rung(5000 + d.slack, ctx))
    be = g[ty == 4]
    assert be.max() - be.min() <= unit and be.min() > 10_000
    assert g.sum() >= ctx.payload_capacity(g > 0) - 2 * unit  # every T-CONT has a grant


def test_best_effort_priority_then_weight() -> None:
    """Priority 0 is served to its demand first; priority 1 shares the rest in proportion to
    weight (within one grant unit: rungs); with priority 0 backlogged, priority 1 gets 0."""
    tconts = [T(4, maximum=9.9e9, priority=0, weight=1.0), T(4, maximum=9.9e9, priority=0)]
    tconts += [T(4, maximum=9.9e9, priority=1, weight=w) for w in (1.0, 2.0, 3.0)]
    ctx = context("xgs-pon", [tconts[:2], tconts[2:]], fec=False)
    unit = ctx.grant_unit_bytes
    d = dba(ctx, demand_slack_bytes=0)
    g = d.allocate(0, reports([20_000, 30_000, BIG, BIG, BIG]))
    assert g[0] == ceil_rung(20_000, ctx) and g[1] == ceil_rung(30_000, ctx)
    cap = ctx.payload_capacity(g > 0)
    ideal = (cap - g[:2].sum()) * np.array([1, 2, 3]) / 6
    assert np.all(np.abs(g[2:] - ideal) < unit), (g, ideal)
    g = dba(ctx).allocate(0, reports([BIG, BIG, BIG, BIG, BIG]))
    assert g[2:].sum() == 0 and g[0] - g[1] in (-unit, 0, unit)


# =========================================================================== caps, rounding
def test_caps_exact_in_the_long_run_and_within_a_unit_per_cycle() -> None:
    """R_M (type 3, 4), R_A (type 2): a backlogged T-CONT never gets more than its cap + one
    grant unit in a cycle, and over 4000 cycles its total is the cap × time within one unit
    (rounded down with the fraction carried)."""
    tconts = [T(2, assured=33.3e6), T(3, assured=7e6, maximum=77.7e6), T(4, maximum=51.1e6)]
    ctx = context("xgs-pon", [tconts, [T(4, maximum=123.4e6, weight=5.0)]])
    unit = ctx.grant_unit_bytes
    caps = np.array([33.3e6, 77.7e6, 51.1e6, 123.4e6]) * ctx.frame_ps / 1e12 / 8
    d = dba(ctx)
    total = np.zeros(4)
    for c in range(1, 4001):
        g = d.allocate(0, reports(np.full(4, BIG)))
        assert on_rungs(g, ctx) and np.all(g < caps + unit), (c, g, caps)
        total += g
        assert np.all(np.abs(total - c * caps) < unit), (c, total - c * caps)


def test_demand_limited_grant_rounds_up_once_and_builds_exact() -> None:
    """A demand that fits is granted (demand + slack) rounded up to the next rung: less than
    one grant unit more.  The BWmap's GrantSize is then exact: room booked = grant."""
    ctx = context("xgs-pon", [[T(4, maximum=1e9), T(2, assured=50e6)]])
    for slack, demand in ((0, 100), (32, 100), (0, 12), (0, 1), (5, 651)):  # all < R_A
        d = dba(ctx, demand_slack_bytes=slack)
        g = d.allocate(0, reports([demand, demand]))
        # At least the smallest useful grant (28 bytes: a 16-byte XGEM frame needs it).
        wanted = max(demand + slack, d.min_rung)
        assert np.all(g >= demand + slack) and np.all(g < wanted + ctx.grant_unit_bytes)
        bw = BwmapBuilder(ctx.profile, ctx.fec, ctx.tconts, "sr-dba").build(0, g, g > 0)
        np.testing.assert_array_equal(bw.room_bytes, g[bw.tcont])
    assert dba(ctx, demand_slack_bytes=0).allocate(0, reports([100, 0])).tolist() == [108, 0]


def test_assured_only_with_demand() -> None:
    """Type 2 without demand gets nothing (no idle grant); below R_A it gets its demand (+
    slack, rounded up); above R_A its rung of R_A."""
    ctx = context("xgs-pon", [[T(2, assured=50e6)]])  # 781.25 B per frame
    d = dba(ctx)
    assert d.allocate(0, reports([0])).tolist() == [0]
    assert d.allocate(0, reports([300])).tolist() == [ceil_rung(300 + d.slack, ctx)]
    assert d.allocate(0, reports([BIG])).tolist() == [floor_rung(781.25, ctx)]


@pytest.mark.parametrize("cycle", [1, 2])
def test_allocation_structure_limit_drops_best_effort_first(cycle: int) -> None:
    """540 T-CONTs with demand on XGS-PON (512 allocation structures per frame): the ones
    dropped are best effort; every fixed and assured grant stays (exact).  In a 2-frame
    cycle room is kept for the OLT's poll budget (128) in the frame the DBA did not see."""
    # R_F, R_A of 2 Mb/s = 31 B per frame: above the smallest useful XGS-PON grant (28 B).
    per_onu = [[T(1, fixed=2e6), T(2, assured=2e6), T(4, maximum=1e9)] for _ in range(180)]
    ctx = context("xgs-pon", per_onu, cycle)
    ty = ctx.tconts.tcont_type
    allowed = 512 - (128 if cycle > 1 else 0)
    frames = dba(ctx).allocate(0, reports(np.where(ty == 1, 0, 3000)))
    g = np.atleast_2d(frames)[0]
    assert np.all(np.atleast_2d(frames) == g), "the same grant in every frame of the cycle"
    assert np.count_nonzero(g) == allowed
    assert np.all(g[ty != 4] > 0) and np.count_nonzero(g[ty == 4]) == allowed - 360
    assert g.sum() <= ctx.payload_capacity(np.ones(ctx.tconts.count, dtype=bool))


def test_beyond_admission_the_fixed_grants_shrink_to_fit() -> None:
    """Σ R_F above the frame (admission control bypassed): grants still fit (exact)."""
    ctx = context("gpon", [[T(1, fixed=400e6)] for _ in range(4)])
    g = dba(ctx).allocate(0, reports(np.zeros(4)))
    cap = ctx.payload_capacity(g > 0)
    assert g.sum() <= cap and g.sum() > 0.99 * cap and g.max() - g.min() <= 1


# =========================================================================== slow T-CONTs
VOICE_BPS = 100e3  # R_A of the seeds' voice T-CONT: 1.56 B per frame, below any useful grant


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_slow_assured_tcont_sends_whole_packets_from_its_bank(tech: str) -> None:
    """Issue 15: R_A = 100 kb/s, a 200-byte packet every 20 ms (80 kb/s), the frame kept full
    by a backlogged type 4.  Every packet is granted whole — one grant ≥ its encapsulated
    size — in the first cycle that sees it (the bank, one maximum-size frame, refills 250 B
    per packet; a packet costs its rung, ≤ 252 B).  Over the run the grants never exceed
    R_A × time + the bank (exact, token bucket)."""
    ctx = context(tech, [[T(2, assured=VOICE_BPS), T(4, maximum=1e9)]])
    d = dba(ctx)
    packet = encapsulated_bytes(ctx.profile, 200)
    per_frame = rate(ctx, VOICE_BPS)
    queue = total = 0
    for k in range(16_000):  # 2 s, 100 packets
        if k % 160 == 0:
            queue += packet
        g = d.allocate(0, reports([queue, BIG], frame=k))
        assert g[1] > 0, "the type 4 keeps the frame busy"
        if queue > 0:
            assert g[0] >= queue, (k, queue, g[0])
        else:
            assert g[0] == 0
        queue = max(0, queue - int(g[0]))
        total += int(g[0])
        assert total <= per_frame * (k + 1) + d.bank_top + 1e-6, (k, total)


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_slow_assured_tcont_backlogged_gets_whole_frames_at_its_rate(tech: str) -> None:
    """Backlogged, the slow T-CONT waits for a useful grant: every grant is one maximum-size
    frame (the bank's top, exact), and after every frame its total is R_A × time within one
    bank (it starts full) — never 20-byte fragments under 8-byte headers."""
    ctx = context(tech, [[T(2, assured=VOICE_BPS)]])
    d = dba(ctx)
    assert d.bank_top >= encapsulated_bytes(ctx.profile, 1518)
    per_frame = rate(ctx, VOICE_BPS)
    total = 0
    for k in range(16_000):
        g = int(d.allocate(0, reports([BIG], frame=k))[0])
        assert g in (0, d.bank_top)
        total += g
        assert abs(total - per_frame * (k + 1)) <= d.bank_top + 1e-6, (k, total)
    assert total >= 15 * d.bank_top  # 2 s of 100 kb/s = 25 kB (regime: it was served)


def test_slow_voice_low_delay_in_a_run(recorder: Any) -> None:
    """Issue 15 in the emulator: 8 ONUs, XGS-PON, a G.711 voice T-CONT (type 2, R_A 100 kb/s,
    200-byte CBR every 20 ms) and a Poisson type 4 at half the capacity.  Voice p99 delay
    < 1 ms (measured ≈ 0.4 ms: one report loop; before the bank it queued without bound,
    80 ms mean after 1 s).  Histogram percentiles within 0.4 %; > 100 voice packets."""
    capacity = saturation_goodput_bps(get_profile("xgs-pon"), "upstream", 8)
    voice = ("cbr", {"rate_bps": 80e3, "size_bytes": 200})
    data = ("poisson", {"rate_bps": 0.5 * capacity / 8, "sizes": "trimodal"})
    per_onu = [[T(2, assured=VOICE_BPS, traffic=voice), T(4, maximum=9e9, traffic=data)]] * 8
    r: Recorded = recorder(sr_spec(per_onu, 2400, seed=9, warmup_frames=80))
    up = r.run.upstream
    h = up.delays.merged(np.flatnonzero(r.types == 2))
    assert h.count > 100
    assert up.delays.merged(np.flatnonzero(r.types == 4)).count > 10_000  # the PON is busy
    assert h.percentile_ps(99) < 1e9, h.percentile_ps(99) / 1e6


# =========================================================================== hypothesis
TYPE_RATES = {
    1: lambda r: T(1, fixed=r[0]),
    2: lambda r: T(2, assured=r[0]),
    3: lambda r: T(3, assured=r[0], maximum=r[0] + r[1]),
    4: lambda r: T(4, maximum=r[1] + 1e3),
    5: lambda r: T(5, fixed=r[0] / 2, assured=r[0] / 2, maximum=r[0] + r[1]),
}


@settings(max_examples=120, deadline=None)
@given(
    tech=st.sampled_from(TECHNOLOGIES),
    fec=st.sampled_from([None, False]),
    cycle=st.integers(1, 3),
    onus=st.integers(1, 20),
    per_onu=st.integers(1, 4),
    data=st.data(),
)
def test_never_exceeds_capacity_caps_or_demand(
    tech: str, fec: bool | None, cycle: int, onus: int, per_onu: int, data: st.DataObject
) -> None:
    """Over three cycles of random T-CONTs, rates, demands and polls: grants are rungs, sum
    to at most the frame's payload capacity for the allocations they make, build a valid
    BWmap in every frame of the cycle (whatever the OLT polls in the later frames), never
    exceed a T-CONT's cap by a grant unit per frame, and go only to T-CONTs with fixed
    bandwidth or demand (demand-limited grants: < demand/frame + slack + one unit)."""
    p = get_profile(tech)
    line = p.upstream_bps
    rate_st = st.floats(0.0, line / (onus * per_onu * 2))
    spec = [
        [
            TYPE_RATES[data.draw(st.integers(1, 5))](
                (data.draw(rate_st) + 1e3, data.draw(st.floats(0, line)))
            )
            for _ in range(per_onu)
        ]
        for _ in range(onus)
    ]
    for onu in spec:
        for t in onu:
            t.priority = data.draw(st.integers(0, 2))
            t.weight = data.draw(st.floats(0.1, 10))
    ctx = context(tech, spec, cycle, fec)
    n, unit = ctx.tconts.count, ctx.grant_unit_bytes
    d = dba(ctx)
    ty = ctx.tconts.tcont_type
    cap = np.where(
        ty == 1,
        ctx.fixed_bytes_per_frame,
        np.where(
            ty == 2,
            ctx.assured_bytes_per_frame,
            np.maximum(
                ctx.max_bytes_per_frame, ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
            ),
        ),
    )
    fixed_ok = np.isin(ty, (1, 5))
    builder = BwmapBuilder(p, ctx.fec, ctx.tconts, "sr-dba")
    for frame in range(3):
        demand = np.array(
            data.draw(
                st.lists(
                    st.one_of(st.just(0), st.integers(1, 3 * p.us_bytes_per_frame)),
                    min_size=n,
                    max_size=n,
                )
            )
        )
        poll = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        frames = d.allocate(0, reports(demand, poll, frame))
        assert frames.shape == ((n,) if cycle == 1 else (cycle, n)) and frames.dtype == np.int64
        g = np.atleast_2d(frames)[0]
        assert np.all(np.atleast_2d(frames) == g) and np.all(g >= 0)
        assert on_rungs(g, ctx)
        assert g.sum() <= ctx.payload_capacity(poll | (g > 0))
        # Caps: < cap + one unit (fixed credit: < R_F + one unit).  A T-CONT whose cap is
        # below the smallest useful rung (one minimum GEM/XGEM frame) gets whole rungs now and
        # then, paid back by its credits, so a per-grant bound does not apply to it (its
        # long-run fixed rate is checked by test_fixed_every_cycle_even_idle_and_exact_long_run).
        sub_rung = cap < d.min_rung
        assert np.all(g[~sub_rung] < cap[~sub_rung] + unit + 1e-6), (g, cap)
        # Nothing without fixed bandwidth or demand; demand-limited grants bounded.
        no_fixed = ~fixed_ok | (ctx.fixed_bytes_per_frame == 0)
        assert np.all(g[no_fixed & (demand == 0)] == 0)
        per_frame = demand / cycle + d.slack / cycle
        bound = np.where(demand > 0, per_frame, 0) + np.where(fixed_ok, cap, 0)
        limit = np.maximum(bound, np.where(g > 0, d.min_rung, 0)) + unit + 1e-6
        assert np.all(g[~sub_rung] < limit[~sub_rung])
        for k, row in enumerate(builder.check_grants(frame, g, cycle)):
            later_poll = poll if k == 0 else np.ones(n, dtype=bool)
            bw = builder.build(frame + k, row, later_poll | (row > 0))
            assert bw.used_line_bytes <= p.us_bytes_per_frame
            granted = row[bw.tcont] > 0  # GrantSize exact: the room booked is the grant
            np.testing.assert_array_equal(bw.room_bytes[granted], row[bw.tcont][granted])


# =========================================================================== emulation runs
def sr_spec(
    per_onu: Sequence[Sequence[T]],
    frames: int,
    seed: int,
    *,
    tech: str = "xgs-pon",
    warmup_frames: int = 0,
    cycle: int = 1,
    record: bool = False,
    fec: bool | None = None,
) -> EmulationSpec:
    """A hand-built spec: ``make_spec``'s topology, the given T-CONTs, upstream traffic only."""
    spec = make_spec(
        tech, onus=len(per_onu), frames=frames, up=None, down=None, dba="sr-dba",
        tconts_per_onu=len(per_onu[0]), record=record, seed=seed, fec=fec,
        warmup_frames=warmup_frames, cycle_frames=cycle,
    )  # fmt: skip
    p = spec.profile
    spec.tconts = table(p, per_onu)
    flat = [t for onu in per_onu for t in onu]
    for j, (q, t) in enumerate(zip(spec.upstream, flat, strict=True)):
        q.tcont_type = t.type
        q.sources = []
        if t.traffic is not None:
            q.sources.append(source(t.traffic[0], t.traffic[1], seed * 1000 + j, p.upstream_bps))
    return spec


@dataclass
class Recorded:
    """A run plus what the OLT decided and the ONUs sent, frame by frame."""

    spec: EmulationSpec
    run: RawRun
    capacity_bps: float
    grants: np.ndarray  #: DBA grant per (cycle = frame, T-CONT)
    used: np.ndarray  #: payload bytes the ONUs sent, per (frame, T-CONT)
    types: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.types = self.spec.tconts.tcont_type

    @property
    def window_s(self) -> float:
        return (self.spec.duration_ps - self.spec.warmup_ps) / 1e12


@pytest.fixture(scope="module")
def recorder() -> Iterator[Any]:
    """Run specs while recording every DBA decision and the bytes sent per frame."""

    def run(spec: EmulationSpec) -> Recorded:
        grants: list[np.ndarray] = []
        used = np.zeros((spec.n_frames, spec.tconts.count), dtype=np.int64)
        frame = [-1]
        allocate, plan_frame = SrDba.allocate, OltUpstream.plan_frame
        stats_grants = DirectionStats.grants

        def rec_allocate(self: SrDba, now_ps: int, reports: Reports) -> np.ndarray:
            g = allocate(self, now_ps, reports)
            grants.append(g.copy())
            return g

        def rec_plan(self: OltUpstream, k: int) -> UpstreamPlan:
            frame[0] = k
            return plan_frame(self, k)

        def rec_grants(self: DirectionStats, queue: Any, granted: Any, sent: Any) -> None:
            if self.direction == "upstream":
                np.add.at(used[frame[0]], queue, sent)
            stats_grants(self, queue, granted, sent)

        with pytest.MonkeyPatch.context() as mp:
            # The stepped frame loop, which calls allocate (the compiled loop calls the
            # kernel directly): the same kernel, so the same decisions.
            mp.setattr(fast_engine, "FORCE_STEPPED", True)
            mp.setattr(SrDba, "allocate", rec_allocate)
            mp.setattr(OltUpstream, "plan_frame", rec_plan)
            mp.setattr(DirectionStats, "grants", rec_grants)
            raw = run_spec(spec, "fast")
        assert raw.engine == "fast" and not raw.backend.endswith("compiled-loop")
        cap = saturation_goodput_bps(
            spec.profile, "upstream", spec.n_onus, fec=spec.us_fec is not None
        )
        return Recorded(spec, raw, cap, np.array(grants), used)

    yield run


# --------------------------------------------------------------------------- 150 % overload
ONUS = 32
OVERLOAD_FRAMES = 800  # 100 ms
WARMUP_FRAMES = 80
T0_MS = 50.0  # the late type-2 T-CONT (ONU 0) starts sending here
R_A2 = 50e6


def overload_tconts() -> list[list[T]]:
    """Per ONU, types 1-4.  Type 1: R_F 10 or 2 Mb/s; ONUs 0-15 send CBR at 80 % of it,
    16-31 are idle.  Type 2: R_A 50 Mb/s; ONU 0 sends 80 Mb/s CBR from t = 50 ms; ONUs 1-15
    30 Mb/s (below R_A), 16-31 80 Mb/s (above).  Type 3: R_A 20, R_M 60 Mb/s, 100 Mb/s
    Poisson (held at R_M).  Type 4: R_M 50 Mb/s on ONUs 0-7 (held at R_M), 2 Gb/s on the
    others; Poisson at the rate that makes the total offered load 150 % of the analytic
    upstream capacity."""
    p = get_profile("xgs-pon")
    capacity = saturation_goodput_bps(p, "upstream", ONUS)
    r1 = [10e6 if i % 2 == 0 else 2e6 for i in range(ONUS)]
    r2 = [80e6 if i == 0 or i >= 16 else 30e6 for i in range(ONUS)]
    offered = sum(0.8 * r1[i] for i in range(16)) + sum(r2) + ONUS * 100e6
    r4 = (1.5 * capacity - offered) / ONUS
    out = []
    for i in range(ONUS):
        cbr1 = ("cbr", {"rate_bps": 0.8 * r1[i], "size_bytes": 200}) if i < 16 else None
        cbr2: dict[str, Any] = {"rate_bps": r2[i], "size_bytes": 1200}
        if i == 0:
            cbr2["phase_ps"] = int(T0_MS * PS_PER_MS)
        poisson3 = ("poisson", {"rate_bps": 100e6, "sizes": "trimodal"})
        poisson4 = ("poisson", {"rate_bps": r4, "sizes": "trimodal"})
        out.append(
            [
                T(1, fixed=r1[i], traffic=cbr1),
                T(2, assured=R_A2, traffic=("cbr", cbr2)),
                T(3, assured=20e6, maximum=60e6, traffic=poisson3),
                T(4, maximum=50e6 if i < 8 else 2e9, traffic=poisson4),
            ]
        )
    return out


@pytest.fixture(scope="module")
def overload(recorder: Any) -> Recorded:
    r: Recorded = recorder(
        sr_spec(overload_tconts(), OVERLOAD_FRAMES, seed=5, warmup_frames=WARMUP_FRAMES)
    )
    # The regime claimed: 150 % offered (within 3 %: Poisson / CBR phase sampling over 90 ms),
    # and the upstream full (≥ 90 % of the analytic capacity delivered).
    offered = r.run.upstream.window_offered_bytes.sum() * 8 / r.window_s
    delivered = r.run.upstream.window_delivered_bytes.sum() * 8 / r.window_s
    assert offered == pytest.approx(1.5 * r.capacity_bps, rel=0.03)
    assert delivered > 0.9 * r.capacity_bps
    return r


def caps_per_frame(r: Recorded) -> np.ndarray:
    t = r.spec.tconts
    total = np.maximum(t.max_bps, t.fixed_bps + t.assured_bps)
    bps = np.where(
        t.tcont_type == 1, t.fixed_bps, np.where(t.tcont_type == 2, t.assured_bps, total)
    )
    return bps * FRAME_S / 8


def test_type1_gets_fixed_rate_every_cycle_even_idle(overload: Recorded) -> None:
    """Every type-1 T-CONT, busy or idle, at 150 % load: after every cycle its cumulative
    grant lags R_F × elapsed by ≥ 0 and < one grant unit (16 B) — exact up to the rung.  The
    OLT's books (room actually granted, DBRu excluded) equal the DBA's grants exactly."""
    r = overload
    ones = np.flatnonzero(r.types == 1)
    idle = ones[ONUS // 2 :]
    assert np.all(r.run.upstream.window_offered_bytes[idle] == 0), "idle half not idle"
    assert np.all(r.run.upstream.window_offered_bytes[ones[: ONUS // 2]] > 0)
    unit = r.spec.profile.grant_unit_bytes
    fixed = r.spec.tconts.fixed_bps[ones] * FRAME_S / 8
    cum = np.cumsum(r.grants[:, ones], axis=0)
    lag = np.arange(1, len(cum) + 1)[:, None] * fixed[None, :] - cum
    assert lag.min() >= 0 and lag.max() < unit, (lag.min(), lag.max())
    np.testing.assert_array_equal(r.run.upstream.granted_bytes[ones], cum[-1])


def test_type2_gets_assured_rate_at_150_percent_load(overload: Recorded) -> None:
    """Type-2 throughput ≥ min(offered, R_A) − 2 %.  Below R_A (30 Mb/s): Ethernet bytes
    delivered in the window vs offered (2 %: packets in flight at the window edges, one
    ~1 ms DBA loop of 30 Mb/s is 0.1 %).  Above R_A (80 Mb/s): XGEM bytes the T-CONT sent
    after warm-up vs R_A (R_A is a T-CONT payload rate; 2 %: the start of the window)."""
    r = overload
    up = r.run.upstream
    twos = np.flatnonzero(r.types == 2)
    below, above = twos[1:16], twos[16:]
    offered = up.window_offered_bytes[below]
    assert np.all(offered * 8 / r.window_s < 0.7 * R_A2)
    assert np.all(up.window_delivered_bytes[below] >= 0.98 * offered)
    sent = r.used[WARMUP_FRAMES:, above].sum(axis=0) * 8 / r.window_s
    assert np.all(up.window_offered_bytes[above] * 8 / r.window_s > 1.5 * R_A2)
    assert np.all(sent >= 0.98 * R_A2), sent / R_A2


def test_surplus_fair_among_equal_best_effort(overload: Recorded) -> None:
    """The 24 equal type-4 T-CONTs (same R_M, weight, priority, offered rate): Jain index of
    their delivered throughput ≥ 0.99.  Each is backlogged (> 200 kB still queued at the end,
    about 16 ms of its share), so the share, not the demand, sets the throughput."""
    r = overload
    up = r.run.upstream
    equal = np.flatnonzero(r.types == 4)[8:]
    delivered = up.window_delivered_bytes[equal]
    assert np.all(up.counters["queued_bytes"][equal] > 200_000)
    assert jain_index(delivered) >= 0.99, jain_index(delivered)


def test_no_tcont_exceeds_its_maximum(overload: Recorded) -> None:
    """Every cycle's grant < the T-CONT's cap (R_F, R_A or R_M) + one grant unit, and over
    the run the OLT-booked grant ≤ cap × duration + one unit per frame (the booked figure
    includes 12-byte DBRu-only poll rooms).  The capped groups (type 3 at R_M 60 Mb/s, type
    4 on ONUs 0-7 at 50 Mb/s) really are held at R_M (within 2 %: warm-up of the queues)."""
    r = overload
    unit = r.spec.profile.grant_unit_bytes
    cap = caps_per_frame(r)
    assert np.all(r.grants < cap[None, :] + unit)
    booked = r.run.upstream.granted_bytes
    assert np.all(booked <= cap * OVERLOAD_FRAMES + unit * OVERLOAD_FRAMES)
    held = np.flatnonzero((r.types == 3) | ((r.types == 4) & (r.spec.tconts.onu_index < 8)))
    assert np.all(booked[held] >= 0.98 * cap[held] * OVERLOAD_FRAMES)


def test_newly_active_type2_gets_assured_rate_within_2ms(overload: Recorded) -> None:
    """ONU 0's type-2 T-CONT is silent until t0 = 50 ms, then sends 80 Mb/s (> R_A).  Before
    t0 the DBA grants it nothing; a burst of at least the rung below R_A (780 B) reaches the
    OLT within 2 ms of t0 (measured: one report loop, ≈ 0.36 ms); from t0 + 2 ms on, every
    frame's grant is at least that rung and its grants total R_A × time within one unit."""
    r = overload
    j = int(np.flatnonzero(r.types == 2)[0])
    k0 = int(T0_MS * 1e-3 / FRAME_S)
    g = r.grants[:, j]
    assert not g[:k0].any(), "granted before it had demand"
    rung = floor_rung(R_A2 * FRAME_S / 8, context("xgs-pon", [[T(2, assured=R_A2)]]))
    first = k0 + int(np.argmax(g[k0:] >= rung))
    # From t0 to the moment that first assured-size burst reaches the OLT (BWmap time + Teqd).
    reaction_ms = (first - k0) * FRAME_S * 1e3 + r.spec.teqd_ps / 1e9
    assert 0 < reaction_ms <= 2.0, reaction_ms
    k2 = k0 + int(2e-3 / FRAME_S)
    assert np.all(g[k2:] >= rung)
    owed = (len(g) - k2) * R_A2 * FRAME_S / 8
    assert abs(g[k2:].sum() - owed) < r.spec.profile.grant_unit_bytes


# --------------------------------------------------------------------------- 95 % load delay
def load95_tconts(load: float = 0.95) -> list[list[T]]:
    """Types 1/2 carry small CBR flows (4 Mb/s of 200-B frames on R_F 10 Mb/s; a 20 Mb/s
    video of 1200-B frames on R_A 50 Mb/s); type 3 Poisson (trimodal sizes, R_A 20, R_M 400
    Mb/s) and type 4 self-similar Pareto ON/OFF (1518 B, R_M 1 Gb/s) carry 30 % / 70 % of
    the rest, for a total of ``load`` × the analytic upstream capacity."""
    capacity = saturation_goodput_bps(get_profile("xgs-pon"), "upstream", ONUS)
    heavy = (load * capacity - ONUS * (4e6 + 20e6)) / ONUS
    return [
        [
            T(1, fixed=10e6, traffic=("cbr", {"rate_bps": 4e6, "size_bytes": 200})),
            T(2, assured=50e6, traffic=("cbr", {"rate_bps": 20e6, "size_bytes": 1200})),
            T(3, assured=20e6, maximum=400e6,
              traffic=("poisson", {"rate_bps": 0.3 * heavy, "sizes": "trimodal"})),
            T(4, maximum=1e9, traffic=("pareto-onoff", {
                "rate_bps": 0.7 * heavy, "sizes": "fixed", "size_bytes": 1518})),
        ]
        for _ in range(ONUS)
    ]  # fmt: skip


def test_low_delay_classes_under_1ms_at_95_percent_load(recorder: Any) -> None:
    """p99 upstream delay (arrival at the ONU to last byte at the OLT, 20 km Teqd included)
    of types 1 and 2 < 1 ms at 95 % load.  Histogram percentiles are within 0.4 %; each class
    has > 5000 packets after warm-up, so p99 rests on > 50 samples.  Claimed regime: offered
    95 % ± 3 % of capacity, ≥ 90 % delivered, and the best-effort class really queues
    (its p99 above 2 ms), so types 1/2 are protected, not merely unloaded."""
    r: Recorded = recorder(sr_spec(load95_tconts(), OVERLOAD_FRAMES, seed=7, warmup_frames=80))
    up = r.run.upstream
    offered = up.window_offered_bytes.sum() * 8 / r.window_s
    delivered = up.window_delivered_bytes.sum() * 8 / r.window_s
    # 90 ms of heavy-tailed (α = 1.4) traffic: the realised load of one seed spreads by about
    # ±3 % (1 σ, measured over 120 seeds), so check it only to ±10 %.
    assert offered == pytest.approx(0.95 * r.capacity_bps, rel=0.10)
    assert delivered > 0.9 * r.capacity_bps
    p99 = {}
    for t in (1, 2, 4):
        h = up.delays.merged(np.flatnonzero(r.types == t))
        assert h.count > 5000
        p99[t] = h.percentile_ps(99) / 1e6  # µs
    assert p99[4] > 2000, p99
    assert p99[1] < 1000 and p99[2] < 1000, p99


# --------------------------------------------------------------------------- engines agree
EQUIVALENCE: dict[str, dict[str, Any]] = {
    # XGS-PON, 4 ONUs × types 1-4, overloaded (fragments, caps, idle fixed grants).
    "xgs": dict(tech="xgs-pon", cycle=1, fec=None),
    # GPON with FEC and a 3-frame DBA cycle (grant repeated over the cycle, all T-CONTs
    # assumed polled).
    "gpon_cycle3": dict(tech="gpon", cycle=3, fec=True),
}


@pytest.mark.parametrize("variant", ["stepped", "compiled"])
@pytest.mark.parametrize("name", list(EQUIVALENCE))
def test_fast_and_reference_identical(
    name: str, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No tolerance: both engines share the OLT (and this DBA's kernel); their data planes
    must give every packet the same departure time (see
    tests/ftth/emulator/test_equivalence.py), on both paths of the fast engine."""
    use_fast_variant(variant, monkeypatch)
    kw = EQUIVALENCE[name]
    line = get_profile(kw["tech"]).upstream_bps

    def poisson(share: float) -> tuple[str, dict[str, Any]]:
        return ("poisson", {"rate_bps": share * line, "sizes": "trimodal"})

    cbr = ("cbr", {"rate_bps": 0.01 * line, "size_bytes": 300})
    per_onu = [
        [
            T(1, fixed=0.02 * line, traffic=cbr),
            T(2, assured=0.03 * line, traffic=poisson(0.05)),
            T(3, assured=0.02 * line, maximum=0.1 * line, traffic=poisson(0.15)),
            T(4, maximum=line, priority=i % 2, traffic=poisson(0.15)),
        ]
        for i in range(4)
    ]

    def spec() -> EmulationSpec:
        return sr_spec(
            per_onu, 48, seed=3, tech=kw["tech"], cycle=kw["cycle"], fec=kw["fec"], record=True
        )

    fast = run_spec(spec(), "fast")
    ref = run_spec(spec(), "reference")
    assert_variant(fast, variant)
    assert int(fast.upstream.counters["delivered_packets"].sum()) > 100
    # Regime: overloaded (something still queued at the end).
    assert int(fast.upstream.counters["queued_bytes"].sum()) > 0
    assert_identical(fast, ref)


def test_multi_frame_cycle_survives_polls_in_later_frames() -> None:
    """A 4-frame DBA cycle with a DBRu every 3 frames: the OLT polls idle T-CONTs in frames
    of the cycle the DBA never saw (Reports.poll_mask is the first frame's).  sr-dba budgets
    every T-CONT as allocated in multi-frame cycles, so the BWmap builder never refuses a
    frame (exact: a DbaError fails the test) even with the upstream full (≥ 95 % of the line
    used in the busiest frame) and half the ONUs idle-but-polled on their own bursts."""
    spec = make_spec(
        "xgs-pon",
        onus=64,
        frames=120,
        dba="sr-dba",
        up=("poisson", {"rate_bps": 400e6, "sizes": "trimodal"}),
        down=None,
        cycle_frames=4,
        dbru_every_frames=3,
        record=False,
        seed=2,
    )
    for j, q in enumerate(spec.upstream):
        if j % 2:
            light = {"rate_bps": 0.5e6, "sizes": "fixed", "size_bytes": 64}
            q.sources = [source("poisson", light, 200 + j, spec.profile.upstream_bps)]
    run = run_spec(spec, "fast")
    assert run.us_used_line_bytes.max() >= 0.95 * spec.profile.us_bytes_per_frame
