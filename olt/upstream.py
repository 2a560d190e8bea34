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

from ftth.errors import DbaError, InvariantError
from ftth.jit import inline_kernel
from ftth.phy import FecCode, Profile
from olt.bwmap import (
    A_BURST_START,
    A_DBRU,
    A_DBRU_END,
    A_LINE_START,
    A_ROOM,
    A_TCONT,
    I64,
    BwMap,
    BwmapBuilder,
)
from olt.dba import kernel as dk
from olt.dba.base import Dba, DbaContext, Reports, TcontTable

#: How many past frames of grants the OLT remembers (reports older than this are stale).
GRANT_HISTORY_FRAMES = 256
#: Share of a frame's allocation structures that DBRu polling of T-CONTs may take
#: (the rest is left to the DBA's grants): 1/4, i.e. 128 of the 512 per XG(S)-PON frame.
POLL_SHARE_DIVISOR = 4
#: Poll selection counts due T-CONTs by age (frames since their last DBRu) up to this.
AGE_BINS = 64

# What the OLT knows per T-CONT: ``olt[j, O_*]``.
(
    O_REPORT,  #: last DBRu value seen
    O_REPORT_FRAME,  #: upstream frame that carried it (−1: none yet)
    O_REPORT_ARRIVAL,  #: when it reached the OLT
    O_IDLE,  #: idle payload bytes of that burst
    O_GRANTED_LAST,  #: payload bytes granted in that burst
    O_LAST_DBRU,  #: last frame in which a DBRu was requested
    O_CUM_TOTAL,  #: payload granted so far
    O_GRANTED_TOTAL,  #: statistics: payload granted so far
    O_N,
) = range(9)

# DBRus on their way to the OLT, a FIFO ring in arrival order: ``pend[e, P_*]``.
P_TCONT, P_VALUE, P_ARRIVAL, P_FRAME, P_IDLE, P_GRANTED, P_N = range(7)


# ----------------------------------------------------------------------- the OLT's rules
# Each is a kernel over the state arrays above; OltUpstream (reference and stepped engines)
# and the compiled frame loop call the same functions.
@inline_kernel
def apply_reports(visible_ps: int, pend: I64, pend_ht: I64, olt: I64) -> None:
    """Make the DBRus that reached the OLT by ``visible_ps`` the ones the DBA sees."""
    mask = pend.shape[0] - 1
    head, tail = pend_ht[0], pend_ht[1]
    while head < tail and pend[head & mask, P_ARRIVAL] <= visible_ps:
        e = head & mask
        j = pend[e, P_TCONT]
        olt[j, O_REPORT] = pend[e, P_VALUE]
        olt[j, O_REPORT_ARRIVAL] = pend[e, P_ARRIVAL]
        olt[j, O_REPORT_FRAME] = pend[e, P_FRAME]
        olt[j, O_IDLE] = pend[e, P_IDLE]
        olt[j, O_GRANTED_LAST] = pend[e, P_GRANTED]
        head += 1
    pend_ht[0] = head


@inline_kernel
def post_report(
    pend: I64, pend_ht: I64, j: int, value: int, arrival_ps: int, frame: int, idle: int,
    granted: int,
) -> bool:  # fmt: skip
    """Queue one DBRu (the ONU's value, :mod:`onu.report`) until it reaches the OLT.
    False when the ring is full (more reports in flight than it was sized for)."""
    head, tail = pend_ht[0], pend_ht[1]
    if tail - head >= pend.shape[0]:
        return False
    e = tail & (pend.shape[0] - 1)
    pend[e, P_TCONT] = j
    pend[e, P_VALUE] = value
    pend[e, P_ARRIVAL] = arrival_ps
    pend[e, P_FRAME] = frame
    pend[e, P_IDLE] = idle
    pend[e, P_GRANTED] = granted
    pend_ht[1] = tail + 1
    return True


