"""``tm-dba``: traffic-monitoring DBA — grants sized from the idle bytes of past grants.

Algorithm (the non-status-reporting DBA of ITU-T G.984.3 / G.987.3: the OLT infers demand
from the idle GEM / XGEM frames an ONU sends in the grants it does not fill)
--------------------------------------------------------------------------------------------
The DBA keeps a grant size per T-CONT and adapts it to what it sees in the T-CONT's bursts,
never to DBRu queue reports:

* a grant that came back **fully used** (idle bytes below ``idle_threshold_bytes``) means
  the queue may hold more: the next grant becomes ``observed grant × increase_factor +
  increase_bytes`` (multiplicative and additive increase);
* a grant with **idle bytes** means the queue emptied: the next grant becomes
  ``observed grant − decrease_factor × idle`` (with ``decrease_factor = 1``: exactly what was
  used);
* the grant never drops below the guaranteed R_F + R_A nor below ``min_grant_bytes``, so
  every T-CONT keeps being observed, and never exceeds R_M.

The next grant is computed from the *observed* grant, not compounded on the current one,
so the several grants in flight during the report latency do not make it run away, and
seeing the same burst again (no newer one has arrived) changes nothing.

When the frame cannot hold every grant: fixed R_F first (always), then assured up to the
grant size, then the rest water-filled by T-CONT weight (:mod:`olt.dba.max_min`).

Parameters (``[dba.params]``)
-----------------------------
increase_factor : float, default 2.0, range 1..16
    Multiplier applied to a fully used grant.
increase_bytes : int, bytes per frame, default 1536, range 0..1_000_000
    Added to a fully used grant (one Ethernet frame with its encapsulation: a T-CONT with a
    tiny probe grant reaches a useful size within a few observations).
decrease_factor : float, default 0.5, range 0..1
    Share of the idle bytes taken off the next grant.
idle_threshold_bytes : int, bytes, default: the profile's minimum GEM/XGEM frame (5 B GPON,
16 B XG(S)-PON), range 0..1_000_000
    Idle bytes below this count as "fully used": a queue that still holds data can leave
    less than one minimum frame unused at the end of a grant (a fragment must carry its
    header), so such leftovers are not a sign of an empty queue.
min_grant_bytes : int, bytes per frame, default 64, range 1..1_000_000
    Smallest grant of a T-CONT without guarantees (its probe), rounded up to the grant unit.

Engine limitation, and why ``uses_reports`` is True
----------------------------------------------------
The OLT (:mod:`olt.upstream`) only learns the idle bytes of a burst through
:meth:`OltUpstream.post_reports`, which the engines call for allocations that carry a DBRu.
With ``uses_reports = False`` the OLT requests no DBRu at all, so ``Reports.idle_bytes`` and
``granted_last_bytes`` would stay 0 for ever and TM-DBA would be blind.  It therefore keeps
``uses_reports = True`` — each allocation pays the DBRu field (4 B XG(S)-PON, 2 B GPON) and
idle T-CONTs are polled — but **ignores** ``report_bytes``, ``demand_bytes`` and
``granted_since_bytes``; only ``idle_bytes`` and ``granted_last_bytes`` are read.  A real
NSR OLT counts idle frames without any DBRu.

Simplifications
---------------
* Idle bytes are the unused payload of the T-CONT's most recent burst as the OLT's books
  record it, not a count of idle XGEM frames (the same quantity, without the framing).
* One observation per burst; with a multi-frame cycle only the latest burst visible at the
  cycle start is used.

Kernel state (:class:`olt.dba.base.KernelDba`; ``n`` T-CONTs)
-------------------------------------------------------------
``state_i``: ``[assured_units × n]`` (R_A per frame in grant units, rounded up).
``state_f``: ``[increase_factor, increase_bytes, decrease_factor, idle_threshold_bytes,
floor × n, ceiling × n, grant size × n, guarantee weight × n, fixed bucket × 3n,
ceiling bucket × 3n]`` — bytes per frame; the buckets are :mod:`olt.dba.shares` rate buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ftth.jit import inline_kernel
from olt.dba import kernel as dk
from olt.dba import shares as sh
from olt.dba.base import F64, I64, DbaContext, KernelDba, Reports
from olt.dba.registry import register
from olt.dba.shares import ParamSpec, read_params

# ``state_f``: scalars, then per-T-CONT arrays at _F_ARRAYS + (these multiples of n).
_F_INC_FACTOR, _F_INC_BYTES, _F_DEC_FACTOR, _F_IDLE_THRESHOLD, _F_ARRAYS = range(5)
_A_FLOOR, _A_CEILING, _A_GRANT, _A_G_WEIGHT, _A_FIXED_BUCKET, _A_LIMIT_BUCKET = 0, 1, 2, 3, 4, 7


@inline_kernel
def tm_observe(granted_last: I64, idle_bytes: I64, state_f: F64) -> None:
    """Update the grant sizes in ``state_f`` from the bursts seen since the last cycle
    (``reports[R_GRANTED_LAST]`` and ``reports[R_IDLE]``)."""
    n = granted_last.shape[0]
    inc_factor = state_f[_F_INC_FACTOR]
    inc_bytes = state_f[_F_INC_BYTES]
    dec_factor = state_f[_F_DEC_FACTOR]
    threshold = state_f[_F_IDLE_THRESHOLD]
    a = state_f[_F_ARRAYS:]
    floor = a[_A_FLOOR * n : (_A_FLOOR + 1) * n]
    ceiling = a[_A_CEILING * n : (_A_CEILING + 1) * n]
    grant = a[_A_GRANT * n : (_A_GRANT + 1) * n]
    for j in range(n):
        # Nothing reported yet, or a DBRu-only poll (no payload granted): no information.
        if granted_last[j] <= 0:
            continue
        observed = float(granted_last[j])
        idle = float(min(idle_bytes[j], granted_last[j]))
        if idle < threshold:  # fully used: grow (never below the current size)
            target = observed * inc_factor + inc_bytes
            if grant[j] > target:
                target = grant[j]
        else:  # the queue emptied: shrink by the idle bytes
            target = observed - dec_factor * idle
        if target < floor[j]:
            target = floor[j]
        if target > ceiling[j]:
            target = ceiling[j]
        grant[j] = target


@dk.dba_kernel
def tm_dba_kernel(
    ctx: I64, tcont_i: I64, tcont_f: F64, reports: I64, state_i: I64, state_f: F64,
    grants: I64,
) -> int:  # fmt: skip
    """Grant sizes from the idle bytes seen; fixed → assured → weighted rest when the
    frame is full (the same grant every frame of the cycle)."""
    n = reports.shape[1]
    unit = ctx[dk.C_UNIT]
    cycle = ctx[dk.C_CYCLE]
    frame_units = float(unit * cycle)
    tm_observe(reports[dk.R_GRANTED_LAST], reports[dk.R_IDLE], state_f)
    assured_units = state_i[:n]
    a = state_f[_F_ARRAYS:]
    size = a[_A_GRANT * n : (_A_GRANT + 1) * n]
    g_weight = a[_A_G_WEIGHT * n : (_A_G_WEIGHT + 1) * n]
    fixed_bucket = a[_A_FIXED_BUCKET * n : (_A_FIXED_BUCKET + 3) * n]
    limit_bucket = a[_A_LIMIT_BUCKET * n : (_A_LIMIT_BUCKET + 3) * n]
    want = np.empty(n, dtype=np.int64)
    sh.bucket_allowance(limit_bucket, frame_units, want)
    for j in range(n):
        w = dk.ceil_div(int(np.ceil(size[j])), unit)
        if w < want[j]:
            want[j] = w
    grant, left = sh.grant_fixed_first(
        ctx, tcont_i[dk.TI_ONU], fixed_bucket, want, g_weight, reports[dk.R_POLL]
    )
    # Every grant size fits: assured and the rest would be granted in full.
    if not sh.grant_rest_if_it_fits(want, grant, left):
        request = np.empty(n, dtype=np.int64)
        for j in range(n):
            request[j] = min(max(want[j] - grant[j], 0), assured_units[j])
        got = sh.integer_fill(request, g_weight, left)
        for j in range(n):
            grant[j] += got[j]
            left -= got[j]
        for j in range(n):
            request[j] = max(want[j] - grant[j], 0)
        got = sh.integer_fill(request, tcont_f[dk.TF_WEIGHT], left)
        for j in range(n):
            grant[j] += got[j]
    sh.bucket_charge(limit_bucket, frame_units, grant)
    # ≤ 512 allocations: admit_allocations trimmed the candidates.
    for f in range(cycle):
        for j in range(n):
            grants[f, j] = grant[j] * unit
    return 0


@register
class TmDba(KernelDba):
    name = "tm-dba"
    kernel = tm_dba_kernel
    # See the module docstring: the engines report idle bytes only with a DBRu.
    uses_reports = True
    summary = "traffic monitoring: grants grow when fully used, shrink by the idle bytes seen"

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        spec: dict[str, ParamSpec] = {
            "increase_factor": ("float", 2.0, 1.0, 16.0),
            "increase_bytes": ("int", 1536, 0, 1_000_000),
            "decrease_factor": ("float", 0.5, 0.0, 1.0),
            "idle_threshold_bytes": ("int", ctx.profile.encap_min_frame_bytes, 0, 1_000_000),
            "min_grant_bytes": ("int", 64, 1, 1_000_000),
        }
        values = read_params(self.name, params, spec)
        self.increase_factor: float = values["increase_factor"]
        self.increase_bytes: int = values["increase_bytes"]
        self.decrease_factor: float = values["decrease_factor"]
        self.idle_threshold_bytes: int = values["idle_threshold_bytes"]
        self.min_grant_bytes: int = values["min_grant_bytes"]
        cycle, unit = ctx.cycle_frames, ctx.grant_unit_bytes
        ceiling = ctx.ceiling_bytes_per_frame
        guaranteed = ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
        # Smallest grant: the guarantee, and at least the probe (never above R_M).
        floor = np.minimum(np.maximum(guaranteed, self.min_grant_bytes), ceiling)
        self.state_i = sh.ceil_div(np.ceil(ctx.assured_bytes_per_frame), unit)
        self.state_f = np.concatenate(
            [
                np.array(
                    [
                        self.increase_factor,
                        float(self.increase_bytes),
                        self.decrease_factor,
                        float(self.idle_threshold_bytes),
                    ]
                ),
                floor,
                ceiling,
                floor,  # the current grant size starts at the floor
                np.where(guaranteed > 0, guaranteed, 1.0),
                sh.rate_bucket(ctx.fixed_bytes_per_frame, cycle, unit),
                sh.rate_bucket(ceiling, cycle, unit),
            ]
        ).astype(np.float64)

    def _field(self, k: int) -> F64:
        n = self.ctx.tconts.count
        return self.state_f[_F_ARRAYS + k * n : _F_ARRAYS + (k + 1) * n]

    @property
    def floor_bytes(self) -> F64:
        """Smallest grant per frame, bytes (a view into the kernel state)."""
        return self._field(_A_FLOOR)

    @property
    def ceiling_bytes(self) -> F64:
        """Largest grant per frame (the type-rule ceiling), bytes (a view)."""
        return self._field(_A_CEILING)

    @property
    def grant_bytes(self) -> F64:
        """Current grant size per frame, bytes (a view into the kernel state)."""
        return self._field(_A_GRANT)

    def observe(self, now_ps: int, reports: Reports) -> None:
        """Update the grant sizes from the bursts seen since the last cycle (what the
        kernel does first every cycle, :func:`tm_observe`)."""
        tm_observe(
            np.ascontiguousarray(reports.granted_last_bytes, dtype=np.int64),
            np.ascontiguousarray(reports.idle_bytes, dtype=np.int64),
            self.state_f,
        )
