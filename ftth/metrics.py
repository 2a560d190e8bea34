"""Streaming statistics of a run: delay histograms, fairness, the per-packet trace.

The fast engine hands this module whole numpy batches (one 125 µs frame at a time, hundreds to
tens of thousands of packets), so every ``add`` is vectorised and every accumulator has a size
fixed at construction: memory never grows with the number of packets.  Per-packet values are
kept only when a :class:`PacketTrace` is asked for, and then they go to disk, not to memory.

Every accumulator is integer and order-independent (counts, exact sums, min, max), so the
same packets give the same state whatever the batch split or merge order: results are
reproducible bit for bit.

Empty statistics report ``0.0`` (and ``count`` 0) rather than ``None`` or NaN, so a report
or a JSON file never has to special-case a traffic class that carried no packets; ``count``
says whether the zeros mean anything.
"""

from __future__ import annotations

import csv
import os
from itertools import repeat
from types import TracebackType
from typing import IO, Final, Self

import numpy as np
import numpy.typing as npt

from ftth.errors import InputError, InvariantError
from ftth.fold import A_COUNT, A_MAX, A_MIN, A_N, A_SUM_HI, A_SUM_LO
from ftth.units import PS_PER_US

__all__ = [
    "BUCKET_COUNT",
    "DelayHistogram",
    "PacketTrace",
    "SUB_BUCKETS",
    "TRACE_COLUMNS",
    "jain_index",
]

_INT64_MAX: Final[int] = int(np.iinfo(np.int64).max)

# ---------------------------------------------------------------------------------------------
# Log-linear bucket layout (HDR-histogram style)
# ---------------------------------------------------------------------------------------------

#: Linear sub-buckets per power-of-two band.  128 gives a worst-case relative error of
#: 1/256 ≈ 0.39 %, comfortably inside the 1 % the reports promise (proof in DelayHistogram).
SUB_BUCKETS: Final[int] = 128
_SUB_BUCKET_BITS: Final[int] = 7
#: Below 2 * SUB_BUCKETS every value has its own bucket (exact).
_EXACT_LIMIT: Final[int] = 2 * SUB_BUCKETS
#: Largest shift: a non-negative int64 has at most 63 significant bits, and the top 8 are kept.
_MAX_SHIFT: Final[int] = 63 - (_SUB_BUCKET_BITS + 1)
#: Buckets covering every non-negative int64 (0 .. 2**63 - 1 ps, about 106 days).
BUCKET_COUNT: Final[int] = SUB_BUCKETS * _MAX_SHIFT + _EXACT_LIMIT


def _bucket_bounds() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Inclusive lowest and highest value of every bucket (inverse of :func:`_bucket_index`)."""
    index = np.arange(BUCKET_COUNT, dtype=np.int64)
    shift = np.maximum((index >> _SUB_BUCKET_BITS) - 1, 0)
    sub_bucket = index - (shift << _SUB_BUCKET_BITS)
    low = sub_bucket << shift
    # (1 << shift) - 1 first, then add: low + (1 << 55) would overflow int64 in the top bucket.
    high = low + ((np.int64(1) << shift) - 1)
    return low, high


_BUCKET_LOW_PS, _BUCKET_HIGH_PS = _bucket_bounds()
_BUCKET_LOW_PS.flags.writeable = False
_BUCKET_HIGH_PS.flags.writeable = False


def _bucket_index(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Bucket of each non-negative int64 value, vectorised and exact.

    ``shift = max(0, bit_length(v) - 8)``, ``index = 128 * shift + (v >> shift)``: the top
    8 significant bits select the bucket, so ``v >> shift`` lies in 128..255 once ``v >= 256``
    and values below 256 map to themselves.
    """
    # frexp gives the bit length exactly while v < 2**53.  Above that, the int -> float
    # conversion rounds v up to 2**k only when v >= 2**k - 2**(k-54), i.e. when its top
    # 8 bits are all ones: the true (shift, sub) is (k-8, 255) and the overstated one is
    # (k-7, 127), and 128*(k-8) + 255 == 128*(k-7) + 127, so the index comes out right anyway.
    bit_length = np.frexp(values.astype(np.float64))[1].astype(np.int64)
    shift = np.maximum(bit_length - (_SUB_BUCKET_BITS + 1), 0)
    sub_bucket = values >> shift
    index: npt.NDArray[np.int64] = (shift << _SUB_BUCKET_BITS) + sub_bucket
    return index