@inline_kernel
def select_polls(k: int, olt: I64, every_frames: int, budget: int, poll: I64) -> None:
    """T-CONTs polled with a DBRu this cycle: those without one for ``every_frames``,
    at most ``budget`` of them, the longest-unpolled first (ties: lower index)."""
    n_t = olt.shape[0]
    n_due = 0
    for j in range(n_t):
        due = (k - olt[j, O_LAST_DBRU]) >= every_frames
        poll[j] = 1 if due else 0
        if due:
            n_due += 1
    if n_due <= budget:
        return
    oldest = k
    for j in range(n_t):
        if poll[j] == 1 and olt[j, O_LAST_DBRU] < oldest:
            oldest = olt[j, O_LAST_DBRU]
    if k - oldest < AGE_BINS:
        # Usual case, every due T-CONT polled within AGE_BINS frames: count them by age,
        # find the age at which the budget runs out, then take that age's T-CONTs by
        # index.  Linear, and the same set as a sort.
        by_age = np.zeros(AGE_BINS, dtype=np.int64)
        for j in range(n_t):
            if poll[j] == 1:
                by_age[k - olt[j, O_LAST_DBRU]] += 1
        cut_age = AGE_BINS - 1
        older = 0
        while older + by_age[cut_age] < budget:
            older += by_age[cut_age]
            cut_age -= 1
        take = budget - older
        for j in range(n_t):
            if poll[j] == 1:
                age = k - olt[j, O_LAST_DBRU]
                if age == cut_age:
                    poll[j] = 1 if take > 0 else 0
                    take -= 1
                else:
                    poll[j] = 1 if age > cut_age else 0
    else:
        # The keys (last DBRu frame, index) are unique, so the budget-th smallest (a
        # linear-time selection) splits exactly the same set.
        keys = np.empty(n_due, dtype=np.int64)
        c = 0
        for j in range(n_t):
            if poll[j] == 1:
                keys[c] = olt[j, O_LAST_DBRU] * n_t + j
                c += 1
        kth = np.partition(keys, budget - 1)[budget - 1]
        for j in range(n_t):
            if poll[j] == 1:
                poll[j] = 1 if olt[j, O_LAST_DBRU] * n_t + j <= kth else 0


@inline_kernel
def fill_reports(k: int, now_ps: int, olt: I64, cum_granted: I64, poll: I64, reports: I64) -> None:
    """The DBA's view (:class:`olt.dba.base.Reports`, ``R_*`` rows of ``reports``): last
    DBRu, its age, payload granted since that burst (the OLT's own books, ``cum_granted``
    a ring of cumulative grants per frame), unserved demand and the poll mask."""
    hist = cum_granted.shape[0]
    for j in range(olt.shape[0]):
        rf = olt[j, O_REPORT_FRAME]
        dem = 0
        since = 0
        if rf >= 0:
            oldest = k - hist + 1
            if rf < oldest:
                rf = oldest
            since = olt[j, O_CUM_TOTAL] - cum_granted[rf & (hist - 1), j]
            dem = olt[j, O_REPORT] - since
            if dem < 0:
                dem = 0
            reports[dk.R_AGE_PS, j] = now_ps - olt[j, O_REPORT_ARRIVAL]
        else:
            reports[dk.R_AGE_PS, j] = -1
        reports[dk.R_REPORT, j] = olt[j, O_REPORT]
        reports[dk.R_SINCE, j] = since
        reports[dk.R_DEMAND, j] = dem
        reports[dk.R_IDLE, j] = olt[j, O_IDLE]
        reports[dk.R_GRANTED_LAST, j] = olt[j, O_GRANTED_LAST]
        reports[dk.R_POLL, j] = poll[j]


