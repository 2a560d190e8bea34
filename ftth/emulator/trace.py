"""The frame trace: exactly what the emulator did in a window of frames, frame by frame.

:func:`trace_frames` runs the **stepped** fast engine (:func:`ftth.emulator.fast.run_fast`
with an observer; the stepped path calls the same OLT and ONU kernels as the compiled loop
and is tested identical to it) and records, for frames ``[first_frame, first_frame +
n_frames)``, every BWmap allocation structure, every upstream burst with its GEM/XGEM frames,
DBRus and idle bytes, and every downstream frame's header size and GEM/XGEM frames.  The
captures (:mod:`ftth.capture`) and the timelines are drawn from it.

How the GEM/XGEM frames are known: the engines' kernel reports bytes per grant, not pieces.
Just before a direction's grants are served, the observer copies the queues' state; when the
frame is done it serves the same grants again on the copy with the same serving loop, told to
log its pieces (:func:`onu.fifo.serve_grants_logged`: one rule, no second copy of FIFO
service, fragmentation and padding), and checks that every grant used exactly the bytes the
engine reported and that every queue ends where the engine left it (the copy was the store
the engine served).  A mismatch is an internal error, never a silent difference.  On the
fault path (faults, bit errors) the copy is served with the fault rules and the frame's own
codeword draws (:func:`onu.fifo.serve_grants_faults_logged`, inputs from
:class:`ftth.emulator.fast.FaultInputs`), and each piece carries its ``fate``: 0 intact, 1
lost to a failed codeword, 2 lost with a HEC error (the failed codeword holds its header).

Conventions (the emulator has no port provisioning, so the trace names the ports):

* upstream XGEM/GEM Port-ID = the T-CONT's Alloc-ID (one port per T-CONT);
* downstream Port-ID = ``profile.max_port_id − queue index`` (one port per ONU and class);
  downstream pieces carry ``alloc_id = 0``;
* ``packet_id`` = the SDU's position among the SDUs its queue has sent (0-based, FIFO
  order; dropped SDUs are not counted), so the k-th delivered frame of a household's queue
  in the UNI capture is the SDU with ``packet_id == k``.  An SDU lost to a fault or a bit
  error is not delivered: its pieces (one of them with ``fate > 0``) carry the id the next
  delivered SDU of its queue takes;
* ``UpstreamFrame.start_ps`` is ``U_k``, when upstream frame ``k`` starts arriving at the
  OLT (``t_k + Teqd``); ``DownstreamFrame.start_ps`` is ``t_k``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ftth.emulator.fast import FaultInputs, run_fast
from ftth.emulator.spec import I64, EmulationSpec
from ftth.errors import InputError, InvariantError
from ftth.phy import Profile, ds_overhead_bytes, psbu_slot_bytes
from ftth.scenario import Scenario, load_scenario
from onu import fifo
from onu.fifo import QueueStore
from onu.report import dbru_values


@dataclass(frozen=True)
class Allocation:
    """One BWmap allocation structure."""

    alloc_id: int
    onu_id: int
    tcont: str
    #: StartTime of the allocation's burst (the first protected byte after the PSBu), units.
    start_unit: int
    grant_units: int  #: GrantSize (DBRu + payload), grant units
    dbru: bool  #: DBRu flag (report requested)
    ploam: bool  #: PLOAMu flag (never set: PLOAM messaging is not modelled)
    burst_profile: int  #: XG(S)-PON burst profile index (0 in GPON)


@dataclass(frozen=True)
class XgemPiece:
    """One GEM/XGEM frame in a burst or a downstream frame."""

    port_id: int
    alloc_id: int
    payload_bytes: int
    pad_bytes: int
    header_bytes: int
    last_fragment: bool  #: LF (XGEM) / PTI end-of-fragment (GEM)
    packet_id: int  #: the SDU's index among the SDUs its queue sent (see the module doc)
    fate: int = 0  #: 0 intact, 1 lost to a failed codeword, 2 lost with a HEC error

    @property
    def line_bytes(self) -> int:
        """Header + payload + padding."""
        return self.header_bytes + self.payload_bytes + self.pad_bytes


@dataclass(frozen=True)
class Burst:
    """One ONU's upstream burst."""

    onu_id: int
    line_start_byte: int  #: offset in the upstream frame, line bytes (where the PSBu starts)
    psb_bytes: int  #: guard + preamble + delimiter (the PSBu slot)
    line_bytes: int  #: whole burst incl. PSBu, header, FEC parity, trailer
    allocations: tuple[Allocation, ...]
    pieces: tuple[XgemPiece, ...]
    dbru_bytes: tuple[tuple[int, int], ...]  #: (alloc_id, reported bytes) per DBRu
    idle_bytes: int  #: granted but unused (idle XGEM / padding)
    arrival_ps: int  #: when its last byte reaches the OLT
    #: Per allocation (aligned with ``allocations``): payload bytes granted after the DBRu.
    room_bytes: tuple[int, ...] = ()


