"""``giant``: GigaPON Access Network DBA — per-service timers and allocation bytes.

Algorithm (Leligou et al., "Efficient medium arbitration of FSAN-compliant GPONs",
Int. J. Commun. Syst. 19(5), 2006; as implemented for XG-PON by Arokkiam et al., ICC 2015)
--------------------------------------------------------------------------------------------
Every T-CONT holds up to four *services*, one per bandwidth type of pon-reference §5, each
with a service interval SI (frames), a timer and an allocation size AB (bytes):

=============  =========================================  ===================================
service        rate                                       SI / AB
=============  =========================================  ===================================
fixed          R_F (types 1, 5)                            SI_max, AB_min = R_F · SI_max
assured        R_A (types 2, 3, 5)                         SI_max, AB_min = R_A · SI_max
non-assured    R_M − R_F − R_A of a T-CONT with guarantees  SI_min, AB_sur = rate · SI_min
best effort    R_M of a T-CONT without guarantees (type 4)  SI_min, AB_sur = rate · SI_min
=============  =========================================  ===================================

A timer counts the frames down to its service; when it has expired the service is *due*.
Each DBA cycle serves the due services class by class — fixed, then assured, then
non-assured, then best effort — while the upstream frame has room:

* a due **fixed** service gets AB_min whatever the demand;
* a due assured / non-assured / best-effort service gets ``min(AB, unserved demand)``
  (demand = last DBRu − payload granted since, less what earlier classes of this cycle gave);
* a service that got everything it asked (possibly nothing, when the T-CONT was idle: it was
  only polled) restarts its timer at SI.  A service the frame could not hold in full stays
  due, keeps what it got as a partial grant and is served first next cycle (the longest
  overdue go first; ties rotate each cycle so no T-CONT is always last).

So the guaranteed rate is AB_min / SI_max and the surplus rate is capped at AB_sur / SI_min
(R_M on average), and a T-CONT whose timer has not expired waits, even when the frame has
room — the delay GIANT is known for, which X-GIANT (:mod:`olt.dba.x_giant`) removes.

Parameters (``[dba.params]``)
-----------------------------
si_max_frames : int, frames, default 8, range 1..64
    Service interval of the guaranteed services (fixed, assured).  8 frames = 1 ms, half the
    2 ms assured-bandwidth restoration target of G.987.3, so a T-CONT that becomes active
    gets its assured bytes within one SI plus the report latency.
si_min_frames : int, frames, default 4, range 1..64
    Service interval of the surplus services (non-assured, best effort).

Simplifications
---------------
* SI and AB are per bandwidth type for the whole PON, not per T-CONT (GIANT provisions them
  per Alloc-ID through OMCI).  SIs are rounded up to a whole number of DBA cycles, and AB is
  spread evenly over the frames of a multi-frame cycle.
* AB is rounded up to the grant unit (at most one unit more than rate · SI per service).
* Inside a class GIANT visits T-CONTs round-robin; here the longest-overdue go first, ties in
  a rotating order — the same set is served when everything fits.
* GIANT sends a DBRu with every allocation; polling of T-CONTs without a grant is done by the
  OLT (``[dba] dbru_every_frames``), not by the DBA.
* Services are served one after another and each new allocation charges its own overhead
  (DBRu, alignment, and the burst of its ONU if that ONU was not transmitting yet), so the
  frame is filled as far as the T-CONTs actually served allow; a service that would need a
  513th allocation structure stays due for the next cycle.
* Priority and weight of T-CONTs are not used (GIANT orders by class and timer only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from olt.dba.base import F64, I64, B, Dba, DbaContext, Reports
from olt.dba.registry import register
from olt.dba.shares import (
    ParamSpec,
    ceil_div,
    demand_units,
    read_params,
    serve_with_overhead,
)

#: Service classes in the order GIANT serves them.
SERVICES = ("fixed", "assured", "non-assured", "best-effort")
FIXED, ASSURED, NON_ASSURED, BEST_EFFORT = range(4)


def service_rates(ctx: DbaContext) -> F64:
    """Rate of each T-CONT's four services in bytes per frame, shape ``(4, n_tconts)``."""
    guaranteed = ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
    surplus = np.maximum(ctx.ceiling_bytes_per_frame - guaranteed, 0.0)
    has_guarantee = guaranteed > 0
    return np.stack(
        [
            ctx.fixed_bytes_per_frame,
            ctx.assured_bytes_per_frame,
            np.where(has_guarantee, surplus, 0.0),
            np.where(has_guarantee, 0.0, surplus),
        ]
    ).astype(np.float64)


