"""The ONU's data plane: byte-limited FIFO queues, tail drop, burst assembly and GEM/XGEM
framing with fragmentation and padding (the OLT's downstream class queues obey the same
rules and use the same kernels).

One :class:`QueueStore` holds every queue of one direction (ONU T-CONTs upstream, OLT
per-ONU class queues downstream).  Packets live in flat numpy arrays laid out per queue
(CSR: queue ``q`` owns ``[lo, hi)``), refilled window by window from the traffic sources.
Per-queue scalars sit in one ``int64`` matrix ``qs[q, FIELD]`` so the kernels below take few
arguments and numba compiles them cleanly.

Semantics (the reference engine implements the same rules packet by packet):

* **Admission / tail drop**: a packet arriving at ``t`` enters the queue unless the queued
  SDU bytes plus its size exceed the buffer; otherwise it is dropped.  Admission is applied
  lazily, just before the queue is next served, with a cut-off time: because nothing leaves a
  queue between two of its services, deferring the decision does not change it.
* **Service**: a grant of ``room`` bytes is filled in FIFO order.  Each piece costs the
  encapsulation header plus the payload padded to the alignment and minimum frame
  (:func:`ftth.phy.padded_payload_bytes`).  A packet that does not fit is fragmented when at
  least a minimum frame fits; the remainder waits for the next grant.  The rest of the grant is
  idle (idle GEM/XGEM frames).
* **Departure time** of a packet = time at which its last byte is received: the grant's
  ``time_base`` plus the line position of that byte (FEC parity spread evenly, see
  :mod:`ftth.phy`) converted with exact integer arithmetic, plus ``extra_ps`` (downstream
  propagation to the ONU).
* **Unbounded (greedy) queues** never run dry: when empty at a service they create one packet
  of ``greedy_size`` arriving at the service's cut-off; it is counted as offered then.

The engines learn bytes per grant and the packets completed; :func:`serve_grants_logged` (the
frame trace's kernel, :mod:`ftth.emulator.trace`) also writes each GEM/XGEM piece it lays to a
piece log (``P_*`` columns), from the same serving loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ftth.jit import ACCELERATED, inline_kernel, kernel
from ftth.phy import Profile, max_piece_payload

I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]

# Packet states (LOST: destroyed by a fault — power-off, a fault-time tail drop, a failed
# codeword or a corrupted burst).
PENDING, QUEUED, DEPARTED, DROPPED, LOST = 0, 1, 2, 3, 4

# Columns of the per-queue matrix ``qs``.
LO, HI, ADMIT, HEAD, HEAD_SENT = 0, 1, 2, 3, 4
QBYTES, QPKTS, QENCAP, BUFFER = 5, 6, 7, 8
UNBOUNDED, GREEDY_SIZE, GREEDY_ARRIVAL = 9, 10, 11
OFF_B, OFF_P, DROP_B, DROP_P, DELIV_B, DELIV_P = 12, 13, 14, 15, 16, 17
#: Fault ledger: bytes / packets lost (see :func:`admit_spans`, :func:`serve_grants_faults`).
LOST_B, LOST_P = 18, 19
#: 1 when a piece of the head packet already sent was lost (the packet cannot be reassembled).
HEAD_BAD = 20
#: The queue's rows ``[DOWN_ROW, DOWN_STOP)`` of its direction's down-span table (a cursor).
DOWN_ROW, DOWN_STOP = 21, 22
N_FIELDS = 23

# Columns of a down-span table ``spans[row, S_*]`` (rows of one queue sorted by time).
S_FROM_PS, S_TO_PS, S_POWER_OFF = 0, 1, 2
#: No down spans (the steady path's table; never indexed, since DOWN_ROW == DOWN_STOP).
NO_SPANS = np.zeros((1, 3), dtype=np.int64)
# Per-grant piece statistics ``g_stat[g, G_*]`` of :func:`serve_grants_faults`.
G_PIECES, G_LOST_PIECES, G_HEC = 0, 1, 2
NO_STAT = np.zeros((1, 3), dtype=np.int64)
NO_GRANT_CW = np.full(1, -1, dtype=np.int64)
NO_FLAGS = np.zeros(1, dtype=np.int64)
# Columns of the piece log ``piece_log[row, P_*]`` of :func:`serve_grants_logged` (one row per
# GEM/XGEM frame / Ethernet frame laid in a grant, in the order they were laid).
#: Grant index (row of the ``g_*`` inputs) and queue served.
P_GRANT, P_QUEUE = 0, 1
#: Payload bytes of the packet the piece carries, and padding after them (the piece costs
#: header + payload + pad bytes of the grant).
P_PAYLOAD, P_PAD = 2, 3
#: 1 on the packet's last piece (XGEM LF / GEM PTI end of fragment), else 0.
P_LAST = 4
#: The packet's index among the packets its queue has delivered (``qs[q, DELIV_P]`` when its
#: last piece is sent): FIFO order, dropped and lost packets not counted.
P_PACKET = 5
#: :func:`piece_fate` of the piece (0 intact, 1 lost, 2 lost by a HEC error; always 0 without
#: faults).
P_FATE = 6
N_PIECE_FIELDS = 7
#: No piece log (the engines' kernels: logging off).
NO_LOG = np.zeros((1, N_PIECE_FIELDS), dtype=np.int64)
NO_LOG_N = np.zeros(1, dtype=np.int64)

# Entries of the encapsulation vector ``enc``.
ENC_HEADER, ENC_ALIGN, ENC_MIN_PAYLOAD, ENC_MAX_PIECE, ENC_MODE = 0, 1, 2, 3, 4
# Service modes (``enc[ENC_MODE]``): what happens when the next packet does not fit.
#: GEM/XGEM: cut a fragment (ITU PONs).
MODE_FRAGMENT = 0
#: Ethernet (EPON upstream window): whole frames only, the rest of the grant stays idle.
MODE_WHOLE = 1
#: Ethernet on a continuous stream (EPON downstream): a frame started before the share runs
#: out is finished; the next share starts where it ends.
MODE_OVERRUN = 2


def encap_vector(profile: Profile) -> I64:
    """Encapsulation parameters of ``profile`` as the kernel's ``enc`` vector.

    EPON carries whole Ethernet frames: the "header" is preamble + IFG and no piece limit.
    """
    header = profile.encap_header_bytes
    align = profile.encap_align_bytes
    if align < 1 or align & (align - 1):
        raise ValueError(f"encapsulation alignment {align} is not a power of two")
    min_payload = max(0, profile.encap_min_frame_bytes - header)
    max_piece = max_piece_payload(profile)
    mode = MODE_WHOLE if profile.encap == "ethernet" else MODE_FRAGMENT
    return np.array([header, align, min_payload, max_piece, mode], dtype=np.int64)


@inline_kernel
def piece_cost(piece: int, enc: I64) -> int:
    """Bytes one piece of ``piece`` payload bytes costs: header + padded payload."""
    # The alignment is a power of two (checked by encap_vector): a mask, not a division.
    mask = enc[ENC_ALIGN] - 1
    padded = (piece + mask) & ~mask
    if padded < enc[ENC_MIN_PAYLOAD]:
        padded = enc[ENC_MIN_PAYLOAD]
    return enc[ENC_HEADER] + padded


@inline_kernel
def encap_cost(remaining: int, enc: I64) -> int:
    """Bytes needed to send ``remaining`` payload bytes (pieces of at most the max fragment)."""
    total = 0
    max_piece = enc[ENC_MAX_PIECE]
    while remaining > max_piece:
        total += enc[ENC_HEADER] + max_piece
        remaining -= max_piece
    return total + piece_cost(remaining, enc)


@inline_kernel
def div_floor(x: int, b: int, inv_b: float) -> int:
    """``x // b`` for ``x >= 0`` and ``b > 0``, given ``inv_b = 1.0 / b``.

    A float estimate corrected to the exact quotient: a 64-bit integer division costs
    dozens of cycles and the data plane needs two per packet.  Below 2**53, ``x`` is exact
    as a float and the estimate of ``x / b`` (< 2**52 for ``b >= 2``; exact for ``b == 1``)
    is off by less than one, so one correction step gives the exact floor; larger ``x``
    take the integer division.  (No correction loop: LLVM would turn it back into a
    128-bit division.)
    """
    if x >= 9007199254740992:  # 2**53
        return x // b
    q = int(x * inv_b)
    if q * b > x:
        q -= 1
    elif (q + 1) * b <= x:
        q += 1
    return q


@inline_kernel
def admit(
    q: int, until_ps: int, qs: I64, arrival_ps: I64, size_bytes: I64, state: I8, enc: I64
) -> None:
    """Admit queue ``q``'s pending packets that arrived at or before ``until_ps`` (tail drop)."""
    admit_spans(q, until_ps, qs, arrival_ps, size_bytes, state, enc, NO_SPANS)


