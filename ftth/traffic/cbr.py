"""``cbr`` (constant bit rate) and ``greedy`` (saturating) sources."""

from __future__ import annotations

import numpy as np

from ftth.errors import InputError
from ftth.traffic.base import (
    FAR_PS,
    MAX_FRAME_BYTES,
    MAX_RATE_BPS,
    MIN_FRAME_BYTES,
    MIN_RATE_BPS,
    MTU_FRAME_BYTES,
    BufferedSource,
    Params,
    SizeArray,
    TimeArray,
    empty_batch,
    param,
    periodic_times,
)
from ftth.units import PS_PER_MS, PS_PER_S

_SIZE_ALLOWED = f"an integer in {MIN_FRAME_BYTES}..{MAX_FRAME_BYTES} bytes"
_RATE_ALLOWED = f"a rate in [{MIN_RATE_BPS:g}, {MAX_RATE_BPS:g}] bit/s"


class CbrParams(Params):
    """Parameters of ``cbr``."""

    rate_bps: float = param(allowed=_RATE_ALLOWED, ge=MIN_RATE_BPS, le=MAX_RATE_BPS)
    size_bytes: int = param(
        MTU_FRAME_BYTES, allowed=_SIZE_ALLOWED, ge=MIN_FRAME_BYTES, le=MAX_FRAME_BYTES
    )
    phase_ps: int | None = param(
        None,
        allowed=f"an integer in 0..{FAR_PS} (ps after the origin of the first packet)",
        ge=0,
        le=FAR_PS,
    )


class GreedyParams(Params):
    """Parameters of ``greedy``."""

    size_bytes: int = param(
        MTU_FRAME_BYTES, allowed=_SIZE_ALLOWED, ge=MIN_FRAME_BYTES, le=MAX_FRAME_BYTES
    )
    rate_bps: float | None = param(None, allowed=_RATE_ALLOWED, ge=MIN_RATE_BPS, le=MAX_RATE_BPS)


class _PeriodicSource(BufferedSource):
    """Frames of ``size_bytes`` every ``period_ps`` (a float), first at ``phase_ps``.

    Packet ``k`` arrives at ``origin + floor(phase + k·period)``: each time is computed from
    ``k`` directly, never by accumulating a rounded period, so the long-run rate is exact
    (float64 keeps sub-picosecond precision for runs up to ~1000 s).
    """

    def __init__(self, rate_bps: float, size_bytes: int, phase_ps: float) -> None:
        super().__init__()
        self.mean_rate_bps = float(rate_bps)
        self._size_bytes = size_bytes
        self._period_ps = 8.0 * size_bytes * PS_PER_S / rate_bps
        self._phase_ps = float(phase_ps)
        self._step_packets = int(np.clip(10 * PS_PER_MS / self._period_ps, 16, 65536))
        self._next_index = 0
        self._origin = 0

    @property
    def period_ps(self) -> float:
        """Time between frames (ps, not rounded)."""
        return self._period_ps

    def _start(self, origin_ps: int) -> None:
        self._origin = origin_ps

    def _extend(self) -> tuple[TimeArray, SizeArray, int]:
        index = np.arange(self._next_index, self._next_index + self._step_packets)
        self._next_index += self._step_packets
        arrival_ps = periodic_times(self._origin, self._phase_ps, index, self._period_ps)
        size_bytes = np.full(self._step_packets, self._size_bytes, dtype=np.int64)
        return arrival_ps, size_bytes, int(arrival_ps[-1])


class CbrSource(_PeriodicSource):
    """Constant bit rate: equally spaced frames of ``size_bytes`` at ``rate_bps``.

    Without ``phase_ps`` the first frame comes a uniformly random time within one period
    after the origin (drawn from the source's generator), so many CBR sources started
    together do not all send at the same instant.
    """

    name = "cbr"

    def __init__(
        self, params: CbrParams, rng: np.random.Generator, *, line_rate_bps: float, where: str
    ) -> None:
        period_ps = 8.0 * params.size_bytes * PS_PER_S / params.rate_bps
        phase_ps = params.phase_ps if params.phase_ps is not None else rng.uniform(0.0, period_ps)
        super().__init__(params.rate_bps, params.size_bytes, phase_ps)


class GreedySource(_PeriodicSource):
    """A source that always has data (saturation and speed tests).

    With ``rate_bps`` it is a CBR source at that rate (a speed-test probe capped at a tier,
    random phase as ``cbr``).  Without it the source is *unbounded*: :meth:`batch` returns
    nothing, ``is_unbounded`` is ``True`` and the engine calls :meth:`top_up` every frame to
    keep the queue at least ``target_bytes`` deep; ``mean_rate_bps`` is then the line rate.
    """

    name = "greedy"

    def __init__(
        self,
        params: GreedyParams,
        rng: np.random.Generator,
        *,
        line_rate_bps: float,
        where: str,
    ) -> None:
        rate_bps = params.rate_bps if params.rate_bps is not None else line_rate_bps
        if not 0 < rate_bps <= MAX_RATE_BPS:
            raise InputError(
                f"{where}.rate_bps", f"line rate must be in (0, {MAX_RATE_BPS:g}], got {rate_bps}"
            )
        period_ps = 8.0 * params.size_bytes * PS_PER_S / rate_bps
        phase_ps = rng.uniform(0.0, period_ps) if params.rate_bps is not None else 0.0
        super().__init__(rate_bps, params.size_bytes, phase_ps)
        self.is_unbounded = params.rate_bps is None

    @property
    def size_bytes(self) -> int:
        """Frame size of every packet."""
        return self._size_bytes

    def batch(self, start_ps: int, end_ps: int) -> tuple[TimeArray, SizeArray]:
        """As :meth:`BufferedSource.batch`; always empty for the unbounded form."""
        if self.is_unbounded:
            if end_ps < start_ps:
                raise ValueError(f"window end {end_ps} ps is before its start {start_ps} ps")
            return empty_batch()
        return super().batch(start_ps, end_ps)

    def top_up(
        self, queued_bytes: int, target_bytes: int, at_ps: int
    ) -> tuple[TimeArray, SizeArray]:
        """Frames arriving at ``at_ps`` that bring a queue of ``queued_bytes`` to ``target_bytes``.

        Parameters
        ----------
        queued_bytes
            Bytes already waiting in the queue fed by this source.
        target_bytes
            Depth to reach (the engine uses at least what one frame can drain).
        at_ps
            Arrival time of the new frames.

        Returns
        -------
        arrival_ps, size_bytes
            ``ceil((target − queued) / size_bytes)`` frames, all at ``at_ps`` (empty if the
            queue is already deep enough), so the new depth is in
            ``[target, target + size_bytes)``.
        """
        if not self.is_unbounded:
            raise TypeError("top_up applies only to the unbounded greedy source (no rate_bps)")
        if queued_bytes < 0 or target_bytes < 0:
            raise ValueError(
                f"queued_bytes ({queued_bytes}) and target_bytes ({target_bytes}) must be >= 0"
            )
        deficit = int(target_bytes) - int(queued_bytes)
        count = max(0, -(-deficit // self._size_bytes))
        return (
            np.full(count, int(at_ps), dtype=np.int64),
            np.full(count, self._size_bytes, dtype=np.int64),
        )
