"""Integer time base of the emulator.

All simulated time is an ``int64`` count of **picoseconds**.  A 125 µs PON frame is
exactly ``125_000_000`` ps, so frame boundaries never drift.  Byte and word times at the
ITU line rates are not integers (a byte at 2.48832 Gb/s lasts 3215.02 ps), so positions
inside a frame are converted with :func:`offset_to_ps`, an exact integer floor division
relative to the frame start, never by accumulating a rounded per-byte time.

Floats (µs, ms, s) appear only at the edges: scenario input and reports.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

PS_PER_NS: Final[int] = 1_000
PS_PER_US: Final[int] = 1_000_000
PS_PER_MS: Final[int] = 1_000_000_000
PS_PER_S: Final[int] = 1_000_000_000_000

#: 125 µs, the frame period of every ITU PON (G.984.3 §8.1, G.987.3 §10.1, G.9807.1 §C.10).
FRAME_PS: Final[int] = 125 * PS_PER_US

#: Light in standard single-mode fibre: group index ≈ 1.468, i.e. ≈ 4.9 µs/km; the
#: planning figure of 5 µs per km one way (pon-reference §3) is used throughout.
FIBRE_PS_PER_KM: Final[int] = 5 * PS_PER_US

TimePs = np.int64
TimeArray = npt.NDArray[np.int64]


def s_to_ps(seconds: float) -> int:
    """Convert seconds to integer picoseconds (rounded to nearest)."""
    return int(round(seconds * PS_PER_S))


def us_to_ps(microseconds: float) -> int:
    """Convert microseconds to integer picoseconds (rounded to nearest)."""
    return int(round(microseconds * PS_PER_US))


def ps_to_s(time_ps: int | float) -> float:
    """Convert picoseconds to seconds (for reporting only)."""
    return float(time_ps) / PS_PER_S


def ps_to_us(time_ps: int | float) -> float:
    """Convert picoseconds to microseconds (for reporting only)."""
    return float(time_ps) / PS_PER_US


def km_to_one_way_ps(distance_km: float) -> int:
    """One-way fibre propagation delay of ``distance_km`` in integer picoseconds."""
    return int(round(distance_km * FIBRE_PS_PER_KM))


def offset_to_ps(offset_bytes: int, bytes_per_frame: int, frame_ps: int = FRAME_PS) -> int:
    """Time from a frame's start to the end of byte ``offset_bytes`` of that frame.

    Exact integer arithmetic: ``offset * frame_ps // bytes_per_frame``.  Because each frame
    starts at an exact multiple of ``frame_ps``, rounding never accumulates.
    """
    return (offset_bytes * frame_ps) // bytes_per_frame


def bytes_to_ps(n_bytes: int, rate_bps: float) -> int:
    """Serialisation time of ``n_bytes`` at ``rate_bps`` (rounded up to whole ps)."""
    return -((-n_bytes * 8 * PS_PER_S) // int(rate_bps))
