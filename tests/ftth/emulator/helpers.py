"""Shared pieces of the engine tests: hand-built emulation specs (no scenario file needed)
and the engine-equivalence checks (the fast engine's paths against the reference engine)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from ftth.emulator import RawRun
from ftth.emulator import fast as fast_engine
from ftth.emulator import reference as reference_engine
from ftth.emulator.spec import EmulationSpec, QueueSpec
from ftth.engines import FAST
from ftth.jit import ACCELERATED
from ftth.phy import get_profile
from ftth.topology import default_teqd_ps
from ftth.traffic import make_source
from ftth.units import FRAME_PS, km_to_one_way_ps
from olt.dba.base import TcontTable


def source(model: str, params: Mapping[str, Any], seed: int, line_rate_bps: float) -> Any:
    def make() -> Any:
        rng = np.random.default_rng(seed)
        return make_source(model, dict(params), rng, line_rate_bps=line_rate_bps)

    return make


def make_spec(
    technology: str = "xgs-pon",
    onus: int = 4,
    frames: int = 80,
    up: tuple[str, Mapping[str, Any]] | None = (
        "poisson",
        {"rate_bps": 200e6, "sizes": "trimodal"},
    ),
    down: tuple[str, Mapping[str, Any]] | None = (
        "poisson",
        {"rate_bps": 200e6, "sizes": "trimodal"},
    ),
    dba: str = "proportional",
    dba_params: Mapping[str, Any] | None = None,
    buffer_bytes: int = 1_000_000,
    tconts_per_onu: int = 1,
    fec: bool | None = None,
    seed: int = 1,
    distance_km: tuple[float, float] = (1.0, 15.0),
    record: bool = True,
    cycle_frames: int = 1,
    dbru_every_frames: int = 1,
    max_bps: float | None = None,
    warmup_frames: int = 0,
) -> EmulationSpec:
    p = get_profile(technology)
    distances = list(np.linspace(distance_km[0], distance_km[1], onus))
    one_way = np.array([km_to_one_way_ps(d) for d in distances], dtype=np.int64)
    n_t = onus * tconts_per_onu
    onu_index = np.repeat(np.arange(onus), tconts_per_onu).astype(np.int64)
    m = p.upstream_bps if max_bps is None else max_bps
    table = TcontTable(
        onu_index=onu_index,
        alloc_id=(p.min_assignable_alloc_id + np.arange(n_t)).astype(np.int64),
        tcont_type=np.full(n_t, 4, dtype=np.int64),
        fixed_bps=np.zeros(n_t),
        assured_bps=np.zeros(n_t),
        max_bps=np.full(n_t, m, dtype=float),
        priority=np.zeros(n_t, dtype=np.int64),
        weight=np.ones(n_t),
    )
    upq = []
    for j in range(n_t):
        q = QueueSpec(
            onu_index=int(onu_index[j]),
            name=f"t{j % tconts_per_onu}",
            priority=0,
            buffer_bytes=buffer_bytes,
            tcont_type=4,
        )
        if up is not None:
            if up[0] == "greedy" and "rate_bps" not in up[1]:
                q.greedy_size_bytes = int(up[1].get("size_bytes", 1518))
            else:
                q.sources.append(source(up[0], up[1], seed * 1000 + j, p.upstream_bps))
        upq.append(q)
    downq = []
    for i in range(onus):
        q = QueueSpec(onu_index=i, name="internet", priority=0, buffer_bytes=buffer_bytes)
        if down is not None:
            if down[0] == "greedy" and "rate_bps" not in down[1]:
                q.greedy_size_bytes = int(down[1].get("size_bytes", 1518))
            else:
                q.sources.append(source(down[0], down[1], seed * 1000 + 500 + i, p.downstream_bps))
        downq.append(q)
    return EmulationSpec(
        name="test",
        profile=p,
        us_fec=p.fec("upstream", fec),
        ds_fec=p.fec("downstream", None if fec is False and p.ds_fec_mandatory else fec),
        duration_ps=frames * FRAME_PS,
        warmup_ps=warmup_frames * FRAME_PS,
        seed=seed,
        onu_ids=list(range(1, onus + 1)),
        one_way_ps=one_way,
        distance_km=distances,
        teqd_ps=default_teqd_ps(p),
        tconts=table,
        upstream=upq,
        downstream=downq,
        dba_name=dba,
        dba_params=dict(dba_params or {}),
        cycle_frames=cycle_frames,
        dbru_every_frames=dbru_every_frames,
        window_ps=10 * 10**9,
        record_packets=record,
    )


# --------------------------------------------------------------------------- equivalence
#: The fast engine's two code paths (see :func:`use_fast_variant`).
FAST_VARIANTS = ("compiled", "stepped")

COUNTER_KEYS = (
    "offered_bytes", "offered_packets", "delivered_bytes", "delivered_packets",
    "queued_bytes", "queued_packets", "dropped_bytes", "dropped_packets",
    "lost_bytes", "lost_packets",
)  # fmt: skip


class FragmentSpy:
    """Counts reference-engine services that ended with a packet partly sent (a cut fragment)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cuts = 0
        self.services = 0
        original = reference_engine.RefQueue.serve
        spy = self

        def serve(queue: reference_engine.RefQueue, room: int, cutoff_ps: int, *rest: Any) -> Any:
            out = original(queue, room, cutoff_ps, *rest)
            spy.services += 1
            if queue.head_sent > 0:
                spy.cuts += 1
            return out

        monkeypatch.setattr(reference_engine.RefQueue, "serve", serve)


