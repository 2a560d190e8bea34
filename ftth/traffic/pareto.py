"""``pareto-onoff``: self-similar traffic as a superposition of Pareto ON/OFF sub-sources."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ftth.errors import InputError
from ftth.traffic.base import (
    FAR_PS,
    MAX_RATE_BPS,
    MIN_RATE_BPS,
    NEVER_PS,
    BufferedSource,
    SizeArray,
    SizesParams,
    TimeArray,
    TruncatedPareto,
    param,
    serialisation_ps_per_byte,
    uniform_u32,
)
from ftth.units import PS_PER_S

#: Each ON and OFF duration is truncated at this multiple of its mean (the scale x_m is
#: solved so the truncated mean is still exact).  It bounds the packets one burst can hold
#: in memory and only removes correlation beyond ~10^5 mean periods (minutes of traffic),
#: far above the 1 ms..1 s scales where the Hurst parameter matters for a PON.
DURATION_CAP_FACTOR = 1e5
#: ... and never beyond 2^55 ps (≈ 10 h), so a round of cycles cannot overflow int64 time.
DURATION_CAP_PS = float(2**55)
#: Longest mean ON or OFF period accepted (2^53 ps ≈ 2.5 h): the cap stays ≥ 4 × the mean.
MAX_MEAN_PERIOD_PS = float(2**53)

#: Default ON-period length in packets: a burst of ~10 frames (a TCP window's worth at the
#: start of a transfer) keeps ON periods well above one packet, so the Pareto shape and not
#: the packet granularity decides the burst lengths.
DEFAULT_MEAN_ON_PACKETS = 10.0

#: Default peak of a sub-source = this × its mean rate, i.e. an ON fraction of 10 %.
DEFAULT_PEAK_TO_MEAN = 10.0

_ALPHA_ALLOWED = "a Pareto shape in (1, 2) (Hurst parameter H = (3 - alpha)/2)"


class ParetoOnOffParams(SizesParams):
    """Parameters of ``pareto-onoff``."""

    rate_bps: float = param(
        allowed=f"a mean total rate in [{MIN_RATE_BPS:g}, {MAX_RATE_BPS:g}] bit/s",
        ge=MIN_RATE_BPS,
        le=MAX_RATE_BPS,
    )
    sources: int = param(
        16, allowed="an integer number of sub-sources in 1..100000", ge=1, le=100_000
    )
    alpha_on: float = param(1.4, allowed=_ALPHA_ALLOWED, gt=1, lt=2)
    alpha_off: float = param(1.4, allowed=_ALPHA_ALLOWED, gt=1, lt=2)
    peak_bps: float | None = param(
        None,
        allowed=f"a per-sub-source ON rate in [{MIN_RATE_BPS:g}, {MAX_RATE_BPS:g}] bit/s",
        ge=MIN_RATE_BPS,
        le=MAX_RATE_BPS,
    )
    mean_on_packets: float = param(
        DEFAULT_MEAN_ON_PACKETS, allowed="a mean burst length in 1..1e6 packets", ge=1, le=1e6
    )


class ParetoOnOffSource(BufferedSource):
    """Superposition of ``sources`` independent Pareto ON/OFF sub-sources.

    Each sub-source alternates ON periods, during which it sends frames back to back at
    ``peak_bps``, and silent OFF periods; both durations are Pareto with shapes
    ``alpha_on`` / ``alpha_off`` in (1, 2).  Their infinite variance makes the aggregate
    long-range dependent with Hurst parameter ``H = (3 − min(alpha_on, alpha_off)) / 2``
    (Willinger, Taqqu, Sherman, Wilson 1997); α = 1.4 gives H = 0.8 (pon-reference §7).

    Rates: each sub-source has mean ``rate_bps / sources``; ``peak_bps`` defaults to 10 × that
    mean, so a sub-source is ON 10 % of the time (ON fraction = mean / peak).  The mean ON
    period is ``mean_on_packets`` (default 10) mean-size frames at the peak rate, the mean
    OFF period ``mean_on × (peak/mean − 1)``.  Durations are Pareto with minimum ``x_m``
    (``P(D > d) = (x_m/d)^α``), truncated at 10^5 × their mean (at most 2^55 ps ≈ 10 h) with
    ``x_m`` solved so the truncated mean is exact.

    An ON period of drawn length ``d`` holds ``floor(d·peak/(8·mean size) + U)`` frames
    (stochastic rounding keeps the mean exact) sent back to back, each taking its size's
    serialisation time at ``peak_bps`` rounded to the picosecond; the OFF period starts when
    the last frame is serialised, so the mean ON time is exact too (Wald's identity).  Every
    sub-source starts in its stationary state: ON with probability mean/peak, with a residual
    period drawn from the equilibrium law, so there is no warm-up transient.

    Generation is vectorised over the sub-sources and the cycles, never per burst or per
    window.  A *step* extends the stream to a horizon about ``STEP_PACKETS`` packets (all
    sub-sources together) past the time up to which it is complete.  A *round* draws
    ``cycles_per_round`` whole ON/OFF cycles for every sub-source still short of the horizon
    (all its durations with one ``standard_exponential`` call, its frame sizes with one draw
    of 32-bit integers); cycles that surely start after the horizon are dropped before their
    frames are drawn, and the frames are laid out with cumulative sums.  The step then
    merges the sub-sources' runs with a single sort of (arrival time, size class) packed in
    an int64, and hands over the packets before the earliest next ON start of the sub-sources:
    nothing generated later can precede them.  The packets after it wait, as sorted runs, for
    the following steps.  The residual ON periods of the start, which are heavy-tailed (their
    tail index is α − 1), are sent in pieces, step by step, so that a short run does not
    generate minutes of traffic it never uses.

    With numba (:mod:`ftth.traffic.kernels`), compiled loops replace the numpy code after the
    durations are drawn (and the packing of the sort keys); they compute the same numbers, so
    the packets do not depend on numba.
    """

    name = "pareto-onoff"

    #: Mean packets (all sub-sources together) between consecutive step horizons: enough to
    #: amortise numpy's per-call overhead, little enough to stay in cache and not to run far
    #: past a short emulation.
    STEP_PACKETS = 4096
    #: Cycles drawn per lagging sub-source per round, as a multiple of the mean number of
    #: cycles in a step, so that most sub-sources reach the horizon in one round.
    ROUND_FACTOR = 2.5
    #: ... and at most this many (fewer if the longest possible cycles could overflow int64).
    MAX_CYCLES_PER_ROUND = 1024

    def __init__(
        self,
        params: ParetoOnOffParams,
        rng: np.random.Generator,
        *,
        line_rate_bps: float,
        where: str,
    ) -> None:
        super().__init__()
        self._rng = rng
        self._sizes = params.size_mix(where)
        self.mean_rate_bps = float(params.rate_bps)
        self.sources = params.sources
        sub_mean_bps = params.rate_bps / params.sources
        peak_bps = (
            params.peak_bps if params.peak_bps is not None else DEFAULT_PEAK_TO_MEAN * sub_mean_bps
        )
        if peak_bps <= sub_mean_bps:
            raise InputError(
                f"{where}.peak_bps",
                f"must exceed the sub-source mean rate_bps/sources = {sub_mean_bps:.6g} bit/s "
                f"(ON fraction = mean/peak must be < 1), got {peak_bps:.6g}",
            )
        if peak_bps > MAX_RATE_BPS:
            raise InputError(
                f"{where}.peak_bps", f"must be <= {MAX_RATE_BPS:g} bit/s, got {peak_bps:.6g}"
            )
        self.peak_bps = float(peak_bps)
        self.on_fraction = sub_mean_bps / peak_bps
        self.hurst = (3.0 - min(params.alpha_on, params.alpha_off)) / 2.0
        self._ps_per_byte = serialisation_ps_per_byte(peak_bps)
        mean_on_ps = params.mean_on_packets * self._sizes.mean_bytes * self._ps_per_byte
        mean_off_ps = mean_on_ps * (peak_bps / sub_mean_bps - 1.0)
        if max(mean_on_ps, mean_off_ps) > MAX_MEAN_PERIOD_PS:
            raise InputError(
                f"{where}.rate_bps",
                f"too low for these ON/OFF time scales: a sub-source's mean "
                f"{'ON' if mean_on_ps > mean_off_ps else 'OFF'} period would be "
                f"{max(mean_on_ps, mean_off_ps) / PS_PER_S:.3g} s (at most "
                f"{MAX_MEAN_PERIOD_PS / PS_PER_S:.3g} s); raise rate_bps or lower sources",
            )
        self._on = self._durations(mean_on_ps, params.alpha_on)
        self._off = self._durations(mean_off_ps, params.alpha_off)
        packets_per_ps = 1.0 / (self._sizes.mean_bytes * self._ps_per_byte)
        self._packets_per_ps = packets_per_ps
        # Frame sizes by class, and each class's serialisation time at the peak rate.
        classes = self._sizes.classes
        self._size_classes = classes
        self._size_values = classes.values_bytes
        self._class_bits = int(classes.thresholds.size).bit_length()
        self._serialisation_ps = np.rint(classes.values_bytes * self._ps_per_byte).astype(np.int64)
        self._min_serialisation_ps = int(self._serialisation_ps.min())
        # A round's [frames, OFF] draws are scale·exp(min(E/α, ln(cap/x_m))) for standard
        # exponentials E: the ON duration's scale is in frames (ON ps × packets per ps).
        on, off = self._on, self._off
        self._draw_inv_alpha = np.array([1.0 / on.alpha, 1.0 / off.alpha]).reshape(2, 1, 1)
        self._draw_log_cap = np.array([on.log_cap_ratio, off.log_cap_ratio]).reshape(2, 1, 1)
        self._draw_scale = np.array([on.scale * packets_per_ps, off.scale]).reshape(2, 1, 1)
        step_cycles = self.STEP_PACKETS / (params.sources * params.mean_on_packets)
        self._step_ps = max(1, int(step_cycles * (mean_on_ps + mean_off_ps)))
        # A row's round must stay within int64 time from any start below FAR_PS = 2^61, even
        # if every cycle had the longest ON period (largest frames) and OFF period.
        longest_cycle_ps = (
            (math.floor(on.cap * packets_per_ps) + 1) * int(self._serialisation_ps.max())
            + round(off.cap)
            + 1
        )
        self.cycles_per_round = max(
            1,
            min(
                math.ceil(self.ROUND_FACTOR * step_cycles),
                self.MAX_CYCLES_PER_ROUND,
                (2**62 - FAR_PS) // longest_cycle_ps,
            ),
        )
        # Per sub-source: when its next frame or cycle starts, and the frames of an ON period
        # still to send from then (only the residual ON periods of the start are sent in
        # pieces, up to each step's horizon), with the OFF period that follows them.
        self._next_on_ps = np.zeros(params.sources, dtype=np.int64)
        self._pending_frames = np.zeros(params.sources, dtype=np.int64)
        self._pending_off_ps = np.zeros(params.sources, dtype=np.int64)
        # Packets generated at or after the time up to which the stream is complete, as runs
        # of (arrival ps, size class) sorted by both: each step takes what it completes from
        # their heads, so a long burst is never sorted again as a whole.
        self._runs: list[tuple[TimeArray, npt.NDArray[np.intp]]] = []

    @staticmethod
    def _durations(mean_ps: float, alpha: float) -> TruncatedPareto:
        return TruncatedPareto.with_mean(
            mean_ps, alpha, min(DURATION_CAP_FACTOR, DURATION_CAP_PS / mean_ps)
        )

    @property
    def mean_on_ps(self) -> float:
        """Mean ON period of a sub-source (ps)."""
        return self._on.mean

    @property
    def mean_off_ps(self) -> float:
        """Mean OFF period of a sub-source (ps)."""
        return self._off.mean

    def _start(self, origin_ps: int) -> None:
        rng = self._rng
        count = self.sources
        is_on = rng.random(count) < self.on_fraction
        residual_on = self._on.sample_residual(rng, count)
        residual_off = self._off.sample_residual(rng, count)
        off_after = np.rint(self._off.sample(rng, count)).astype(np.int64)
        frames = (residual_on * self._packets_per_ps + rng.random(count)).astype(np.int64)
        # Sub-sources found ON send the rest of their burst from the origin, then a full OFF
        # period; the others wait for the rest of their OFF period.
        sending = is_on & (frames > 0)
        self._pending_frames = np.where(sending, frames, 0)
        self._pending_off_ps = np.where(sending, off_after, 0)
        wait_ps = np.where(is_on, off_after, np.rint(residual_off).astype(np.int64))
        wait_ps[sending] = 0
        self._next_on_ps = origin_ps + np.minimum(wait_ps, FAR_PS - origin_ps)

    def _round(
        self, rows: npt.NDArray[np.intp], horizon_ps: int, base_ps: int
    ) -> tuple[TimeArray, npt.NDArray[np.intp] | None, int]:
        """Draw up to ``cycles_per_round`` ON/OFF cycles for sub-sources ``rows`` and advance
        their next ON start.

        Returns the frames' arrival times relative to ``base_ps`` (the rows one after the
        other, each in time order), their size classes (``None`` for a single size) and the
        latest row end, relative to ``base_ps`` too.  A cycle that surely starts at or after
        ``horizon_ps`` — even if every frame before it had the smallest size — is dropped
        before its frames are drawn (the choice depends only on the cycles before it, so the
        cycles kept are still independent draws).
        """
        rng = self._rng
        n_rows = rows.size
        per_row = self.cycles_per_round
        draws = rng.standard_exponential((2, n_rows, per_row))
        draws *= self._draw_inv_alpha
        np.minimum(draws, self._draw_log_cap, out=draws)
        np.exp(draws, out=draws)
        rounding = rng.random((n_rows, per_row))  # stochastic rounding of the frame counts
        accelerated = _kernels()
        if accelerated is not None:  # the same numbers as below, in two compiled loops
            cycles, start_ps, total = accelerated.prepare_round(
                draws, rounding, self._draw_scale.ravel(), rows, self._next_on_ps,
                self._pending_frames, self._pending_off_ps, horizon_ps,
                self._min_serialisation_ps,
            )  # fmt: skip
            uniforms = uniform_u32(rng, total) if self._class_bits else _NO_UNIFORMS
            arrival_ps, size_class, reach_ps = accelerated.lay_out_round(
                cycles, start_ps, base_ps, total, uniforms, self._size_classes.thresholds,
                self._serialisation_ps, rows, self._next_on_ps, FAR_PS,
            )  # fmt: skip
            return arrival_ps, size_class if self._class_bits else None, reach_ps
        draws *= self._draw_scale
        draws[0] += rounding
        np.rint(draws[1], out=draws[1])  # OFF periods in whole ps
        cycles = draws.astype(np.int64)  # [frames, OFF ps] of each cycle (frames: floor)
        start_ps = self._next_on_ps[rows]
        pending = self._pending_frames[rows]
        if pending.any():
            self._resume(rows, start_ps, pending, horizon_ps, cycles)
        # Earliest end of each cycle after the row's start (row by row: no int64 overflow).
        shortest_ps = cycles[0] * self._min_serialisation_ps
        shortest_ps += cycles[1]
        np.cumsum(shortest_ps, axis=1, out=shortest_ps)
        cycles[:, :, 1:] *= shortest_ps[:, :-1] < (horizon_ps - start_ps)[:, None]
        # Running totals over all the rows in a row: [frames, OFF ps] up to each cycle.  With
        # extreme parameters they may wrap around in int64, but only their differences within
        # a row are used, which are exact in two's complement.
        flat = cycles.reshape(2, -1)
        totals = np.cumsum(flat, axis=1)
        total = int(totals[0, -1])
        # before[j]: serialisation time of the frames before frame j (all rows in a row).
        before = np.empty(total + 1, dtype=np.int64)
        before[0] = 0
        size_class = None
        if self._class_bits:
            size_class = self._size_classes.sample_index(rng, total)
            self._serialisation_ps.take(size_class, out=before[1:], mode="clip")
        else:  # a single size: nothing to draw
            before[1:] = self._serialisation_ps[0]
        np.cumsum(before, out=before)
        # A frame arrives at its row's start plus the serialisation of the row's frames
        # before it plus the row's OFF periods before its cycle.
        row_to = totals[:, per_row - 1 :: per_row]  # totals at the end of each row ...
        row_from = np.zeros_like(row_to)
        row_from[:, 1:] = row_to[:, :-1]  # ... and before it
        row_start_ps = start_ps - base_ps
        row_start_ps -= row_from[1]
        row_start_ps -= before.take(row_from[0])
        shift_ps = totals[1] - flat[1]
        shift_ps.reshape(n_rows, per_row)[:] += row_start_ps[:, None]
        arrival_ps = np.repeat(shift_ps, flat[0])
        arrival_ps += before[:-1]
        end_ps = row_start_ps + before.take(row_to[0])
        end_ps += row_to[1]
        # A sub-source pushed beyond FAR_PS (only with absurdly low rates) stays silent.
        self._next_on_ps[rows] = base_ps + np.minimum(end_ps, FAR_PS - base_ps)
        return arrival_ps, size_class, int(end_ps.max())

    def _resume(
        self,
        rows: npt.NDArray[np.intp],
        start_ps: TimeArray,
        pending: npt.NDArray[np.int64],
        horizon_ps: int,
        cycles: npt.NDArray[np.int64],
    ) -> None:
        """Make the pending ON period of ``rows`` their first cycle of this round (in place of
        a fresh draw), cut after the frames that may start before ``horizon_ps``."""
        has = np.flatnonzero(pending)
        row = rows[has]
        frames = pending[has]
        off_ps = self._pending_off_ps[row]
        may_start = -((start_ps[has] - horizon_ps) // self._min_serialisation_ps)
        sent = np.minimum(frames, may_start)
        left = frames - sent
        cycles[0, has, 0] = sent
        cycles[1, has, 0] = np.where(left > 0, 0, off_ps)
        self._pending_frames[row] = left
        self._pending_off_ps[row] = np.where(left > 0, off_ps, 0)

    def _extend(self) -> tuple[TimeArray, SizeArray, int]:
        base_ps = self._complete_ps
        horizon_ps = min(base_ps + self._step_ps, FAR_PS)
        times: list[TimeArray] = []  # relative to base_ps
        classes: list[npt.NDArray[np.intp]] = []
        reach_ps = 0  # no packet arrives at or after base_ps + reach_ps
        while True:
            rows = np.flatnonzero(self._next_on_ps < horizon_ps)
            if rows.size == 0:
                break
            relative_ps, size_class, end_ps = self._round(rows, horizon_ps, base_ps)
            times.append(relative_ps)
            if size_class is not None:
                classes.append(size_class)
            reach_ps = max(reach_ps, end_ps)
        # Every sub-source's next packet comes at or after its next ON start.
        complete_ps = int(self._next_on_ps.min())
        if complete_ps >= FAR_PS:
            complete_ps = NEVER_PS
        # Earlier runs give the packets the step completes; the rest of them waits.
        runs = []
        for run_ps, run_class in self._runs:
            ready = int(run_ps.searchsorted(complete_ps))
            if ready:
                times.append(run_ps[:ready] - base_ps)
                classes.append(run_class[:ready])
                reach_ps = max(reach_ps, int(run_ps[ready - 1]) - base_ps + 1)
            if ready < run_ps.size:
                runs.append((run_ps[ready:], run_class[ready:]))
        if not times:
            self._runs = runs
            return _EMPTY, _EMPTY, complete_ps
        bits = self._class_bits
        relative_ps = np.concatenate(times) if len(times) > 1 else times[0]
        size_class = (np.concatenate(classes) if len(classes) > 1 else classes[0]) if bits else None
        ready_ps = complete_ps - base_ps
        if reach_ps <= _KEY_LIMIT >> bits:
            # One sort of (time, size class) packed in an int64 merges the sub-sources' runs
            # (timsort: linear in the runs' lengths, logarithmic in their number).
            keys = relative_ps
            accelerated = _kernels()
            if size_class is not None:
                if accelerated is not None:
                    accelerated.pack_keys(keys, size_class, bits)
                else:
                    keys <<= bits
                    keys |= size_class
            keys.sort(kind="stable")
            ready = keys.size if ready_ps >= reach_ps else int(keys.searchsorted(ready_ps << bits))
            if accelerated is not None:
                arrival_ps, size_bytes, later_class = accelerated.unpack_keys(
                    keys, bits, base_ps, self._size_values, ready
                )
                if ready < keys.size:
                    runs.append((arrival_ps[ready:], later_class))
                self._runs = runs
                return arrival_ps[:ready], size_bytes, complete_ps
            relative_ps = keys >> bits if bits else keys
            size_class = keys & ((1 << bits) - 1) if bits else None
        else:  # times too far apart to pack (absurd parameters only): the same order
            if size_class is None:
                relative_ps.sort(kind="stable")
            else:
                order = np.lexsort((size_class, relative_ps))
                relative_ps = relative_ps.take(order)
                size_class = size_class.take(order)
            ready = int(relative_ps.searchsorted(min(ready_ps, reach_ps)))
        relative_ps += base_ps
        if size_class is not None:
            size_bytes = self._size_values.take(size_class[:ready])
            if ready < relative_ps.size:
                runs.append((relative_ps[ready:], size_class[ready:]))
        else:
            size_bytes = np.full(ready, self._size_values[0], dtype=np.int64)
            if ready < relative_ps.size:
                runs.append((relative_ps[ready:], _NO_CLASS))
        self._runs = runs
        return relative_ps[:ready], size_bytes, complete_ps


_EMPTY: TimeArray = np.zeros(0, dtype=np.int64)
_NO_UNIFORMS: npt.NDArray[np.uint32] = np.zeros(0, dtype=np.uint32)
_NO_CLASS: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
#: Largest packed sort key: (relative time << class bits) | class stays below 2^62.
_KEY_LIMIT = 1 << 62

#: The numba kernels module once looked up (``[None]`` without numba, or to force numpy).
_ACCELERATOR: list[Any] = []


def _kernels() -> Any:
    """:mod:`ftth.traffic.kernels` if numba compiles it, else ``None``; imported on first use
    so that importing the traffic models does not import numba."""
    if not _ACCELERATOR:
        from ftth.traffic import kernels

        _ACCELERATOR.append(kernels if kernels.ACCELERATED else None)
    return _ACCELERATOR[0]
