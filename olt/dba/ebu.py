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

Why ``ebu`` and ``max-min`` give identical numbers at light load
----------------------------------------------------------------
Not a bug, a consequence of the first simplification (issue 15 noticed it).  Both DBAs grant
every T-CONT every cycle, and every stage hands out demand up to the same R_M bucket
(:mod:`olt.dba.shares`): when the reports fit the frame, each T-CONT gets R_F plus its
reported demand in whole units, whatever the order of the stages — so the grants, and every
delay and throughput, are the same (``test_light_load_grants_equal_max_min``).  The byte
counters, the overdraft and the pool only decide *who* is cut when the frame is full.  The
published EBU inherits GIANT's service intervals, which delay a light-load T-CONT until
its timer expires; that behaviour is :mod:`olt.dba.giant`'s (``si_max_frames``), not
modelled again here.

Kernel state (:class:`olt.dba.base.KernelDba`; ``n`` T-CONTs)
-------------------------------------------------------------
``state_f``: ``[overdraft_cycles, unit_cost, fixed bucket × 3n, ceiling bucket × 3n,
AB × n, VB × n, AB weight × n, guarantee weight × n]`` — bytes; ``unit_cost`` is what one
grant unit in every frame of a cycle costs a counter (unit × cycle frames); the AB weight is
AB (1 without R_A), the guarantee weight R_F + R_A (1 without guarantees).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ftth.jit import inline_kernel
from olt.dba import kernel as dk
from olt.dba import shares as sh
from olt.dba.base import F64, I64, DbaContext, KernelDba
from olt.dba.registry import register
from olt.dba.shares import ParamSpec, read_params

# ``state_f``: scalars, then per-T-CONT arrays at _F_ARRAYS + (these multiples of n).
_F_OVERDRAFT, _F_UNIT_COST, _F_ARRAYS = 0, 1, 2
_A_FIXED, _A_CEILING, _A_AB, _A_VB, _A_AB_WEIGHT, _A_G_WEIGHT = 0, 3, 6, 7, 8, 9


@inline_kernel
def _share_full_frame(
    tcont_i: I64, tcont_f: F64, want: I64, grant: I64, request: I64, left: int, vb: F64,
    ab: F64, ab_weight: F64, g_weight: F64, unit_cost: float,
) -> None:  # fmt: skip
    """Rules 1 and 2, then the surplus, when the demands do not all fit (adds to ``grant``
    in place; ``request`` holds each T-CONT's own-share request)."""
    n = want.shape[0]
    got = sh.integer_fill(request, ab_weight, left)
    for j in range(n):
        vb[j] -= got[j] * unit_cost
        grant[j] += got[j]
        left -= got[j]
    # Rule 2: the unused remainder of positive counters, to assured T-CONTs still busy.
    unused = 0.0
    for j in range(n):
        if vb[j] > 0.0:
            unused += vb[j]
    pool = int(np.floor(unused / unit_cost))
    for j in range(n):
        request[j] = max(want[j] - grant[j], 0) if ab[j] > 0 else 0
    got = sh.integer_fill(request, ab_weight, pool if pool < left else left)
    for j in range(n):
        grant[j] += got[j]
        left -= got[j]
    # Surplus: non-assured (T-CONTs with guarantees), then best effort.
    for j in range(n):
        guaranteed = tcont_f[dk.TF_FIXED, j] + tcont_f[dk.TF_ASSURED, j] > 0
        request[j] = max(want[j] - grant[j], 0) if guaranteed else 0
    got = sh.integer_fill(request, g_weight, left)
    for j in range(n):
        grant[j] += got[j]
        left -= got[j]
    for j in range(n):
        guaranteed = tcont_f[dk.TF_FIXED, j] + tcont_f[dk.TF_ASSURED, j] > 0
        request[j] = 0 if guaranteed else max(want[j] - grant[j], 0)
    got = sh.fill_by_priority(request, tcont_i[dk.TI_PRIORITY], tcont_f[dk.TF_WEIGHT], left)
    for j in range(n):
        grant[j] += got[j]


