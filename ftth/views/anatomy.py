"""The anatomy of one downstream and one upstream frame of a profile, byte by byte.

The frame is the one :func:`ftth.phy.saturation_goodput_bps` reasons about: ``onus`` ONUs,
each with one allocation (upstream: one burst per ONU, the frame's grant units dealt out as
evenly as integers allow) or one queue (downstream: one BWmap allocation structure per ONU),
every queue backlogged with ``packet_bytes`` Ethernet frames.  Every overhead is a field of
this module's tables, sized by ``ftth.phy`` (nothing here repeats a constant of a standard),
and the Ethernet bytes left are the goodput.

Exactness
---------
Every field the standard fixes is a whole number of bytes and is given as such.  The GEM /
XGEM payload area is a whole number of bytes too, but at saturation a frame does not carry a
whole number of packets: each queue's share (or grant) ends in a packet cut in two, whose
second fragment — with its own header — starts the next frame.  Its split into headers,
padding and Ethernet bytes is therefore the *average per frame* of that steady stream, an
exact fraction (:class:`fractions.Fraction`).  The parts then add up to the frame's bytes
exactly, and the goodput is :func:`ftth.phy.saturation_goodput_bps` computed in exact
arithmetic (that function works in floats; the two agree to float rounding, ~1e-15).
Like that function, the anatomy ignores the idle bytes at the end of a grant too small for a
minimum frame (< 0.2 % at XGEM's 16 bytes) and charges FEC at the average code rate.

EPON has no frame: its downstream "frame" is one 125 µs slice of the continuous stream and
its upstream "frame" one polling cycle of every ONU (guard time, REPORT, the window of whole
frames), the model of :func:`ftth.phy.epon_saturation_goodput_bps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Final

from ftth.errors import InputError
from ftth.phy import (
    ETH_MAX_FRAME_BYTES,
    Direction,
    FecCode,
    Profile,
    burst_data_bytes,
    equal_share_bursts,
    padded_payload_bytes,
    psbu_slot_bytes,
)
from ftth.units import FRAME_PS, PS_PER_S

#: EPON upstream window of the saturation model (:func:`ftth.phy.epon_saturation_goodput_bps`).
EPON_WINDOW_BYTES: Final = 15_000

#: Where each field is defined, per family (the numbers themselves are in ``ftth.phy``,
#: which cites the same clauses).
_CLAUSES: Final[dict[str, dict[str, str]]] = {
    "gpon": {
        "pcbd": "G.984.3 §8.1.3",
        "bwmap": "G.984.3 §8.1.3.6",
        "ploam": "G.984.3 §9",
        "psbu": "G.984.2 Table I.1",
        "header": "G.984.3 §8.2.2 (PLOu)",
        "trailer": "G.984.3 §8.2",
        "dbru": "G.984.3 §8.2.5",
        "encap": "G.984.3 §8.3.1 (GEM)",
        "fec": "G.984.3 §13",
        "unit": "G.984.3 §8.1.3.6",
    },
    "xg-pon": {
        "psbd": "G.987.3 §10.1.1",
        "hlend": "G.987.3 §8.1.1",
        "bwmap": "G.987.3 §8.1.1.2",
        "ploam": "G.987.3 §11.2",
        "trailer_ds": "G.987.3 §8.1",
        "psbu": "G.987.2 burst profile",
        "header": "G.987.3 §8.2.1",
        "trailer": "G.987.3 §8.2.4",
        "dbru": "G.987.3 §8.2.3",
        "encap": "G.987.3 §9.1 (XGEM)",
        "fec": "G.987.3 §10.1.2, §10.3.2",
        "unit": "G.987.3 §8.1.1",
    },
    "xgs-pon": {
        "psbd": "G.9807.1 §C.10.1.1",
        "hlend": "G.9807.1 §C.8.1.1",
        "bwmap": "G.9807.1 §C.8.1.1.2",
        "ploam": "G.9807.1 §C.11.2",
        "trailer_ds": "G.9807.1 §C.8.1.3",
        "psbu": "G.9807.1 §C.10.2",
        "header": "G.9807.1 §C.8.2.1",
        "trailer": "G.9807.1 §C.8.2.4",
        "dbru": "G.9807.1 §C.8.2.3",
        "encap": "G.9807.1 §C.9.1 (XGEM)",
        "fec": "G.9807.1 §C.10.1.2",
        "unit": "G.9807.1 §C.8.1.1.3",
    },
    "epon": {
        "encap": "IEEE 802.3 §3.2, §4.4.2 (preamble/SFD, IFG)",
        "report": "IEEE 802.3 §64.3.6.2 (REPORT MPCPDU)",
        "guard": "pon-reference issue 5 (laser on/off, AGC, CDR)",
        "fec": "IEEE 802.3av §76.3.2.4",
    },
}


def clause(profile: Profile, key: str) -> str:
    """The clause defining field ``key`` of ``profile``'s frame ("" when none applies)."""
    family = "epon" if not profile.framed else profile.name
    return _CLAUSES.get(family, {}).get(key, "")