def _as_int64(values: npt.ArrayLike, name: str) -> npt.NDArray[np.int64]:
    """Flatten ``values`` to int64, refusing floats: times and sizes are exact integers."""
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise InvariantError(f"{name} must be integers, got dtype {array.dtype}")
    if array.dtype == np.uint64 and int(array.max()) > _INT64_MAX:
        raise InvariantError(f"{name} exceeds the int64 range: {int(array.max())}")
    return array.astype(np.int64, copy=False).ravel()


def _exact_sum(values: npt.NDArray[np.int64], highest: int) -> int:
    """Exact sum of non-negative int64 values as a Python int, immune to int64 overflow."""
    if highest * values.size <= _INT64_MAX:
        return int(values.sum())
    # Two-level accumulation: high halves are < 2**31 and low halves < 2**32, so each partial
    # sum fits int64 for any batch shorter than 2**31 elements.
    high_sum = int((values >> 32).sum())
    low_sum = int((values & 0xFFFF_FFFF).sum())
    return (high_sum << 32) + low_sum


def _percentile_key(q: float) -> str:
    """``50 -> "p50"``, ``99.9 -> "p99.9"``: the key names of the results contract."""
    return f"p{q:g}"


class DelayHistogram:
    """Streaming histogram of non-negative delays in integer picoseconds.

    Buckets are log-linear (HDR-histogram style): values below 256 ps have one bucket each;
    above, every power-of-two band ``[2**e, 2**(e+1))`` is split into 128 equal sub-buckets.
    :data:`BUCKET_COUNT` = 7296 buckets cover the whole non-negative int64 range
    (0 .. 2**63 - 1 ps ≈ 106 days, far beyond the 10**15 ps = 1000 s a run can need), so no
    value is ever out of range and the memory is fixed (57 KiB) whatever the packet count.

    **Error bound.**  A value ``v >= 256`` with bit length ``e + 1`` goes to the bucket
    ``[s * 2**h, (s + 1) * 2**h - 1]`` with ``h = e - 7 >= 1`` and ``s = v >> h`` in 128..255.
    The bucket is reported by the midpoint of its integers, ``r = s * 2**h + (2**h - 1) / 2``,
    so ``|v - r| <= (2**h - 1) / 2 < 2**(h-1)`` while ``v >= s * 2**h >= 128 * 2**h``, hence
    ``|v - r| / v < 2**(h-1) / (128 * 2**h) = 1/256 ≈ 0.39 % <= 1 %``.  Below 256 the
    buckets are single values and the error is 0.  The representative is then clamped to
    ``[min_ps, max_ps]``; the true value lies in that interval too, so clamping never moves
    the estimate further from it.  The lowest and highest ranks return the exact ``min_ps``
    and ``max_ps``, which are kept anyway.  Since the bucket map is monotone, the value of a
    given rank always lies in the bucket holding that rank, so every percentile inherits the
    bound.

    Mean, minimum, maximum and count are exact: the sum is a Python int fed by overflow-free
    int64 partial sums.  State depends only on the multiset of values added, never on how they
    were split into batches or merged.
    """

    __slots__ = ("_count", "_counts", "_max_ps", "_min_ps", "_sum_ps")

    def __init__(self) -> None:
        self._counts: npt.NDArray[np.int64] = np.zeros(BUCKET_COUNT, dtype=np.int64)
        self._count = 0
        self._sum_ps = 0
        self._min_ps = 0
        self._max_ps = 0

    # -- accumulation -------------------------------------------------------------------------

    def add(self, delays_ps: npt.ArrayLike) -> None:
        """Add a batch of delays.

        Parameters
        ----------
        delays_ps
            Integer delays in picoseconds, any shape (flattened); an empty batch is a no-op.

        Raises
        ------
        InvariantError
            If a delay is negative (a packet left before it arrived) or not an integer.
        """
        delays = _as_int64(delays_ps, "delays_ps")
        if delays.size == 0:
            return
        lowest = int(delays.min())
        if lowest < 0:
            first = int(np.flatnonzero(delays < 0)[0])
            raise InvariantError(
                f"negative delay {lowest} ps in a batch of {delays.size} "
                f"(first at position {first}): a packet departed before it arrived"
            )
        highest = int(delays.max())
        index = _bucket_index(delays)
        # bincount over the occupied index range only: a batch of delays spans a few bands,
        # so this allocates a few hundred counters instead of all 7296 for every frame.
        first_bucket = int(index.min())
        batch_counts = np.bincount(index - first_bucket)
        self._counts[first_bucket : first_bucket + batch_counts.size] += batch_counts
        if self._count == 0:
            self._min_ps, self._max_ps = lowest, highest
        else:
            self._min_ps = min(self._min_ps, lowest)
            self._max_ps = max(self._max_ps, highest)
        self._count += int(delays.size)
        self._sum_ps += _exact_sum(delays, highest)

    def merge(self, other: DelayHistogram) -> None:
        """Add every value of ``other`` to this histogram (``other`` is left unchanged).

        The result is identical to one histogram fed both sets of values.
        """
        if not isinstance(other, DelayHistogram):
            raise InvariantError(f"cannot merge {type(other).__name__} into a DelayHistogram")
        if other._count == 0:
            return
        self._counts += other._counts
        if self._count == 0:
            self._min_ps, self._max_ps = other._min_ps, other._max_ps
        else:
            self._min_ps = min(self._min_ps, other._min_ps)
            self._max_ps = max(self._max_ps, other._max_ps)
        self._count += other._count
        self._sum_ps += other._sum_ps

    # -- exact statistics ---------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of delays added."""
        return self._count

    @property
    def sum_ps(self) -> int:
        """Exact sum of all delays in picoseconds."""
        return self._sum_ps

    @property
    def mean_ps(self) -> float:
        """Mean delay in picoseconds (exact sum / count, correctly rounded); 0.0 when empty."""
        # int / int in Python is correctly rounded even when the sum exceeds 2**53.
        return self._sum_ps / self._count if self._count else 0.0

    @property
    def min_ps(self) -> int:
        """Smallest delay added (exact); 0 when empty."""
        return self._min_ps

    @property
    def max_ps(self) -> int:
        """Largest delay added (exact); 0 when empty."""
        return self._max_ps

    @property
    def bucket_counts(self) -> npt.NDArray[np.int64]:
        """Read-only view of the per-bucket counts (length :data:`BUCKET_COUNT`)."""
        view = self._counts.view()
        view.flags.writeable = False
        return view

    # -- approximate statistics ---------------------------------------------------------------

    def _percentiles_ps(self, qs: tuple[float, ...] | list[float]) -> list[float]:
        for q in qs:
            if not 0.0 <= q <= 100.0:
                raise InvariantError(f"percentile must be in 0..100, got {q}")
        if self._count == 0:
            return [0.0 for _ in qs]
        cumulative = np.cumsum(self._counts)
        n = self._count
        results = []
        for q in qs:
            # Rank as numpy's method="inverted_cdf" computes it (same float expression), so
            # the bucket found holds exactly the order statistic numpy would return.
            rank = min(max(int(np.ceil(n * (q / 100.0) - 1.0)), 0), n - 1)
            if rank == 0 or rank == n - 1:
                # The extreme order statistics are known exactly; no need to estimate them.
                results.append(float(self._min_ps if rank == 0 else self._max_ps))
                continue
            bucket = int(np.searchsorted(cumulative, rank + 1, side="left"))
            low, high = int(_BUCKET_LOW_PS[bucket]), int(_BUCKET_HIGH_PS[bucket])
            representative = (low + high) / 2
            results.append(float(min(max(representative, self._min_ps), self._max_ps)))
        return results

    def percentile_ps(self, q: float) -> float:
        """Delay at percentile ``q``, within 1/256 (≈ 0.39 %) of the exact value.

        The rank definition is numpy's ``method="inverted_cdf"`` (Hyndman & Fan type 1): the
        smallest sample ``x`` such that at least ``q`` % of the samples are ``<= x``.  The
        value returned is the midpoint of the bucket holding that sample, clamped to
        ``[min_ps, max_ps]``.  The lowest rank (``q = 0``) and the highest (``q = 100``) give the
        exact min and max.

        Parameters
        ----------
        q
            Percentile in 0..100.

        Returns
        -------
        float
            Delay in picoseconds; 0.0 when the histogram is empty.
        """
        return self._percentiles_ps([q])[0]

    def percentiles_us(self, qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
        """Several percentiles in microseconds, keyed ``"p50"``, ``"p99.9"`` (``f"p{q:g}"``).

        Parameters
        ----------
        qs
            Percentiles in 0..100.
        """
        values_ps = self._percentiles_ps(qs)
        return {_percentile_key(q): v / PS_PER_US for q, v in zip(qs, values_ps, strict=True)}

    def summary_us(self) -> dict[str, float | int]:
        """The ``delay_us`` block of the results contract.

        Returns
        -------
        dict
            ``mean``, ``p50``, ``p95``, ``p99``, ``max`` as floats in microseconds and
            ``count`` as an int; all values are 0.0 (and ``count`` 0) when empty.
        """
        summary: dict[str, float | int] = {"mean": self.mean_ps / PS_PER_US}
        summary.update(self.percentiles_us((50, 95, 99)))
        summary["max"] = self._max_ps / PS_PER_US
        summary["count"] = self._count
        return summary

    def cdf(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Empirical CDF at the upper edge of every occupied bucket, for plotting.

        Returns
        -------
        values_ps, cumulative_fraction
            ``cumulative_fraction[i]`` is *exactly* the fraction of delays ``<= values_ps[i]``
            (the upper edge of a bucket, clamped to ``max_ps``).  Both arrays are empty when
            the histogram is.
        """
        occupied = np.flatnonzero(self._counts)
        if occupied.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        values_ps = np.minimum(_BUCKET_HIGH_PS[occupied], self._max_ps)
        cumulative = np.cumsum(self._counts[occupied])
        return values_ps, cumulative / self._count

    # -- comparison ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DelayHistogram):
            return NotImplemented
        return (
            self._count == other._count
            and self._sum_ps == other._sum_ps
            and self._min_ps == other._min_ps
            and self._max_ps == other._max_ps
            and bool(np.array_equal(self._counts, other._counts))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: equal now, different after add()

    def __repr__(self) -> str:
        return (
            f"DelayHistogram(count={self._count}, mean_ps={self.mean_ps:.6g}, "
            f"min_ps={self._min_ps}, max_ps={self._max_ps})"
        )


# ---------------------------------------------------------------------------------------------
# Fairness
# ---------------------------------------------------------------------------------------------


def jain_index(values: npt.ArrayLike) -> float:
    """Jain's fairness index ``(sum x)**2 / (n * sum x**2)``.

    1.0 when every value is equal, ``1/n`` when one user takes everything.  With no users or
    all values zero nobody is favoured, so the index is defined as 1.0 (and a report of an
    idle PON does not show an unfair one).

    Parameters
    ----------
    values
        Non-negative allocations (throughput in bps, or throughput normalised to demand or to
        the tier), one per user.

    Raises
    ------
    InvariantError
        If a value is negative or not finite.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return 1.0
    if not np.all(np.isfinite(x)):
        raise InvariantError("jain_index: values must be finite")
    if np.any(x < 0):
        raise InvariantError(f"jain_index: values must be >= 0, got {float(x.min())}")
    peak = float(x.max())
    if peak == 0.0:
        return 1.0
    # The index is scale-free; dividing by the peak keeps x**2 from overflowing for huge bps.
    scaled = x / peak
    return float(scaled.sum() ** 2 / (x.size * np.dot(scaled, scaled)))


# ---------------------------------------------------------------------------------------------
# Per-packet trace
# ---------------------------------------------------------------------------------------------

#: Column order of the packet trace CSV.
TRACE_COLUMNS: Final[tuple[str, ...]] = (
    "direction",
    "tcont_or_queue",
    "arrival_ps",
    "departure_ps",
    "size_bytes",
    "delay_ps",
    "dropped",
)
_DIRECTIONS: Final[frozenset[str]] = frozenset({"upstream", "downstream"})


class PacketTrace:
    """Optional per-packet trace written to a CSV file, one batch at a time.

    The file is opened (and truncated) on the first :meth:`write`, so a run that fails before
    any traffic leaves no stale file behind; :meth:`close` writes a header-only file if
    nothing was written, so a requested trace always exists after a clean run.  Use as a
    context manager.

    Columns are :data:`TRACE_COLUMNS`.  ``dropped`` is 0 or 1; a dropped packet never departs,
    so its ``departure_ps`` and ``delay_ps`` are empty fields (read as NaN by pandas).

    Parameters
    ----------
    path
        The CSV file to write.

    Raises
    ------
    InputError
        ``InputError(path, why)`` when the file cannot be opened or written (missing or
        unwritable directory, disk full): the user chose the path and can fix it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        self._file: IO[str] | None = None
        self._rows = 0
        self._closed = False

    @property
    def path(self) -> str:
        """The trace file's path."""
        return self._path

    @property
    def rows_written(self) -> int:
        """Number of packet rows written so far."""
        return self._rows

    def _fail(self, exc: OSError) -> InputError:
        return InputError(self._path, f"cannot write packet trace: {exc.strerror or exc}")

    def _open(self) -> IO[str]:
        if self._closed:
            raise InvariantError(f"packet trace {self._path} written after close()")
        if self._file is None:
            try:
                self._file = open(self._path, "w", newline="", encoding="utf-8")  # noqa: SIM115
                self._file.write(",".join(TRACE_COLUMNS) + "\n")
            except OSError as exc:
                raise self._fail(exc) from exc
        return self._file

    def write(
        self,
        direction: str,
        tcont_or_queue: int | npt.ArrayLike,
        arrival_ps: npt.ArrayLike,
        departure_ps: npt.ArrayLike,
        size_bytes: npt.ArrayLike,
        dropped: bool | npt.ArrayLike = False,
    ) -> None:
        """Append a batch of packets.

        Parameters
        ----------
        direction
            ``"upstream"`` or ``"downstream"`` (one per batch).
        tcont_or_queue
            Alloc-ID of the T-CONT (upstream) or downstream queue id: one int for the whole
            batch, or one per packet.
        arrival_ps, departure_ps
            Arrival at the queue and arrival of the last byte at the far end, integer ps.
            ``departure_ps`` of dropped packets is ignored.
        size_bytes
            Packet sizes in bytes.
        dropped
            True for packets that were dropped (scalar or per packet).
        """
        if direction not in _DIRECTIONS:
            raise InvariantError(
                f"direction must be one of {sorted(_DIRECTIONS)}, got {direction!r}"
            )
        arrival = _as_int64(arrival_ps, "arrival_ps")
        n = arrival.size
        try:
            departure = np.broadcast_to(_as_int64(departure_ps, "departure_ps"), (n,))
            sizes = np.broadcast_to(_as_int64(size_bytes, "size_bytes"), (n,))
            queue = np.broadcast_to(_as_int64(tcont_or_queue, "tcont_or_queue"), (n,))
            dropped_mask = np.broadcast_to(np.asarray(dropped, dtype=bool).ravel(), (n,))
        except ValueError as exc:
            raise InvariantError(f"packet trace columns differ in length: {exc}") from None
        file = self._open()
        if n == 0:
            return
        delay = departure - arrival
        if np.any(delay[~dropped_mask] < 0):
            raise InvariantError("packet trace: a delivered packet departs before it arrives")
        # Whole-column conversions in C; csv.writerows then iterates the zipped lists in C too.
        departure_text = departure.astype(str)
        delay_text = delay.astype(str)
        departure_text[dropped_mask] = ""
        delay_text[dropped_mask] = ""
        rows = zip(
            repeat(direction, n),
            queue.tolist(),
            arrival.tolist(),
            departure_text.tolist(),
            sizes.tolist(),
            delay_text.tolist(),
            dropped_mask.astype(np.int8).tolist(),
            strict=False,
        )
        try:
            csv.writer(file, lineterminator="\n").writerows(rows)
        except OSError as exc:
            raise self._fail(exc) from exc
        self._rows += n

    def close(self) -> None:
        """Flush and close the file (creating a header-only file if nothing was written)."""
        if self._closed:
            return
        file = self._open()
        self._closed = True
        self._file = None
        try:
            # A full disk often shows only here, when the buffer is flushed.
            file.close()
        except OSError as exc:
            raise self._fail(exc) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.close()
        except InputError:
            # Do not mask the error that ended the block; report ours only on a clean exit.
            if exc is None:
                raise


class HistogramBank:
    """Many :class:`DelayHistogram` rows (one per T-CONT or queue) filled in one vectorised call.

    Adding per-row batches one by one costs a Python call per row and per frame; the bank
    adds a whole batch of departures at once with a single ``bincount`` over
    ``row × BUCKET_COUNT + bucket``, or — with numba — in one compiled pass
    (:func:`ftth.fold.fold_departures`, which updates :attr:`counts` and :attr:`acc` in
    place; call :meth:`settle` after it).  Row statistics are exact like DelayHistogram's.

    Parameters
    ----------
    n_rows
        Number of histograms.
    """

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        #: Bucket counts, one row per histogram.
        self.counts = np.zeros((n_rows, BUCKET_COUNT), dtype=np.int64)
        #: Per-row scalars (columns ``ftth.fold.A_*``): count, min, max and the delay sum in
        #: 2^32 halves (settled into exact Python integers before they could overflow).
        self.acc = np.zeros((n_rows, A_N), dtype=np.int64)
        self.acc[:, A_MIN] = _INT64_MAX
        self._sum_ps: list[int] = [0] * n_rows

    def settle(self) -> None:
        """Move the int64 half-sums into the exact Python sums once they grow large."""
        halves = self.acc[:, A_SUM_HI : A_SUM_LO + 1]
        if int(halves.max(initial=0)) < (1 << 61):
            return
        for r in np.flatnonzero(halves.any(axis=1)):
            self._sum_ps[r] += (int(halves[r, 0]) << 32) + int(halves[r, 1])
        halves[:] = 0

    def sum_ps(self, r: int) -> int:
        """Exact sum of row ``r``'s delays."""
        return self._sum_ps[r] + (int(self.acc[r, A_SUM_HI]) << 32) + int(self.acc[r, A_SUM_LO])

    def add(self, rows: npt.ArrayLike, delays_ps: npt.ArrayLike) -> None:
        """Add ``delays_ps[i]`` to histogram ``rows[i]`` for every ``i``."""
        delays = _as_int64(delays_ps, "delays_ps")
        if delays.size == 0:
            return
        row = _as_int64(rows, "rows")
        if int(delays.min()) < 0:
            raise InvariantError("negative delay: a packet departed before it arrived")
        index = _bucket_index(delays)
        # Only the occupied (row, bucket) cells: a dense bincount over n_rows × 7296 cells
        # would cost far more than the batch itself.
        flat = row * BUCKET_COUNT + index
        n_cells = self.n_rows * BUCKET_COUNT
        if n_cells <= 16 * flat.size:
            # Large batch: one dense bincount is cheaper than sorting the batch.
            self.counts += np.bincount(flat, minlength=n_cells).reshape(self.n_rows, BUCKET_COUNT)
        else:
            cells, counts = np.unique(flat, return_counts=True)
            self.counts.reshape(-1)[cells] += counts
        acc = self.acc
        acc[:, A_COUNT] += np.bincount(row, minlength=self.n_rows)
        np.minimum.at(acc[:, A_MIN], row, delays)
        np.maximum.at(acc[:, A_MAX], row, delays)
        # Exact sums: split in 2**32 halves so the int64 partial sums cannot overflow.
        np.add.at(acc[:, A_SUM_HI], row, delays >> 32)
        np.add.at(acc[:, A_SUM_LO], row, delays & 0xFFFF_FFFF)
        self.settle()

    def row(self, r: int) -> DelayHistogram:
        """Histogram ``r`` as a stand-alone :class:`DelayHistogram` (a copy)."""
        h = DelayHistogram()
        count = int(self.acc[r, A_COUNT])
        if count:
            h._counts[:] = self.counts[r]
            h._count = count
            h._sum_ps = self.sum_ps(r)
            h._min_ps = int(self.acc[r, A_MIN])
            h._max_ps = int(self.acc[r, A_MAX])
        return h

    def merged(self, rows: npt.ArrayLike) -> DelayHistogram:
        """One histogram holding every value of the given rows."""
        h = DelayHistogram()
        for r in np.asarray(rows, dtype=np.int64):
            h.merge(self.row(int(r)))
        return h