@inline_kernel
def admit_spans(
    q: int, until_ps: int, qs: I64, arrival_ps: I64, size_bytes: I64, state: I8, enc: I64,
    spans: I64,
) -> None:  # fmt: skip
    """:func:`admit` through a fault: the queue's down spans (``spans`` rows
    ``[qs[q, DOWN_ROW], qs[q, DOWN_STOP])``, ``S_*`` columns) classify its arrivals by time.

    An arrival inside a power-off span is lost (the ONU is off); one that the buffer cannot
    hold inside any other down span is lost (a fault-time tail drop), otherwise dropped.
    """
    i = qs[q, ADMIT]
    end = qs[q, HI]
    if i >= end or arrival_ps[i] > until_ps:
        return
    # Locals, written back once: the compiler cannot keep qs fields in registers across the
    # stores to ``state``.
    offered_b = 0
    offered_p = 0
    dropped_b = 0
    dropped_p = 0
    queued_b = qs[q, QBYTES]
    queued_p = qs[q, QPKTS]
    queued_enc = qs[q, QENCAP]
    buffer = qs[q, BUFFER]
    row = qs[q, DOWN_ROW]
    stop = qs[q, DOWN_STOP]
    lost_b = 0
    lost_p = 0
    while i < end and arrival_ps[i] <= until_ps:
        size = size_bytes[i]
        offered_b += size
        offered_p += 1
        down = False
        off = False
        if row < stop:
            a = arrival_ps[i]
            while row < stop and spans[row, S_TO_PS] <= a:
                row += 1
            if row < stop and spans[row, S_FROM_PS] <= a:
                down = True
                off = spans[row, S_POWER_OFF] == 1
        if off:
            state[i] = LOST
            lost_b += size
            lost_p += 1
        elif queued_b + size > buffer:
            if down:
                state[i] = LOST
                lost_b += size
                lost_p += 1
            else:
                state[i] = DROPPED
                dropped_b += size
                dropped_p += 1
        else:
            state[i] = QUEUED
            queued_b += size
            queued_p += 1
            queued_enc += encap_cost(size, enc)
        i += 1
    qs[q, ADMIT] = i
    qs[q, DOWN_ROW] = row
    qs[q, OFF_B] += offered_b
    qs[q, OFF_P] += offered_p
    qs[q, DROP_B] += dropped_b
    qs[q, DROP_P] += dropped_p
    qs[q, LOST_B] += lost_b
    qs[q, LOST_P] += lost_p
    qs[q, QBYTES] = queued_b
    qs[q, QPKTS] = queued_p
    qs[q, QENCAP] = queued_enc