@dataclass(frozen=True)
class Part:
    """One overhead (or the goodput) of a frame, summed over the frame.

    ``count`` and ``bytes`` are exact; they are fractions only for the packet stream (see the
    module docstring).  ``each_bytes`` is the size of one, when every one has the same size.
    """

    name: str
    kind: str
    count: Fraction
    each_bytes: int | None
    bytes: Fraction
    clause: str = ""
    note: str = ""


@dataclass(frozen=True)
class Field:
    """One field of a burst or a frame in line order, at ``offset`` line bytes."""

    offset: Fraction
    name: str
    kind: str
    bytes: Fraction


@dataclass(frozen=True)
class BurstLayout:
    """One ONU's burst (upstream) in line order; ``start`` is its offset in the frame."""

    onu: int
    start: int
    line_bytes: int
    grant_bytes: int
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class FrameAnatomy:
    """One frame of one direction: its parts, its layout and its goodput."""

    profile: str
    title: str
    direction: Direction
    onus: int
    packet_bytes: int
    fec: str | None
    #: Line bytes of the frame (EPON upstream: of the polling cycle).
    frame_bytes: Fraction
    #: Duration of the frame in picoseconds (exact).
    duration_ps: Fraction
    line_rate_bps: int
    parts: tuple[Part, ...]
    #: The frame in line order (downstream; upstream: the frame's first burst is in ``bursts``).
    layout: tuple[Field, ...] = ()
    bursts: tuple[BurstLayout, ...] = field(default=())
    #: Downstream: the BWmap that schedules the upstream frame of :func:`frame_anatomy`,
    #: one ``(onu, StartTime, GrantSize)`` per allocation, in grant units.
    bwmap: tuple[tuple[int, int, int], ...] = ()

    @property
    def total_bytes(self) -> Fraction:
        """Sum of the parts (equals :attr:`frame_bytes`; tested)."""
        return sum((part.bytes for part in self.parts), Fraction(0))

    @property
    def goodput_bytes(self) -> Fraction:
        """Ethernet bytes carried per frame."""
        return sum((p.bytes for p in self.parts if p.kind == "payload"), Fraction(0))

    @property
    def goodput_bps(self) -> float:
        """Ethernet goodput in bit/s: goodput bytes × 8 / frame duration."""
        return float(self.goodput_bytes * 8 * PS_PER_S / self.duration_ps)

    def bytes_of(self, kind: str) -> Fraction:
        """Bytes of every part of ``kind``."""
        return sum((p.bytes for p in self.parts if p.kind == kind), Fraction(0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (fractions as floats; ``*_exact`` strings keep them exact)."""
        total = self.frame_bytes
        return {
            "profile": self.profile,
            "direction": self.direction,
            "onus": self.onus,
            "packet_bytes": self.packet_bytes,
            "fec": self.fec,
            "frame_bytes": float(total),
            "duration_us": float(self.duration_ps / 1_000_000),
            "line_rate_bps": self.line_rate_bps,
            "goodput_bytes": float(self.goodput_bytes),
            "goodput_bytes_exact": str(self.goodput_bytes),
            "goodput_bps": self.goodput_bps,
            "efficiency": float(self.goodput_bytes / total),
            "parts": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "count": float(p.count),
                    "each_bytes": p.each_bytes,
                    "bytes": float(p.bytes),
                    "bytes_exact": str(p.bytes),
                    "share": float(p.bytes / total),
                    "clause": p.clause,
                    "note": p.note,
                }
                for p in self.parts
            ],
            "layout": [_field_dict(f) for f in self.layout],
            "bwmap": [
                {"onu": onu, "start_time": start, "grant_size": grant}
                for onu, start, grant in self.bwmap
            ],
            "bursts": [
                {
                    "onu": b.onu,
                    "start": b.start,
                    "line_bytes": b.line_bytes,
                    "grant_bytes": b.grant_bytes,
                    "fields": [_field_dict(f) for f in b.fields],
                }
                for b in self.bursts
            ],
        }


def _field_dict(f: Field) -> dict[str, Any]:
    return {"offset": float(f.offset), "name": f.name, "kind": f.kind, "bytes": float(f.bytes)}


@dataclass(frozen=True)
class _Stream:
    """A saturated packet stream filling ``room`` bytes, one cut packet per share."""

    headers: Fraction
    padding: Fraction
    ethernet: Fraction
    packets: Fraction
    idle: Fraction


def _stream(profile: Profile, room: int, shares: int, packet_bytes: int) -> _Stream:
    """Split ``room`` GEM/XGEM bytes shared by ``shares`` queues into headers, padding, Ethernet.

    Each share begins with the tail of the packet cut at the end of the previous frame (one
    extra header per share, :func:`ftth.phy.stream_goodput_bytes`); every whole packet costs
    its header and its padding.
    """
    header = profile.encap_header_bytes
    per_packet = header + padded_payload_bytes(profile, packet_bytes)
    cut_headers = shares * header
    left = max(0, room - cut_headers)
    packets = Fraction(left, per_packet)
    used = min(room, cut_headers) + packets * per_packet
    return _Stream(
        headers=min(room, cut_headers) + packets * header,
        padding=packets * (per_packet - header - packet_bytes),
        ethernet=packets * packet_bytes,
        packets=packets,
        idle=room - used,
    )


def _fec_name(code: FecCode | None) -> str | None:
    return f"RS({code.n},{code.k})" if code else None


def _encap_name(profile: Profile) -> str:
    return profile.encap.upper() if profile.encap != "ethernet" else "Ethernet"


def _stream_parts(profile: Profile, s: _Stream, shares: int, packet_bytes: int) -> list[Part]:
    encap = _encap_name(profile)
    return [
        Part(
            f"{encap} headers",
            "encap",
            shares + s.packets,
            profile.encap_header_bytes,
            s.headers,
            clause(profile, "encap"),
            f"one per packet + one per queue ({shares}) for the packet cut at the end",
        ),
        Part(
            f"{encap} padding",
            "padding",
            s.packets,
            None,
            s.padding,
            clause(profile, "encap"),
            f"payload padded to {profile.encap_align_bytes} B, frame ≥ "
            f"{profile.encap_min_frame_bytes} B",
        ),
        Part(
            "Ethernet frames (goodput)",
            "payload",
            s.packets,
            packet_bytes,
            s.ethernet,
            "",
            "average per frame at saturation",
        ),
    ]


def _check(profile: Profile, onus: int, packet_bytes: int) -> None:
    if not 1 <= onus <= profile.max_split:
        raise InputError(
            "--onus", f"must be 1..{profile.max_split} for {profile.title}, got {onus}"
        )
    if packet_bytes < 1:
        raise InputError("--packet-bytes", f"must be at least 1, got {packet_bytes}")


# --------------------------------------------------------------------------- ITU downstream
def downstream_anatomy(
    profile: Profile,
    onus: int = 32,
    packet_bytes: int = ETH_MAX_FRAME_BYTES,
    fec: bool | None = None,
) -> FrameAnatomy:
    """The downstream frame at saturation, as :func:`ftth.phy.saturation_goodput_bps` has it.

    Parameters
    ----------
    profile
        Any profile (EPON: one 125 µs slice of the continuous stream).
    onus
        ONUs on the PON: one BWmap allocation structure and one backlogged queue each.
    packet_bytes
        Ethernet frame length of the stream.
    fec
        Downstream FEC on/off, ``None`` for the profile default (refused off where mandatory).
    """
    _check(profile, onus, packet_bytes)
    if not profile.framed:
        return _epon_downstream(profile, onus, packet_bytes, fec)
    from ftth.phy import ds_payload_bytes

    payload = ds_payload_bytes(profile, onus, fec)  # refuses FEC off where mandatory
    code = profile.fec("downstream", fec)
    frame = profile.ds_bytes_per_frame
    coded = frame - profile.ds_sync_bytes
    data = code.data_bytes(coded) if code else coded
    parity = coded - data
    stream = _stream(profile, payload, onus, packet_bytes)
    parts: list[Part] = []
    layout: list[Field] = []
    at = Fraction(0)

    def put(part: Part, in_layout: bool = True) -> None:
        nonlocal at
        parts.append(part)
        if in_layout:
            layout.append(Field(at, part.name, part.kind, part.bytes))
            at += part.bytes

    gpon = profile.encap == "gem"
    if profile.ds_sync_bytes:
        put(
            Part(
                "PSBd (PSync, SFC, PON-ID)",
                "psb",
                Fraction(1),
                profile.ds_sync_bytes,
                Fraction(profile.ds_sync_bytes),
                clause(profile, "psbd"),
                "not FEC-protected",
            )
        )
    if gpon:
        put(
            Part(
                "PCBd fixed part (Psync, Ident, PLOAMd, BIP, PLend ×2)",
                "header",
                Fraction(1),
                profile.ds_header_fixed_bytes,
                Fraction(profile.ds_header_fixed_bytes),
                clause(profile, "pcbd"),
                "the PLOAMd (13 B) is inside it",
            )
        )
    else:
        put(
            Part(
                "XGTC header: HLend",
                "header",
                Fraction(1),
                profile.ds_header_fixed_bytes,
                Fraction(profile.ds_header_fixed_bytes),
                clause(profile, "hlend"),
            )
        )
    put(
        Part(
            "BWmap allocation structures",
            "bwmap",
            Fraction(onus),
            profile.ds_bytes_per_allocation,
            Fraction(profile.ds_bytes_per_allocation * onus),
            clause(profile, "bwmap"),
            "one per allocation (per ONU here)",
        )
    )
    if not gpon:
        put(
            Part(
                "PLOAMd messages",
                "ploam",
                Fraction(0),
                profile.ds_ploam_bytes,
                Fraction(0),
                clause(profile, "ploam"),
                "none in the saturation model",
            )
        )
    for part in _stream_parts(profile, stream, onus, packet_bytes):
        put(part)
    if stream.idle:
        put(Part("idle", "idle", Fraction(1), None, stream.idle))
    if profile.ds_trailer_bytes:
        put(
            Part(
                "XGTC trailer (FS trailer, BIP)",
                "header",
                Fraction(1),
                profile.ds_trailer_bytes,
                Fraction(profile.ds_trailer_bytes),
                clause(profile, "trailer_ds"),
            )
        )
    if code:
        codewords = Fraction(coded, code.n)
        put(
            Part(
                "FEC parity",
                "fec",
                codewords,
                code.parity_bytes,
                Fraction(parity),
                clause(profile, "fec"),
                f"{_fec_name(code)}: {code.parity_bytes} B after every {code.k} data bytes",
            )
        )
    return FrameAnatomy(
        profile=profile.name,
        title=profile.title,
        direction="downstream",
        onus=onus,
        packet_bytes=packet_bytes,
        fec=_fec_name(code),
        frame_bytes=Fraction(frame),
        duration_ps=Fraction(profile.frame_ps),
        line_rate_bps=profile.downstream_bps,
        parts=tuple(parts),
        layout=tuple(layout),
    )


# --------------------------------------------------------------------------- ITU upstream
def upstream_anatomy(
    profile: Profile,
    onus: int = 32,
    packet_bytes: int = ETH_MAX_FRAME_BYTES,
    fec: bool | None = None,
    *,
    dbru: bool = False,
) -> FrameAnatomy:
    """The upstream frame at saturation: one burst per ONU, the frame's grant units shared
    equally (:func:`ftth.phy.equal_share_bursts`), each burst's grant a whole number of units.

    ``dbru``: every allocation carries a DBRu (the saturation model of the static DBA does
    not; ``saturation_goodput_bps(..., dbru=True)`` does).  EPON: one polling cycle.
    """
    _check(profile, onus, packet_bytes)
    if not profile.framed:
        return _epon_upstream(profile, onus, packet_bytes, fec)
    code = profile.fec("upstream", fec)
    unit = profile.grant_unit_bytes
    units = profile.us_units_per_frame
    base, extra = divmod(units, onus)
    slot = psbu_slot_bytes(profile)
    b = profile.burst
    hdr, trl = profile.us_burst_header_bytes, profile.us_burst_trailer_bytes
    dbru_bytes = profile.dbru_bytes if dbru else 0
    encap = _encap_name(profile)
    totals: dict[str, Fraction] = {}
    counts: dict[str, Fraction] = {}
    bursts: list[BurstLayout] = []
    grants = equal_share_bursts(profile, onus, code)
    start = 0
    for onu in range(onus):
        line = (base + (1 if onu < extra else 0)) * unit
        protected = burst_data_bytes(profile, line, code) + hdr + trl
        coded = line - slot
        parity = coded - protected
        grant = grants[onu]  # GrantSize: the whole units of the burst's data bytes
        rounding = protected - hdr - trl - grant
        stream = _stream(profile, max(0, grant - dbru_bytes), 1, packet_bytes)
        fields: list[tuple[str, str, Fraction]] = [
            ("guard time", "psb", Fraction(b.guard_bytes)),
            ("preamble", "psb", Fraction(b.preamble_bytes)),
            ("delimiter", "psb", Fraction(b.delimiter_bytes)),
            ("PSBu slot alignment", "psb", Fraction(slot - b.total_bytes)),
            ("burst header" if profile.encap != "gem" else "PLOu", "header", Fraction(hdr)),
            ("DBRu", "dbru", Fraction(dbru_bytes)),
            (f"{encap} headers", "encap", stream.headers),
            (f"{encap} padding", "padding", stream.padding),
            ("Ethernet frames (goodput)", "payload", stream.ethernet),
            ("idle (grant too small for a packet)", "idle", stream.idle),
            ("burst trailer (BIP)", "header", Fraction(trl)),
            ("unused: grant-unit rounding", "idle", Fraction(rounding)),
            ("FEC parity", "fec", Fraction(parity)),
        ]
        at = Fraction(start)
        layout: list[Field] = []
        for name, kind, size in fields:
            totals[name] = totals.get(name, Fraction(0)) + size
            counts[name] = counts.get(name, Fraction(0)) + (
                stream.packets
                if kind in ("payload", "padding")
                else (1 + stream.packets if kind == "encap" else (1 if size else 0))
            )
            if size:
                layout.append(Field(at, name, kind, size))
                at += size
        assert at == start + line
        bursts.append(BurstLayout(onu + 1, start, line, grant, tuple(layout)))
        start += line
    if start < profile.us_bytes_per_frame:  # units left over by the integer division
        totals["unallocated"] = Fraction(profile.us_bytes_per_frame - start)
        counts["unallocated"] = Fraction(1)
    parts = [
        _us_part(profile, name, kind, counts[name], totals[name], code, packet_bytes)
        for name, kind in _us_order(profile, encap, code)
        if name in totals and (totals[name] or kind != "idle")
    ]
    return FrameAnatomy(
        profile=profile.name,
        title=profile.title,
        direction="upstream",
        onus=onus,
        packet_bytes=packet_bytes,
        fec=_fec_name(code),
        frame_bytes=Fraction(profile.us_bytes_per_frame),
        duration_ps=Fraction(profile.frame_ps),
        line_rate_bps=profile.upstream_bps,
        parts=tuple(parts),
        bursts=tuple(bursts),
    )


def _us_order(profile: Profile, encap: str, code: FecCode | None) -> list[tuple[str, str]]:
    return [
        ("guard time", "psb"),
        ("preamble", "psb"),
        ("delimiter", "psb"),
        ("PSBu slot alignment", "psb"),
        ("burst header" if profile.encap != "gem" else "PLOu", "header"),
        ("DBRu", "dbru"),
        (f"{encap} headers", "encap"),
        (f"{encap} padding", "padding"),
        ("Ethernet frames (goodput)", "payload"),
        ("idle (grant too small for a packet)", "idle"),
        ("burst trailer (BIP)", "header"),
        ("unused: grant-unit rounding", "idle"),
        ("FEC parity", "fec"),
        ("unallocated", "unallocated"),
    ]


def _us_part(
    profile: Profile,
    name: str,
    kind: str,
    count: Fraction,
    size: Fraction,
    code: FecCode | None,
    packet_bytes: int,
) -> Part:
    b = profile.burst
    each: dict[str, tuple[int | None, str, str]] = {
        "guard time": (b.guard_bytes, clause(profile, "psbu"), "one per burst"),
        "preamble": (b.preamble_bytes, clause(profile, "psbu"), "burst-mode receiver lock"),
        "delimiter": (b.delimiter_bytes, clause(profile, "psbu"), "start of the burst"),
        "PSBu slot alignment": (
            psbu_slot_bytes(profile) - b.total_bytes,
            clause(profile, "unit"),
            f"StartTime counts {profile.grant_unit_bytes}-byte units",
        ),
        "PLOu": (profile.us_burst_header_bytes, clause(profile, "header"), "BIP, ONU-ID, Ind"),
        "burst header": (profile.us_burst_header_bytes, clause(profile, "header"), ""),
        "burst trailer (BIP)": (profile.us_burst_trailer_bytes, clause(profile, "trailer"), ""),
        "DBRu": (profile.dbru_bytes, clause(profile, "dbru"), "when the OLT asks (--dbru)"),
        "unused: grant-unit rounding": (
            None,
            clause(profile, "unit"),
            "GrantSize counts whole units",
        ),
        "unallocated": (None, "", "units the integer share left over"),
    }
    if name in each:
        size_each, where, note = each[name]
        return Part(name, kind, count, size_each, size, where, note)
    if kind == "fec" and code is not None:
        return Part(
            name,
            kind,
            count,
            None,
            size,
            clause(profile, "fec"),
            f"{_fec_name(code)}: {code.parity_bytes} B per {code.k} data bytes (average)",
        )
    if kind == "encap":
        return Part(
            name,
            kind,
            count,
            profile.encap_header_bytes,
            size,
            clause(profile, "encap"),
            "one per packet + one per burst for the packet cut at its end",
        )
    if kind == "padding":
        return Part(
            name,
            kind,
            count,
            None,
            size,
            clause(profile, "encap"),
            f"payload padded to {profile.encap_align_bytes} B",
        )
    if kind == "payload":
        return Part(name, kind, count, packet_bytes, size, "", "average per frame at saturation")
    return Part(name, kind, count, None, size)


# --------------------------------------------------------------------------- EPON
def _epon_downstream(
    profile: Profile, onus: int, packet_bytes: int, fec: bool | None
) -> FrameAnatomy:
    """One 125 µs slice of the continuous EPON downstream stream."""
    code = profile.fec("downstream", fec)
    line = Fraction(profile.downstream_bps * FRAME_PS, 8 * PS_PER_S)
    data = line * code.k / code.n if code else line
    wire = packet_bytes + profile.ethernet_overhead_bytes
    packets = data / wire
    parts = [
        Part(
            "preamble / SFD + inter-frame gap",
            "encap",
            packets,
            profile.ethernet_overhead_bytes,
            packets * profile.ethernet_overhead_bytes,
            clause(profile, "encap"),
        ),
        Part(
            "Ethernet frames (goodput)",
            "payload",
            packets,
            packet_bytes,
            packets * packet_bytes,
            "",
            "MPCP GATEs ignored, as in the saturation model",
        ),
    ]
    if code:
        parts.append(
            Part(
                "FEC parity",
                "fec",
                line / code.n,
                code.parity_bytes,
                line - data,
                clause(profile, "fec"),
                f"{_fec_name(code)} stream FEC",
            )
        )
    return FrameAnatomy(
        profile=profile.name,
        title=profile.title,
        direction="downstream",
        onus=onus,
        packet_bytes=packet_bytes,
        fec=_fec_name(code),
        frame_bytes=line,
        duration_ps=Fraction(FRAME_PS),
        line_rate_bps=profile.downstream_bps,
        parts=tuple(parts),
    )


def _epon_upstream(
    profile: Profile, onus: int, packet_bytes: int, fec: bool | None
) -> FrameAnatomy:
    """One IPACT polling cycle: every ONU's guard time, window of whole frames and REPORT."""
    code = profile.fec("upstream", fec)
    rate = profile.upstream_bps
    guard = Fraction(profile.default_guard_ps * rate, 8 * PS_PER_S)  # line bytes of 1 µs
    wire = packet_bytes + profile.ethernet_overhead_bytes
    frames = EPON_WINDOW_BYTES // wire
    report = profile.mpcp_report_bytes + profile.ethernet_overhead_bytes
    data = frames * wire + report
    coded = Fraction(data * code.n, code.k) if code else Fraction(data)
    per_onu = guard + coded
    line = per_onu * onus
    parts = [
        Part(
            "guard time",
            "psb",
            Fraction(onus),
            None,
            guard * onus,
            clause(profile, "guard"),
            f"{profile.default_guard_ps / 1e6:g} µs per window",
        ),
        Part(
            "REPORT (64 B MPCPDU + preamble/IFG)",
            "dbru",
            Fraction(onus),
            report,
            Fraction(report * onus),
            clause(profile, "report"),
        ),
        Part(
            "preamble / SFD + inter-frame gap",
            "encap",
            Fraction(frames * onus),
            profile.ethernet_overhead_bytes,
            Fraction(frames * onus * profile.ethernet_overhead_bytes),
            clause(profile, "encap"),
        ),
        Part(
            "Ethernet frames (goodput)",
            "payload",
            Fraction(frames * onus),
            packet_bytes,
            Fraction(frames * onus * packet_bytes),
            "",
            f"{frames} whole frames per {EPON_WINDOW_BYTES}-byte window",
        ),
    ]
    if code:
        parts.append(
            Part(
                "FEC parity",
                "fec",
                coded * onus / code.n,
                code.parity_bytes,
                (coded - data) * onus,
                clause(profile, "fec"),
                f"{_fec_name(code)} stream FEC",
            )
        )
    return FrameAnatomy(
        profile=profile.name,
        title=profile.title,
        direction="upstream",
        onus=onus,
        packet_bytes=packet_bytes,
        fec=_fec_name(code),
        frame_bytes=line,
        duration_ps=line * 8 * PS_PER_S / rate,
        line_rate_bps=rate,
        parts=tuple(parts),
    )


def frame_anatomy(
    profile: Profile,
    onus: int = 32,
    packet_bytes: int = ETH_MAX_FRAME_BYTES,
    fec_downstream: bool | None = None,
    fec_upstream: bool | None = None,
    *,
    dbru: bool = False,
) -> tuple[FrameAnatomy, FrameAnatomy]:
    """Both directions: ``(downstream, upstream)``; the downstream frame's ``bwmap`` holds the
    allocation structures that schedule the upstream frame's bursts (StartTime: the first
    unit after the burst's PSBu slot; GrantSize: DBRu + payload, in grant units)."""
    down = downstream_anatomy(profile, onus, packet_bytes, fec_downstream)
    up = upstream_anatomy(profile, onus, packet_bytes, fec_upstream, dbru=dbru)
    if profile.framed:
        unit = profile.grant_unit_bytes
        slot = psbu_slot_bytes(profile)
        bwmap = tuple((b.onu, (b.start + slot) // unit, b.grant_bytes // unit) for b in up.bursts)
        down = replace(down, bwmap=bwmap)
    return down, up


def markdown_table(anatomy: FrameAnatomy) -> str:
    """The anatomy as a Markdown table (docs/tour.md quotes it; a test keeps it current)."""
    lines = [
        "| field | count | each (B) | bytes | % of frame |",
        "|---|--:|--:|--:|--:|",
    ]
    total = anatomy.frame_bytes

    def num(value: Fraction) -> str:
        return str(value.numerator) if value.denominator == 1 else f"{float(value):.2f}"

    for part in anatomy.parts:
        each = "" if part.each_bytes is None else str(part.each_bytes)
        share = f"{float(part.bytes / total) * 100:.2f}"
        lines.append(f"| {part.name} | {num(part.count)} | {each} | {num(part.bytes)} | {share} |")
    lines.append(f"| **total** | | | **{num(anatomy.total_bytes)}** | 100.00 |")
    lines.append(
        f"| **goodput** | | | **{anatomy.goodput_bps / 1e9:.4f} Gb/s** | "
        f"{float(anatomy.goodput_bytes / total) * 100:.2f} |"
    )
    return "\n".join(lines)
