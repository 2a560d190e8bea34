"""Write the two captures of a run: the TC layer (linktype 147) and the user ports (Ethernet).

* :func:`tc_records` / :func:`write_tc_pcap`: one record per downstream frame and one per
  upstream burst of a :class:`~ftth.emulator.trace.FrameTrace`, built with the scapy layers
  of :mod:`ftth.capture.layers`.  A downstream record is stamped with its frame's start
  ``t_k``; an upstream record with the moment the burst's first byte (its PSBu) reaches the
  OLT.
* :class:`UniSink`: collects the departures of a run (it is the run's packet sink, see
  :attr:`ftth.emulator.spec.EmulationSpec.packet_sink`) for the chosen households and writes
  them as Ethernet/IPv4/UDP frames.  Downstream frames are stamped when they are delivered to
  the ONU; upstream frames when the household sent them (their arrival at the UNI); only
  frames the PON delivered are written (a tail-dropped frame is not).

Timestamps are nanosecond pcap timestamps (emulated time from 0; picoseconds are truncated).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import RawPcapWriter

from ftth import phy
from ftth.capture.layers import (
    DOWNSTREAM,
    NO_ONU,
    TECH_CODE,
    UPSTREAM,
    FtthTc,
    GemHeader,
    GponAllocation,
    GponBurst,
    GponDbru,
    GponDownstream,
    GponSection,
    XgAllocation,
    XgBurst,
    XgDbru,
    XgDownstream,
    XgemHeader,
    XgSection,
    build_flat,
)
from ftth.emulator.spec import EmulationSpec
from ftth.emulator.trace import Allocation, Burst, FrameTrace, XgemPiece
from ftth.errors import InputError
from ftth.units import PS_PER_S

I64 = npt.NDArray[np.int64]
PS_PER_NS = 1000
#: GPON mode-0 DBRu byte: the value in report blocks, saturating here (the standard's
#: non-linear code above 127 blocks is not applied; docs/pcap.md).
GPON_DBRU_MAX = 0xFE
#: XG(S)-PON BufOcc is 24 bits.
XG_BUFOCC_MAX = (1 << 24) - 1
#: UDP ports of the UNI capture: source port of the household's traffic, the server's port.
UNI_CLIENT_PORT = 49152
UNI_SERVER_PORT = 9


@dataclass(frozen=True)
class TcCounts:
    """What a TC capture holds (reported under ``captures.tc`` in the run's JSON)."""

    downstream_frames: int = 0
    upstream_bursts: int = 0
    allocations: int = 0
    dbru: int = 0
    upstream_xgem_frames: int = 0
    downstream_xgem_frames: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# --------------------------------------------------------------------------- TC layer
Fields = tuple[tuple[str, Any], ...]


@lru_cache(maxsize=1 << 16)
def _raw(cls: type[Packet], fields: Fields) -> bytes:
    """``bytes(cls(**fields))`` of a flat header (:func:`build_flat`), once per distinct
    value: records repeat the same allocation structures and GEM/XGEM headers."""
    return build_flat(cls, dict(fields))


def _xg_allocations(allocs: Sequence[Allocation]) -> list[Fields]:
    """BWmap entries: the first allocation of a burst carries its StartTime, the next ones of
    the same burst the chained value (G.987.3 §8.1.1.2)."""
    out: list[Fields] = []
    prev: Allocation | None = None
    for a in allocs:
        chained = prev is not None and prev.onu_id == a.onu_id and prev.start_unit == a.start_unit
        out.append(
            (
                ("alloc_id", a.alloc_id),
                ("flags", (0b10 if a.dbru else 0) | (0b01 if a.ploam else 0)),
                ("start_time", phy.XG_START_CHAINED if chained else a.start_unit),
                ("grant_size", a.grant_units),
                ("burst_profile", a.burst_profile),
            )
        )
        prev = a
    return out


def _gpon_allocations(allocs: Sequence[Allocation], header_bytes: int) -> list[Fields]:
    """BW map entries with per-allocation SStart/SStop bytes: the first allocation of a burst
    starts after the PLOu, the next ones follow it (FEC parity is not counted)."""
    out: list[Fields] = []
    prev: Allocation | None = None
    stop = 0
    for a in allocs:
        same_burst = (
            prev is not None and prev.onu_id == a.onu_id and prev.start_unit == a.start_unit
        )
        start = stop + 1 if same_burst else a.start_unit + header_bytes
        stop = start + a.grant_units - 1
        out.append(
            (
                ("alloc_id", a.alloc_id),
                ("ploamu", int(a.ploam)),
                ("dbru", phy.GPON_DBRU_MODE0 if a.dbru else 0),
                ("start_time", start),
                ("stop_time", stop),
            )
        )
        prev = a
    return out


def _frames_raw(pieces: Iterable[XgemPiece], gpon: bool) -> bytes:
    """The GEM (GPON) or XGEM headers of ``pieces``, payloads elided."""
    if gpon:
        return b"".join(
            _raw(GemHeader, (("pli", x.payload_bytes), ("port_id", x.port_id),
                             ("pti", phy.GEM_PTI_END if x.last_fragment else 0)))
            for x in pieces
        )  # fmt: skip
    return b"".join(
        _raw(XgemHeader, (("pli", x.payload_bytes), ("port_id", x.port_id),
                          ("lf", int(x.last_fragment))))
        for x in pieces
    )  # fmt: skip


def _sections_raw(profile: phy.Profile, burst: Burst, entries: list[Fields], gpon: bool) -> bytes:
    """The allocation sections of one burst: each is a :class:`GponSection` /
    :class:`XgSection` (allocation structure, section header, DBRu, GEM/XGEM headers), joined
    from its parts so that each distinct part is built once."""
    out = []
    dbru = dict(burst.dbru_bytes)
    for i, a in enumerate(burst.allocations):
        mine = [x for x in burst.pieces if x.alloc_id == a.alloc_id]
        room = burst.room_bytes[i] if burst.room_bytes else 0
        idle = room - sum(x.line_bytes for x in mine)
        units = dbru.get(a.alloc_id, 0) // profile.report_unit_bytes
        if gpon:
            parts = [
                _raw(GponAllocation, entries[i]),
                _section_header(GponSection, len(mine), idle),
            ]
            if a.dbru:
                parts.append(_raw(GponDbru, (("dba", min(units, GPON_DBRU_MAX)),)))
        else:
            parts = [_raw(XgAllocation, entries[i]), _section_header(XgSection, len(mine), idle)]
            if a.dbru:
                parts.append(_raw(XgDbru, (("bufocc", min(units, XG_BUFOCC_MAX)),)))
        parts.append(_frames_raw(mine, gpon))
        out.append(b"".join(parts))
    return b"".join(out)


@lru_cache(maxsize=1 << 16)
def _section_header(cls: type[Packet], n: int, idle: int) -> bytes:
    """The section header of a section (its frame count and idle bytes): the section built
    without allocation structure, DBRu or frames."""
    fields: dict[str, Any] = {"allocation": [], "idle_bytes": idle}
    fields["n_gem" if cls is GponSection else "n_xgem"] = n
    return bytes(cls(**fields))


def tc_records(trace: FrameTrace) -> tuple[list[tuple[int, bytes]], TcCounts]:
    """The TC capture's records ``(time_ps, bytes)`` in time order, and their counts.

    Each record is the bytes of the scapy packet ``FtthTc / body``; its repeated parts
    (allocation structures, section heads, GEM/XGEM headers) are built once per distinct
    value and joined (tests/ftth/capture check that scapy reads each record back and
    rebuilds the same bytes).
    """
    profile = phy.get_profile(trace.profile_name)
    tech = TECH_CODE[profile.name]
    gpon = profile.encap == "gem"
    records: list[tuple[int, int, bytes]] = []
    counts = dict.fromkeys(TcCounts.__dataclass_fields__, 0)
    for up, down in zip(trace.upstream, trace.downstream, strict=True):
        k = down.index
        head = build_flat(
            FtthTc, {"technology": tech, "link": DOWNSTREAM, "frame": k, "onu_id": NO_ONU}
        )
        if gpon:
            entries = _gpon_allocations(up.bwmap, profile.us_burst_header_bytes)
            fixed = bytes(GponDownstream(superframe=k, blen=len(entries)))
            bwmap = b"".join(_raw(GponAllocation, e) for e in entries)
        else:
            entries = _xg_allocations(up.bwmap)
            fixed = bytes(XgDownstream(superframe=k, bwmap_length=len(entries), ploam_count=0))
            bwmap = b"".join(_raw(XgAllocation, e) for e in entries)
        body = fixed + bwmap + _frames_raw(down.pieces, gpon)
        records.append((down.start_ps, len(records), head + body))
        counts["downstream_frames"] += 1
        counts["allocations"] += len(up.bwmap)
        counts["downstream_xgem_frames"] += len(down.pieces)
        index = {id(a): i for i, a in enumerate(up.bwmap)}
        for burst in up.bursts:
            mine = [entries[index[id(a)]] for a in burst.allocations]
            sections = _sections_raw(profile, burst, mine, gpon)
            if gpon:
                bb = _raw(GponBurst, (("onu_id", burst.onu_id & 0xFF),)) + sections
            else:
                shell = _raw(XgBurst, (("onu_id", burst.onu_id),))  # header + trailer
                bb = shell[:4] + sections + shell[4:]
            head = build_flat(
                FtthTc,
                {"technology": tech, "link": UPSTREAM, "frame": up.index, "onu_id": burst.onu_id},
            )
            t = up.start_ps + burst.line_start_byte * profile.frame_ps // up.bytes_per_frame
            records.append((t, len(records), head + bb))
            counts["upstream_bursts"] += 1
            counts["dbru"] += len(burst.dbru_bytes)
            counts["upstream_xgem_frames"] += len(burst.pieces)
    records.sort()
    return [(t, b) for t, _, b in records], TcCounts(**counts)


def _open_writer(path: Path, linktype: int, where: str) -> RawPcapWriter:
    try:
        return RawPcapWriter(os.fspath(path), linktype=linktype, nano=True, sync=False)
    except OSError as exc:
        raise InputError(where, f"cannot write {path}: {exc.strerror or exc}") from None


def write_records(
    path: Path, linktype: int, records: Iterable[tuple[int, bytes]], where: str
) -> None:
    """Write ``(time_ps, bytes)`` records as a nanosecond pcap file of ``linktype``."""
    writer = _open_writer(path, linktype, where)
    try:
        writer.write_header(None)
        for t_ps, data in records:
            ns = t_ps // PS_PER_NS
            writer.write_packet(data, sec=ns // 10**9, usec=ns % 10**9)
    except OSError as exc:
        raise InputError(where, f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        writer.close()


def write_tc_pcap(path: Path, trace: FrameTrace, where: str = "--pcap-tc") -> TcCounts:
    """Write ``trace`` as a TC-layer capture (linktype 147) at ``path``; return its counts."""
    records, counts = tc_records(trace)
    write_records(path, phy.LINKTYPE_USER0, records, where)
    return counts


# -------------------------------------------------------------------------- user ports
def household_mac(household: int) -> str:
    """The stable, locally administered MAC address of household ``household``."""
    h = household + 1
    return f"02:00:{h >> 24 & 0xFF:02x}:{h >> 16 & 0xFF:02x}:{h >> 8 & 0xFF:02x}:{h & 0xFF:02x}"


def household_ip(household: int) -> str:
    """The stable IPv4 address of household ``household`` (in 10.0.0.0/8)."""
    h = household + 1
    return f"10.{h >> 16 & 0xFF}.{h >> 8 & 0xFF}.{h & 0xFF}"


#: The far end of every household's traffic (a documentation address, RFC 5737).
SERVER_MAC = "02:ff:00:00:00:01"
SERVER_IP = "192.0.2.1"
#: Bytes of the UNI frames' UDP payload used for the sequence tag: queue (4) and index (4).
TAG_BYTES = 8


@dataclass
class UniSink:
    """The run's packet sink for the UNI capture (duck-types :class:`ftth.metrics.PacketTrace`:
    ``write`` and ``close``; forwards every batch to ``then`` when given, e.g. the run's
    ``output.trace_csv``).

    Parameters
    ----------
    spec
        The run (queues → households and ONUs).
    onu_ids
        ONU-IDs whose households are captured (None: all).
    end_ps
        Frames stamped at or after this are not kept (None: the whole run).
    """

    spec: EmulationSpec
    onu_ids: set[int] | None = None
    end_ps: int | None = None
    then: Any = None
    _parts: dict[str, list[tuple[I64, I64, I64, I64]]] = field(default_factory=dict, init=False)
    _keep: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        sides = (("upstream", self.spec.upstream), ("downstream", self.spec.downstream))
        for direction, queues in sides:
            self._keep[direction] = np.array(
                [
                    self.onu_ids is None or self.spec.onu_ids[q.onu_index] in self.onu_ids
                    for q in queues
                ],
                dtype=bool,
            )
            self._parts[direction] = []

    def write(
        self,
        direction: str,
        queue: Any,
        arrival_ps: Any,
        departure_ps: Any,
        size_bytes: Any,
        dropped: Any = False,
    ) -> None:
        if self.then is not None:
            self.then.write(direction, queue, arrival_ps, departure_ps, size_bytes, dropped)
        q = np.asarray(queue, dtype=np.int64)
        if not len(q) or np.any(dropped):
            return
        keep = self._keep[direction][q]
        stamp = np.asarray(arrival_ps if direction == "upstream" else departure_ps, np.int64)
        if self.end_ps is not None:
            keep &= stamp < self.end_ps
        if np.any(keep):
            self._parts[direction].append(
                (q[keep], stamp[keep], np.asarray(size_bytes, np.int64)[keep],
                 np.asarray(departure_ps, np.int64)[keep])
            )  # fmt: skip

    def close(self) -> None:
        if self.then is not None:
            self.then.close()

    def frames(self) -> list[tuple[int, str, int, int, int]]:
        """Every kept frame ``(time_ps, direction, queue, size, index in its queue)`` in time
        order (ties: upstream first, then queue and index)."""
        out: list[tuple[int, str, int, int, int]] = []
        for direction in ("upstream", "downstream"):
            parts = self._parts[direction]
            if not parts:
                continue
            q, t, s, d = (np.concatenate([p[i] for p in parts]) for i in range(4))
            # Index of each frame among its queue's delivered frames (departure order).
            order = np.lexsort((d, q))
            seq = np.empty(len(q), dtype=np.int64)
            qs = q[order]
            starts = np.r_[0, np.flatnonzero(np.diff(qs)) + 1]
            run_len = np.diff(np.r_[starts, len(qs)])
            seq[order] = np.arange(len(qs)) - np.repeat(starts, run_len)
            out.extend(
                zip(t.tolist(), [direction] * len(q), q.tolist(), s.tolist(), seq.tolist(),
                    strict=True)
            )  # fmt: skip
        out.sort(key=lambda r: (r[0], r[1] != "upstream", r[2], r[4]))
        return out

    def records(self) -> list[tuple[int, bytes]]:
        """The capture's records: Ethernet/IPv4/UDP frames of each SDU's size minus the FCS."""
        templates: dict[tuple[str, int, int], bytes] = {}
        out: list[tuple[int, bytes]] = []
        for t, direction, q, size, seq in self.frames():
            key = (direction, q, size)
            frame = templates.get(key)
            if frame is None:
                frame = self._template(direction, q, size)
                templates[key] = frame
            tag = q.to_bytes(4, "big") + (seq & 0xFFFFFFFF).to_bytes(4, "big")
            head = phy.ETH_HEADER_BYTES + phy.IPV4_HEADER_BYTES + phy.UDP_HEADER_BYTES
            out.append((t, frame[:head] + tag + frame[head + TAG_BYTES :]))
        return out

    def _template(self, direction: str, q: int, size: int) -> bytes:
        queues = self.spec.upstream if direction == "upstream" else self.spec.downstream
        hh = queues[q].household
        head = phy.ETH_HEADER_BYTES + phy.IPV4_HEADER_BYTES + phy.UDP_HEADER_BYTES
        length = max(size - phy.ETH_FCS_BYTES, head + TAG_BYTES)
        me = (household_mac(hh), household_ip(hh), UNI_CLIENT_PORT + q % 16384)
        far = (SERVER_MAC, SERVER_IP, UNI_SERVER_PORT)
        src, dst = (me, far) if direction == "upstream" else (far, me)
        pkt = (
            Ether(src=src[0], dst=dst[0])
            / IP(src=src[1], dst=dst[1], id=0, ttl=64)
            / UDP(sport=src[2], dport=dst[2], chksum=0)
            / (b"\x00" * (length - head))
        )
        return bytes(pkt)

    def write_pcap(self, path: Path, where: str = "--pcap-uni") -> dict[str, int]:
        """Write the capture (linktype 1); return its counts."""
        write_records(path, phy.LINKTYPE_ETHERNET, self.records(), where)
        return self.counts()

    def counts(self) -> dict[str, int]:
        """What the capture holds: frames per direction and their SDU bytes."""
        frames = self.frames()
        up = sum(1 for f in frames if f[1] == "upstream")
        return {
            "packets": len(frames),
            "upstream_packets": up,
            "downstream_packets": len(frames) - up,
            "bytes": sum(f[3] for f in frames),
        }


def seconds(t_ps: int) -> float:
    """Picoseconds as seconds (for messages)."""
    return t_ps / PS_PER_S
