"""Compiled twin of :meth:`olt.downstream.DrrScheduler.share` (one numba kernel).

The compiled frame loop calls it every frame; the stepped engines' ``DrrScheduler`` calls it
too when numba is present (the same integers as its numpy code: the engine-equivalence
tests run both).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ftth.jit import inline_kernel, kernel
from onu.fifo import QENCAP, UNBOUNDED

I64 = npt.NDArray[np.int64]


@inline_kernel
def drr_f(base: I64, demand: I64, need: I64, k: int, quantum: I64, out: I64) -> int:
    """``out_i = clip(base_i + min(k, need_i)·Q_i, 0, demand_i)`` (0 for k < 0); returns
    its sum.  ``f_i`` is flat from ``need_i`` on, so capping ``k`` there changes no value
    and keeps ``k·Q_i`` inside int64 when the quanta are far apart."""
    total = 0
    for i in range(base.shape[0]):
        v = 0
        if k >= 0:
            kk = k if k < need[i] else need[i]
            v = base[i] + kk * quantum[i]
            if v < 0:
                v = 0
            if v > demand[i]:
                v = demand[i]
        out[i] = v
        total += v
    return total


@kernel
def drr_share(
    demand: I64, priority: I64, levels: I64, room_bytes: int, quantum: I64,
    deficit: I64, pointer: I64, cut: I64,
) -> I64:  # fmt: skip
    """Mirror of :meth:`olt.downstream.DrrScheduler.share` (state arrays updated in place);
    ``quantum`` holds each queue's weighted DRR quantum (:func:`olt.downstream.weighted_quanta`)."""
    n = demand.shape[0]
    share = np.zeros(n, dtype=np.int64)
    room = room_bytes
    for li in range(levels.shape[0]):
        level = levels[li]
        m = 0
        for q in range(n):
            if priority[q] == level:
                if demand[q] <= 0:
                    deficit[q] = 0
                else:
                    m += 1
        if room <= 0 or m == 0:
            continue
        members = np.empty(m, dtype=np.int64)
        c = 0
        for q in range(n):
            if priority[q] == level and demand[q] > 0:
                members[c] = q
                c += 1
        start = 0
        while start < m and members[start] < pointer[li]:
            start += 1
        if start == m:
            start = 0
        cyc = np.empty(m, dtype=np.int64)
        base = np.empty(m, dtype=np.int64)
        d = np.empty(m, dtype=np.int64)
        qm = np.empty(m, dtype=np.int64)
        need = np.empty(m, dtype=np.int64)
        k_hi = 0
        for i in range(m):
            q = members[(start + i) % m]
            cyc[i] = q
            base[i] = deficit[q]
            d[i] = demand[q]
            qm[i] = quantum[q]
        if cut[li] == 1 and cyc[0] == pointer[li]:
            base[0] -= qm[0]
        for i in range(m):
            x = d[i] - base[i]
            nd = -((-x) // qm[i])
            need[i] = nd if nd > 0 else 0
            if need[i] > k_hi:
                k_hi = need[i]
        s = np.empty(m, dtype=np.int64)
        visits = np.empty(m, dtype=np.int64)
        resume = 0
        was_cut = 0
        if drr_f(base, d, need, k_hi, qm, s) <= room:
            for i in range(m):
                visits[i] = need[i]
        else:
            lo = -1
            hi = k_hi
            tmp = np.empty(m, dtype=np.int64)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if drr_f(base, d, need, mid, qm, tmp) <= room:
                    lo = mid
                else:
                    hi = mid
            left = room - drr_f(base, d, need, lo, qm, s)
            nxt = np.empty(m, dtype=np.int64)
            drr_f(base, d, need, lo + 1, qm, nxt)
            before = 0
            last = -1
            last_cut = 0
            for i in range(m):
                add = nxt[i] - s[i]
                kk = lo if lo > 0 else 0
                visits[i] = kk if kk < need[i] else need[i]
                if before < left and add > 0:
                    take = left - before
                    if take > add:
                        take = add
                    s[i] += take
                    if lo >= 0:
                        visits[i] += 1
                    last = i
                    last_cut = 1 if take < add else 0
                before += add
            if last >= 0:
                was_cut = last_cut
                resume = last if last_cut == 1 else (last + 1) % m
        used = 0
        for i in range(m):
            q = cyc[i]
            nd = base[i] + visits[i] * qm[i] - s[i]
            if s[i] >= d[i] or nd < 0:
                nd = 0
            deficit[q] = nd
            share[q] = s[i]
            used += s[i]
        room -= used
        pointer[li] = cyc[resume]
        cut[li] = was_cut
    return share


# ------------------------------------------------------------------ the household shaper
# The rules of olt.downstream.HouseholdShaper, written once: the class calls them, and so
# does the compiled frame loop, on the same arrays (tokens in bits, per ONU).
@inline_kernel
def shaper_refill(tokens_bits: I64, refill_bits: I64, depth_bits: I64) -> None:
    """Start of a slice: add one slice of tokens to every bucket, up to its depth."""
    for o in range(tokens_bits.shape[0]):
        t = tokens_bits[o] + refill_bits[o]
        tokens_bits[o] = t if t < depth_bits[o] else depth_bits[o]


@inline_kernel
def shaper_cap(
    demand_bytes: I64, tokens_bits: I64, refill_bits: I64, order: I64, queue_onu: I64
) -> None:
    """Limit each queue's demand (in place) by its ONU's tokens, the ONU's classes served
    in priority order (``order``: by ONU, then priority, then index); an ONU whose refill
    is 0 is not shaped."""
    prev_onu = -1
    before = 0
    for oi in range(order.shape[0]):
        q = order[oi]
        o = queue_onu[q]
        if o != prev_onu:
            prev_onu = o
            before = 0
        d = demand_bytes[q]
        if refill_bits[o] > 0:
            allowed = (tokens_bits[o] >> 3) - before  # floor(tokens / 8)
            if allowed < 0:
                allowed = 0
            if allowed < d:
                demand_bytes[q] = allowed
        before += d


@inline_kernel
def shaper_consume(
    tokens_bits: I64, queue_onu: I64, queues: I64, used_bytes: I64, n: int
) -> None:
    """Take the bytes the first ``n`` ``queues`` sent out of their ONUs' buckets."""
    for i in range(n):
        tokens_bits[queue_onu[queues[i]]] -= used_bytes[i] * 8


@inline_kernel
def queue_demand(qs: I64, slice_bytes: int, demand_bytes: I64) -> None:
    """What each OLT downstream queue asks of a frame (or EPON slice): its encapsulated
    queued bytes, or the whole slice for a greedy (unbounded) source."""
    for q in range(qs.shape[0]):
        demand_bytes[q] = slice_bytes if qs[q, UNBOUNDED] == 1 else qs[q, QENCAP]


@kernel
def mask_demand(demand_bytes: I64, queue_onu: I64, onu_up: I64) -> None:
    """The OLT sends nothing to an ONU that is not operating (``onu_up[i] == 0``): its
    queues show no demand to the DRR, so they keep filling (under tail drop) until it is."""
    for q in range(demand_bytes.shape[0]):
        if onu_up[queue_onu[q]] == 0:
            demand_bytes[q] = 0
