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
    grant_fixed_first,
    integer_fill,
    read_params,
)


@register
class TmDba(Dba):
    name = "tm-dba"
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
        ceiling = ceiling_bytes_per_frame(ctx)
        guaranteed = ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
        self.ceiling_bytes: F64 = ceiling
        #: Smallest grant: the guarantee, and at least the probe (never above R_M).
        self.floor_bytes: F64 = np.minimum(np.maximum(guaranteed, self.min_grant_bytes), ceiling)
        #: Current grant size per frame, bytes.
        self.grant_bytes: F64 = self.floor_bytes.copy()
        self.fixed = RateLimiter(ctx.fixed_bytes_per_frame, cycle, unit)
        self.limiter = RateLimiter(ceiling, cycle, unit)
        self.assured_units: I64 = ceil_div(np.ceil(ctx.assured_bytes_per_frame), unit)
        self.weight: F64 = np.asarray(ctx.tconts.weight, dtype=np.float64)
        self.guarantee_weight: F64 = np.where(guaranteed > 0, guaranteed, 1.0)

    def observe(self, now_ps: int, reports: Reports) -> None:
        """Update the grant sizes from the bursts seen since the last cycle."""
        # Nothing reported yet, or a DBRu-only poll (no payload granted): no information.
        new = reports.granted_last_bytes > 0
        if not np.any(new):
            return
        observed = reports.granted_last_bytes.astype(np.float64)
        idle = np.minimum(reports.idle_bytes, reports.granted_last_bytes).astype(np.float64)
        full = idle < self.idle_threshold_bytes
        grown = observed * self.increase_factor + self.increase_bytes
        shrunk = observed - self.decrease_factor * idle
        target = np.where(full, np.maximum(self.grant_bytes, grown), shrunk)
        target = np.clip(target, self.floor_bytes, self.ceiling_bytes)
        self.grant_bytes = np.where(new, target, self.grant_bytes)

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        ctx = self.ctx
        unit = ctx.grant_unit_bytes
        self.observe(now_ps, reports)
        cap = self.limiter.allowance()
        want = np.minimum(ceil_div(np.ceil(self.grant_bytes), unit), cap)
        grant, want, left = grant_fixed_first(
            ctx, self.fixed, want, self.guarantee_weight, reports.poll_mask
        )
        assured = np.minimum(np.maximum(want - grant, 0), self.assured_units)
        got = integer_fill(assured, self.guarantee_weight, left)
        grant += got
        left -= int(got.sum())
        grant += integer_fill(np.maximum(want - grant, 0), self.weight, left)
        self.limiter.charge(grant)
        return grant * unit  # ≤ 512 allocations: admit_allocations trimmed the candidates
