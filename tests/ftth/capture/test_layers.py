"""The scapy layers: one declaration builds and parses every header; HEC and CRC rules."""

from __future__ import annotations

import random

import pytest
from scapy.layers.l2 import Ether

from ftth import phy
from ftth.capture.layers import (
    FtthTc,
    GemHeader,
    GponAllocation,
    GponDbru,
    Mpcp,
    MpcpGate,
    MpcpGrant,
    MpcpQueueReport,
    MpcpQueueSet,
    MpcpReport,
    XgAllocation,
    XgBurst,
    XgDbru,
    XgDownstream,
    XgemHeader,
    XgPloam,
    XgSection,
    bch_hec,
    build_flat,
    crc8,
)

FLAT = {
    XgAllocation: {"alloc_id": 14, "flags": 2, "start_time": 16, "grant_size": 16,
                   "fwi": 1, "burst_profile": 2},
    XgemHeader: {"pli": 14, "key_index": 2, "port_id": 16, "options": 18, "lf": 1},
    GemHeader: {"pli": 12, "port_id": 12, "pti": 3},
    GponAllocation: {"alloc_id": 12, "plsu": 1, "ploamu": 1, "fec": 1, "dbru": 2,
                     "start_time": 16, "stop_time": 16},
    XgDbru: {"bufocc": 24},
    GponDbru: {"dba": 8},
    FtthTc: {"technology": 2, "link": 1, "frame": 32, "onu_id": 16},
}  # fmt: skip


@pytest.mark.parametrize("cls", list(FLAT), ids=lambda c: c.__name__)
def test_flat_build_is_the_scapy_build(cls: type) -> None:
    """build_flat (the writer's fast path) gives the bytes scapy builds, and scapy parses
    them back to the same field values."""
    rng = random.Random(7)
    for _ in range(200):
        values = {name: rng.randrange(1 << bits) for name, bits in FLAT[cls].items()}
        data = build_flat(cls, values)
        assert data == bytes(cls(**values))
        back = cls(data)
        for name, value in values.items():
            assert int(getattr(back, name)) == value, name


def test_header_sizes_follow_the_standards() -> None:
    assert len(bytes(XgemHeader())) == phy.XGS_PON.encap_header_bytes == 8
    assert len(bytes(GemHeader())) == phy.GPON.encap_header_bytes == 5
    assert len(bytes(XgAllocation())) == phy.XGS_PON.ds_bytes_per_allocation == 8
    assert len(bytes(GponAllocation())) == phy.GPON.ds_bytes_per_allocation == 8
    assert len(bytes(XgDbru())) == phy.XGS_PON.dbru_bytes == 4
    assert len(bytes(GponDbru())) == phy.GPON.dbru_bytes == 2
    assert len(bytes(XgPloam())) == phy.XGS_PON.ds_ploam_bytes == 48
    # PSBd + HLend: 24 + 4 bytes (G.987.3 §10.1.1, §8.1.1).
    assert len(bytes(XgDownstream())) == phy.XGS_PON.ds_sync_bytes + 4
    # Upstream XGTC header and trailer (G.987.3 §8.2.1, §8.2.4).
    assert len(bytes(XgBurst())) == phy.XGS_PON.us_burst_header_bytes + 4


def test_hec_is_a_bch_codeword_with_even_parity() -> None:
    rng = random.Random(3)
    for n_bits in (19, 27, 51):
        for _ in range(100):
            data = rng.randrange(1 << n_bits)
            hec = bch_hec(data, n_bits)
            word = data << 12 | hec >> 1
            # The BCH part: data·x^12 + remainder is a multiple of the generator.
            reg = word
            for bit in range(n_bits + 11, 11, -1):
                if reg >> bit & 1:
                    reg ^= phy.HEC_BCH_GENERATOR << (bit - 12)
            assert reg & 0xFFF == 0
            assert bin(word << 1 | (hec & 1)).count("1") % 2 == 0


def test_crc8_check_value() -> None:
    """CRC-8 with x^8+x^2+x+1 and initial value 0: the catalogued check value of
    "123456789" is 0xF4."""
    assert crc8(b"123456789") == 0xF4


def test_xgem_header_fields_parse_from_known_bits() -> None:
    """PLI in the top 14 bits, Port-ID after the 2-bit key index, LF just above the HEC."""
    data = bytes(XgemHeader(pli=1, key_index=0, port_id=0xFFFF, options=0, lf=1))
    word = int.from_bytes(data, "big")
    assert word >> 50 == 1 and (word >> 32) & 0xFFFF == 0xFFFF and (word >> 13) & 1 == 1


def test_section_round_trip() -> None:
    sec = XgSection(
        allocation=[XgAllocation(alloc_id=1030, flags="DBRu", start_time=40, grant_size=9)],
        idle_bytes=12,
        dbru=[XgDbru(bufocc=99)],
        xgem=[XgemHeader(pli=100, port_id=1030, lf=0), XgemHeader(pli=30, port_id=1030)],
    )
    back = XgSection(bytes(sec))
    assert back.n_xgem == 2 and back.idle_bytes == 12 and back.dbru[0].bufocc == 99
    assert [int(x.pli) for x in back.xgem] == [100, 30]
    assert bytes(back) == bytes(sec)


def test_mpcp_gate_and_report_round_trip() -> None:
    """IEEE 802.3 §64.3.6: GATE with grants (and the sync time of a discovery GATE) and
    REPORT with queue sets, through Ethernet's MAC Control EtherType."""
    gate = (
        Ether(dst=phy.MPCP_DESTINATION_MAC, src="02:00:00:00:00:01")
        / Mpcp(opcode=phy.MPCP_OPCODE_GATE, timestamp=123456)
        / MpcpGate(
            discovery=1,
            grants=[MpcpGrant(start=1000 + i, length=100 * i) for i in range(3)],
            sync_time=77,
        )
    )
    back = Ether(bytes(gate))
    assert back.type == phy.ETHERTYPE_MAC_CONTROL
    g = back[MpcpGate]
    assert g.n_grants == 3 and [int(x.length) for x in g.grants] == [0, 100, 200]
    assert g.sync_time == 77 and back[Mpcp].timestamp == 123456
    report = (
        Ether(dst=phy.MPCP_DESTINATION_MAC)
        / Mpcp(opcode=phy.MPCP_OPCODE_REPORT)
        / MpcpReport(
            sets=[
                MpcpQueueSet(bitmap=0b101, reports=[MpcpQueueReport(quanta=v) for v in (5, 9)])
                for _ in range(2)
            ]
        )
    )
    back = Ether(bytes(report))
    sets = back[MpcpReport].sets
    assert back[MpcpReport].n_sets == 2
    assert [[int(r.quanta) for r in s.reports] for s in sets] == [[5, 9], [5, 9]]
