"""``pcap``: replay a capture's frame sizes and inter-arrival times.

scapy is imported only when a capture is loaded: importing it costs about a second, and
most runs never replay a capture.
"""

from __future__ import annotations

import gzip
import os
import struct
from typing import Any

import numpy as np

from ftth.errors import InputError
from ftth.traffic.base import FAR_PS, NEVER_PS, BufferedSource, Params, SizeArray, TimeArray, param
from ftth.units import PS_PER_S

#: Classic pcap file header and per-record header lengths (bytes).
_PCAP_HEADER_BYTES = 24
_PCAP_RECORD_BYTES = 16


class PcapParams(Params):
    """Parameters of ``pcap``."""

    path: str = param(allowed="the path of a pcap or pcapng file", min_length=1)
    loop: bool = param(True, allowed="true or false")
    speed: float = param(
        1.0,
        allowed="a time-scale factor in [1e-6, 1e6] (2 = twice as fast)",
        ge=1e-6,
        le=1e6,
    )


def _pcapng_is_complete(path: str) -> bool:
    """Whether a pcapng file is a whole number of blocks (scapy stops silently otherwise)."""
    opener: Any = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as handle:
        data = handle.read()
    position = 0
    endian = "<"
    while position < len(data):
        if len(data) - position < 12:
            return False
        block_type = data[position : position + 4]
        if block_type == b"\x0a\x0d\x0d\x0a":
            magic = data[position + 8 : position + 12]
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
        (length,) = struct.unpack(endian + "I", data[position + 4 : position + 8])
        if length < 12 or position + length > len(data):
            return False
        position += length
    return True


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def read_capture(path: str) -> tuple[TimeArray, SizeArray]:
    """Timestamps (ps, relative to the first packet) and wire lengths (bytes) of a capture.

    Reads classic pcap (µs or ns timestamps) and pcapng, optionally gzipped, with scapy's
    raw readers (no dissection, so large captures load fast).  Sizes are the recorded wire
    lengths exactly (captures usually omit the 4-byte FCS, so minimum-size frames appear as
    60 bytes).

    Raises
    ------
    InputError
        Missing or unreadable file, not a capture, truncated, no packets, or packets without
        timestamps.  ``where`` is the path.
    """
    if not os.path.isfile(path):
        raise InputError(path, "no such capture file" if not os.path.exists(path) else "not a file")
    from scapy.error import Scapy_Exception  # noqa: PLC0415 - lazy on purpose (startup time)
    from scapy.utils import RawPcapNgReader, RawPcapReader  # noqa: PLC0415

    stamps_ps: list[int] = []
    sizes: list[int] = []
    try:
        reader: Any = RawPcapReader(path)
    except (Scapy_Exception, EOFError, OSError, struct.error, ValueError) as exc:
        raise InputError(path, f"not a pcap/pcapng capture ({exc})".replace("\n", " ")) from None
    try:
        with reader:
            if isinstance(reader, RawPcapNgReader):
                meta: Any
                for _data, meta in reader:
                    if meta.tshigh is None:
                        raise InputError(
                            path, "packet without a timestamp (pcapng simple packet block)"
                        )
                    ticks = (meta.tshigh << 32) | meta.tslow
                    stamps_ps.append(ticks * PS_PER_S // int(meta.tsresol))
                    sizes.append(meta.wirelen)
                complete = _pcapng_is_complete(path)
            else:
                fraction_ps = 1_000 if reader.nano else 1_000_000
                expected_end = _PCAP_HEADER_BYTES
                for _data, meta in reader:  # noqa: B007 - typed above
                    stamps_ps.append(meta.sec * PS_PER_S + meta.usec * fraction_ps)
                    sizes.append(meta.wirelen)
                    expected_end += _PCAP_RECORD_BYTES + meta.caplen
                # scapy ends quietly at a cut record: a whole file ends exactly after its
                # last record, a truncated one does not.
                complete = reader.f.tell() == expected_end
    except InputError:
        raise
    except (Scapy_Exception, EOFError, OSError, struct.error, ValueError) as exc:
        raise InputError(path, f"unreadable capture ({exc})".replace("\n", " ")) from None
    if not complete:
        raise InputError(
            path, f"truncated capture (read {len(sizes)} whole packets before the cut)"
        )
    if not sizes:
        raise InputError(path, "capture has no packets")
    # Absolute epoch times in ps overflow int64 (1.7e21): make them relative in Python ints.
    first_ps = stamps_ps[0]
    relative_ps = [stamp - first_ps for stamp in stamps_ps]
    if max(relative_ps) > 2**62 or min(relative_ps) < -(2**62):
        raise InputError(path, "capture spans more than 53 days; cannot replay it")
    stamp_array = np.asarray(relative_ps, dtype=np.int64)
    size_array = np.asarray(sizes, dtype=np.int64)
    if (size_array <= 0).any():
        raise InputError(path, f"packet {int(np.argmin(size_array))} has length 0")
    # Out-of-order timestamps (common in merged captures) are held back to the previous
    # one: the replay keeps the file's packet order and never goes back in time.
    stamp_array = np.maximum.accumulate(stamp_array)
    return stamp_array - stamp_array[0], size_array


class PcapSource(BufferedSource):
    """Replay of a capture file: sizes and inter-arrival times, optionally looped.

    The first packet arrives at the origin; packet ``i`` at ``(t_i − t_0)/speed`` after it.
    Looping repeats the capture every ``(span + mean gap)/speed``, where ``span = t_last − t_0``
    and ``mean gap = span/(n − 1)``, so the join looks like an ordinary gap.  ``mean_rate_bps``
    is the capture's bytes × 8 over that period (the rate while replaying, also without loop).
    Sizes are the recorded wire lengths exactly, in file order (a capture's frames may be
    below 64 bytes: they are replayed as recorded).
    """

    name = "pcap"

    def __init__(
        self,
        params: PcapParams,
        rng: np.random.Generator,
        *,
        line_rate_bps: float,
        where: str,
    ) -> None:
        super().__init__()
        offsets_ps, self._size_bytes = read_capture(params.path)
        count = offsets_ps.size
        self.loop = params.loop
        self.path = params.path
        span_ps = int(offsets_ps[-1])
        if count == 1 or span_ps == 0:
            if params.loop:
                raise InputError(
                    params.path,
                    "cannot loop a capture whose packets all have the same timestamp "
                    "(needs 2+ packets spread in time; set loop = false)",
                )
            period_ps = 1.0  # a single instant: the rate is undefined, report 0
        else:
            period_ps = (span_ps + span_ps / (count - 1)) / params.speed
            if params.loop and period_ps < 1.0:
                raise InputError(
                    f"{where}.speed", "too fast for this capture: the loop would last < 1 ps"
                )
        # Saturate at FAR_PS ("never"), as every source does: a long capture replayed slowly
        # would otherwise overflow int64.
        self._offsets_ps = np.minimum(np.rint(offsets_ps / params.speed), FAR_PS).astype(np.int64)
        self._period_ps = period_ps
        self.mean_rate_bps = (
            0.0 if span_ps == 0 else float(self._size_bytes.sum()) * 8 * PS_PER_S / period_ps
        )
        # Whole loops per generation step, about 64k packets.
        self._loops_per_step = max(1, 65536 // count)
        self._next_loop = 0
        self._origin = 0

    @property
    def period_ps(self) -> float:
        """Loop period (ps)."""
        return self._period_ps

    @property
    def packet_count(self) -> int:
        """Packets in the capture."""
        return int(self._size_bytes.size)

    def _start(self, origin_ps: int) -> None:
        self._origin = origin_ps

    def _extend(self) -> tuple[TimeArray, SizeArray, int]:
        if not self.loop:
            if self._next_loop > 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), NEVER_PS
            self._next_loop = 1
            return self._origin + self._offsets_ps, self._size_bytes.copy(), NEVER_PS
        loops = np.arange(self._next_loop, self._next_loop + self._loops_per_step)
        self._next_loop += self._loops_per_step
        # Loop starts from the loop index directly (no accumulated rounding).
        loop_start_ps = self._origin + np.minimum(np.floor(loops * self._period_ps), FAR_PS).astype(
            np.int64
        )
        arrival_ps = (loop_start_ps[:, None] + self._offsets_ps[None, :]).ravel()
        size_bytes = np.tile(self._size_bytes, self._loops_per_step)
        # Every later packet arrives at or after the next loop's start.
        next_start_ps = self._origin + int(min(np.floor(self._next_loop * self._period_ps), FAR_PS))
        return arrival_ps, size_bytes, next_start_ps
