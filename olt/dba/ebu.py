"""``ebu``: Efficient Bandwidth Utilisation — negative byte counters and reuse of unused
assured bandwidth in the same cycle.

Algorithm (Han, Yoo & Lee, "Development of efficient dynamic bandwidth allocation algorithm
for XGPON", ETRI Journal 35(1), 2013)
------------------------------------------------------------------------------------------
EBU derives from GIANT.  Each T-CONT has an *available byte counter* VB for its assured
bandwidth, replenished with AB = R_A × cycle every DBA cycle as ``VB ← min(VB + AB, AB)``
(unused bytes do not accumulate; a debt is repaid first).  Two rules distinguish it:

1. **The counter may go negative.**  A T-CONT whose counter is positive is granted its
   demand up to ``VB + overdraft`` (``overdraft = overdraft_cycles × AB``), so a burst
   leaves in one go instead of being cut at AB; the counter goes negative and the debt is
   repaid from the next replenishments, during which the T-CONT gets no assured grant of
   its own.  On average a T-CONT's own assured grants stay at R_A.
2. **The unused remainder is used by the other T-CONTs.**  What is left in the positive
   counters after every T-CONT took its own share (the assured bytes of idle or lightly
   loaded T-CONTs) is pooled and, *in the same cycle*, water-filled over the T-CONTs with
   assured bandwidth that still have demand (weighted by R_A), before any surplus is
   handed out.  Borrowing from the pool is not charged to the borrower's counter.

Per cycle, in order: fixed R_F (always) → own assured (rule 1) → pool (rule 2) →
non-assured surplus to T-CONTs with guarantees, weighted by R_F + R_A → best effort by
priority, then weight (pon-reference §5).  Every stage is capped by R_M and by the room
left in the frame.

Parameters (``[dba.params]``)
-----------------------------
overdraft_cycles : float, cycles of AB, default 1.0, range 0..16
    How far below zero a counter may go.  0 disables rule 1 (grants capped at VB).

Simplifications
---------------
* The counters are replenished every DBA cycle (EBU replenishes every SI of the T-CONT and
  polls with its own scheme; here the OLT polls, ``[dba] dbru_every_frames``).
* The pool is redistributed in the cycle it is left unused (the paper aggregates it per
  T-CONT class at SI expiry and uses it to cancel negative counters); the effect — idle
  assured bandwidth goes to busy assured T-CONTs first — is the same.
* Rounding, rate buckets and the fixed bandwidth are those of :mod:`olt.dba.max_min`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from olt.dba.base import F64, I64, Dba, DbaContext, Reports
from olt.dba.registry import register
from olt.dba.shares import (
    ParamSpec,
    RateLimiter,
    ceiling_bytes_per_frame,
    demand_units,
    fill_by_priority,
    grant_fixed_first,
    integer_fill,
    read_params,
)


@register
class EbuDba(Dba):
    name = "ebu"
    summary = "EBU: negative byte counters; unused assured bandwidth reused in the same cycle"
    PARAMS: ClassVar[dict[str, ParamSpec]] = {"overdraft_cycles": ("float", 1.0, 0.0, 16.0)}

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        values = read_params(self.name, params, self.PARAMS)
        self.overdraft_cycles: float = values["overdraft_cycles"]
        cycle, unit = ctx.cycle_frames, ctx.grant_unit_bytes
        self.fixed = RateLimiter(ctx.fixed_bytes_per_frame, cycle, unit)
        self.ceiling = RateLimiter(ceiling_bytes_per_frame(ctx), cycle, unit)
        #: Assured bytes per cycle (AB) and the available byte counters (VB), in bytes.
        self.ab_bytes: F64 = ctx.assured_bytes_per_frame * cycle
        self.vb_bytes: F64 = np.zeros(ctx.tconts.count, dtype=np.float64)
        self.assured = self.ab_bytes > 0
        self.ab_weight: F64 = np.where(self.assured, self.ab_bytes, 1.0)
        guaranteed = ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
        self.has_guarantee = guaranteed > 0
        self.guarantee_weight: F64 = np.where(self.has_guarantee, guaranteed, 1.0)
        #: Bytes a cycle's counter spends per grant unit granted in every frame of the cycle.
        self.unit_cost = float(unit * cycle)

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        ctx = self.ctx
        unit = ctx.grant_unit_bytes
        cap = self.ceiling.allowance()
        want = np.minimum(demand_units(ctx, reports), cap)
        # 1. fixed R_F, whatever the demand.
        grant, want, left = grant_fixed_first(
            ctx, self.fixed, want, self.guarantee_weight, reports.poll_mask
        )
        # Rule 1: own assured share, up to VB + overdraft (VB may go negative).
        self.vb_bytes = np.minimum(self.vb_bytes + self.ab_bytes, self.ab_bytes)
        limit_bytes = self.vb_bytes + self.overdraft_cycles * self.ab_bytes
        limit = np.floor(np.maximum(limit_bytes, 0.0) / self.unit_cost).astype(np.int64)
        eligible = self.assured & (self.vb_bytes > 0)
        rest = np.maximum(want - grant, 0)
        own = integer_fill(np.where(eligible, np.minimum(rest, limit), 0), self.ab_weight, left)
        self.vb_bytes -= own * self.unit_cost
        grant += own
        left -= int(own.sum())
        # Rule 2: the unused remainder of positive counters, to assured T-CONTs still busy.
        pool = int(np.floor(np.maximum(self.vb_bytes, 0.0).sum() / self.unit_cost))
        rest = np.where(self.assured, np.maximum(want - grant, 0), 0)
        borrowed = integer_fill(rest, self.ab_weight, min(pool, left))
        grant += borrowed
        left -= int(borrowed.sum())
        # Surplus: non-assured (T-CONTs with guarantees), then best effort.
        rest = np.where(self.has_guarantee, np.maximum(want - grant, 0), 0)
        got = integer_fill(rest, self.guarantee_weight, left)
        grant += got
        left -= int(got.sum())
        rest = np.where(self.has_guarantee, 0, np.maximum(want - grant, 0))
        grant += fill_by_priority(rest, ctx.tconts.priority, ctx.tconts.weight, left)
        self.ceiling.charge(grant)
        return grant * unit  # ≤ 512 allocations: admit_allocations trimmed the candidates
