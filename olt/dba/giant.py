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

from ftth.jit import inline_kernel
from olt.dba import kernel as dk
from olt.dba.base import F64, I64, B, DbaContext, KernelDba
from olt.dba.registry import register
from olt.dba.shares import ParamSpec, ceil_div, demand_units, read_params, serve_with_overhead

#: Service classes in the order GIANT serves them.
SERVICES = ("fixed", "assured", "non-assured", "best-effort")
FIXED, ASSURED, NON_ASSURED, BEST_EFFORT = range(4)
N_SERVICES = 4

# Kernel state (olt.dba.kernel), n = number of T-CONTs; (4, n) blocks are row-major by class.
# ``state_i``: [immediate (X-GIANT: 1), turn (rotation of ties), si × 4 (frames),
#               ab_units (4, n), timer (4, n), partial (4, n)]
# ``state_f``: [rate (4, n), bytes per frame]
S_IMMEDIATE = 0
S_TURN = 1
S_SI = 2
S_ARRAYS = S_SI + N_SERVICES
#: Offsets of the (4, n) blocks of ``state_i``, in units of 4·n.
BLOCK_AB, BLOCK_TIMER, BLOCK_PARTIAL = range(3)


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


# --------------------------------------------------------------------------- the kernel
@inline_kernel
def service_order(request: I64, timer_k: I64, turn: int, order: I64, scratch: I64) -> int:
    """T-CONTs with a request, longest overdue first (smallest ``timer_k``), ties in an
    order rotating every cycle (starting at T-CONT ``turn``), so no T-CONT is always last.
    Writes them to ``order[:m]`` and returns ``m`` (``scratch``: n entries).

    The rotation is the scan order; timers take few values, so a stable counting sort on
    the timer finishes it in linear time (a stable merge sort when they spread wider)."""
    n = request.shape[0]
    m = 0
    lo = 0
    hi = 0
    for r in range(n):
        j = turn + r
        if j >= n:
            j -= n
        if request[j] > 0:
            t = timer_k[j]
            if m == 0 or t < lo:
                lo = t
            if m == 0 or t > hi:
                hi = t
            scratch[m] = j
            m += 1
    if m == 0:
        return 0
    span = hi - lo + 1
    if span == 1:
        for i in range(m):
            order[i] = scratch[i]
    elif span <= n:
        start = np.zeros(span + 1, dtype=np.int64)
        for i in range(m):
            start[timer_k[scratch[i]] - lo + 1] += 1
        for v in range(span):
            start[v + 1] += start[v]
        for i in range(m):
            j = scratch[i]
            v = timer_k[j] - lo
            order[start[v]] = j
            start[v] += 1
    else:
        keys = np.empty(m, dtype=np.int64)
        for i in range(m):
            keys[i] = timer_k[scratch[i]]
        ranked = np.argsort(keys, kind="mergesort")
        for i in range(m):
            order[i] = scratch[ranked[i]]
    return m


@inline_kernel
def _serve_class(
    ctx: I64, onu_of: I64, request: I64, timer_k: I64, turn: int, allocated: B,
    used_units: int, got: I64, scratch: I64,
) -> int:  # fmt: skip
    """One class: order its requests (:func:`service_order`) and serve them while the
    frame has room, each new T-CONT charging its allocation and, if new, its ONU's burst
    (:func:`olt.dba.shares.serve_with_overhead`).  Writes ``got`` (0 where nothing was
    served); ``scratch``: (2, n).  Returns Σ got."""
    m = service_order(request, timer_k, turn, scratch[0], scratch[1])
    total = 0
    if m == 0:
        for j in range(got.shape[0]):
            got[j] = 0
        return 0
    served = serve_with_overhead(ctx, onu_of, request, scratch[0][:m], allocated, used_units)
    for j in range(got.shape[0]):
        got[j] = served[j]
        total += served[j]
    return total


