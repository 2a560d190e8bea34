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


@kernel
def upstream_fates(
    k: int, seed: int, n: int, a_onu: I64, a_data_start: I64, a_room: I64, a_dbru: I64,
    a_dbru_end: I64, trailer: int, dbru_bytes: int, cw_bytes: int, corrupted: bool, thr: I64,
    pm: I64, g_cw: I64, flags: I64, dbru_lost: I64,
) -> None:  # fmt: skip
    """Frame ``k``'s upstream codeword fates, burst by burst (allocations ``0 .. n−1`` in
    BWmap order; ``a_*`` per allocation).

    A burst's protected part (TC header, allocations, trailer) is cut into codewords of
    ``cw_bytes``; each is corrupted (``corrupted``: a rogue ONU overlapped the frame) or
    drawn (:func:`ftth.biterrors.sample_codewords`, thresholds ``thr[onu, 0:2]``).  Writes
    ``g_cw[a]`` (index of the burst's codeword 0 in ``flags``, −1 when nothing can fail),
    ``dbru_lost[a]`` (1 when a codeword of its DBRu failed) and the PM counters.
    """
    base = 0
    s = 0
    while s < n:
        onu = a_onu[s]
        e = s
        while e < n and a_onu[e] == onu:
            e += 1
        last = e - 1
        n_cw = -((-(a_data_start[last] + a_room[last] + trailer)) // cw_bytes)
        pm[onu, 0, PM_CODEWORDS] += n_cw
        live = True
        if corrupted:
            for c in range(n_cw):
                flags[base + c] = 1
            pm[onu, 0, PM_UNCORRECTABLE] += n_cw
        elif thr[onu, 0] != 0 or thr[onu, 1] != 0:
            sample_codewords(
                seed, DIR_UPSTREAM, onu, k, 0, n_cw, thr[onu, 0], thr[onu, 1], flags, base,
                pm[onu, 0, PM_CORRECTED:],
            )  # fmt: skip
        else:
            live = False
        for a in range(s, e):
            dbru_lost[a] = 0
            g_cw[a] = base if live else -1
            if live and a_dbru[a] == 1:
                c0 = (a_dbru_end[a] - dbru_bytes) // cw_bytes
                for c in range(c0, (a_dbru_end[a] - 1) // cw_bytes + 1):
                    if flags[base + c] == 1:
                        dbru_lost[a] = 1
        if live:
            base += n_cw
        s = e


@kernel
def downstream_fates(
    k: int, seed: int, n_cw: int, onu_up: I64, thr: I64, pm: I64, where: I64, flags: I64
) -> None:
    """Frame ``k``'s downstream codewords as each operating ONU receives them: ``where[i]``
    is ONU ``i``'s codeword 0 in ``flags`` (−1 when nothing can fail for it), and the PM
    counters (every operating ONU counts the frame's ``n_cw`` codewords)."""
    base = 0
    for i in range(onu_up.shape[0]):
        where[i] = -1
        if onu_up[i] == 0:
            continue
        pm[i, 1, PM_CODEWORDS] += n_cw
        if thr[i, 2] == 0 and thr[i, 3] == 0:
            continue
        sample_codewords(
            seed, DIR_DOWNSTREAM, i, k, 0, n_cw, thr[i, 2], thr[i, 3], flags, base,
            pm[i, 1, PM_CORRECTED:],
        )  # fmt: skip
        where[i] = base
        base += n_cw


@kernel
def count_pieces(direction: int, onu: I64, n: int, g_stat: I64, pm: I64) -> None:
    """Add ``n`` served grants' GEM/XGEM frame counts (``onu.fifo`` ``G_*``) to the PM."""
    for g in range(n):
        i = onu[g]
        pm[i, direction, PM_GEM_FRAMES] += g_stat[g, fifo.G_PIECES]
        pm[i, direction, PM_GEM_LOST] += g_stat[g, fifo.G_LOST_PIECES]
        pm[i, direction, PM_HEC] += g_stat[g, fifo.G_HEC]


@kernel
def advance_plan(
    k: int, op_first: I64, op_start: I64, op_end: I64, op_cursor: I64, op_row: I64,
    onu_up: I64, errors: bool, m_first: I64, m_start: I64, m_end: I64, m_cursor: I64,
    m_row: I64, row_thr: I64, thr: I64,
) -> None:  # fmt: skip
    """Frame ``k``'s state: ``onu_up[i]`` (1 operating) and, with ``errors``, each ONU's
    codeword thresholds ``thr[i]`` from its margin span (0 outside every span)."""
    span_rows(k, op_first, op_start, op_end, op_cursor, op_row)
    for i in range(onu_up.shape[0]):
        onu_up[i] = 1 if op_row[i] >= 0 else 0
    if not errors:
        return
    span_rows(k, m_first, m_start, m_end, m_cursor, m_row)
    for i in range(thr.shape[0]):
        r = m_row[i]
        for c in range(4):
            thr[i, c] = row_thr[r, c] if r >= 0 else 0


@kernel
def quiet_at(k: int, quiet_frame: I64, quiet_line: I64, cursors: I64) -> int:
    """Line bytes of frame ``k``'s quiet window (0: none), added to ``cursors[1]``;
    ``cursors[0]`` walks the sorted ``quiet_frame`` (call with non-decreasing ``k``)."""
    c = cursors[0]
    while c < quiet_frame.shape[0] and quiet_frame[c] < k:
        c += 1
    cursors[0] = c
    if c < quiet_frame.shape[0] and quiet_frame[c] == k:
        cursors[1] += quiet_line[c]
        cursors[0] = c + 1
        return quiet_line[c]
    return 0


@kernel
def corrupted_at(k: int, start: I64, end: I64) -> bool:
    """Whether a rogue ONU corrupts the upstream bursts of frame ``k``."""
    hit = False
    for r in range(start.shape[0]):
        if start[r] <= k < end[r]:
            hit = True
    return hit


def _first_rows(onu: I64, n_onus: int) -> I64:
    first = np.zeros(n_onus + 1, dtype=np.int64)
    np.cumsum(np.bincount(onu, minlength=n_onus), out=first[1:])
    return first


class Walker:
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
        self.margin_walker = Walker(
            plan.margin_onu, plan.margin_start_frame, plan.margin_end_frame, n
        )
        #: Thresholds per margin row, in the walker's row order.
        ordered = thr[self.margin_walker.order]
        self.row_thr = np.ascontiguousarray(ordered, dtype=np.int64).reshape(-1, 4)
        self.errors = bool(np.any(thr != 0))
        #: True when the plan changes anything: the engines then take the fault path.
        self.active = (not plan.is_steady) or self.errors
        self.op_walker = Walker(plan.op_onu, plan.op_start_frame, plan.op_end_frame, n)
        #: Per ONU: 1 when operating in the frame last given to :meth:`advance`.
        self.onu_up = np.ones(n, dtype=np.int64)
        #: Per ONU: ``(us corrected, us failed, ds corrected, ds failed)`` thresholds.
        self.thr = np.zeros((n, 4), dtype=np.int64)
        # Quiet windows: line bytes per quiet frame (whole grant units), walked by a cursor.
        bpf, unit = p.us_bytes_per_frame, p.grant_unit_bytes
        q_frame, q_bytes = [], []
        for f, q_ps in sorted(zip(plan.quiet_frame.tolist(), plan.quiet_ps.tolist(), strict=True)):
            if q_ps > 0 and f < n_frames:
                line = -(-q_ps * bpf // p.frame_ps)
                q_frame.append(f)
                q_bytes.append(min(bpf, -(-line // unit) * unit))
        self.quiet_frame = np.array(q_frame, dtype=np.int64)
        self.quiet_line = np.array(q_bytes, dtype=np.int64)
        self.corrupt_start = np.ascontiguousarray(plan.corrupt_start_frame, dtype=np.int64)
        self.corrupt_end = np.ascontiguousarray(plan.corrupt_end_frame, dtype=np.int64)
        #: [quiet cursor, quiet line bytes so far, flush cursor]
        self.cursors = np.zeros(3, dtype=np.int64)
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
        # Power-off flushes, by frame: (frame, onu, at_ps).
        flush = sorted(
            (start, onu, min(start * p.frame_ps + spec.teqd_ps, end_ps - 1))
            for onu, start, _end, cause in down
            if cause == POWER_OFF and start < n_frames
        )
        self.flush = np.array(flush, dtype=np.int64).reshape(-1, 3)
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
        op, m = self.op_walker, self.margin_walker
        advance_plan(
            k, op.first, op.start, op.end, op.cursor, op.row, self.onu_up, self.errors, m.first,
            m.start, m.end, m.cursor, m.row, self.row_thr, self.thr,
        )  # fmt: skip

    def quiet_bytes(self, k: int) -> int:
        """Line bytes of frame ``k`` the OLT keeps quiet (whole grant units), counted
        (:func:`quiet_at`; call with non-decreasing ``k``)."""
        return int(quiet_at(k, self.quiet_frame, self.quiet_line, self.cursors))

    @property
    def quiet_line_bytes(self) -> int:
        """Upstream line bytes kept quiet so far."""
        return int(self.cursors[1])

    def corrupted(self, k: int) -> bool:
        """True when every upstream burst of frame ``k`` is corrupted by a rogue ONU."""
        return bool(corrupted_at(k, self.corrupt_start, self.corrupt_end))

    def flushes(self, k: int) -> list[tuple[int, int]]:
        """``(onu, at_ps)`` of the ONUs whose buffers a power-off empties at frame ``k``."""
        rows = self.flush[self.flush[:, 0] == k]
        return [(int(r[1]), int(r[2])) for r in rows]

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
        """Frame ``k``'s upstream codeword fates (:func:`upstream_fates`):
        ``(g_cw, flags, dbru_lost)`` per allocation of ``bw``."""
        n = bw.n_allocations
        p = self.spec.profile
        cwb = self.us_cw.data_bytes
        g_cw = np.full(max(n, 1), -1, dtype=np.int64)
        lost = np.zeros(max(n, 1), dtype=np.int64)
        flags = np.zeros(self.us_flag_capacity(n), dtype=np.int64)
        if n:
            upstream_fates(
                k, self.spec.seed, n, np.ascontiguousarray(bw.onu, dtype=np.int64),
                bw.data_start_bytes, bw.room_bytes, bw.dbru.astype(np.int64), bw.dbru_end_bytes,
                p.us_burst_trailer_bytes, p.dbru_bytes, cwb, corrupted, self.thr, self.pm,
                g_cw, flags, lost,
            )  # fmt: skip
        return g_cw[:n], flags, lost[:n]

    def us_flag_capacity(self, n_bursts: int) -> int:
        """Codeword slots one upstream frame can need (every burst's last one partial)."""
        p = self.spec.profile
        return p.us_bytes_per_frame // self.us_cw.data_bytes + n_bursts + 2

    @property
    def ds_codewords(self) -> int:
        """Codewords (or no-FEC blocks) of one downstream frame."""
        return -(-self.spec.profile.ds_bytes_per_frame // self.ds_cw.data_bytes)

    def downstream_frame(self, k: int) -> None:
        """Decide frame ``k``'s downstream codewords as each operating ONU receives them
        (:func:`downstream_fates`; call once per frame, whether or not anything is sent)."""
        n_cw = self.ds_codewords
        if len(self._ds_flags) < self.n_onus * n_cw:
            self._ds_flags = np.zeros(self.n_onus * n_cw, dtype=np.int64)
        downstream_fates(
            k, self.spec.seed, n_cw, self.onu_up, self.thr, self.pm, self._ds_where,
            self._ds_flags,
        )  # fmt: skip

    def downstream_codewords(self, queue_onu: I64) -> tuple[I64, I64]:
        """The last :meth:`downstream_frame`'s fates for the served queues:
        ``(g_cw per queue, flags)``."""
        return self._ds_where[queue_onu], self._ds_flags

    def count_pieces(self, direction: int, onu: I64, g_stat: I64) -> None:
        """Add served grants' GEM/XGEM frame counts (``onu.fifo`` ``G_*``) to the PM."""
        onu = np.ascontiguousarray(onu, dtype=np.int64)
        count_pieces(direction, onu, len(onu), g_stat, self.pm)


#: PLOAM messages of one activation (G.984.3 §10 / G.987.3 §12): Serial_Number_ONU up,
#: Assign_ONU-ID down, the ONU's ranging response up, Ranging_Time down.
PLOAMS_PER_ACTIVATION = 4


def pm_counters(spec: EmulationSpec, pm: I64, plan: ControlPlan) -> list[dict[str, Any]]:
    """Per-ONU PM counters as equipment reports them (results ``onus[].pm``).

    BIP errors are counted as errored codewords (corrected + uncorrectable): each holds at
    least one bit error, which a BIP-8/BIP-32 parity sees (a lower bound of the BIP count).
    PLOAM messages count the activation exchanges (:data:`PLOAMS_PER_ACTIVATION` per
    ``activated`` event, plus the Disable_Serial_Number of an isolated rogue), not the
    periodic keep-alive PLOAMs; LOS and LOBi count the control plan's alarm events.
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
        row["ploam_messages"] = (
            PLOAMS_PER_ACTIVATION * counts.get((onu_id, "activated"), 0)
            + counts.get((onu_id, "rogue-isolated"), 0)
        )
        row["los"] = counts.get((onu_id, "LOS"), 0)
        row["lobi"] = counts.get((onu_id, "LOBi"), 0)
        out.append(row)
    return out
