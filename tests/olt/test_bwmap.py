"""BWmap construction rules (olt/bwmap.py): refusals and the layout of valid maps.

A DBA that breaks a rule must get a :class:`ftth.errors.DbaError` naming the DBA, the frame
and the rule; a valid map must satisfy every layout invariant below exactly (integer byte
positions, no tolerance).  The fuzz test feeds random grants (including negative, float,
oversized and misshapen ones): the builder must either return a map satisfying all
invariants or raise DbaError — nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ftth.errors import DbaError
from ftth.phy import Profile, burst_data_bytes, burst_line_bytes, get_profile, psbu_slot_bytes
from olt.bwmap import BwMap, BwmapBuilder
from olt.dba.base import Dba, Reports, TcontTable
from olt.dba.registry import _REGISTRY, register

TECHNOLOGIES = ("gpon", "xg-pon", "xgs-pon")
DBA = "test-dba"


def table(profile: Profile, onus: int, per_onu: int = 1) -> TcontTable:
    n = onus * per_onu
    return TcontTable(
        onu_index=np.repeat(np.arange(onus), per_onu).astype(np.int64),
        alloc_id=(profile.min_assignable_alloc_id + np.arange(n)).astype(np.int64),
        tcont_type=np.full(n, 4, dtype=np.int64),
        fixed_bps=np.zeros(n),
        assured_bps=np.zeros(n),
        max_bps=np.full(n, float(profile.upstream_bps)),
        priority=np.zeros(n, dtype=np.int64),
        weight=np.ones(n),
    )


def builder(tech: str, onus: int, per_onu: int = 1, fec: bool | None = None) -> BwmapBuilder:
    p = get_profile(tech)
    return BwmapBuilder(p, p.fec("upstream", fec), table(p, onus, per_onu), DBA)


def build(
    b: BwmapBuilder, grants: Any, frame: int = 7, dbru: Any = None, n_frames: int = 1
) -> BwMap:
    checked = b.check_grants(frame, grants, n_frames)
    mask = np.zeros(b.tconts.count, dtype=bool) if dbru is None else np.asarray(dbru, dtype=bool)
    return b.build(frame, checked[0], mask)


def assert_valid(b: BwmapBuilder, bw: BwMap, grants: np.ndarray, dbru: np.ndarray) -> None:
    """Every layout rule of a valid BWmap, recomputed independently of the builder."""
    p, unit = b.profile, b.profile.grant_unit_bytes
    n = bw.n_allocations
    # Exactly the T-CONTs with a grant or a DBRu request, in (ONU, T-CONT) order.
    expected = np.flatnonzero((grants > 0) | dbru)
    np.testing.assert_array_equal(np.sort(bw.tcont), expected)
    assert n <= p.max_allocations_per_frame
    if n == 0:
        assert bw.used_line_bytes == 0
        return
    np.testing.assert_array_equal(bw.onu, b.tconts.onu_index[bw.tcont])
    np.testing.assert_array_equal(bw.alloc_id, b.tconts.alloc_id[bw.tcont])
    assert np.all(np.diff(bw.onu) >= 0), "allocations not grouped by ONU"
    np.testing.assert_array_equal(bw.dbru, dbru[bw.tcont])
    dbru_b = np.where(bw.dbru, p.dbru_bytes, 0)
    # GrantSize: whole units, DBRu + payload, at least the payload asked for, < one unit more.
    alloc_bytes = bw.grant_units * unit
    np.testing.assert_array_equal(alloc_bytes, bw.room_bytes + dbru_b)
    assert np.all(bw.room_bytes >= grants[bw.tcont])
    assert np.all(alloc_bytes - (grants[bw.tcont] + dbru_b) < unit)
    assert np.all(bw.grant_units <= p.max_grant_units) and np.all(bw.grant_units >= 1)
    # StartTime: multiple of the grant unit, within range; burst starts unit-aligned.
    assert np.all(bw.line_start_bytes == bw.start_unit * unit)
    assert np.all(bw.burst_start_bytes % unit == 0)
    assert np.all(bw.start_unit <= p.max_start_units)
    assert np.all(bw.line_start_bytes - bw.burst_start_bytes == psbu_slot_bytes(p))
    # One burst per ONU; inside it allocations are contiguous after the TC header.
    onus, first = np.unique(bw.onu, return_index=True)
    bursts = []
    for onu, i0 in zip(onus, first, strict=True):
        sel = np.flatnonzero(bw.onu == onu)
        assert len(np.unique(bw.line_start_bytes[sel])) == 1
        begin = bw.data_start_bytes[sel] - dbru_b[sel]
        assert begin[0] == p.us_burst_header_bytes
        np.testing.assert_array_equal(begin[1:], begin[:-1] + alloc_bytes[sel][:-1])
        np.testing.assert_array_equal(bw.dbru_end_bytes[sel], bw.data_start_bytes[sel])
        data = int(alloc_bytes[sel].sum())
        protected = p.us_burst_header_bytes + data + p.us_burst_trailer_bytes
        coded = b.fec.line_bytes(protected) if b.fec else protected
        assert psbu_slot_bytes(p) + coded == burst_line_bytes(p, data, b.fec)
        start = int(bw.line_start_bytes[i0])
        bursts.append((int(bw.burst_start_bytes[i0]), start, start + coded))
    # Bursts in order, never overlapping, each preceded by a full guard + preamble + delimiter.
    for (_, _, end), (nxt_burst, nxt_line, _) in zip(bursts, bursts[1:], strict=False):
        assert nxt_burst >= end, "bursts overlap"
        assert nxt_line - end >= p.burst.total_bytes, "no guard between bursts"
    assert bursts[0][0] == 0
    assert bursts[-1][2] <= bw.used_line_bytes <= p.us_bytes_per_frame


def rule_of(exc: pytest.ExceptionInfo[DbaError], frame: int) -> str:
    e = exc.value
    assert e.dba == DBA and e.frame == frame
    assert f"'{DBA}'" in str(e) and f"frame {frame}" in str(e) and e.rule in str(e)
    return e.rule


# --------------------------------------------------------------------------- refusals
def test_too_many_allocations() -> None:
    # GPON bursts are small enough that 512 one-byte allocations (128 ONUs × 4) fit the frame.
    b = builder("gpon", onus=129, per_onu=4)
    grants = np.zeros(b.tconts.count, dtype=np.int64)
    grants[:512] = 1
    bw = build(b, grants)
    assert bw.n_allocations == 512
    assert_valid(b, bw, grants, np.zeros(len(grants), dtype=bool))
    grants[512] = 1
    with pytest.raises(DbaError) as exc:
        build(b, grants, frame=3)
    rule = rule_of(exc, 3)
    assert "513 allocation structures" in rule and "512" in rule
    # A DBRu-only (polled) allocation counts too.
    grants[512] = 0
    with pytest.raises(DbaError, match="513 allocation"):
        build(b, grants, dbru=np.arange(len(grants)) == 512)


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_grant_size_above_maximum(tech: str) -> None:
    b = builder(tech, onus=1, fec=False)
    p = b.profile
    grants = np.array([(p.max_grant_units + 1) * p.grant_unit_bytes])
    with pytest.raises(DbaError) as exc:
        build(b, grants, frame=11)
    rule = rule_of(exc, 11)
    assert "GrantSize" in rule and str(p.max_grant_units + 1) in rule
    assert str(int(b.tconts.alloc_id[0])) in rule
    # At the maximum itself the GrantSize rule holds (only the frame can still be too small).
    with pytest.raises(DbaError) as exc:
        build(b, grants - p.grant_unit_bytes, frame=11)
    assert "GrantSize" not in exc.value.rule and "upstream frame" in exc.value.rule


@pytest.mark.parametrize("tech", TECHNOLOGIES)
@pytest.mark.parametrize("fec", [False, True])
def test_frame_overflow_boundary(tech: str, fec: bool) -> None:
    """The largest single burst that fits is accepted; one grant unit more overflows."""
    b = builder(tech, onus=1, fec=fec)
    p = b.profile
    unit = p.grant_unit_bytes
    fit = (burst_data_bytes(p, p.us_bytes_per_frame, b.fec) // unit) * unit
    bw = build(b, np.array([fit]))
    assert_valid(b, bw, np.array([fit]), np.zeros(1, dtype=bool))
    with pytest.raises(DbaError) as exc:
        build(b, np.array([fit + unit]), frame=5)
    rule = rule_of(exc, 5)
    assert "upstream frame" in rule and str(p.us_bytes_per_frame) in rule


def test_frame_overflow_many_onus() -> None:
    b = builder("gpon", onus=2)
    with pytest.raises(DbaError) as exc:
        build(b, np.array([10_000, 10_000]), frame=2)
    assert "2 bursts" in rule_of(exc, 2)


def test_negative_grant() -> None:
    b = builder("xgs-pon", onus=3)
    with pytest.raises(DbaError) as exc:
        build(b, np.array([16, -16, 0]), frame=9)
    rule = rule_of(exc, 9)
    assert "negative" in rule and "T-CONT 1" in rule and str(int(b.tconts.alloc_id[1])) in rule


@pytest.mark.parametrize(
    "grants",
    [np.zeros(4, dtype=np.int64), np.zeros(2, dtype=np.int64), np.zeros((2, 3), dtype=np.int64),
     np.zeros((1, 1, 3), dtype=np.int64), np.int64(5)],
    ids=["too-long", "too-short", "two-frames-for-one", "3d", "scalar"],
)  # fmt: skip
def test_wrong_shape(grants: np.ndarray) -> None:
    b = builder("xg-pon", onus=3)
    with pytest.raises(DbaError) as exc:
        build(b, grants, frame=4)
    rule = rule_of(exc, 4)
    assert "expected" in rule and "3" in rule


def test_per_frame_shape_for_multi_frame_cycle() -> None:
    b = builder("xg-pon", onus=3)
    checked = b.check_grants(0, np.array([[4, 8, 0], [0, 4, 4]]), 2)
    assert checked.shape == (2, 3) and checked.dtype == np.int64
    assert b.check_grants(0, np.array([4, 8, 0]), 2).shape == (2, 3)
    with pytest.raises(DbaError, match="shape"):
        b.check_grants(0, np.array([[4, 8, 0], [0, 4, 4]]), 3)


@pytest.mark.parametrize(
    "grants",
    [[1.5, 0.0], [np.nan, 0.0], [np.inf, 0.0], [True, False], ["1", "2"]],
    ids=["fraction", "nan", "inf", "bool", "str"],
)
def test_non_integer_grants(grants: list[Any]) -> None:
    b = builder("gpon", onus=2)
    with pytest.raises(DbaError) as exc:
        build(b, np.array(grants), frame=6)
    assert "whole bytes" in rule_of(exc, 6)


def test_integral_float_grants_are_accepted() -> None:
    b = builder("gpon", onus=2)
    checked = b.check_grants(0, np.array([100.0, 0.0]), 1)
    assert checked.dtype == np.int64 and checked.tolist() == [[100, 0]]


# --------------------------------------------------------------------------- valid maps
@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_valid_map_layout(tech: str) -> None:
    b = builder(tech, onus=5, per_onu=3)
    n = b.tconts.count
    grants = np.array([0, 100, 3, 1518, 0, 0, 7, 0, 64, 0, 0, 0, 999, 1, 2], dtype=np.int64)
    dbru = np.zeros(n, dtype=bool)
    dbru[[0, 4, 9, 12]] = True  # a polled-only T-CONT (0, 4, 9) and a granted one (12)
    bw = build(b, grants, dbru=dbru)
    assert bw.n_allocations == 11
    assert_valid(b, bw, grants, dbru)


def test_empty_map() -> None:
    b = builder("xgs-pon", onus=4)
    bw = build(b, np.zeros(4, dtype=np.int64))
    assert bw.n_allocations == 0 and bw.used_line_bytes == 0


# --------------------------------------------------------------------------- fuzz
@st.composite
def raw_grants(draw: st.DrawFn, n: int, n_frames: int, frame_units: int, unit: int) -> Any:
    kind = draw(st.sampled_from(["ints"] * 6 + ["per-frame", "float", "shape", "negative"]))
    # Grants around a drawn fill level of the frame (0..150 %), so both sides of the overflow
    # edge are explored, plus small values.
    fill = draw(st.floats(0.0, 1.5))
    share = int(fill * frame_units * unit / max(1, n))
    top = max(1, 2 * share, 200)
    near = st.integers(share * 4 // 5, share * 6 // 5 + 1)
    ints = draw(st.sampled_from([near, st.one_of(st.integers(0, 200), near)]))
    if kind == "ints":
        return np.array(draw(st.lists(ints, min_size=n, max_size=n)), dtype=np.int64)
    if kind == "per-frame":
        rows = [draw(st.lists(ints, min_size=n, max_size=n)) for _ in range(n_frames)]
        return np.array(rows, dtype=np.int64)
    if kind == "float":
        floats = st.one_of(st.floats(0, top), st.integers(0, top).map(float), st.just(np.nan))
        return np.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype=np.float64)
    if kind == "shape":
        return np.zeros(draw(st.integers(0, 2 * n + 1)), dtype=np.int64)
    values = draw(st.lists(st.integers(-top, top), min_size=n, max_size=n))
    return np.array(values, dtype=np.int64)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_valid_map_or_dba_error(data: st.DataObject) -> None:
    tech = data.draw(st.sampled_from(TECHNOLOGIES))
    onus = data.draw(st.integers(1, 40))
    per_onu = data.draw(st.integers(1, 3))
    fec = data.draw(st.sampled_from([None, True, False]))
    n_frames = data.draw(st.integers(1, 3))
    b = builder(tech, onus, per_onu, fec)
    p, n = b.profile, b.tconts.count
    grants = data.draw(raw_grants(n, n_frames, p.us_units_per_frame, p.grant_unit_bytes))
    dbru = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    frame = data.draw(st.integers(0, 10**6))
    try:
        checked = b.check_grants(frame, grants, n_frames)
        assert checked.shape == (n_frames, n) and checked.dtype == np.int64
        for row in checked:
            bw = b.build(frame, row, dbru)
            assert_valid(b, bw, row, dbru)
        event("valid map")
    except DbaError as e:
        assert e.dba == DBA and e.frame == frame and e.rule
        event(f"DbaError: {e.rule.split()[1]}")


# --------------------------------------------------------------------------- through the OLT
@pytest.fixture
def bad_dba() -> Iterator[type[Dba]]:
    @register
    class Overflowing(Dba):
        name = "test-overflowing-dba"
        uses_reports = False

        def allocate(self, now_ps: int, reports: Reports) -> np.ndarray:
            grants = np.zeros(self.ctx.tconts.count, dtype=np.int64)
            if reports.frame >= 3:
                grants[:] = self.ctx.frame_line_bytes  # every T-CONT the whole frame
            return grants

    yield Overflowing
    _REGISTRY.pop(Overflowing.name, None)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_olt_reports_dba_error_with_name_and_frame(bad_dba: type[Dba], engine: str) -> None:
    """Raised inside the simpy frame clock, the DbaError must reach the caller intact
    (simpy re-creates it from its args: found broken at aef8aa6, fixed in e693afd)."""
    from ftth.emulator import run_spec
    from tests.ftth.emulator.helpers import make_spec

    spec = make_spec(technology="xgs-pon", onus=2, frames=8, dba=bad_dba.name, record=False)
    with pytest.raises(DbaError) as exc:
        run_spec(spec, engine)
    assert exc.value.dba == bad_dba.name and exc.value.frame == 3
    assert "GrantSize" in exc.value.rule


def test_olt_plan_frame_raises_dba_error(bad_dba: type[Dba]) -> None:
    """Outside simpy the OLT controller itself raises the proper DbaError at frame 3."""
    from ftth.emulator.common import make_olt_upstream
    from tests.ftth.emulator.helpers import make_spec

    olt = make_olt_upstream(make_spec(technology="xgs-pon", onus=2, frames=8, dba=bad_dba.name))
    for k in range(3):
        assert olt.plan_frame(k).bwmap.n_allocations == 0
    with pytest.raises(DbaError) as exc:
        olt.plan_frame(3)
    assert exc.value.dba == bad_dba.name and exc.value.frame == 3
    assert "GrantSize" in exc.value.rule


def test_dba_error_survives_pickle() -> None:
    """A sweep's process pool sends errors back pickled."""
    import pickle

    e = pickle.loads(pickle.dumps(DbaError(DBA, 3, "some rule")))
    assert (e.dba, e.frame, e.rule) == (DBA, 3, "some rule")


@pytest.mark.parametrize("path", ["compiled", "stepped", "reference"])
def test_every_engine_path_words_the_same_dba_error(path: str) -> None:
    """Static TDMA gives all 600 T-CONTs (200 ONUs × 3) an allocation every frame: more than
    512 allocation structures.  The compiled frame loop checks the rules in its own kernel;
    it must refuse exactly like the BWmap builder used by the other paths."""
    from ftth.emulator import run_spec
    from tests.ftth.emulator.helpers import make_spec, use_fast_variant

    kwargs = dict(technology="xgs-pon", onus=200, tconts_per_onu=3, frames=4, dba="static",
                  up=None, down=None, record=False)  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        if path != "reference":
            use_fast_variant(path, mp)
        with pytest.raises(DbaError) as exc:
            run_spec(make_spec(**kwargs), "reference" if path == "reference" else "fast")
    assert (exc.value.dba, exc.value.frame) == ("static", 0)
    assert exc.value.rule == "600 allocation structures, at most 512 per frame"
