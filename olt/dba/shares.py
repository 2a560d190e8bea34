"""Kernels several DBAs share: parameter reading (:mod:`olt.dba.params`, re-exported),
water-filling, service with its overhead, rate buckets, guarantees first.

Used by ``max-min``, the GIANT family, ``ebu``, ``tm-dba`` and ``sr-dba`` (one file per DBA,
one place for the arithmetic they have in common).

Every helper below except :func:`read_params`, :func:`rate_bucket` and :func:`ceil_div` (run
once, in Python, when a DBA is built) is a kernel (:mod:`ftth.jit`): a DBA kernel
(:mod:`olt.dba.kernel`) calls it compiled, Python calls the same function, and without numba
it is plain Python.  Array arguments are contiguous ``float64`` / ``int64`` / ``bool`` arrays;
helpers that need the frame arithmetic take the kernel ``ctx`` vector and the T-CONTs' ONUs
(``tcont_i[TI_ONU]``, :attr:`DbaContext.onu_of`) instead of a :class:`DbaContext`.

Floats are summed in index order by explicit loops (never ``np.sum``, whose pairwise
summation numba does not reproduce), so numba and plain Python give identical results.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ftth.jit import inline_kernel, kernel
from olt.dba import kernel as dk
from olt.dba.base import F64, I64, B

# Re-exported: the DBAs import their parameter reading from here.
from olt.dba.params import ParamSpec as ParamSpec
from olt.dba.params import read_params as read_params


def ceil_div(a: Any, b: Any) -> I64:
    """Element-wise ``ceil(a / b)`` for non-negative integers (set-up code, in Python)."""
    return np.asarray(-(-np.asarray(a, dtype=np.int64) // b), dtype=np.int64)


# --------------------------------------------------------------------------- demand
@kernel
def demand_units(ctx: I64, demand_bytes: I64) -> I64:
    """Reported unserved demand (``reports[R_DEMAND]``) per frame of the cycle, in grant
    units rounded up (the per-frame split rounded up too, as :meth:`DbaContext.per_frame`)."""
    n = demand_bytes.shape[0]
    cycle = ctx[dk.C_CYCLE]
    unit = ctx[dk.C_UNIT]
    inv_cycle = 1.0 / cycle
    inv_unit = 1.0 / unit
    out = np.zeros(n, dtype=np.int64)
    for j in range(n):
        d = demand_bytes[j]
        if d > 0:
            out[j] = dk.cdiv(dk.cdiv(d, cycle, inv_cycle), unit, inv_unit)
    return out


# --------------------------------------------------------------------------- frame capacity
@kernel
def serve_with_overhead(
    ctx: I64, onu_of: I64, request: I64, order: I64, allocated: B, used_units: int
) -> I64:
    """Serve ``request`` (units) in ``order`` while the room shrinks as each new T-CONT adds
    its burst and allocation overhead (the capacity of the prefix served so far);
    ``used_units`` are already granted to the ``allocated`` T-CONTs.  Entries with no request
    are skipped (they cost nothing).  The room only shrinks along ``order`` and what is
    served before only grows, so the first entry that gets nothing ends the service."""
    n = request.shape[0]
    out = np.zeros(n, dtype=np.int64)
    unit = ctx[dk.C_UNIT]
    limit = ctx[dk.C_MAX_ALLOCS]
    seen = np.zeros(ctx[dk.C_N_ONUS], dtype=np.bool_)
    n_allocs, n_bursts = dk.count_allocations(allocated, onu_of, seen)
    before = 0
    for i in range(order.shape[0]):
        j = order[i]
        if request[j] <= 0:
            continue
        if not allocated[j]:
            n_allocs += 1
        o = onu_of[j]
        if not seen[o]:
            seen[o] = True
            n_bursts += 1
        room = dk.capacity_for(n_allocs, n_bursts, ctx) // unit if n_allocs <= limit else 0
        g = room - used_units - before
        if g <= 0:
            break
        out[j] = g if g < request[j] else request[j]
        before += request[j]
    return out


# --------------------------------------------------------------------------- sharing
@kernel
def water_fill(request: F64, weight: F64, capacity: float) -> F64:
    """Weighted max-min shares: ``x_j = min(request_j, λ·weight_j)`` with ``Σ x = capacity``
    (or every request in full when they fit).  Entries with weight ≤ 0 get nothing."""
    n = request.shape[0]
    out = np.zeros(n, dtype=np.float64)
    if capacity <= 0:
        return out
    m = 0
    total = 0.0
    for j in range(n):
        if request[j] > 0 and weight[j] > 0:
            m += 1
            total += request[j]
    if m == 0:
        return out
    if total <= capacity:
        for j in range(n):
            if request[j] > 0 and weight[j] > 0:
                out[j] = request[j]
        return out
    # Raise the level λ: entries asking for less than λ·w are served in full and leave;
    # λ is recomputed over the rest until nobody else leaves.  λ only grows, so an entry
    # that left stays served in full (a few linear passes instead of a sort).
    short = np.empty(m, dtype=np.int64)  # the entries still short, in index order
    c = 0
    for j in range(n):
        if request[j] > 0 and weight[j] > 0:
            short[c] = j
            c += 1
    room = capacity
    lam = 0.0
    while True:
        w_left = 0.0
        for i in range(m):
            w_left += weight[short[i]]
        lam = room / w_left
        if lam < 0.0:  # rounding of ``room`` at the boundary
            lam = 0.0
        kept = 0
        left_room = room
        for i in range(m):
            j = short[i]
            if request[j] <= lam * weight[j]:
                left_room -= request[j]
            else:
                short[kept] = j
                kept += 1
        # Σ r > capacity, so somebody stays short; float rounding (subnormal requests) may
        # say otherwise, hence the second test (``short`` is then left as it was: all
        # entries of the last round still below λ get their request below).
        if kept == m or kept == 0:
            break
        room = left_room
        m = kept
    for j in range(n):
        if request[j] > 0 and weight[j] > 0:
            x = lam * weight[j]
            out[j] = request[j] if request[j] < x else x
    return out


@kernel
def integer_fill(request: I64, weight: F64, capacity: int) -> I64:
    """:func:`water_fill` in whole units: never more than ``request`` per entry nor
    ``capacity`` in total, and within one unit of the ideal share."""
    n = request.shape[0]
    out = np.zeros(n, dtype=np.int64)
    if capacity <= 0:
        return out
    total = 0
    for j in range(n):
        total += request[j]
    if total <= capacity:
        out[:] = request
        return out
    ideal = water_fill(request.astype(np.float64), weight, float(capacity))
    left = capacity
    for j in range(n):
        b = np.int64(np.floor(ideal[j]))
        out[j] = b if b < request[j] else request[j]
        left -= out[j]
    if left <= 0:
        return out
    # Largest remainders first (ties: lower index first), one unit each; only entries with
    # room left can take one.
    m = 0
    for j in range(n):
        if request[j] > out[j]:
            m += 1
    if left < m:
        # The ``left`` largest remainders: everything above the left-th largest, then those
        # equal to it in index order (what a stable sort would pick, without sorting).
        rem = np.empty(m, dtype=np.float64)
        c = 0
        for j in range(n):
            if request[j] > out[j]:
                rem[c] = out[j] - ideal[j]  # minus the remainder: ascending = largest first
                c += 1
        kth = np.partition(rem, left - 1)[left - 1]
        for j in range(n):
            if request[j] > out[j] and out[j] - ideal[j] < kth:
                out[j] += 1
                left -= 1
        for j in range(n):
            if left <= 0:
                break
            if request[j] > out[j] and out[j] - ideal[j] == kth:
                out[j] += 1
                left -= 1
        return out
    cand = np.empty(m, dtype=np.int64)
    key = np.empty(m, dtype=np.float64)
    c = 0
    for j in range(n):
        if request[j] > out[j]:
            cand[c] = j
            key[c] = -(ideal[j] - out[j])
            c += 1
    order = cand[np.argsort(key, kind="mergesort")]
    for i in range(m):
        out[order[i]] += 1
        left -= 1
    if left > 0:  # only if float rounding lost more than one unit per entry
        before = 0
        for i in range(m):
            j = order[i]
            r = request[j] - out[j]
            g = left - before
            if g < 0:
                g = 0
            if g > r:
                g = r
            out[j] += g
            before += r
    return out


@kernel
def fill_by_priority(request: I64, priority: I64, weight: F64, capacity: int) -> I64:
    """Strict priority between levels (lowest value first), :func:`integer_fill` inside a
    level.  Only entries with a request take part."""
    n = request.shape[0]
    out = np.zeros(n, dtype=np.int64)
    left = capacity
    first = True
    done = 0  # every level ≤ done has been served (once ``first`` is False)
    while left > 0:
        level = 0
        m = 0
        for j in range(n):
            p = priority[j]
            if request[j] <= 0 or (not first and p <= done):
                continue
            if m == 0 or p < level:
                level = p
                m = 1
            elif p == level:
                m += 1
        if m == 0:
            break
        sel = np.empty(m, dtype=np.int64)
        c = 0
        for j in range(n):
            if request[j] > 0 and priority[j] == level:
                sel[c] = j
                c += 1
        got = integer_fill(request[sel], weight[sel], left)
        for i in range(m):
            out[sel[i]] = got[i]
            left -= got[i]
        done = level
        first = False
    return out


# --------------------------------------------------------------------------- rate buckets
# A rate bucket is a float64 array of 3 n in a DBA's state: rate per cycle, depth, tokens
# (bytes).  It holds a rate on average, banking at most one cycle plus one grant unit (an
# idle T-CONT cannot save bandwidth up; a slow one, one packet more).  Once per cycle:
# :func:`bucket_allowance`, then :func:`bucket_charge` with the per-frame grants.
def rate_bucket(
    rate_bytes_per_frame: F64, cycle_frames: int, unit: int, burst_bytes: float = 0.0
) -> F64:
    """A new rate bucket (set-up, in Python) for ``rate_bytes_per_frame``.

    ``burst_bytes`` deepens the bucket of a *slow* T-CONT, one whose bucket could not hold
    ``burst_bytes`` otherwise: a ceiling bucket passes one encapsulated 1518-byte frame
    (``C_MTU_GRANT``).  Without it a T-CONT provisioned below one minimum GEM/XGEM frame per
    frame is only ever allowed grants too small to carry anything and starves, and a slow
    one (a call at R_A = 100 kb/s) has its packets cut into a sliver per frame
    (``ftth dba-check``: slow T-CONTs; :func:`cap_whole_packets` holds the slivers back).
    A deepened bucket starts with ``burst_bytes`` of tokens, as after an idle spell (empty,
    a call at 87 % of its R_A took half a second to catch up): the bytes granted never
    exceed rate × time + ``burst_bytes`` (+ the unit rounding of the grants).  Other
    buckets start empty and bank one cycle plus one grant unit.
    """
    per_cycle = np.asarray(rate_bytes_per_frame, dtype=np.float64) * cycle_frames
    base = per_cycle + float(unit * cycle_frames)
    slow = (per_cycle > 0) & (base < burst_bytes)
    depth = np.where(per_cycle > 0, base + np.where(slow, burst_bytes, 0.0), 0.0)
    tokens = np.where(slow, float(burst_bytes), 0.0)
    return np.concatenate([per_cycle, depth, tokens]).astype(np.float64)


@inline_kernel
def bucket_allowance(bucket: F64, frame_units: float, out: I64) -> None:
    """Add one cycle of tokens; ``out`` = whole grant units per frame the buckets now allow
    (``frame_units`` = unit × cycle frames: what one unit in every frame costs a cycle)."""
    n = out.shape[0]
    for j in range(n):
        t = bucket[2 * n + j] + bucket[j]
        if t > bucket[n + j]:
            t = bucket[n + j]
        bucket[2 * n + j] = t
        out[j] = np.int64(np.floor((t if t > 0.0 else 0.0) / frame_units))


@inline_kernel
def bucket_charge(bucket: F64, frame_units: float, grant_units: I64) -> None:
    """Take ``grant_units`` per frame of the cycle out of the buckets."""
    n = grant_units.shape[0]
    for j in range(n):
        bucket[2 * n + j] -= grant_units[j] * frame_units


@inline_kernel
def cap_whole_packets(ctx: I64, want: I64, cap: I64) -> None:
    """``want = min(want, cap)`` (units per frame, in place), except that a T-CONT its
    ceiling bucket holds below what it wants gets nothing this cycle while the bucket allows
    less than one encapsulated 1518-byte frame (``C_MTU_GRANT``) per cycle: the tokens build
    up instead of being spent on slivers.  Slivers below one minimum GEM/XGEM frame carry
    nothing at all (a T-CONT provisioned that slowly starved), and a packet cut into a sliver
    per frame waits for its last piece (a call at R_A = 100 kb/s waited ~13 ms).  With a
    bucket deepened by one such frame (:func:`rate_bucket`) a full bucket always allows it,
    so the T-CONT is served at its rate in whole packets."""
    per_cycle = ctx[dk.C_UNIT] * ctx[dk.C_CYCLE]
    mtu = ctx[dk.C_MTU_GRANT]
    for j in range(want.shape[0]):
        if want[j] > cap[j]:
            want[j] = cap[j] if (cap[j] + 1) * per_cycle > mtu else 0


# --------------------------------------------------------------------------- guarantees first
@kernel
def admit_allocations(ctx: I64, onu_of: I64, fixed: I64, want: I64, poll: I64) -> int:
    """Trim the T-CONTs asking for an allocation to the frame's allocation structures
    (:func:`olt.dba.kernel.limit_allocations`: the smallest requests wait for a later frame),
    zeroing ``fixed`` and ``want`` (units, in place) of those that wait, and return the
    payload capacity, in units, of the rest plus the polls — a safe bound whatever subset of
    it ends up allocated."""
    n = fixed.shape[0]
    unit = ctx[dk.C_UNIT]
    asked = np.empty(n, dtype=np.int64)
    for j in range(n):
        asked[j] = (fixed[j] + want[j]) * unit
    dk.limit_allocations(asked, poll, ctx)
    allocated = np.zeros(n, dtype=np.bool_)
    for j in range(n):
        if asked[j] > 0:
            allocated[j] = True
        else:
            fixed[j] = 0
            want[j] = 0
            allocated[j] = poll[j] != 0
    return dk.payload_capacity(allocated, onu_of, ctx) // unit


@inline_kernel
def grant_rest_if_it_fits(want: I64, grant: I64, left: int) -> bool:
    """Light load: when what every T-CONT still wants beyond ``grant`` fits the ``left``
    units, grant it (in place) and return True — every sharing stage after the fixed one
    would grant its requests in full.  False, and ``grant`` untouched, otherwise."""
    rest_total = 0
    for j in range(want.shape[0]):
        rest_total += max(want[j] - grant[j], 0)
    if rest_total > left:
        return False
    for j in range(want.shape[0]):
        grant[j] += max(want[j] - grant[j], 0)
    return True


@kernel
def grant_fixed_first(
    ctx: I64, onu_of: I64, fixed_bucket: F64, want: I64, weight: F64, poll: I64
) -> tuple[I64, int]:
    """Step 1 of the guarantee-first DBAs (``ebu``, ``max-min``, ``tm-dba``): trim the
    allocations to the frame's structures (:func:`admit_allocations`, which trims ``want``
    in place), grant R_F from ``fixed_bucket`` whatever the demand (water-filled by
    ``weight`` only if admission control was bypassed) and charge it.  Returns the fixed
    grant (units per frame) and the capacity left (units)."""
    n = want.shape[0]
    frame_units = float(ctx[dk.C_UNIT] * ctx[dk.C_CYCLE])
    fixed = np.empty(n, dtype=np.int64)
    bucket_allowance(fixed_bucket, frame_units, fixed)
    capacity = admit_allocations(ctx, onu_of, fixed, want, poll)
    grant = integer_fill(fixed, weight, capacity)
    bucket_charge(fixed_bucket, frame_units, grant)
    left = capacity
    for j in range(n):
        left -= grant[j]
    return grant, left
