"""The DBA plugin API: what a DBA sees, and what it must return.

A DBA sees only what a real OLT sees: the T-CONTs it provisioned (type, fixed / assured /
maximum rates, priority, weight — OMCI data), the last DBRu of each T-CONT and its age,
how much it has granted since that report, the idle bytes of past grants, and its own
history.  It never touches a queue.

Once per DBA cycle the OLT calls :meth:`Dba.allocate`; the returned payload grants (bytes per
T-CONT per frame) go to the BWmap builder (:mod:`olt.bwmap`), which adds DBRu, aligns to the
grant unit, lays out the bursts and refuses anything the standard forbids.

A minimal DBA::

    from olt.dba.base import Dba, Reports
    from olt.dba.registry import register

    @register
    class GreedyFirst(Dba):
        name = "greedy-first"

        def allocate(self, now_ps: int, reports: Reports) -> np.ndarray:
            budget = self.ctx.payload_capacity(reports.poll_mask | (reports.demand_bytes > 0))
            ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ftth.phy import FecCode, Profile, psbu_slot_bytes

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TcontTable:
    """What the OLT provisioned for each T-CONT (index ``j`` = position in these arrays)."""

    onu_index: I64  #: ONU (0-based position in the ONU list) owning the T-CONT
    alloc_id: I64
    tcont_type: I64  #: 1..5
    fixed_bps: F64
    assured_bps: F64
    max_bps: F64
    priority: I64
    weight: F64

    @property
    def count(self) -> int:
        return len(self.onu_index)


@dataclass
class Reports:
    """The DBA's view of the upstream demand, refreshed before every DBA cycle.

    Attributes
    ----------
    report_bytes
        Last DBRu value per T-CONT (encapsulated bytes queued after that burst, rounded up to
        the report unit), 0 before the first report.
    report_age_ps
        Time since that DBRu reached the OLT (−1: never reported).
    granted_since_bytes
        Payload bytes the OLT granted in BWmaps issued after the reported burst.
    demand_bytes
        ``max(0, report_bytes − granted_since_bytes)``: what is still unserved as far as the
        OLT can know.
    idle_bytes
        Idle (unused) payload bytes seen in the T-CONT's most recent burst — TM-DBA's input.
    granted_last_bytes
        Payload bytes granted in that most recent burst.
    poll_mask
        T-CONTs that will get an allocation with a DBRu this frame whatever the DBA grants
        (polling of idle T-CONTs); their bursts cost overhead the DBA must leave room for.
    frame
        Index of the upstream frame the grants are for.
    """

    report_bytes: I64
    report_age_ps: I64
    granted_since_bytes: I64
    demand_bytes: I64
    idle_bytes: I64
    granted_last_bytes: I64
    poll_mask: B
    frame: int


class DbaContext:
    """Frame arithmetic a DBA needs, derived from the profile (no constant repeated here)."""

    def __init__(
        self,
        profile: Profile,
        fec: FecCode | None,
        tconts: TcontTable,
        n_onus: int,
        cycle_frames: int,
        dbru_in_every_allocation: bool,
    ) -> None:
        self.profile = profile
        self.fec = fec
        self.tconts = tconts
        self.n_onus = n_onus
        self.cycle_frames = cycle_frames
        self.dbru_in_every_allocation = dbru_in_every_allocation
        self.frame_ps = profile.frame_ps
        self.grant_unit_bytes = profile.grant_unit_bytes
        self.frame_line_bytes = profile.us_bytes_per_frame
        frame_s = profile.frame_ps / 1e12
        # Rates converted to payload bytes per frame (floats: a DBA may carry credit).
        self.fixed_bytes_per_frame: F64 = tconts.fixed_bps * frame_s / 8
        self.assured_bytes_per_frame: F64 = tconts.assured_bps * frame_s / 8
        self.max_bytes_per_frame: F64 = tconts.max_bps * frame_s / 8

    def payload_capacity(self, allocated: B) -> int:
        """Payload bytes one frame can grant when the T-CONTs in ``allocated`` get allocations.

        Conservative by at most one grant unit per allocation and burst, so any grants that
        sum to this (per frame) always fit the BWmap: it charges each burst its PSBu slot, TC
        header and trailer, one unit of alignment slack and one FEC rounding byte, and each
        allocation a DBRu (if the DBA uses reports) and one unit of rounding.
        """
        allocated = np.asarray(allocated, dtype=bool)
        n_allocs = int(np.count_nonzero(allocated))
        if n_allocs == 0:
            return 0
        n_bursts = len(np.unique(self.tconts.onu_index[allocated]))
        p = self.profile
        unit = self.grant_unit_bytes
        line = self.frame_line_bytes - n_bursts * (psbu_slot_bytes(p) + unit + 1)
        data = self.fec.data_bytes(line) if self.fec else line
        data -= n_bursts * (p.us_burst_header_bytes + p.us_burst_trailer_bytes)
        dbru = p.dbru_bytes if self.dbru_in_every_allocation else 0
        data -= n_allocs * (unit + dbru)
        return max(0, data)

    def limit_allocations(self, grants: I64, poll_mask: B) -> I64:
        """Drop the smallest grants (ties: higher index first) so that grants plus polls fit
        the frame's allocation structures (512 in XG(S)-PON, G.987.3 §8.1.1).  Dropped
        T-CONTs keep their demand and are served in a later frame."""
        limit = self.profile.max_allocations_per_frame
        if int(np.count_nonzero((grants > 0) | poll_mask)) <= limit:
            return grants
        room = max(0, limit - int(np.count_nonzero(poll_mask)))
        candidates = np.flatnonzero((grants > 0) & ~poll_mask)
        order = np.argsort(-grants[candidates], kind="stable")
        out = grants.copy()
        out[candidates[order[room:]]] = 0
        return out

    def per_frame(self, bytes_per_cycle: I64) -> I64:
        """Split per-cycle grants into per-frame grants (ceil), for multi-frame cycles."""
        n = self.cycle_frames
        return np.asarray(-(-np.asarray(bytes_per_cycle, dtype=np.int64) // n), dtype=np.int64)


class Dba:
    """Base class of every DBA.  Subclasses set :attr:`name` and implement :meth:`allocate`.

    Parameters
    ----------
    ctx
        Frame arithmetic and the provisioned T-CONT table.
    params
        The scenario's ``[dba.params]`` table; subclasses validate what they read and raise
        :class:`ftth.errors.InputError` naming ``dba.params.<key>`` for bad values.
    """

    name: ClassVar[str] = ""
    #: Whether the DBA reads DBRu reports (if not, the OLT asks for none: no DBRu overhead).
    uses_reports: ClassVar[bool] = True
    #: One-line description shown by ``ftth list dbas``.
    summary: ClassVar[str] = ""

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.params = dict(params)

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        """Payload grants for the next cycle.

        Returns
        -------
        numpy.ndarray
            ``int64`` bytes per T-CONT, shape ``(n_tconts,)`` — the same grant in every frame
            of the cycle — or ``(cycle_frames, n_tconts)``.  0 means no allocation (unless the
            T-CONT is polled).
        """
        raise NotImplementedError


class EponDba(Dba):
    """Base of the MPCP polling DBAs (EPON, IEEE 802.3ah/av): one grant per ONU per poll.

    An EPON OLT has no 125 µs frame: it grants each ONU (LLID) a transmission window with a
    GATE, and the ONU ends its window with a REPORT of what is still queued (802.3 §64.3.6).
    The engine (:mod:`ftth.emulator.epon`) asks :meth:`window_bytes` how much an ONU may send
    when its REPORT reaches the OLT, schedules the window after the previous one plus the guard
    time and no earlier than one round trip later, and lets the ONU fill it with whole frames.

    Parameters common to every EPON DBA (``[dba.params]``)
    ------------------------------------------------------
    guard_us : float, default profile guard (1 µs)
        Idle time between two ONUs' windows (laser on/off, AGC, clock recovery).
    """

    epon: ClassVar[bool] = True
    #: REPORT at the start of the window (textbook polling) instead of the end (802.3 MPCP).
    report_first: ClassVar[bool] = False
    #: Extra parameter names a subclass accepts (besides ``guard_us``).
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        from ftth.errors import InputError
        from olt.dba.params import read_param

        allowed = ("guard_us", *self.param_names)
        for key in params:
            if key not in allowed:
                raise InputError(
                    f"dba.params.{key}",
                    f"unknown parameter for {self.name!r}; valid: {', '.join(allowed)}",
                )
        default_us = ctx.profile.default_guard_ps / 1e6
        guard_us = read_param("guard_us", params.get("guard_us", default_us), "float", 0, 1000)
        self.guard_ps = int(round(guard_us * 1e6))
        #: Ignore propagation (textbook polling systems have zero round trip).
        self.rtt_zero = False
        #: Serve until the queues are empty, including arrivals during the window.
        self.exhaustive = False

    def window_bytes(self, onu: int, reported_bytes: int) -> int:
        """Bytes (Ethernet frames with preamble and IFG) ONU ``onu`` may send in its next
        window, given its last REPORT (``reported_bytes``, same units)."""
        raise NotImplementedError

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        raise NotImplementedError(f"{self.name} is an EPON polling DBA; it has no frame allocation")