@kernel
def admit_all(
    until_ps: int, qs: I64, arrival_ps: I64, size_bytes: I64, state: I8, enc: I64
) -> None:
    """Admit every queue's arrivals up to ``until_ps``."""
    for q in range(qs.shape[0]):
        admit(q, until_ps, qs, arrival_ps, size_bytes, state, enc)


@kernel
def admit_all_spans(
    until_ps: int, qs: I64, arrival_ps: I64, size_bytes: I64, state: I8, enc: I64, spans: I64
) -> None:
    """:func:`admit_all` through a fault (:func:`admit_spans`)."""
    for q in range(qs.shape[0]):
        admit_spans(q, until_ps, qs, arrival_ps, size_bytes, state, enc, spans)


@kernel
def power_off(
    q: int, at_ps: int, qs: I64, arrival_ps: I64, size_bytes: I64, state: I8, enc: I64,
    spans: I64,
) -> None:  # fmt: skip
    """The ONU holding queue ``q`` loses power at ``at_ps``: every arrival up to then is
    admitted (:func:`admit_spans`), then everything queued — the head packet's fragments
    already sent included, and an unbounded source's waiting frame — is lost."""
    admit_spans(q, at_ps, qs, arrival_ps, size_bytes, state, enc, spans)
    lost_b = 0
    lost_p = 0
    for i in range(qs[q, HEAD], qs[q, ADMIT]):
        if state[i] == QUEUED:
            state[i] = LOST
            lost_b += size_bytes[i]
            lost_p += 1
    if qs[q, GREEDY_ARRIVAL] >= 0:
        lost_b += qs[q, GREEDY_SIZE]
        lost_p += 1
        qs[q, GREEDY_ARRIVAL] = -1
    qs[q, HEAD] = qs[q, ADMIT]
    qs[q, HEAD_SENT] = 0
    qs[q, HEAD_BAD] = 0
    qs[q, QBYTES] = 0
    qs[q, QPKTS] = 0
    qs[q, QENCAP] = 0
    qs[q, LOST_B] += lost_b
    qs[q, LOST_P] += lost_p


@inline_kernel
def line_offset(data_offset: int, fec_n: int, fec_k: int) -> int:
    """Line bytes spanned by ``data_offset`` FEC-protected data bytes (ceil(d·n/k))."""
    if fec_k == 0:
        return data_offset
    return (data_offset * fec_n + fec_k - 1) // fec_k


