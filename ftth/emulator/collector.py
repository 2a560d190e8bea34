"""Statistics both engines feed in the same way: delays, throughput, grants, the ledger.

The engines hand over departures in batches (queue, arrival, size, departure); the
collector turns them into per-queue delay histograms (after warm-up), bytes delivered in the
measuring window, and — when asked — a full per-packet record for engine-equivalence tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ftth.errors import InvariantError
from ftth.fold import W_BYTES, W_EARLY_BYTES, W_N, W_PACKETS, fold_departures, offered_in_window
from ftth.jit import ACCELERATED
from ftth.metrics import HistogramBank, PacketTrace
from ftth.units import PS_PER_MS
from ftth.verdict import DEFAULT_DELAY_BUDGET_MS

I64 = npt.NDArray[np.int64]

#: Departures buffered before statistics are updated (bounded memory, few numpy calls).
FLUSH_PACKETS = 200_000


@dataclass
class DirectionStats:
    """Per-queue statistics of one direction."""

    n_queues: int
    warmup_ps: int
    end_ps: int
    record_packets: bool = False
    trace: PacketTrace | None = None
    direction: str = "upstream"
    delays: HistogramBank = field(init=False)
    #: Per queue: bytes and packets whose last bit arrived in the measuring window
    #: (columns ``ftth.fold.W_*``).
    window_delivered: I64 = field(init=False)
    window_offered_bytes: I64 = field(init=False)
    #: Per queue: packets arriving inside the measuring window (the verdict's sufficiency).
    window_offered_packets: I64 = field(init=False)
    #: Per queue: bytes arriving before warm-up ends.  Minus the bytes received before it
    #: (:attr:`received_before_warmup_bytes`) it bounds the backlog at warm-up end from above
    #: (drops are not known by time); the verdict's backlog rule compares it with the end.
    arrived_before_warmup_bytes: I64 = field(init=False)
    #: Per queue: packets arriving in ``[warmup, judged_cutoff_ps)``, the cut-off one default
    #: delay budget before the end: the household rule's late-packet count (ftth.verdict).
    judged_arrivals: I64 = field(init=False)
    judged_cutoff_ps: int = field(init=False)
    granted_bytes: I64 = field(init=False)
    used_bytes: I64 = field(init=False)
    counters: dict[str, I64] = field(default_factory=dict)
    _packets: list[tuple[I64, I64, I64, I64]] = field(default_factory=list)
    _buffer: list[tuple[I64, I64, I64, I64]] = field(default_factory=list)
    _buffered: int = 0

    def __post_init__(self) -> None:
        n = self.n_queues
        self.delays = HistogramBank(n)
        self.window_delivered = np.zeros((n, W_N), dtype=np.int64)
        self.window_offered_bytes = np.zeros(n, dtype=np.int64)
        self.window_offered_packets = np.zeros(n, dtype=np.int64)
        self.arrived_before_warmup_bytes = np.zeros(n, dtype=np.int64)
        self.judged_arrivals = np.zeros(n, dtype=np.int64)
        self.judged_cutoff_ps = self.end_ps - round(DEFAULT_DELAY_BUDGET_MS * PS_PER_MS)
        self.granted_bytes = np.zeros(n, dtype=np.int64)
        self.used_bytes = np.zeros(n, dtype=np.int64)

    @property
    def window_delivered_bytes(self) -> I64:
        """Per queue: bytes whose last bit arrived inside the measuring window."""
        return self.window_delivered[:, W_BYTES]

    @property
    def received_before_warmup_bytes(self) -> I64:
        """Per queue: bytes whose last bit arrived before warm-up ended."""
        return self.window_delivered[:, W_EARLY_BYTES]

    @property
    def keeps_packets(self) -> bool:
        """Whether departures must be kept one by one (engine tests, trace file)."""
        return self.record_packets or self.trace is not None

    def departures(self, queue: I64, arrival_ps: I64, size_bytes: I64, depart_ps: I64) -> None:
        """Record completed packets (buffered; statistics are updated in large batches)."""
        if len(queue) == 0:
            return
        self._buffer.append((queue, arrival_ps, size_bytes, depart_ps))
        self._buffered += len(queue)
        if self._buffered >= FLUSH_PACKETS:
            self.flush()

    def flush(self) -> None:
        """Fold buffered departures into the statistics (call once more at the end of a run)."""
        if not self._buffer:
            return
        parts = self._buffer
        self._buffer = []
        self._buffered = 0
        if len(parts) == 1:
            queue, arrival_ps, size_bytes, depart_ps = parts[0]
        else:
            queue, arrival_ps, size_bytes, depart_ps = (
                np.concatenate([p[i] for p in parts]) for i in range(4)
            )
        self._fold(queue, arrival_ps, size_bytes, depart_ps)

    def _fold(self, queue: I64, arrival_ps: I64, size_bytes: I64, depart_ps: I64) -> None:
        """Delay statistics count packets arriving after warm-up; throughput counts bytes
        whose last bit is received inside the measuring window."""
        if self.record_packets:
            self._packets.append(
                (queue.copy(), arrival_ps.copy(), size_bytes.copy(), depart_ps.copy())
            )
        if self.trace is not None:
            self.trace.write(self.direction, queue, arrival_ps, depart_ps, size_bytes)
        if ACCELERATED:
            # One compiled pass; the same integers as the numpy code below.
            bank = self.delays
            bad = fold_departures(
                queue, arrival_ps, size_bytes, depart_ps, len(queue), self.warmup_ps,
                self.end_ps, bank.counts, bank.acc, self.window_delivered,
            )  # fmt: skip
            if bad >= 0:
                raise InvariantError("negative delay: a packet departed before it arrived")
            bank.settle()
            return
        measured = arrival_ps >= self.warmup_ps
        if np.all(measured):
            self.delays.add(queue, depart_ps - arrival_ps)
        elif np.any(measured):
            self.delays.add(queue[measured], (depart_ps - arrival_ps)[measured])
        in_window = (depart_ps >= self.warmup_ps) & (depart_ps < self.end_ps)
        if np.any(in_window):
            q = queue[in_window]
            self.window_delivered[:, W_BYTES] += np.bincount(
                q, weights=size_bytes[in_window], minlength=self.n_queues
            ).astype(np.int64)
            self.window_delivered[:, W_PACKETS] += np.bincount(q, minlength=self.n_queues)
        early = depart_ps < self.warmup_ps
        if np.any(early):
            self.window_delivered[:, W_EARLY_BYTES] += np.bincount(
                queue[early], weights=size_bytes[early], minlength=self.n_queues
            ).astype(np.int64)

    def offered(self, queue_index: int, arrival_ps: I64, size_bytes: I64) -> None:
        """Count generated packets arriving inside the measuring window."""
        sel = (arrival_ps >= self.warmup_ps) & (arrival_ps < self.end_ps)
        self.window_offered_bytes[queue_index] += int(size_bytes[sel].sum())
        self.window_offered_packets[queue_index] += int(np.count_nonzero(sel))
        judged = (arrival_ps >= self.warmup_ps) & (arrival_ps < self.judged_cutoff_ps)
        self.judged_arrivals[queue_index] += int(np.count_nonzero(judged))
        early = arrival_ps < self.warmup_ps
        self.arrived_before_warmup_bytes[queue_index] += int(size_bytes[early].sum())

    def offered_flat(self, arrival_ps: I64, size_bytes: I64, lengths: I64) -> None:
        """:meth:`offered` for every queue at once (packets given queue after queue,
        ``lengths[q]`` of them for queue ``q``)."""
        self._count_flat(arrival_ps, size_bytes, lengths)
        if ACCELERATED:
            offered_in_window(
                arrival_ps, size_bytes, lengths, self.warmup_ps, self.end_ps,
                self.window_offered_bytes,
            )  # fmt: skip
            return
        if not len(arrival_ps):
            return
        queue = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        sel = (arrival_ps >= self.warmup_ps) & (arrival_ps < self.end_ps)
        # float64 weights are exact: a window's bytes per queue stay far below 2**53.
        self.window_offered_bytes += np.bincount(
            queue[sel], weights=size_bytes[sel], minlength=self.n_queues
        ).astype(np.int64)

    def _count_flat(self, arrival_ps: I64, size_bytes: I64, lengths: I64) -> None:
        """Window packets and pre-warm-up bytes per queue (each queue's packets in order)."""
        if not len(arrival_ps):
            return
        bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        first, last = int(arrival_ps.min()), int(arrival_ps.max())
        for counts, stop in (
            (self.window_offered_packets, self.end_ps),
            (self.judged_arrivals, self.judged_cutoff_ps),
        ):
            if first >= self.warmup_ps and last < stop:
                counts += np.asarray(lengths, dtype=np.int64)
            elif last >= self.warmup_ps and first < stop:
                inside = np.zeros(len(arrival_ps) + 1, dtype=np.int64)
                np.cumsum((arrival_ps >= self.warmup_ps) & (arrival_ps < stop), out=inside[1:])
                counts += inside[bounds[1:]] - inside[bounds[:-1]]
        if first < self.warmup_ps:
            early = np.zeros(len(arrival_ps) + 1, dtype=np.int64)
            np.cumsum(np.where(arrival_ps < self.warmup_ps, size_bytes, 0), out=early[1:])
            self.arrived_before_warmup_bytes += early[bounds[1:]] - early[bounds[:-1]]

    def grants(self, queue: I64, granted_bytes: I64, used_bytes: I64) -> None:
        np.add.at(self.granted_bytes, queue, granted_bytes)
        np.add.at(self.used_bytes, queue, used_bytes)

    def packets(self) -> tuple[I64, I64, I64, I64]:
        """Every recorded departure, sorted by (queue, arrival, departure)."""
        if not self._packets:
            z = np.zeros(0, dtype=np.int64)
            return z, z, z, z
        q, a, s, d = (np.concatenate([p[i] for p in self._packets]) for i in range(4))
        order = np.lexsort((d, a, q))
        return q[order], a[order], s[order], d[order]


@dataclass
class RawRun:
    """What an engine returns: per-direction statistics plus run-level facts."""

    upstream: DirectionStats
    downstream: DirectionStats
    engine: str
    backend: str
    wall_s: float = 0.0
    frames: int = 0
    #: Upstream line bytes used by bursts, per frame (grant-utilisation timeline).
    us_used_line_bytes: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    us_payload_used_bytes: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: Downstream payload bytes sent in each frame (ITU engines; empty for EPON).
    ds_payload_used_bytes: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    allocations: int = 0
    #: Engine-specific facts (e.g. the EPON polling cycle), reported under their own key.
    extra: dict[str, Any] = field(default_factory=dict)
    #: The control plan as the run obeyed it, with its PM counters
    #: (:class:`ftth.emulator.dataplane.DataPlane`); ``None`` for engines without one.
    dataplane: Any = None
