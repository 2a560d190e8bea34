"""``poisson``: Poisson packet arrivals with fixed, trimodal or empirical frame sizes."""

from __future__ import annotations

import numpy as np

from ftth.traffic.base import (
    FAR_PS,
    MAX_RATE_BPS,
    MIN_RATE_BPS,
    BufferedSource,
    SizeArray,
    SizesParams,
    TimeArray,
    accumulate_gaps,
    param,
)
from ftth.units import PS_PER_S


class PoissonParams(SizesParams):
    """Parameters of ``poisson``."""

    rate_bps: float = param(
        allowed=f"a rate in [{MIN_RATE_BPS:g}, {MAX_RATE_BPS:g}] bit/s",
        ge=MIN_RATE_BPS,
        le=MAX_RATE_BPS,
    )


class PoissonSource(BufferedSource):
    """Poisson arrivals of independent frames; packet rate = ``rate_bps / (8 · mean size)``.

    Inter-arrival gaps are exponential; arrival times are rounded to whole picoseconds once
    per step (no drift over long runs).  Generation runs in steps of a fixed packet count
    (about 1 s of traffic, 2048..8192 packets: few numpy calls per packet, arrays that stay in
    cache), so results do not depend on the engine's windows.
    """

    name = "poisson"

    #: Bounds of the packets generated per step.
    MIN_STEP_PACKETS = 2048
    MAX_STEP_PACKETS = 8192

    def __init__(
        self, params: PoissonParams, rng: np.random.Generator, *, line_rate_bps: float, where: str
    ) -> None:
        super().__init__()
        self._rng = rng
        self._sizes = params.size_mix(where)
        self.mean_rate_bps = float(params.rate_bps)
        self._mean_gap_ps = 8.0 * self._sizes.mean_bytes * PS_PER_S / params.rate_bps
        self._step_packets = int(
            np.clip(PS_PER_S / self._mean_gap_ps, self.MIN_STEP_PACKETS, self.MAX_STEP_PACKETS)
        )
        self._last_ps = 0

    @property
    def mean_size_bytes(self) -> float:
        """Mean frame size of the size mix."""
        return self._sizes.mean_bytes

    def _start(self, origin_ps: int) -> None:
        # Memoryless: the first arrival is one exponential gap after the origin.
        self._last_ps = origin_ps

    def _extend(self) -> tuple[TimeArray, SizeArray, int]:
        count = self._step_packets
        offset_ps = self._rng.standard_exponential(count)
        np.cumsum(offset_ps, out=offset_ps)
        offset_ps *= self._mean_gap_ps
        np.rint(offset_ps, out=offset_ps)
        last_ps = self._last_ps
        if last_ps + float(offset_ps[-1]) < FAR_PS:
            arrival_ps = offset_ps.astype(np.int64)
            arrival_ps += last_ps
        else:  # saturate at FAR_PS (absurdly low rates, or a run of days)
            arrival_ps = accumulate_gaps(last_ps, np.diff(offset_ps, prepend=0.0))
        size_bytes = self._sizes.sample(self._rng, count)
        self._last_ps = int(arrival_ps[-1])
        # Later gaps are >= 0, so no later packet arrives before the last one generated.
        return arrival_ps, size_bytes, self._last_ps
