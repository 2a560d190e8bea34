"""``tm-dba``: traffic monitoring — grants sized from idle bytes, never from DBRu values.

Tolerances and why:

* grant sizes are computed here from the observed grant and idle bytes and rounded up to
  the grant unit (XG-PON: 4-byte words) — exact;
* floors and R_M caps go through token buckets: over K frames within one banked cycle plus
  one unit per frame (``test_max_min.py``);
* the engine-limitation test runs the same DBA with ``uses_reports = False``: the OLT then
  requests no DBRu, so no burst is ever reported and the grants stay at their floor — it
  asserts that exactly (no report seen) and that throughput collapses (< 50 % of offered).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.emulator import fast as fast_engine
from ftth.phy import get_profile
from olt.dba.registry import get_dba
from olt.dba.tm_dba import TmDba
from tests.olt.dba.helpers import (
    assert_ledger,
    assert_rejects,
    assert_same_departures,
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
FRAME_PS = 125_000_000


def words(n_bytes: float) -> int:
    return math.ceil(n_bytes / WORD) * WORD


def observed(granted: int, idle: int, frame: int, arrival_frame: int) -> Any:
    """A report view at ``frame`` whose latest burst (granted/idle) reached the OLT at
    ``arrival_frame``; demand fields deliberately absurd — TM-DBA must not read them."""
    return make_reports(
        [10**9],
        idle=[idle],
        granted_last=[granted],
        age_ps=[(frame - arrival_frame) * FRAME_PS],
        frame=frame,
    )


def test_registered_and_keeps_reports_on() -> None:
    assert get_dba("tm-dba") is TmDba and TmDba.summary
    # Engine limitation (see the module docstring): idle bytes arrive only with a DBRu.
    assert TmDba.uses_reports is True


def test_grows_when_full_and_shrinks_by_the_idle_bytes() -> None:
    ctx = make_ctx(TECH, make_table(TECH, 1))
    dba = TmDba(ctx, {})
    assert dba.allocate(0, make_reports([0]))[0] == 64  # the probe (min_grant_bytes)
    # The 64-byte grant came back full: 64 × 2 + 1536.
    g = dba.allocate(FRAME_PS, observed(64, 0, 1, 1))
    assert g[0] == words(64 * 2 + 1536)
    # The same burst seen again (no newer one arrived): no change — the next grant is
    # computed from the observed grant, never compounded on the current one.
    assert dba.allocate(2 * FRAME_PS, observed(64, 0, 2, 1))[0] == g[0]
    # A 1664-byte grant with 1000 idle bytes: 1664 − 0.5 × 1000.
    assert dba.allocate(3 * FRAME_PS, observed(1664, 1000, 3, 3))[0] == words(1664 - 500)
    # Idle below one minimum XGEM frame (16 B) still counts as full.
    assert dba.allocate(4 * FRAME_PS, observed(1164, 15, 4, 4))[0] == words(1164 * 2 + 1536)
    # Everything idle: back to the probe.
    assert dba.allocate(5 * FRAME_PS, observed(3864, 3864, 5, 5))[0] == words(3864 / 2)
    dba2 = TmDba(ctx, {"decrease_factor": 1.0})
    dba2.allocate(0, make_reports([0]))
    assert dba2.allocate(FRAME_PS, observed(3864, 3864, 1, 1))[0] == 64


def test_ignores_reported_queue_and_polls() -> None:
    ctx = make_ctx(TECH, make_table(TECH, 2))
    a, b = TmDba(ctx, {}), TmDba(ctx, {})
    for k in range(6):
        age = [0, 0]
        ra = make_reports([0, 10**9], idle=[0, 3], granted_last=[500, 0], age_ps=age, frame=k)
        rb = make_reports([10**9, 0], idle=[0, 3], granted_last=[500, 0], age_ps=age, frame=k)
        np.testing.assert_array_equal(a.allocate(k * FRAME_PS, ra), b.allocate(k * FRAME_PS, rb))
    # T-CONT 1 only ever had DBRu-only polls (no payload granted): still at its probe.
    assert a.grant_bytes[1] == 64


def test_floor_is_the_guarantee_and_cap_is_max_bps() -> None:
    table = make_table(TECH, 2, types=[2, 4], assured_bps=[20e6, 0], max_bps=[20e6, 100e6])
    ctx = make_ctx(TECH, table)
    dba = TmDba(ctx, {})
    totals = np.zeros(2, dtype=np.int64)
    frames = 200
    for k in range(frames):
        g = dba.allocate(k * FRAME_PS, make_reports([0, 0], frame=k))
        totals += g
        # Every grant comes back completely full: the estimate keeps growing.
        rep = make_reports([0, 0], idle=[0, 0], granted_last=g, age_ps=[0, 0], frame=k + 1)
        dba.observe((k + 1) * FRAME_PS, rep)
    per_frame = ctx.max_bytes_per_frame  # 312.5 B and 1562.5 B
    # One banked frame plus a word (the R_M bucket), and up to two frames of ramp-up from
    # the 64-byte probe to R_M (the first grant is the probe, the second already R_M).
    slack = per_frame + WORD + 2 * per_frame
    # Type 2: exactly its R_A (= R_M) on average; type 4: held at R_M.
    assert np.all(np.abs(totals - per_frame * frames) <= slack), totals
    # And when idle, the floor holds: type 2 keeps its assured rate, type 4 its probe.
    # (A 100-byte grant left all idle: 100 − 50 = 50 B, below both floors.)
    idle = make_reports([0, 0], idle=[100, 100], granted_last=[100, 100], age_ps=[0, 0])
    dba.observe((frames + 1) * FRAME_PS, idle)
    np.testing.assert_allclose(dba.grant_bytes, [20e6 * 125e-6 / 8, 64])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), factor=st.sampled_from([1.0, 2.0, 16.0]), add=st.sampled_from([0, 1536]))
def test_never_exceeds_capacity_and_builds(data: st.DataObject, factor: float, add: int) -> None:
    run_random_rounds("tm-dba", {"increase_factor": factor, "increase_bytes": add}, data)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"bogus": 1}, "bogus"),
        ({"increase_factor": 0.5}, "increase_factor"),
        ({"decrease_factor": 1.5}, "decrease_factor"),
        ({"min_grant_bytes": 0}, "min_grant_bytes"),
        ({"idle_threshold_bytes": -1}, "idle_threshold_bytes"),
        ({"increase_bytes": 1.5}, "increase_bytes"),
    ],
)
def test_rejects_bad_params(params: dict[str, Any], key: str) -> None:
    ctx = make_ctx("gpon", make_table("gpon", 2))
    err = assert_rejects("tm-dba", ctx, params, key)
    if key == "bogus":
        assert "min_grant_bytes" in err.why


def test_engine_half_load() -> None:
    run = engine_half_load("tm-dba")
    assert_ledger(run)
    assert abs(throughput_ratio(run) - 1) < 0.03


def test_engine_is_blind_without_dbru(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins the engine limitation: without DBRus the OLT never learns the idle bytes.
    (Stepped engine: the reports the kernel receives pass through Python there.)"""
    ages: list[int] = []
    seen: list[int] = []
    real = TmDba.allocate

    def spy(self: TmDba, now_ps: int, reports: Any) -> Any:
        ages.append(int(reports.report_age_ps.max()))
        seen.append(int(reports.granted_last_bytes.max()))
        return real(self, now_ps, reports)

    monkeypatch.setattr(fast_engine, "FORCE_STEPPED", True)
    monkeypatch.setattr(TmDba, "uses_reports", False)
    monkeypatch.setattr(TmDba, "allocate", spy)
    run = engine_half_load("tm-dba")
    assert ages and max(ages) == -1  # not a single burst reported
    assert max(seen) == 0  # so no grant was ever observed
    assert throughput_ratio(run) < 0.5  # 64-byte probes cannot carry 50 % load


def test_fast_and_reference_identical() -> None:
    assert_same_departures(*engine_pair("tm-dba"))
