"""The OLT side of activation: discovery windows, serial-number acquisition, ranging, alarms.

Discovery (G.984.3 §10.3, G.987.3 §12.2)
    The OLT cannot know where a new ONU is, so it asks every unregistered ONU at once: a
    serial-number (SN) grant to the broadcast Alloc-ID, with a *quiet window* around it in
    which no ranged ONU is granted, long enough for an answer from anywhere in the
    differential reach (``ftth.phy.SN_QUIET_WINDOW_PS``: 250 µs for 20 km, 450 µs for 40 km).
    Each ONU answers after its own random delay (uniform in 0–48 µs, drawn afresh for every
    grant), so two ONUs at nearly the same distance are unlikely to answer on top of each
    other.  When two answers overlap the OLT reads neither (a *collision*); both ONUs stay in
    the serial-number state and answer the next SN grant with new delays.  The OLT here
    repeats a window that saw a collision as soon as no ranging is pending (the standards
    leave the schedule to the OLT) and otherwise opens one every
    ``activation.discovery_period_ms``.

Ranging (G.984.3 §10.4, G.987.3 §12.3)
    Each ONU the OLT heard gets an ONU-ID (Assign_ONU-ID) and then a ranging grant of its own
    inside a second quiet window (``RANGING_QUIET_WINDOW_PS``, 202 / 402 µs), one ONU per
    window.  The OLT measures the round-trip time (RTT) of the answer and sends the
    equalisation delay ``EqD = Teqd − RTT`` (Ranging_Time), counted in bits of the upstream
    line rate; from then on a burst the BWmap places at StartTime ``s`` of frame ``k``
    reaches the OLT at ``t_k + Teqd + s`` whatever the ONU's distance
    (:func:`burst_arrival_ps`).

Alarms (G.984.3 §11.1, G.987.3 §11.1)
    LOBi (XG; LOSi in GPON) when an ONU's bursts are missing for
    ``ftth.phy.LOBI_MISSED_BURSTS`` allocations in a row; LOS for the whole PON when no light
    arrives for ``OLT_LOS_FRAMES`` frames; DGi when an ONU's last burst carried the dying-gasp
    indication.  A rogue ONU (laser on outside its grants) corrupts the bursts it overlaps;
    after ``ROGUE_DETECT_FRAMES`` corrupted frames the OLT searches for it by halves
    (``ROGUE_PROBE_FRAMES`` a probe, G.Sup49) and disables it (Disable_Serial_Number → O7).

Everything here is arithmetic on integer picoseconds and frames, plus the OLT's alarm books
(:class:`BurstWatch`, :class:`LosWatch`) and its window policy (:func:`next_window`); the
simulation that uses them is :func:`ftth.emulator.control.simulate_control`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ftth.phy import (
    LOBI_MISSED_BURSTS,
    OLT_LOS_FRAMES,
    RANGING_QUIET_WINDOW_PS,
    ROGUE_DETECT_FRAMES,
    ROGUE_PROBE_FRAMES,
    SN_QUIET_WINDOW_PS,
    SN_RANDOM_DELAY_MAX_PS,
    FecCode,
    Profile,
    burst_line_bytes,
)


def _differential_key(max_differential_km: float) -> int:
    """20 or 40: the window tables are indexed by the supported differential reaches."""
    return 20 if max_differential_km <= 20 else 40


def sn_window_ps(max_differential_km: float) -> int:
    """Length of a serial-number quiet window (pon-reference §4)."""
    return SN_QUIET_WINDOW_PS[_differential_key(max_differential_km)]


def ranging_window_ps(max_differential_km: float) -> int:
    """Length of a ranging quiet window (pon-reference §4)."""
    return RANGING_QUIET_WINDOW_PS[_differential_key(max_differential_km)]


def window_frames(window_ps: int, frame_ps: int) -> int:
    """Upstream frames a quiet window starting at a frame boundary touches (ceil)."""
    return -(-window_ps // frame_ps)


def quiet_spans(start_frame: int, window_ps: int, frame_ps: int) -> list[tuple[int, int]]:
    """``(frame, quiet_ps)`` for a window that starts at the start of ``start_frame``.

    Whole frames first, the remainder in the last: 250 µs → 125 + 125, 202 µs → 125 + 77.
    """
    out = []
    left = window_ps
    frame = start_frame
    while left > 0:
        take = min(left, frame_ps)
        out.append((frame, take))
        left -= take
        frame += 1
    return out


def bit_ps(profile: Profile) -> float:
    """Duration of one upstream bit (EqD is counted in these, G.987.3 §12.3.2)."""
    return profile.frame_ps / (profile.us_bytes_per_frame * 8)


def sn_response_ps(profile: Profile, fec: FecCode | None) -> int:
    """Time on the fibre of a serial-number answer: a burst carrying one PLOAMu and no data."""
    line = burst_line_bytes(profile, 0, fec, ploam=True)
    return -(-line * profile.frame_ps // profile.us_bytes_per_frame)


def random_delays_ps(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` serial-number response delays, uniform in ``[0, SN_RANDOM_DELAY_MAX_PS)``."""
    return rng.integers(0, SN_RANDOM_DELAY_MAX_PS, size=n, dtype=np.int64)