def assert_identical(
    fast: RawRun, ref: RawRun, names: tuple[str, str] = ("fast", "reference")
) -> None:
    """Two runs of one spec agree exactly: every packet (queue, arrival, size, departure, in
    integer ps), every per-queue ledger counter, grant and window total, and the upstream
    line use.  ``names`` label the two runs in the failure message."""
    for direction in ("upstream", "downstream"):
        f, r = getattr(fast, direction), getattr(ref, direction)
        fp, rp = f.packets(), r.packets()
        assert len(fp[0]) == len(rp[0]), (
            f"{direction}: {len(fp[0])} ({names[0]}) vs {len(rp[0])} ({names[1]}) packets"
        )
        for name, a, b in zip(("queue", "arrival_ps", "size", "departure_ps"), fp, rp, strict=True):
            assert a.dtype == np.int64 and b.dtype == np.int64
            if not np.array_equal(a, b):
                bad = np.flatnonzero(a != b)
                i = int(bad[0])
                pytest.fail(
                    f"{direction} {name} differs at {len(bad)} of {len(a)} packets, first at "
                    f"packet {i} (queue {fp[0][i]}, arrival {fp[1][i]} ps): "
                    f"{names[0]} {a[i]} vs {names[1]} {b[i]}"
                )
        assert set(f.counters) == set(r.counters) == set(COUNTER_KEYS)
        for key in COUNTER_KEYS:
            np.testing.assert_array_equal(
                f.counters[key], r.counters[key], err_msg=f"{direction} {key}"
            )
        np.testing.assert_array_equal(
            f.granted_bytes, r.granted_bytes, err_msg=f"{direction} granted"
        )
        np.testing.assert_array_equal(f.used_bytes, r.used_bytes, err_msg=f"{direction} used")
        np.testing.assert_array_equal(f.window_delivered_bytes, r.window_delivered_bytes)
        np.testing.assert_array_equal(f.window_offered_bytes, r.window_offered_bytes)
    np.testing.assert_array_equal(fast.us_used_line_bytes, ref.us_used_line_bytes)
    np.testing.assert_array_equal(fast.us_payload_used_bytes, ref.us_payload_used_bytes)
    np.testing.assert_array_equal(fast.ds_payload_used_bytes, ref.ds_payload_used_bytes)
    if len(fast.ds_payload_used_bytes):  # the timeline adds up to what the queues sent
        assert int(fast.ds_payload_used_bytes.sum()) == int(fast.downstream.used_bytes.sum())
    assert fast.allocations == ref.allocations


def total(run: RawRun, direction: str, key: str) -> int:
    """A ledger counter summed over a direction's queues."""
    return int(getattr(run, direction).counters[key].sum())


def use_fast_variant(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Select the fast engine's path: the whole-frame compiled loop (numba, built-in DBAs)
    or the stepped per-frame loop (Python OLT + framing kernel)."""
    if variant == "compiled" and not ACCELERATED:
        pytest.skip("the compiled frame loop needs numba")
    monkeypatch.setattr(fast_engine, "FORCE_STEPPED", variant == "stepped")


def is_compiled_loop(run: RawRun) -> bool:
    """Whether a fast run went through the compiled frame loop."""
    return run.backend.endswith("-compiled-loop")


def assert_variant(run: RawRun, variant: str) -> None:
    """``run`` is a fast run that took the ``variant`` path."""
    assert run.engine == FAST
    assert is_compiled_loop(run) == (variant == "compiled"), run.backend
