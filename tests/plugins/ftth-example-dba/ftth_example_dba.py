"""An example third-party DBA, in both forms: share each frame equally among T-CONTs that asked.

Installed as its own package, it reaches ftth through the ``ftth.dba`` entry-point group;
nothing in the ftth repository names it.  See docs/writing-a-dba.md.

- ``equal-share`` (:class:`EqualShareDba`): the plain form, ``allocate(now_ps, reports)`` in
  numpy.  Runs in the stepped engine: one Python call per frame.
- ``equal-share-kernel`` (:class:`EqualShareKernelDba`): the same rule as a kernel over arrays
  (:mod:`olt.dba.kernel`), which the fast engine runs inside its compiled frame loop.
"""

from __future__ import annotations

import numpy as np

from olt.dba import kernel as dk
from olt.dba.base import Dba, KernelDba, Reports


class EqualShareDba(Dba):
    name = "equal-share"
    summary = "equal share of the frame among T-CONTs with demand (example plugin)"

    def allocate(self, now_ps: int, reports: Reports) -> np.ndarray:
        ctx = self.ctx
        unit = ctx.grant_unit_bytes
        dbru = ctx.profile.dbru_bytes
        # What each T-CONT still waits for, never more than the ceiling of its type allows
        # (R_M, or R_F + R_A for types 1 and 2): one frame's worth, rounded down.
        ceiling = np.floor(ctx.ceiling_bytes_per_frame).astype(np.int64)
        demand = np.minimum(reports.demand_bytes, ceiling)
        wanting = demand > 0
        if not wanting.any():
            return np.zeros_like(demand)
        # Equal share of what the frame holds once every burst's overhead is paid.
        budget = ctx.payload_capacity(wanting | reports.poll_mask)
        share = budget // int(wanting.sum())
        grant = np.where(wanting, np.minimum(demand, share), 0)
        # Payload + DBRu must fill whole grant units; round down so the budget holds.
        grant = np.where(grant > 0, ((grant + dbru) // unit) * unit - dbru, 0)
        return np.maximum(grant, 0).astype(np.int64)


@dk.dba_kernel
def equal_share_kernel(ctx, tcont_i, tcont_f, reports, state_i, state_f, grants):  # type: ignore[no-untyped-def]
    """The rule of EqualShareDba over arrays: the same grants, compiled by numba."""
    n = reports.shape[1]
    unit = ctx[dk.C_UNIT]
    dbru = ctx[dk.C_DBRU]
    wanting = np.zeros(n, dtype=np.bool_)
    demand = np.zeros(n, dtype=np.int64)
    count = 0
    for j in range(n):
        d = min(reports[dk.R_DEMAND, j], int(tcont_f[dk.TF_CEILING, j]))
        if d > 0:
            demand[j] = d
            wanting[j] = True
            count += 1
    if count == 0:
        return 0
    allocated = wanting.copy()
    for j in range(n):
        if reports[dk.R_POLL, j] != 0:
            allocated[j] = True
    share = dk.payload_capacity(allocated, tcont_i[dk.TI_ONU], ctx) // count
    for f in range(grants.shape[0]):
        for j in range(n):
            g = min(demand[j], share)
            if g > 0:
                g = ((g + dbru) // unit) * unit - dbru
            grants[f, j] = max(g, 0)
    return 0


class EqualShareKernelDba(KernelDba):
    name = "equal-share-kernel"
    summary = "equal-share in kernel form: runs in the compiled frame loop (example plugin)"
    kernel = equal_share_kernel
