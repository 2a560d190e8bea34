"""Read the captures back with the same scapy layers (:mod:`ftth.capture.layers`).

:func:`read_tc` decodes a TC capture into plain records (one per downstream frame and one per
upstream burst) with the BWmap as the emulator states it (``start_unit`` of a chained
allocation resolved to its burst's StartTime); :func:`read_uni` decodes a UNI capture into
``(time_ns, direction, household IP, queue, index, size)`` rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import RawPcapReader

from ftth import phy
from ftth.capture.layers import (
    DOWNSTREAM,
    MAGIC,
    TECHNOLOGIES,
    FtthTc,
    GponBurst,
    GponDownstream,
    XgBurst,
    XgDownstream,
)
from ftth.capture.write import SERVER_IP, TAG_BYTES
from ftth.errors import InputError


@dataclass(frozen=True)
class BwmapEntry:
    """One allocation structure as read: what :class:`ftth.emulator.trace.Allocation` holds
    of it (``start_unit`` = its burst's StartTime)."""

    alloc_id: int
    start_unit: int
    grant_units: int
    dbru: bool
    ploam: bool
    burst_profile: int


@dataclass(frozen=True)
class SectionRead:
    """One allocation of an upstream burst as read."""

    alloc_id: int
    pieces: tuple[tuple[int, int, bool], ...]  #: (Port-ID, PLI, last fragment)
    idle_bytes: int
    dbru_units: int | None  #: the DBRu field (report units / blocks), None without DBRu


@dataclass(frozen=True)
class TcRecord:
    """One record of a TC capture."""

    time_ns: int
    technology: str
    downstream: bool
    frame: int
    onu_id: int
    bwmap: tuple[BwmapEntry, ...] = ()  #: downstream records
    pieces: tuple[tuple[int, int, bool], ...] = ()  #: downstream GEM/XGEM headers
    sections: tuple[SectionRead, ...] = ()  #: upstream records


def _records(path: Path, linktype: int) -> list[tuple[int, bytes]]:
    try:
        reader = RawPcapReader(os.fspath(path))
    except (OSError, ValueError) as exc:
        raise InputError(str(path), f"cannot read capture: {exc}") from None
    with reader:
        if reader.linktype != linktype:
            raise InputError(str(path), f"linktype {reader.linktype}, expected {linktype}")
        out = []
        scale = 1 if reader.nano else 1000
        for data, meta in reader:
            out.append((meta.sec * 10**9 + meta.usec * scale, bytes(data)))
    return out


def _xg_bwmap(entries: list) -> tuple[BwmapEntry, ...]:
    out = []
    start = 0
    for e in entries:
        if int(e.start_time) != phy.XG_START_CHAINED:
            start = int(e.start_time)
        out.append(
            BwmapEntry(
                int(e.alloc_id), start, int(e.grant_size), e.dbru, bool(int(e.flags) & 1),
                int(e.burst_profile),
            )
        )  # fmt: skip
    return tuple(out)


def _gpon_bwmap(entries: list, header_bytes: int) -> tuple[BwmapEntry, ...]:
    out = []
    start = 0
    prev_stop = None
    for e in entries:
        if prev_stop is None or int(e.start_time) != prev_stop + 1:
            start = int(e.start_time) - header_bytes  # a new burst: after its PLOu
        prev_stop = int(e.stop_time)
        out.append(
            BwmapEntry(
                int(e.alloc_id), start, int(e.stop_time) - int(e.start_time) + 1,
                int(e.dbru) != 0, bool(e.ploamu), 0,
            )
        )  # fmt: skip
    return tuple(out)


def read_tc(path: Path) -> list[TcRecord]:
    """Decode every record of a TC capture (linktype 147) with the scapy layers."""
    out = []
    for ns, data in _records(path, phy.LINKTYPE_USER0):
        pkt = FtthTc(data)
        if pkt.magic != MAGIC:
            raise InputError(str(path), "a record without the FTTH pseudo-header")
        tech = TECHNOLOGIES[int(pkt.technology)]
        profile = phy.get_profile(tech)
        down = int(pkt.link) == DOWNSTREAM
        common: dict[str, Any] = {
            "time_ns": ns, "technology": tech, "downstream": down, "frame": int(pkt.frame),
            "onu_id": int(pkt.onu_id),
        }  # fmt: skip
        if GponDownstream in pkt:
            body = pkt[GponDownstream]
            out.append(
                TcRecord(
                    **common,
                    bwmap=_gpon_bwmap(body.bwmap, profile.us_burst_header_bytes),
                    pieces=tuple((int(g.port_id), int(g.pli), g.last_fragment) for g in body.gem),
                )
            )
        elif XgDownstream in pkt:
            body = pkt[XgDownstream]
            out.append(
                TcRecord(
                    **common,
                    bwmap=_xg_bwmap(body.bwmap),
                    pieces=tuple((int(g.port_id), int(g.pli), g.last_fragment) for g in body.xgem),
                )
            )
        elif GponBurst in pkt or XgBurst in pkt:
            gpon = GponBurst in pkt
            burst = pkt[GponBurst] if gpon else pkt[XgBurst]
            sections = []
            for s in burst.sections:
                a = s.allocation[0]
                frames = s.gem if gpon else s.xgem
                dbru = s.dbru[0] if s.dbru else None
                sections.append(
                    SectionRead(
                        alloc_id=int(a.alloc_id),
                        pieces=tuple((int(g.port_id), int(g.pli), g.last_fragment) for g in frames),
                        idle_bytes=int(s.idle_bytes),
                        dbru_units=None if dbru is None else int(dbru.dba if gpon else dbru.bufocc),
                    )
                )
            out.append(TcRecord(**common, sections=tuple(sections)))
        else:
            raise InputError(str(path), f"record of frame {pkt.frame} does not decode")
    return out


@dataclass(frozen=True)
class UniFrame:
    time_ns: int
    upstream: bool
    household_ip: str
    queue: int
    index: int
    size_bytes: int  #: the SDU's size (the captured frame plus its FCS)


def read_uni(path: Path) -> list[UniFrame]:
    """Decode a UNI capture (linktype 1) with scapy's Ethernet/IPv4/UDP layers."""
    out = []
    for ns, data in _records(path, phy.LINKTYPE_ETHERNET):
        pkt = Ether(data)
        ip, udp = pkt[IP], pkt[UDP]
        tag = bytes(udp.payload)[:TAG_BYTES]
        upstream = ip.dst == SERVER_IP
        out.append(
            UniFrame(
                time_ns=ns,
                upstream=upstream,
                household_ip=ip.src if upstream else ip.dst,
                queue=int.from_bytes(tag[:4], "big"),
                index=int.from_bytes(tag[4:], "big"),
                size_bytes=len(data) + phy.ETH_FCS_BYTES,
            )
        )
    return out
