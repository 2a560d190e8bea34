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

from ftth.phy import ETH_MAX_FRAME_BYTES, FecCode, Profile, encapsulated_bytes, psbu_slot_bytes
from olt.dba import kernel as dk

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
        #: Most a T-CONT may get per frame, from the type rules (one place: olt.dba.kernel).
        self.ceiling_bytes_per_frame: F64 = dk.ceiling_bytes_per_frame(
            self.fixed_bytes_per_frame, self.assured_bytes_per_frame, self.max_bytes_per_frame
        )
        self.onu_of: I64 = np.ascontiguousarray(tconts.onu_index, dtype=np.int64)
        self.kernel_ctx: I64 = self._kernel_ctx()
        # The provisioned table as the kernels see it (olt.dba.kernel TI_* / TF_* rows).
        self.tcont_i: I64 = np.ascontiguousarray(
            np.stack([tconts.onu_index, tconts.alloc_id, tconts.tcont_type, tconts.priority]),
            dtype=np.int64,
        )
        self.tcont_f: F64 = np.ascontiguousarray(
            np.stack(
                [
                    self.fixed_bytes_per_frame,
                    self.assured_bytes_per_frame,
                    self.max_bytes_per_frame,
                    np.asarray(tconts.weight, dtype=np.float64),
                    self.ceiling_bytes_per_frame,
                ]
            ),
            dtype=np.float64,
        )

    def _kernel_ctx(self) -> I64:
        """The ``ctx`` vector of :mod:`olt.dba.kernel` (the frame fields are set per call)."""
        p, unit = self.profile, self.grant_unit_bytes
        v = np.zeros(dk.C_N, dtype=np.int64)
        v[dk.C_FRAME_PS] = p.frame_ps
        v[dk.C_CYCLE] = self.cycle_frames
        v[dk.C_UNIT] = unit
        v[dk.C_US_BPF] = self.frame_line_bytes
        v[dk.C_PSBU_SLOT] = psbu_slot_bytes(p)
        v[dk.C_US_HDR] = p.us_burst_header_bytes
        v[dk.C_US_TRL] = p.us_burst_trailer_bytes
        dbru = p.dbru_bytes if self.dbru_in_every_allocation else 0
        v[dk.C_DBRU] = dbru
        v[dk.C_MAX_ALLOCS] = p.max_allocations_per_frame
        if self.fec is not None:
            v[dk.C_FEC_N], v[dk.C_FEC_K] = self.fec.n, self.fec.k
        v[dk.C_N_ONUS] = self.n_onus
        v[dk.C_MIN_FRAME] = p.encap_min_frame_bytes
        v[dk.C_MIN_USEFUL] = max(
            p.encap_min_frame_bytes, p.encap_header_bytes + p.encap_align_bytes
        )
        v[dk.C_MTU_GRANT] = -(-(encapsulated_bytes(p, ETH_MAX_FRAME_BYTES) + dbru) // unit) * unit
        v[dk.C_MAX_GRANT_UNITS] = p.max_grant_units
        v[dk.C_MAX_START_UNITS] = p.max_start_units
        return v

    def payload_capacity(self, allocated: B) -> int:
        """Payload bytes one frame can grant when the T-CONTs in ``allocated`` get allocations
        (:func:`olt.dba.kernel.payload_capacity`, the function compiled DBAs call).

        Conservative by at most one grant unit per allocation and burst, so any grants that
        sum to this (per frame) always fit the BWmap.
        """
        mask = np.ascontiguousarray(allocated, dtype=np.bool_)
        return int(dk.payload_capacity(mask, self.onu_of, self.kernel_ctx))

    def limit_allocations(self, grants: I64, poll_mask: B) -> I64:
        """Drop the smallest grants (ties: higher index first) so that grants plus polls fit
        the frame's allocation structures (512 in XG(S)-PON, G.987.3 §8.1.1).  Dropped
        T-CONTs keep their demand and are served in a later frame
        (:func:`olt.dba.kernel.limit_allocations`)."""
        out = np.array(grants, dtype=np.int64)
        poll = np.ascontiguousarray(poll_mask, dtype=np.int64)
        dk.limit_allocations(out, poll, self.kernel_ctx)
        return out

    def per_frame(self, bytes_per_cycle: I64) -> I64:
        """Split per-cycle grants into per-frame grants (ceil), for multi-frame cycles."""
        n = self.cycle_frames
        return np.asarray(-(-np.asarray(bytes_per_cycle, dtype=np.int64) // n), dtype=np.int64)


class DbaBase:
    """What every DBA has: a name, its context and its parameters.  A DBA derives from one of
    the two kinds below — :class:`Dba` (frame DBAs: GPON, XG-PON, XGS-PON) or
    :class:`EponDba` (polling DBAs: EPON) — never from this class directly.

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
    #: Whether the DBA shares surplus by the provisioned T-CONT ``weight`` (``ftth dba-check``
    #: then holds it to shares proportional to the weights).
    weighted: ClassVar[bool] = False

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.params = dict(params)


class Dba(DbaBase):
    """Base class of a frame DBA (GPON, XG-PON, XGS-PON).  Subclasses set :attr:`name` and
    implement :meth:`allocate` (or derive from :class:`KernelDba` and name a kernel)."""

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


class KernelDba(Dba):
    """Base of a frame DBA written as a kernel (:mod:`olt.dba.kernel`): runs at compiled
    speed inside the fast engine's frame loop, and the same function serves every engine.

    Subclasses set :attr:`kernel` to a :func:`olt.dba.kernel.dba_kernel` function and, in
    ``__init__``, fill :attr:`state_i` / :attr:`state_f` with whatever the kernel keeps
    between cycles (token buckets, timers, …).  :meth:`allocate` is implemented here.
    """

    #: The DBA's allocate function over arrays (an :class:`olt.dba.kernel.DbaKernel`).
    kernel: ClassVar[Any] = None

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        #: The kernel's own state, updated in place by every call.
        self.state_i: I64 = np.zeros(1, dtype=np.int64)
        self.state_f: F64 = np.zeros(1, dtype=np.float64)
        n = ctx.tconts.count
        self._reports = np.zeros((dk.R_N, n), dtype=np.int64)
        self._grants = np.zeros((ctx.cycle_frames, n), dtype=np.int64)

    def kernel_ctx(self) -> I64:
        """The ``ctx`` vector the kernel receives (frame fields set per call)."""
        v = self.ctx.kernel_ctx.copy()
        if not self.uses_reports:
            v[dk.C_DBRU] = 0
        return v

    def error_text(self, code: int) -> str:
        """Words for a non-zero status returned by the kernel (override to explain yours)."""
        return f"the DBA kernel returned error code {code}"

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        rep = self._reports
        rep[dk.R_REPORT] = reports.report_bytes
        rep[dk.R_AGE_PS] = reports.report_age_ps
        rep[dk.R_SINCE] = reports.granted_since_bytes
        rep[dk.R_DEMAND] = reports.demand_bytes
        rep[dk.R_IDLE] = reports.idle_bytes
        rep[dk.R_GRANTED_LAST] = reports.granted_last_bytes
        rep[dk.R_POLL] = reports.poll_mask
        ctx = self._ctx_vector
        ctx[dk.C_FRAME] = reports.frame
        ctx[dk.C_NOW_PS] = now_ps
        grants = self._grants
        grants[:] = 0
        status = self.kernel(
            ctx, self.ctx.tcont_i, self.ctx.tcont_f, rep, self.state_i, self.state_f, grants
        )
        if status != 0:
            from ftth.errors import DbaError

            raise DbaError(self.name, int(reports.frame), self.error_text(int(status)))
        # One frame per cycle: the plain (n,) form most callers and tests expect.
        return grants[0].copy() if grants.shape[0] == 1 else grants.copy()

    @property
    def _ctx_vector(self) -> I64:
        cached: I64 | None = self.__dict__.get("_ctx_cache")
        if cached is None:
            cached = self.kernel_ctx()
            self.__dict__["_ctx_cache"] = cached
        return cached


class EponDba(DbaBase):
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
