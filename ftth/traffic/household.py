"""``household``: a residential busy-hour traffic mix as one packet stream.

The mix (pon-reference §7) and the reasoning behind every number
-----------------------------------------------------------------
``mean_bps`` is the household's **busy-hour average** in one direction.  Defaults: 4 Mb/s
downstream, 0.4 Mb/s upstream.  Reasoning: industry usage reports of the mid-2020s put a
fixed-broadband household at roughly 500–650 GB/month downstream and 35–50 GB upstream
(≈ 1.6–2 Mb/s and ≈ 0.12–0.15 Mb/s averaged over the month); the busy hour carries about twice
the daily average downstream, a bit more upstream (calls and backups concentrate in the
evening).  Planners size a PON for this average times the number of households, not for the
tier: a 100 Mb/s tier is a peak, not a load.

The share of each component (``shares``, normalised; defaults below) follows the usual
application breakdowns (video ≈ 60–70 % of downstream; calls, backup and uploads dominate
upstream):

===========  ==========  ==========  ===================================================
component    downstream  upstream    model
===========  ==========  ==========  ===================================================
``video``    0.62        0.04        adaptive-bitrate streaming, periodic segment bursts
``web``      0.26        0.25        elastic transfers, Poisson arrivals, heavy-tailed
``gaming``   0.02        0.06        small packets at a game tick rate, jittered
``call``     0.10        0.35        video call: 30 frame/s RTP bursts plus 50 pkt/s audio
``backup``   0.00        0.30        cloud backup / sync: throttled periodic block uploads
===========  ==========  ==========  ===================================================

Each component runs **continuously at its share of the mean** (its busy-hour average).  The
rates of real sessions — a 4K stream at 15–25 Mb/s, a call at 2–4 Mb/s — set the *structure*
(how many parallel streams or calls a share is split into, burst and packet sizes), but a
share below one session's rate becomes one continuous session at that lower rate (an SD
stream, a low-rate call) rather than a full-rate session that is on part of the hour.  That
keeps the offered load at its mean over seconds, which short emulation runs need, while the
packet- and burst-level structure that drives DBA delay is kept.

Elastic traffic (video segments, web transfers, backup blocks) is sent back to back at
``transfer_bps`` (default 100 Mb/s: the household's tier, i.e. what one TCP transfer reaches).

``video`` — steady-state DASH/HLS playback is ON/OFF (Rao et al., CoNEXT 2011): the player
fetches one segment per segment duration as fast as the network allows, then idles.  A share
``m`` becomes ``ceil(m / min(25 Mb/s, transfer/2))`` streams of equal bitrate (so 4 Mb/s ×
0.62 = 2.5 Mb/s is one HD stream; 100 Mb/s of video is four 4K streams at 25 Mb/s); each
fetches a ``bitrate × 2 s`` segment every 2 s (2-s segments: low-latency/live services; shorter
segments make the load converge faster) as 1518-byte frames at ``transfer_bps``, with a random
phase per stream.  Upstream, the component is the players' TCP ACKs: 64-byte frames, one per two
downstream 1518-byte frames, in the same 2-s bursts, ACK-clocked at ``transfer × 64/3036``.

``web`` — web pages, software updates, downloads and uploads.  Transfer arrivals are Poisson
(user-initiated sessions, Paxson & Floyd 1995) and sizes bounded Pareto with α = 1.4
(file and transfer sizes are heavy-tailed, Crovella & Bestavros 1997; α = 1.4 makes the
aggregate long-range dependent with H = 0.8): 8 kB .. 64 MB downstream (mean ≈ 27 kB),
2 kB .. 16 MB upstream (mean ≈ 6.8 kB).  Each transfer is 1518-byte frames (the last one
shorter) at ``transfer_bps``.

``gaming`` — a game session exchanges one small packet per server/client tick (≈ 60 Hz):
downstream 64..300-byte frames (uniform, mean 182 B, ≈ 87 kb/s per session), upstream
64..160 bytes (mean 112 B, ≈ 54 kb/s).  A share becomes ``max(1, round(m / per-session
rate))`` sessions whose tick period is set so the share is exact; each packet is delayed by a
uniform 0..1 ms jitter (game loop and Wi-Fi).

``call`` — a share is split into ``ceil(m / 4 Mb/s)`` calls (video calls run at 2–4 Mb/s each
way).  Per call: audio at 50 packets/s of 120-byte frames (Opus 20 ms + RTP/UDP/IP/Ethernet,
48 kb/s; at most half the call's rate), video at 30 frames/s (fewer if needed to keep frames
≥ 1200 B), frame sizes Gamma-distributed (CV ≈ 0.32: encoder rate control around the target),
each frame cut into ≤ 1200-byte RTP packets sent at 2.5 × the call rate (the WebRTC pacer's
factor).

``backup`` — a backup client throttled below the link uploads one block per second:
``ceil(m / (transfer/2))`` streams, blocks of ``rate × 1 s`` as 1518-byte frames at
``transfer_bps``.

All components are exact in their mean (periods are derived from the integer burst sizes,
frames are cut without changing a burst's byte count), so ``mean_rate_bps`` equals
``mean_bps``.  The components use independent generators spawned from the source's, so
changing one share does not change another component's packets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from ftth.errors import InputError
from ftth.traffic.base import (
    MAX_RATE_BPS,
    MIN_FRAME_BYTES,
    MIN_RATE_BPS,
    MTU_FRAME_BYTES,
    BufferedSource,
    Params,
    SizeArray,
    TimeArray,
    accumulate_gaps,
    burst_offsets_ps,
    param,
    periodic_times,
    split_into_frames,
)
from ftth.units import PS_PER_MS, PS_PER_S

Direction = Literal["downstream", "upstream"]

COMPONENTS: tuple[str, ...] = ("video", "web", "gaming", "call", "backup")

#: Busy-hour household average per direction (bit/s); reasoning in the module docstring.
DEFAULT_MEAN_BPS: dict[str, float] = {"downstream": 4e6, "upstream": 0.4e6}

#: Default shares of the mean per direction (sum to 1).
DEFAULT_SHARES: dict[str, dict[str, float]] = {
    "downstream": {"video": 0.62, "web": 0.26, "gaming": 0.02, "call": 0.10, "backup": 0.0},
    "upstream": {"video": 0.04, "web": 0.25, "gaming": 0.06, "call": 0.35, "backup": 0.30},
}

DEFAULT_TRANSFER_BPS = 100e6

#: Video: top bitrate of one stream (4K), segment duration.
VIDEO_MAX_STREAM_BPS = 25e6
VIDEO_SEGMENT_PS = 2 * PS_PER_S
#: One delayed ACK (64-byte frame) per two full downstream frames.
ACK_BYTES_PER_DATA_BYTE = MIN_FRAME_BYTES / (2 * MTU_FRAME_BYTES)

#: Web transfers: bounded Pareto (shape, min bytes, max bytes) per direction.
WEB_PARETO: dict[str, tuple[float, float, float]] = {
    "downstream": (1.4, 8e3, 64e6),
    "upstream": (1.4, 2e3, 16e6),
}

#: Gaming: frame-size range (bytes) and nominal tick rate per session.
GAMING_SIZES: dict[str, tuple[int, int]] = {"downstream": (64, 300), "upstream": (64, 160)}
GAMING_TICK_HZ = 60.0
GAMING_JITTER_PS = PS_PER_MS

#: Calls: per-call ceiling, audio, video framing, RTP packet size, pacing factor.
CALL_MAX_BPS = 4e6
CALL_AUDIO_PPS = 50.0
CALL_AUDIO_BYTES = 120
CALL_VIDEO_FPS = 30.0
CALL_RTP_FRAME_BYTES = 1200
CALL_FRAME_SHAPE = 10.0  # Gamma shape of video frame sizes: CV = 1/sqrt(10) ≈ 0.32
CALL_PACING_FACTOR = 2.5

#: Backup: one block per second per stream.
BACKUP_PERIOD_PS = PS_PER_S

#: Generation step of the whole mix (simulated time).
STEP_PS = 100 * PS_PER_MS


class HouseholdParams(Params):
    """Parameters of ``household``."""

    direction: Direction = param("downstream", allowed="'downstream' or 'upstream'")
    mean_bps: float | None = param(
        None,
        allowed=f"a busy-hour mean in [{MIN_RATE_BPS:g}, {MAX_RATE_BPS:g}] bit/s "
        f"(default {DEFAULT_MEAN_BPS['downstream']:g} down, {DEFAULT_MEAN_BPS['upstream']:g} up)",
        ge=MIN_RATE_BPS,
        le=MAX_RATE_BPS,
    )
    shares: dict[str, float] | None = param(
        None, allowed=f"a table of component = weight >= 0 for {', '.join(COMPONENTS)}"
    )
    transfer_bps: float = param(
        DEFAULT_TRANSFER_BPS,
        allowed=f"a transfer rate in [1e6, {MAX_RATE_BPS:g}] bit/s (the household's tier)",
        ge=1e6,
        le=MAX_RATE_BPS,
    )


EventBytes = Callable[[np.random.Generator, int], SizeArray]


class _Periodic:
    """``streams`` periodic event sources; each event is a burst of frames.

    Stream ``i``'s event ``k`` starts at ``origin + floor(phase_i + k·period)`` (computed from
    ``k``, never accumulated).  Event bytes come from ``event_bytes``; they are cut into
    frames of at most ``max_frame_bytes`` sent back to back at ``send_bps``, each frame then
    delayed by an independent uniform jitter in ``[0, jitter_ps)``.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        streams: int,
        period_ps: float,
        event_bytes: EventBytes,
        max_frame_bytes: int,
        send_bps: float,
        jitter_ps: int = 0,
        burst_ps: float | None = None,
    ) -> None:
        self._rng = rng
        self._period_ps = period_ps
        self._phase_ps = rng.uniform(0.0, period_ps, streams)
        self._event_bytes = event_bytes
        self._max_frame_bytes = max_frame_bytes
        self._send_bps = send_bps
        self._jitter_ps = jitter_ps
        # Start at event -1, the burst that began before the origin and may still be sending,
        # so the stream is stationary from its origin (no start-up deficit).  When the burst
        # length ``burst_ps`` is known, skip the event -1 bursts that ended before the origin
        # (for 2-s video segments that saves generating 2 s of traffic up front).
        may_overlap = (
            np.ones(streams, dtype=bool)
            if burst_ps is None
            else self._phase_ps - period_ps + burst_ps + 1.0 > 0
        )
        self._next_index = np.where(may_overlap, -1, 0).astype(np.int64)
        self._origin = 0

    def start(self, origin_ps: int) -> None:
        self._origin = origin_ps

    def _time_ps(self, stream: np.ndarray, index: np.ndarray) -> TimeArray:
        return periodic_times(self._origin, self._phase_ps[stream], index, self._period_ps)

    def advance(self, horizon_ps: int) -> tuple[TimeArray, SizeArray]:
        """Frames of every event starting before ``horizon_ps`` not yet produced."""
        streams = np.arange(self._phase_ps.size)
        # Event k starts before the horizon iff phase + k·period < horizon − origin; the
        # float estimate is corrected with the exact start formula so both always agree.
        end = np.ceil((horizon_ps - self._origin - self._phase_ps) / self._period_ps)
        end = np.maximum(end.astype(np.int64), self._next_index)
        end += self._time_ps(streams, end) < horizon_ps
        end -= (end > self._next_index) & (self._time_ps(streams, end - 1) >= horizon_ps)
        counts = end - self._next_index
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        stream_of_event = np.repeat(streams, counts)
        index = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        index += self._next_index[stream_of_event]
        self._next_index = end
        event_ps = self._time_ps(stream_of_event, index)
        frame_counts, size_bytes = split_into_frames(
            self._event_bytes(self._rng, total), self._max_frame_bytes
        )
        arrival_ps = np.repeat(event_ps, frame_counts) + burst_offsets_ps(
            frame_counts, size_bytes, self._send_bps
        )
        if self._jitter_ps:
            arrival_ps += self._rng.integers(0, self._jitter_ps, arrival_ps.size)
        return arrival_ps, size_bytes


