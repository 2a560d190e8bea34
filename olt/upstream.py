"""The OLT's upstream controller: reports in, DBA cycles, BWmaps out.

Shared by both engines, so they differ only in how the ONUs move packets.

Timing (G.984.3 §10.4 / G.987.3 §12.3 equalisation): the BWmap sent in downstream frame ``k``
(at ``t_k = k · 125 µs``) describes upstream frame ``k``, which reaches the OLT at
``U_k = t_k + Teqd`` for every ONU — equalisation delay makes all ONUs look equally far.
A burst at line offset ``o`` of that frame arrives at ``U_k + o · 125 µs / bytes_per_frame``
and left ONU ``i`` one one-way propagation delay earlier; packets that reached the ONU by
then may go in it.  A DBRu reaches the OLT with its burst; the DBA running at ``t_k`` sees
only the reports that arrived by ``t_k − report_latency``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftth.errors import DbaError
from ftth.phy import FecCode, Profile
from olt.bwmap import I64, BwMap, BwmapBuilder
from olt.dba.base import Dba, DbaContext, Reports, TcontTable

#: How many past frames of grants the OLT remembers (reports older than this are stale).
GRANT_HISTORY_FRAMES = 256
#: Share of a frame's allocation structures that DBRu polling of T-CONTs may take
#: (the rest is left to the DBA's grants): 1/4, i.e. 128 of the 512 per XG(S)-PON frame.
POLL_SHARE_DIVISOR = 4


@dataclass
class UpstreamPlan:
    """One upstream frame's allocations with the timing each engine needs (per allocation)."""

    bwmap: BwMap
    time_base_ps: int  #: U_k, when the upstream frame starts arriving at the OLT
    cutoff_ps: I64  #: latest arrival time at the ONU that still makes this burst
    dbru_arrival_ps: I64  #: when the DBRu reaches the OLT