@kernel
def serve_grants(
    qs: I64,
    arrival_ps: I64,
    size_bytes: I64,
    state: I8,
    enc: I64,
    g_queue: I64,
    g_room: I64,
    g_cutoff_ps: I64,
    g_time_base_ps: I64,
    g_line_start: I64,
    g_data_start: I64,
    g_extra_ps: I64,
    fec_n: int,
    fec_k: int,
    frame_bytes: int,
    frame_ps: int,
    out_queue: I64,
    out_arrival_ps: I64,
    out_size: I64,
    out_depart_ps: I64,
    g_used: I64,
) -> int:
    """Serve one frame's grants in order; return the number of packets completed.

    Parameters (per grant ``g``)
    ----------------------------
    g_queue
        Queue served.
    g_room
        Payload bytes granted (after DBRu).
    g_cutoff_ps
        Packets that arrived at or before this time may be sent (the burst's send time at the
        ONU upstream, the frame start downstream).
    g_time_base_ps, g_line_start, g_data_start, g_extra_ps
        Timing: the last byte of a piece ending at payload offset ``e`` is received at
        ``time_base + (line_start + ceil((data_start + e)·n/k)) · frame_ps // frame_bytes +
        extra``.
    g_used
        Output: bytes of the grant used (the rest is idle).
    """
    return _serve(
        qs, arrival_ps, size_bytes, state, enc, g_queue, g_room, g_cutoff_ps, g_time_base_ps,
        g_line_start, g_data_start, g_extra_ps, fec_n, fec_k, frame_bytes, frame_ps, out_queue,
        out_arrival_ps, out_size, out_depart_ps, g_used,
        NO_SPANS, NO_GRANT_CW, NO_FLAGS, 1, NO_STAT, False, NO_LOG, NO_LOG_N, False,
    )  # fmt: skip


@kernel
def serve_grants_faults(
    qs: I64,
    arrival_ps: I64,
    size_bytes: I64,
    state: I8,
    enc: I64,
    g_queue: I64,
    g_room: I64,
    g_cutoff_ps: I64,
    g_time_base_ps: I64,
    g_line_start: I64,
    g_data_start: I64,
    g_extra_ps: I64,
    fec_n: int,
    fec_k: int,
    frame_bytes: int,
    frame_ps: int,
    out_queue: I64,
    out_arrival_ps: I64,
    out_size: I64,
    out_depart_ps: I64,
    g_used: I64,
    spans: I64,
    g_cw: I64,
    cw_flags: I64,
    cw_bytes: int,
    g_stat: I64,
) -> int:
    """:func:`serve_grants` through faults and bit errors.

    Admission goes through the down spans (:func:`admit_spans`).  ``g_cw[g]`` is the index
    in ``cw_flags`` of codeword 0 of the grant's protected part (the burst upstream, the
    frame as its ONU receives it downstream; −1: nothing can fail); codeword ``c`` covers
    protected bytes ``[c·cw_bytes, (c+1)·cw_bytes)`` and ``cw_flags[g_cw[g] + c] == 1`` when
    it failed (:func:`ftth.biterrors.sample_codewords`) or the burst was corrupted.  A
    GEM/XGEM frame overlapping a failed codeword is lost, and with it the packet it carries
    (a HEC error when its header lies in the failed codeword); ``g_stat[g, G_*]`` counts
    the grant's frames, lost frames and HEC errors.
    """
    return _serve(
        qs, arrival_ps, size_bytes, state, enc, g_queue, g_room, g_cutoff_ps, g_time_base_ps,
        g_line_start, g_data_start, g_extra_ps, fec_n, fec_k, frame_bytes, frame_ps, out_queue,
        out_arrival_ps, out_size, out_depart_ps, g_used,
        spans, g_cw, cw_flags, cw_bytes, g_stat, True, NO_LOG, NO_LOG_N, False,
    )  # fmt: skip


@inline_kernel
def piece_log_rows(enc: I64, g_room: I64) -> int:
    """Rows a piece log needs for grants of ``g_room`` bytes: an upper bound on the pieces.

    Every piece costs at least the header plus one alignment unit and the minimum payload
    (a fragment is a positive multiple of the alignment), so a grant holds at most
    ``room // that`` pieces, plus one that overruns its share (``MODE_OVERRUN``).
    """
    least = enc[ENC_ALIGN]
    if least < enc[ENC_MIN_PAYLOAD]:
        least = enc[ENC_MIN_PAYLOAD]
    least += enc[ENC_HEADER]
    rows = 0
    for g in range(g_room.shape[0]):
        room = g_room[g]
        if room > 0:
            rows += room // least
        rows += 1
    return rows


