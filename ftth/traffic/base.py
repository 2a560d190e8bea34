"""Shared machinery of the traffic models: the source protocol, window buffering,
parameter validation and packet-size mixes.

Window independence
-------------------
The engine asks each source for the packets of consecutive windows ``[start, end)``.  A source
must return the same packets however the run is cut into windows, so no model draws random
numbers "per window".  Instead every model generates in **fixed internal steps** that depend
only on its parameters (a fixed number of packets, or a fixed simulated-time horizon), and
:class:`BufferedSource` keeps what was generated beyond the current window for the next call.
The random stream therefore sees the same sequence of draws whatever the windows are.

A source's process starts at the ``start_ps`` of its first window (its *origin*), so a source
created for an ONU that joins mid-run does not have to generate the traffic it missed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ftth.errors import InputError
from ftth.units import PS_PER_S

TimeArray = npt.NDArray[np.int64]
SizeArray = npt.NDArray[np.int64]

#: Sentinel "complete until" time of a source that will never emit another packet.
NEVER_PS = int(np.iinfo(np.int64).max)

#: Ethernet frame size limits (bytes, without preamble / inter-frame gap).
MIN_FRAME_BYTES = 64
MAX_FRAME_BYTES = 9000
#: Standard (non-jumbo) Ethernet frame carrying a 1500-byte IP packet, FCS included.
MTU_FRAME_BYTES = 1518

#: Upper bound accepted for any rate parameter: 1 Tb/s is beyond every PON and catches
#: rates typed in the wrong unit (kb/s vs b/s mistakes go the other way and are caught by > 0).
MAX_RATE_BPS = 1e12
#: Lower bound of any rate parameter: 1 bit/s (one 64-byte frame every 512 s, already beyond
#: the longest run).  Smaller rates make periods and gaps that overflow a float (1e-300 b/s
#: gives an infinite period), so they are refused rather than saturated.
MIN_RATE_BPS = 1.0

#: Times at or beyond this (2^61 ps ≈ 27 days) mean "never": generators saturate here
#: instead of overflowing int64 when a tiny rate makes gaps astronomically long.
FAR_PS = 2**61

_EMPTY: TimeArray = np.zeros(0, dtype=np.int64)


def accumulate_gaps(last_ps: int, gaps_ps: npt.NDArray[np.float64]) -> TimeArray:
    """Arrival times ``last_ps + cumsum(gaps_ps)`` as int64, saturating at :data:`FAR_PS`.

    The sum runs in float64 relative to ``last_ps`` (exact to the picosecond over a block
    shorter than 2^53 ps ≈ 2.5 h) and is rounded once, so nothing drifts across blocks.
    """
    offsets_ps = np.minimum(np.rint(np.cumsum(gaps_ps)), FAR_PS).astype(np.int64)
    return np.minimum(min(last_ps, FAR_PS) + offsets_ps, FAR_PS)


def periodic_times(
    origin_ps: int,
    phase_ps: npt.NDArray[np.float64] | float,
    index: npt.ArrayLike,
    period_ps: float,
) -> TimeArray:
    """``origin + floor(phase + index·period)``: periodic times computed from the index
    (never accumulated), saturating at :data:`FAR_PS`."""
    offset_ps = np.floor(phase_ps + np.asarray(index, dtype=np.float64) * period_ps)
    # np.maximum / np.minimum rather than np.clip: the same values, without np.clip's
    # per-call overhead (it dominated the household model's generation).
    far = float(FAR_PS)
    offset_ps = np.minimum(np.maximum(offset_ps, -far), far).astype(np.int64)
    return np.minimum(np.maximum(origin_ps + offset_ps, -FAR_PS), FAR_PS)


def empty_batch() -> tuple[TimeArray, SizeArray]:
    """A batch with no packets (both arrays int64, length 0)."""
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


@runtime_checkable
class TrafficSource(Protocol):
    """What the emulator engine needs from a traffic source.

    Attributes
    ----------
    name
        Registry name of the model (``"poisson"``, ...).
    mean_rate_bps
        Long-run mean offered rate in bit/s (Ethernet frame bytes × 8), for load
        calculations and reports.
    is_unbounded
        ``True`` only for the unbounded greedy source, which the engine tops up each frame
        through ``top_up`` instead of calling :meth:`batch`.
    """

    name: str
    mean_rate_bps: float
    is_unbounded: bool

    def batch(self, start_ps: int, end_ps: int) -> tuple[TimeArray, SizeArray]:
        """Packets arriving in ``[start_ps, end_ps)``: ``(arrival_ps, size_bytes)``, both int64,
        arrivals sorted ascending.  Windows must be consecutive and non-overlapping."""
        ...


class BufferedSource:
    """Base class that turns fixed-step generation into window queries.

    Subclasses implement :meth:`_start` (called once with the origin time) and
    :meth:`_extend`, which generates the next fixed step and returns
    ``(arrival_ps, size_bytes, complete_ps)``: the new packets (sorted) and a time before
    which every packet of the source has now been generated (all later packets arrive at
    ``>= complete_ps``).  A step must not depend on the windows asked for.

    Generated packets wait in one buffer with a read cursor, so a window that the buffer
    already covers costs two slices and a binary search — not even that when the windows are
    regular: whenever the buffer is filled, the ends of the following windows of the same
    length are located with one vectorised ``searchsorted``.  Steps whose packets all come at
    or after the previous step's ``complete_ps`` (every model but ``household``) are appended
    without any sorting; a step that reaches back before buffered packets is merged stably.
    """

    name: str = ""
    mean_rate_bps: float = 0.0
    is_unbounded: bool = False

    def __init__(self) -> None:
        self._buffer_arrival_ps: TimeArray = _EMPTY
        self._buffer_size_bytes: SizeArray = _EMPTY
        self._cursor = 0  # first buffered packet not yet returned (nor dropped)
        self._complete_ps = 0
        self._origin_ps: int | None = None
        self._last_end_ps: int | None = None
        # Where the windows that follow the last one back to back with its length end in the
        # buffer (found with one vectorised searchsorted when the buffer is filled): the next
        # one ends at next_end_ps, its index in the buffer is grid_stops[grid_index].
        self._next_end_ps = -1
        self._grid_length_ps = 0
        self._grid_index = 0
        self._grid_stops: list[int] = []

    @property
    def origin_ps(self) -> int | None:
        """Start of the source's process (the first window's start), ``None`` before it."""
        return self._origin_ps

    def batch(self, start_ps: int, end_ps: int) -> tuple[TimeArray, SizeArray]:
        """Packets arriving in ``[start_ps, end_ps)``.

        Parameters
        ----------
        start_ps, end_ps
            Window bounds in picoseconds.  Windows must come in increasing order without
            overlap; a gap between windows drops the packets that fell in it.

        Returns
        -------
        arrival_ps, size_bytes
            int64 arrays of equal length, arrivals sorted ascending (views of the source's
            buffer; later windows never see them again).
        """
        start_ps = int(start_ps)
        end_ps = int(end_ps)
        last_end_ps = self._last_end_ps
        if end_ps < start_ps:
            raise ValueError(f"window end {end_ps} ps is before its start {start_ps} ps")
        if last_end_ps is None:
            self._origin_ps = start_ps
            self._complete_ps = start_ps
            self._start(start_ps)
        elif start_ps < last_end_ps:
            raise ValueError(
                f"window [{start_ps}, {end_ps}) ps overlaps the previous one ending at "
                f"{last_end_ps} ps; windows must be consecutive and increasing"
            )
        self._last_end_ps = end_ps
        if self._complete_ps < end_ps:
            self._fill(end_ps)
            self._predict(start_ps, end_ps)
        arrival = self._buffer_arrival_ps
        # The cursor is where the previous window ended; a gap drops what fell in it.
        first = self._cursor if start_ps == last_end_ps else int(arrival.searchsorted(start_ps))
        if end_ps == self._next_end_ps:
            index = self._grid_index
            stop = self._grid_stops[index]
            index += 1
            self._grid_index = index
            self._next_end_ps = (
                end_ps + self._grid_length_ps if index < len(self._grid_stops) else -1
            )
        else:
            stop = int(arrival.searchsorted(end_ps))
        self._cursor = stop
        return arrival[first:stop], self._buffer_size_bytes[first:stop]

    #: Most window ends located per fill.
    _MAX_PREDICTED = 4096

    def _predict(self, start_ps: int, end_ps: int) -> None:
        """Locate the ends of the windows that would follow ``[start_ps, end_ps)`` back to
        back with the same length, as far as the buffer is complete."""
        length_ps = end_ps - start_ps
        arrival = self._buffer_arrival_ps
        self._next_end_ps = -1
        if length_ps <= 0 or not arrival.size:
            return
        horizon_ps = min(self._complete_ps, int(arrival[-1]) + length_ps)
        count = min((horizon_ps - end_ps) // length_ps + 1, self._MAX_PREDICTED)
        if count <= 0:
            return
        ends = end_ps + length_ps * np.arange(count, dtype=np.int64)
        self._grid_stops = arrival.searchsorted(ends).tolist()
        self._grid_length_ps = length_ps
        self._grid_index = 0
        self._next_end_ps = end_ps

    def _fill(self, end_ps: int) -> None:
        """Generate steps until ``complete_ps >= end_ps``; drop what was already returned."""
        cursor = self._cursor
        arrivals = [self._buffer_arrival_ps[cursor:]]
        sizes = [self._buffer_size_bytes[cursor:]]
        needs_sort = False
        last_ps = int(arrivals[0][-1]) if arrivals[0].size else None
        while self._complete_ps < end_ps:
            arrival, size, complete_ps = self._extend()
            if complete_ps <= self._complete_ps:
                raise AssertionError(f"{type(self).__name__}._extend made no progress")
            self._complete_ps = complete_ps
            if arrival.size:
                if last_ps is not None:
                    # Models that superpose components with their own horizons (household)
                    # produce steps whose packets may precede packets already buffered.
                    needs_sort |= int(arrival[0]) < last_ps
                    last_ps = max(last_ps, int(arrival[-1]))
                else:
                    last_ps = int(arrival[-1])
                arrivals.append(arrival)
                sizes.append(size)
        if not arrivals[0].size:
            del arrivals[0], sizes[0]
        if len(arrivals) == 1:
            all_arrival, all_size = arrivals[0], sizes[0]
        elif not arrivals:
            all_arrival, all_size = _EMPTY, _EMPTY
        else:
            all_arrival = np.concatenate(arrivals)
            all_size = np.concatenate(sizes)
            if needs_sort:
                # Stable: ties keep generation order, which does not depend on the windows.
                order = np.argsort(all_arrival, kind="stable")
                all_arrival = all_arrival[order]
                all_size = all_size[order]
        self._buffer_arrival_ps = all_arrival
        self._buffer_size_bytes = all_size
        self._cursor = 0

    def _start(self, origin_ps: int) -> None:
        raise NotImplementedError

    def _extend(self) -> tuple[TimeArray, SizeArray, int]:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# Parameters


class Params(BaseModel):
    """Base of every model's parameter schema: unknown keys are rejected, NaN/inf too."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def param(default: Any = ..., *, allowed: str, description: str = "", **constraints: Any) -> Any:
    """A pydantic field whose error messages state the allowed range ``allowed``."""
    return Field(
        default, description=description, json_schema_extra={"allowed": allowed}, **constraints
    )


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _why(model_cls: type[BaseModel], error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown parameter; valid: {', '.join(model_cls.model_fields)}"
    field_name = error["loc"][0] if error["loc"] else None
    allowed = None
    if isinstance(field_name, str) and field_name in model_cls.model_fields:
        extra = model_cls.model_fields[field_name].json_schema_extra
        if isinstance(extra, dict):
            allowed = extra.get("allowed")
    if kind == "missing":
        return f"required ({allowed})" if allowed else "required"
    if kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
        return f"{message}, got {_short_repr(error['input'])}"
    if allowed:
        return f"must be {allowed}, got {_short_repr(error['input'])}"
    return f"{error['msg']}, got {_short_repr(error['input'])}"


def validate_params(model_cls: type[Params], params: Mapping[str, Any], where: str) -> Any:
    """Validate ``params`` against ``model_cls``; any problem raises a one-line InputError.

    Parameters
    ----------
    model_cls
        The model's parameter schema.
    params
        User parameters (from a scenario table or ``--traffic name,key=value``).
    where
        Key path of the traffic entry; errors name ``f"{where}.{field}"``.
    """
    if not isinstance(params, Mapping):
        raise InputError(
            where, f"parameters must be a table of key = value, got {_short_repr(params)}"
        )
    try:
        return model_cls.model_validate(dict(params))
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = ".".join(str(part) for part in first["loc"])
        why = _why(model_cls, first)
        if len(errors) > 1:
            why += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise InputError(f"{where}.{loc}" if loc else where, why.replace("\n", " ")) from None


# --------------------------------------------------------------------------------------------
# Packet sizes


#: Bit generators whose raw output is 64 uniform bits (so one raw draw gives two uint32).
_RAW64_BIT_GENERATORS = (np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.SFC64)


def uniform_u32(rng: np.random.Generator, count: int) -> npt.NDArray[np.uint32]:
    """``count`` independent uniform 32-bit integers from ``rng`` (its bit generator's raw
    64-bit output split in two when it has one: about twice as fast as ``rng.integers``)."""
    bit_generator = rng.bit_generator
    if isinstance(bit_generator, _RAW64_BIT_GENERATORS):
        raw: npt.NDArray[np.uint64] = bit_generator.random_raw((count + 1) // 2)
        return raw.view(np.uint32)[:count]
    return rng.integers(0, 1 << 32, count, dtype=np.uint32)


@dataclass(frozen=True, eq=False)
class SizeClasses:
    """The sizes of a :class:`SizeMix` that can occur, as a table indexed by size class.

    ``thresholds[k]`` is ``2^32 × P(class <= k)`` rounded: a uniform 32-bit integer ``r``
    falls in class ``#{k : thresholds[k] <= r}`` (exact to 2^-32 in probability).
    """

    values_bytes: npt.NDArray[np.int64]
    thresholds: npt.NDArray[np.uint32]

    def sample_index(self, rng: np.random.Generator, count: int) -> npt.NDArray[np.intp]:
        """``count`` independent class indices."""
        return self.index_of(uniform_u32(rng, count))

    def index_of(self, r: npt.NDArray[np.uint32]) -> npt.NDArray[np.intp]:
        """The class of each uniform 32-bit integer of ``r``."""
        thresholds = self.thresholds
        if thresholds.size > 3:
            return thresholds.searchsorted(r, side="right")
        # Few classes: counting the thresholds passed is branch-free, unlike a binary search.
        index = np.zeros(r.size, dtype=np.uint8)
        for threshold in thresholds:
            index += (r >= threshold).view(np.uint8)
        return index.astype(np.intp)


@dataclass(frozen=True, eq=False)
class SizeMix:
    """A discrete packet-size distribution (Ethernet frame bytes)."""

    values_bytes: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float64]

    @classmethod
    def of(cls, values_bytes: list[int], weights: list[float]) -> SizeMix:
        """Mix of ``values_bytes`` with relative ``weights`` (normalised here)."""
        values = np.asarray(values_bytes, dtype=np.int64)
        w = np.asarray(weights, dtype=np.float64)
        return cls(values, w / w.sum())

    @property
    def mean_bytes(self) -> float:
        """Mean frame size in bytes."""
        return float(np.dot(self.values_bytes, self.probabilities))

    @cached_property
    def classes(self) -> SizeClasses:
        """The sizes with a positive probability and their sampling thresholds."""
        keep = self.probabilities > 0
        cdf = np.cumsum(self.probabilities[keep])[:-1] / self.probabilities[keep].sum()
        thresholds = np.minimum(np.rint(cdf * 2.0**32), 2.0**32 - 1).astype(np.uint32)
        return SizeClasses(self.values_bytes[keep].copy(), thresholds)

    def sample(self, rng: np.random.Generator, count: int) -> SizeArray:
        """``count`` independent frame sizes (no random draw at all for a single size)."""
        classes = self.classes
        if classes.values_bytes.size == 1:
            return np.full(count, classes.values_bytes[0], dtype=np.int64)
        return classes.values_bytes.take(classes.sample_index(rng, count))


#: The trimodal Ethernet mix of the EPON / IPACT literature (pon-reference §7): 64 B 62 %,
#: 594 B 10 %, 1518 B 28 %, mean 524.12 B.
TRIMODAL = SizeMix.of([64, 594, 1518], [0.62, 0.10, 0.28])


class SizesParams(Params):
    """Packet-size parameters shared by ``poisson`` and ``pareto-onoff``.

    ``sizes`` may be omitted: it is then ``"fixed"`` if ``size_bytes`` is given,
    ``"empirical"`` if ``size_values`` is given, else ``"trimodal"``.
    """

    sizes: str | None = param(None, allowed="one of 'fixed', 'trimodal', 'empirical'")
    size_bytes: int | None = param(
        None,
        allowed=f"an integer in {MIN_FRAME_BYTES}..{MAX_FRAME_BYTES}",
        ge=MIN_FRAME_BYTES,
        le=MAX_FRAME_BYTES,
    )
    size_values: list[int] | None = param(
        None,
        allowed=f"a list of 1..1000 integers in {MIN_FRAME_BYTES}..{MAX_FRAME_BYTES}",
        min_length=1,
        max_length=1000,
    )
    size_weights: list[float] | None = param(
        None,
        allowed="a list of non-negative numbers, one per size_values entry",
        min_length=1,
        max_length=1000,
    )

    def size_mix(self, where: str) -> SizeMix:
        """The packet-size distribution these parameters describe (InputError if inconsistent)."""
        kind = self.sizes
        if kind is None:
            kind = (
                "fixed"
                if self.size_bytes is not None
                else "empirical"
                if self.size_values is not None
                else "trimodal"
            )
        if kind not in ("fixed", "trimodal", "empirical"):
            raise InputError(
                f"{where}.sizes", f"must be one of 'fixed', 'trimodal', 'empirical', got {kind!r}"
            )
        if kind != "fixed" and self.size_bytes is not None:
            raise InputError(
                f"{where}.size_bytes", f"only applies to sizes = 'fixed', not {kind!r}"
            )
        if kind != "empirical" and (self.size_values is not None or self.size_weights is not None):
            field = "size_values" if self.size_values is not None else "size_weights"
            raise InputError(
                f"{where}.{field}", f"only applies to sizes = 'empirical', not {kind!r}"
            )
        if kind == "fixed":
            return SizeMix.of([self.size_bytes or MTU_FRAME_BYTES], [1.0])
        if kind == "trimodal":
            return TRIMODAL
        values = self.size_values
        weights = self.size_weights
        if values is None:
            raise InputError(f"{where}.size_values", "required when sizes = 'empirical'")
        if weights is None:
            weights = [1.0] * len(values)
        if len(weights) != len(values):
            raise InputError(
                f"{where}.size_weights",
                f"must have one weight per size_values entry ({len(values)}), got {len(weights)}",
            )
        for index, value in enumerate(values):
            if not MIN_FRAME_BYTES <= value <= MAX_FRAME_BYTES:
                raise InputError(
                    f"{where}.size_values.{index}",
                    f"must be in {MIN_FRAME_BYTES}..{MAX_FRAME_BYTES} bytes, got {value}",
                )
        for index, weight in enumerate(weights):
            if weight < 0:
                raise InputError(f"{where}.size_weights.{index}", f"must be >= 0, got {weight}")
        if sum(weights) <= 0:
            raise InputError(f"{where}.size_weights", "must not all be zero")
        return SizeMix.of(values, weights)


def serialisation_ps_per_byte(rate_bps: float) -> float:
    """Picoseconds one byte takes at ``rate_bps`` (float: used only inside a burst)."""
    return 8.0 * PS_PER_S / rate_bps


def split_into_frames(
    total_bytes: npt.NDArray[np.int64], max_frame_bytes: int
) -> tuple[npt.NDArray[np.int64], SizeArray]:
    """Cut each transfer of ``total_bytes`` (each >= 64) into Ethernet frames.

    Full ``max_frame_bytes`` frames followed by the remainder, as TCP segments a transfer;
    a remainder below 64 bytes borrows from the previous frame so every frame is in
    ``64..max_frame_bytes`` and the total of each transfer is exact (the mean rate stays exact).

    Returns
    -------
    frame_counts
        Frames per transfer.
    size_bytes
        All frames, transfer after transfer.
    """
    total_bytes = np.asarray(total_bytes, dtype=np.int64)
    full, remainder = np.divmod(total_bytes, max_frame_bytes)
    counts = full + (remainder > 0)
    sizes = np.full(int(counts.sum()), max_frame_bytes, dtype=np.int64)
    last = np.cumsum(counts) - 1
    has_remainder = remainder > 0
    sizes[last[has_remainder]] = remainder[has_remainder]
    short = has_remainder & (remainder < MIN_FRAME_BYTES) & (full > 0)
    if short.any():
        borrow = MIN_FRAME_BYTES - remainder[short]
        sizes[last[short]] = MIN_FRAME_BYTES
        sizes[last[short] - 1] -= borrow
    return counts, sizes


def burst_offsets_ps(
    frame_counts: npt.NDArray[np.int64], size_bytes: SizeArray, rate_bps: float
) -> TimeArray:
    """Start time of each frame relative to its burst's start, frames sent back to back.

    ``frame_counts[i]`` consecutive entries of ``size_bytes`` form burst ``i``; frame ``j`` of a
    burst starts when the bytes before it in the same burst have been serialised at
    ``rate_bps`` (floor to whole ps: exact per burst, no accumulation across bursts).
    """
    if size_bytes.size == 0:
        return np.zeros(0, dtype=np.int64)
    cumulative = np.cumsum(size_bytes) - size_bytes  # bytes before each frame (global)
    first = np.cumsum(frame_counts) - frame_counts  # index of each burst's first frame
    burst_base = np.repeat(cumulative[first[frame_counts > 0]], frame_counts[frame_counts > 0])
    before = cumulative - burst_base
    offset_ps = np.floor(before * serialisation_ps_per_byte(rate_bps))
    return np.minimum(offset_ps, FAR_PS).astype(np.int64)


def pareto_scale_for_mean(mean: float, alpha: float, cap: float) -> float:
    """Scale ``x_m`` of a Pareto(alpha) truncated at ``cap`` whose mean is ``mean``.

    The truncated mean is ``x_m·[1 + (1 − (cap/x_m)^(1−α))/(α − 1)]`` (integrate the survival
    function); it increases with ``x_m``, so bisection finds the scale.  Without the cap the
    answer would be ``mean·(α − 1)/α``.  The problem is scale-free (``x_m / mean`` depends
    only on ``α`` and ``cap / mean``), so the bisection runs once per ``(α, cap / mean)``.
    """
    return mean * _pareto_scale_ratio(float(alpha), float(cap / mean))


@lru_cache(maxsize=1024)
def _pareto_scale_ratio(alpha: float, cap_ratio: float) -> float:
    """``x_m / mean`` of a Pareto(alpha) truncated at ``cap_ratio × mean``."""

    def truncated_mean(scale: float) -> float:
        return scale * (1.0 + (1.0 - (cap_ratio / scale) ** (1.0 - alpha)) / (alpha - 1.0))

    low = (alpha - 1.0) / alpha  # the untruncated answer: truncated mean < 1 here
    high = 1.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        if middle in (low, high):  # converged to the last bit
            break
        if truncated_mean(middle) < 1.0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@dataclass(frozen=True)
class TruncatedPareto:
    """Pareto(``alpha``, scale ``scale``) durations truncated at ``cap`` (all floats, any unit).

    The classical Pareto with minimum ``scale`` (pon-reference §7), ``P(X > x) = (scale/x)^α``,
    drawn as ``scale·exp(E/α)`` for a standard exponential ``E`` (the law of
    ``scale·(1 + Generator.pareto)``, whose Lomax form is shifted by one).
    """

    alpha: float
    scale: float
    cap: float

    @classmethod
    def with_mean(cls, mean: float, alpha: float, cap_factor: float) -> TruncatedPareto:
        """The truncated Pareto whose mean is ``mean`` and cap ``cap_factor × mean``."""
        return cls(
            alpha, mean * _pareto_scale_ratio(float(alpha), float(cap_factor)), cap_factor * mean
        )

    @property
    def mean(self) -> float:
        """Mean of the truncated distribution."""
        a = self.alpha
        return self.scale * (1.0 + (1.0 - (self.cap / self.scale) ** (1.0 - a)) / (a - 1.0))

    def sample(
        self, rng: np.random.Generator, shape: int | tuple[int, ...]
    ) -> npt.NDArray[np.float64]:
        """Independent draws."""
        return self.from_exponential(rng.standard_exponential(shape))

    def from_exponential(self, e: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Draws from standard exponentials ``e`` (overwritten): ``x_m·exp(e/α)`` is Pareto
        (``P(X > x) = P(e > α·ln(x/x_m)) = (x_m/x)^α``), then truncated at the cap."""
        e *= 1.0 / self.alpha
        np.minimum(e, self.log_cap_ratio, out=e)
        np.exp(e, out=e)
        e *= self.scale
        return e

    @cached_property
    def log_cap_ratio(self) -> float:
        """``ln(cap / scale)``: draws are capped where ``E/α`` reaches it."""
        return math.log(self.cap / self.scale)

    def sample_residual(self, rng: np.random.Generator, count: int) -> npt.NDArray[np.float64]:
        """Draws of the *remaining* duration seen at a random instant (equilibrium law).

        Starting every ON/OFF source with a residual period makes the superposition
        stationary from its origin.  ``F_e(x) = (1/mean)∫₀ˣ P(X > u) du``, inverted:
        ``x = U·mean`` while ``U·mean ≤ x_m``, else
        ``x = x_m·[1 − (U·mean/x_m − 1)(α − 1)]^(1/(1−α))`` (which reaches ``cap`` at U = 1).
        """
        a = self.alpha
        mean = self.mean
        level = rng.random(count) * (mean / self.scale)
        # The base is floored where the power reaches the cap, so nothing overflows.
        tail = np.maximum(1.0 - (level - 1.0) * (a - 1.0), (self.cap / self.scale) ** (1.0 - a))
        tail **= 1.0 / (1.0 - a)
        tail *= self.scale
        return np.minimum(np.where(level <= 1.0, level * self.scale, tail), self.cap)
