"""``pareto-onoff``: self-similar traffic as a superposition of Pareto ON/OFF sub-sources."""

from __future__ import annotations

import numpy as np

from ftth.errors import InputError
from ftth.traffic.base import (
    FAR_PS,
    MAX_RATE_BPS,
    BufferedSource,
    SizeArray,
    SizesParams,
    TimeArray,
    TruncatedPareto,
    param,
    serialisation_ps_per_byte,
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
        allowed=f"a mean total rate in (0, {MAX_RATE_BPS:g}] bit/s", gt=0, le=MAX_RATE_BPS
    )
    sources: int = param(
        16, allowed="an integer number of sub-sources in 1..100000", ge=1, le=100_000
    )
    alpha_on: float = param(1.4, allowed=_ALPHA_ALLOWED, gt=1, lt=2)
    alpha_off: float = param(1.4, allowed=_ALPHA_ALLOWED, gt=1, lt=2)
    peak_bps: float | None = param(
        None,
        allowed=f"a per-sub-source ON rate in (0, {MAX_RATE_BPS:g}] bit/s",
        gt=0,
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
    OFF period ``mean_on × (peak/mean − 1)``.  Durations are ``x_m·(1 + Lomax(α))`` (numpy's
    ``pareto`` is the Lomax form), truncated at 10^5 × their mean (at most 2^55 ps ≈ 10 h) with
    ``x_m`` solved so the truncated mean is exact.

    An ON period of drawn length ``d`` holds ``floor(d·peak/(8·mean size) + U)`` frames
    (stochastic rounding keeps the mean exact) sent back to back; the OFF period starts when
    the last frame is serialised, so the mean ON time is exact too (Wald's identity).  Every
    sub-source starts in its stationary state: ON with probability mean/peak, with a residual
    period drawn from the equilibrium law, so there is no warm-up transient.
    """

    name = "pareto-onoff"

    #: Cycles drawn per sub-source per generation round (vectorised over sub-sources).
    CYCLES_PER_ROUND = 32

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
        self._packets_per_ps = 1.0 / (self._sizes.mean_bytes * self._ps_per_byte)
        # Each generation step reaches a fixed horizon: about half the time one round of
        # cycles covers, so most sub-sources need a single round per step.
        self._step_ps = max(1, int(self.CYCLES_PER_ROUND / 2 * (mean_on_ps + mean_off_ps)))
        self._horizon_ps = 0
        self._next_on_ps = np.zeros(params.sources, dtype=np.int64)
        self._initial: tuple[TimeArray, SizeArray] | None = None

    @staticmethod
    def _durations(mean_ps: float, alpha: float) -> TruncatedPareto:
        cap_ps = min(DURATION_CAP_FACTOR * mean_ps, DURATION_CAP_PS)
        return TruncatedPareto.with_mean(mean_ps, alpha, cap_ps / mean_ps)

    @property
    def mean_on_ps(self) -> float:
        """Mean ON period of a sub-source (ps)."""
        return self._on.mean

    @property
    def mean_off_ps(self) -> float:
        """Mean OFF period of a sub-source (ps)."""
        return self._off.mean

    def _bursts(self, on_draw_ps: np.ndarray) -> tuple[np.ndarray, TimeArray, SizeArray, TimeArray]:
        """Frames of ON periods of drawn lengths ``on_draw_ps`` (any shape, flattened).

        Returns, per frame, the index of its burst and its offset from the burst's start,
        the frame sizes, and each burst's actual length (ps, frames back to back at peak).
        """
        rng = self._rng
        counts = np.floor(on_draw_ps * self._packets_per_ps + rng.random(on_draw_ps.shape))
        counts = counts.astype(np.int64).ravel()
        size_bytes = self._sizes.sample(rng, int(counts.sum()))
        cumulative = np.concatenate(([0], np.cumsum(size_bytes)))
        last = np.cumsum(counts)
        first = last - counts
        burst_bytes = cumulative[last] - cumulative[first]
        burst_ps = np.ceil(burst_bytes * self._ps_per_byte).astype(np.int64)
        burst_of_frame = np.repeat(np.arange(counts.size), counts)
        before_bytes = cumulative[:-1] - cumulative[first][burst_of_frame]
        offset_ps = np.floor(before_bytes * self._ps_per_byte).astype(np.int64)
        return burst_of_frame, offset_ps, size_bytes, burst_ps

    def _start(self, origin_ps: int) -> None:
        rng = self._rng
        count = self.sources
        is_on = rng.random(count) < self.on_fraction
        residual_on = self._on.sample_residual(rng, count)
        residual_off = self._off.sample_residual(rng, count)
        off_after = self._off.sample(rng, count)
        # Sub-sources found ON send the rest of their burst now, then a full OFF period.
        on_index = np.flatnonzero(is_on)
        _, offset_ps, size_bytes, burst_ps = self._bursts(residual_on[on_index])
        self._initial = (origin_ps + offset_ps, size_bytes)
        next_on = np.full(count, origin_ps, dtype=np.int64)
        next_on[on_index] += burst_ps + np.rint(off_after[on_index]).astype(np.int64)
        off_index = np.flatnonzero(~is_on)
        next_on[off_index] += np.rint(residual_off[off_index]).astype(np.int64)
        self._next_on_ps = np.minimum(next_on, FAR_PS)
        self._horizon_ps = origin_ps

    def _extend(self) -> tuple[TimeArray, SizeArray, int]:
        rng = self._rng
        horizon_ps = self._horizon_ps + self._step_ps
        arrivals: list[TimeArray] = []
        sizes: list[SizeArray] = []
        if self._initial is not None:
            arrivals.append(self._initial[0])
            sizes.append(self._initial[1])
            self._initial = None
        cycles = self.CYCLES_PER_ROUND
        while True:
            active = np.flatnonzero(self._next_on_ps < horizon_ps)
            if active.size == 0:
                break
            on_draw_ps = self._on.sample(rng, (active.size, cycles))
            off_ps = np.rint(self._off.sample(rng, (active.size, cycles))).astype(np.int64)
            # Cycle starts need the burst lengths, which need the frames: draw the frames
            # first, then place each burst at its cycle's start.
            burst_of_frame, offset_ps, size_bytes, burst_ps = self._bursts(on_draw_ps)
            cycle_ps = burst_ps.reshape(active.size, cycles) + off_ps
            cycle_start_ps = self._next_on_ps[active, None] + np.cumsum(cycle_ps, axis=1) - cycle_ps
            arrivals.append(cycle_start_ps.ravel()[burst_of_frame] + offset_ps)
            sizes.append(size_bytes)
            # A sub-source pushed beyond FAR_PS (only with absurdly low rates) stays silent.
            self._next_on_ps[active] = np.minimum(cycle_start_ps[:, -1] + cycle_ps[:, -1], FAR_PS)
        self._horizon_ps = horizon_ps
        if not arrivals:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), horizon_ps
        arrival_ps = np.concatenate(arrivals)
        size_bytes = np.concatenate(sizes)
        order = np.argsort(arrival_ps, kind="stable")
        return arrival_ps[order], size_bytes[order], horizon_ps