@kernel
def serve_grants_logged(
    qs: I64,
    arrival_ps: I64,
    size_bytes: I64,
    state: I8,
    enc: I64,
    g_queue: I64,
    g_room: I64,
    g_cutoff_ps: I64,
    g_time_base_ps: I64,
    g_line_start: I64,
    g_data_start: I64,
    g_extra_ps: I64,
    fec_n: int,
    fec_k: int,
    frame_bytes: int,
    frame_ps: int,
    out_queue: I64,
    out_arrival_ps: I64,
    out_size: I64,
    out_depart_ps: I64,
    g_used: I64,
    piece_log: I64,
) -> int:
    """:func:`serve_grants`, also writing every piece it lays to ``piece_log``; returns the
    number of pieces logged (the packets completed are in ``out_*`` as usual).

    Row ``i < returned`` of ``piece_log`` (``P_*`` columns) is the ``i``-th piece laid: its
    grant, queue, payload and padding bytes, last-fragment flag and packet index.  The log
    does not depend on the timing inputs (``g_time_base_ps``, ``g_line_start``,
    ``g_data_start``, ``g_extra_ps``, ``fec_*``, ``frame_*``: they only time departures), so a
    caller that wants the pieces alone may pass zeros (``frame_bytes`` ≥ 1).  ``piece_log``
    needs at least :func:`piece_log_rows` rows (``ValueError`` otherwise: the kernel writes
    without bounds checks).
    """
    if piece_log.shape[0] < piece_log_rows(enc, g_room) or piece_log.shape[1] < N_PIECE_FIELDS:
        raise ValueError("serve_grants_logged: piece_log is too small (see piece_log_rows)")
    log_n = np.zeros(1, dtype=np.int64)
    _serve(
        qs, arrival_ps, size_bytes, state, enc, g_queue, g_room, g_cutoff_ps, g_time_base_ps,
        g_line_start, g_data_start, g_extra_ps, fec_n, fec_k, frame_bytes, frame_ps, out_queue,
        out_arrival_ps, out_size, out_depart_ps, g_used,
        NO_SPANS, NO_GRANT_CW, NO_FLAGS, 1, NO_STAT, False, piece_log, log_n, True,
    )  # fmt: skip
    return int(log_n[0])


@kernel
def serve_grants_faults_logged(
    qs: I64,
    arrival_ps: I64,
    size_bytes: I64,
    state: I8,
    enc: I64,
    g_queue: I64,
    g_room: I64,
    g_cutoff_ps: I64,
    g_time_base_ps: I64,
    g_line_start: I64,
    g_data_start: I64,
    g_extra_ps: I64,
    fec_n: int,
    fec_k: int,
    frame_bytes: int,
    frame_ps: int,
    out_queue: I64,
    out_arrival_ps: I64,
    out_size: I64,
    out_depart_ps: I64,
    g_used: I64,
    spans: I64,
    g_cw: I64,
    cw_flags: I64,
    cw_bytes: int,
    g_stat: I64,
    piece_log: I64,
) -> int:
    """:func:`serve_grants_faults`, also writing every piece to ``piece_log`` as
    :func:`serve_grants_logged` does, with its fate (``P_FATE``: 0 intact, 1 lost, 2 lost
    with a HEC error).  A piece's fate depends on where it lies among the codewords, so
    ``g_data_start`` (and ``g_stat`` sized as for :func:`serve_grants_faults`) must be the
    engine's; the other timing inputs may be zeros."""
    if piece_log.shape[0] < piece_log_rows(enc, g_room) or piece_log.shape[1] < N_PIECE_FIELDS:
        raise ValueError("serve_grants_faults_logged: piece_log is too small (see piece_log_rows)")
    log_n = np.zeros(1, dtype=np.int64)
    _serve(
        qs, arrival_ps, size_bytes, state, enc, g_queue, g_room, g_cutoff_ps, g_time_base_ps,
        g_line_start, g_data_start, g_extra_ps, fec_n, fec_k, frame_bytes, frame_ps, out_queue,
        out_arrival_ps, out_size, out_depart_ps, g_used,
        spans, g_cw, cw_flags, cw_bytes, g_stat, True, piece_log, log_n, True,
    )  # fmt: skip
    return int(log_n[0])


@inline_kernel
def piece_fate(start: int, cost: int, header: int, base: int, cw_flags: I64, cw_bytes: int) -> int:
    """0 when a piece at protected offset ``start`` of ``cost`` bytes is intact, 1 when a
    codeword it overlaps failed, 2 when the failed codeword holds its header (HEC error)."""
    first = start // cw_bytes
    last = (start + cost - 1) // cw_bytes
    hdr_last = (start + header - 1) // cw_bytes
    fate = 0
    for c in range(first, last + 1):
        if cw_flags[base + c] == 1:
            if c <= hdr_last:
                return 2
            fate = 1
    return fate