@inline_kernel
def book_grants(
    k: int, alloc: I64, n_alloc: int, min_frame_bytes: int, olt: I64, cum_granted: I64
) -> None:
    """The OLT's books after frame ``k``'s BWmap: payload granted (room that can carry a
    frame: the few bytes beside a DBRu-only poll cannot) and when each T-CONT was polled."""
    for a in range(n_alloc):
        j = alloc[A_TCONT, a]
        room = alloc[A_ROOM, a]
        if room >= min_frame_bytes:
            olt[j, O_CUM_TOTAL] += room
            olt[j, O_GRANTED_TOTAL] += room
        if alloc[A_DBRU, a] == 1:
            olt[j, O_LAST_DBRU] = k
    row = k & (cum_granted.shape[0] - 1)
    for j in range(olt.shape[0]):
        cum_granted[row, j] = olt[j, O_CUM_TOTAL]


@inline_kernel
def burst_timing(
    alloc: I64, n_alloc: int, time_base_ps: int, onu_of: I64, one_way_ps: I64, end_ps: int,
    ctx: I64, cutoff_ps: I64, dbru_arrival_ps: I64,
) -> None:  # fmt: skip
    """When each allocation's burst may be cut off at its ONU and its DBRu reaches the OLT.

    A burst at line offset ``o`` arrives at ``U_k + o · 125 µs / bytes_per_frame`` and left
    its ONU one one-way delay earlier (the cut-off, never past the end of the run); the DBRu
    arrives at the end of its field, FEC included.
    """
    frame_ps = ctx[dk.C_FRAME_PS]
    bpf = ctx[dk.C_US_BPF]
    inv_bpf = 1.0 / bpf
    fec_n, fec_k = ctx[dk.C_FEC_N], ctx[dk.C_FEC_K]
    inv_fk = 1.0 / fec_k if fec_k > 0 else 0.0
    for a in range(n_alloc):
        j = alloc[A_TCONT, a]
        arrival = time_base_ps + dk.fdiv(alloc[A_BURST_START, a] * frame_ps, bpf, inv_bpf)
        cut = arrival - one_way_ps[onu_of[j]]
        cutoff_ps[a] = cut if cut < end_ps - 1 else end_ps - 1
        dbru_end = alloc[A_DBRU_END, a]
        if fec_k > 0:
            dbru_end = dk.cdiv(dbru_end * fec_n, fec_k, inv_fk)
        dbru_arrival_ps[a] = time_base_ps + dk.fdiv(
            (alloc[A_LINE_START, a] + dbru_end) * frame_ps, bpf, inv_bpf
        )


@inline_kernel
def mask_not_operating(onu_up: I64, onu_of: I64, grants: I64, dbru_mask: I64) -> None:
    """The OLT masks the T-CONTs of ONUs that are not operating (``onu_up[i] == 0``: not
    activated, lost, powered off, isolated) out of the BWmap: no grant, no DBRu poll."""
    for j in range(grants.shape[0]):
        if onu_up[onu_of[j]] == 0:
            grants[j] = 0
            dbru_mask[j] = 0


@inline_kernel
def select_polls_up(
    k: int, olt: I64, every_frames: int, budget: int, poll: I64, onu_up: I64, onu_of: I64
) -> None:
    """:func:`select_polls` among the T-CONTs of operating ONUs only (the others would take
    the poll budget and then be masked out of the BWmap)."""
    n_t = olt.shape[0]
    saved = np.empty(n_t, dtype=np.int64)
    for j in range(n_t):
        saved[j] = olt[j, O_LAST_DBRU]
        if onu_up[onu_of[j]] == 0:
            olt[j, O_LAST_DBRU] = k
    select_polls(k, olt, every_frames, budget, poll)
    for j in range(n_t):
        olt[j, O_LAST_DBRU] = saved[j]
        if onu_up[onu_of[j]] == 0:
            poll[j] = 0


