"""``proportional``: grant what was reported, shared in proportion when the frame is full.

Status-reporting (SR) DBA in its simplest form.  Demand of a T-CONT = last DBRu − payload
granted since that report (the OLT's own bookkeeping), capped by the T-CONT's maximum rate
R_M per frame.  If the demands fit the frame, each is granted in full; otherwise every T-CONT
gets ``demand × capacity / Σ demand``.  No fixed or assured guarantees (see ``sr-dba``).

Parameters (``[dba.params]``)
-----------------------------
min_grant_bytes : int, default 0
    Smallest non-zero grant: avoids bursts whose overhead dwarfs their payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ftth.errors import InputError
from olt.dba.base import I64, Dba, DbaContext, Reports
from olt.dba.registry import register


@register
class ProportionalDba(Dba):
    name = "proportional"
    #: Compiled twin in :mod:`ftth.emulator.compiled`.
    compiled_kind = 2
    summary = "grant = reported demand, scaled down proportionally when the frame is full"

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        unknown = set(params) - {"min_grant_bytes"}
        if unknown:
            raise InputError(
                f"dba.params.{sorted(unknown)[0]}",
                "unknown parameter for 'proportional'; valid: min_grant_bytes",
            )
        raw = params.get("min_grant_bytes", 0)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InputError(
                "dba.params.min_grant_bytes", f"must be a whole number of bytes ≥ 0, got {raw!r}"
            )
        self.min_grant_bytes = raw
        if self.min_grant_bytes < 0:
            raise InputError(
                "dba.params.min_grant_bytes", f"must be ≥ 0, got {self.min_grant_bytes}"
            )
        # R_M per cycle; types 1-3 without R_M are capped by what they are guaranteed.
        cap = ctx.max_bytes_per_frame + ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
        self.cap_per_cycle: I64 = np.floor(cap * ctx.cycle_frames).astype(np.int64)

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        ctx = self.ctx
        unit = ctx.grant_unit_bytes
        # The minimum grant applies first, the T-CONT's maximum rate R_M last: a minimum
        # never lets a T-CONT exceed what it is provisioned for.
        demand = reports.demand_bytes
        demand = np.where(
            (demand > 0) & (demand < self.min_grant_bytes), self.min_grant_bytes, demand
        )
        demand = np.minimum(demand, self.cap_per_cycle)
        # Payload + DBRu fill whole grant units exactly (the BWmap pads to units anyway, and
        # padding beyond the request would overshoot R_M); rounded up so a small remainder is
        # not starved.
        dbru = ctx.profile.dbru_bytes if ctx.dbru_in_every_allocation else 0
        per = ctx.per_frame(demand)
        per_frame = np.where(per > 0, -(-(per + dbru) // unit) * unit - dbru, 0)
        per_frame = ctx.limit_allocations(per_frame, reports.poll_mask)
        capacity = ctx.payload_capacity(reports.poll_mask | (per_frame > 0))
        total = int(per_frame.sum())
        if total > capacity:
            # Scale down and round down, so the sum stays within the frame.
            scaled = (per_frame * capacity) // total
            per_frame = np.maximum(((scaled + dbru) // unit) * unit - dbru, 0)
        return np.asarray(per_frame, dtype=np.int64)