@dataclass(frozen=True)
class UpstreamFrame:
    index: int
    start_ps: int
    bytes_per_frame: int
    bwmap: tuple[Allocation, ...]
    bursts: tuple[Burst, ...]
    quiet_ps: int  #: quiet window in this frame (0 until activation exists)


@dataclass(frozen=True)
class DownstreamFrame:
    index: int
    start_ps: int
    bytes_per_frame: int
    header_bytes: int  #: PSBd/PCBd/XGTC header incl. BWmap and PLOAM
    pieces: tuple[XgemPiece, ...]
    onu_of_piece: tuple[int, ...]
    #: Payload bytes the frame had for GEM/XGEM frames (after header and FEC parity).
    payload_room_bytes: int = 0


@dataclass(frozen=True)
class FrameTrace:
    profile_name: str
    upstream: tuple[UpstreamFrame, ...]
    downstream: tuple[DownstreamFrame, ...]
    #: ONU-ID of every ONU of the run, in ONU order.
    onu_ids: tuple[int, ...] = ()
    #: ONU-IDs whose bursts and downstream frames were kept (all when not limited).
    kept_onu_ids: tuple[int, ...] = ()


def downstream_port_id(profile: Profile, queue_index: int) -> int:
    """XGEM/GEM Port-ID of downstream queue ``queue_index`` (see the module docstring)."""
    return profile.max_port_id - queue_index


