"""The frame anatomy adds up to the frame and its goodput is the saturation ceiling."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ftth.phy import (
    GPON,
    PROFILES,
    XGS_PON,
    burst_line_bytes,
    saturation_goodput_bps,
)
from ftth.views.anatomy import downstream_anatomy, frame_anatomy, upstream_anatomy
from ftth.views.legend import KIND_BY_KEY

CASES = [
    (name, onus, packet)
    for name in PROFILES
    for onus in (1, 7, 32, 64)
    for packet in (64, 594, 1518)
]


@pytest.mark.parametrize(("name", "onus", "packet"), CASES)
def test_parts_add_up_and_goodput_is_the_ceiling(name: str, onus: int, packet: int) -> None:
    profile = PROFILES[name]
    for anatomy in frame_anatomy(profile, onus, packet):
        # Exact: every part is a Fraction, so the sum is the frame, not "close to" it.
        assert anatomy.total_bytes == anatomy.frame_bytes
        if profile.framed:
            frame = (
                profile.ds_bytes_per_frame
                if anatomy.direction == "downstream"
                else profile.us_bytes_per_frame
            )
            assert anatomy.frame_bytes == frame
        # saturation_goodput_bps works in floats, the anatomy in exact fractions: they agree
        # to float rounding (a few ulp), hence rel 1e-12.
        expected = saturation_goodput_bps(profile, anatomy.direction, onus, packet)
        assert anatomy.goodput_bps == pytest.approx(expected, rel=1e-12)
        assert all(part.kind in KIND_BY_KEY for part in anatomy.parts)
        assert all(part.bytes >= 0 for part in anatomy.parts)


@pytest.mark.parametrize("name", ["gpon", "xg-pon", "xgs-pon"])
@pytest.mark.parametrize("fec", [None, True, False])
def test_upstream_with_dbru_and_fec_choices(name: str, fec: bool | None) -> None:
    profile = PROFILES[name]
    anatomy = upstream_anatomy(profile, 16, 1518, fec, dbru=True)
    assert anatomy.total_bytes == profile.us_bytes_per_frame
    expected = saturation_goodput_bps(profile, "upstream", 16, 1518, fec, dbru=True)
    assert anatomy.goodput_bps == pytest.approx(expected, rel=1e-12)
    assert anatomy.bytes_of("dbru") == 16 * profile.dbru_bytes


@pytest.mark.parametrize("name", ["gpon", "xg-pon", "xgs-pon"])
def test_bursts_are_laid_end_to_end_with_maximal_grants(name: str) -> None:
    profile = PROFILES[name]
    anatomy = upstream_anatomy(profile, 7)
    code = profile.fec("upstream", None)
    start = 0
    for burst in anatomy.bursts:
        assert burst.start == start
        at = Fraction(start)
        for field in burst.fields:
            assert field.offset == at  # no gap, no overlap
            at += field.bytes
        assert at == start + burst.line_bytes
        # The grant fits its burst, and one more grant unit would not.
        assert burst_line_bytes(profile, burst.grant_bytes, code) <= burst.line_bytes
        unit = profile.grant_unit_bytes
        assert burst_line_bytes(profile, burst.grant_bytes + unit, code) > burst.line_bytes
        start += burst.line_bytes
    assert start == profile.us_bytes_per_frame


def test_xgs_pon_one_onu_by_hand() -> None:
    # One ONU owns the whole 155 520-byte frame.  PSBu 64+160+8 = 232 B in a 240 B slot
    # (15 units of 16 B); 155 280 coded bytes carry floor(155 280·216/248) = 135 243 data
    # bytes, so 20 037 bytes of parity; minus header and trailer (8 B) 135 235 bytes, of
    # which whole 16 B units give GrantSize 135 232 and 3 bytes are rounding.
    anatomy = upstream_anatomy(XGS_PON, 1)
    (burst,) = anatomy.bursts
    assert burst.grant_bytes == 135_232
    by_name = {part.name: part.bytes for part in anatomy.parts}
    assert by_name["FEC parity"] == 20_037
    assert by_name["unused: grant-unit rounding"] == 3
    assert by_name["PSBu slot alignment"] == 8
    # The grant holds one cut fragment (8 B header) and then 1518 B frames at
    # 8 + 1520 B each (payload padded to 4 B): (135 232 − 8)/1528 frames.
    assert by_name["Ethernet frames (goodput)"] == Fraction(135_224, 1528) * 1518


def test_xgs_pon_downstream_by_hand() -> None:
    # PSBd 24 B unprotected; 155 496 B = 627 codewords of RS(248,216): 20 064 B parity.
    anatomy = downstream_anatomy(XGS_PON, 32)
    by_name = {part.name: part.bytes for part in anatomy.parts}
    assert by_name["FEC parity"] == 627 * 32
    assert by_name["BWmap allocation structures"] == 32 * 8
    assert anatomy.layout[0].name.startswith("PSBd") and anatomy.layout[0].bytes == 24
    at = Fraction(0)
    for field in anatomy.layout:
        assert field.offset == at
        at += field.bytes
    assert at == XGS_PON.ds_bytes_per_frame


def test_gpon_downstream_has_no_fec_by_default() -> None:
    anatomy = downstream_anatomy(GPON, 32)
    assert anatomy.bytes_of("fec") == 0
    assert anatomy.fec is None
    # PCBd 30 + 32 BWmap entries of 8 B (G.984.3 §8.1.3).
    assert anatomy.bytes_of("header") + anatomy.bytes_of("bwmap") == 30 + 256


def test_json_form_keeps_exact_values() -> None:
    data = downstream_anatomy(XGS_PON, 32).to_dict()
    assert sum(Fraction(part["bytes_exact"]) for part in data["parts"]) == 155_520
    assert data["goodput_bps"] == pytest.approx(
        saturation_goodput_bps(XGS_PON, "downstream", 32), rel=1e-12
    )


@pytest.mark.parametrize("name", ["gpon", "xg-pon", "xgs-pon"])
def test_the_downstream_bwmap_schedules_the_upstream_bursts(name: str) -> None:
    profile = PROFILES[name]
    down, up = frame_anatomy(profile, 5, dbru=True)
    unit = profile.grant_unit_bytes
    slot = -(-profile.burst.total_bytes // unit) * unit  # PSBu rounded up to the unit
    assert len(down.bwmap) == len(up.bursts) == 5
    for (onu, start, grant), burst in zip(down.bwmap, up.bursts, strict=True):
        assert onu == burst.onu
        assert start * unit == burst.start + slot  # StartTime: first unit after the PSBu
        assert grant * unit == burst.grant_bytes
        assert 0 <= start <= profile.max_start_units
        assert 0 < grant <= profile.max_grant_units
