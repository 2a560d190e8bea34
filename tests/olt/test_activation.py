"""The OLT side of activation: quiet windows, serial-number collisions, ranging arithmetic.

The collision rule is checked against its analytic probability, the ranging against the
BWmap: after ranging, a burst the BWmap puts at StartTime ``s`` reaches the OLT in grant
unit ``s`` of the equalised upstream frame, for 64 ONUs over 0–20 km (issue 12).
"""

from __future__ import annotations

import numpy as np
import pytest

from ftth.phy import (
    LOBI_MISSED_BURSTS,
    OLT_LOS_FRAMES,
    ONU_RESPONSE_TIME_PS,
    ROGUE_DETECT_FRAMES,
    ROGUE_PROBE_FRAMES,
    SN_RANDOM_DELAY_MAX_PS,
    XGS_PON,
    get_profile,
)
from ftth.topology import build_topology
from ftth.units import FRAME_PS, PS_PER_US
from olt.activation import (
    BurstWatch,
    LosWatch,
    assign_eqd_ps,
    bit_ps,
    burst_arrival_ps,
    lobi_frame,
    measured_rtt_ps,
    next_window,
    quiet_spans,
    random_delays_ps,
    ranging_window_ps,
    resolve_sn_window,
    rogue_isolation_frames,
    sn_response_ps,
    sn_window_ps,
    window_frames,
)


def test_window_lengths_are_pon_reference_s4() -> None:
    assert sn_window_ps(20) == 250 * PS_PER_US and sn_window_ps(40) == 450 * PS_PER_US
    assert ranging_window_ps(20) == 202 * PS_PER_US and ranging_window_ps(40) == 402 * PS_PER_US
    # A window must hold an answer from anywhere in the differential reach: 2 × 5 µs/km ×
    # the reach, plus the largest random delay.
    for km in (20, 40):
        assert sn_window_ps(km) >= 2 * 5 * PS_PER_US * km + SN_RANDOM_DELAY_MAX_PS


def test_quiet_spans_split_over_frames() -> None:
    assert quiet_spans(10, 202 * PS_PER_US, FRAME_PS) == [(10, FRAME_PS), (11, 77 * PS_PER_US)]
    assert quiet_spans(0, 250 * PS_PER_US, FRAME_PS) == [(0, FRAME_PS), (1, FRAME_PS)]
    assert window_frames(202 * PS_PER_US, FRAME_PS) == 2
    assert window_frames(450 * PS_PER_US, FRAME_PS) == 4