@dk.dba_kernel
def giant_kernel(
    ctx: I64, tcont_i: I64, tcont_f: dk.F64, reports: I64, state_i: I64, state_f: dk.F64,
    grants: I64,
) -> int:  # fmt: skip
    """GIANT (and X-GIANT when ``state_i[S_IMMEDIATE]``): serve the due services class by
    class, then (X-GIANT) the frame's spare room early; the same grant in every frame."""
    n = reports.shape[1]
    cycle = ctx[dk.C_CYCLE]
    unit = ctx[dk.C_UNIT]
    onu_of = tcont_i[dk.TI_ONU]
    poll = reports[dk.R_POLL]
    turn = state_i[S_TURN]
    size = N_SERVICES * n
    ab = state_i[S_ARRAYS : S_ARRAYS + size].reshape((N_SERVICES, n))
    timer = state_i[S_ARRAYS + size : S_ARRAYS + 2 * size].reshape((N_SERVICES, n))
    partial = state_i[S_ARRAYS + 2 * size : S_ARRAYS + 3 * size].reshape((N_SERVICES, n))
    rate = state_f[:size].reshape((N_SERVICES, n))
    # Unserved demand per frame of the cycle, whole units rounded up (shares.demand_units).
    want = demand_units(ctx, reports[dk.R_DEMAND])
    grant = np.zeros(n, dtype=np.int64)
    # Polled T-CONTs are in the frame anyway; every other T-CONT served adds its
    # allocation (and its ONU's burst, if new) to the frame's overhead.
    allocated = np.empty(n, dtype=np.bool_)
    for j in range(n):
        allocated[j] = poll[j] != 0
    request = np.empty(n, dtype=np.int64)
    got = np.empty(n, dtype=np.int64)
    scratch = np.empty((2, n), dtype=np.int64)
    used = 0
    for k in range(N_SERVICES):
        any_due = False
        for j in range(n):
            timer[k, j] -= cycle
            due = timer[k, j] <= 0 and rate[k, j] > 0
            request[j] = 0
            got[j] = 0
            if due:
                any_due = True
                need = ab[k, j] - partial[k, j]
                request[j] = need if k == FIXED or need < want[j] else want[j]
        if not any_due:
            continue
        used += _serve_class(ctx, onu_of, request, timer[k], turn, allocated, used, got, scratch)
        for j in range(n):
            if timer[k, j] <= 0 and rate[k, j] > 0:
                g = got[j]
                grant[j] += g
                if g > 0:
                    allocated[j] = True
                    want[j] = want[j] - g if want[j] > g else 0
                if g == request[j]:  # served in full: the timer restarts
                    timer[k, j] = state_i[S_SI + k]
                    partial[k, j] = 0
                else:  # cut short by the frame: stays due, first in line next cycle
                    partial[k, j] += g
            else:
                partial[k, j] = 0
    if state_i[S_IMMEDIATE] != 0:
        _immediate(
            ctx, onu_of, state_i, rate, timer, want, allocated, used, grant, request, got,
            scratch,
        )  # fmt: skip
    state_i[S_TURN] = (turn + 1) % (n if n > 1 else 1)
    out = grants[0]
    for j in range(n):
        out[j] = grant[j] * unit
    # No-op by construction (prefix capacities stop at the frame's allocation structures);
    # kept as a guard.
    dk.limit_allocations(out, poll, ctx)
    for f in range(1, cycle):
        for j in range(n):
            grants[f, j] = out[j]
    return 0


