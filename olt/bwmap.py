"""BWmap construction and validation (G.984.3 §8.1.3.6, G.987.3 §8.1.1, G.9807.1 §C.8.1.1).

The builder turns a DBA's payload grants into the allocation structures of one upstream
frame and checks every rule of the standard on the way.  A DBA that breaks one gets a
:class:`ftth.errors.DbaError` naming the DBA, the frame and the rule — never a silently
corrupted frame.

Layout (all positions in line bytes from the start of the upstream frame at the OLT):

* Allocations of one ONU form one burst; bursts follow in ONU order, allocations inside a
  burst in T-CONT order.
* A burst owns a whole number of grant units: a PSBu slot (guard + preamble + delimiter,
  rounded up to the unit — :func:`ftth.phy.psbu_slot_bytes`), then the FEC-protected part:
  TC header, allocations (each a DBRu when flagged, then payload), trailer, rounded up to the
  unit.  So every StartTime is unit-aligned and bursts never overlap, and the guard time
  separates every pair of ONUs.
* GrantSize of an allocation = (DBRu + payload) rounded up to the grant unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ftth.errors import DbaError
from ftth.jit import kernel
from ftth.phy import FecCode, Profile, psbu_slot_bytes
from olt.dba import kernel as dk
from olt.dba.base import DbaContext, TcontTable

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

# Status of :func:`lay_out` (``err[0]``), with what ``err[1:]`` then holds.
LAYOUT_OK = 0
LAYOUT_TOO_MANY = 1  #: allocations
LAYOUT_GRANT_UNITS = 2  #: T-CONT index, GrantSize in units
LAYOUT_OVERFLOW = 3  #: line bytes needed, bursts, allocations
LAYOUT_START_UNITS = 4  #: StartTime in units

# Per-allocation output rows of :func:`lay_out` (``alloc[row, i]``).
(
    A_TCONT,
    A_DBRU,  #: 1 when the allocation carries a DBRu
    A_ROOM,  #: payload bytes after the DBRu
    A_BURST_START,  #: line offset of the burst (its PSBu)
    A_LINE_START,  #: line offset of the burst's first protected byte
    A_DATA_START,  #: payload offset in the protected part
    A_DBRU_END,  #: end of the DBRu in the protected part
    A_GRANT_UNITS,
    A_N,
) = range(9)


@kernel
def lay_out(
    ctx: I64, grants: I64, dbru_mask: I64, order: I64, onu_of: I64, dbru_bytes: int,
    alloc: I64, err: I64,
) -> int:  # fmt: skip
    """Lay out one upstream frame: the one BWmap rule every engine runs
    (:func:`lay_out_from` with no quiet window)."""
    return lay_out_from(ctx, grants, dbru_mask, order, onu_of, dbru_bytes, 0, alloc, err)


@kernel
def lay_out_quiet(
    ctx: I64, grants: I64, dbru_mask: I64, order: I64, onu_of: I64, dbru_bytes: int,
    quiet_bytes: int, alloc: I64, err: I64,
) -> int:  # fmt: skip
    """Lay out a frame whose first ``quiet_bytes`` (whole grant units) the OLT keeps quiet
    (serial-number acquisition, ranging: pon-reference §4).

    The DBA sized its grants for a whole frame, so when they no longer fit after the quiet
    window the grants are trimmed, last T-CONT in transmission order first, until the frame
    fits (``grants`` is changed in place; a grant trimmed to nothing loses its allocation
    unless it carries a DBRu); when DBRu polls alone do not fit, the last ones are dropped
    (``dbru_mask`` changed in place).  Returns what :func:`lay_out_from` returns.
    """
    while True:
        n = lay_out_from(ctx, grants, dbru_mask, order, onu_of, dbru_bytes, quiet_bytes, alloc, err)
        if n >= 0 or err[0] != LAYOUT_OVERFLOW:
            return n
        excess = err[1] - ctx[dk.C_US_BPF]
        trimmed = False
        oi = order.shape[0] - 1
        while oi >= 0 and excess > 0:
            j = order[oi]
            cut = grants[j] if grants[j] < excess else excess
            if cut > 0:
                grants[j] -= cut
                excess -= cut
                trimmed = True
            oi -= 1
        if not trimmed:
            # Only DBRu polls are left and they do not fit either: the polls wait.
            for oi in range(order.shape[0] - 1, -1, -1):
                j = order[oi]
                if dbru_mask[j] != 0:
                    dbru_mask[j] = 0
                    trimmed = True
                    break
        if not trimmed:
            return n


@kernel
def lay_out_from(
    ctx: I64, grants: I64, dbru_mask: I64, order: I64, onu_of: I64, dbru_bytes: int,
    start_bytes: int, alloc: I64, err: I64,
) -> int:  # fmt: skip
    """Lay out one upstream frame, the first burst at line offset ``start_bytes``.

    ``ctx`` is the frame-arithmetic vector of :mod:`olt.dba.kernel`; ``grants`` the payload
    bytes per T-CONT, ``dbru_mask`` 1 where a DBRu is requested, ``order`` the transmission
    order of the T-CONTs (by ONU, then index), ``dbru_bytes`` the size of one DBRu.  Fills
    ``alloc[:, :n]`` (``A_*`` rows) and returns ``n`` the number of allocations, with the
    line bytes the bursts occupy in ``err[1]``; on a broken rule returns −1 with
    ``err[0]`` the ``LAYOUT_*`` code and ``err[1:]`` its numbers.
    """
    unit = ctx[dk.C_UNIT]
    fec_n, fec_k = ctx[dk.C_FEC_N], ctx[dk.C_FEC_K]
    hdr, trl, slot = ctx[dk.C_US_HDR], ctx[dk.C_US_TRL], ctx[dk.C_PSBU_SLOT]
    err[0] = LAYOUT_OK
    n = 0
    worst = -1
    for oi in range(order.shape[0]):
        j = order[oi]
        if grants[j] > 0 or dbru_mask[j] != 0:
            d = dbru_bytes if dbru_mask[j] != 0 else 0
            units = -((-(grants[j] + d)) // unit)
            alloc[A_TCONT, n] = j
            alloc[A_DBRU, n] = 1 if d > 0 else 0
            alloc[A_GRANT_UNITS, n] = units
            alloc[A_ROOM, n] = units * unit - d
            if worst < 0 or units > alloc[A_GRANT_UNITS, worst]:
                worst = n
            n += 1
    if n > ctx[dk.C_MAX_ALLOCS]:
        err[0], err[1] = LAYOUT_TOO_MANY, n
        return -1
    if n > 0 and alloc[A_GRANT_UNITS, worst] > ctx[dk.C_MAX_GRANT_UNITS]:
        err[0], err[1], err[2] = (
            LAYOUT_GRANT_UNITS,
            alloc[A_TCONT, worst],
            alloc[A_GRANT_UNITS, worst],
        )
        return -1
    cursor = start_bytes
    n_bursts = 0
    last_line_start = 0
    i = 0
    while i < n:
        onu = onu_of[alloc[A_TCONT, i]]
        first = i
        data = 0
        while i < n and onu_of[alloc[A_TCONT, i]] == onu:
            d = dbru_bytes if alloc[A_DBRU, i] == 1 else 0
            alloc[A_DBRU_END, i] = hdr + data + d
            alloc[A_DATA_START, i] = hdr + data + d
            data += alloc[A_GRANT_UNITS, i] * unit
            i += 1
        protected = data + hdr + trl
        coded = -((-protected * fec_n) // fec_k) if fec_k > 0 else protected
        span = slot + (-((-coded) // unit)) * unit
        for a in range(first, i):
            alloc[A_BURST_START, a] = cursor
            alloc[A_LINE_START, a] = cursor + slot
        last_line_start = cursor + slot
        cursor += span
        n_bursts += 1
    if cursor > ctx[dk.C_US_BPF]:
        err[0], err[1], err[2], err[3] = LAYOUT_OVERFLOW, cursor, n_bursts, n
        return -1
    if n > 0 and last_line_start // unit > ctx[dk.C_MAX_START_UNITS]:
        err[0], err[1] = LAYOUT_START_UNITS, last_line_start // unit
        return -1
    err[1] = cursor - start_bytes
    return n


def layout_rule(err: I64, alloc_id: I64, profile: Profile) -> str:
    """Words for a :func:`lay_out` failure (the rule broken, with its numbers)."""
    code = int(err[0])
    p = profile
    if code == LAYOUT_TOO_MANY:
        return (
            f"{int(err[1])} allocation structures, at most {p.max_allocations_per_frame} per frame"
        )
    if code == LAYOUT_GRANT_UNITS:
        return (
            f"GrantSize {int(err[2])} units for Alloc-ID {int(alloc_id[int(err[1])])}"
            f" exceeds the maximum {p.max_grant_units}"
        )
    if code == LAYOUT_OVERFLOW:
        return (
            f"allocations need {int(err[1])} bytes of upstream frame, only {p.us_bytes_per_frame}"
            f" exist ({int(err[2])} bursts, {int(err[3])} allocations)"
        )
    return f"StartTime {int(err[1])} beyond {p.max_start_units}"


@dataclass(frozen=True)
class BwMap:
    """Allocation structures of one upstream frame in transmission order (one array entry
    per allocation)."""

    frame: int
    tcont: I64  #: T-CONT index
    onu: I64  #: ONU index
    alloc_id: I64
    start_unit: I64  #: StartTime of the allocation's burst (first allocation) in grant units
    grant_units: I64  #: GrantSize in grant units (DBRu + payload)
    dbru: B  #: DBRu requested
    room_bytes: I64  #: payload bytes available after the DBRu
    burst_start_bytes: I64  #: line offset where the burst (its PSBu) begins
    line_start_bytes: I64  #: line offset of the first protected byte (the TC header)
    data_start_bytes: I64  #: offset of the payload in the burst's protected part
    dbru_end_bytes: I64  #: offset of the end of the DBRu in the protected part
    used_line_bytes: int  #: line bytes occupied by all bursts

    @property
    def n_allocations(self) -> int:
        return len(self.tcont)


class BwmapBuilder:
    """Builds and validates one :class:`BwMap` per frame.

    Parameters
    ----------
    profile, fec
        Technology profile and the upstream FEC code in force (``None`` = off).
    tconts
        The provisioned T-CONT table.
    dba_name
        Name of the DBA, for error messages.
    """

    def __init__(
        self, profile: Profile, fec: FecCode | None, tconts: TcontTable, dba_name: str
    ) -> None:
        self.profile = profile
        self.fec = fec
        self.tconts = tconts
        self.dba_name = dba_name
        self.unit = profile.grant_unit_bytes
        self.psbu_slot = psbu_slot_bytes(profile)
        # Transmission order: by ONU, then by T-CONT index.
        self.order: I64 = np.lexsort((np.arange(tconts.count), tconts.onu_index)).astype(np.int64)
        self.onu_of: I64 = np.ascontiguousarray(tconts.onu_index, dtype=np.int64)
        # The frame-arithmetic vector the kernels share (DBRu sizes are passed per call).
        self._ctx: I64 = DbaContext(
            profile, fec, tconts, 1 + int(tconts.onu_index.max(initial=0)), 1, True
        ).kernel_ctx
        self._alloc: I64 = np.zeros((A_N, tconts.count), dtype=np.int64)
        self._err: I64 = np.zeros(4, dtype=np.int64)

    def _fail(self, frame: int, rule: str) -> DbaError:
        return DbaError(self.dba_name, frame, rule)

    def check_grants(self, frame: int, grants: object, n_frames: int) -> I64:
        """Validate the raw return value of a DBA; return it as ``(n_frames, n_tconts)`` int64."""
        n = self.tconts.count
        arr = np.asarray(grants)
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr)):
                arr = arr.astype(np.int64)
            else:
                raise self._fail(
                    frame, f"grants must be whole bytes (integers), got dtype {arr.dtype}"
                )
        if arr.ndim == 1:
            if arr.shape[0] != n:
                raise self._fail(
                    frame, f"grants has {arr.shape[0]} entries, expected one per T-CONT ({n})"
                )
            arr = np.broadcast_to(arr, (n_frames, n))
        elif arr.shape != (n_frames, n):
            raise self._fail(
                frame, f"grants shape {arr.shape}, expected ({n},) or ({n_frames}, {n})"
            )
        if np.any(arr < 0):
            j = int(np.argwhere(arr < 0)[0][-1])
            raise self._fail(
                frame, f"negative grant for T-CONT {j} (Alloc-ID {int(self.tconts.alloc_id[j])})"
            )
        return np.ascontiguousarray(arr, dtype=np.int64)

    def build(self, frame: int, payload_grants: I64, dbru_mask: B, quiet_bytes: int = 0) -> BwMap:
        """Lay out one upstream frame (:func:`lay_out`, or :func:`lay_out_quiet` when the
        frame opens a quiet window of ``quiet_bytes``); raise :class:`DbaError` on any
        broken rule."""
        p = self.profile
        alloc = self._alloc
        err = self._err
        if quiet_bytes > 0:
            n = lay_out_quiet(
                self._ctx, np.array(payload_grants, dtype=np.int64),
                np.array(dbru_mask, dtype=np.int64), self.order, self.onu_of,
                p.dbru_bytes, quiet_bytes, alloc, err,
            )  # fmt: skip
        else:
            n = lay_out(
                self._ctx, np.ascontiguousarray(payload_grants, dtype=np.int64),
                np.ascontiguousarray(dbru_mask, dtype=np.int64), self.order, self.onu_of,
                p.dbru_bytes, alloc, err,
            )  # fmt: skip
        if n < 0:
            raise self._fail(frame, layout_rule(err, self.tconts.alloc_id, p))
        a = alloc[:, :n].copy()
        #: The last frame's allocation rows (``A_*``), for the OLT's books and timing.
        self.last_alloc: I64 = alloc
        idx = a[A_TCONT]
        return BwMap(
            frame=frame,
            tcont=idx,
            onu=self.tconts.onu_index[idx],
            alloc_id=self.tconts.alloc_id[idx],
            start_unit=a[A_LINE_START] // self.unit,
            grant_units=a[A_GRANT_UNITS],
            dbru=a[A_DBRU] == 1,
            room_bytes=a[A_ROOM],
            burst_start_bytes=a[A_BURST_START],
            line_start_bytes=a[A_LINE_START],
            data_start_bytes=a[A_DATA_START],
            dbru_end_bytes=a[A_DBRU_END],
            used_line_bytes=int(err[1]),
        )
