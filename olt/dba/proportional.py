"""``proportional``: grant what was reported, shared in proportion when the frame is full.

Status-reporting (SR) DBA in its simplest form.  Demand of a T-CONT = last DBRu − payload
granted since that report (the OLT's own bookkeeping).  If the demands fit the frame, each is
granted in full; otherwise every T-CONT gets ``demand × capacity / Σ demand``.  No fixed or
assured guarantees (see ``sr-dba``).

The T-CONT's provisioned rate (R_M, or R_F + R_A for types without R_M) is enforced with a
token bucket in integer millibits: it refills at the rate every cycle, holds at most one cycle
of it or one encapsulated maximum-size frame (whichever is larger), and every grant is
charged to it.  A slow T-CONT — 100 kb/s is 1.6 bytes per frame, less than the smallest
GEM/XGEM frame — therefore waits until it has credit for a useful grant instead of receiving
grants too small to carry anything, and the long-run rate never exceeds what was provisioned.

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
from ftth.phy import encapsulated_bytes
from olt.dba.base import I64, Dba, DbaContext, Reports
from olt.dba.params import read_param
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
        # Bounded like tm-dba's: a grant above 1 MB exceeds any frame's payload anyway.
        self.min_grant_bytes: int = read_param(
            "min_grant_bytes", params.get("min_grant_bytes", 0), "int", 0, 1_000_000
        )
        p = ctx.profile
        # Provisioned rate in millibits per frame (exact for rates in whole 8 b/s).
        rate_bps = ctx.tconts.max_bps + ctx.tconts.fixed_bps + ctx.tconts.assured_bps
        self.rate_mb: I64 = np.floor(rate_bps * ctx.frame_ps / 1e9).astype(np.int64)
        unit = ctx.grant_unit_bytes
        self.dbru_bytes = p.dbru_bytes if ctx.dbru_in_every_allocation else 0
        #: Smallest payload room that can carry anything (a minimum GEM/XGEM frame).
        self.min_useful_bytes = max(
            p.encap_min_frame_bytes, p.encap_header_bytes + p.encap_align_bytes
        )
        mtu_grant = -(-(encapsulated_bytes(p, 1518) + self.dbru_bytes) // unit) * unit
        depth_bytes = np.maximum(self.rate_mb * ctx.cycle_frames // 8000, mtu_grant)
        self.depth_mb: I64 = np.maximum(self.rate_mb * ctx.cycle_frames, depth_bytes * 8000)
        self.credit_mb: I64 = self.depth_mb.copy()

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        ctx = self.ctx
        unit = ctx.grant_unit_bytes
        cycle = ctx.cycle_frames
        useful = self.min_useful_bytes
        self.credit_mb = np.minimum(self.depth_mb, self.credit_mb + self.rate_mb * cycle)
        allow = self.credit_mb // 8000
        # The minimum grant applies first, the rate's credit last: a minimum never lets a
        # T-CONT exceed what it is provisioned for.
        demand = reports.demand_bytes
        demand = np.where(
            (demand > 0) & (demand < self.min_grant_bytes), self.min_grant_bytes, demand
        )
        demand = np.minimum(demand, allow)
        # Below a useful size: grant the smallest useful one if credit allows, else wait.
        small = (demand > 0) & (demand < useful)
        demand = np.where(small, np.where(allow >= useful, useful, 0), demand)
        # Payload + DBRu fill whole grant units exactly (the BWmap pads to units anyway);
        # rounded up so a small remainder is not starved.
        dbru = self.dbru_bytes
        per = ctx.per_frame(demand)
        per_frame = np.where(per > 0, -(-(per + dbru) // unit) * unit - dbru, 0)
        per_frame = ctx.limit_allocations(per_frame, reports.poll_mask)
        capacity = ctx.payload_capacity(reports.poll_mask | (per_frame > 0))
        total = int(per_frame.sum())
        if total > capacity:
            # Scale down and round down, so the sum stays within the frame.
            scaled = (per_frame * capacity) // total
            per_frame = np.maximum(((scaled + dbru) // unit) * unit - dbru, 0)
            per_frame = np.where(per_frame < useful, 0, per_frame)
        self.credit_mb = self.credit_mb - per_frame * cycle * 8000
        return np.asarray(per_frame, dtype=np.int64)
