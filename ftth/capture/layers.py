"""The TC-layer headers as scapy packets: declared once, used to write and to read captures.

Standards (field widths in :mod:`ftth.phy`): GPON G.984.3 §8 (PCBd with PLOAMd and the US
BW map, upstream PLOu and DBRu, GEM header); XG-PON G.987.3 §8-§10 and XGS-PON G.9807.1
Annex C (PSBd, HLend, allocation structures, PLOAM, XGEM header, upstream XGTC header,
DBRu, trailer); EPON IEEE 802.3 §64.3.6 (MPCP GATE and REPORT).

The TC capture (linktype :data:`ftth.phy.LINKTYPE_USER0`, 147) holds one record per
downstream frame and one per upstream burst.  Each record starts with the 16-byte
:class:`FtthTc` pseudo-header (magic ``FTTH``, version, technology, direction, flags, frame
index, ONU-ID); the rest is the frame as the standard lays it out, with three departures a
reader must know (docs/pcap.md):

* GEM/XGEM payloads are **elided** (flag ``payload_elided``): each GEM/XGEM header is followed
  directly by the next one; its PLI still says how long the payload was.  Physical sync
  (PSBu), FEC parity, the BIP values and the XGS-PON downstream FS trailer are not written.
* In an upstream burst every allocation's data is preceded by that allocation's BWmap
  structure and a 6-byte section header (number of GEM/XGEM frames, idle bytes of the grant),
  so a reader can delimit the allocations without the downstream frame.
* Downstream idle GEM/XGEM frames are not written.

HECs (BCH(63,12) / BCH(39,12) + parity) and CRC-8s are computed when a packet is built
without them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from scapy.config import conf
from scapy.fields import (
    BitEnumField,
    BitField,
    BitFieldLenField,
    ByteEnumField,
    ByteField,
    ConditionalField,
    FieldLenField,
    FlagsField,
    IntField,
    PacketListField,
    ShortField,
    StrFixedLenField,
    XBitField,
    XByteField,
    XIntField,
    XLongField,
    XShortField,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, bind_layers

from ftth import phy

MAGIC = b"FTTH"
VERSION = 1
#: Technology codes of the pseudo-header.
TECHNOLOGIES = {0: "gpon", 1: "xg-pon", 2: "xgs-pon", 3: "epon-1g", 4: "epon-10g"}
TECH_CODE = {name: code for code, name in TECHNOLOGIES.items()}
DOWNSTREAM, UPSTREAM = 0, 1
FLAG_PAYLOAD_ELIDED = 0x01
#: Most items a list of one record may hold (scapy's default guard is 100): a frame's
#: GEM/XGEM frames, at most one per 5 bytes of a GPON downstream frame.
MAX_ITEMS = 1 << 16
#: ONU-ID of a downstream (broadcast) record.
NO_ONU = 0xFFFF


# ------------------------------------------------------------------------ HEC and CRC
def bch_hec(data: int, n_bits: int) -> int:
    """13-bit HEC of ``n_bits`` of header ``data``: the BCH remainder (generator
    :data:`ftth.phy.HEC_BCH_GENERATOR`) then one even-parity bit over data and remainder."""
    gen = phy.HEC_BCH_GENERATOR
    reg = data << 12
    for bit in range(n_bits + 11, 11, -1):
        if reg >> bit & 1:
            reg ^= gen << (bit - 12)
    rem = reg & 0xFFF
    parity = (bin(data).count("1") + bin(rem).count("1")) & 1
    return rem << 1 | parity


def crc8(data: bytes) -> int:
    """CRC-8 with generator :data:`ftth.phy.CRC8_GENERATOR` (x^8+x^2+x+1), initial 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ phy.CRC8_GENERATOR) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class _Hec(Packet):
    """A header whose last 13 bits are a HEC over the bits before it (computed if unset)."""

    hec_bits: ClassVar[int] = 0  # header bits before the HEC

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        return self.finish(p, {"hec": self.hec}) + pay

    @classmethod
    def finish(cls, p: bytes, values: dict[str, Any]) -> bytes:
        """Fill the HEC of built header bytes ``p`` unless ``values`` gives one."""
        if values.get("hec") is not None:
            return p
        n = (cls.hec_bits + 13) // 8
        word = int.from_bytes(p[:n], "big")
        hec = bch_hec(word >> 13, cls.hec_bits)
        return ((word & ~0x1FFF) | hec).to_bytes(n, "big") + p[n:]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class _Crc8(Packet):
    """A structure whose last byte is a CRC-8 over the bytes before it (computed if unset)."""

    crc_len: ClassVar[int] = 0

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        return self.finish(p, {"crc": self.crc}) + pay

    @classmethod
    def finish(cls, p: bytes, values: dict[str, Any]) -> bytes:
        """Fill the CRC-8 of built bytes ``p`` unless ``values`` gives one."""
        if values.get("crc") is not None:
            return p
        n = cls.crc_len
        return p[:n] + bytes([crc8(p[:n])]) + p[n + 1 :]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