class _StopTrace(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by the recorder after the last traced frame: ends the stepped run early."""


@dataclass
class _Snapshot:
    qs: I64
    state: Any
    arrival_ps: I64
    size_bytes: I64
    enc: I64
    store: QueueStore
    faults: FaultInputs | None = None


#: One logged piece as the trace reads it:
#: ``(queue, payload, pad, last_fragment, packet_id, fate)``.
Piece = tuple[int, int, int, bool, int, int]


def logged_pieces(
    snap: _Snapshot, queue: I64, room: I64, cutoff_ps: I64
) -> tuple[list[list[Piece]], I64]:
    """Serve grants on a copy of a queue store with the serving kernel, logging its pieces
    (:func:`onu.fifo.serve_grants_logged`).

    Returns, per grant, its pieces ``(queue, payload, pad, last_fragment, packet_id, fate)``
    in the order they were laid, and the bytes each grant used.  ``snap`` is modified (it
    ends where the engine's store ends, which :func:`_check_snapshot` verifies).  The timing
    inputs are zeros: the pieces do not depend on them, only the departure times (not
    wanted here) do — except, on the fault path, where each grant's payload starts (a
    piece's fate depends on the codewords it overlaps), which comes with the snapshot's
    :class:`~ftth.emulator.fast.FaultInputs`.
    """
    n = len(queue)
    queue = np.ascontiguousarray(queue, dtype=np.int64)
    room = np.ascontiguousarray(room, dtype=np.int64)
    cutoff_ps = np.ascontiguousarray(cutoff_ps, dtype=np.int64)
    rows = int(fifo.piece_log_rows(snap.enc, room))
    log = np.zeros((rows, fifo.N_PIECE_FIELDS), dtype=np.int64)
    zeros = np.zeros(n, dtype=np.int64)
    # Departures (not read: every completed packet is a piece with the last flag set).
    out_q, out_a, out_s, out_d = (np.zeros(rows, dtype=np.int64) for _ in range(4))
    used = np.zeros(n, dtype=np.int64)
    f = snap.faults
    if f is None:
        n_log = fifo.serve_grants_logged(
            snap.qs, snap.arrival_ps, snap.size_bytes, snap.state, snap.enc, queue, room,
            cutoff_ps, zeros, zeros, zeros, zeros, 0, 0, 1, 0, out_q, out_a, out_s, out_d, used,
            log,
        )  # fmt: skip
    else:
        stat = np.zeros((2 * n + 16, 3), dtype=np.int64)
        data_start = np.ascontiguousarray(f.data_start[:n], dtype=np.int64)
        n_log = fifo.serve_grants_faults_logged(
            snap.qs, snap.arrival_ps, snap.size_bytes, snap.state, snap.enc, queue, room,
            cutoff_ps, zeros, zeros, data_start, zeros, 0, 0, 1, 0, out_q, out_a, out_s, out_d,
            used, f.spans, f.g_cw, f.cw_flags, f.cw_bytes, stat, log,
        )  # fmt: skip
    per_grant: list[list[Piece]] = [[] for _ in range(n)]
    cols = [fifo.P_GRANT, fifo.P_QUEUE, fifo.P_PAYLOAD, fifo.P_PAD, fifo.P_LAST, fifo.P_PACKET]
    for (g, q, payload, pad, last, packet), fate in zip(
        log[:n_log, cols].tolist(), log[:n_log, fifo.P_FATE].tolist(), strict=True
    ):
        per_grant[g].append((q, payload, pad, last == 1, packet, fate))
    return per_grant, used


def _check_snapshot(direction: str, k: int, snap: _Snapshot, mine: I64, used: I64) -> None:
    """The snapshot, served again, must end where the engine's store ended: the same bytes per
    grant and every queue at the same packet.  A mismatch means the snapshot was not the
    store the engine served (or not served the same grants): a bug, never a silent
    difference."""
    theirs = snap.store.qs
    ok = np.array_equal(mine, np.asarray(used[: len(mine)], dtype=np.int64))
    cols = [fifo.HEAD, fifo.HEAD_SENT, fifo.DELIV_P]
    ok = ok and np.array_equal(snap.qs[:, cols], theirs[:, cols])
    if not ok:
        raise InvariantError(
            f"frame trace: {direction} frame {k} served again on the snapshot of its queues"
            " does not end where the engine's queues end"
        )


class _Recorder:
    """The :class:`ftth.emulator.fast.FrameObserver` of :func:`trace_frames`."""

    def __init__(self, spec: EmulationSpec, first: int, stop: int, onus: set[int] | None) -> None:
        self.spec = spec
        self.first = first
        self.stop = stop
        self.onus = onus
        self.snaps: dict[str, _Snapshot] = {}
        self.upstream: list[UpstreamFrame] = []
        self.downstream: list[DownstreamFrame] = []
        p = spec.profile
        self.unit = p.grant_unit_bytes
        self.slot = psbu_slot_bytes(p)
        self.us_tcont_name = [q.name for q in spec.upstream]
        self.ds_onu_id = [spec.onu_ids[q.onu_index] for q in spec.downstream]

    def serving(
        self, direction: str, k: int, store: QueueStore, faults: FaultInputs | None = None
    ) -> None:
        if not self.first <= k < self.stop:
            return
        self.snaps[direction] = _Snapshot(
            store.qs.copy(), store.state.copy(), store.arrival_ps, store.size_bytes, store.enc,
            store, faults,
        )  # fmt: skip

    def frame(self, k: int, plan: Any, used: I64 | None, dplan: Any, ds_used: I64 | None) -> None:
        if k < self.first:
            return
        self.upstream.append(self._upstream(k, plan, used))
        self.downstream.append(self._downstream(k, dplan, ds_used))
        self.snaps.clear()
        if k + 1 >= self.stop:
            raise _StopTrace

    def _keep(self, onu_id: int) -> bool:
        return self.onus is None or onu_id in self.onus

    def _upstream(self, k: int, plan: Any, used: I64 | None) -> UpstreamFrame:
        spec, p = self.spec, self.spec.profile
        bw = plan.bwmap
        n = bw.n_allocations
        allocs = tuple(
            Allocation(
                alloc_id=int(bw.alloc_id[i]),
                onu_id=spec.onu_ids[int(bw.onu[i])],
                tcont=self.us_tcont_name[int(bw.tcont[i])],
                start_unit=int(bw.start_unit[i]),
                grant_units=int(bw.grant_units[i]),
                dbru=bool(bw.dbru[i]),
                ploam=False,
                burst_profile=0,
            )
            for i in range(n)
        )
        bursts: list[Burst] = []
        if n and used is not None:
            snap = self.snaps["upstream"]
            pieces_of, mine = logged_pieces(snap, bw.tcont, bw.room_bytes, plan.cutoff_ps)
            _check_snapshot("upstream", k, snap, mine, used)
            qs = snap.store.qs
            tc = bw.tcont
            reported = dbru_values(
                qs[tc, fifo.QENCAP], qs[tc, fifo.UNBOUNDED] == 1, qs[tc, fifo.BUFFER],
                p.report_unit_bytes,
            )  # fmt: skip
            fec = spec.us_fec
            i = 0
            while i < n:
                j = i
                while j < n and bw.burst_start_bytes[j] == bw.burst_start_bytes[i]:
                    j += 1
                onu_id = allocs[i].onu_id
                data = int(bw.grant_units[i:j].sum()) * self.unit
                protected = data + p.us_burst_header_bytes + p.us_burst_trailer_bytes
                coded = fec.line_bytes(protected) if fec is not None else protected
                line = self.slot + -(-coded // self.unit) * self.unit
                start = int(bw.burst_start_bytes[i])
                if self._keep(onu_id):
                    pieces = tuple(
                        XgemPiece(
                            port_id=int(bw.alloc_id[a]),
                            alloc_id=int(bw.alloc_id[a]),
                            payload_bytes=pl,
                            pad_bytes=pad,
                            header_bytes=p.encap_header_bytes,
                            last_fragment=last,
                            packet_id=pid,
                            fate=fate,
                        )
                        for a in range(i, j)
                        for (_q, pl, pad, last, pid, fate) in pieces_of[a]
                    )
                    bursts.append(
                        Burst(
                            onu_id=onu_id,
                            line_start_byte=start,
                            psb_bytes=self.slot,
                            line_bytes=line,
                            allocations=allocs[i:j],
                            pieces=pieces,
                            dbru_bytes=tuple(
                                (int(bw.alloc_id[a]), int(reported[a]))
                                for a in range(i, j)
                                if bw.dbru[a]
                            ),
                            idle_bytes=int((bw.room_bytes[i:j] - used[i:j]).sum()),
                            arrival_ps=plan.time_base_ps
                            + (start + line) * p.frame_ps // p.us_bytes_per_frame,
                            room_bytes=tuple(int(r) for r in bw.room_bytes[i:j]),
                        )
                    )
                i = j
        return UpstreamFrame(
            index=k,
            start_ps=int(plan.time_base_ps),
            bytes_per_frame=p.us_bytes_per_frame,
            bwmap=allocs,
            bursts=tuple(bursts),
            quiet_ps=0,
        )

    def _downstream(self, k: int, dplan: Any, ds_used: I64 | None) -> DownstreamFrame:
        p = self.spec.profile
        n_alloc = len(self.upstream[-1].bwmap)
        pieces: list[XgemPiece] = []
        onu_of: list[int] = []
        room = 0
        if dplan is not None:
            room = int(dplan.room_bytes.sum())
        if dplan is not None and ds_used is not None:
            snap = self.snaps["downstream"]
            cut = np.full(len(dplan.queue), k * p.frame_ps, dtype=np.int64)
            pieces_of, mine = logged_pieces(snap, dplan.queue, dplan.room_bytes, cut)
            _check_snapshot("downstream", k, snap, mine, ds_used)
            for got in pieces_of:
                for q, pl, pad, last, pid, fate in got:
                    onu_id = self.ds_onu_id[q]
                    if not self._keep(onu_id):
                        continue
                    pieces.append(
                        XgemPiece(
                            port_id=downstream_port_id(p, q),
                            alloc_id=0,
                            payload_bytes=pl,
                            pad_bytes=pad,
                            header_bytes=p.encap_header_bytes,
                            last_fragment=last,
                            packet_id=pid,
                            fate=fate,
                        )
                    )
                    onu_of.append(onu_id)
        return DownstreamFrame(
            index=k,
            start_ps=k * p.frame_ps,
            bytes_per_frame=p.ds_bytes_per_frame,
            header_bytes=p.ds_sync_bytes + ds_overhead_bytes(p, n_alloc),
            pieces=tuple(pieces),
            onu_of_piece=tuple(onu_of),
            payload_room_bytes=room,
        )


def trace_spec(
    spec: EmulationSpec,
    *,
    first_frame: int = 0,
    n_frames: int = 8,
    onus: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FrameTrace:
    """:func:`trace_frames` on a built spec (its ``trace_csv``, ``packet_sink`` and
    ``record_packets`` are ignored: the trace run writes nothing); ``progress(done, total)``
    is called every few hundred frames up to the window's end."""
    p = spec.profile
    if not p.framed:
        raise InputError("technology", f"{p.title} has no frames to trace (EPON is polled)")
    if n_frames < 1:
        raise InputError("frames", f"must be at least 1, got {n_frames}")
    if first_frame < 0:
        raise InputError("first frame", f"must be at least 0, got {first_frame}")
    if first_frame + n_frames > spec.n_frames:
        raise InputError(
            "frames",
            f"frames {first_frame}..{first_frame + n_frames - 1} go beyond the run"
            f" ({spec.n_frames} frames, 0..{spec.n_frames - 1})",
        )
    kept: set[int] | None = None
    if onus is not None:
        unknown = sorted(set(onus) - set(spec.onu_ids))
        if unknown:
            raise InputError(
                "onus", f"no ONU with ID {', '.join(map(str, unknown))} in the scenario"
            )
        kept = {int(o) for o in onus}
    quiet_spec = replace(spec, trace_csv=None, record_packets=False, packet_sink=None)
    rec = _Recorder(quiet_spec, first_frame, first_frame + n_frames, kept)
    stop = first_frame + n_frames

    def step(done: int, _total: int) -> None:
        if progress is not None:
            progress(min(done, stop), stop)

    with contextlib.suppress(_StopTrace):
        run_fast(quiet_spec, step if progress is not None else None, observer=rec)
    return FrameTrace(
        profile_name=p.name,
        upstream=tuple(rec.upstream),
        downstream=tuple(rec.downstream),
        onu_ids=tuple(spec.onu_ids),
        kept_onu_ids=tuple(sorted(kept)) if kept is not None else tuple(spec.onu_ids),
    )


def trace_frames(
    scenario: Scenario | str | Path | None,
    *,
    first_frame: int = 0,
    n_frames: int = 8,
    seed: int | None = None,
    onus: Sequence[int] | None = None,
) -> FrameTrace:
    """Record frames ``[first_frame, first_frame + n_frames)`` of a run.

    Parameters
    ----------
    scenario
        A :class:`~ftth.scenario.Scenario`, a TOML path or seed name, or None (the default).
    first_frame, n_frames
        The window of frames (frame ``k`` starts at ``k · 125 µs``); it must lie inside the
        run's duration.
    seed
        Overrides the scenario's seed.
    onus
        ONU-IDs whose bursts and downstream GEM/XGEM frames are kept (the BWmap is always
        whole: every ONU receives it); None keeps all.

    Raises
    ------
    ftth.errors.InputError
        EPON (no frames), a window outside the run, an unknown ONU-ID, an invalid scenario.
    ftth.errors.InvariantError
        The queues served again for their pieces do not end where the engine's did (a bug:
        see the module docstring).
    """
    from ftth.emulator.build import build_spec

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": seed})
    spec = build_spec(scenario)
    return trace_spec(spec, first_frame=first_frame, n_frames=n_frames, onus=onus)