class _PoissonTransfers:
    """Poisson arrivals of transfers with bounded-Pareto sizes, sent at ``send_bps``."""

    BLOCK = 256  # transfers drawn at a time

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        mean_bps: float,
        alpha: float,
        min_bytes: float,
        max_bytes: float,
        send_bps: float,
    ) -> None:
        self._rng = rng
        self._alpha = alpha
        self._min_bytes = min_bytes
        self._max_bytes = max_bytes
        self._send_bps = send_bps
        self._mean_bps = mean_bps
        self._mean_gap_ps = (
            8.0 * bounded_pareto_mean(alpha, min_bytes, max_bytes) * PS_PER_S / mean_bps
        )
        self._pending_ps = np.zeros(0, dtype=np.int64)
        self._pending_bytes = np.zeros(0, dtype=np.int64)
        self._last_ps = 0

    def start(self, origin_ps: int) -> None:
        """Begin at ``origin_ps`` in the stationary state, with the transfers then in progress.

        Transfers in progress at a random instant number Poisson(λ·E[duration]) =
        Poisson(mean / send rate); their sizes are size-biased — for a bounded Pareto(α),
        a bounded Pareto(α − 1) — and their elapsed time uniform over their duration.
        """
        self._last_ps = origin_ps
        rng = self._rng
        count = int(rng.poisson(self._mean_bps / self._send_bps))
        transfer_bytes = self._sizes(count, self._alpha - 1.0)
        duration_ps = transfer_bytes * (8.0 * PS_PER_S / self._send_bps)
        started_ps = origin_ps - np.floor(rng.random(count) * duration_ps).astype(np.int64)
        order = np.argsort(started_ps, kind="stable")
        # Frames sent before the origin are dropped by the window query.
        self._pending_ps = started_ps[order]
        self._pending_bytes = transfer_bytes[order]

    def _sizes(self, count: int, alpha: float) -> SizeArray:
        # Inverse CDF of the Pareto(alpha) truncated to [min, max].
        low, high = self._min_bytes, self._max_bytes
        u = self._rng.random(count)
        sizes = low * (1.0 - u * (1.0 - (low / high) ** alpha)) ** (-1.0 / alpha)
        return np.rint(sizes).astype(np.int64)

    def advance(self, horizon_ps: int) -> tuple[TimeArray, SizeArray]:
        starts = [self._pending_ps]
        sizes = [self._pending_bytes]
        while self._last_ps < horizon_ps:
            times = accumulate_gaps(
                self._last_ps, self._rng.exponential(self._mean_gap_ps, self.BLOCK)
            )
            self._last_ps = int(times[-1])
            starts.append(times)
            sizes.append(self._sizes(self.BLOCK, self._alpha))
        start_ps = np.concatenate(starts)
        transfer_bytes = np.concatenate(sizes)
        due = int(np.searchsorted(start_ps, horizon_ps, side="left"))
        self._pending_ps, self._pending_bytes = start_ps[due:], transfer_bytes[due:]
        frame_counts, size_bytes = split_into_frames(transfer_bytes[:due], MTU_FRAME_BYTES)
        arrival_ps = np.repeat(start_ps[:due], frame_counts) + burst_offsets_ps(
            frame_counts, size_bytes, self._send_bps
        )
        return arrival_ps, size_bytes


