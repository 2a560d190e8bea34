"""``sr-dba``: the ITU reference status-reporting DBA (fixed → assured → non-assured → best effort).

The bandwidth assignment model of G.983.4 and its successors (G.984.3 §7.4, G.987.3 §7.1,
G.9807.1 Annex C §7.1; pon-reference §5): demand comes from DBRu status reports, and every
DBA cycle the upstream is handed out in four strictly ordered steps.

1. **Fixed** (types 1 and 5): R_F every cycle, *whether or not the T-CONT has anything to
   send* — no report is needed.  Fractional bytes are kept as credit, so the long-run grant
   is exactly R_F and after every cycle it lags R_F × elapsed time by less than one grant
   unit.
2. **Assured** (types 2, 3 and 5): ``min(demand, R_A)`` — only while the T-CONT has demand.
   The demand is the OLT's (``Reports.demand_bytes`` = last DBRu − payload granted since),
   minus what step 1 gave in this cycle.
3. **Non-assured** (types 3 and 5): the capacity left is shared among T-CONTs with demand
   left, in proportion to their guaranteed rate R_F + R_A (weighted max-min: a T-CONT that
   needs less than its share leaves the rest to the others), capped by R_M.
4. **Best effort** (types 4 and 5): what is still left goes by priority (0 first), and within
   one priority in proportion to the T-CONT's weight (weighted max-min), capped by R_M and
   demand.

R_M is the cap of a T-CONT's total grant (``max(R_M, R_F + R_A)``; types 1 and 2 are capped
by R_F and R_A).  A DBA cycle of ``n`` frames (``[dba] cycle_frames``) spreads its
allocation over the cycle: the same grant in each of its ``n`` frames, sized from the
per-frame rates and ``demand / n``.

Grant sizes
-----------
A grant is *payload* bytes; the BWmap adds the DBRu and rounds ``payload + DBRu`` up to the
grant unit (GrantSize).  This DBA only hands out payloads on the "rungs" ``k·unit − DBRu``
(XGS-PON: 12, 28, 44 … bytes; XG-PON: multiples of 4; GPON: any byte count), so every
GrantSize is exact and the OLT books precisely the payload the DBA decided — no hidden
padding skews the rates.  Rounding:

* demand-limited (the T-CONT gets all it asked for): rounded **up** to the next rung, so the
  queue empties (at most one grant unit more than the demand);
* rate-limited (R_A, R_M) or capacity-limited: rounded **down**, with the fraction carried
  to the next cycle so the long-run rate is exact and no cycle exceeds the rate by a unit;
* capacity-limited (steps 3–4 when the frame is full): the T-CONTs that are rounded as
  above go first; what they leave is re-shared among the capacity-limited ones, rounded
  down, and the whole units still left go one each to the highest class (non-assured, then
  best effort by priority), largest accumulated shortfall first (largest-remainder
  apportionment), so the frame is used, the order of the steps holds to the unit, and
  equal T-CONTs get equal shares over a few cycles.

Slow T-CONTs
------------
An assured T-CONT whose cap is below the smallest useful grant (XGS-PON: 100 kb/s is 1.6
bytes per frame; the smallest rung is 28 bytes, one 16-byte minimum XGEM frame beside the
DBRu) cannot be served every frame.  Earlier versions gave it the smallest rung whenever
its carry reached it: each such grant carries one XGEM header and 20 bytes of a packet
fragment (GPON: a 5-byte GEM header and 1 byte), so its goodput was 71 % of R_A on XGS-PON
and a few per cent on GPON — a G.711 voice T-CONT (200-byte frames every 20 ms, 80 kb/s on
R_A = 100 kb/s) queued without bound (mean delay 80 ms on XGS-PON and 0.6 s on GPON after
1 s, growing; issue 15).  And its carry was reset whenever it had no demand, so no credit
was saved between two packets: each packet waited at least its own size at R_A (16 ms
for 200 bytes).

Such a T-CONT now banks its R_A in a token bucket, with or without demand, of at most one
maximum-size frame (one encapsulated 1518-byte frame beside the DBRu), starting full, and
gets a grant only once the bank holds a *useful* one: its whole demand (rounded up to a
rung) or, under a backlog, one maximum-size frame.  A voice packet then goes out whole in
the first grant after its report (delay ≈ one report loop, 0.3–0.4 ms), and the long-run
rate never exceeds R_A: over any interval its grants are at most R_A × time plus one
maximum-size frame.  Its grants exceed R_A per frame, as they did before (no useful grant
fits in one frame's R_A); faster T-CONTs keep the per-grant bound of "Grant sizes".

The sum of grants never exceeds :meth:`~olt.dba.base.DbaContext.payload_capacity` of the
T-CONTs that can get an allocation (the polled ones, those with a fixed grant and those with
demand; for a multi-frame cycle every T-CONT, because the OLT may poll any of them in the
cycle's later frames).  If admission control was bypassed and even the fixed (then the
assured) grants do not fit, they are scaled down to fit, proportionally; fixed credit beyond
one cycle is then forfeited.  :meth:`~olt.dba.base.DbaContext.limit_allocations` drops
best-effort grants before assured and fixed ones when the frame runs out of allocation
structures; a dropped fixed grant stays in the credit.

Parameters (``[dba.params]``)
-----------------------------
demand_slack_bytes : int ≥ 0, default: one encapsulation header + two DBRu-only poll rooms
    Added to every positive demand before the four steps (caps still apply).  The OLT's
    demand (last DBRu − payload granted since) runs short in two ways a DBA cannot see
    from the reports: a grant below the demand cuts a packet, and the rest pays one more
    GEM/XGEM header; and a DBRu-only poll allocation whose room is below the minimum
    XGEM frame (XGS-PON: a 16-byte unit − 4-byte DBRu = 12 bytes) carries nothing yet is
    booked as granted — with a 20 km Teqd up to two of them fall between a report and the
    DBA cycle that sees it.  Without the slack the last bytes of a packet wait one more
    report loop (≈ 4 frames); with it a demand-limited T-CONT empties in one.  Default:
    XGS-PON 8 + 2 × 12 = 32 bytes, XG-PON 8, GPON 5.

Any other key is rejected with :class:`~ftth.errors.InputError` (``dba.params.<key>``).
Everything else comes from the provisioned T-CONT table (type, R_F, R_A, R_M, priority,
weight — the OLT's OMCI data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ftth.errors import InputError
from ftth.jit import inline_kernel
from olt.dba import kernel as dk
from olt.dba.base import F64, I64, B, DbaContext, KernelDba
from olt.dba.registry import register
from olt.dba.shares import water_fill
from olt.upstream import POLL_SHARE_DIVISOR

#: T-CONT types taking part in each step (G.983.4 lineage, pon-reference §5).
FIXED_TYPES = (1, 5)
ASSURED_TYPES = (2, 3, 5)
NON_ASSURED_TYPES = (3, 5)
BEST_EFFORT_TYPES = (4, 5)

#: Valid ``[dba.params]`` keys.
PARAMS = ("demand_slack_bytes",)
#: DBRu-only poll allocations between a report and the DBA cycle that sees it, covered by the
#: default slack (Teqd of 20 km ≈ 235 µs: the report is visible 2–3 frames after its burst).
POLLS_IN_FLIGHT = 2

# Kernel state (olt.dba.kernel), n = number of T-CONTs.
# ``state_i``: constants, then per-T-CONT arrays of n (flags are 0/1), then the best-effort
# priority levels in increasing order (the first ``n_levels`` of n slots are used).
(
    S_SLACK,  #: demand_slack_bytes
    S_K_MIN,  #: grant units of the smallest rung
    S_MIN_RUNG,  #: smallest useful payload grant (one minimum GEM/XGEM frame beside a DBRu)
    S_MAX_RUNG,  #: largest payload grant (GrantSize field limit)
    S_RESERVE,  #: allocation structures kept for the OLT's polls in a multi-frame cycle
    S_N_LEVELS,  #: number of best-effort priority levels
    S_BANK_TOP,  #: assured credit bank of a slow T-CONT: at most one maximum-size frame
    S_CONST,
) = range(8)
#: Per-T-CONT blocks of ``state_i`` (block b starts at S_CONST + b·n).
(
    I_ASSURED_OK,  #: step 2
    I_BE_OK,  #: step 4 (with a positive weight)
    I_SURPLUS_OK,  #: step 3 or 4
    I_PRIORITY,
    I_RANK,  #: class order for rounding leftovers: 0 non-assured, 1 + priority best effort
    I_LEVELS,  #: sorted best-effort priority levels (first S_N_LEVELS entries)
    I_BANK,  #: slow assured T-CONT (cap below the smallest useful grant): banks its R_A
    I_N,
) = range(8)
#: Per-T-CONT blocks of ``state_f`` (block b = [b·n, (b+1)·n)); the last three are kept
#: between cycles.
(
    F_FIXED,  #: R_F of a fixed type, bytes per frame
    F_ASSURED,  #: R_A of an assured type, bytes per frame
    F_CAP,  #: cap of the total grant, bytes per frame
    F_NA_WEIGHT,  #: step-3 weight (R_F + R_A of types 3, 5)
    F_BE_WEIGHT,  #: step-4 weight
    F_FIXED_CREDIT,  #: fixed bytes owed, per cycle
    F_ASSURED_CARRY,  #: fraction of R_A not granted, per frame (a slow T-CONT: its bank)
    F_SURPLUS_CARRY,  #: fraction of the surplus share, per frame
    F_N,
) = range(9)


# --------------------------------------------------------------------------- rungs
@inline_kernel
def floor_rung(x: float, unit: int, dbru: int, min_rung: int) -> int:
    """Largest payload ``k·unit − DBRu ≤ x`` (0 if below the smallest rung)."""
    r = int(np.floor((x + dbru) / unit)) * unit - dbru
    return r if r >= min_rung else 0


@inline_kernel
def ceil_rung(x: float, unit: int, dbru: int, k_min: int) -> int:
    """Smallest payload ``k·unit − DBRu ≥ x`` for ``x > 0`` (0 for ``x ≤ 0``).

    Always ``< x + unit``: the overshoot of a rounded-up grant is under one grant unit.
    """
    if x <= 0:
        return 0
    k = int(np.ceil((x + dbru) / unit))
    return (k if k > k_min else k_min) * unit - dbru


@inline_kernel
def next_rung(r: int, unit: int, min_rung: int) -> int:
    """The rung above ``r`` (costs at most one grant unit)."""
    return r + unit if r > 0 else min_rung


# --------------------------------------------------------------------------- shares
@inline_kernel
def surplus_shares(
    pool: float, bound: F64, mask: B, state_i: I64, state_f: F64, x: F64, req: F64,
) -> None:  # fmt: skip
    """Steps 3 and 4 on ``pool`` bytes for the T-CONTs in ``mask`` (continuous shares),
    into ``x`` (``req``: scratch; :func:`olt.dba.shares.water_fill`).

    Step 3 (types 3, 5): weighted max-min in proportion to R_F + R_A; step 4 (types 4, 5):
    what is left, priority level by priority level (0 first), weighted max-min by weight.
    Both up to ``bound`` = min(demand left, R_M headroom).
    """
    n = bound.shape[0]
    na_weight = state_f[F_NA_WEIGHT * n : (F_NA_WEIGHT + 1) * n]
    be_weight = state_f[F_BE_WEIGHT * n : (F_BE_WEIGHT + 1) * n]
    be_ok = state_i[S_CONST + I_BE_OK * n : S_CONST + (I_BE_OK + 1) * n]
    priority = state_i[S_CONST + I_PRIORITY * n : S_CONST + (I_PRIORITY + 1) * n]
    levels = state_i[S_CONST + I_LEVELS * n : S_CONST + (I_LEVELS + 1) * n]
    for j in range(n):
        req[j] = bound[j] if mask[j] else 0.0
    x[:] = water_fill(req, na_weight, pool)
    for j in range(n):
        pool -= x[j]
    for li in range(state_i[S_N_LEVELS]):
        if pool <= 0:
            break
        level = levels[li]
        found = False
        for j in range(n):
            # What step 3 (and nothing else: one level per T-CONT) left of the bound.
            rest = (bound[j] if mask[j] else 0.0) - x[j]
            if be_ok[j] != 0 and priority[j] == level and rest > 0:
                req[j] = rest
                found = True
            else:
                req[j] = 0.0
        if not found:
            continue
        x4 = water_fill(req, be_weight, pool)
        for j in range(n):
            x[j] += x4[j]
        for j in range(n):
            pool -= x4[j]


# --------------------------------------------------------------------------- the kernel
@dk.dba_kernel
def sr_dba_kernel(
    ctx: I64, tcont_i: I64, tcont_f: dk.F64, reports: I64, state_i: I64, state_f: dk.F64,
    grants: I64,
) -> int:  # fmt: skip
    """The four steps of the reference SR-DBA (module docstring); the same grant in every
    frame of the cycle."""
    n = reports.shape[1]
    nf = ctx[dk.C_CYCLE]
    unit = ctx[dk.C_UNIT]
    dbru = ctx[dk.C_DBRU]
    slack = state_i[S_SLACK]
    k_min = state_i[S_K_MIN]
    min_rung = state_i[S_MIN_RUNG]
    max_rung = state_i[S_MAX_RUNG]
    poll = reports[dk.R_POLL]

    assured_ok = state_i[S_CONST + I_ASSURED_OK * n : S_CONST + (I_ASSURED_OK + 1) * n]
    surplus_ok = state_i[S_CONST + I_SURPLUS_OK * n : S_CONST + (I_SURPLUS_OK + 1) * n]
    rank = state_i[S_CONST + I_RANK * n : S_CONST + (I_RANK + 1) * n]
    bank = state_i[S_CONST + I_BANK * n : S_CONST + (I_BANK + 1) * n]
    bank_top = state_i[S_BANK_TOP]
    fixed = state_f[F_FIXED * n : (F_FIXED + 1) * n]
    assured = state_f[F_ASSURED * n : (F_ASSURED + 1) * n]
    cap = state_f[F_CAP * n : (F_CAP + 1) * n]
    fixed_credit = state_f[F_FIXED_CREDIT * n : (F_FIXED_CREDIT + 1) * n]
    assured_carry = state_f[F_ASSURED_CARRY * n : (F_ASSURED_CARRY + 1) * n]
    surplus_carry = state_f[F_SURPLUS_CARRY * n : (F_SURPLUS_CARRY + 1) * n]
    # Scratch of this call.
    fs = np.empty((8, n), dtype=np.float64)
    demand, allowance, bound, share, y, target, req, carry = fs  # one row each
    ints = np.empty((4, n), dtype=np.int64)
    g1, r2, r3, top = ints[0], ints[1], ints[2], ints[3]
    flags = np.zeros((2, n), dtype=np.bool_)
    mask, short = flags[0], flags[1]
    # Per frame of the cycle, with the fragment / poll-room slack (module docstring).
    for j in range(n):
        raw = reports[dk.R_DEMAND, j]
        demand[j] = float(raw + slack) / nf if raw > 0 else 0.0

    # 1. Fixed: R_F every cycle, idle or not, from the credit (G.983.4 fixed bandwidth).
    total1 = 0
    for j in range(n):
        fixed_credit[j] += fixed[j] * nf
        g = floor_rung(fixed_credit[j] / nf, unit, dbru, min_rung)
        g1[j] = g if g < max_rung else max_rung
        total1 += g1[j]
        # Who may get an allocation: their bursts and allocations cost overhead.  In a
        # multi-frame cycle the OLT may poll any T-CONT in the later frames.
        wants_more = demand[j] > 0 and (
            (assured_ok[j] != 0 and assured[j] > 0) or surplus_ok[j] != 0
        )
        mask[j] = nf > 1 or poll[j] != 0 or g1[j] > 0 or wants_more
        top[j] = ceil_rung(cap[j], unit, dbru, k_min)
    capacity = dk.payload_capacity(mask, tcont_i[dk.TI_ONU], ctx)
    if total1 > capacity:
        # Only if admission control (Σ R_F + R_A ≤ capacity) was bypassed.
        f = capacity / total1
        for j in range(n):
            g1[j] = floor_rung(g1[j] * f, unit, dbru, min_rung)
    left = capacity
    for j in range(n):
        fixed_credit[j] -= g1[j] * nf
        # Credit may grow to one grant unit beyond R_F, or to the smallest useful rung when
        # R_F per frame is below it (then the fixed grant comes every few frames).
        cmax = fixed[j] + unit
        if fixed[j] > 0 and min_rung > cmax:
            cmax = float(min_rung)
        cmax *= nf
        if fixed_credit[j] > cmax:
            fixed_credit[j] = cmax
        left -= g1[j]

    # 2. Assured: min(demand left, R_A), only with demand.  Rounding is applied to the
    # cumulative grant so that one allocation (one DBRu) stays on a rung.
    total2 = 0
    for j in range(n):
        d1 = demand[j] - g1[j]
        need = assured_ok[j] != 0 and assured[j] > 0 and d1 > 0
        short[j] = need and d1 > assured[j]  # rate-limited (short: reused below)
        allowance[j] = g1[j] + assured[j] + assured_carry[j]
        r = g1[j]
        if bank[j] != 0:
            # A slow T-CONT waits for credit for a useful grant: its whole demand, or one
            # maximum-size frame (module docstring, "Slow T-CONTs").
            short[j] = False
            if need:
                t = ceil_rung(demand[j], unit, dbru, k_min)
                t = t if t < bank_top else bank_top
                if allowance[j] >= t and t > r:
                    r = t
            r2[j] = r
            mask[j] = need
            total2 += r2[j] - g1[j]
            continue
        if need and not short[j]:  # demand-limited: round up
            r = ceil_rung(demand[j], unit, dbru, k_min)
        elif short[j]:  # rate-limited: round down, the fraction carried
            r = floor_rung(allowance[j], unit, dbru, min_rung)
            r = r if r > g1[j] else g1[j]
        # Fixed credit paid out this cycle may already exceed R_F by a fraction of a unit:
        # keep fixed + assured within one unit of the cap.
        r = r if r < top[j] else top[j]
        r2[j] = r if r > g1[j] else g1[j]
        mask[j] = need
        total2 += r2[j] - g1[j]
    if total2 > left:
        # Σ R_A beyond capacity (admission bypassed): scale the assured parts down.
        f = left / total2
        for j in range(n):
            if mask[j]:
                r = floor_rung(g1[j] + (r2[j] - g1[j]) * f, unit, dbru, min_rung)
                r2[j] = r if r > g1[j] else g1[j]
            assured_carry[j] = 0.0
            if bank[j] != 0:
                c = allowance[j] - r2[j]
                assured_carry[j] = c if c < bank_top else float(bank_top)
    else:
        # The carry may grow to the smallest rung, so a T-CONT whose R_A is below one
        # useful grant per frame still gets one every few frames.
        carry_max = float(unit if unit > min_rung else min_rung)
        for j in range(n):
            c = 0.0
            if short[j]:
                c = allowance[j] - r2[j]
                c = 0.0 if c < 0.0 else (carry_max if c > carry_max else c)
            elif bank[j] != 0:  # the bank fills with or without demand
                c = allowance[j] - r2[j]
                c = c if c < bank_top else float(bank_top)
            assured_carry[j] = c
    for j in range(n):
        left -= r2[j] - g1[j]

    # 3.-4. Surplus: non-assured by R_F + R_A, then best effort by priority and weight,
    # both capped by R_M and the demand left (weighted max-min, water-filling).
    for j in range(n):
        b = 0.0
        if surplus_ok[j] != 0:
            d2 = demand[j] - r2[j]
            headroom = cap[j] - r2[j]
            b = d2 if d2 < headroom else headroom
            b = b if b > 0.0 else 0.0
        bound[j] = b
        mask[j] = b > 0
    surplus_shares(float(left), bound, mask, state_i, state_f, share, req)
    sum3 = 0
    any_short = False
    for j in range(n):
        r3[j] = r2[j]
        short[j] = False
        target[j] = r2[j] + share[j] + surplus_carry[j]
        if not mask[j]:
            continue
        if share[j] >= bound[j] * (1 - 1e-12):
            if demand[j] - r2[j] <= cap[j] - r2[j]:
                # Gets all it asked for: round up.
                r3[j] = ceil_rung(demand[j], unit, dbru, k_min)
            else:
                # Held at R_M: round down, carry the fraction.  The carry of an earlier
                # capacity-limited cycle may reach two units: never beyond the cap's own
                # rung (< R_M + one unit).
                r = floor_rung(target[j], unit, dbru, min_rung)
                r = r if r < top[j] else top[j]
                r3[j] = r if r > r2[j] else r2[j]
        else:
            short[j] = True  # capacity-limited: whole rungs apportioned below
            any_short = True
        sum3 += r3[j] - r2[j]
    if sum3 > left:
        # Rounding up does not fit (the frame is exactly full): round everyone down.
        sum3 = 0
        for j in range(n):
            target[j] = r2[j] + share[j]
            if mask[j] and not short[j]:
                r = floor_rung(target[j], unit, dbru, min_rung)
                r = r if r < top[j] else top[j]
                r3[j] = r if r > r2[j] else r2[j]
            sum3 += r3[j] - r2[j]
    for j in range(n):
        c = 0.0
        if mask[j] and not short[j] and not (demand[j] - r2[j] <= cap[j] - r2[j]):
            c = target[j] - r3[j]
            c = 0.0 if c < 0.0 else (float(unit) if c > unit else c)
        carry[j] = c
    if any_short:
        # What the rounded T-CONTs left is re-shared among the capacity-limited ones,
        # rounded down to rungs, and the whole units left over go one each by class
        # (non-assured, then best effort by priority) and then by the largest accumulated
        # shortfall (largest-remainder apportionment: no T-CONT ends more than one unit
        # from its share, and shortfalls are made up in later cycles).
        pool = float(left - sum3)
        surplus_shares(pool, bound, short, state_i, state_f, y, req)
        given = 0
        n_eligible = 0
        for j in range(n):
            if not short[j]:
                continue
            r = floor_rung(r2[j] + y[j], unit, dbru, min_rung)
            r3[j] = r if r > r2[j] else r2[j]
            given += r3[j] - r2[j]
            # The debt (target, reused): the share not granted, plus the earlier carry.
            target[j] = r2[j] + y[j] - r3[j] + surplus_carry[j]
        budget = int(pool - float(given))
        if budget >= unit:
            for j in range(n):
                if (
                    short[j]
                    and y[j] > 0
                    and next_rung(r3[j], unit, min_rung)
                    <= ceil_rung(r2[j] + bound[j], unit, dbru, k_min)
                ):
                    n_eligible += 1
            if n_eligible > 0:
                idx = np.empty(n_eligible, dtype=np.int64)
                key = np.empty(n_eligible, dtype=np.float64)
                c = 0
                for j in range(n):
                    if (
                        short[j]
                        and y[j] > 0
                        and next_rung(r3[j], unit, min_rung)
                        <= ceil_rung(r2[j] + bound[j], unit, dbru, k_min)
                    ):
                        idx[c] = j
                        key[c] = -target[j]
                        c += 1
                # Class first, largest debt next, lower index last (stable sorts).
                idx = idx[np.argsort(key, kind="mergesort")]
                ranks = np.empty(n_eligible, dtype=np.int64)
                for i in range(n_eligible):
                    ranks[i] = rank[idx[i]]
                idx = idx[np.argsort(ranks, kind="mergesort")]
                spent = 0
                for i in range(n_eligible):
                    j = idx[i]
                    raised = next_rung(r3[j], unit, min_rung)
                    # A step up costs one unit, or the whole smallest rung from zero.
                    spent += raised - r3[j]
                    if spent > budget:
                        break
                    target[j] -= raised - r3[j]
                    r3[j] = raised
        two = 2.0 * unit
        for j in range(n):
            if short[j]:
                c = target[j]
                carry[j] = -two if c < -two else (two if c > two else c)
    for j in range(n):
        surplus_carry[j] = carry[j]

    # Allocation structures (512 per XG(S)-PON frame, G.987.3 §8.1.1): best effort is
    # dropped first, then assured, fixed last (limit_allocations drops the smallest scores;
    # dropped T-CONTs keep their demand, and their fixed credit).  In a multi-frame cycle the
    # OLT may poll up to its poll budget of other T-CONTs in the later frames: room is kept
    # for them.
    out = grants[0]
    limit = ctx[dk.C_MAX_ALLOCS]
    reserve = state_i[S_RESERVE] if nf > 1 else 0
    count = 0
    big = 0
    for j in range(n):
        out[j] = r3[j]
        if r3[j] > 0 or poll[j] != 0:
            count += 1
        if r3[j] > big:
            big = r3[j]
    if count + reserve > limit:
        big += 1
        for j in range(n):
            if r3[j] > 0:
                cls = 2 * (1 if g1[j] > 0 else 0) + (1 if r2[j] > g1[j] else 0)
                out[j] = r3[j] + big * cls
        limited = ctx.copy()
        limited[dk.C_MAX_ALLOCS] = limit - reserve
        dk.limit_allocations(out, poll, limited)
        for j in range(n):
            if r3[j] > 0 and out[j] == 0:  # dropped: its fixed grant stays owed
                fixed_credit[j] += g1[j] * nf
                assured_carry[j] = 0.0
                if bank[j] != 0:  # nothing of the bank was spent
                    c = allowance[j] - g1[j]
                    assured_carry[j] = c if c < bank_top else float(bank_top)
                surplus_carry[j] = 0.0
            out[j] = r3[j] if out[j] > 0 else 0
    for f in range(1, nf):
        for j in range(n):
            grants[f, j] = out[j]
    return 0


# --------------------------------------------------------------------------- the class
@register
class SrDba(KernelDba):
    """The reference SR-DBA (see the module docstring)."""

    name = "sr-dba"
    weighted = True
    kernel = sr_dba_kernel
    summary = "ITU reference SR-DBA: fixed, assured, non-assured by R_F+R_A, best effort"

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise InputError(
                f"dba.params.{unknown[0]}",
                f"unknown parameter for 'sr-dba'; valid: {', '.join(PARAMS)}",
            )
        t = ctx.tconts
        n = t.count
        p = ctx.profile
        kctx = self.kernel_ctx()
        self.unit = int(kctx[dk.C_UNIT])
        # Every allocation of a report-using DBA carries a DBRu (olt.upstream); rungs are the
        # payloads that make DBRu + payload a whole number of grant units.
        self.dbru = int(kctx[dk.C_DBRU])
        poll_room = -(-self.dbru // self.unit) * self.unit - self.dbru
        default_slack = p.encap_header_bytes + POLLS_IN_FLIGHT * poll_room
        slack = params.get("demand_slack_bytes", default_slack)
        if isinstance(slack, bool) or not isinstance(slack, int) or not 0 <= slack <= 1_000_000:
            raise InputError(
                "dba.params.demand_slack_bytes",
                f"must be a whole number of bytes in 0..1000000, got {slack!r}",
            )
        self.slack = slack
        # The smallest rung must carry a minimum GEM/XGEM frame: a smaller room (12 bytes
        # beside a DBRu in a 16-byte XGS-PON block) carries nothing and would starve a slow
        # T-CONT forever.
        useful = int(kctx[dk.C_MIN_USEFUL])
        self.k_min = max(self.dbru // self.unit + 1, -(-(useful + self.dbru) // self.unit))
        self.min_rung = self.k_min * self.unit - self.dbru
        self.max_rung = int(kctx[dk.C_MAX_GRANT_UNITS]) * self.unit - self.dbru
        ty = t.tcont_type
        fixed_ok: B = np.isin(ty, FIXED_TYPES)
        assured_ok: B = np.isin(ty, ASSURED_TYPES)
        na_ok = np.isin(ty, NON_ASSURED_TYPES)
        be_ok = np.isin(ty, BEST_EFFORT_TYPES)
        # Per-frame rates (bytes) of the parts each type has.
        fixed: F64 = np.where(fixed_ok, ctx.fixed_bytes_per_frame, 0.0)
        assured: F64 = np.where(assured_ok, ctx.assured_bytes_per_frame, 0.0)
        guaranteed = fixed + assured
        # Cap of the total grant: R_F (type 1), R_A (type 2), max(R_M, R_F + R_A) otherwise —
        # never above the type-rule ceiling (olt.dba.kernel.ceiling_bytes_per_frame).
        others = np.maximum(ctx.max_bytes_per_frame, guaranteed)
        cap = np.where(ty == 1, fixed, np.where(ty == 2, assured, others))
        cap = np.minimum(np.minimum(cap, ctx.ceiling_bytes_per_frame), float(self.max_rung))
        # Step 3 weights: the guaranteed rate (G.983.4 non-assured share); step 4: the weight.
        na_weight: F64 = np.where(na_ok, guaranteed, 0.0)
        be_weight: F64 = np.where(be_ok, t.weight.astype(np.float64), 0.0)
        be_ok = be_ok & (be_weight > 0)
        surplus_ok: B = (na_weight > 0) | be_ok
        priority: I64 = t.priority.astype(np.int64)
        levels = np.zeros(n, dtype=np.int64)
        used_levels = np.unique(priority[be_ok])
        levels[: len(used_levels)] = used_levels
        # Extras for rounding leftovers go to the highest class first: non-assured (0),
        # then best effort by priority (1 + priority).
        rank: I64 = np.where(na_weight > 0, 0, 1 + priority).astype(np.int64)
        reserve = p.max_allocations_per_frame // POLL_SHARE_DIVISOR
        const = np.zeros(S_CONST, dtype=np.int64)
        const[S_SLACK], const[S_K_MIN] = self.slack, self.k_min
        const[S_MIN_RUNG], const[S_MAX_RUNG] = self.min_rung, self.max_rung
        const[S_RESERVE], const[S_N_LEVELS] = reserve, len(used_levels)
        # Slow assured T-CONTs (cap below the smallest useful grant) bank their R_A, up to
        # one maximum-size frame, and start with a full bank (module docstring).
        bank = assured_ok & (assured > 0) & (cap < self.min_rung)
        mtu_grant = int(kctx[dk.C_MTU_GRANT])
        self.bank_top = mtu_grant - self.dbru  # a rung: mtu_grant is whole grant units
        const[S_BANK_TOP] = self.bank_top
        blocks_i = [assured_ok, be_ok, surplus_ok, priority, rank, levels, bank]
        self.state_i = np.ascontiguousarray(
            np.concatenate([const, *(np.asarray(b, dtype=np.int64) for b in blocks_i)]),
            dtype=np.int64,
        )
        zeros = np.zeros(n)
        banked = np.where(bank, float(self.bank_top), 0.0)
        blocks_f = [fixed, assured, cap, na_weight, be_weight, zeros, banked, zeros]
        self.state_f = np.ascontiguousarray(np.concatenate(blocks_f), dtype=np.float64)

    def _f(self, b: int) -> F64:
        n = self.ctx.tconts.count
        return self.state_f[b * n : (b + 1) * n]

    @property
    def cap(self) -> F64:
        """Cap of each T-CONT's total grant, bytes per frame (a view into the kernel state)."""
        return self._f(F_CAP)

    @property
    def fixed_credit(self) -> F64:
        """Fixed bytes owed, per cycle (a view into the kernel state)."""
        return self._f(F_FIXED_CREDIT)

    @property
    def assured_carry(self) -> F64:
        """Fraction of R_A not granted, per frame (a view into the kernel state)."""
        return self._f(F_ASSURED_CARRY)

    @property
    def surplus_carry(self) -> F64:
        """Fraction of the surplus share, per frame (a view into the kernel state)."""
        return self._f(F_SURPLUS_CARRY)
