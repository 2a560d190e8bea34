"""``max-min`` DBA, the water-filling helpers, and the test helpers of the GIANT / EBU /
TM-DBA suites (``test_giant.py``, ``test_x_giant.py``, ``test_ebu.py``, ``test_tm_dba.py``
import them from here).

Tolerances and why:

* shares are whole grant units: a grant is within one unit of its ideal (float) max-min
  share, and the total never exceeds the frame's payload capacity (exact);
* R_M is held by a token bucket that banks one cycle plus one unit, so over K frames a
  backlogged T-CONT gets at most ``R_M·K + R_M·cycle + unit·cycle`` bytes;
* the engine run compares delivered with offered bytes over the measuring window: 3 % (the
  brief's bound) covers the packets still queued or in flight when the window closes
  (≈ 0.5 ms of traffic in a 90 ms window at 50 % load);
* fast vs reference engine: exact (integer picoseconds, shared OLT decisions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.emulator import EmulationSpec, RawRun, run_spec
from ftth.errors import InputError
from ftth.phy import get_profile, saturation_goodput_bps
from olt.bwmap import BwmapBuilder
from olt.dba.base import DbaContext, Reports, TcontTable
from olt.dba.max_min import MaxMinDba
from olt.dba.registry import get_dba
from olt.dba.shares import (
    RateLimiter,
    integer_fill,
    prefix_capacity_units,
    read_params,
    water_fill,
)
from tests.ftth.emulator.helpers import make_spec

TECHNOLOGIES = ("gpon", "xg-pon", "xgs-pon")
COUNTER_KEYS = ("offered_bytes", "delivered_bytes", "queued_bytes", "dropped_bytes")


# ============================================================================ test helpers
def make_table(
    tech: str,
    onus: int,
    per_onu: int = 1,
    types: Sequence[int] | None = None,
    fixed_bps: Sequence[float] | None = None,
    assured_bps: Sequence[float] | None = None,
    max_bps: Sequence[float] | float | None = None,
    priority: Sequence[int] | None = None,
    weight: Sequence[float] | None = None,
) -> TcontTable:
    """A T-CONT table; by default type 4, R_M = line rate, priority 0, weight 1."""
    p = get_profile(tech)
    n = onus * per_onu
    z = np.zeros(n)

    def arr(v: Any, default: Any, dtype: Any) -> Any:
        if v is None:
            return np.full(n, default, dtype=dtype)
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

    return TcontTable(
        onu_index=np.repeat(np.arange(onus), per_onu).astype(np.int64),
        alloc_id=(p.min_assignable_alloc_id + np.arange(n)).astype(np.int64),
        tcont_type=arr(types, 4, np.int64),
        fixed_bps=arr(fixed_bps, 0.0, float) if fixed_bps is not None else z.copy(),
        assured_bps=arr(assured_bps, 0.0, float) if assured_bps is not None else z.copy(),
        max_bps=arr(max_bps, float(p.upstream_bps), float),
        priority=arr(priority, 0, np.int64),
        weight=arr(weight, 1.0, float),
    )


def make_ctx(
    tech: str,
    table: TcontTable,
    *,
    fec: bool | None = None,
    cycle: int = 1,
    uses_reports: bool = True,
) -> DbaContext:
    p = get_profile(tech)
    n_onus = int(table.onu_index.max()) + 1
    return DbaContext(p, p.fec("upstream", fec), table, n_onus, cycle, uses_reports)


def make_reports(
    demand: Any,
    poll: Any = None,
    *,
    idle: Any = None,
    granted_last: Any = None,
    age_ps: Any = None,
    frame: int = 0,
) -> Reports:
    d = np.asarray(demand, dtype=np.int64)
    n = len(d)

    def arr(v: Any, default: int) -> Any:
        return np.full(n, default, dtype=np.int64) if v is None else np.asarray(v, dtype=np.int64)

    mask = np.zeros(n, dtype=bool) if poll is None else np.asarray(poll, dtype=bool)
    return Reports(
        report_bytes=d.copy(),
        report_age_ps=arr(age_ps, -1),
        granted_since_bytes=np.zeros(n, dtype=np.int64),
        demand_bytes=d.copy(),
        idle_bytes=arr(idle, 0),
        granted_last_bytes=arr(granted_last, 0),
        poll_mask=mask,
        frame=frame,
    )


def check_grants(ctx: DbaContext, name: str, grants: Any, poll: Any, uses_reports: bool) -> Any:
    """The invariants every DBA of the suite must keep; returns the per-frame grant rows.

    Exact: int64, ≥ 0, whole grant units, Σ ≤ payload capacity of the allocated set,
    ≤ 512 allocation structures, and the BWmap builder accepts every frame of the cycle.
    """
    n, unit = ctx.tconts.count, ctx.grant_unit_bytes
    g = np.asarray(grants)
    assert g.dtype == np.int64, g.dtype
    assert g.shape in ((n,), (ctx.cycle_frames, n)), g.shape
    assert np.all(g >= 0)
    assert np.all(g % unit == 0), "grants must be whole grant units"
    poll = np.asarray(poll, dtype=bool)
    builder = BwmapBuilder(ctx.profile, ctx.fec, ctx.tconts, name)
    rows = builder.check_grants(0, g, ctx.cycle_frames)
    for k, row in enumerate(rows):
        allocated = (row > 0) | poll
        assert int(row.sum()) <= ctx.payload_capacity(allocated), "over capacity"
        assert int(np.count_nonzero(allocated)) <= ctx.profile.max_allocations_per_frame
        dbru = allocated if uses_reports else np.zeros(n, dtype=bool)
        bw = builder.build(k, row, dbru)  # raises DbaError on any broken rule
        assert bw.used_line_bytes <= ctx.frame_line_bytes
    return rows


RATES_BPS = (64e3, 1e6, 10e6, 50e6, 200e6, 1e9)


@st.composite
def tcont_tables(draw: st.DrawFn, max_onus: int = 24) -> tuple[str, TcontTable, int, bool | None]:
    """A random PON: technology, mixed T-CONT types 1-5 with valid rates (the sum of
    guarantees may exceed the line: admission control is not the DBA's job, surviving a
    broken one is), cycle length and FEC."""
    tech = draw(st.sampled_from(TECHNOLOGIES))
    line = float(get_profile(tech).upstream_bps)
    onus = draw(st.integers(1, max_onus))
    per_onu = draw(st.integers(1, 3))
    n = onus * per_onu
    types, fixed, assured, maximum = [], [], [], []
    prio = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    weight = draw(st.lists(st.sampled_from([0.5, 1.0, 3.0]), min_size=n, max_size=n))
    for _ in range(n):
        t = draw(st.integers(1, 5))
        f = a = m = 0.0
        r = min(draw(st.sampled_from(RATES_BPS)), line / 2)
        if t == 1:
            f = r
        elif t == 2:
            a = r
            m = draw(st.sampled_from([0.0, a]))
        elif t == 3:
            a = r
            m = min(a * draw(st.sampled_from([1.0, 2.0, 10.0])), line)
        elif t == 4:
            m = draw(st.sampled_from([*RATES_BPS, line]))
        else:
            f, a = r / 2, r / 2
            m = min(draw(st.sampled_from([r, 3 * r, line])), line)
        types.append(t)
        fixed.append(f)
        assured.append(a)
        maximum.append(m)
    table = make_table(tech, onus, per_onu, types, fixed, assured, maximum, prio, weight)
    cycle = draw(st.sampled_from([1, 1, 2, 3]))
    fec = draw(st.sampled_from([None, True, False]))
    return tech, table, cycle, fec


@st.composite
def report_rounds(
    draw: st.DrawFn, n: int, frame_bytes: int, rounds: int
) -> list[tuple[Any, Any, Any, Any, Any]]:
    """``rounds`` successive (demand, poll, idle, granted_last, age) report views."""
    out = []
    for _ in range(rounds):
        demand = draw(
            st.lists(
                st.sampled_from([0, 0, 1, 47, 1518, 20_000, 3 * frame_bytes]),
                min_size=n,
                max_size=n,
            )
        )
        poll = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        granted = draw(st.lists(st.sampled_from([0, 16, 1520, 9000]), min_size=n, max_size=n))
        idle = [draw(st.integers(0, g)) for g in granted]
        age = draw(
            st.lists(st.sampled_from([-1, 0, 125_000_000, 250_000_000]), min_size=n, max_size=n)
        )
        out.append((demand, poll, idle, granted, age))
    return out


def run_random_rounds(
    dba_name: str, params: dict[str, Any], data: st.DataObject, rounds: int = 6
) -> None:
    """Draw a random PON and several rounds of reports; check every allocation."""
    tech, table, cycle, fec = data.draw(tcont_tables())
    cls = get_dba(dba_name)
    ctx = make_ctx(tech, table, fec=fec, cycle=cycle, uses_reports=bool(cls.uses_reports))
    dba = cls(ctx, params)
    for k, (demand, poll, idle, granted, age) in enumerate(
        data.draw(report_rounds(table.count, ctx.frame_line_bytes, rounds))
    ):
        rep = make_reports(
            demand, poll, idle=idle, granted_last=granted, age_ps=age, frame=k * cycle
        )
        g = dba.allocate(k * cycle * ctx.frame_ps, rep)
        check_grants(ctx, dba_name, g, poll, bool(cls.uses_reports))


def backlogged_totals(dba: Any, ctx: DbaContext, frames: int) -> Any:
    """Bytes granted per T-CONT over ``frames`` frames with every queue full."""
    n, cycle = ctx.tconts.count, ctx.cycle_frames
    total = np.zeros(n, dtype=np.int64)
    for k in range(0, frames, cycle):
        rep = make_reports(np.full(n, 10**9), frame=k)
        g = np.asarray(dba.allocate(k * ctx.frame_ps, rep))
        total += g * cycle if g.ndim == 1 else g.sum(axis=0)
    return total


# --------------------------------------------------------------------------- engine helpers
def load_rate_bps(tech: str, onus: int, load: float) -> float:
    """Per-T-CONT Poisson rate making ``load`` × the analytic upstream goodput (trimodal)."""
    capacity = saturation_goodput_bps(get_profile(tech), "upstream", onus, 524)
    return load * capacity / onus


def with_tconts(spec: EmulationSpec, table: TcontTable) -> EmulationSpec:
    """``spec`` with another T-CONT table (same count), queue types kept in step."""
    assert table.count == spec.tconts.count
    for q, t in zip(spec.upstream, table.tcont_type.tolist(), strict=True):
        q.tcont_type = int(t)
    return dataclasses.replace(spec, tconts=table)


def assert_ledger(run: RawRun) -> None:
    """offered = delivered + queued + dropped, per queue, exactly; and something moved."""
    for direction in ("upstream", "downstream"):
        c = getattr(run, direction).counters
        np.testing.assert_array_equal(
            c["offered_bytes"], c["delivered_bytes"] + c["queued_bytes"] + c["dropped_bytes"]
        )
    assert int(run.upstream.counters["delivered_bytes"].sum()) > 0


def throughput_ratio(run: RawRun) -> float:
    up = run.upstream
    return float(up.window_delivered_bytes.sum()) / float(up.window_offered_bytes.sum())


def engine_half_load(dba: str, params: dict[str, Any] | None = None) -> RawRun:
    """XG-PON, 8 ONUs, trimodal Poisson at 50 % of the goodput, 90 ms (720 frames)."""
    spec = make_spec(
        "xg-pon",
        onus=8,
        frames=720,
        up=("poisson", {"rate_bps": load_rate_bps("xg-pon", 8, 0.5), "sizes": "trimodal"}),
        down=None,
        dba=dba,
        dba_params=params,
        record=False,
        warmup_frames=72,
        seed=11,
    )
    return run_spec(spec, "fast")


def mixed_table(tech: str, onus: int) -> TcontTable:
    """Two T-CONTs per ONU cycling through types 1-5 with rates that fit the line."""
    line = float(get_profile(tech).upstream_bps)
    n = 2 * onus
    types = [(1, 2, 3, 4, 5)[j % 5] for j in range(n)]
    g = 0.6 * line / n  # Σ guarantees ≈ 0.6 × line
    fixed = [g if t == 1 else g / 2 if t == 5 else 0.0 for t in types]
    assured = [g if t in (2, 3) else g / 2 if t == 5 else 0.0 for t in types]
    maximum = [0.0 if t in (1, 2) else 0.5 * line for t in types]
    return make_table(tech, onus, 2, types, fixed, assured, maximum, [j % 2 for j in range(n)])


def engine_pair(
    dba: str, params: dict[str, Any] | None = None, tech: str = "xg-pon", load: float = 0.7
) -> tuple[RawRun, RawRun]:
    """Fast (stepped) and reference runs of one small mixed-type scenario."""

    def spec() -> EmulationSpec:
        s = make_spec(
            tech,
            onus=3,
            tconts_per_onu=2,
            frames=80,
            up=("poisson", {"rate_bps": load_rate_bps(tech, 6, load), "sizes": "trimodal"}),
            down=("poisson", {"rate_bps": 100e6, "sizes": "trimodal"}),
            dba=dba,
            dba_params=params,
            buffer_bytes=40_000,
            seed=5,
        )
        return with_tconts(s, mixed_table(tech, 3))

    return run_spec(spec(), "fast"), run_spec(spec(), "reference")


def assert_same_departures(fast: RawRun, ref: RawRun) -> None:
    """Identical per-packet departures and ledgers (tolerance: none)."""
    assert fast.engine == "fast" and ref.engine == "reference"
    assert not fast.backend.endswith("-compiled-loop"), "plugin DBAs run in the stepped engine"
    for direction in ("upstream", "downstream"):
        f, r = getattr(fast, direction), getattr(ref, direction)
        for name, a, b in zip(
            ("queue", "arrival", "size", "departure"), f.packets(), r.packets(), strict=True
        ):
            np.testing.assert_array_equal(a, b, err_msg=f"{direction} {name}")
        for key in COUNTER_KEYS:
            np.testing.assert_array_equal(f.counters[key], r.counters[key], err_msg=key)
        np.testing.assert_array_equal(f.granted_bytes, r.granted_bytes)
    assert len(fast.upstream.packets()[0]) > 100


def assert_rejects(dba: str, ctx: DbaContext, params: dict[str, Any], key: str) -> InputError:
    with pytest.raises(InputError) as exc:
        get_dba(dba)(ctx, params)
    assert exc.value.where == f"dba.params.{key}"
    return exc.value


Allocator = Callable[[Reports], Any]


# ============================================================================ water-filling
@settings(max_examples=200, deadline=None)
@given(
    request_=st.lists(st.floats(0, 1e5), min_size=1, max_size=40),
    data=st.data(),
)
def test_water_fill_is_weighted_max_min(request_: list[float], data: st.DataObject) -> None:
    n = len(request_)
    weight = np.array(
        data.draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 7.0]), min_size=n, max_size=n))
    )
    req = np.array(request_)
    capacity = data.draw(st.floats(0, 1.2 * float(req.sum()) + 1))
    x = water_fill(req, weight, capacity)
    tol = 1e-9 * max(1.0, float(req.sum()))
    assert np.all(x >= -tol) and np.all(x <= req + tol)
    assert abs(float(x.sum()) - min(capacity, float(req.sum()))) <= 1e-6 * max(1.0, capacity)
    # Max-min: nobody left short has a lower weighted level than anybody else.
    short = x < req - tol
    if np.any(short):
        levels = x / weight
        assert float(levels[short].min()) >= float(levels.max()) - 1e-6 * max(
            1.0, float(levels.max())
        )


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_prefix_capacity_matches_payload_capacity(data: st.DataObject) -> None:
    # The vectorised prefix capacities must equal DbaContext.payload_capacity exactly.
    tech, table, cycle, fec = data.draw(tcont_tables(max_onus=40))
    ctx = make_ctx(tech, table, fec=fec, cycle=cycle, uses_reports=data.draw(st.booleans()))
    n = table.count
    allocated = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    order = np.array(data.draw(st.permutations(range(n))), dtype=np.int64)
    got = prefix_capacity_units(ctx, allocated, order)
    for i in range(n):
        mask = allocated.copy()
        mask[order[: i + 1]] = True
        assert got[i] == ctx.payload_capacity(mask) // ctx.grant_unit_bytes, i


def test_prefix_capacity_stops_at_the_allocation_limit() -> None:
    ctx = make_ctx("xgs-pon", make_table("xgs-pon", 300, 2))
    got = prefix_capacity_units(ctx, np.zeros(600, dtype=bool), np.arange(600))
    assert np.all(got[:512] > 0) and np.all(got[512:] == 0)


@settings(max_examples=200, deadline=None)
@given(request_=st.lists(st.integers(0, 5000), min_size=1, max_size=40), data=st.data())
def test_integer_fill_within_one_unit(request_: list[int], data: st.DataObject) -> None:
    n = len(request_)
    weight = np.array(data.draw(st.lists(st.sampled_from([0.5, 1.0, 3.0]), min_size=n, max_size=n)))
    req = np.array(request_, dtype=np.int64)
    capacity = data.draw(st.integers(0, int(req.sum()) + 10))
    got = integer_fill(req, weight, capacity)
    ideal = water_fill(req, weight, float(capacity))
    assert got.dtype == np.int64
    assert np.all((got >= 0) & (got <= req))
    assert int(got.sum()) == min(capacity, int(req.sum()))  # no unit left on the table
    assert np.all(np.abs(got - ideal) < 1 + 1e-9)


def test_water_fill_numbers() -> None:
    # 10 units over demands 2, 8, 8 with equal weights: 2, 4, 4.
    np.testing.assert_allclose(water_fill([2, 8, 8], [1, 1, 1], 10), [2, 4, 4])
    # Weights 1:2 over two large demands: 10 → 3⅓, 6⅔.
    np.testing.assert_allclose(water_fill([100, 100], [1, 2], 10), [10 / 3, 20 / 3])
    # Zero weight or zero demand: nothing.
    np.testing.assert_allclose(water_fill([5, 5], [0, 1], 10), [0, 5])


def test_rate_limiter_holds_average_rate() -> None:
    lim = RateLimiter(np.array([15.625, 1000.0, 0.0]), cycle_frames=1, unit=16)
    total = np.zeros(3, dtype=np.int64)
    for _ in range(800):
        a = lim.allowance()
        lim.charge(a)
        total += a * 16
    # 800 frames: 12,500 B and 800,000 B exactly in the long run, minus at most one unit.
    assert 12_500 - 16 <= total[0] <= 12_500
    assert 800_000 - 16 <= total[1] <= 800_000
    assert total[2] == 0


# ============================================================================ max-min DBA
def test_registered_with_summary() -> None:
    assert get_dba("max-min") is MaxMinDba and MaxMinDba.summary


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_demands_that_fit_are_granted_in_full(tech: str) -> None:
    ctx = make_ctx(tech, make_table(tech, 4))
    unit = ctx.grant_unit_bytes
    demand = np.array([100, 0, 1518, 7])
    g = MaxMinDba(ctx, {}).allocate(0, make_reports(demand))
    np.testing.assert_array_equal(g, -(-demand // unit) * unit)


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_water_fills_the_frame(tech: str) -> None:
    ctx = make_ctx(tech, make_table(tech, 3))
    unit = ctx.grant_unit_bytes
    small = 40 * unit
    g = MaxMinDba(ctx, {}).allocate(0, make_reports([small, 10**7, 10**7]))
    cap_units = ctx.payload_capacity(np.ones(3, dtype=bool)) // unit
    assert g[0] == small  # below the fair level: served in full
    half = (cap_units - small // unit) / 2  # the two big ones split the rest equally
    assert abs(g[1] / unit - half) < 1 and abs(g[2] / unit - half) < 1
    assert int(g.sum()) // unit == cap_units  # nothing left on the table


def test_weights_split_surplus() -> None:
    table = make_table("xgs-pon", 3, weight=[1.0, 2.0, 3.0])
    ctx = make_ctx("xgs-pon", table)
    g = MaxMinDba(ctx, {}).allocate(0, make_reports([10**8] * 3))
    units = g // ctx.grant_unit_bytes
    ideal = units.sum() * np.array([1, 2, 3]) / 6
    assert np.all(np.abs(units - ideal) < 1), (units, ideal)


def test_guarantees_come_before_fair_shares() -> None:
    tech = "xg-pon"
    line = get_profile(tech).upstream_bps
    # T-CONT 0: type 2 with R_A = 40 % of the line; 1, 2: best effort.  All backlogged.
    table = make_table(
        tech, 3, types=[2, 4, 4], assured_bps=[0.4 * line, 0, 0], max_bps=[0.4 * line, line, line]
    )
    ctx = make_ctx(tech, table)
    g = MaxMinDba(ctx, {}).allocate(0, make_reports([10**8] * 3))
    unit = ctx.grant_unit_bytes
    assured = ctx.assured_bytes_per_frame[0]
    # An unweighted max-min would give each a third of the frame; the assured T-CONT gets
    # its R_A (rounded up to a unit: at most one unit more), the others share the rest.
    assert assured <= g[0] < assured + 2 * unit
    assert abs(int(g[1]) - int(g[2])) <= unit
    cap = ctx.payload_capacity(np.ones(3, dtype=bool))
    assert g[0] > cap / 3 + unit  # more than the unweighted fair share: R_A came first


def test_fixed_is_granted_without_demand_and_exactly_on_average() -> None:
    tech = "xgs-pon"
    table = make_table(tech, 2, types=[1, 4], fixed_bps=[1e6, 0], max_bps=[0, 1e9])
    ctx = make_ctx(tech, table)
    dba = MaxMinDba(ctx, {})
    total = 0
    for k in range(800):  # 100 ms
        g = dba.allocate(k * ctx.frame_ps, make_reports([0, 0], frame=k))
        total += int(g[0])
        assert g[1] == 0
    # 1 Mb/s for 100 ms = 12,500 bytes; the bucket may owe at most one 16-byte block.
    assert 12_500 - 16 <= total <= 12_500


def test_strict_priority() -> None:
    table = make_table("xg-pon", 3, priority=[1, 0, 1])
    ctx = make_ctx("xg-pon", table)
    g = MaxMinDba(ctx, {}).allocate(0, make_reports([10**8] * 3))
    cap = ctx.payload_capacity(np.ones(3, dtype=bool)) // 4 * 4
    assert g[1] == cap and g[0] == g[2] == 0  # priority 0 takes the whole frame
    g = MaxMinDba(ctx, {"strict_priority": False}).allocate(0, make_reports([10**8] * 3))
    assert max(g) - min(g) <= 4


@pytest.mark.parametrize("cycle", [1, 3])
def test_respects_max_bps_on_average(cycle: int) -> None:
    tech = "xg-pon"
    table = make_table(tech, 3, max_bps=[1e6, 50e6, 300e6])
    ctx = make_ctx(tech, table, cycle=cycle)
    frames = 240
    total = backlogged_totals(MaxMinDba(ctx, {}), ctx, frames)
    rm = ctx.max_bytes_per_frame
    slack = rm * cycle + ctx.grant_unit_bytes * cycle  # one banked cycle + one unit
    assert np.all(total <= rm * frames + slack), (total, rm * frames)
    assert np.all(total >= rm * frames - slack)  # and it is actually granted


@settings(max_examples=60, deadline=None)
@given(data=st.data(), strict=st.booleans())
def test_never_exceeds_capacity_and_builds(data: st.DataObject, strict: bool) -> None:
    run_random_rounds("max-min", {"strict_priority": strict}, data)


@pytest.mark.parametrize("name", ["max-min", "giant", "x-giant", "ebu", "tm-dba"])
def test_more_tconts_than_allocation_structures(name: str) -> None:
    # 640 busy T-CONTs (320 ONUs × 2) and 92 polls: at most 512 allocations, no DbaError.
    tech = "xgs-pon"
    table = make_table(tech, 320, 2, max_bps=50e6)
    cls = get_dba(name)
    ctx = make_ctx(tech, table, uses_reports=bool(cls.uses_reports))
    dba = cls(ctx, {})
    poll = np.zeros(640, dtype=bool)
    poll[::7] = bool(cls.uses_reports)
    for k in range(3):
        rep = make_reports(
            np.full(640, 10**6), poll, granted_last=np.full(640, 800), age_ps=np.zeros(640), frame=k
        )
        rows = check_grants(
            ctx, name, dba.allocate(k * ctx.frame_ps, rep), poll, bool(cls.uses_reports)
        )
        allocated = (rows[0] > 0) | poll
        n_alloc = int(np.count_nonzero(allocated))
        if "giant" not in name:  # sharing DBAs: every structure in use
            assert n_alloc == 512
        # (the GIANT family serves whole ABs in timer order: fewer, larger grants)
        # The frame is full, to within one unit per allocation.
        unit = ctx.grant_unit_bytes
        assert int(rows[0].sum()) >= ctx.payload_capacity(allocated) - n_alloc * unit


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"bogus": 1}, "bogus"),
        ({"strict_priority": 1}, "strict_priority"),
        ({"strict_priority": "yes"}, "strict_priority"),
    ],
)
def test_rejects_bad_params(params: dict[str, Any], key: str) -> None:
    ctx = make_ctx("gpon", make_table("gpon", 2))
    err = assert_rejects("max-min", ctx, params, key)
    if key == "bogus":
        assert "strict_priority" in err.why


def test_read_params_ranges() -> None:
    spec = {"n": ("int", 3, 1, 64), "x": ("float", 0.5, 0.0, 1.0)}
    assert read_params("d", {}, spec) == {"n": 3, "x": 0.5}
    assert read_params("d", {"n": 4.0, "x": 1}, spec) == {"n": 4, "x": 1.0}
    for bad in ({"n": 0}, {"n": 65}, {"n": 2.5}, {"n": True}, {"x": float("nan")}, {"x": -0.1}):
        with pytest.raises(InputError) as exc:
            read_params("d", bad, spec)
        assert exc.value.where == f"dba.params.{next(iter(bad))}"
        assert "got" in exc.value.why


# ============================================================================ engine
def test_engine_half_load() -> None:
    run = engine_half_load("max-min")
    assert_ledger(run)
    assert abs(throughput_ratio(run) - 1) < 0.03


def test_fast_and_reference_identical() -> None:
    assert_same_departures(*engine_pair("max-min"))