def bounded_pareto_mean(alpha: float, low: float, high: float) -> float:
    """Mean of a Pareto(alpha) bounded to ``[low, high]`` (alpha != 1)."""
    return (
        low**alpha
        / (1.0 - (low / high) ** alpha)
        * alpha
        / (alpha - 1.0)
        * (low ** (1.0 - alpha) - high ** (1.0 - alpha))
    )


def _fixed(size_bytes: int) -> EventBytes:
    def draw(rng: np.random.Generator, count: int) -> SizeArray:
        return np.full(count, size_bytes, dtype=np.int64)

    return draw


def _uniform(low: int, high: int) -> EventBytes:
    def draw(rng: np.random.Generator, count: int) -> SizeArray:
        return rng.integers(low, high + 1, count, dtype=np.int64)

    return draw


def _gamma(mean_bytes: float, shape: float) -> EventBytes:
    def draw(rng: np.random.Generator, count: int) -> SizeArray:
        sizes = np.rint(rng.gamma(shape, mean_bytes / shape, count)).astype(np.int64)
        return np.maximum(sizes, MIN_FRAME_BYTES)

    return draw


def _periodic_bursts(
    rng: np.random.Generator,
    rate_bps: float,
    streams: int,
    burst_bytes: int,
    frame_bytes: int,
    send_bps: float,
) -> _Periodic:
    """``streams`` streams of fixed ``burst_bytes`` bursts, period set so the total is exact."""
    period_ps = 8.0 * burst_bytes * streams * PS_PER_S / rate_bps
    return _Periodic(
        rng,
        streams=streams,
        period_ps=period_ps,
        event_bytes=_fixed(burst_bytes),
        max_frame_bytes=frame_bytes,
        send_bps=send_bps,
        burst_ps=8.0 * burst_bytes * PS_PER_S / send_bps,
    )