@dk.dba_kernel
def ebu_kernel(
    ctx: I64, tcont_i: I64, tcont_f: F64, reports: I64, state_i: I64, state_f: F64,
    grants: I64,
) -> int:  # fmt: skip
    """Fixed → own assured (counter may go negative) → pool of unused assured → surplus to
    T-CONTs with guarantees → best effort (the same grant every frame of the cycle)."""
    n = reports.shape[1]
    unit = ctx[dk.C_UNIT]
    cycle = ctx[dk.C_CYCLE]
    frame_units = float(unit * cycle)
    overdraft = state_f[_F_OVERDRAFT]
    unit_cost = state_f[_F_UNIT_COST]
    a = state_f[_F_ARRAYS:]
    fixed_bucket = a[_A_FIXED * n : (_A_FIXED + 3) * n]
    ceiling_bucket = a[_A_CEILING * n : (_A_CEILING + 3) * n]
    ab = a[_A_AB * n : (_A_AB + 1) * n]
    vb = a[_A_VB * n : (_A_VB + 1) * n]
    ab_weight = a[_A_AB_WEIGHT * n : (_A_AB_WEIGHT + 1) * n]
    g_weight = a[_A_G_WEIGHT * n : (_A_G_WEIGHT + 1) * n]
    cap = np.empty(n, dtype=np.int64)
    sh.bucket_allowance(ceiling_bucket, frame_units, cap)
    want = sh.demand_units(ctx, reports[dk.R_DEMAND])
    sh.cap_whole_packets(ctx, want, cap)
    # 1. fixed R_F, whatever the demand.
    grant, left = sh.grant_fixed_first(
        ctx, tcont_i[dk.TI_ONU], fixed_bucket, want, g_weight, reports[dk.R_POLL]
    )
    # Rule 1: own assured share, up to VB + overdraft (VB may go negative).
    request = np.empty(n, dtype=np.int64)
    rest_total = 0
    for j in range(n):
        v = vb[j] + ab[j]
        vb[j] = v if v < ab[j] else ab[j]
        limit_bytes = vb[j] + overdraft * ab[j]
        limit = np.int64(np.floor((limit_bytes if limit_bytes > 0.0 else 0.0) / unit_cost))
        rest = max(want[j] - grant[j], 0)
        rest_total += rest
        request[j] = min(rest, limit) if ab[j] > 0 and vb[j] > 0 else 0
    if rest_total <= left:
        # Every demand fits (light load): each stage would grant its requests in full, so
        # the result is the demand; only the own-share charge to the counters remains.
        for j in range(n):
            vb[j] -= request[j] * unit_cost
            grant[j] += max(want[j] - grant[j], 0)
    else:
        _share_full_frame(
            tcont_i, tcont_f, want, grant, request, left, vb, ab, ab_weight, g_weight, unit_cost
        )
    sh.bucket_charge(ceiling_bucket, frame_units, grant)
    # ≤ 512 allocations: admit_allocations trimmed the candidates.
    for f in range(cycle):
        for j in range(n):
            grants[f, j] = grant[j] * unit
    return 0


@register
class EbuDba(KernelDba):
    name = "ebu"
    weighted = True
    kernel = ebu_kernel
    summary = "EBU: negative byte counters; unused assured bandwidth reused in the same cycle"
    PARAMS: ClassVar[dict[str, ParamSpec]] = {"overdraft_cycles": ("float", 1.0, 0.0, 16.0)}

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        values = read_params(self.name, params, self.PARAMS)
        self.overdraft_cycles: float = values["overdraft_cycles"]
        cycle, unit = ctx.cycle_frames, ctx.grant_unit_bytes
        mtu = float(ctx.kernel_ctx[dk.C_MTU_GRANT])  # ceiling bucket depth: one packet
        ab_bytes = ctx.assured_bytes_per_frame * cycle
        guaranteed = ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
        self.state_f = np.concatenate(
            [
                np.array([self.overdraft_cycles, float(unit * cycle)]),
                sh.rate_bucket(ctx.fixed_bytes_per_frame, cycle, unit),
                sh.rate_bucket(ctx.ceiling_bytes_per_frame, cycle, unit, burst_bytes=mtu),
                ab_bytes,
                np.zeros(ctx.tconts.count),
                np.where(ab_bytes > 0, ab_bytes, 1.0),
                np.where(guaranteed > 0, guaranteed, 1.0),
            ]
        ).astype(np.float64)

    def _field(self, k: int) -> F64:
        n = self.ctx.tconts.count
        return self.state_f[_F_ARRAYS + k * n : _F_ARRAYS + (k + 1) * n]

    @property
    def ab_bytes(self) -> F64:
        """Assured bytes per cycle (AB) per T-CONT (a view into the kernel state)."""
        return self._field(_A_AB)

    @property
    def vb_bytes(self) -> F64:
        """The available byte counters (VB), bytes (a view into the kernel state)."""
        return self._field(_A_VB)
