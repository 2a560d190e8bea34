"""Downstream frame scheduler: how one 125 µs frame's payload is shared among OLT queues.

Each ONU has one queue per downstream class.  Classes are served in strict priority (0 is
the highest); inside a priority level the queues share the room by weighted deficit round
robin (:class:`DrrScheduler`, each queue's quantum scaled by its class's weight:
:func:`weighted_quanta`).  Each ONU is shaped to its households' tier by a token bucket
(:class:`HouseholdShaper`) before the frame is shared.  The payload is laid out queue after
queue in (priority, queue index) order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ftth.jit import ACCELERATED
from olt.downstream_kernel import drr_share, shaper_cap, shaper_consume, shaper_refill

I64 = npt.NDArray[np.int64]


def weighted_quanta(quantum_bytes: int, weight: npt.ArrayLike) -> I64:
    """Per-queue DRR quanta: ``max(1, round(Q · w_i))`` bytes per round.

    Parameters
    ----------
    quantum_bytes
        Base quantum ``Q`` (the quantum of a weight-1 queue).
    weight
        Weight of each queue (its class's weight, > 0).

    Returns
    -------
    numpy.ndarray
        int64 quantum of each queue, at least 1 byte (a tiny weight still gets a turn, so
        a round always moves every backlogged queue forward).  A weight of exactly 1 gives
        ``Q`` itself, so all-1 weights are the unweighted DRR.
    """
    w = np.asarray(weight, dtype=np.float64)
    return np.maximum(np.rint(quantum_bytes * w), 1).astype(np.int64)


class DrrScheduler:
    """Strict priority between levels, weighted deficit round robin (DRR) among the queues
    of a level.

    DRR (Shreedhar & Varghese 1995) gives every backlogged queue of a level its quantum of
    ``quantum_bytes[i]`` per round (weighted DRR: the quanta differ, so over many rounds
    backlogged queues are served in proportion to them), in a round-robin order that
    continues across frames; a
    queue's unused quantum stays as its deficit while it is backlogged and is dropped when it
    empties.  GEM/XGEM may cut a packet at a frame's end, so the service here is byte-granular:
    a queue takes up to its deficit, the frame's room permitting.  The default quantum is one
    encapsulated maximum-size Ethernet frame, so under load each frame serves whole packets
    of a few ONUs rather than a fragment of every ONU's (fewer fragment headers).

    Full rounds are computed in closed form (the largest ``k`` with
    ``Σ min(deficit_i + k·Q_i, demand_i) ≤ room``, by bisection), the last partial round in
    round-robin order, so a frame costs a few vectorised operations whatever the backlog.

    Parameters
    ----------
    priority
        Class priority of each queue (0 = highest).
    quantum_bytes
        DRR quantum of each queue (:func:`weighted_quanta`), or one quantum for all.

    Attributes
    ----------
    use_kernel
        Share through the compiled twin :func:`olt.downstream_kernel.drr_share` (the default
        when numba is present) or through the numpy code here.  They give the same integers;
        the reference engine sets it False so that it shares no compiled code with the fast
        engine's compiled loop, which calls the twin directly.
    """

    def __init__(self, priority: I64, quantum_bytes: int | I64) -> None:
        self.priority = np.asarray(priority, dtype=np.int64)
        self.levels = np.unique(self.priority).astype(np.int64)
        n = len(self.priority)
        self.quantum = np.ascontiguousarray(
            np.broadcast_to(np.asarray(quantum_bytes, dtype=np.int64), (n,))
        )
        if n and int(self.quantum.min()) < 1:
            raise ValueError("every DRR quantum must be at least 1 byte")
        self.deficit = np.zeros(n, dtype=np.int64)
        #: Per class: the queue index the next round starts from, and whether that queue's
        #: turn was cut short by the end of the previous frame.
        self.pointer = np.zeros(len(self.levels), dtype=np.int64)
        self.cut = np.zeros(len(self.levels), dtype=np.int64)  # 0 / 1 (the kernel's layout)
        self.use_kernel = ACCELERATED

    def share(self, demand_bytes: I64, room_bytes: int) -> tuple[I64, I64]:
        """Share one frame: queue indices in transmission order and their byte shares."""
        demand = np.asarray(demand_bytes, dtype=np.int64)
        n = len(demand)
        if self.use_kernel:
            # The compiled twin: the same integers, without a dozen numpy calls per class.
            share = drr_share(
                demand, self.priority, self.levels, int(room_bytes), self.quantum,
                self.deficit, self.pointer, self.cut,
            )  # fmt: skip
        else:
            share = self._share_numpy(demand, int(room_bytes))
        order = np.lexsort((np.arange(n), self.priority))
        order = order[share[order] > 0]
        return order.astype(np.int64), share[order]

    def _share_numpy(self, demand: I64, room: int) -> I64:
        n = len(demand)
        share = np.zeros(n, dtype=np.int64)
        for li, level in enumerate(self.levels.tolist()):
            in_class = self.priority == level
            # DRR: a queue with nothing to send loses its deficit.
            self.deficit[in_class & (demand <= 0)] = 0
            if room <= 0:
                continue
            members = np.flatnonzero(in_class & (demand > 0))
            if len(members) == 0:
                continue
            start = int(np.searchsorted(members, self.pointer[li]))
            cyc = np.roll(members, -start)
            d = demand[cyc]
            quantum = self.quantum[cyc]
            base = self.deficit[cyc].copy()
            if self.cut[li] and cyc[0] == self.pointer[li]:
                # Its turn was cut by the end of the last frame: it goes on with what is
                # left of its deficit, without a new quantum this round.
                base[0] -= quantum[0]
            share_q, visits, resume, cut = _drr_rounds(base, d, room, quantum)
            new_deficit = base + visits * quantum - share_q
            new_deficit[share_q >= d] = 0
            self.deficit[cyc] = np.maximum(new_deficit, 0)
            share[cyc] = share_q
            room -= int(share_q.sum())
            self.pointer[li] = cyc[resume]
            self.cut[li] = int(cut)
        return share


def _drr_rounds(base: I64, demand: I64, room: int, quantum: I64) -> tuple[I64, I64, int, bool]:
    """Weighted DRR rounds over queues in round-robin order (byte-granular).

    Queue ``i`` may have sent ``f_i(k) = clip(base_i + k·Q_i, 0, demand_i)`` after ``k``
    quanta; each ``f_i`` is monotone in ``k``, so the full rounds are the largest ``k`` with
    ``Σ f(k) ≤ room`` (bisection); then one partial round in order until the room runs out.
    Returns the shares, the quanta each queue received, the position the next frame resumes
    at and whether that queue's turn was cut.
    """
    # Quanta a queue needs to send its whole demand; f_i is flat beyond it, so k is capped
    # there before the product (k·Q_i could overflow int64 when the quanta are far apart).
    need = np.maximum(-(-(demand - base) // quantum), 0)

    def f(k: int) -> I64:
        if k < 0:
            return np.zeros_like(demand)
        return np.clip(base + np.minimum(k, need) * quantum, 0, demand)

    k_hi = int(need.max())
    if int(f(k_hi).sum()) <= room:
        return f(k_hi), need, 0, False
    lo, hi = -1, k_hi  # Σ f(lo) ≤ room < Σ f(hi)
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
    # Where the next frame resumes: on the queue whose turn the room cut, or after the last
    # queue served in full.
    resume, cut = 0, False
    hit = np.flatnonzero(reached)
    if len(hit):
        last = int(hit[-1])
        cut = bool(take[last] < add[last])
        resume = last if cut else (last + 1) % len(demand)
    return done + take, visits.astype(np.int64), resume, cut


class HouseholdShaper:
    """Token bucket per ONU (its households' downstream tier): the OLT never sends a household
    more than its tier, beyond a burst of ``depth`` bytes.

    Tokens are counted in bits (int64) so the per-frame refill ``tier × 125 µs`` is exact for
    any tier that is a multiple of 8 kb/s; they count encapsulated (GEM/XGEM) bytes, which is
    conservative by the header overhead (< 1 % at 1518-byte frames).  Within an ONU the
    tokens go to its classes in priority order.  Over any interval T the household receives at
    most ``tier × T + depth``.

    Parameters
    ----------
    rate_bps
        Shaped rate per ONU (tier × households on it); 0 disables shaping for that ONU.
    depth_bytes
        Bucket depth per ONU.
    queue_onu, priority
        ONU and class priority of each downstream queue.
    slice_ps
        Time between refills (the 125 µs frame).
    """

    def __init__(
        self,
        rate_bps: I64,
        depth_bytes: I64,
        queue_onu: I64,
        priority: I64,
        slice_ps: int,
    ) -> None:
        self.refill_bits = np.asarray(rate_bps, dtype=np.int64) * slice_ps // 10**12
        self.depth_bits = np.asarray(depth_bytes, dtype=np.int64) * 8
        self.tokens_bits = self.depth_bits.copy()
        self.queue_onu = np.asarray(queue_onu, dtype=np.int64)
        n = len(self.queue_onu)
        self.order = np.lexsort((np.arange(n), priority, self.queue_onu)).astype(np.int64)

    def refill(self) -> None:
        """Start of a slice: add one slice of tokens, up to the depth."""
        shaper_refill(self.tokens_bits, self.refill_bits, self.depth_bits)

    def cap(self, demand_bytes: I64) -> I64:
        """Demands limited by each ONU's tokens, its classes served in priority order."""
        out = np.array(demand_bytes, dtype=np.int64)
        shaper_cap(out, self.tokens_bits, self.refill_bits, self.order, self.queue_onu)
        return out

    def consume(self, queue: I64, used_bytes: I64) -> None:
        """Take the bytes actually sent out of their ONUs' buckets."""
        q = np.ascontiguousarray(queue, dtype=np.int64)
        shaper_consume(
            self.tokens_bits,
            self.queue_onu,
            q,
            np.ascontiguousarray(used_bytes, dtype=np.int64),
            len(q),
        )