class HouseholdSource(BufferedSource):
    """Busy-hour residential mix (video, web/bulk, gaming, video call, backup) as one stream.

    See the module docstring for every component's rates, packet sizes and the reasoning.
    """

    name = "household"

    def __init__(
        self,
        params: HouseholdParams,
        rng: np.random.Generator,
        *,
        line_rate_bps: float,
        where: str,
    ) -> None:
        super().__init__()
        direction = params.direction
        self.direction = direction
        self.mean_rate_bps = float(
            params.mean_bps if params.mean_bps is not None else DEFAULT_MEAN_BPS[direction]
        )
        self.transfer_bps = float(params.transfer_bps)
        self.shares = _normalise_shares(params.shares, direction, where)
        # One generator per component, always spawned in the same order, so a component's
        # packets do not depend on the other shares.
        rngs = dict(zip(COMPONENTS, rng.spawn(len(COMPONENTS)), strict=True))
        self._components: list[_Periodic | _PoissonTransfers] = []
        for component in COMPONENTS:
            share_bps = self.shares[component] * self.mean_rate_bps
            if share_bps > 0:
                self._components.extend(self._build(component, share_bps, rngs[component]))
        self._horizon_ps = 0

    def _build(
        self, component: str, rate_bps: float, rng: np.random.Generator
    ) -> list[_Periodic | _PoissonTransfers]:
        downstream = self.direction == "downstream"
        transfer_bps = self.transfer_bps
        if component == "video":
            stream_cap_bps = min(VIDEO_MAX_STREAM_BPS, transfer_bps / 2)
            if downstream:
                streams = math.ceil(rate_bps / stream_cap_bps)
                burst_bytes = round(rate_bps / streams * VIDEO_SEGMENT_PS / PS_PER_S / 8)
                return [
                    _periodic_bursts(
                        rng,
                        rate_bps,
                        streams,
                        max(burst_bytes, MIN_FRAME_BYTES),
                        MTU_FRAME_BYTES,
                        transfer_bps,
                    )
                ]
            streams = math.ceil(rate_bps / (stream_cap_bps * ACK_BYTES_PER_DATA_BYTE))
            acks = max(
                1, round(rate_bps / streams * VIDEO_SEGMENT_PS / PS_PER_S / 8 / MIN_FRAME_BYTES)
            )
            return [
                _periodic_bursts(
                    rng,
                    rate_bps,
                    streams,
                    acks * MIN_FRAME_BYTES,
                    MIN_FRAME_BYTES,
                    transfer_bps * ACK_BYTES_PER_DATA_BYTE,
                )
            ]
        if component == "web":
            alpha, low, high = WEB_PARETO[self.direction]
            return [
                _PoissonTransfers(
                    rng,
                    mean_bps=rate_bps,
                    alpha=alpha,
                    min_bytes=low,
                    max_bytes=high,
                    send_bps=transfer_bps,
                )
            ]
        if component == "gaming":
            low_bytes, high_bytes = GAMING_SIZES[self.direction]
            mean_bytes = (low_bytes + high_bytes) / 2
            sessions = max(1, round(rate_bps / (GAMING_TICK_HZ * 8 * mean_bytes)))
            return [
                _Periodic(
                    rng,
                    streams=sessions,
                    period_ps=8 * mean_bytes * sessions * PS_PER_S / rate_bps,
                    event_bytes=_uniform(low_bytes, high_bytes),
                    max_frame_bytes=MTU_FRAME_BYTES,
                    send_bps=transfer_bps,
                    jitter_ps=GAMING_JITTER_PS,
                )
            ]
        if component == "call":
            calls = math.ceil(rate_bps / CALL_MAX_BPS)
            call_bps = rate_bps / calls
            audio_bps = min(CALL_AUDIO_PPS * CALL_AUDIO_BYTES * 8, call_bps / 2)
            video_bps = call_bps - audio_bps
            fps = min(CALL_VIDEO_FPS, video_bps / (8 * CALL_RTP_FRAME_BYTES))
            frame_bytes = video_bps / (8 * fps)
            audio_rng, video_rng = rng.spawn(2)
            return [
                _Periodic(
                    audio_rng,
                    streams=calls,
                    period_ps=8 * CALL_AUDIO_BYTES * PS_PER_S / audio_bps,
                    event_bytes=_fixed(CALL_AUDIO_BYTES),
                    max_frame_bytes=MTU_FRAME_BYTES,
                    send_bps=transfer_bps,
                ),
                _Periodic(
                    video_rng,
                    streams=calls,
                    period_ps=PS_PER_S / fps,
                    event_bytes=_gamma(frame_bytes, CALL_FRAME_SHAPE),
                    max_frame_bytes=CALL_RTP_FRAME_BYTES,
                    send_bps=CALL_PACING_FACTOR * call_bps,
                ),
            ]
        # backup
        streams = math.ceil(rate_bps / (transfer_bps / 2))
        burst_bytes = max(
            MIN_FRAME_BYTES, round(rate_bps / streams * BACKUP_PERIOD_PS / PS_PER_S / 8)
        )
        return [
            _periodic_bursts(rng, rate_bps, streams, burst_bytes, MTU_FRAME_BYTES, transfer_bps)
        ]

    def _start(self, origin_ps: int) -> None:
        for component in self._components:
            component.start(origin_ps)
        self._horizon_ps = origin_ps

    def _extend(self) -> tuple[TimeArray, SizeArray, int]:
        horizon_ps = self._horizon_ps + STEP_PS
        self._horizon_ps = horizon_ps
        parts = [component.advance(horizon_ps) for component in self._components]
        arrival_ps = np.concatenate([part[0] for part in parts])
        size_bytes = np.concatenate([part[1] for part in parts])
        order = np.argsort(arrival_ps, kind="stable")
        # Every event starting at or after the horizon is still to come, and frames never
        # arrive before their event starts: the mix is complete up to the horizon.
        return arrival_ps[order], size_bytes[order], horizon_ps


def _normalise_shares(
    shares: dict[str, float] | None, direction: str, where: str
) -> dict[str, float]:
    if shares is None:
        return dict(DEFAULT_SHARES[direction])
    for component, weight in shares.items():
        if component not in COMPONENTS:
            raise InputError(
                f"{where}.shares.{component}", f"unknown component; valid: {', '.join(COMPONENTS)}"
            )
        if not (weight >= 0 and math.isfinite(weight)):
            raise InputError(f"{where}.shares.{component}", f"must be a weight >= 0, got {weight}")
    total = sum(shares.values())
    if total <= 0:
        raise InputError(f"{where}.shares", "at least one component needs a weight > 0")
    return {component: shares.get(component, 0.0) / total for component in COMPONENTS}