@register
class GiantDba(Dba):
    name = "giant"
    summary = "GIANT: per-T-CONT service timers, AB_min / AB_sur, fixed → assured → surplus"
    PARAMS: ClassVar[dict[str, ParamSpec]] = {
        "si_max_frames": ("int", 8, 1, 64),
        "si_min_frames": ("int", 4, 1, 64),
    }

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        values = read_params(self.name, params, self.PARAMS)
        self.si_max_frames: int = values["si_max_frames"]
        self.si_min_frames: int = values["si_min_frames"]
        #: X-GIANT's immediate allocation (off in plain GIANT).
        self.immediate: bool = bool(values.get("immediate_allocation", False))
        cycle, unit = ctx.cycle_frames, ctx.grant_unit_bytes
        n = ctx.tconts.count
        self.rate: F64 = service_rates(ctx)
        si = np.array(
            [self.si_max_frames, self.si_max_frames, self.si_min_frames, self.si_min_frames]
        )
        # Timers advance one cycle at a time, so an SI is a whole number of cycles.
        self.si: I64 = (ceil_div(si, cycle) * cycle).astype(np.int64)
        ab_bytes = self.rate * self.si[:, None]
        #: AB per frame of the cycle, in grant units (≥ 1 unit for a service with a rate).
        self.ab_units: I64 = np.where(
            self.rate > 0, np.maximum(np.ceil(ab_bytes / cycle / unit), 1), 0
        ).astype(np.int64)
        self.timer: I64 = np.zeros((4, n), dtype=np.int64)  # frames to the next service
        self.partial: I64 = np.zeros((4, n), dtype=np.int64)  # units given to a due service
        self._turn = 0

    def _order(self, candidates: I64, timer: I64) -> I64:
        """Longest overdue (smallest timer) first; ties in an order rotating every cycle."""
        n = self.ctx.tconts.count
        rotation = (candidates - self._turn) % n
        return candidates[np.lexsort((rotation, timer[candidates]))]

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        ctx = self.ctx
        self.timer -= ctx.cycle_frames
        due = (self.timer <= 0) & (self.rate > 0)
        want = demand_units(ctx.kernel_ctx, reports.demand_bytes)
        grant = np.zeros(ctx.tconts.count, dtype=np.int64)
        # Polled T-CONTs are in the frame anyway; every other T-CONT served adds its
        # allocation (and its ONU's burst, if new) to the frame's overhead.
        allocated = reports.poll_mask.copy()
        for k in range(4):
            due_k = due[k]
            if not np.any(due_k):
                continue
            need = self.ab_units[k] - self.partial[k]
            request = np.where(due_k, need if k == FIXED else np.minimum(need, want), 0)
            order = self._order(np.flatnonzero(due_k), self.timer[k])
            got = serve_with_overhead(
                ctx.kernel_ctx, ctx.onu_of, request, order, allocated, int(grant.sum())
            )
            grant += got
            allocated |= got > 0
            want = np.maximum(want - got, 0)
            done = due_k & (got == request)
            self.timer[k] = np.where(done, self.si[k], self.timer[k])
            self.partial[k] = np.where(done, 0, np.where(due_k, self.partial[k] + got, 0))
        if self.immediate:
            grant += self._immediate(want, allocated, grant)
        self._turn = (self._turn + 1) % max(1, ctx.tconts.count)
        # No-op by construction (prefix capacities stop at 512 allocations); kept as a guard.
        return ctx.limit_allocations(grant * ctx.grant_unit_bytes, reports.poll_mask)

    def _immediate(self, want: I64, allocated: B, grant: I64) -> I64:
        """X-GIANT: spend the frame's spare room on demand whose timer has not expired.

        A service is brought forward: it gets the bytes its rate earned since its last
        service (``rate × elapsed frames``, at most AB) and its timer moves on by the share of
        that entitlement it used, so the average rate stays within R_M and the guaranteed
        schedule is not disturbed.
        """
        cycle, unit = self.ctx.cycle_frames, self.ctx.grant_unit_bytes
        allocated = allocated.copy()
        used = int(grant.sum())
        extra = np.zeros(len(want), dtype=np.int64)
        for k in (ASSURED, NON_ASSURED, BEST_EFFORT):
            # A service still due was cut short by a full frame or by the 512 allocation
            # structures: it waits for its turn next cycle, not for spare room.
            waiting = (self.rate[k] > 0) & (self.timer[k] > 0) & (want > 0)
            if not np.any(waiting):
                continue
            elapsed = self.si[k] - self.timer[k]  # frames since the last service
            earned = np.ceil(self.rate[k] * elapsed / cycle / unit).astype(np.int64)
            request = np.where(waiting, np.minimum(earned, want), 0)
            order = self._order(np.flatnonzero(waiting), self.timer[k])
            got = serve_with_overhead(
                self.ctx.kernel_ctx, self.ctx.onu_of, request, order, allocated, used
            )
            used += int(got.sum())
            allocated |= got > 0
            extra += got
            want = np.maximum(want - got, 0)
            # Frames of entitlement used: all of it when the whole earned amount went out.
            used_frames = np.where(
                got > 0, (elapsed * np.minimum(got, earned)) // np.maximum(earned, 1), 0
            )
            self.timer[k] = self.timer[k] + used_frames
        return extra
