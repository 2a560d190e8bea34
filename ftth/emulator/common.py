"""Pieces both engines share: the OLT's upstream controller and the downstream frame plan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftth.emulator.collector import DirectionStats
from ftth.emulator.spec import I64, EmulationSpec
from ftth.metrics import PacketTrace
from ftth.phy import (
    ETH_MAX_FRAME_BYTES,
    Profile,
    ds_overhead_bytes,
    ds_payload_bytes,
    encapsulated_bytes,
)
from olt.dba.base import DbaContext
from olt.dba.registry import get_dba
from olt.downstream import DrrScheduler, HouseholdShaper, weighted_quanta
from olt.upstream import OltUpstream


def make_olt_upstream(spec: EmulationSpec) -> OltUpstream:
    """Instantiate the scenario's DBA and the OLT upstream controller."""
    dba_cls = get_dba(spec.dba_name)
    ctx = DbaContext(
        spec.profile,
        spec.us_fec,
        spec.tconts,
        spec.n_onus,
        spec.cycle_frames,
        dbru_in_every_allocation=bool(dba_cls.uses_reports),
    )
    dba = dba_cls(ctx, spec.dba_params)
    return OltUpstream(
        spec.profile,
        spec.us_fec,
        spec.tconts,
        dba,
        ctx,
        spec.one_way_ps,
        spec.teqd_ps,
        spec.report_latency_frames * spec.profile.frame_ps,
        spec.dbru_every_frames,
        spec.duration_ps,
    )


def make_stats(spec: EmulationSpec) -> tuple[DirectionStats, DirectionStats]:
    """Statistics of both directions; one packet trace file shared by both if asked."""
    trace = PacketTrace(spec.trace_csv) if spec.trace_csv else None
    if spec.packet_sink is not None:
        trace = spec.packet_sink
    up = DirectionStats(
        len(spec.upstream), spec.warmup_ps, spec.duration_ps, spec.record_packets, trace, "upstream"
    )
    down = DirectionStats(
        len(spec.downstream),
        spec.warmup_ps,
        spec.duration_ps,
        spec.record_packets,
        trace,
        "downstream",
    )
    return up, down


@dataclass
class DownstreamPlan:
    """One downstream frame's payload layout (per served queue, in transmission order)."""

    queue: I64
    room_bytes: I64
    data_start_bytes: I64
    extra_ps: I64  #: propagation to the queue's ONU
    time_base_ps: int
    line_start_bytes: int


class DownstreamPlanner:
    """Shares each downstream frame among the OLT queues (:class:`olt.downstream.DrrScheduler`)."""

    def __init__(self, spec: EmulationSpec) -> None:
        self.spec = spec
        self.priority = np.array([q.priority for q in spec.downstream], dtype=np.int64)
        self.onu = np.array([q.onu_index for q in spec.downstream], dtype=np.int64)
        self.one_way_ps = spec.one_way_ps
        self.shaper = make_shaper(spec, self.onu, self.priority)
        self.drr = DrrScheduler(self.priority, drr_quanta_bytes(spec))

    def plan(self, frame: int, n_allocations: int, demand_bytes: I64) -> DownstreamPlan:
        p = self.spec.profile
        fec_on = self.spec.ds_fec is not None
        room = ds_payload_bytes(p, n_allocations, fec_on)
        if self.shaper is not None:
            self.shaper.refill()
            demand_bytes = self.shaper.cap(demand_bytes)
        order, share = self.drr.share(demand_bytes, room)
        start = ds_overhead_bytes(p, n_allocations) + np.cumsum(share) - share
        return DownstreamPlan(
            queue=order,
            room_bytes=share,
            data_start_bytes=start.astype(np.int64),
            extra_ps=self.one_way_ps[self.onu[order]].astype(np.int64),
            time_base_ps=frame * p.frame_ps,
            line_start_bytes=p.ds_sync_bytes,
        )


def drr_quantum_bytes(profile: Profile) -> int:
    """DRR base quantum: one encapsulated maximum-size (1518-byte) Ethernet frame."""
    return encapsulated_bytes(profile, ETH_MAX_FRAME_BYTES)


def drr_quanta_bytes(spec: EmulationSpec) -> I64:
    """Each downstream queue's DRR quantum: the base quantum scaled by its class's weight
    (:func:`olt.downstream.weighted_quanta`)."""
    return weighted_quanta(drr_quantum_bytes(spec.profile), [q.weight for q in spec.downstream])


def make_shaper(spec: EmulationSpec, queue_onu: I64, priority: I64) -> HouseholdShaper | None:
    """The per-ONU downstream token buckets of ``spec``, or None without shaping."""
    if spec.shaper_rate_bps is None or spec.shaper_depth_bytes is None or not len(queue_onu):
        return None
    slice_ps = spec.profile.frame_ps or 125_000_000
    return HouseholdShaper(
        spec.shaper_rate_bps, spec.shaper_depth_bytes, queue_onu, priority, slice_ps
    )


def fec_nk(spec_fec: object) -> tuple[int, int]:
    """(n, k) of a FEC code for the kernels; (0, 0) when FEC is off."""
    if spec_fec is None:
        return 0, 0
    return int(spec_fec.n), int(spec_fec.k)  # type: ignore[attr-defined]
