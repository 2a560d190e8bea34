"""The downstream DRR as it was before class weights (one scalar quantum), kept frozen as
the oracle that weights of 1 change nothing: :class:`olt.downstream.DrrScheduler` with every
quantum equal must give these integers frame after frame."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


class ScalarDrr:
    """Strict priority between levels, DRR with one quantum among the queues of a level."""

    def __init__(self, priority: I64, quantum_bytes: int) -> None:
        self.priority = np.asarray(priority, dtype=np.int64)
        self.levels = np.unique(self.priority).astype(np.int64)
        self.quantum = int(quantum_bytes)
        self.deficit = np.zeros(len(self.priority), dtype=np.int64)
        self.pointer = np.zeros(len(self.levels), dtype=np.int64)
        self.cut = np.zeros(len(self.levels), dtype=np.int64)

    def share(self, demand: I64, room: int) -> tuple[I64, I64]:
        """Queue indices in transmission order and their byte shares."""
        n = len(demand)
        share = np.zeros(n, dtype=np.int64)
        quantum = self.quantum
        for li, level in enumerate(self.levels.tolist()):
            in_class = self.priority == level
            self.deficit[in_class & (demand <= 0)] = 0
            if room <= 0:
                continue
            members = np.flatnonzero(in_class & (demand > 0))
            if len(members) == 0:
                continue
            start = int(np.searchsorted(members, self.pointer[li]))
            cyc = np.roll(members, -start)
            d = demand[cyc]
            base = self.deficit[cyc].copy()
            if self.cut[li] and cyc[0] == self.pointer[li]:
                base[0] -= quantum
            share_q, visits, resume, cut = _rounds(base, d, room, quantum)
            new_deficit = base + visits * quantum - share_q
            new_deficit[share_q >= d] = 0
            self.deficit[cyc] = np.maximum(new_deficit, 0)
            share[cyc] = share_q
            room -= int(share_q.sum())
            self.pointer[li] = cyc[resume]
            self.cut[li] = int(cut)
        order = np.lexsort((np.arange(n), self.priority))
        order = order[share[order] > 0]
        return order.astype(np.int64), share[order]


def _rounds(base: I64, demand: I64, room: int, quantum: int) -> tuple[I64, I64, int, bool]:
    def f(k: int) -> I64:
        if k < 0:
            return np.zeros_like(demand)
        return np.clip(base + k * quantum, 0, demand)

    need = np.maximum(-(-(demand - base) // quantum), 0)
    k_hi = int(need.max())
    if int(f(k_hi).sum()) <= room:
        return f(k_hi), need, 0, False
    lo, hi = -1, k_hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if int(f(mid).sum()) <= room:
            lo = mid
        else:
            hi = mid
    done = f(lo)
    add = f(lo + 1) - done
    left = room - int(done.sum())
    before = np.cumsum(add) - add
    take = np.minimum(add, np.maximum(left - before, 0))
    reached = (before < left) & (add > 0)
    visits = np.minimum(np.full(len(demand), max(lo, 0)), need)
    if lo >= 0:
        visits = visits + reached
    resume, cut = 0, False
    hit = np.flatnonzero(reached)
    if len(hit):
        last = int(hit[-1])
        cut = bool(take[last] < add[last])
        resume = last if cut else (last + 1) % len(demand)
    return done + take, visits.astype(np.int64), resume, cut
