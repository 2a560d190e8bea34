"""The data plane through faults (issue 12): engines obeying a ControlPlan.

Plans are built here by hand (the control plane has its own tests), so each rule is tested
alone.  Exact checks (integers, no tolerance): the ledger per queue, the fast engine against
the reference engine (every departure, every counter, every PM counter), and the lost bytes
against the traffic the sources offered, regenerated independently here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ftth.emulator import fast, reference
from ftth.emulator.collector import RawRun
from ftth.emulator.control import LINK_DOWN, POWER_OFF, ControlPlan, steady_plan
from ftth.emulator.dataplane import PM_CODEWORDS, PM_GEM_LOST, PM_UNCORRECTABLE, DataPlane
from ftth.emulator.result import assemble
from ftth.emulator.spec import EmulationSpec, merged_batch
from ftth.verdict import ledger_balanced
from tests.ftth.emulator.helpers import (
    FAST_VARIANTS,
    assert_variant,
    make_spec,
    use_fast_variant,
)

I64 = np.int64


def plan_with(
    spec: EmulationSpec,
    down: Sequence[tuple[int, int, int, int]] = (),
    margins: Sequence[float] | None = None,
    quiet: Sequence[tuple[int, int]] = (),
    corrupt: tuple[int, int] | None = None,
) -> ControlPlan:
    """A plan: ``down`` rows (onu, start frame, end frame, cause); operating elsewhere."""
    n, nf = spec.n_onus, spec.n_frames
    op: list[tuple[int, int, int]] = []
    for i in range(n):
        cuts = sorted((s, e) for o, s, e, _ in down if o == i)
        at = 0
        for s, e in cuts:
            if s > at:
                op.append((i, at, s))
            at = e
        if at < nf:
            op.append((i, at, nf))
    kw: dict[str, object] = {}
    if margins is not None:
        kw.update(
            margin_onu=np.arange(n, dtype=I64),
            margin_start_frame=np.zeros(n, dtype=I64),
            margin_end_frame=np.full(n, nf, dtype=I64),
            margin_db=np.asarray(margins, dtype=float),
        )
    if quiet:
        kw.update(
            quiet_frame=np.array([f for f, _ in quiet], dtype=I64),
            quiet_ps=np.array([q for _, q in quiet], dtype=I64),
        )
    if corrupt is not None:
        kw.update(
            corrupt_start_frame=np.array([corrupt[0]], dtype=I64),
            corrupt_end_frame=np.array([corrupt[1]], dtype=I64),
            corrupt_rogue_onu=np.array([0], dtype=I64),
        )
    rows = sorted(down)
    return ControlPlan(
        frame_ps=spec.profile.frame_ps,
        op_onu=np.array([r[0] for r in op], dtype=I64),
        op_start_frame=np.array([r[1] for r in op], dtype=I64),
        op_end_frame=np.array([r[2] for r in op], dtype=I64),
        down_onu=np.array([r[0] for r in rows], dtype=I64),
        down_start_frame=np.array([r[1] for r in rows], dtype=I64),
        down_end_frame=np.array([r[2] for r in rows], dtype=I64),
        down_cause=np.array([r[3] for r in rows], dtype=I64),
        activated_ps=np.zeros(n, dtype=I64),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(params=FAST_VARIANTS)
def variant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both paths of the fast engine (compiled loop, stepped)."""
    name = str(request.param)
    use_fast_variant(name, monkeypatch)
    return name


def run_both(spec: EmulationSpec, plan: ControlPlan, variant: str) -> tuple[RawRun, RawRun]:
    """Both engines on ``plan`` (the fast one on ``variant``'s path); they must agree
    exactly on everything."""
    f = fast.run_fast(spec, plan=plan)
    assert_variant(f, variant)
    r = reference.run_reference(spec, plan=plan)
    for d in ("upstream", "downstream"):
        a, b = getattr(f, d), getattr(r, d)
        assert set(a.counters) == set(b.counters)
        for key in a.counters:
            np.testing.assert_array_equal(a.counters[key], b.counters[key], err_msg=f"{d} {key}")
        for x, y in zip(a.packets(), b.packets(), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"{d} departures")
        assert ledger_balanced(a.counters), d
    np.testing.assert_array_equal(f.dataplane.pm, r.dataplane.pm)
    np.testing.assert_array_equal(f.us_used_line_bytes, r.us_used_line_bytes)
    return f, r


