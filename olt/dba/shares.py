"""Vector helpers several DBAs share: parameter reading (:mod:`olt.dba.params`),
water-filling, service in order, per-prefix frame capacity, rate buckets.

Used by ``max-min``, the GIANT family, ``ebu`` and ``tm-dba`` (one file per DBA, one place for
the arithmetic they have in common).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ftth.phy import psbu_slot_bytes
from olt.dba.base import F64, I64, B, DbaContext, Reports
from olt.dba.params import ParamSpec, read_params

__all__ = ["ParamSpec", "read_params"]  # re-exported: the DBAs import them from here


# --------------------------------------------------------------------------- vector helpers
def ceil_div(a: Any, b: Any) -> I64:
    """Element-wise ``ceil(a / b)`` for non-negative integers."""
    return np.asarray(-(-np.asarray(a, dtype=np.int64) // b), dtype=np.int64)


def ceiling_bytes_per_frame(ctx: DbaContext) -> F64:
    """Most a T-CONT may get per frame: R_M, or R_F + R_A for types 1 and 2 (no R_M)."""
    return np.maximum(
        ctx.max_bytes_per_frame, ctx.fixed_bytes_per_frame + ctx.assured_bytes_per_frame
    )


def demand_units(ctx: DbaContext, reports: Reports) -> I64:
    """Reported unserved demand per frame of the cycle, in grant units rounded up."""
    per_frame = ctx.per_frame(np.maximum(reports.demand_bytes, 0))
    return ceil_div(per_frame, ctx.grant_unit_bytes)


def admit_allocations(ctx: DbaContext, fixed: I64, want: I64, poll: B) -> tuple[I64, I64, int]:
    """Trim the T-CONTs asking for an allocation to the frame's allocation structures
    (:meth:`DbaContext.limit_allocations`: the smallest requests wait for a later frame) and
    return the trimmed fixed and wanted units with the payload capacity, in units, of that
    set plus the polls — a safe bound whatever subset of it ends up allocated."""
    unit = ctx.grant_unit_bytes
    keep = ctx.limit_allocations((fixed + want) * unit, poll) > 0
    fixed = np.where(keep, fixed, 0)
    want = np.where(keep, want, 0)
    return fixed, want, ctx.payload_capacity(poll | keep) // unit


def prefix_capacity_units(ctx: DbaContext, allocated: B, order: I64) -> I64:
    """Capacity in grant units when ``allocated`` and the first ``i + 1`` T-CONTs of
    ``order`` get allocations, for every ``i`` — :meth:`DbaContext.payload_capacity` of each
    prefix at once, so a DBA that serves T-CONTs one after another charges only the bursts
    and allocation structures it really uses.  0 where the prefix would exceed the frame's
    allocation structures.  (Same arithmetic as ``payload_capacity``; a test holds them equal.)
    """
    order = np.asarray(order, dtype=np.int64)
    if len(order) == 0:
        return np.zeros(0, dtype=np.int64)
    p, unit = ctx.profile, ctx.grant_unit_bytes
    onu = ctx.tconts.onu_index
    allocated = np.asarray(allocated, dtype=bool)
    have_onu = np.zeros(ctx.n_onus, dtype=bool)
    have_onu[onu[allocated]] = True
    # Each T-CONT of ``order`` is new (an allocation structure) unless already allocated;
    # its ONU is a new burst the first time it appears and was not already transmitting.
    new_alloc = ~allocated[order]
    onu_o = onu[order]
    first = np.zeros(len(order), dtype=bool)
    first[np.unique(onu_o, return_index=True)[1]] = True
    new_burst = first & ~have_onu[onu_o]
    n_allocs = int(np.count_nonzero(allocated)) + np.cumsum(new_alloc)
    n_bursts = int(np.count_nonzero(have_onu)) + np.cumsum(new_burst)
    line = ctx.frame_line_bytes - n_bursts * (psbu_slot_bytes(p) + unit + 1)
    data = ctx.fec.data_bytes(line) if ctx.fec else line  # type: ignore[arg-type]
    data = data - n_bursts * (p.us_burst_header_bytes + p.us_burst_trailer_bytes)
    dbru = p.dbru_bytes if ctx.dbru_in_every_allocation else 0
    data = data - n_allocs * (unit + dbru)
    units = np.maximum(data, 0) // unit
    return np.where(n_allocs <= p.max_allocations_per_frame, units, 0).astype(np.int64)


def serve_with_overhead(
    ctx: DbaContext, request: I64, order: I64, allocated: B, used_units: int
) -> I64:
    """:func:`serve_in_order` where the room shrinks as each new T-CONT adds its burst and
    allocation overhead (:func:`prefix_capacity_units`); ``used_units`` are already granted
    to the ``allocated`` T-CONTs.  Entries with no request are skipped (they cost nothing)."""
    out = np.zeros(len(request), dtype=np.int64)
    order = np.asarray(order, dtype=np.int64)
    order = order[np.asarray(request)[order] > 0]
    if len(order) == 0:
        return out
    req = np.asarray(request, dtype=np.int64)[order]
    room = prefix_capacity_units(ctx, allocated, order) - used_units
    before = np.cumsum(req) - req
    out[order] = np.clip(room - before, 0, req)
    return out


def water_fill(request: Any, weight: Any, capacity: float) -> F64:
    """Weighted max-min shares: ``x_j = min(request_j, λ·weight_j)`` with ``Σ x = capacity``
    (or every request in full when they fit).  Entries with weight ≤ 0 get nothing."""
    req = np.asarray(request, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    out = np.zeros(len(req), dtype=np.float64)
    active = (req > 0) & (w > 0)
    if capacity <= 0 or not np.any(active):
        return out
    r, ww = req[active], w[active]
    if float(r.sum()) <= capacity:
        out[active] = r
        return out
    level = r / ww
    order = np.argsort(level, kind="stable")
    lv, rs, ws = level[order], r[order], ww[order]
    cum_r = np.cumsum(rs)
    suffix_w = np.cumsum(ws[::-1])[::-1]  # Σ ws[i:]
    # Capacity used if the level were lv[i]: items before i in full, items from i at lv[i]·w.
    used_at = cum_r - rs + lv * suffix_w
    k = int(np.searchsorted(used_at, capacity, side="right"))  # items 0..k-1 served in full
    # Σ r > capacity, so at least the last item is not served in full; rounding (levels that
    # underflow to 0 with subnormal requests) can still put every used_at below capacity.
    k = min(k, len(r) - 1)
    full = float(cum_r[k - 1]) if k > 0 else 0.0
    lam = (capacity - full) / float(suffix_w[k])
    out[active] = np.minimum(r, lam * ww)
    return out


def serve_in_order(request: I64, order: I64, capacity: int) -> I64:
    """Serve ``request`` (units) in ``order`` until ``capacity`` runs out; the entry on the
    boundary gets what is left.  Returns the grants in the original positions."""
    out = np.zeros(len(request), dtype=np.int64)
    if capacity <= 0 or len(order) == 0:
        return out
    req = np.asarray(request, dtype=np.int64)[order]
    before = np.cumsum(req) - req
    out[order] = np.clip(capacity - before, 0, req)
    return out


def integer_fill(request: I64, weight: Any, capacity: int) -> I64:
    """:func:`water_fill` in whole units: never more than ``request`` per entry nor
    ``capacity`` in total, and within one unit of the ideal share."""
    req = np.asarray(request, dtype=np.int64)
    if capacity <= 0:
        return np.zeros(len(req), dtype=np.int64)
    if int(req.sum()) <= capacity:
        return req.copy()
    ideal = water_fill(req, weight, float(capacity))
    base = np.minimum(np.floor(ideal).astype(np.int64), req)
    left = capacity - int(base.sum())
    if left > 0:
        # Largest remainders first (stable: lower index first on ties).
        order = np.argsort(-(ideal - base), kind="stable").astype(np.int64)
        base += serve_in_order(np.minimum(req - base, 1), order, left)
        left = capacity - int(base.sum())
        if left > 0:  # only if float rounding lost more than one unit per entry
            base += serve_in_order(req - base, order, left)
    return base


def fill_by_priority(request: I64, priority: I64, weight: Any, capacity: int) -> I64:
    """Strict priority between levels (0 first), :func:`integer_fill` inside a level."""
    out = np.zeros(len(request), dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64)
    left = capacity
    for level in np.unique(priority[request > 0]):
        if left <= 0:
            break
        sel = np.flatnonzero((priority == level) & (request > 0))
        got = integer_fill(request[sel], w[sel], left)
        out[sel] = got
        left -= int(got.sum())
    return out


class RateLimiter:
    """Per-T-CONT token buckets: ``rate_bytes_per_frame`` on average, banking at most one
    cycle plus one grant unit (an idle T-CONT cannot save bandwidth up).

    Call :meth:`allowance` once per cycle, then :meth:`charge` with the per-frame grants.
    """

    def __init__(self, rate_bytes_per_frame: F64, cycle_frames: int, unit: int) -> None:
        self.per_cycle = np.asarray(rate_bytes_per_frame, dtype=np.float64) * cycle_frames
        self.frame_units = unit * cycle_frames  # bytes one grant unit per frame costs a cycle
        self.depth = np.where(self.per_cycle > 0, self.per_cycle + self.frame_units, 0.0)
        self.tokens = np.zeros(len(self.per_cycle), dtype=np.float64)

    def allowance(self) -> I64:
        """Add one cycle of tokens; whole grant units per frame the buckets now allow."""
        self.tokens = np.minimum(self.tokens + self.per_cycle, self.depth)
        return np.floor(np.maximum(self.tokens, 0.0) / self.frame_units).astype(np.int64)

    def charge(self, grant_units: I64) -> None:
        self.tokens -= np.asarray(grant_units, dtype=np.float64) * self.frame_units


# --------------------------------------------------------------------------- the DBA


def grant_fixed_first(
    ctx: DbaContext, fixed: RateLimiter, want: I64, weight: F64, poll: B
) -> tuple[I64, I64, int]:
    """Step 1 of the guarantee-first DBAs (``ebu``, ``max-min``, ``tm-dba``): trim the
    allocations to the frame's structures (:func:`admit_allocations`), grant R_F whatever the
    demand (water-filled by ``weight`` only if admission control was bypassed) and charge it
    to ``fixed``.  Returns the fixed grant and the trimmed wants (units) and the capacity left.
    """
    fixed_units, want, capacity = admit_allocations(ctx, fixed.allowance(), want, poll)
    grant = integer_fill(fixed_units, weight, capacity)
    fixed.charge(grant)
    return grant, want, capacity - int(grant.sum())