@inline_kernel
def _immediate(
    ctx: I64, onu_of: I64, state_i: I64, rate: dk.F64, timer: I64, want: I64, allocated: B,
    used: int, grant: I64, request: I64, got: I64, scratch: I64,
) -> None:  # fmt: skip
    """X-GIANT: spend the frame's spare room on demand whose timer has not expired.

    A service is brought forward: it gets the bytes its rate earned since its last service
    (``rate × elapsed frames``, at most AB) and its timer moves on by the share of that
    entitlement it used, so the average rate stays within R_M and the guaranteed schedule
    is not disturbed.  A service still due was cut short by a full frame or by the
    allocation structures: it waits for its turn next cycle, not for spare room.
    """
    n = want.shape[0]
    cycle = ctx[dk.C_CYCLE]
    unit = ctx[dk.C_UNIT]
    turn = state_i[S_TURN]
    for k in range(ASSURED, N_SERVICES):
        # No spare room even before any new allocation or burst is charged (a frame filled
        # by the due services): nothing can be served early, skip the pass.
        room = dk.payload_capacity(allocated, onu_of, ctx) // unit
        if room <= used and used > 0:
            return
        si = state_i[S_SI + k]
        any_waiting = False
        for j in range(n):
            request[j] = 0
            got[j] = 0
            if rate[k, j] > 0 and timer[k, j] > 0 and want[j] > 0:
                any_waiting = True
                elapsed = si - timer[k, j]  # frames since the last service
                earned = int(np.ceil(rate[k, j] * elapsed / cycle / unit))
                request[j] = earned if earned < want[j] else want[j]
        if not any_waiting:
            continue
        used += _serve_class(ctx, onu_of, request, timer[k], turn, allocated, used, got, scratch)
        for j in range(n):
            g = got[j]
            if g <= 0:
                continue
            grant[j] += g
            allocated[j] = True
            want[j] = want[j] - g if want[j] > g else 0
            elapsed = si - timer[k, j]
            earned = int(np.ceil(rate[k, j] * elapsed / cycle / unit))
            # Frames of entitlement used: all of them when the whole earned amount went out.
            e = earned if earned > 1 else 1
            timer[k, j] += (elapsed * (g if g < earned else earned)) // e


# --------------------------------------------------------------------------- the class
@register
class GiantDba(KernelDba):
    name = "giant"
    kernel = giant_kernel
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
        rate = service_rates(ctx)
        si = np.array(
            [self.si_max_frames, self.si_max_frames, self.si_min_frames, self.si_min_frames]
        )
        # Timers advance one cycle at a time, so an SI is a whole number of cycles.
        si = (ceil_div(si, cycle) * cycle).astype(np.int64)
        ab_bytes = rate * si[:, None]
        # AB per frame of the cycle, in grant units (≥ 1 unit for a service with a rate).
        ab_units = np.where(rate > 0, np.maximum(np.ceil(ab_bytes / cycle / unit), 1), 0)
        zeros = np.zeros(N_SERVICES * n, dtype=np.int64)
        self.state_i = np.concatenate(
            [
                np.array([int(self.immediate), 0], dtype=np.int64),
                si,
                ab_units.astype(np.int64).ravel(),
                zeros,  # timers: every service starts due
                zeros,
            ]
        ).astype(np.int64)
        self.state_f = np.ascontiguousarray(rate.ravel(), dtype=np.float64)

    def _block(self, b: int) -> I64:
        n = self.ctx.tconts.count
        start = S_ARRAYS + b * N_SERVICES * n
        return self.state_i[start : start + N_SERVICES * n].reshape(N_SERVICES, n)

    @property
    def rate(self) -> F64:
        """Rate of each service, bytes per frame, ``(4, n)`` (a view into the kernel state)."""
        return self.state_f.reshape(N_SERVICES, self.ctx.tconts.count)

    @property
    def si(self) -> I64:
        """Service interval of each class, frames (whole cycles), shape ``(4,)`` (a view)."""
        return self.state_i[S_SI : S_SI + N_SERVICES]

    @property
    def ab_units(self) -> I64:
        """AB per frame of the cycle, grant units, ``(4, n)`` (a view into the kernel state)."""
        return self._block(BLOCK_AB)

    @property
    def timer(self) -> I64:
        """Frames to each service, ``(4, n)``; ≤ 0: due (a view into the kernel state)."""
        return self._block(BLOCK_TIMER)

    @property
    def partial(self) -> I64:
        """Units already given to a due service cut short, ``(4, n)`` (a view)."""
        return self._block(BLOCK_PARTIAL)