def offered_by_arrival(spec: EmulationSpec, upstream: bool, lo_ps: int, hi_ps: int) -> I64:
    """Per queue: bytes the sources offer with arrival in ``[lo, hi)`` (regenerated)."""
    queues = spec.upstream if upstream else spec.downstream
    out = np.zeros(len(queues), dtype=I64)
    for j, q in enumerate(queues):
        arr, size = merged_batch([make() for make in q.sources], 0, spec.duration_ps)
        out[j] = int(size[(arr >= lo_ps) & (arr < hi_ps)].sum())
    return out


def delivered_by_arrival(raw: RawRun, upstream: bool, n: int, lo_ps: int, hi_ps: int) -> I64:
    q, a, s, _ = (raw.upstream if upstream else raw.downstream).packets()
    sel = (a >= lo_ps) & (a < hi_ps)
    return np.bincount(q[sel], weights=s[sel], minlength=n).astype(I64)


def test_steady_plan_changes_nothing() -> None:
    spec = make_spec("xgs-pon", onus=3, frames=40)
    plan = steady_plan(spec.n_onus, spec.n_frames, spec.profile.frame_ps)
    assert not DataPlane(spec, plan).active
    # Healthy margins (no codeword can even need correcting) keep the steady path too.
    healthy = plan_with(spec, margins=[15.0] * spec.n_onus)
    assert not DataPlane(spec, healthy).active
    base = fast.run_fast(spec)
    for p in (plan, healthy):
        other = fast.run_fast(spec, plan=p)
        for d in ("upstream", "downstream"):
            for x, y in zip(getattr(base, d).packets(), getattr(other, d).packets(), strict=True):
                np.testing.assert_array_equal(x, y)
            for key, value in getattr(base, d).counters.items():
                np.testing.assert_array_equal(value, getattr(other, d).counters[key])
    assert int(base.upstream.counters["lost_bytes"].sum()) == 0


@pytest.mark.parametrize("technology", ["gpon", "xgs-pon"])
def test_feeder_cut_and_restore(technology: str, variant: str) -> None:
    """Feeder cut at 0.1 s, restore at 0.3 s (every ONU down, LINK_DOWN): the ledger is
    exact, nothing moves while the PON is down, and the lost bytes are the traffic offered
    to the down ONUs minus what their buffers held (delivered after the restore)."""
    frames = 4000  # 0.5 s
    rate = {"rate_bps": 20e6, "sizes": "trimodal"}
    spec = make_spec(
        technology, onus=3, frames=frames, up=("poisson", rate), down=("poisson", rate),
        buffer_bytes=60_000,
    )  # fmt: skip
    fp = spec.profile.frame_ps
    cut, restore = 800, 2400  # frames: 0.1 s and 0.3 s
    plan = plan_with(spec, down=[(i, cut, restore, LINK_DOWN) for i in range(spec.n_onus)])
    f, _ = run_both(spec, plan, variant)
    lo, hi = cut * fp, restore * fp
    for upstream, stats, queues in (
        (True, f.upstream, spec.upstream),
        (False, f.downstream, spec.downstream),
    ):
        offered = offered_by_arrival(spec, upstream, lo, hi)
        held = delivered_by_arrival(f, upstream, len(queues), lo, hi)
        lost = stats.counters["lost_bytes"]
        assert np.all(lost > 0)  # the outage overflowed every buffer
        np.testing.assert_array_equal(lost, offered - held)
        # No departure while the PON is down (after what was in flight at the cut).
        _, _, _, dep = stats.packets()
        slack = spec.teqd_ps + 2 * fp
        assert not np.any((dep > lo + slack) & (dep < hi))
    res = assemble(spec, f)
    assert res.data["conservation"]["balanced"]
    lost_total = int(
        f.upstream.counters["lost_bytes"].sum() + f.downstream.counters["lost_bytes"].sum()
    )
    assert sum(o["lost_bytes"] for o in res.data["control"]["onus"]) == lost_total
    assert sum(h["lost_bytes"] for h in res.data["households"]) == lost_total


