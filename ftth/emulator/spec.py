"""What one emulation run needs, in engine terms: the :class:`EmulationSpec`.

A :class:`~ftth.scenario.Scenario` is user-facing data; the spec is its resolved form —
profile, FEC codes, per-ONU propagation, the T-CONT table, every queue with its traffic
source factories, DBA settings — shared by both engines so they start from the same facts.
Tests may build specs by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ftth.emulator.control import ControlPlan
from ftth.phy import FecCode, Profile
from ftth.traffic import TrafficSource
from olt.dba.base import TcontTable

I64 = npt.NDArray[np.int64]
SourceFactory = Callable[[], TrafficSource]


@dataclass
class QueueSpec:
    """One FIFO queue: an upstream T-CONT or a downstream (ONU, class) queue."""

    onu_index: int
    name: str  #: T-CONT or class name (the traffic class in reports)
    priority: int
    buffer_bytes: int
    sources: list[SourceFactory] = field(default_factory=list)
    #: Frame size of an unbounded (greedy) source feeding the queue, 0 if none.
    greedy_size_bytes: int = 0
    tcont_type: int = 0  #: upstream only
    household: int = 0  #: household index (the ONU's first household by default)
    probe: bool = False  #: carries a speed-test probe (see ftth.emulator.build.Probes)
    #: Downstream only: the class's weight, which scales its DRR quantum at the OLT.
    weight: float = 1.0


@dataclass
class EmulationSpec:
    """Everything both engines need for one run (times in integer picoseconds)."""

    name: str
    profile: Profile
    us_fec: FecCode | None
    ds_fec: FecCode | None
    duration_ps: int
    warmup_ps: int
    seed: int
    onu_ids: list[int]
    one_way_ps: I64  #: per ONU index
    distance_km: list[float]
    teqd_ps: int
    tconts: TcontTable
    upstream: list[QueueSpec]  #: aligned with ``tconts``
    downstream: list[QueueSpec]
    dba_name: str
    dba_params: dict[str, Any]
    cycle_frames: int = 1
    report_latency_frames: int = 0
    dbru_every_frames: int = 1
    window_ps: int = 10_000_000_000
    split_ratio: int = 0
    tier_down_bps: float | None = None
    tier_up_bps: float | None = None
    households_per_onu: int = 1
    pass_ratio: float = 0.95
    record_packets: bool = False
    #: Downstream token bucket per ONU (rate, depth); None = no shaping.
    shaper_rate_bps: I64 | None = None
    shaper_depth_bytes: I64 | None = None
    #: Things the user should know before reading the results (e.g. overload).
    warnings: list[str] = field(default_factory=list)
    #: Write every delivered packet (direction, queue, arrival, departure, size, delay) here.
    trace_csv: str | None = None
    #: Receives every delivered packet instead of the ``trace_csv`` file (an object with
    #: :class:`ftth.metrics.PacketTrace`'s ``write`` and ``close``; ftth.capture's UNI sink).
    packet_sink: Any = None
    #: What the control plane decided (ftth.emulator.control); None = every ONU operates
    #: from t = 0 (the steady plan).
    control: ControlPlan | None = None

    @property
    def n_onus(self) -> int:
        return len(self.onu_ids)

    @property
    def n_frames(self) -> int:
        return -(-self.duration_ps // self.profile.frame_ps)


def merged_batch(sources: Sequence[TrafficSource], start_ps: int, end_ps: int) -> tuple[I64, I64]:
    """Packets of several sources feeding one queue, merged in arrival order.

    Ties keep source order (stable sort), so both engines see the same FIFO order.
    """
    if not sources:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    parts = [s.batch(start_ps, end_ps) for s in sources]
    if len(parts) == 1:
        return parts[0]
    arr = np.concatenate([p[0] for p in parts])
    size = np.concatenate([p[1] for p in parts])
    order = np.argsort(arr, kind="stable")
    return arr[order], size[order]