@inline_kernel
def _serve(
    qs: I64,
    arrival_ps: I64,
    size_bytes: I64,
    state: I8,
    enc: I64,
    g_queue: I64,
    g_room: I64,
    g_cutoff_ps: I64,
    g_time_base_ps: I64,
    g_line_start: I64,
    g_data_start: I64,
    g_extra_ps: I64,
    fec_n: int,
    fec_k: int,
    frame_bytes: int,
    frame_ps: int,
    out_queue: I64,
    out_arrival_ps: I64,
    out_size: I64,
    out_depart_ps: I64,
    g_used: I64,
    spans: I64,
    g_cw: I64,
    cw_flags: I64,
    cw_bytes: int,
    g_stat: I64,
    faulty: bool,
    piece_log: I64,
    log_n: I64,
    logged: bool,
) -> int:
    """The one serving loop (``faulty``: the fault rules of :func:`serve_grants_faults`;
    ``logged``: every piece laid is written to ``piece_log`` and their count to ``log_n[0]``,
    see :func:`serve_grants_logged`).

    ``faulty`` and ``logged`` are constants at each call site: the compiler drops the branches
    they turn off, so the engines' kernels pay nothing for the fault rules or the log.
    """
    n_out = 0
    n_log = 0
    header = enc[ENC_HEADER]
    mask = enc[ENC_ALIGN] - 1
    max_piece = enc[ENC_MAX_PIECE]
    min_frame = header + enc[ENC_MIN_PAYLOAD]
    mode = enc[ENC_MODE]
    inv_frame_bytes = 1.0 / frame_bytes
    inv_fec_k = 1.0 / fec_k if fec_k > 0 else 0.0
    running = 0
    for g in range(g_queue.shape[0]):
        q = g_queue[g]
        cutoff = g_cutoff_ps[g]
        a0 = qs[q, ADMIT]
        if a0 < qs[q, HI] and arrival_ps[a0] <= cutoff:  # the test first: calls are not free
            if faulty:
                admit_spans(q, cutoff, qs, arrival_ps, size_bytes, state, enc, spans)
            else:
                admit(q, cutoff, qs, arrival_ps, size_bytes, state, enc)
        cw_base = g_cw[g] if faulty else -1
        head_bad = qs[q, HEAD_BAD] if faulty else 0
        n_pieces = 0
        n_lost_pieces = 0
        n_hec = 0
        lost_b = 0
        lost_p = 0
        room = g_room[g]
        used = 0
        # On a continuous stream (MODE_OVERRUN) shares are laid back to back as actually used:
        # a frame finished past its share pushes the next share along.
        data_start = g_data_start[g] if mode != MODE_OVERRUN else g_data_start[0] + running
        time_base = g_time_base_ps[g] + g_extra_ps[g]
        line_start = g_line_start[g]
        # The queue's fields as locals, written back after the grant (see admit).
        h = qs[q, HEAD]
        admitted = qs[q, ADMIT]
        head_sent = qs[q, HEAD_SENT]
        queued_b = qs[q, QBYTES]
        queued_p = qs[q, QPKTS]
        queued_enc = qs[q, QENCAP]
        deliv_b = 0
        deliv_p = 0
        unbounded = qs[q, UNBOUNDED] == 1
        while True:
            while h < admitted and state[h] != QUEUED:
                h += 1
            from_store = h < admitted
            if from_store:
                arrival = arrival_ps[h]
                size = size_bytes[h]
            elif unbounded:
                size = qs[q, GREEDY_SIZE]
                if qs[q, GREEDY_ARRIVAL] < 0:
                    qs[q, GREEDY_ARRIVAL] = cutoff
                    qs[q, OFF_B] += size
                    qs[q, OFF_P] += 1
                    queued_b += size
                    queued_p += 1
                    queued_enc += encap_cost(size, enc)
                arrival = qs[q, GREEDY_ARRIVAL]
            else:
                break
            remaining = size - head_sent
            piece = remaining if remaining < max_piece else max_piece
            padded = (piece + mask) & ~mask
            if padded < enc[ENC_MIN_PAYLOAD]:
                padded = enc[ENC_MIN_PAYLOAD]
            cost = header + padded
            avail = room - used
            if cost <= avail or (mode == MODE_OVERRUN and avail > 0):
                fate = 0
                if faulty:
                    n_pieces += 1
                    if cw_base >= 0:
                        fate = piece_fate(
                            data_start + used, cost, header, cw_base, cw_flags, cw_bytes
                        )
                        if fate > 0:
                            head_bad = 1
                            n_lost_pieces += 1
                            if fate == 2:
                                n_hec += 1
                if logged:
                    piece_log[n_log, P_GRANT] = g
                    piece_log[n_log, P_QUEUE] = q
                    piece_log[n_log, P_PAYLOAD] = piece
                    piece_log[n_log, P_PAD] = padded - piece
                    piece_log[n_log, P_LAST] = 1 if piece == remaining else 0
                    piece_log[n_log, P_PACKET] = qs[q, DELIV_P] + deliv_p
                    piece_log[n_log, P_FATE] = fate
                    n_log += 1
                used += cost
                queued_enc -= cost
                if piece == remaining and head_bad == 1:
                    # The packet's last piece: one of its pieces was lost, so it is.
                    queued_b -= size
                    queued_p -= 1
                    lost_b += size
                    lost_p += 1
                    head_sent = 0
                    head_bad = 0
                    if from_store:
                        state[h] = LOST
                        h += 1
                    else:
                        qs[q, GREEDY_ARRIVAL] = -1
                elif piece == remaining:
                    end = data_start + used
                    if fec_k > 0:
                        end = div_floor(end * fec_n + fec_k - 1, fec_k, inv_fec_k)
                    out_queue[n_out] = q
                    out_arrival_ps[n_out] = arrival
                    out_size[n_out] = size
                    out_depart_ps[n_out] = time_base + div_floor(
                        (line_start + end) * frame_ps, frame_bytes, inv_frame_bytes
                    )
                    n_out += 1
                    queued_b -= size
                    queued_p -= 1
                    deliv_b += size
                    deliv_p += 1
                    head_sent = 0
                    if from_store:
                        state[h] = DEPARTED
                        h += 1
                    else:
                        qs[q, GREEDY_ARRIVAL] = -1
                else:
                    head_sent += piece
                continue
            # The next piece does not fit: cut a fragment if a minimum frame fits.
            if mode == MODE_FRAGMENT and avail >= min_frame:
                frag = (avail - header) & ~mask
                if 0 < frag < piece:
                    before = encap_cost(remaining, enc)
                    fate = 0
                    if faulty:
                        n_pieces += 1
                        if cw_base >= 0:
                            fate = piece_fate(
                                data_start + used, header + frag, header, cw_base, cw_flags,
                                cw_bytes,
                            )  # fmt: skip
                            if fate > 0:
                                head_bad = 1
                                n_lost_pieces += 1
                                if fate == 2:
                                    n_hec += 1
                    if logged:
                        piece_log[n_log, P_GRANT] = g
                        piece_log[n_log, P_QUEUE] = q
                        piece_log[n_log, P_PAYLOAD] = frag
                        piece_log[n_log, P_PAD] = 0
                        piece_log[n_log, P_LAST] = 0
                        piece_log[n_log, P_PACKET] = qs[q, DELIV_P] + deliv_p
                        piece_log[n_log, P_FATE] = fate
                        n_log += 1
                    used += header + frag
                    head_sent += frag
                    queued_enc += encap_cost(remaining - frag, enc) - before
            break
        qs[q, HEAD] = h
        qs[q, HEAD_SENT] = head_sent
        qs[q, QBYTES] = queued_b
        qs[q, QPKTS] = queued_p
        qs[q, QENCAP] = queued_enc
        qs[q, DELIV_B] += deliv_b
        qs[q, DELIV_P] += deliv_p
        if faulty:
            qs[q, HEAD_BAD] = head_bad
            qs[q, LOST_B] += lost_b
            qs[q, LOST_P] += lost_p
            g_stat[g, G_PIECES] = n_pieces
            g_stat[g, G_LOST_PIECES] = n_lost_pieces
            g_stat[g, G_HEC] = n_hec
        g_used[g] = used
        running += used
    if logged:
        log_n[0] = n_log
    return n_out