def test_sn_answer_duration() -> None:
    # XGS-PON: PSBu 232 B in a 240-byte slot + FEC-coded (header 4 + PLOAMu 48 + trailer 4)
    # = ceil(56 × 248 / 216) = 65 bytes: 305 line bytes of 155 520 per 125 µs.
    fec = XGS_PON.us_fec
    assert sn_response_ps(XGS_PON, fec) == -(-305 * FRAME_PS // 155_520)
    # GPON, no FEC: 12 bytes of physical overhead + PLOu 3 + PLOAMu 13 ... per the profile.
    gpon = get_profile("gpon")
    line = gpon.burst.total_bytes + gpon.us_burst_header_bytes + gpon.us_burst_trailer_bytes
    line += gpon.us_ploam_bytes
    assert sn_response_ps(gpon, None) == -(-line * FRAME_PS // gpon.us_bytes_per_frame)


def test_collision_rule() -> None:
    resp = 300_000  # 0.3 µs
    window = sn_window_ps(20)
    # Same distance, delays 0.2 µs apart: overlap → both lost.  A third 10 µs later is read.
    out = resolve_sn_window([100, 100, 100], 100, [0, 200_000, 10_000_000], resp, window)
    assert out.collided == (0, 1) and out.heard == (2,)
    # Exactly one answer length apart: touching, not overlapping.
    out = resolve_sn_window([100, 100], 100, [0, resp], resp, window)
    assert out.heard == (0, 1) and out.collided == ()
    # An answer that would end after the window is lost.
    out = resolve_sn_window([100], 100, [window - resp + 1], resp, window)
    assert out.heard == () and out.collided == (0,)


def test_random_delays_are_seeded_and_in_range() -> None:
    a = random_delays_ps(np.random.default_rng(7), 1000)
    b = random_delays_ps(np.random.default_rng(7), 1000)
    assert (a == b).all()
    assert a.min() >= 0 and a.max() < SN_RANDOM_DELAY_MAX_PS


def test_collision_probability_matches_the_analytic_value() -> None:
    """Two ONUs at the same distance collide when their uniform delays in [0, D) fall within
    one answer length b: P = 2b/D − (b/D)².  20 000 windows; tolerance 4 standard deviations."""
    fec = XGS_PON.us_fec
    b = sn_response_ps(XGS_PON, fec)
    d = SN_RANDOM_DELAY_MAX_PS
    p = 2 * b / d - (b / d) ** 2
    rng = np.random.default_rng(2026)
    trials = 20_000
    hits = 0
    for _ in range(trials):
        delays = random_delays_ps(rng, 2).tolist()
        out = resolve_sn_window([0, 0], 0, delays, b, sn_window_ps(20))
        hits += len(out.collided) == 2
    sigma = (trials * p * (1 - p)) ** 0.5
    assert abs(hits - trials * p) < 4 * sigma, (hits, trials * p)


def test_after_ranging_every_burst_lands_where_the_bwmap_put_it() -> None:
    """64 XGS-PON ONUs over 0–20 km: the OLT measures each RTT to the bit, sends EqD in bits;
    a burst at StartTime s of frame k then reaches the OLT in grant unit s of upstream frame k
    (which starts at t_k + Teqd), to the unit, for every ONU and StartTime."""
    profile = XGS_PON
    drops = np.linspace(0.0, 20.0, 64)
    topo = build_topology(profile, 0.0, {i + 1: float(d) for i, d in enumerate(drops)}, [64])
    unit_ps = profile.grant_unit_bytes * FRAME_PS / profile.us_bytes_per_frame
    rng = np.random.default_rng(1)
    for place in topo.places:
        rtt = measured_rtt_ps(place.rtt_ps, profile)
        eqd = assign_eqd_ps(topo.teqd_ps, rtt, profile)
        # the OLT's EqD is the topology's Teqd − RTT to within one upstream bit
        assert abs(eqd - place.eqd_ps) <= bit_ps(profile)
        for start in rng.integers(0, profile.max_start_units + 1, size=16).tolist():
            frame = int(rng.integers(0, 8000))
            t_k = frame * FRAME_PS
            arrival = burst_arrival_ps(
                t_k, place.one_way_ps, ONU_RESPONSE_TIME_PS, eqd, start, profile
            )
            offset = arrival - (t_k + topo.teqd_ps)
            assert int(round(offset / unit_ps)) == start
            assert abs(offset - start * unit_ps) < unit_ps / 2


def test_rogue_isolation_and_lobi_frames() -> None:
    assert rogue_isolation_frames(8) == (
        ROGUE_DETECT_FRAMES,
        ROGUE_DETECT_FRAMES + 3 * ROGUE_PROBE_FRAMES,
    )
    assert rogue_isolation_frames(64)[1] == ROGUE_DETECT_FRAMES + 6 * ROGUE_PROBE_FRAMES
    assert rogue_isolation_frames(1)[1] == ROGUE_DETECT_FRAMES + ROGUE_PROBE_FRAMES
    assert lobi_frame(100) == 104


@pytest.mark.parametrize("technology", ["gpon", "xg-pon", "xgs-pon"])
def test_eqd_is_counted_in_upstream_bits(technology: str) -> None:
    profile = get_profile(technology)
    eqd = assign_eqd_ps(235 * PS_PER_US, 123_456_789, profile)
    bit = bit_ps(profile)
    # a whole number of bits, held in integer picoseconds (rounding ≤ 0.5 ps)
    assert abs(eqd - round(eqd / bit) * bit) <= 0.5


def test_burst_watch_raises_lobi_at_the_fourth_missed_burst() -> None:
    watch = BurstWatch()
    assert [watch.frame(False) for _ in range(LOBI_MISSED_BURSTS + 2)] == [None] * (
        LOBI_MISSED_BURSTS - 1
    ) + ["LOBi", None, None]
    assert watch.at_rest(False) and not watch.at_rest(True)
    assert watch.frame(True) == "LOBi-cleared" and watch.frame(True) is None
    assert watch.at_rest(True)
    gasp = BurstWatch(dying_gasp=True)
    assert [gasp.frame(False) for _ in range(LOBI_MISSED_BURSTS)][-1] == "DGi"
    assert not gasp.lobi


def test_los_watch() -> None:
    los = LosWatch()
    out = [los.frame(True, False) for _ in range(OLT_LOS_FRAMES + 1)]
    assert out == [None] * (OLT_LOS_FRAMES - 1) + ["LOS", None]
    assert los.at_rest(True, False) and not los.at_rest(True, True)
    assert los.frame(True, True) == "LOS-cleared" and los.at_rest(True, True)
    assert LosWatch().frame(False, False) is None  # nothing expected, nothing missing


def test_ranging_goes_before_discovery() -> None:
    assert next_window(True, True) == "ranging"
    assert next_window(False, True) == "sn"
    assert next_window(False, False) is None
