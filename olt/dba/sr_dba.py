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
from olt.dba.base import F64, I64, B, Dba, DbaContext, Reports
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


@register
class SrDba(Dba):
    """The reference SR-DBA (see the module docstring)."""

    name = "sr-dba"
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
        self.unit = ctx.grant_unit_bytes
        # Every allocation of a report-using DBA carries a DBRu (olt.upstream); rungs are the
        # payloads that make DBRu + payload a whole number of grant units.
        self.dbru = p.dbru_bytes if ctx.dbru_in_every_allocation else 0
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
        useful = max(p.encap_min_frame_bytes, p.encap_header_bytes + p.encap_align_bytes)
        self.k_min = max(self.dbru // self.unit + 1, -(-(useful + self.dbru) // self.unit))
        self.min_rung = self.k_min * self.unit - self.dbru
        self.max_rung = p.max_grant_units * self.unit - self.dbru
        ty = t.tcont_type
        self.fixed_ok: B = np.isin(ty, FIXED_TYPES)
        self.assured_ok: B = np.isin(ty, ASSURED_TYPES)
        na_ok = np.isin(ty, NON_ASSURED_TYPES)
        be_ok = np.isin(ty, BEST_EFFORT_TYPES)
        # Per-frame rates (bytes) of the parts each type has.
        self.fixed: F64 = np.where(self.fixed_ok, ctx.fixed_bytes_per_frame, 0.0)
        self.assured: F64 = np.where(self.assured_ok, ctx.assured_bytes_per_frame, 0.0)
        guaranteed = self.fixed + self.assured
        # Cap of the total grant: R_F (type 1), R_A (type 2), max(R_M, R_F + R_A) otherwise.
        cap = np.where(
            ty == 1,
            self.fixed,
            np.where(ty == 2, self.assured, np.maximum(ctx.max_bytes_per_frame, guaranteed)),
        )
        self.cap: F64 = np.minimum(cap, float(self.max_rung))
        # Step 3 weights: the guaranteed rate (G.983.4 non-assured share); step 4: the weight.
        self.na_weight: F64 = np.where(na_ok, guaranteed, 0.0)
        self.be_weight: F64 = np.where(be_ok, t.weight.astype(np.float64), 0.0)
        self.be_ok: B = be_ok & (self.be_weight > 0)
        self.surplus_ok: B = (self.na_weight > 0) | self.be_ok
        self.priority: I64 = t.priority.astype(np.int64)
        self.levels: list[int] = sorted({int(v) for v in self.priority[self.be_ok]})
        # Extras for rounding leftovers go to the highest class first: non-assured (0),
        # then best effort by priority (1 + priority).
        self.rank: I64 = np.where(self.na_weight > 0, 0, 1 + self.priority).astype(np.int64)
        # State carried between cycles.
        self.fixed_credit: F64 = np.zeros(n)  #: fixed bytes owed, per cycle
        self.assured_carry: F64 = np.zeros(n)  #: fraction of R_A not granted, per frame
        self.surplus_carry: F64 = np.zeros(n)  #: fraction of the surplus share, per frame

    # ------------------------------------------------------------------ rungs
    def floor_rung(self, x: F64) -> I64:
        """Largest payload ``k·unit − DBRu ≤ x`` (0 if below the smallest rung)."""
        u, d = self.unit, self.dbru
        r = np.floor((np.asarray(x, dtype=np.float64) + d) / u) * u - d
        return np.where(r >= self.min_rung, r, 0).astype(np.int64)

    def ceil_rung(self, x: F64) -> I64:
        """Smallest payload ``k·unit − DBRu ≥ x`` for ``x > 0`` (0 for ``x ≤ 0``).

        Always ``< x + unit``: the overshoot of a rounded-up grant is under one grant unit.
        """
        u, d = self.unit, self.dbru
        xx = np.asarray(x, dtype=np.float64)
        k = np.maximum(np.ceil((xx + d) / u), self.k_min)
        return np.where(xx > 0, k * u - d, 0).astype(np.int64)

    def next_rung(self, r: I64) -> I64:
        """The rung above ``r`` (costs at most one grant unit)."""
        return np.where(r > 0, r + self.unit, self.min_rung).astype(np.int64)

    # ------------------------------------------------------------------ allocation
    def _surplus(self, pool: float, bound: F64, mask: B) -> F64:
        """Steps 3 and 4 on ``pool`` bytes for the T-CONTs in ``mask`` (continuous shares).

        Step 3 (types 3, 5): weighted max-min in proportion to R_F + R_A; step 4 (types 4, 5):
        what is left, priority level by priority level (0 first), weighted max-min by weight.
        Both up to ``bound`` = min(demand left, R_M headroom).
        """
        b = np.where(mask, bound, 0.0)
        x = water_fill(b, self.na_weight, pool)
        pool -= float(x.sum())
        rest = np.where(self.be_ok, b - x, 0.0)
        for level in self.levels:
            if pool <= 0:
                break
            m = self.be_ok & (self.priority == level) & (rest > 0)
            if np.any(m):
                x4 = water_fill(rest[m], self.be_weight[m], pool)
                x[m] += x4
                pool -= float(x4.sum())
        return x

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        ctx = self.ctx
        n_frames = ctx.cycle_frames
        unit = self.unit
        raw = reports.demand_bytes
        # Per frame of the cycle, with the fragment / poll-room slack (module docstring).
        demand: F64 = np.where(raw > 0, raw + self.slack, 0).astype(np.float64) / n_frames

        # 1. Fixed: R_F every cycle, idle or not, from the credit (G.983.4 fixed bandwidth).
        self.fixed_credit += self.fixed * n_frames
        g1 = np.minimum(self.floor_rung(self.fixed_credit / n_frames), self.max_rung)
        # Who may get an allocation: their bursts and allocations cost overhead.
        wants_more = (demand > 0) & ((self.assured_ok & (self.assured > 0)) | self.surplus_ok)
        if n_frames > 1:
            candidates = np.ones(len(demand), dtype=bool)
        else:
            candidates = reports.poll_mask | (g1 > 0) | wants_more
        capacity = ctx.payload_capacity(candidates)
        total1 = int(g1.sum())
        if total1 > capacity:
            # Only if admission control (Σ R_F + R_A ≤ capacity) was bypassed.
            g1 = self.floor_rung(g1 * (capacity / total1))
        self.fixed_credit -= g1 * n_frames
        # Credit may grow to one grant unit beyond R_F, or to the smallest useful rung when
        # R_F per frame is below it (then the fixed grant comes every few frames).
        credit_max = np.maximum(self.fixed + unit, np.where(self.fixed > 0, self.min_rung, 0))
        np.minimum(self.fixed_credit, credit_max * n_frames, out=self.fixed_credit)
        left = capacity - int(g1.sum())

        # 2. Assured: min(demand left, R_A), only with demand.  Rounding is applied to the
        # cumulative grant so that one allocation (one DBRu) stays on a rung.
        d1 = np.maximum(demand - g1, 0.0)
        need = self.assured_ok & (self.assured > 0) & (d1 > 0)
        demand_limited = need & (d1 <= self.assured)
        rate_limited = need & ~demand_limited
        allowance = g1 + self.assured + self.assured_carry
        r2 = g1.copy()
        r2[demand_limited] = self.ceil_rung(demand[demand_limited])
        r2[rate_limited] = np.maximum(g1, self.floor_rung(allowance))[rate_limited]
        # Fixed credit paid out this cycle may already exceed R_F by a fraction of a unit:
        # keep fixed + assured within one unit of the cap.
        r2 = np.maximum(g1, np.minimum(r2, self.ceil_rung(self.cap)))
        total2 = int((r2 - g1).sum())
        if total2 > left:
            # Σ R_A beyond capacity (admission bypassed): scale the assured parts down.
            scaled = g1 + (r2 - g1) * (left / total2)
            r2 = np.where(need, np.maximum(g1, self.floor_rung(scaled)), g1)
            self.assured_carry[:] = 0.0
        else:
            # The carry may grow to the smallest rung, so a T-CONT whose R_A is below one
            # useful grant per frame still gets one every few frames.
            carry_max = float(max(unit, self.min_rung))
            self.assured_carry = np.where(
                rate_limited, np.clip(allowance - r2, 0.0, carry_max), 0.0
            )
        left -= int((r2 - g1).sum())

        # 3.-4. Surplus: non-assured by R_F + R_A, then best effort by priority and weight,
        # both capped by R_M and the demand left (weighted max-min, water-filling).
        d2 = np.maximum(demand - r2, 0.0)
        headroom = np.maximum(self.cap - r2, 0.0)
        bound = np.where(self.surplus_ok, np.minimum(d2, headroom), 0.0)
        part = bound > 0
        share = self._surplus(float(left), bound, part)
        full = part & (share >= bound * (1 - 1e-12))
        demand_met = full & (d2 <= headroom)  # gets all it asked for: round up
        capped = full & ~demand_met  # held at R_M: round down, carry the fraction
        short = part & ~full  # capacity-limited: whole rungs apportioned below
        r3 = r2.copy()
        r3[demand_met] = self.ceil_rung(demand[demand_met])
        capped_target = r2 + share + self.surplus_carry
        # The carry of an earlier capacity-limited cycle may reach two units: never beyond
        # the cap's own rung (< R_M + one unit).
        top = self.ceil_rung(self.cap)
        r3[capped] = np.maximum(r2, np.minimum(self.floor_rung(capped_target), top))[capped]
        if int((r3 - r2).sum()) > left:
            # Rounding up does not fit (the frame is exactly full): round everyone down.
            decided = demand_met | capped
            r3[decided] = np.maximum(r2, np.minimum(self.floor_rung(r2 + share), top))[decided]
            capped_target = r2 + share
        carry = np.where(capped, np.clip(capped_target - r3, 0.0, unit), 0.0)
        if np.any(short):
            # What the rounded T-CONTs left is re-shared among the capacity-limited ones,
            # rounded down to rungs, and the whole units left over go one each by class
            # (non-assured, then best effort by priority) and then by the largest
            # accumulated shortfall (largest-remainder apportionment: no T-CONT ends more
            # than one unit from its share, and shortfalls are made up in later cycles).
            pool = float(left - int((r3 - r2).sum()))
            y = self._surplus(pool, bound, short)
            r3[short] = np.maximum(r2, self.floor_rung(r2 + y))[short]
            debt = np.where(short, r2 + y - r3 + self.surplus_carry, 0.0)
            budget = int(pool - float((r3 - r2)[short].sum()))
            if budget >= unit:
                eligible = short & (y > 0) & (self.next_rung(r3) <= self.ceil_rung(r2 + bound))
                idx = np.flatnonzero(eligible)
                ranked = idx[np.lexsort((-debt[idx], self.rank[idx]))]
                # A step up costs one unit, or the whole smallest rung from zero.
                cost = self.next_rung(r3[ranked]) - r3[ranked]
                pick = ranked[np.cumsum(cost) <= budget]
                raised = self.next_rung(r3[pick])
                debt[pick] -= raised - r3[pick]
                r3[pick] = raised
            carry = np.where(short, np.clip(debt, -2.0 * unit, 2.0 * unit), carry)
        self.surplus_carry = carry

        # Allocation structures (512 per XG(S)-PON frame, G.987.3 §8.1.1): best effort is
        # dropped first, then assured, fixed last (limit_allocations drops the smallest
        # scores; dropped T-CONTs keep their demand, and their fixed credit).  In a
        # multi-frame cycle the OLT may poll up to its poll budget of other T-CONTs in the
        # later frames: room is kept for them.
        grants = np.asarray(r3, dtype=np.int64)
        polls = reports.poll_mask
        limit = ctx.profile.max_allocations_per_frame
        reserve = limit // POLL_SHARE_DIVISOR if n_frames > 1 else 0
        if int(np.count_nonzero((grants > 0) | polls)) + reserve > limit:
            big = int(grants.max()) + 1
            score = np.where(grants > 0, grants + big * (2 * (g1 > 0) + (r2 > g1)), 0)
            if reserve == 0:
                kept = ctx.limit_allocations(score, polls) > 0
            else:  # the same rule, with room kept for the later frames' polls
                room = max(0, limit - reserve - int(np.count_nonzero(polls)))
                cand = np.flatnonzero((grants > 0) & ~polls)
                kept = polls.copy()
                kept[cand[np.argsort(-score[cand], kind="stable")[:room]]] = True
            dropped = (grants > 0) & ~kept
            self.fixed_credit[dropped] += g1[dropped] * n_frames
            self.assured_carry[dropped] = 0.0
            self.surplus_carry[dropped] = 0.0
            grants = np.where(kept, grants, 0)
        return grants