@kernel
def compact_append(
    qs: I64,
    arrival_ps: I64,
    size_bytes: I64,
    state: I8,
    new_arrival_ps: I64,
    new_size_bytes: I64,
    new_len: I64,
    out_arrival_ps: I64,
    out_size_bytes: I64,
    out_state: I8,
) -> int:
    """Lay out every queue's waiting packets, then its new ones, into the ``out_*`` arrays;
    update the queues' CSR bounds in ``qs``; return the number of packets laid out.

    The compiled twin of :meth:`QueueStore.append_flat`'s numpy code (same arrays, one pass).
    """
    o = 0
    n_base = 0
    for q in range(qs.shape[0]):
        lo = o
        n_queued = 0
        for i in range(qs[q, HEAD], qs[q, HI]):
            st = state[i]
            if st <= QUEUED:  # PENDING (0) or QUEUED (1)
                out_arrival_ps[o] = arrival_ps[i]
                out_size_bytes[o] = size_bytes[i]
                out_state[o] = st
                if st == QUEUED:
                    n_queued += 1
                o += 1
        for i in range(n_base, n_base + new_len[q]):
            out_arrival_ps[o] = new_arrival_ps[i]
            out_size_bytes[o] = new_size_bytes[i]
            out_state[o] = PENDING
            o += 1
        n_base += new_len[q]
        qs[q, LO] = lo
        qs[q, HEAD] = lo
        qs[q, ADMIT] = lo + n_queued
        qs[q, HI] = o
    return o


def flatten_batches(batches: Sequence[tuple[I64, I64]]) -> tuple[I64, I64, I64]:
    """Per-queue ``(arrival_ps, size_bytes)`` batches as ``(arrivals, sizes, lengths)``,
    queue after queue."""
    new_len = np.array([len(b[0]) for b in batches], dtype=np.int64)
    if not len(batches):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), new_len
    arrival = np.concatenate([b[0] for b in batches]).astype(np.int64, copy=False)
    size = np.concatenate([b[1] for b in batches]).astype(np.int64, copy=False)
    return arrival, size, new_len


