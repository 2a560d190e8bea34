"""Downstream frame scheduler: how one 125 µs frame's payload is shared among OLT queues.

Each ONU has one queue per downstream class.  Classes are served in strict priority (0 is
the highest); inside a class the room is shared max-min fairly (water-filling) among the
queues with eligible data, any indivisible remainder going one byte at a time to queues in
a rotating order so no ONU is favoured frame after frame.  The payload is then laid out
queue after queue in (priority, queue index) order.

This is the simple scheduler of the engine issue; per-household token-bucket shapers and DRR
come with the OLT issue.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


def water_fill(demand: I64, room: int) -> I64:
    """Max-min fair shares of ``room`` among ``demand`` (integers, Σ share ≤ room).

    Every queue gets ``min(demand, level)`` for the largest integer level that fits; the
    bytes left over (fewer than the number of queues still wanting more) are not assigned
    here so the caller can rotate them.
    """
    demand = np.asarray(demand, dtype=np.int64)
    if int(demand.sum()) <= room:
        return demand.copy()
    order = np.argsort(demand, kind="stable")
    sorted_d = demand[order]
    n = len(sorted_d)
    prefix = np.concatenate(([0], np.cumsum(sorted_d)[:-1]))
    # If the level sits at sorted_d[i], the total is prefix[i] + sorted_d[i]·(n − i).
    totals = prefix + sorted_d * (n - np.arange(n))
    i = int(np.searchsorted(totals, room, side="right"))
    # Queues sorted before i are satisfied; the rest share what is left equally.
    level = (room - int(prefix[i])) // (n - i) if i < n else int(sorted_d[-1])
    return np.minimum(demand, level)


def schedule_frame(
    demand_bytes: I64, priority: I64, room_bytes: int, rotate: int
) -> tuple[I64, I64]:
    """Share one downstream frame.

    Parameters
    ----------
    demand_bytes
        Encapsulated bytes each queue could send now.
    priority
        Class priority of each queue (0 = highest).
    room_bytes
        Payload bytes of the frame.
    rotate
        Rotation offset for the leftover bytes (e.g. the frame number).

    Returns
    -------
    (order, share)
        Queue indices in transmission order (only queues with a share) and their shares.
    """
    n = len(demand_bytes)
    share = np.zeros(n, dtype=np.int64)
    room = room_bytes
    for level in np.unique(priority):
        if room <= 0:
            break
        members = np.flatnonzero((priority == level) & (demand_bytes > 0))
        if len(members) == 0:
            continue
        d = demand_bytes[members]
        s = water_fill(d, room)
        left = room - int(s.sum())
        if left > 0:
            wanting = np.flatnonzero(s < d)
            if len(wanting):
                start = rotate % len(wanting)
                rolled = np.roll(wanting, -start)
                extra, rest = divmod(left, len(rolled))
                s[rolled] += extra
                s[rolled[:rest]] += 1
                s = np.minimum(s, d)
        share[members] = s
        room -= int(s.sum())
    order = np.lexsort((np.arange(n), priority))
    order = order[share[order] > 0]
    return order.astype(np.int64), share[order]


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
        self.active = self.refill_bits > 0
        self.tokens_bits = self.depth_bits.copy()
        self.queue_onu = np.asarray(queue_onu, dtype=np.int64)
        n = len(self.queue_onu)
        self.order = np.lexsort((np.arange(n), priority, self.queue_onu)).astype(np.int64)

    def refill(self) -> None:
        """Start of a slice: add one slice of tokens, up to the depth."""
        self.tokens_bits = np.minimum(self.depth_bits, self.tokens_bits + self.refill_bits)

    def cap(self, demand_bytes: I64) -> I64:
        """Demands limited by each ONU's tokens, its classes served in priority order."""
        d = np.asarray(demand_bytes, dtype=np.int64)[self.order]
        onu = self.queue_onu[self.order]
        cum = np.cumsum(d)
        first = np.ones(len(d), dtype=bool)
        first[1:] = onu[1:] != onu[:-1]
        seg_start = np.maximum.accumulate(np.where(first, np.arange(len(d)), 0))
        before = cum - d - (cum[seg_start] - d[seg_start])
        allowed = np.clip(self.tokens_bits[onu] // 8 - before, 0, d)
        capped = np.where(self.active[onu], allowed, d)
        out = np.empty_like(capped)
        out[self.order] = capped
        return out

    def consume(self, queue: I64, used_bytes: I64) -> None:
        """Take the bytes actually sent out of their ONUs' buckets."""
        np.subtract.at(self.tokens_bits, self.queue_onu[queue], np.asarray(used_bytes) * 8)
