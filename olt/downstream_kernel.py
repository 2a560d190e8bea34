"""Compiled twin of :meth:`olt.downstream.DrrScheduler.share` (one numba kernel).

The compiled frame loop calls it every frame; the stepped engines' ``DrrScheduler`` calls it
too when numba is present (the same integers as its numpy code: the engine-equivalence
tests run both).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ftth.jit import inline_kernel, kernel

I64 = npt.NDArray[np.int64]


@inline_kernel
def drr_f(base: I64, demand: I64, k: int, quantum: int, out: I64) -> int:
    """``out = clip(base + k·Q, 0, demand)`` (0 for k < 0); returns its sum."""
    total = 0
    for i in range(base.shape[0]):
        v = 0
        if k >= 0:
            v = base[i] + k * quantum
            if v < 0:
                v = 0
            if v > demand[i]:
                v = demand[i]
        out[i] = v
        total += v
    return total


@kernel
def drr_share(
    demand: I64, priority: I64, levels: I64, room_bytes: int, quantum: int,
    deficit: I64, pointer: I64, cut: I64,
) -> I64:  # fmt: skip
    """Mirror of :meth:`olt.downstream.DrrScheduler.share` (state arrays updated in place)."""
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
        need = np.empty(m, dtype=np.int64)
        k_hi = 0
        for i in range(m):
            q = members[(start + i) % m]
            cyc[i] = q
            base[i] = deficit[q]
            d[i] = demand[q]
        if cut[li] == 1 and cyc[0] == pointer[li]:
            base[0] -= quantum
        for i in range(m):
            x = d[i] - base[i]
            nd = -((-x) // quantum)
            need[i] = nd if nd > 0 else 0
            if need[i] > k_hi:
                k_hi = need[i]
        s = np.empty(m, dtype=np.int64)
        visits = np.empty(m, dtype=np.int64)
        resume = 0
        was_cut = 0
        if drr_f(base, d, k_hi, quantum, s) <= room:
            for i in range(m):
                visits[i] = need[i]
        else:
            lo = -1
            hi = k_hi
            tmp = np.empty(m, dtype=np.int64)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if drr_f(base, d, mid, quantum, tmp) <= room:
                    lo = mid
                else:
                    hi = mid
            left = room - drr_f(base, d, lo, quantum, s)
            nxt = np.empty(m, dtype=np.int64)
            drr_f(base, d, lo + 1, quantum, nxt)
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
            nd = base[i] + visits[i] * quantum - s[i]
            if s[i] >= d[i] or nd < 0:
                nd = 0
            deficit[q] = nd
            share[q] = s[i]
            used += s[i]
        room -= used
        pointer[li] = cyc[resume]
        cut[li] = was_cut
    return share
