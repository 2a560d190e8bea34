"""An example third-party DBA: share each frame equally among T-CONTs that asked.

Installed as its own package, it reaches ftth through the ``ftth.dba`` entry-point group;
nothing in the ftth repository names it.  See docs/writing-a-dba.md.
"""

from __future__ import annotations

import numpy as np

from olt.dba.base import Dba, Reports


class EqualShareDba(Dba):
    name = "equal-share"
    summary = "equal share of the frame among T-CONTs with demand (example plugin)"

    def allocate(self, now_ps: int, reports: Reports) -> np.ndarray:
        ctx = self.ctx
        unit = ctx.grant_unit_bytes
        dbru = ctx.profile.dbru_bytes
        # What each T-CONT still waits for, never more than its maximum rate R_M allows.
        rates = ctx.max_bytes_per_frame + ctx.assured_bytes_per_frame + ctx.fixed_bytes_per_frame
        demand = np.minimum(reports.demand_bytes, np.floor(rates).astype(np.int64))
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