def build_flat(cls: type[Packet], values: dict[str, Any]) -> bytes:
    """``bytes(cls(**values))`` for a header class without packet lists, built from the same
    ``fields_desc`` without creating a :class:`~scapy.packet.Packet` (a capture builds
    hundreds of thousands of them; tests check both give the same bytes)."""
    p: Any = b""
    for f in cls.fields_desc:
        value = values.get(f.name, f.default)
        p = f.addfield(None, p, f.any2i(None, value))  # type: ignore[arg-type]
    finish = getattr(cls, "finish", None)
    return finish(p, values) if finish is not None else bytes(p)


# ------------------------------------------------------------------------- pseudo-header
class FtthTc(Packet):
    """The capture's 16-byte pseudo-header (not on any wire)."""

    name = "FTTH TC"
    fields_desc: ClassVar[list[Any]] = [
        StrFixedLenField("magic", MAGIC, 4),
        ByteField("version", VERSION),
        ByteEnumField("technology", 0, TECHNOLOGIES),
        ByteEnumField("link", DOWNSTREAM, {DOWNSTREAM: "downstream", UPSTREAM: "upstream"}),
        FlagsField("flags", FLAG_PAYLOAD_ELIDED, 8, ["payload_elided"]),
        IntField("frame", 0),
        ShortField("onu_id", NO_ONU),
        ShortField("reserved", 0),
    ]

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        tech = TECHNOLOGIES.get(int(self.technology), "")
        if tech == "gpon":
            return GponDownstream if self.link == DOWNSTREAM else GponBurst
        if tech in ("xg-pon", "xgs-pon"):
            return XgDownstream if self.link == DOWNSTREAM else XgBurst
        return Packet.guess_payload_class(self, payload)


# ------------------------------------------------------------------------------- GPON
class GemHeader(_Hec):
    """G.984.3 §8.3.1: the 5-byte GEM header (payload elided in the capture)."""

    name = "GEM header"
    hec_bits = 27
    fields_desc: ClassVar[list[Any]] = [
        BitField("pli", 0, phy.GEM_PLI_BITS),
        BitField("port_id", 0, phy.GEM_PORT_ID_BITS),
        BitField("pti", phy.GEM_PTI_END, 3),
        XBitField("hec", None, 13),
    ]

    @property
    def last_fragment(self) -> bool:
        return bool(int(self.pti) & phy.GEM_PTI_END)


class GponAllocation(_Crc8):
    """G.984.3 §8.1.3.6: one US BW map entry (8 bytes)."""

    name = "GPON allocation"
    crc_len = 7
    fields_desc: ClassVar[list[Any]] = [
        BitField("alloc_id", 0, phy.GPON_ALLOC_ID_BITS),
        BitField("plsu", 0, 1),
        BitField("ploamu", 0, 1),
        BitField("fec", 0, 1),
        BitEnumField("dbru", 0, 2, {0: "none", 1: "mode0", 2: "mode1", 3: "mode2"}),
        BitField("flags_reserved", 0, 7),
        ShortField("start_time", 0),
        ShortField("stop_time", 0),
        XByteField("crc", None),
    ]


class GponPloamd(_Crc8):
    """G.984.3 §8.1.3.5: the 13-byte downstream PLOAM message."""

    name = "PLOAMd"
    crc_len = 12
    fields_desc: ClassVar[list[Any]] = [
        XByteField("onu_id", phy.GPON_PLOAM_BROADCAST),
        XByteField("message_id", phy.GPON_PLOAM_NO_MESSAGE),
        StrFixedLenField("data", b"\x00" * 10, 10),
        XByteField("crc", None),
    ]


