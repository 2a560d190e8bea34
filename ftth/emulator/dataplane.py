"""The control plan as the data plane obeys it (issue 12; docs/faults.md).

:class:`DataPlane` turns a :class:`~ftth.emulator.control.ControlPlan` into what every ITU
engine consults frame by frame — which ONUs operate, the quiet window, whether bursts are
corrupted, each ONU's bit-error thresholds — and keeps the per-ONU performance-monitoring
counters.  The rules themselves live below it: the OLT masks (``olt.upstream``), the quiet
window layout (``olt.bwmap.lay_out_quiet``), admission through down spans, power-off and
codeword losses (``onu.fifo``), codeword sampling (``ftth.biterrors``).

Semantics (shared by the reference and fast engines):

* ONU ``i`` operates in frame ``k`` when a row of the plan's operating spans covers ``k``;
  otherwise its T-CONTs get no allocation nor poll and its downstream queues are not served.
* Arrivals of a queue are classified by their arrival time against the ONU's down spans
  ``[start·frame, end·frame)``: inside a POWER_OFF span (upstream queues) they are lost;
  inside any down span a tail drop is a loss; before a NOT_YET_JOINED span ends nothing is
  offered (the packets are not generated for the run).
* A POWER_OFF span starting at frame ``s`` empties the ONU's upstream queues at
  ``s·frame + Teqd`` (after its last granted burst left): their content is lost.
* Frame ``k`` with a quiet window of ``q`` ps starts its first burst after
  ``ceil(q · bytes_per_frame / frame_ps)`` line bytes rounded up to the grant unit.
* Every upstream burst of a corrupted frame loses all its codewords (its DBRu included).
* Codewords fail from the optical margin (:mod:`ftth.biterrors`), keyed by
  ``(seed, direction, onu, frame, codeword)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ftth.biterrors import (
    DIR_DOWNSTREAM,
    DIR_UPSTREAM,
    codeword_model,
    margin_thresholds,
    sample_codewords,
)
from ftth.emulator.control import NOT_YET_JOINED, POWER_OFF, ControlPlan, steady_plan
from ftth.emulator.spec import I64, EmulationSpec
from ftth.jit import kernel
from onu import fifo

# Per-ONU, per-direction PM counters ``pm[onu, direction, PM_*]`` (direction 0 up, 1 down).
(
    PM_CODEWORDS,  #: FEC codewords (or no-FEC blocks) received
    PM_CORRECTED,  #: codewords corrected by FEC
    PM_UNCORRECTABLE,  #: codewords FEC could not correct (or errored blocks without FEC)
    PM_GEM_FRAMES,  #: GEM/XGEM frames (pieces) received
    PM_GEM_LOST,  #: GEM/XGEM frames lost in failed codewords
    PM_HEC,  #: GEM/XGEM header (HEC) errors
    PM_N,
) = range(7)


@kernel
def span_rows(k: int, first: I64, start: I64, end: I64, cursor: I64, out_row: I64) -> None:
    """For each ONU ``i`` (rows ``[first[i], first[i+1])`` sorted by time), the row whose
    span ``[start, end)`` covers frame ``k``, else −1; ``cursor`` walks forward (call with
    non-decreasing ``k``)."""
    for i in range(out_row.shape[0]):
        r = cursor[i]
        stop = first[i + 1]
        while r < stop and end[r] <= k:
            r += 1
        cursor[i] = r
        out_row[i] = r if r < stop and start[r] <= k else -1


def _first_rows(onu: I64, n_onus: int) -> I64:
    first = np.zeros(n_onus + 1, dtype=np.int64)
    np.cumsum(np.bincount(onu, minlength=n_onus), out=first[1:])
    return first


class _Walker:
    """Per-ONU span lookup frame by frame (:func:`span_rows`)."""

    def __init__(self, onu: I64, start: I64, end: I64, n_onus: int) -> None:
        order = np.lexsort((start, onu))
        self.onu = np.ascontiguousarray(onu[order], dtype=np.int64)
        self.start = np.ascontiguousarray(start[order], dtype=np.int64)
        self.end = np.ascontiguousarray(end[order], dtype=np.int64)
        self.order = order
        self.first = _first_rows(self.onu, n_onus)
        self.cursor = self.first[:-1].copy()
        self.row = np.full(n_onus, -1, dtype=np.int64)

    def at(self, k: int) -> I64:
        span_rows(k, self.first, self.start, self.end, self.cursor, self.row)
        return self.row


@dataclass(frozen=True)
class Spans:
    """A direction's down-span table (``onu.fifo`` ``S_*`` columns) and each queue's rows."""

    table: I64
    row: I64  #: per queue: first row
    stop: I64  #: per queue: end of its rows


class DataPlane:
    """The control plan as the engines consume it, plus the PM counters.

    Parameters
    ----------
    spec
        The run.
    plan
        The control plan; ``None`` = :func:`~ftth.emulator.control.steady_plan`.
    """

    def __init__(self, spec: EmulationSpec, plan: ControlPlan | None = None) -> None:
        p = spec.profile
        n = spec.n_onus
        n_frames = spec.n_frames
        self.spec = spec
        self.plan = plan if plan is not None else steady_plan(n, n_frames, p.frame_ps)
        plan = self.plan
        self.n_onus = n
        self.frame_ps = p.frame_ps
        self.pm = np.zeros((n, 2, PM_N), dtype=np.int64)
        # Bit errors: thresholds per margin row and direction.
        self.us_cw = codeword_model(spec.us_fec)
        self.ds_cw = codeword_model(spec.ds_fec)
        thr = np.zeros((len(plan.margin_db), 4), dtype=np.int64)
        for r, margin in enumerate(plan.margin_db.tolist()):
            thr[r, 0:2] = margin_thresholds(p, spec.us_fec, DIR_UPSTREAM, margin)
            thr[r, 2:4] = margin_thresholds(p, spec.ds_fec, DIR_DOWNSTREAM, margin)
        self._margins = _Walker(plan.margin_onu, plan.margin_start_frame, plan.margin_end_frame, n)
        self._thr = thr[self._margins.order] if len(thr) else thr
        self.errors = bool(np.any(thr != 0))
        #: True when the plan changes anything: the engines then take the fault path.
        self.active = (not plan.is_steady) or self.errors
        self._op = _Walker(plan.op_onu, plan.op_start_frame, plan.op_end_frame, n)
        #: Per ONU: 1 when operating in the frame last given to :meth:`advance`.
        self.onu_up = np.ones(n, dtype=np.int64)
        #: Per ONU: ``(us corrected, us failed, ds corrected, ds failed)`` thresholds.
        self.thr = np.zeros((n, 4), dtype=np.int64)
        self._quiet = dict(
            zip(plan.quiet_frame.tolist(), plan.quiet_ps.tolist(), strict=True)
        )
        self._corrupt = list(
            zip(plan.corrupt_start_frame.tolist(), plan.corrupt_end_frame.tolist(), strict=True)
        )
        self.quiet_line_bytes = 0
        # Power-off flushes: (frame, onu) → at_ps.
        self._flush: dict[int, list[tuple[int, int]]] = {}
        down = sorted(
            zip(
                plan.down_onu.tolist(),
                plan.down_start_frame.tolist(),
                plan.down_end_frame.tolist(),
                plan.down_cause.tolist(),
                strict=True,
            )
        )
        self._down = down
        end_ps = spec.duration_ps
        for onu, start, _end, cause in down:
            if cause == POWER_OFF and start < n_frames:
                at = min(start * p.frame_ps + spec.teqd_ps, end_ps - 1)
                self._flush.setdefault(start, []).append((onu, at))
        #: Per ONU: time before which its arrivals are not generated (not yet joined).
        self.join_ps = np.zeros(n, dtype=np.int64)
        for onu, start, end, cause in down:
            if cause == NOT_YET_JOINED and start == 0:
                self.join_ps[onu] = end * p.frame_ps
        self._ds_where = np.full(n, -1, dtype=np.int64)
        self._ds_flags = np.zeros(1, dtype=np.int64)

    # ------------------------------------------------------------------ per frame
    def advance(self, k: int) -> None:
        """Move to frame ``k`` (non-decreasing): operating mask and error thresholds."""
        row = self._op.at(k)
        self.onu_up[:] = row >= 0
        if self.errors:
            mrow = self._margins.at(k)
            self.thr[:] = 0
            has = mrow >= 0
            self.thr[has] = self._thr[mrow[has]]

    def quiet_bytes(self, k: int) -> int:
        """Line bytes of frame ``k`` the OLT keeps quiet (whole grant units), counted."""
        q_ps = self._quiet.get(k, 0)
        if q_ps <= 0:
            return 0
        p = self.spec.profile
        bpf = p.us_bytes_per_frame
        line = -(-q_ps * bpf // p.frame_ps)
        unit = p.grant_unit_bytes
        line = min(bpf, -(-line // unit) * unit)
        self.quiet_line_bytes += line
        return line

    def corrupted(self, k: int) -> bool:
        """True when every upstream burst of frame ``k`` is corrupted by a rogue ONU."""
        return any(s <= k < e for s, e in self._corrupt)

    def flushes(self, k: int) -> list[tuple[int, int]]:
        """``(onu, at_ps)`` of the ONUs whose buffers a power-off empties at frame ``k``."""
        return self._flush.get(k, [])

    # ------------------------------------------------------------------ queues
    def spans(self, queue_onu: I64, upstream: bool) -> Spans:
        """The down-span table of one direction's queues (``onu.fifo`` ``S_*`` columns)."""
        fp = self.frame_ps
        rows = [
            (onu, s * fp, e * fp, 1 if (upstream and cause == POWER_OFF) else 0)
            for onu, s, e, cause in self._down
            if cause != NOT_YET_JOINED
        ]
        per_onu: dict[int, list[tuple[int, int, int]]] = {}
        for onu, a, b, off in rows:
            per_onu.setdefault(onu, []).append((a, b, off))
        table: list[tuple[int, int, int]] = []
        first = np.zeros(len(queue_onu), dtype=np.int64)
        stop = np.zeros(len(queue_onu), dtype=np.int64)
        for q, onu in enumerate(queue_onu.tolist()):
            mine = per_onu.get(onu, [])
            first[q] = len(table)
            table.extend(mine)
            stop[q] = len(table)
        arr = np.array(table, dtype=np.int64).reshape(-1, 3) if table else fifo.NO_SPANS.copy()
        return Spans(arr, first, stop)

    def classify(self, onu: int, arrival_ps: int, upstream: bool) -> tuple[bool, bool]:
        """``(down, power_off)`` of an arrival (the reference engine's per-packet form of
        ``onu.fifo.admit_spans``)."""
        fp = self.frame_ps
        for o, s, e, cause in self._down:
            if o == onu and cause != NOT_YET_JOINED and s * fp <= arrival_ps < e * fp:
                return True, upstream and cause == POWER_OFF
        return False, False

    def keep_joined(
        self, arrival_ps: I64, size_bytes: I64, lengths: I64, queue_onu: I64
    ) -> tuple[I64, I64, I64]:
        """Drop the generated packets of ONUs that have not joined yet (never offered)."""
        if not np.any(self.join_ps):
            return arrival_ps, size_bytes, lengths
        queue = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        keep = arrival_ps >= self.join_ps[queue_onu[queue]]
        new_len = np.bincount(queue[keep], minlength=len(lengths)).astype(np.int64)
        return arrival_ps[keep], size_bytes[keep], new_len

    # ------------------------------------------------------------------ bit errors
    def upstream_codewords(self, k: int, bw: Any, corrupted: bool) -> tuple[I64, I64, I64]:
        """Frame ``k``'s upstream codeword fates: ``(g_cw, flags, burst_bad)`` where
        ``g_cw[a]`` indexes codeword 0 of allocation ``a``'s burst in ``flags`` (−1 when
        nothing in it can fail) and ``burst_bad[a]`` is 1 when the burst's DBRu is lost."""
        n = bw.n_allocations
        g_cw = np.full(n, -1, dtype=np.int64)
        burst_bad = np.zeros(n, dtype=np.int64)
        if n == 0:
            return g_cw, np.zeros(1, dtype=np.int64), burst_bad
        p = self.spec.profile
        cwb = self.us_cw.data_bytes
        onu = bw.onu
        starts = np.flatnonzero(np.r_[True, onu[1:] != onu[:-1]])
        ends = np.r_[starts[1:], n]
        chunks: list[I64] = []
        base = 0
        seed = self.spec.seed
        pm = np.zeros(2, dtype=np.int64)
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            i = int(onu[s])
            last = e - 1
            protected = int(bw.data_start_bytes[last] + bw.room_bytes[last])
            protected += p.us_burst_trailer_bytes
            n_cw = -(-protected // cwb)
            self.pm[i, 0, PM_CODEWORDS] += n_cw
            if corrupted:
                flags = np.ones(n_cw, dtype=np.int64)
                self.pm[i, 0, PM_UNCORRECTABLE] += n_cw
            else:
                thr_c, thr_f = int(self.thr[i, 0]), int(self.thr[i, 1])
                if thr_c == 0 and thr_f == 0:
                    continue
                flags = np.zeros(n_cw, dtype=np.int64)
                pm[:] = 0
                sample_codewords(seed, DIR_UPSTREAM, i, k, 0, n_cw, thr_c, thr_f, flags, 0, pm)
                self.pm[i, 0, PM_CORRECTED] += pm[0]
                self.pm[i, 0, PM_UNCORRECTABLE] += pm[1]
            g_cw[s:e] = base
            # The DBRu sits in the allocation's own codewords: lost when one of them failed.
            for a in range(s, e):
                if bw.dbru[a]:
                    d0 = int(bw.dbru_end_bytes[a]) - p.dbru_bytes
                    d1 = int(bw.dbru_end_bytes[a]) - 1
                    if np.any(flags[d0 // cwb : d1 // cwb + 1]):
                        burst_bad[a] = 1
            chunks.append(flags)
            base += n_cw
        flags_all = np.concatenate(chunks) if chunks else np.zeros(1, dtype=np.int64)
        return g_cw, flags_all, burst_bad

    def downstream_frame(self, k: int) -> None:
        """Decide frame ``k``'s downstream codewords as each operating ONU receives them
        (call once per frame, whether or not anything is sent)."""
        p = self.spec.profile
        cwb = self.ds_cw.data_bytes
        n_cw = -(-p.ds_bytes_per_frame // cwb)
        up = self.onu_up == 1
        # Every operating ONU receives (and counts) the frame's codewords.
        self.pm[up, 1, PM_CODEWORDS] += n_cw
        self._ds_where = np.full(self.n_onus, -1, dtype=np.int64)
        bad = np.flatnonzero(up & ((self.thr[:, 2] != 0) | (self.thr[:, 3] != 0)))
        if not len(bad):
            self._ds_flags = np.zeros(1, dtype=np.int64)
            return
        flags = np.zeros(len(bad) * n_cw, dtype=np.int64)
        pm = np.zeros(2, dtype=np.int64)
        seed = self.spec.seed
        for b, i in enumerate(bad.tolist()):
            pm[:] = 0
            sample_codewords(
                seed, DIR_DOWNSTREAM, i, k, 0, n_cw, int(self.thr[i, 2]), int(self.thr[i, 3]),
                flags, b * n_cw, pm,
            )  # fmt: skip
            self.pm[i, 1, PM_CORRECTED] += pm[0]
            self.pm[i, 1, PM_UNCORRECTABLE] += pm[1]
            self._ds_where[i] = b * n_cw
        self._ds_flags = flags

    def downstream_codewords(self, queue_onu: I64) -> tuple[I64, I64]:
        """The last :meth:`downstream_frame`'s fates for the served queues:
        ``(g_cw per queue, flags)``."""
        return self._ds_where[queue_onu], self._ds_flags

    def count_pieces(self, direction: int, onu: I64, g_stat: I64) -> None:
        """Add served grants' GEM/XGEM frame counts (``onu.fifo`` ``G_*``) to the PM."""
        for col, pm_col in (
            (fifo.G_PIECES, PM_GEM_FRAMES),
            (fifo.G_LOST_PIECES, PM_GEM_LOST),
            (fifo.G_HEC, PM_HEC),
        ):
            np.add.at(self.pm[:, direction, pm_col], onu, g_stat[: len(onu), col])


def pm_counters(spec: EmulationSpec, pm: I64, plan: ControlPlan) -> list[dict[str, Any]]:
    """Per-ONU PM counters as equipment reports them (results ``onus[].pm``).

    BIP errors are counted as errored codewords (corrected + uncorrectable): each holds at
    least one bit error, which a BIP-8/BIP-32 parity sees (a lower bound of the BIP count).
    PLOAM messages, LOS and LOBi come from the control plan's events.
    """
    counts: dict[tuple[int | None, str], int] = {}
    for ev in plan.events:
        counts[(ev.onu_id, ev.kind)] = counts.get((ev.onu_id, ev.kind), 0) + 1
    out = []
    for i, onu_id in enumerate(spec.onu_ids):
        row: dict[str, Any] = {"onu_id": onu_id}
        for d, name in ((0, "upstream"), (1, "downstream")):
            c = pm[i, d]
            row[name] = {
                "fec_codewords": int(c[PM_CODEWORDS]),
                "fec_corrected_codewords": int(c[PM_CORRECTED]),
                "fec_uncorrectable_codewords": int(c[PM_UNCORRECTABLE]),
                "bip_errors": int(c[PM_CORRECTED] + c[PM_UNCORRECTABLE]),
                "gem_frames": int(c[PM_GEM_FRAMES]),
                "gem_frames_lost": int(c[PM_GEM_LOST]),
                "hec_errors": int(c[PM_HEC]),
            }
        row["ploam_messages"] = sum(
            v for (o, kind), v in counts.items() if o == onu_id and kind.lower().startswith("ploam")
        )
        row["los"] = counts.get((onu_id, "LOS"), 0)
        row["lobi"] = counts.get((onu_id, "LOBi"), 0)
        out.append(row)
    return out