@dataclass(frozen=True)
class SnOutcome:
    """What the OLT made of one serial-number window.

    Attributes
    ----------
    heard
        Positions (into the answering list) of the answers read cleanly, in arrival order.
    collided
        Positions of answers that overlapped another (read as garbage), in arrival order.
    arrival_ps
        Arrival offset of every answer from the window start.
    """

    heard: tuple[int, ...]
    collided: tuple[int, ...]
    arrival_ps: tuple[int, ...]


def resolve_sn_window(
    rtt_ps: Sequence[int],
    nearest_rtt_ps: int,
    delays_ps: Sequence[int],
    response_ps: int,
    window_ps: int,
) -> SnOutcome:
    """Which answers of one SN window the OLT reads.

    Parameters
    ----------
    rtt_ps
        Round-trip time of each answering ONU (unranged: no EqD yet).
    nearest_rtt_ps
        RTT at the near edge of the window (the nearest ONU the tree can hold); an answer's
        offset in the window is ``rtt − nearest_rtt + delay``.
    delays_ps
        Each ONU's random delay for this grant.
    response_ps
        Duration of one answer on the fibre (:func:`sn_response_ps`).
    window_ps
        Window length: an answer must end inside it.

    Returns
    -------
    SnOutcome
        Two answers collide when their intervals ``[offset, offset + response)`` overlap;
        an answer ending after the window is lost as well (listed with ``collided``).
    """
    offsets = [int(r) - nearest_rtt_ps + int(d) for r, d in zip(rtt_ps, delays_ps, strict=True)]
    order = sorted(range(len(offsets)), key=lambda i: (offsets[i], i))
    heard: list[int] = []
    collided: list[int] = []
    for rank, i in enumerate(order):
        start = offsets[i]
        clash = (rank > 0 and offsets[order[rank - 1]] + response_ps > start) or (
            rank + 1 < len(order) and start + response_ps > offsets[order[rank + 1]]
        )
        if clash or start < 0 or start + response_ps > window_ps:
            collided.append(i)
        else:
            heard.append(i)
    return SnOutcome(tuple(heard), tuple(collided), tuple(offsets))


def measured_rtt_ps(true_rtt_ps: int, profile: Profile) -> int:
    """The RTT the OLT measures from a ranging answer: to the upstream bit (it delineates the
    burst at bit resolution), i.e. the true RTT rounded to a whole number of bits."""
    bit = bit_ps(profile)
    return round(round(true_rtt_ps / bit) * bit)


def assign_eqd_ps(teqd_ps: int, measured_rtt: int, profile: Profile) -> int:
    """``EqD = Teqd − RTT``, sent in whole upstream bits (G.984.3 §10.4.2, G.987.3 §12.3.2)."""
    bit = bit_ps(profile)
    return round(round((teqd_ps - measured_rtt) / bit) * bit)


def burst_arrival_ps(
    frame_start_ps: int,
    one_way_ps: int,
    response_ps: int,
    eqd_ps: int,
    start_unit: int,
    profile: Profile,
) -> int:
    """When a burst the BWmap put at ``start_unit`` grant units reaches the OLT.

    The ONU sees frame ``k`` ``one_way`` after ``t_k``, waits its response time and its EqD,
    transmits at StartTime, and the light needs ``one_way`` back.
    """
    unit_offset_ps = start_unit * profile.grant_unit_bytes * profile.frame_ps
    unit_offset_ps //= profile.us_bytes_per_frame
    return frame_start_ps + one_way_ps + response_ps + eqd_ps + unit_offset_ps + one_way_ps


