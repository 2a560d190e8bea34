"""Helpers the DBA test suites share (``test_max_min.py``, ``test_giant.py``,
``test_x_giant.py``, ``test_ebu.py``, ``test_tm_dba.py``): hand-made T-CONT tables, contexts and
reports, random report rounds, engine runs and the assertions on them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st

from ftth.emulator import EmulationSpec, RawRun, run_spec
from ftth.emulator import fast as fast_engine
from ftth.errors import InputError
from ftth.jit import ACCELERATED
from ftth.phy import get_profile, saturation_goodput_bps
from olt.bwmap import BwmapBuilder
from olt.dba import kernel as dk
from olt.dba.base import I64, B, DbaContext, KernelDba, Reports, TcontTable
from olt.dba.registry import get_dba
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

    fast = run_spec(spec(), "fast")
    # A kernel DBA runs in the compiled frame loop when numba is there; a plugin DBA with a
    # Python allocate in the stepped engine.
    kernel_dba = (
        ACCELERATED and not fast_engine.FORCE_STEPPED and issubclass(get_dba(dba), KernelDba)
    )
    assert fast.backend.endswith("-compiled-loop") == kernel_dba, fast.backend
    return fast, run_spec(spec(), "reference")


def assert_same_departures(fast: RawRun, ref: RawRun) -> None:
    """Identical per-packet departures and ledgers (tolerance: none)."""
    assert fast.engine == "fast" and ref.engine == "reference"
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


# --------------------------------------------------------------------------- oracles
def prefix_capacity_units(ctx: I64, onu_of: I64, allocated: B, order: I64) -> I64:
    """Test oracle for :func:`olt.dba.shares.serve_with_overhead` (which computes the same
    capacities on the way): the capacity in grant units when ``allocated`` and the first
    ``i + 1`` T-CONTs of ``order`` get allocations, for every ``i`` —
    :func:`olt.dba.kernel.payload_capacity` of each prefix (through the same
    :func:`olt.dba.kernel.capacity_for`).  0 where the prefix would exceed the frame's
    allocation structures."""
    m = order.shape[0]
    out = np.zeros(m, dtype=np.int64)
    if m == 0:
        return out
    unit = ctx[dk.C_UNIT]
    limit = ctx[dk.C_MAX_ALLOCS]
    seen = np.zeros(ctx[dk.C_N_ONUS], dtype=np.bool_)
    n_allocs, n_bursts = dk.count_allocations(allocated, onu_of, seen)
    # Each T-CONT of ``order`` is a new allocation structure unless already allocated; its
    # ONU a new burst the first time it appears, unless it was already transmitting.
    for i in range(m):
        j = order[i]
        if not allocated[j]:
            n_allocs += 1
        o = onu_of[j]
        if not seen[o]:
            seen[o] = True
            n_bursts += 1
        if n_allocs <= limit:
            out[i] = dk.capacity_for(n_allocs, n_bursts, ctx) // unit
    return out


def serve_in_order(request: I64, order: I64, capacity: int) -> I64:
    """Test oracle: serve ``request`` (units) in ``order`` until ``capacity`` runs out; the
    entry on the boundary gets what is left.  Returns the grants in the original positions."""
    out = np.zeros(request.shape[0], dtype=np.int64)
    if capacity <= 0:
        return out
    before = 0
    for i in range(order.shape[0]):
        j = order[i]
        g = capacity - before
        if g < 0:
            g = 0
        if g > request[j]:
            g = request[j]
        out[j] = g
        before += request[j]
    return out
