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
* Rates are held with per-T-CONT token buckets in bytes (rate buckets of
  :mod:`olt.dba.shares`), so R_F is granted exactly on average and R_M is never exceeded
  on average; the bucket banks at most one cycle plus one grant unit, so an idle T-CONT
  cannot save up bandwidth.  The assured entitlement of a frame is R_A rounded *up* to a
  grant unit (at most one unit above R_A per frame while R_M allows it).
* Unused fixed grants (idle type-1 T-CONTs) are not reclaimed: fixed bandwidth is reserved.
* When every report fits the frame each T-CONT gets R_F plus its demand (within R_M), as
  in ``ebu``, which therefore gives identical numbers at light load (see :mod:`olt.dba.ebu`).
* The frame's overhead is charged for every T-CONT with a request (each gets a share).  When
  they need more than the 512 allocation structures of a frame, the smallest requests wait
  for a later frame (:meth:`DbaContext.limit_allocations`) before the shares are computed.

The kernels it shares with the GIANT family, EBU and TM-DBA (water-filling, service in
order, rate buckets, guarantees first, parameter reading) live in :mod:`olt.dba.shares`.

Kernel state (:class:`olt.dba.base.KernelDba`; ``n`` T-CONTs)
-------------------------------------------------------------
``state_i``: ``[strict_priority, assured_units × n]`` (R_A per frame in grant units, rounded up).
``state_f``: ``[fixed bucket × 3n, ceiling bucket × 3n, guarantee weight × n]`` (rate buckets
of :mod:`olt.dba.shares`; the weight is R_F + R_A, or 1 without guarantees).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from olt.dba import kernel as dk
from olt.dba import shares as sh
from olt.dba.base import F64, I64, DbaContext, KernelDba
from olt.dba.registry import register
from olt.dba.shares import ParamSpec, read_params

# ``state_i``: scalars, then per-T-CONT arrays.
_I_STRICT = 0
_I_ASSURED = 1
# ``state_f``: per-T-CONT arrays, at these multiples of n.
_F_FIXED, _F_CEILING, _F_WEIGHT = 0, 3, 6


@dk.dba_kernel
def max_min_kernel(
    ctx: I64, tcont_i: I64, tcont_f: F64, reports: I64, state_i: I64, state_f: F64,
    grants: I64,
) -> int:  # fmt: skip
    """Fixed → assured → weighted max-min of the surplus (the same grant every frame)."""
    n = reports.shape[1]
    unit = ctx[dk.C_UNIT]
    cycle = ctx[dk.C_CYCLE]
    frame_units = float(unit * cycle)
    assured_units = state_i[_I_ASSURED : _I_ASSURED + n]
    fixed_bucket = state_f[_F_FIXED * n : (_F_FIXED + 3) * n]
    ceiling_bucket = state_f[_F_CEILING * n : (_F_CEILING + 3) * n]
    g_weight = state_f[_F_WEIGHT * n : (_F_WEIGHT + 1) * n]
    cap = np.empty(n, dtype=np.int64)
    sh.bucket_allowance(ceiling_bucket, frame_units, cap)
    want = sh.demand_units(ctx, reports[dk.R_DEMAND])
    sh.cap_whole_packets(ctx, want, cap)
    # 1. fixed R_F, whatever the demand.
    grant, left = sh.grant_fixed_first(
        ctx, tcont_i[dk.TI_ONU], fixed_bucket, want, g_weight, reports[dk.R_POLL]
    )
    # Every demand fits (light load): steps 2 and 3 would grant it in full (want ≤ cap).
    if not sh.grant_rest_if_it_fits(want, grant, left):
        # 2. assured up to the demand, within R_M.
        request = np.empty(n, dtype=np.int64)
        for j in range(n):
            a = min(max(want[j] - grant[j], 0), assured_units[j])
            request[j] = min(a, max(cap[j] - grant[j], 0))
        got = sh.integer_fill(request, g_weight, left)
        for j in range(n):
            grant[j] += got[j]
            left -= got[j]
        # 3. surplus: weighted max-min of what is left.
        for j in range(n):
            request[j] = max(min(want[j], cap[j]) - grant[j], 0)
        if state_i[_I_STRICT] != 0:
            got = sh.fill_by_priority(request, tcont_i[dk.TI_PRIORITY], tcont_f[dk.TF_WEIGHT], left)
        else:
            got = sh.integer_fill(request, tcont_f[dk.TF_WEIGHT], left)
        for j in range(n):
            grant[j] += got[j]
    sh.bucket_charge(ceiling_bucket, frame_units, grant)
    # ≤ 512 allocations: admit_allocations trimmed the candidates.
    for f in range(cycle):
        for j in range(n):
            grants[f, j] = grant[j] * unit
    return 0


@register
class MaxMinDba(KernelDba):
    name = "max-min"
    weighted = True
    kernel = max_min_kernel
    summary = "guarantees first, then weighted max-min fair shares (water-filling) of the rest"
    PARAMS: ClassVar[dict[str, ParamSpec]] = {"strict_priority": ("bool", True, None, None)}

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        values = read_params(self.name, params, self.PARAMS)
        self.strict_priority: bool = values["strict_priority"]
        unit, cycle = ctx.grant_unit_bytes, ctx.cycle_frames
        mtu = float(ctx.kernel_ctx[dk.C_MTU_GRANT])  # ceiling bucket depth: one packet
        assured_units = sh.ceil_div(np.ceil(ctx.assured_bytes_per_frame), unit)
        guaranteed = ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
        self.state_i = np.concatenate(
            [np.array([int(self.strict_priority)]), assured_units]
        ).astype(np.int64)
        self.state_f = np.concatenate(
            [
                sh.rate_bucket(ctx.fixed_bytes_per_frame, cycle, unit),
                sh.rate_bucket(ctx.ceiling_bytes_per_frame, cycle, unit, burst_bytes=mtu),
                np.where(guaranteed > 0, guaranteed, 1.0),
            ]
        ).astype(np.float64)

    @property
    def assured_units(self) -> I64:
        """R_A per frame in grant units, rounded up (a view into the kernel state)."""
        return self.state_i[_I_ASSURED:]
