"""``proportional``: grant what was reported, shared in proportion when the frame is full.

Status-reporting (SR) DBA in its simplest form.  Demand of a T-CONT = last DBRu − payload
granted since that report (the OLT's own bookkeeping).  If the demands fit the frame, each is
granted in full; otherwise every T-CONT gets ``demand × capacity / Σ demand``.  No fixed or
assured guarantees (see ``sr-dba``).

The T-CONT's ceiling from the type rules (:func:`olt.dba.kernel.ceiling_bytes_per_frame`:
R_M, or R_F + R_A for types 1 and 2, which have no R_M) is enforced with a token bucket in
integer millibits: it refills at the rate every cycle, holds at most one cycle
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
from olt.dba import kernel as dk
from olt.dba.base import I64, DbaContext, KernelDba
from olt.dba.params import read_param
from olt.dba.registry import register

# ``state_i`` layout: [min_grant_bytes, rate_mb × n, depth_mb × n, credit_mb × n].
_S_MIN_GRANT = 0
_S_ARRAYS = 1


@dk.dba_kernel
def proportional_kernel(
    ctx: I64, tcont_i: I64, tcont_f: dk.F64, reports: I64, state_i: I64, state_f: dk.F64,
    grants: I64,
) -> int:  # fmt: skip
    """Grant the reported demand within each T-CONT's token bucket; scale down in
    proportion when the frame is full (same grant in every frame of the cycle)."""
    n = reports.shape[1]
    unit = ctx[dk.C_UNIT]
    inv_unit = 1.0 / unit
    cycle = ctx[dk.C_CYCLE]
    inv_cycle = 1.0 / cycle
    dbru = ctx[dk.C_DBRU]
    useful = ctx[dk.C_MIN_USEFUL]
    min_grant = state_i[_S_MIN_GRANT]
    rate = state_i[_S_ARRAYS : _S_ARRAYS + n]
    depth = state_i[_S_ARRAYS + n : _S_ARRAYS + 2 * n]
    credit = state_i[_S_ARRAYS + 2 * n : _S_ARRAYS + 3 * n]
    out = grants[0]
    for j in range(n):
        c = credit[j] + rate[j] * cycle
        credit[j] = c if c < depth[j] else depth[j]
        d = reports[dk.R_DEMAND, j]
        if d <= 0:
            continue  # out[j] stays 0; skips the divisions for idle T-CONTs
        allow = dk.fdiv(credit[j], 8000, 1.0 / 8000)
        # The minimum grant applies first, the rate's credit last: a minimum never lets a
        # T-CONT exceed what it is provisioned for.
        if d < min_grant:
            d = min_grant
        if d > allow:
            d = allow
        # Below a useful size: grant the smallest useful one if credit allows, else wait.
        if 0 < d < useful:
            d = useful if allow >= useful else 0
        if d <= 0:
            continue
        # Payload + DBRu fill whole grant units exactly (the BWmap pads to units anyway);
        # rounded up so a small remainder is not starved.
        per = dk.cdiv(d, cycle, inv_cycle)
        out[j] = dk.cdiv(per + dbru, unit, inv_unit) * unit - dbru
    dk.limit_allocations(out, reports[dk.R_POLL], ctx)
    total = 0
    allocated = np.zeros(n, dtype=np.bool_)
    for j in range(n):
        total += out[j]
        allocated[j] = reports[dk.R_POLL, j] != 0 or out[j] > 0
    capacity = dk.payload_capacity(allocated, tcont_i[dk.TI_ONU], ctx)
    if total > capacity:
        # Scale down and round down, so the sum stays within the frame.
        inv_total = 1.0 / total
        for j in range(n):
            scaled = dk.fdiv(out[j] * capacity, total, inv_total)
            scaled = dk.fdiv(scaled + dbru, unit, inv_unit) * unit - dbru
            out[j] = scaled if scaled >= useful else 0
    for j in range(n):
        credit[j] -= out[j] * cycle * 8000
    for f in range(1, cycle):
        for j in range(n):
            grants[f, j] = out[j]
    return 0


@register
class ProportionalDba(KernelDba):
    name = "proportional"
    kernel = proportional_kernel
    summary = "grant = reported demand, scaled down proportionally when the frame is full"

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        unknown = set(params) - {"min_grant_bytes"}
        if unknown:
            raise InputError(
                f"dba.params.{sorted(unknown)[0]}",
                "unknown parameter for 'proportional'; valid: min_grant_bytes",
            )
        # At most the largest GrantSize: a bigger minimum could never be granted.
        max_grant = ctx.profile.max_grant_units * ctx.grant_unit_bytes
        self.min_grant_bytes: int = read_param(
            "min_grant_bytes", params.get("min_grant_bytes", 0), "int", 0, max_grant
        )
        t = ctx.tconts
        # The ceiling in millibits per frame (exact for rates in whole 8 b/s).
        ceiling_bps = dk.ceiling_bytes_per_frame(t.fixed_bps, t.assured_bps, t.max_bps)
        rate_mb = np.floor(ceiling_bps * ctx.frame_ps / 1e9).astype(np.int64)
        mtu_grant = int(ctx.kernel_ctx[dk.C_MTU_GRANT])
        depth_bytes = np.maximum(rate_mb * ctx.cycle_frames // 8000, mtu_grant)
        depth_mb = np.maximum(rate_mb * ctx.cycle_frames, depth_bytes * 8000)
        self.state_i = np.concatenate(
            [np.array([self.min_grant_bytes], dtype=np.int64), rate_mb, depth_mb, depth_mb]
        ).astype(np.int64)

    def _field(self, i: int) -> I64:
        n = self.ctx.tconts.count
        return self.state_i[_S_ARRAYS + i * n : _S_ARRAYS + (i + 1) * n]

    @property
    def rate_mb(self) -> I64:
        """Ceiling per T-CONT, millibits per frame (a view into the kernel state)."""
        return self._field(0)

    @property
    def depth_mb(self) -> I64:
        """Token-bucket depth, millibits (a view into the kernel state)."""
        return self._field(1)

    @property
    def credit_mb(self) -> I64:
        """Token buckets, millibits (a view into the kernel state)."""
        return self._field(2)