class GponDownstream(Packet):
    """G.984.3 §8.1.3: PCBd (Psync, Ident, PLOAMd, BIP, Plend twice, US BW map) and the
    GEM headers of the frame."""

    name = "GPON downstream frame"
    fields_desc: ClassVar[list[Any]] = [
        XIntField("psync", phy.GPON_PSYNC),
        BitField("fec_ind", 0, 1),
        BitField("ident_reserved", 0, 1),
        BitField("superframe", 0, 30),
        PacketListField("ploamd", [GponPloamd()], GponPloamd, count_from=lambda pkt: 1),
        XByteField("bip", 0),
        # Plend, sent twice: Blen 12 bits (BW map entries), Alen 12 bits (ATM cells), CRC-8.
        BitFieldLenField("blen", None, 12, count_of="bwmap"),
        BitField("alen", 0, 12),
        XByteField("plend_crc", None),
        BitField("blen2", None, 12),
        BitField("alen2", 0, 12),
        XByteField("plend_crc2", None),
        PacketListField(
            "bwmap", [], GponAllocation, count_from=lambda pkt: pkt.blen, max_count=MAX_ITEMS
        ),
        PacketListField("gem", [], GemHeader, max_count=MAX_ITEMS),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        # The second Plend repeats the first; each carries its CRC-8 (bytes 22..29).
        plend = p[22:25]
        first = plend + bytes([crc8(plend) if self.plend_crc is None else p[25]])
        if self.blen2 is None:
            second = first
        else:
            second = p[26:29] + bytes([crc8(p[26:29]) if self.plend_crc2 is None else p[29]])
        return p[:22] + first + second + p[30:] + pay


class GponDbru(_Crc8):
    """G.984.3 §8.2.5: mode-0 DBRu (DBA byte + CRC-8)."""

    name = "DBRu"
    crc_len = 1
    fields_desc: ClassVar[list[Any]] = [ByteField("dba", 0), XByteField("crc", None)]


class GponSection(Packet):
    """One allocation of an upstream GPON burst: its BW map entry and the section header
    (pseudo), the DBRu when asked, its GEM headers."""

    name = "GPON allocation data"
    fields_desc: ClassVar[list[Any]] = [
        PacketListField("allocation", [], GponAllocation, count_from=lambda pkt: 1),
        FieldLenField("n_gem", None, count_of="gem", fmt="H"),
        IntField("idle_bytes", 0),
        ConditionalField(
            PacketListField("dbru", [], GponDbru, count_from=lambda pkt: 1),
            lambda pkt: bool(pkt.allocation) and int(pkt.allocation[0].dbru) != 0,
        ),
        PacketListField(
            "gem", [], GemHeader, count_from=lambda pkt: pkt.n_gem, max_count=MAX_ITEMS
        ),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class GponBurst(Packet):
    """G.984.3 §8.2.2: PLOu (BIP, ONU-ID, Ind) and the burst's allocations."""

    name = "GPON upstream burst"
    fields_desc: ClassVar[list[Any]] = [
        XByteField("bip", 0),
        ByteField("onu_id", 0),
        XByteField("ind", 0),
        PacketListField("sections", [], GponSection, max_count=MAX_ITEMS),
    ]


# ------------------------------------------------------------------------- XG(S)-PON
class XgemHeader(_Hec):
    """G.987.3 §9.1.1: the 8-byte XGEM header (payload elided in the capture)."""

    name = "XGEM header"
    hec_bits = 51
    fields_desc: ClassVar[list[Any]] = [
        BitField("pli", 0, phy.XGEM_PLI_BITS),
        BitField("key_index", 0, 2),
        XBitField("port_id", 0, 16),
        XBitField("options", 0, 18),
        BitField("lf", 1, 1),
        XBitField("hec", None, 13),
    ]

    @property
    def last_fragment(self) -> bool:
        return bool(self.lf)


class XgAllocation(_Hec):
    """G.987.3 §8.1.1.2: one allocation structure (8 bytes)."""

    name = "XG allocation"
    hec_bits = 51
    fields_desc: ClassVar[list[Any]] = [
        BitField("alloc_id", 0, phy.XG_ALLOC_ID_BITS),
        FlagsField("flags", 0, 2, ["PLOAMu", "DBRu"]),
        ShortField("start_time", 0),
        ShortField("grant_size", 0),
        BitField("fwi", 0, 1),
        BitField("burst_profile", 0, 2),
        XBitField("hec", None, 13),
    ]

    @property
    def dbru(self) -> bool:
        return bool(int(self.flags) & 0b10)


class XgPloam(Packet):
    """G.987.3 §11.2: one 48-byte PLOAM message."""

    name = "PLOAM"
    fields_desc: ClassVar[list[Any]] = [
        BitField("onu_id", 0x3FF, phy.XG_ONU_ID_BITS),
        BitField("ploam_reserved", 0, 6),
        XByteField("message_type", 0),
        ByteField("sequence", 0),
        StrFixedLenField("content", b"\x00" * 36, 36),
        XLongField("mic", 0),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class XgDownstream(Packet):
    """G.987.3 §10.1.1 PSBd (PSync, SFC structure, PON-ID structure) and §8.1.1 XGTC header
    (HLend, BWmap, PLOAMs), then the frame's XGEM headers."""

    name = "XG(S)-PON downstream frame"
    fields_desc: ClassVar[list[Any]] = [
        XLongField("psync", phy.XG_PSYNC),
        BitField("superframe", 0, 51),
        XBitField("sfc_hec", 0, 13),
        XBitField("pon_id", 0, 51),
        XBitField("pon_id_hec", 0, 13),
        # HLend: BWmap length 11 bits, PLOAM count 8 bits, HEC 13 bits.
        BitField("bwmap_length", None, phy.XG_BWMAP_LENGTH_BITS),
        BitField("ploam_count", None, 8),
        XBitField("hlend_hec", None, 13),
        PacketListField(
            "bwmap",
            [],
            XgAllocation,
            count_from=lambda pkt: pkt.bwmap_length,
            max_count=MAX_ITEMS,
        ),
        PacketListField("ploam", [], XgPloam, count_from=lambda pkt: pkt.ploam_count),
        PacketListField("xgem", [], XgemHeader, max_count=MAX_ITEMS),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        # HLend (bytes 24..27): counts and HEC, when not given.
        word = int.from_bytes(p[24:28], "big")
        length = len(self.bwmap) if self.bwmap_length is None else int(self.bwmap_length)
        count = len(self.ploam) if self.ploam_count is None else int(self.ploam_count)
        data = length << 8 | count
        hec = bch_hec(data, 19) if self.hlend_hec is None else word & 0x1FFF
        word = data << 13 | hec
        return p[:24] + word.to_bytes(4, "big") + p[28:] + pay


class XgDbru(Packet):
    """G.987.3 §8.2.3: DBRu, BufOcc 24 bits + CRC-8."""

    name = "DBRu"
    fields_desc: ClassVar[list[Any]] = [
        BitField("bufocc", 0, 24),
        XByteField("crc", None),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        return self.finish(p, {"crc": self.crc}) + pay

    @classmethod
    def finish(cls, p: bytes, values: dict[str, Any]) -> bytes:
        """Fill the CRC-8 of built bytes ``p`` unless ``values`` gives one."""
        if values.get("crc") is not None:
            return p
        return p[:3] + bytes([crc8(p[:3])])

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class XgSection(Packet):
    """One allocation of an upstream XG(S)-PON burst: its allocation structure and the
    section header (pseudo), the DBRu when flagged, its XGEM headers."""

    name = "XG allocation data"
    fields_desc: ClassVar[list[Any]] = [
        PacketListField("allocation", [], XgAllocation, count_from=lambda pkt: 1),
        FieldLenField("n_xgem", None, count_of="xgem", fmt="H"),
        IntField("idle_bytes", 0),
        ConditionalField(
            PacketListField("dbru", [], XgDbru, count_from=lambda pkt: 1),
            lambda pkt: bool(pkt.allocation) and pkt.allocation[0].dbru,
        ),
        PacketListField(
            "xgem", [], XgemHeader, count_from=lambda pkt: pkt.n_xgem, max_count=MAX_ITEMS
        ),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class XgBurst(Packet):
    """G.987.3 §8.2.1 upstream XGTC header (ONU-ID, Ind, HEC), the allocations, §8.2.4
    trailer (BIP)."""

    name = "XG(S)-PON upstream burst"
    fields_desc: ClassVar[list[Any]] = [
        BitField("onu_id", 0, phy.XG_ONU_ID_BITS),
        BitField("ind", 0, 9),
        XBitField("hec", None, 13),
        PacketListField(
            "sections",
            [],
            XgSection,
            next_cls_cb=lambda pkt, lst, cur, remain: XgSection if len(remain) > 4 else None,
            max_count=MAX_ITEMS,
        ),
        XIntField("bip", 0),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        if self.hec is None:
            word = int.from_bytes(p[:4], "big")
            data = word >> 13
            p = (data << 13 | bch_hec(data, 19)).to_bytes(4, "big") + p[4:]
        return p + pay


# ------------------------------------------------------------------------------- EPON
class Mpcp(Packet):
    """IEEE 802.3 §64.3.6: MPCPDU header (opcode, timestamp) of a MAC Control frame."""

    name = "MPCP"
    fields_desc: ClassVar[list[Any]] = [
        XShortField("opcode", phy.MPCP_OPCODE_GATE),
        XIntField("timestamp", 0),
    ]

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        if self.opcode == phy.MPCP_OPCODE_GATE:
            return MpcpGate
        if self.opcode == phy.MPCP_OPCODE_REPORT:
            return MpcpReport
        return Packet.guess_payload_class(self, payload)


class MpcpGrant(Packet):
    """One GATE grant: start time and length, in 16 ns time quanta."""

    name = "Grant"
    fields_desc: ClassVar[list[Any]] = [XIntField("start", 0), ShortField("length", 0)]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class MpcpGate(Packet):
    """IEEE 802.3 §64.3.6.1: GATE (number of grants and flags, grants, sync time if
    discovery), padded to the minimum frame."""

    name = "MPCP GATE"
    fields_desc: ClassVar[list[Any]] = [
        BitField("force_report", 0, 4),
        BitField("discovery", 0, 1),
        BitField("n_grants", None, 3),
        PacketListField("grants", [], MpcpGrant, count_from=lambda pkt: pkt.n_grants),
        ConditionalField(ShortField("sync_time", 0), lambda pkt: pkt.discovery == 1),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        if self.n_grants is None:
            p = bytes([(p[0] & 0xF8) | len(self.grants)]) + p[1:]
        return p + pay


class MpcpQueueReport(Packet):
    name = "Queue report"
    fields_desc: ClassVar[list[Any]] = [ShortField("quanta", 0)]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class MpcpQueueSet(Packet):
    """One REPORT queue set: bitmap and one 16-bit report (time quanta) per set bit."""

    name = "Queue set"
    fields_desc: ClassVar[list[Any]] = [
        FlagsField("bitmap", 0, 8, [f"q{i}" for i in range(phy.MPCP_QUEUES_PER_SET)]),
        PacketListField(
            "reports",
            [],
            MpcpQueueReport,
            count_from=lambda pkt: bin(int(pkt.bitmap)).count("1"),
        ),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class MpcpReport(Packet):
    """IEEE 802.3 §64.3.6.2: REPORT (number of queue sets, the sets)."""

    name = "MPCP REPORT"
    fields_desc: ClassVar[list[Any]] = [
        FieldLenField("n_sets", None, count_of="sets", fmt="B"),
        PacketListField("sets", [], MpcpQueueSet, count_from=lambda pkt: pkt.n_sets),
    ]


bind_layers(Ether, Mpcp, type=phy.ETHERTYPE_MAC_CONTROL)
# scapy's pcap readers (rdpcap, PcapReader) decode linktype 147 records as FtthTc.
conf.l2types.register(phy.LINKTYPE_USER0, FtthTc)

__all__ = [
    "DOWNSTREAM",
    "FLAG_PAYLOAD_ELIDED",
    "MAGIC",
    "NO_ONU",
    "TECHNOLOGIES",
    "TECH_CODE",
    "UPSTREAM",
    "FtthTc",
    "GemHeader",
    "GponAllocation",
    "GponBurst",
    "GponDbru",
    "GponDownstream",
    "GponPloamd",
    "GponSection",
    "Mpcp",
    "MpcpGate",
    "MpcpGrant",
    "MpcpQueueReport",
    "MpcpQueueSet",
    "MpcpReport",
    "XgAllocation",
    "XgBurst",
    "XgDbru",
    "XgDownstream",
    "XgPloam",
    "XgSection",
    "XgemHeader",
    "bch_hec",
    "build_flat",
    "crc8",
]