def test_power_off_loses_the_buffer_and_the_arrivals(variant: str) -> None:
    spec = make_spec("xgs-pon", onus=3, frames=120, buffer_bytes=10_000_000)
    fp = spec.profile.frame_ps
    off, on = 40, 80
    plan = plan_with(spec, down=[(0, off, on, POWER_OFF)])
    f, _ = run_both(spec, plan, variant)
    up = f.upstream
    n = len(spec.upstream)
    offered = offered_by_arrival(spec, True, 0, on * fp)
    delivered = delivered_by_arrival(f, True, n, 0, on * fp)
    lost = up.counters["lost_bytes"]
    onu0 = np.array([q.onu_index == 0 for q in spec.upstream])
    # ONU 0: whatever arrived before it came back and was not delivered is lost.
    np.testing.assert_array_equal(lost[onu0], (offered - delivered)[onu0])
    assert np.all(lost[onu0] > offered_by_arrival(spec, True, off * fp, on * fp)[onu0])
    assert np.all(lost[~onu0] == 0)
    # Its downstream queues are kept (the OLT holds them): nothing lost with a big buffer.
    assert int(f.downstream.counters["lost_bytes"].sum()) == 0


def test_negative_margin_loses_packets_healthy_margin_none(variant: str) -> None:
    spec = make_spec("xgs-pon", onus=3, frames=120)
    plan = plan_with(spec, margins=[-1.0, 6.0, 6.0])
    f, _ = run_both(spec, plan, variant)
    pm = f.dataplane.pm
    for d in (0, 1):
        assert pm[0, d, PM_UNCORRECTABLE] > 0
        assert pm[0, d, PM_GEM_LOST] > 0
        assert np.all(pm[1:, d, PM_UNCORRECTABLE] == 0)
        assert np.all(pm[1:, d, PM_GEM_LOST] == 0)
        assert np.all(pm[:, d, PM_CODEWORDS] > 0)
    for stats, queues in ((f.upstream, spec.upstream), (f.downstream, spec.downstream)):
        onu = np.array([q.onu_index for q in queues])
        lost = stats.counters["lost_bytes"]
        assert int(lost[onu == 0].sum()) > 0
        assert int(lost[onu != 0].sum()) == 0
    res = assemble(spec, f)
    onus = res.data["control"]["onus"]
    assert onus[0]["pm"]["upstream"]["fec_uncorrectable_codewords"] > 0
    assert onus[1]["pm"]["downstream"]["fec_uncorrectable_codewords"] == 0


def test_no_fec_bit_errors_agree_between_engines(variant: str) -> None:
    spec = make_spec("gpon", onus=2, frames=80)
    plan = plan_with(spec, margins=[-3.0, 3.0])
    f, _ = run_both(spec, plan, variant)
    assert int(f.upstream.counters["lost_bytes"][0]) > 0
    assert int(f.upstream.counters["lost_bytes"][1]) == 0


def test_quiet_window_takes_upstream_capacity(variant: str) -> None:
    spec = make_spec("xgs-pon", onus=4, frames=60, up=("greedy", {"size_bytes": 1518}))
    p = spec.profile
    quiet_ps = 50_000_000  # 50 µs
    plan = plan_with(spec, quiet=[(10, quiet_ps), (30, quiet_ps)])
    f, _ = run_both(spec, plan, variant)
    unit = p.grant_unit_bytes
    line = -(-quiet_ps * p.us_bytes_per_frame // p.frame_ps)
    want = -(-line // unit) * unit
    assert f.dataplane.quiet_line_bytes == 2 * want
    base = fast.run_fast(spec)
    # A saturated upstream loses (about) the quiet share in those frames.
    for k in (10, 30):
        assert f.us_used_line_bytes[k] <= p.us_bytes_per_frame - want
        assert base.us_used_line_bytes[k] > p.us_bytes_per_frame - want
    assert assemble(spec, f).data["control"]["us_quiet_line_bytes"] == 2 * want


def test_corrupted_bursts_lose_their_frames(variant: str) -> None:
    spec = make_spec("xgs-pon", onus=3, frames=80)
    fp = spec.profile.frame_ps
    c0, c1 = 30, 34
    plan = plan_with(spec, corrupt=(c0, c1))
    f, _ = run_both(spec, plan, variant)
    assert int(f.upstream.counters["lost_bytes"].sum()) > 0
    assert int(f.downstream.counters["lost_bytes"].sum()) == 0
    # No upstream packet is received from a corrupted frame.
    _, _, _, dep = f.upstream.packets()
    lo, hi = c0 * fp + spec.teqd_ps, c1 * fp + spec.teqd_ps
    assert not np.any((dep > lo) & (dep <= hi))
    assert np.all(f.dataplane.pm[:, 0, PM_UNCORRECTABLE] > 0)