class OltUpstream:
    """Runs the DBA once per cycle and turns its grants into validated BWmaps.

    Parameters
    ----------
    profile, fec
        Technology and upstream FEC in force.
    tconts
        Provisioned T-CONTs.
    dba
        The DBA instance.
    one_way_ps
        One-way propagation delay per ONU (index = ONU index).
    teqd_ps
        Equalised round-trip: BWmap transmission to start of upstream frame at the OLT.
    report_latency_ps
        Extra processing latency before a received DBRu is visible to the DBA.
    dbru_every_frames
        An idle T-CONT (no allocation) is polled with a DBRu-only allocation at least this often.
    end_ps
        End of the run: arrivals at or after it are not offered, so cut-offs stop just before.
    """

    def __init__(
        self,
        profile: Profile,
        fec: FecCode | None,
        tconts: TcontTable,
        dba: Dba,
        ctx: DbaContext,
        one_way_ps: I64,
        teqd_ps: int,
        report_latency_ps: int,
        dbru_every_frames: int,
        end_ps: int,
    ) -> None:
        self.profile = profile
        self.fec = fec
        self.tconts = tconts
        self.dba = dba
        self.ctx = ctx
        self.one_way_ps = one_way_ps
        self.teqd_ps = teqd_ps
        self.report_latency_ps = report_latency_ps
        self.dbru_every_frames = dbru_every_frames
        self.end_ps = end_ps
        self.builder = BwmapBuilder(profile, fec, tconts, dba.name)
        n = tconts.count
        self.report_unit = profile.report_unit_bytes
        self.poll_budget = max(1, profile.max_allocations_per_frame // POLL_SHARE_DIVISOR)
        # What the OLT knows.
        self.report_bytes = np.zeros(n, dtype=np.int64)
        self.report_arrival_ps = np.full(n, -1, dtype=np.int64)
        self.report_frame = np.full(n, -1, dtype=np.int64)
        self.idle_bytes = np.zeros(n, dtype=np.int64)
        self.granted_last = np.zeros(n, dtype=np.int64)
        self.last_dbru_frame = np.full(n, -(10**9), dtype=np.int64)
        # Cumulative payload granted, per frame, ring buffer: cum[f % H] = Σ grants of frames ≤ f.
        self._cum_granted = np.zeros((GRANT_HISTORY_FRAMES, n), dtype=np.int64)
        self._cum_total = np.zeros(n, dtype=np.int64)
        self._pending: list[tuple[I64, I64, I64, I64, I64, I64]] = []
        self._cycle_grants: I64 | None = None
        self._cycle_start = 0
        # Statistics.
        self.granted_bytes_total = np.zeros(n, dtype=np.int64)
        self.allocations_total = 0

    # ------------------------------------------------------------------ reports
    def post_reports(
        self,
        frame: int,
        tcont: I64,
        report_bytes: I64,
        arrival_ps: I64,
        idle_bytes: I64,
        granted_bytes: I64,
    ) -> None:
        """Queue the DBRus (and observed idle bytes) of one upstream frame's bursts."""
        frames = np.full(len(tcont), frame, dtype=np.int64)
        rounded = -(-report_bytes // self.report_unit) * self.report_unit
        self._pending.append((tcont, rounded, arrival_ps, frames, idle_bytes, granted_bytes))

    def _apply_reports(self, now_ps: int) -> None:
        visible = now_ps - self.report_latency_ps
        still: list[tuple[I64, I64, I64, I64, I64, I64]] = []
        for tcont, value, arrival, frames, idle, granted in self._pending:
            ok = arrival <= visible
            if np.all(ok):
                sel = slice(None)
            elif not np.any(ok):
                still.append((tcont, value, arrival, frames, idle, granted))
                continue
            else:
                still.append(
                    (tcont[~ok], value[~ok], arrival[~ok], frames[~ok], idle[~ok], granted[~ok])
                )
                sel = ok  # type: ignore[assignment]
            t = tcont[sel]
            # Pending lists are in frame order, so later frames overwrite earlier ones.
            self.report_bytes[t] = value[sel]
            self.report_arrival_ps[t] = arrival[sel]
            self.report_frame[t] = frames[sel]
            self.idle_bytes[t] = idle[sel]
            self.granted_last[t] = granted[sel]
        self._pending = still

    def _reports_view(self, frame: int, now_ps: int, poll_mask: np.ndarray) -> Reports:
        n = self.tconts.count
        reported = self.report_frame >= 0
        since = np.zeros(n, dtype=np.int64)
        if np.any(reported):
            # Granted in frames (report_frame, frame): cum[frame-1] - cum[report_frame].
            rf = self.report_frame[reported]
            oldest = frame - GRANT_HISTORY_FRAMES + 1
            rf_clamped = np.maximum(rf, oldest)
            before = self._cum_granted[rf_clamped % GRANT_HISTORY_FRAMES, np.flatnonzero(reported)]
            since[reported] = self._cum_total[reported] - before
        demand = np.maximum(self.report_bytes - since, 0)
        age = np.where(reported, now_ps - self.report_arrival_ps, -1)
        return Reports(
            report_bytes=self.report_bytes.copy(),
            report_age_ps=age,
            granted_since_bytes=since,
            demand_bytes=demand,
            idle_bytes=self.idle_bytes.copy(),
            granted_last_bytes=self.granted_last.copy(),
            poll_mask=poll_mask,
            frame=frame,
        )

    # ------------------------------------------------------------------ frames
    def plan_frame(self, frame: int) -> UpstreamPlan:
        """Decide upstream frame ``frame``'s allocations at ``t_k`` (running the DBA if due)."""
        p = self.profile
        now_ps = frame * p.frame_ps
        self._apply_reports(now_ps)
        uses_reports = self.dba.uses_reports
        cycle = self.ctx.cycle_frames
        cycle_starts = self._cycle_grants is None or frame - self._cycle_start >= cycle
        # Polls are decided with the DBA, at the start of a cycle, so the DBA's budget for
        # every frame of the cycle already knows them.
        if uses_reports and cycle_starts:
            poll_mask = (frame - self.last_dbru_frame) >= self.dbru_every_frames
            if int(poll_mask.sum()) > self.poll_budget:
                # More T-CONTs due than a frame's allocation structures allow: poll the
                # longest-unpolled first (ties by index); the rest wait a frame or more.
                due = np.flatnonzero(poll_mask)
                keep = due[np.argsort(self.last_dbru_frame[due], kind="stable")[: self.poll_budget]]
                poll_mask = np.zeros(self.tconts.count, dtype=bool)
                poll_mask[keep] = True
        else:
            poll_mask = np.zeros(self.tconts.count, dtype=bool)
        if cycle_starts:
            view = self._reports_view(frame, now_ps, poll_mask)
            raw = self.dba.allocate(now_ps, view)
            self._cycle_grants = self.builder.check_grants(frame, raw, cycle)
            self._cycle_start = frame
        assert self._cycle_grants is not None  # set at the first frame (a cycle start)
        grants = self._cycle_grants[frame - self._cycle_start]
        dbru_mask = (grants > 0) | poll_mask if uses_reports else np.zeros_like(poll_mask)
        bwmap = self.builder.build(frame, grants, dbru_mask)
        # Bookkeeping of what was granted: payload room that can carry a frame (the few
        # bytes left beside a DBRu-only poll at 16-byte units cannot).
        granted = np.zeros(self.tconts.count, dtype=np.int64)
        room = bwmap.room_bytes
        granted[bwmap.tcont] = np.where(room >= p.encap_min_frame_bytes, room, 0)
        self._cum_total += granted
        self._cum_granted[frame % GRANT_HISTORY_FRAMES] = self._cum_total
        self.granted_bytes_total += granted
        self.allocations_total += bwmap.n_allocations
        self.last_dbru_frame[bwmap.tcont[bwmap.dbru]] = frame
        # Timing.
        time_base = now_ps + self.teqd_ps
        f_ps, bpf = p.frame_ps, p.us_bytes_per_frame
        burst_arrival = time_base + (bwmap.burst_start_bytes * f_ps) // bpf
        cutoff = np.minimum(burst_arrival - self.one_way_ps[bwmap.onu], self.end_ps - 1)
        dbru_line = bwmap.line_start_bytes + _line(bwmap.dbru_end_bytes, self.fec)
        dbru_arrival = time_base + (dbru_line * f_ps) // bpf
        return UpstreamPlan(
            bwmap, time_base, cutoff.astype(np.int64), dbru_arrival.astype(np.int64)
        )


def _line(data_bytes: I64, fec: FecCode | None) -> I64:
    if fec is None:
        return data_bytes
    return np.asarray(-(-data_bytes * fec.n // fec.k), dtype=np.int64)


__all__ = ["OltUpstream", "UpstreamPlan", "DbaError"]
