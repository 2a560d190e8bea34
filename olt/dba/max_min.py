"""``max-min``: guarantees first, then weighted max-min fair shares (water-filling) of the rest.

Algorithm (per DBA cycle, all T-CONTs at once)
----------------------------------------------
Max-min fairness (Bertsekas & Gallager, *Data Networks*, ch. 6, max-min flow control)
gives every T-CONT the largest share it can have without taking from a T-CONT that has
less; with weights, shares are compared as ``grant / weight``.  It is computed by
*water-filling*: raise a level λ until ``Σ min(request_j, λ·weight_j)`` uses the capacity;
T-CONTs that ask for less than their weighted level are served in full, the rest get
``λ·weight_j``.

In the DBA order of pon-reference §5:

1. **Fixed** R_F (types 1, 5) is granted every frame whatever the demand.
2. **Assured** R_A (types 2, 3, 5) up to the demand still unserved after the fixed grant.
   If admission control was broken and the guarantees alone exceed the frame, they are
   themselves water-filled (fixed first, then assured, weighted by the guaranteed rate).
3. **Surplus**: what is left of the frame is water-filled over the remaining demand (capped
   by R_M), weighted by the provisioned T-CONT ``weight``; with ``strict_priority`` the
   T-CONT ``priority`` levels are served in order (0 first) and water-filling happens inside
   a level.

Demand is the OLT's own estimate (:attr:`Reports.demand_bytes` = last DBRu − payload granted
since), spread over the frames of the cycle, in whole grant units rounded up.

Parameters (``[dba.params]``)
-----------------------------
strict_priority : bool, default true
    Serve surplus by T-CONT priority first (pon-reference §5 step 4), max-min inside a
    priority level.  ``false``: one water-filling over all T-CONTs, priority ignored.

Simplifications
---------------
* Grants are whole grant units.  The float water-filling level is turned into units by
  flooring and handing the remaining units one by one to the largest remainders (ties: lower
  T-CONT index), so a grant differs from its ideal share by less than one unit.
* Rates are held with per-T-CONT token buckets in bytes (:class:`RateLimiter`), so R_F is
  granted exactly on average and R_M is never exceeded on average; the bucket banks at most
  one cycle plus one grant unit, so an idle T-CONT cannot save up bandwidth.  The assured
  entitlement of a frame is R_A rounded *up* to a grant unit (at most one unit above R_A per
  frame while R_M allows it).
* Unused fixed grants (idle type-1 T-CONTs) are not reclaimed: fixed bandwidth is reserved.
* The frame's overhead is charged for every T-CONT with a request (each gets a share).  When
  they need more than the 512 allocation structures of a frame, the smallest requests wait
  for a later frame (:meth:`DbaContext.limit_allocations`) before the shares are computed.

The vector helpers it shares with the GIANT family, EBU and TM-DBA (water-filling, service
in order, rate buckets, parameter reading) live in :mod:`olt.dba.shares`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from olt.dba.base import F64, I64, Dba, DbaContext, Reports
from olt.dba.registry import register
from olt.dba.shares import (
    ParamSpec,
    RateLimiter,
    ceil_div,
    ceiling_bytes_per_frame,
    demand_units,
    fill_by_priority,
    grant_fixed_first,
    integer_fill,
    read_params,
)


@register
class MaxMinDba(Dba):
    name = "max-min"
    summary = "guarantees first, then weighted max-min fair shares (water-filling) of the rest"
    PARAMS: dict[str, ParamSpec] = {"strict_priority": ("bool", True, None, None)}

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        values = read_params(self.name, params, self.PARAMS)
        self.strict_priority: bool = values["strict_priority"]
        unit, cycle = ctx.grant_unit_bytes, ctx.cycle_frames
        self.fixed = RateLimiter(ctx.fixed_bytes_per_frame, cycle, unit)
        self.ceiling = RateLimiter(ceiling_bytes_per_frame(ctx), cycle, unit)
        self.assured_units: I64 = ceil_div(np.ceil(ctx.assured_bytes_per_frame), unit)
        guaranteed = ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
        self.guarantee_weight: F64 = np.where(guaranteed > 0, guaranteed, 1.0)

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        ctx = self.ctx
        unit = ctx.grant_unit_bytes
        cap = self.ceiling.allowance()
        want = np.minimum(demand_units(ctx, reports), cap)
        # 1. fixed R_F, whatever the demand.
        grant, want, left = grant_fixed_first(
            ctx, self.fixed, want, self.guarantee_weight, reports.poll_mask
        )
        rest = np.maximum(want - grant, 0)
        # 2. assured up to the demand, within R_M.
        assured = np.minimum(np.minimum(rest, self.assured_units), np.maximum(cap - grant, 0))
        got = integer_fill(assured, self.guarantee_weight, left)
        grant += got
        left -= int(got.sum())
        # 3. surplus: weighted max-min of what is left.
        rest = np.maximum(np.minimum(want, cap) - grant, 0)
        if self.strict_priority:
            got = fill_by_priority(rest, ctx.tconts.priority, ctx.tconts.weight, left)
        else:
            got = integer_fill(rest, ctx.tconts.weight, left)
        grant += got
        out = grant * unit  # ≤ 512 allocations: admit_allocations trimmed the candidates
        self.ceiling.charge(grant)
        return out
