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
from ftth.phy import FecCode, Profile, psbu_slot_bytes
from olt.dba.base import TcontTable

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


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

    def build(self, frame: int, payload_grants: I64, dbru_mask: B) -> BwMap:
        """Lay out one upstream frame; raise :class:`DbaError` on any broken rule."""
        p = self.profile
        unit = self.unit
        active = (payload_grants > 0) | dbru_mask
        idx = self.order[active[self.order]]
        n_alloc = len(idx)
        if n_alloc > p.max_allocations_per_frame:
            raise self._fail(
                frame,
                f"{n_alloc} allocation structures, at most {p.max_allocations_per_frame} per frame",
            )
        dbru = dbru_mask[idx]
        dbru_bytes = np.where(dbru, p.dbru_bytes, 0).astype(np.int64)
        alloc_bytes = -(-(payload_grants[idx] + dbru_bytes) // unit) * unit
        grant_units = alloc_bytes // unit
        if n_alloc and int(grant_units.max()) > p.max_grant_units:
            j = int(idx[int(np.argmax(grant_units))])
            raise self._fail(
                frame,
                f"GrantSize {int(grant_units.max())} units for Alloc-ID"
                f" {int(self.tconts.alloc_id[j])} exceeds the maximum {p.max_grant_units}",
            )
        onu = self.tconts.onu_index[idx]
        # Burst boundaries: where the ONU changes.
        first = np.ones(n_alloc, dtype=bool)
        first[1:] = onu[1:] != onu[:-1]
        burst_id = np.cumsum(first) - 1
        n_bursts = int(burst_id[-1]) + 1 if n_alloc else 0
        # Offsets of allocations inside their burst's protected part.
        cum = np.cumsum(alloc_bytes) - alloc_bytes
        burst_first_cum = cum[first]
        offset_in_burst = p.us_burst_header_bytes + cum - burst_first_cum[burst_id]
        burst_data = np.bincount(burst_id, weights=alloc_bytes, minlength=n_bursts).astype(np.int64)
        protected = burst_data + p.us_burst_header_bytes + p.us_burst_trailer_bytes
        coded = -(-protected * self.fec.n // self.fec.k) if self.fec is not None else protected
        span = self.psbu_slot + (-(-coded // unit)) * unit
        burst_start = np.cumsum(span) - span
        used = int(span.sum()) if n_bursts else 0
        if used > p.us_bytes_per_frame:
            raise self._fail(
                frame,
                f"allocations need {used} bytes of upstream frame, only {p.us_bytes_per_frame}"
                f" exist ({n_bursts} bursts, {n_alloc} allocations)",
            )
        line_start = (burst_start + self.psbu_slot)[burst_id]
        start_unit = line_start // unit
        if n_alloc and int(start_unit.max()) > p.max_start_units:
            raise self._fail(frame, f"StartTime {int(start_unit.max())} beyond {p.max_start_units}")
        return BwMap(
            frame=frame,
            tcont=idx,
            onu=onu,
            alloc_id=self.tconts.alloc_id[idx],
            start_unit=start_unit,
            grant_units=grant_units,
            dbru=dbru,
            room_bytes=alloc_bytes - dbru_bytes,
            burst_start_bytes=burst_start[burst_id],
            line_start_bytes=line_start,
            data_start_bytes=offset_in_burst + dbru_bytes,
            dbru_end_bytes=offset_in_burst + dbru_bytes,
            used_line_bytes=used,
        )
