"""One-pass folding of departures into per-queue statistics (a kernel).

The engines produce departures in batches ``(queue, arrival, size, departure)``.  Folding
them with numpy costs a dozen passes over the batch (bucket index, ``bincount``,
``minimum.at``, ...); with numba, :func:`fold_departures` does the same in one pass, which
matters at millions of packets per emulated second.  Both give identical integers: the
bucket index is the one of :func:`ftth.metrics._bucket_index` (``frexp`` of the value
converted to float, see there why that is exact) and sums are kept exactly in 2^32 halves.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ftth.jit import inline_kernel, kernel

I64 = npt.NDArray[np.int64]

#: Columns of a histogram bank's per-row scalars ``acc`` (see :class:`ftth.metrics.HistogramBank`).
A_COUNT, A_MIN, A_MAX, A_SUM_HI, A_SUM_LO, A_N = range(6)
#: Columns of the per-row window counters ``win``: bytes and packets received in the
#: measuring window, bytes received before it (the verdict's warm-up backlog).
W_BYTES, W_PACKETS, W_EARLY_BYTES, W_N = range(4)

_SUB_BUCKET_BITS = 7


@inline_kernel
def bucket_of(value: int) -> int:
    """Log-linear bucket of a non-negative delay (as :func:`ftth.metrics._bucket_index`)."""
    if value < 256:
        return value
    shift = math.frexp(float(value))[1] - (_SUB_BUCKET_BITS + 1)
    return (shift << _SUB_BUCKET_BITS) + (value >> shift)


@kernel
def fold_departures(
    queue: I64,
    arrival_ps: I64,
    size_bytes: I64,
    depart_ps: I64,
    n: int,
    warmup_ps: int,
    end_ps: int,
    counts: I64,
    acc: I64,
    win: I64,
) -> int:
    """Fold the first ``n`` departures into ``counts[row, bucket]``, ``acc[row, A_*]`` (minimum
    starting at the int64 maximum) and ``win[row, W_*]``.

    Delays count for packets that arrived at or after ``warmup_ps``; window throughput for
    packets whose last bit arrived in ``[warmup_ps, end_ps)`` (and, apart, bytes received
    before ``warmup_ps``).  Returns the index of the
    first packet with a negative delay (a bug upstream), or -1.
    """
    for i in range(n):
        q = queue[i]
        d = depart_ps[i]
        a = arrival_ps[i]
        if a >= warmup_ps:
            delay = d - a
            if delay < 0:
                return i
            counts[q, bucket_of(delay)] += 1
            if delay < acc[q, A_MIN]:
                acc[q, A_MIN] = delay
            if delay > acc[q, A_MAX]:
                acc[q, A_MAX] = delay
            acc[q, A_COUNT] += 1
            acc[q, A_SUM_HI] += delay >> 32
            acc[q, A_SUM_LO] += delay & 0xFFFFFFFF
        if warmup_ps <= d < end_ps:
            win[q, W_BYTES] += size_bytes[i]
            win[q, W_PACKETS] += 1
        elif d < warmup_ps:
            win[q, W_EARLY_BYTES] += size_bytes[i]
    return -1


@kernel
def offered_in_window(
    arrival_ps: I64, size_bytes: I64, lengths: I64, warmup_ps: int, end_ps: int, out_bytes: I64
) -> None:
    """Add to ``out_bytes[q]`` the bytes of queue ``q``'s packets arriving in
    ``[warmup_ps, end_ps)`` (packets given queue after queue, ``lengths[q]`` each)."""
    i = 0
    for q in range(lengths.shape[0]):
        total = 0
        for _ in range(lengths[q]):
            if warmup_ps <= arrival_ps[i] < end_ps:
                total += size_bytes[i]
            i += 1
        out_bytes[q] += total