class QueueStore:
    """Every FIFO queue of one direction, in flat arrays refilled window by window.

    Parameters
    ----------
    profile
        Technology profile (encapsulation rules).
    buffer_bytes
        Per-queue buffer size in SDU bytes.
    unbounded_size_bytes
        Per queue: 0 for a normal queue, else the frame size of an unbounded (greedy) source.
    """

    def __init__(
        self, profile: Profile, buffer_bytes: Sequence[int], unbounded_size_bytes: Sequence[int]
    ) -> None:
        n = len(buffer_bytes)
        self.n_queues = n
        self.enc = encap_vector(profile)
        self.qs = np.zeros((n, N_FIELDS), dtype=np.int64)
        self.qs[:, BUFFER] = np.asarray(buffer_bytes, dtype=np.int64)
        sizes = np.asarray(unbounded_size_bytes, dtype=np.int64)
        self.qs[:, UNBOUNDED] = (sizes > 0).astype(np.int64)
        self.qs[:, GREEDY_SIZE] = sizes
        self.qs[:, GREEDY_ARRIVAL] = -1
        self.arrival_ps: I64 = np.zeros(0, dtype=np.int64)
        self.size_bytes: I64 = np.zeros(0, dtype=np.int64)
        self.state: I8 = np.zeros(0, dtype=np.int8)

    def append_flat(self, new_arrival_ps: I64, new_size_bytes: I64, new_len: I64) -> None:
        """Append new packets given queue after queue (``new_len[q]`` of them for queue
        ``q``), keeping what is still waiting.

        Packets already departed or dropped are discarded so memory stays proportional to
        one window plus what is queued.  With numba one compiled pass
        (:func:`compact_append`); otherwise vectorised over queues: one stable sort by queue
        puts each queue's surviving packets, then its new ones, into its CSR segment.
        """
        qs = self.qs
        n = self.n_queues
        if ACCELERATED and n:
            cap = len(self.state) + len(new_arrival_ps)
            out_arr = np.empty(cap, dtype=np.int64)
            out_size = np.empty(cap, dtype=np.int64)
            out_state = np.empty(cap, dtype=np.int8)
            total = compact_append(
                qs, self.arrival_ps, self.size_bytes, self.state, new_arrival_ps,
                new_size_bytes, new_len, out_arr, out_size, out_state,
            )  # fmt: skip
            self.arrival_ps = out_arr[:total]
            self.size_bytes = out_size[:total]
            self.state = out_state[:total]
            return
        lo, hi, head = qs[:, LO], qs[:, HI], qs[:, HEAD]
        old_queue = np.repeat(np.arange(n, dtype=np.int64), hi - lo)
        idx = np.arange(len(self.state), dtype=np.int64)
        alive = ((self.state == PENDING) | (self.state == QUEUED)) & (idx >= head[old_queue])
        new_queue = np.repeat(np.arange(n, dtype=np.int64), new_len)
        queue = np.concatenate((old_queue[alive], new_queue))
        group = np.concatenate(
            (np.zeros(int(alive.sum()), dtype=np.int64), np.ones(len(new_queue), dtype=np.int64))
        )
        order = np.argsort(queue * 2 + group, kind="stable")
        old_state = self.state[alive]
        self.arrival_ps = np.concatenate((self.arrival_ps[alive], new_arrival_ps))[order]
        self.size_bytes = np.concatenate((self.size_bytes[alive], new_size_bytes))[order]
        self.state = np.concatenate((old_state, np.zeros(len(new_arrival_ps), dtype=np.int8)))[
            order
        ]
        counts = np.bincount(queue, minlength=n).astype(np.int64)
        n_queued = np.bincount(old_queue[alive][old_state == QUEUED], minlength=n).astype(np.int64)
        new_lo = np.cumsum(counts) - counts
        qs[:, LO] = new_lo
        qs[:, HEAD] = new_lo
        qs[:, ADMIT] = new_lo + n_queued
        qs[:, HI] = new_lo + counts

    def admit_all_one(self, q: int, until_ps: int) -> None:
        """Admit queue ``q``'s arrivals up to ``until_ps`` (inclusive)."""
        admit(q, until_ps, self.qs, self.arrival_ps, self.size_bytes, self.state, self.enc)

    def admit_all(self, until_ps: int) -> None:
        """Admit every queue's arrivals up to ``until_ps`` (inclusive)."""
        admit_all(until_ps, self.qs, self.arrival_ps, self.size_bytes, self.state, self.enc)

    @property
    def queued_encap_bytes(self) -> I64:
        """Encapsulated bytes waiting per queue (what a DBRu reports, before rounding)."""
        return self.qs[:, QENCAP]