@inline_kernel
def mask_reports(onu_up: I64, onu_of: I64, reports: I64) -> None:
    """The DBA's view of a T-CONT whose ONU is not operating: no report, no demand, no poll
    (so a DBA does not keep capacity for an ONU it cannot grant)."""
    for j in range(reports.shape[1]):
        if onu_up[onu_of[j]] == 0:
            reports[dk.R_REPORT, j] = 0
            reports[dk.R_SINCE, j] = 0
            reports[dk.R_DEMAND, j] = 0
            reports[dk.R_IDLE, j] = 0
            reports[dk.R_GRANTED_LAST, j] = 0
            reports[dk.R_POLL, j] = 0


def pending_capacity(n_tconts: int, teqd_ps: int, frame_ps: int, latency_frames: int) -> int:
    """Slots of the DBRu ring: every T-CONT can have a report in flight for Teqd plus the
    processing latency plus a few frames; a power of two (the kernels mask indices)."""
    cap = (n_tconts + 1) * (teqd_ps // frame_ps + latency_frames + 4)
    return 1 << (cap - 1).bit_length()


@dataclass
class UpstreamPlan:
    """One upstream frame's allocations with the timing each engine needs (per allocation)."""

    bwmap: BwMap
    time_base_ps: int  #: U_k, when the upstream frame starts arriving at the OLT
    cutoff_ps: I64  #: latest arrival time at the ONU that still makes this burst
    dbru_arrival_ps: I64  #: when the DBRu reaches the OLT


class OltUpstream:
    """Runs the DBA once per cycle and turns its grants into validated BWmaps.

    Its state is a few arrays (``olt``, ``cum_granted``, ``pend``, ``pend_ht``) updated by
    the kernels above, which the compiled frame loop runs on the same arrays.

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
        self.one_way_ps = np.ascontiguousarray(one_way_ps, dtype=np.int64)
        self.teqd_ps = teqd_ps
        self.report_latency_ps = report_latency_ps
        self.dbru_every_frames = dbru_every_frames
        self.end_ps = end_ps
        self.builder = BwmapBuilder(profile, fec, tconts, dba.name)
        n = tconts.count
        self.poll_budget = max(1, profile.max_allocations_per_frame // POLL_SHARE_DIVISOR)
        if GRANT_HISTORY_FRAMES & (GRANT_HISTORY_FRAMES - 1):
            raise AssertionError("the grant history must be a power of two (kernels mask)")
        #: What the OLT knows (``O_*`` columns).
        self.olt: I64 = np.zeros((n, O_N), dtype=np.int64)
        self.olt[:, O_REPORT_FRAME] = -1
        self.olt[:, O_REPORT_ARRIVAL] = -1
        self.olt[:, O_LAST_DBRU] = -(10**9)
        #: Cumulative payload granted per frame, a ring: ``cum_granted[f % H]``.
        self.cum_granted: I64 = np.zeros((GRANT_HISTORY_FRAMES, n), dtype=np.int64)
        latency_frames = -(-report_latency_ps // profile.frame_ps)
        cap = pending_capacity(n, teqd_ps, profile.frame_ps, latency_frames)
        #: DBRus in flight (``P_*`` columns), FIFO in arrival order; ``pend_ht`` = head, tail.
        self.pend: I64 = np.zeros((cap, P_N), dtype=np.int64)
        self.pend_ht: I64 = np.zeros(2, dtype=np.int64)
        self._poll = np.zeros(n, dtype=np.int64)
        self._reports = np.zeros((dk.R_N, n), dtype=np.int64)
        self._cycle_grants: I64 | None = None
        self._cycle_start = 0
        # Statistics.
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
        """Queue the DBRus (values from :mod:`onu.report`) of one upstream frame's bursts,
        in arrival order, with the idle and granted payload bytes of those bursts."""
        for i in range(len(tcont)):
            ok = post_report(
                self.pend, self.pend_ht, int(tcont[i]), int(report_bytes[i]),
                int(arrival_ps[i]), frame, int(idle_bytes[i]), int(granted_bytes[i]),
            )  # fmt: skip
            if not ok:
                raise InvariantError(
                    f"more DBRus in flight than the OLT's ring holds ({len(self.pend)})"
                )

    def _reports_view(self, frame: int, now_ps: int, onu_up: I64 | None = None) -> Reports:
        rep = self._reports
        fill_reports(frame, now_ps, self.olt, self.cum_granted, self._poll, rep)
        if onu_up is not None:
            mask_reports(onu_up, self.builder.onu_of, rep)
        return Reports(
            report_bytes=rep[dk.R_REPORT].copy(),
            report_age_ps=rep[dk.R_AGE_PS].copy(),
            granted_since_bytes=rep[dk.R_SINCE].copy(),
            demand_bytes=rep[dk.R_DEMAND].copy(),
            idle_bytes=rep[dk.R_IDLE].copy(),
            granted_last_bytes=rep[dk.R_GRANTED_LAST].copy(),
            poll_mask=rep[dk.R_POLL] == 1,
            frame=frame,
        )

    # ------------------------------------------------------------------ frames
    def plan_frame(
        self, frame: int, onu_up: I64 | None = None, quiet_bytes: int = 0
    ) -> UpstreamPlan:
        """Decide upstream frame ``frame``'s allocations at ``t_k`` (running the DBA if due).

        ``onu_up`` (per ONU, 1 operating, from the run's control plan) masks the T-CONTs of
        ONUs that are not operating (:func:`mask_not_operating`); ``quiet_bytes`` opens a
        quiet window at the start of the frame (:func:`olt.bwmap.lay_out_quiet`).
        """
        p = self.profile
        now_ps = frame * p.frame_ps
        apply_reports(now_ps - self.report_latency_ps, self.pend, self.pend_ht, self.olt)
        uses_reports = self.dba.uses_reports
        cycle = self.ctx.cycle_frames
        cycle_starts = self._cycle_grants is None or frame - self._cycle_start >= cycle
        # Polls are decided with the DBA, at the start of a cycle, so the DBA's budget for
        # every frame of the cycle already knows them.
        if cycle_starts:
            if uses_reports and onu_up is not None:
                select_polls_up(
                    frame, self.olt, self.dbru_every_frames, self.poll_budget, self._poll,
                    onu_up, self.builder.onu_of,
                )  # fmt: skip
            elif uses_reports:
                select_polls(frame, self.olt, self.dbru_every_frames, self.poll_budget, self._poll)
            else:
                self._poll[:] = 0
            view = self._reports_view(frame, now_ps, onu_up)
            raw = self.dba.allocate(now_ps, view)
            self._cycle_grants = self.builder.check_grants(frame, raw, cycle)
            self._cycle_start = frame
        else:
            self._poll[:] = 0
        assert self._cycle_grants is not None  # set at the first frame (a cycle start)
        grants = self._cycle_grants[frame - self._cycle_start]
        poll = self._poll == 1
        dbru_mask = (grants > 0) | poll if uses_reports else np.zeros_like(poll)
        if onu_up is not None:
            grants = grants.copy()
            dbru_i = dbru_mask.astype(np.int64)
            mask_not_operating(onu_up, self.builder.onu_of, grants, dbru_i)
            dbru_mask = dbru_i == 1
        bwmap = self.builder.build(frame, grants, dbru_mask, quiet_bytes)
        n = bwmap.n_allocations
        alloc = self.builder.last_alloc
        book_grants(frame, alloc, n, p.encap_min_frame_bytes, self.olt, self.cum_granted)
        self.allocations_total += n
        time_base = now_ps + self.teqd_ps
        cutoff = np.zeros(n, dtype=np.int64)
        dbru_arrival = np.zeros(n, dtype=np.int64)
        burst_timing(
            alloc, n, time_base, self.builder.onu_of, self.one_way_ps, self.end_ps,
            self.ctx.kernel_ctx, cutoff, dbru_arrival,
        )  # fmt: skip
        return UpstreamPlan(bwmap, time_base, cutoff, dbru_arrival)


__all__ = ["OltUpstream", "UpstreamPlan", "DbaError"]