def rogue_isolation_frames(active_onus: int) -> tuple[int, int]:
    """``(detect, isolate)`` frames after a rogue ONU starts: detection after
    ``ROGUE_DETECT_FRAMES`` corrupted frames, then a search by halves over the active ONUs,
    ``ROGUE_PROBE_FRAMES`` a probe, before Disable_Serial_Number."""
    probes = math.ceil(math.log2(active_onus)) if active_onus > 1 else 1
    detect = ROGUE_DETECT_FRAMES
    return detect, detect + probes * ROGUE_PROBE_FRAMES


def lobi_frame(last_burst_frame: int) -> int:
    """The frame in which the OLT raises LOBi after the ONU's last burst in ``last_burst_frame``:
    ``LOBI_MISSED_BURSTS`` allocations missed, one a frame (every ranged ONU is polled at
    least once per frame while the control plane runs)."""
    return last_burst_frame + LOBI_MISSED_BURSTS


@dataclass
class BurstWatch:
    """The OLT's books on one ranged ONU's bursts: LOBi (GPON: LOSi) and the dying gasp.

    Attributes
    ----------
    missed
        Consecutive allocations without a delineated burst.
    lobi
        LOBi raised and not cleared.
    dying_gasp
        The ONU's last burst carried the dying-gasp indication (it is switching off).
    """

    missed: int = 0
    lobi: bool = False
    dying_gasp: bool = False

    def frame(self, burst: bool) -> str | None:
        """Account one frame's allocation: ``burst`` is whether the ONU's burst arrived.

        Returns
        -------
        str or None
            ``"LOBi"`` at the ``LOBI_MISSED_BURSTS``-th missed burst (``"DGi"`` instead when
            a dying gasp announced it: the ONU is deactivated, no alarm), ``"LOBi-cleared"``
            at the first burst after a LOBi, else ``None``.
        """
        if burst:
            self.missed = 0
            if self.lobi:
                self.lobi = False
                return "LOBi-cleared"
            return None
        self.missed += 1
        if self.missed == LOBI_MISSED_BURSTS:
            if self.dying_gasp:
                return "DGi"
            self.lobi = True
            return "LOBi"
        return None

    def at_rest(self, burst: bool) -> bool:
        """True when a frame with ``burst`` would change nothing now or later (the counter
        is compared with ``==``, so past the threshold it never fires again)."""
        if burst:
            return self.missed == 0 and not self.lobi
        return self.missed >= LOBI_MISSED_BURSTS


@dataclass
class LosWatch:
    """The PON-wide LOS at the OLT: no upstream light for ``OLT_LOS_FRAMES`` frames while
    ranged ONUs should be sending (G.984.3 §11.1.1; a feeder cut)."""

    frames: int = 0
    raised: bool = False

    def frame(self, expecting: bool, any_burst: bool) -> str | None:
        """Account one frame; ``"LOS"`` when raised, ``"LOS-cleared"`` when light returns."""
        if expecting and not any_burst:
            self.frames += 1
            if self.frames == OLT_LOS_FRAMES and not self.raised:
                self.raised = True
                return "LOS"
            return None
        self.frames = 0
        if self.raised and any_burst:
            self.raised = False
            return "LOS-cleared"
        return None

    def at_rest(self, expecting: bool, any_burst: bool) -> bool:
        """True when such frames change nothing (see :meth:`BurstWatch.at_rest`)."""
        if self.raised:
            return not any_burst
        if expecting and not any_burst:
            return self.frames >= OLT_LOS_FRAMES
        return self.frames == 0


def next_window(ranging_pending: bool, sn_due: bool) -> str | None:
    """The OLT's choice for a free slot: range the next ONU the OLT has heard before opening
    a serial-number window (so discovered ONUs reach operation first), else a due SN
    window, else nothing.  The standards leave this schedule to the OLT."""
    if ranging_pending:
        return "ranging"
    if sn_due:
        return "sn"
    return None
