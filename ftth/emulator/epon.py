"""The EPON engine: MPCP polling instead of a 125 µs frame (IEEE 802.3ah/av).

Upstream, the OLT grants each ONU a window when the ONU's REPORT arrives (IPACT) or visits
the ONUs in turn (textbook polling); windows follow one another separated by the guard time,
and a window cannot start before its GATE has had one round trip to reach the ONU.  Inside a
window the ONU sends whole Ethernet frames (preamble + IFG on the wire, no fragmentation) from
its queues in priority order, with its 64-byte REPORT (84 on the wire) at the end — or at the
start for the textbook polling DBA.  Downstream is a continuous stream, shared among the OLT
queues in 125 µs slices (strict priority + max-min fairness, as in the ITU engines) with no
gap between slices: a frame started in one slice finishes in the next.

Times are exact integers: a line byte lasts ``8e12 / rate`` ps (8000 ps at 1 Gb/s, 800 at
10 Gb/s), and 10G-EPON's stream FEC RS(255,223) stretches data bytes by 255/223 via the same
``line_offset`` the ITU engines use.

Two implementations of the same rules:

* the **compiled loop** (engine ``fast``, DBAs written as window kernels,
  :class:`olt.dba.epon_kernel.KernelEponDba`): :func:`run_windows` runs every upstream window
  whose traffic is generated, :func:`run_slices` every downstream slice, each in one numba
  kernel call per traffic window; simpy drives one event per traffic window and direction.
  Without numba the same kernels run as plain Python.
* the **reference path** (engine ``reference``, and plugin DBAs that only implement
  ``window_bytes`` in Python): one simpy event per window and per slice, the per-window logic
  in Python calling :func:`onu.fifo.serve_grants` once per queue.

``tests/ftth/emulator/test_epon_loop.py`` compares the two packet by packet.

Modelling choices (stated, not hidden): MPCP GATE messages are not charged to the downstream;
the REPORT carries one value per ONU (the sum of its queues, not 802.3's per-queue sets); ONU
response time is neglected against the round trip.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from ftth.emulator.collector import RawRun
from ftth.emulator.common import drr_quanta_bytes, make_shaper, make_stats
from ftth.emulator.fast import FORCE_STEPPED, _Direction, run_and_close_books
from ftth.emulator.prefetch import prefetch_enabled
from ftth.emulator.spec import I64, EmulationSpec
from ftth.errors import InputError, InvariantError
from ftth.fold import fold_departures
from ftth.jit import ACCELERATED, backend_name, inline_kernel, kernel
from ftth.phy import UNLIMITED_BYTES
from olt.dba.base import DbaContext, EponDba
from olt.dba.epon_kernel import E_NOW_PS, KernelEponDba
from olt.dba.registry import get_dba
from olt.downstream import DrrScheduler
from olt.downstream_kernel import (
    drr_share,
    queue_demand,
    shaper_cap,
    shaper_consume,
    shaper_refill,
)
from onu.fifo import (
    ADMIT,
    BUFFER,
    ENC_MODE,
    GREEDY_SIZE,
    HEAD,
    HI,
    MODE_OVERRUN,
    QENCAP,
    QPKTS,
    UNBOUNDED,
    admit,
    admit_all,
    line_offset,
    serve_grants,
)

SLICE_PS = 125_000_000  # downstream sharing slice (same 125 µs as the ITU frame)
#: A window without byte limit (exhaustive service): the one sentinel of ftth.phy.
UNLIMITED = UNLIMITED_BYTES

ProgressFn = Callable[[int, int], None]

# Integer parameters of the upstream loop (vector ``ip``).
(
    P_END_PS,
    P_GUARD_PS,
    P_BYTE_PS,
    P_FEC_N,
    P_FEC_K,
    P_REPORT_BYTES,
    P_REPORT_UNIT,
    P_REPORT_FIRST,
    P_EXHAUSTIVE,
    P_FOLD,
    P_WARMUP_PS,
    P_STATS_END_PS,
    P_KEEP_WINDOWS,
    P_MIN_COST,
    P_LEN,
) = range(15)

# The upstream loop's state (vector ``ls``), kept between calls: the loop can stop before any
# step that needs traffic not generated yet and resume there.
(
    L_PHASE,
    L_ONU,
    L_START,
    L_TX,  #: when the ONU starts sending (window start − one-way delay)
    L_T_REPORT,  #: when the REPORT that sizes the window reached the OLT
    L_REPORTED,
    L_OFFSET,  #: bytes before the frames (the REPORT, when it opens the window)
    L_ROOM,
    L_SENT,
    L_CUTOFF,  #: frames that arrived at or before this time may go in the current round
    L_NEXT_FREE,  #: end of the last window granted
    L_SEQ,  #: insertion counter of the REPORT queue (ties between equal arrival times)
    L_WINDOWS,
    L_GAP_SUM_PS,  #: cycle statistics: sum and count of the gaps between an ONU's windows
    L_GAP_N,
    L_NEED,  #: what the loop waits for (a time, or a buffer size)
    L_LAST_FINISH,
    L_NOW,  #: when the OLT sized the current window (the DBA kernel's ``E_NOW_PS``)
    L_LEN,
) = range(19)

# Phases of the upstream loop.
PH_POP, PH_OPEN, PH_ROUND, PH_CLOSE, PH_DONE = range(5)
# Why a loop kernel returned.
ST_DONE, ST_NEED_DATA, ST_NEED_OUT, ST_NEED_WINDOWS, ST_DBA_ERROR, ST_NEGATIVE_DELAY = range(6)


@dataclass
class EponWindows:
    """Every upstream window of a run (kept when the run records packets): the ONU, and
    when its first byte and its last byte (REPORT included) reach the OLT."""

    onu: I64
    start_ps: I64
    end_ps: I64

    def __len__(self) -> int:
        return len(self.onu)


def _byte_ps(rate_bps: int) -> int:
    ps, rest = divmod(8 * 10**12, rate_bps)
    if rest:
        raise InputError("technology", f"line rate {rate_bps} b/s gives a non-integer byte time")
    return ps


# ------------------------------------------------------------------------------ kernels
@inline_kernel
def _queued(onu: int, qs: I64, q_order: I64, q_ptr: I64, unit: int) -> int:
    """What ONU ``onu``'s REPORT says: its queues' encapsulated bytes, rounded up to the
    report unit (a greedy queue reports at least its buffer)."""
    total = 0
    for i in range(q_ptr[onu], q_ptr[onu + 1]):
        j = q_order[i]
        value = qs[j, QENCAP]
        if qs[j, UNBOUNDED] == 1 and qs[j, BUFFER] > value:
            value = qs[j, BUFFER]
        total += value
    return -((-total) // unit) * unit


@kernel
def run_windows(
    limit_ps: int,
    ip: I64,
    ls: I64,
    h_t: I64,
    h_seq: I64,
    h_rep: I64,
    last_start: I64,
    one_way: I64,
    rtt: I64,
    q_order: I64,
    q_ptr: I64,
    dba_fn: Any,
    dba_ctx: I64,
    state_i: I64,
    state_f: npt.NDArray[np.float64],
    qs: I64,
    arrival_ps: I64,
    size_bytes: I64,
    state: npt.NDArray[np.int8],
    enc: I64,
    out: I64,
    n_out: I64,
    counts: I64,
    acc: I64,
    win: I64,
    granted: I64,
    used_bytes: I64,
    windows: I64,
) -> int:
    """Run upstream windows (mirror of the reference path's ``upstream`` process) until one
    needs traffic after ``limit_ps``, an output buffer is full, or the run ends.

    Every arrival at or before ``limit_ps`` is in the store.  The loop state ``ls`` (phase
    ``L_PHASE``) lets the next call resume exactly where this one stopped; returns an
    ``ST_*`` code (``ls[L_NEED]`` says what is needed).
    """
    end_ps = ip[P_END_PS]
    last = end_ps - 1
    byte_ps = ip[P_BYTE_PS]
    fec_n, fec_k = ip[P_FEC_N], ip[P_FEC_K]
    report_first = ip[P_REPORT_FIRST] == 1
    exhaustive = ip[P_EXHAUSTIVE] == 1
    fold = ip[P_FOLD] == 1
    n_onus = h_t.shape[0]
    g_q = np.zeros(1, dtype=np.int64)
    g_room = np.zeros(1, dtype=np.int64)
    g_cut = np.zeros(1, dtype=np.int64)
    g_base = np.zeros(1, dtype=np.int64)
    g_zero = np.zeros(1, dtype=np.int64)
    g_data = np.zeros(1, dtype=np.int64)
    g_used = np.zeros(1, dtype=np.int64)
    cap = out.shape[1]
    while True:
        phase = ls[L_PHASE]
        if phase == PH_DONE:
            return ST_DONE
        if phase == PH_POP:
            # The earliest REPORT (ties: the earlier queued); every ONU has exactly one.
            onu = 0
            for i in range(1, n_onus):
                if h_t[i] < h_t[onu] or (h_t[i] == h_t[onu] and h_seq[i] < h_seq[onu]):
                    onu = i
            start = ls[L_NEXT_FREE] + ip[P_GUARD_PS]
            if h_t[onu] + rtt[onu] > start:
                start = h_t[onu] + rtt[onu]
            if start >= end_ps:
                ls[L_PHASE] = PH_DONE
                return ST_DONE
            ls[L_ONU] = onu
            ls[L_START] = start
            ls[L_TX] = start - one_way[onu]
            ls[L_T_REPORT] = h_t[onu]
            ls[L_REPORTED] = h_rep[onu]
            ls[L_PHASE] = PH_OPEN
            continue
        onu = ls[L_ONU]
        start = ls[L_START]
        if phase == PH_OPEN:
            cutoff = ls[L_TX] if ls[L_TX] < last else last
            if cutoff > limit_ps:
                ls[L_NEED] = cutoff
                return ST_NEED_DATA
            offset = 0
            now = ls[L_T_REPORT]
            if report_first:
                # The REPORT opens the window and sizes it on the spot.
                for i in range(q_ptr[onu], q_ptr[onu + 1]):
                    admit(q_order[i], cutoff, qs, arrival_ps, size_bytes, state, enc)
                ls[L_REPORTED] = _queued(onu, qs, q_order, q_ptr, ip[P_REPORT_UNIT])
                offset = ip[P_REPORT_BYTES]
                now = start
            dba_ctx[E_NOW_PS] = now
            ls[L_NOW] = now
            room = dba_fn(dba_ctx, onu, ls[L_REPORTED], state_i, state_f)
            if room < 0:
                ls[L_NEED] = room
                return ST_DBA_ERROR
            if exhaustive:
                room = UNLIMITED_BYTES
            ls[L_OFFSET] = offset
            ls[L_ROOM] = room
            ls[L_SENT] = 0
            ls[L_CUTOFF] = cutoff
            ls[L_PHASE] = PH_ROUND
            continue
        offset = ls[L_OFFSET]
        if phase == PH_ROUND:
            cutoff = ls[L_CUTOFF]
            if cutoff > limit_ps:
                ls[L_NEED] = cutoff
                return ST_NEED_DATA
            room = ls[L_ROOM]
            sent = ls[L_SENT]
            # Room for this round's departures: every stored packet of the ONU, and what a
            # greedy queue can make of the window.
            bound = 1
            for i in range(q_ptr[onu], q_ptr[onu + 1]):
                j = q_order[i]
                bound += qs[j, HI] - qs[j, HEAD]
                if qs[j, UNBOUNDED] == 1:
                    bound += (room - sent) // ip[P_MIN_COST] + 1
            if n_out[0] + bound > cap:
                ls[L_NEED] = bound
                return ST_NEED_OUT
            sent_before = sent
            n_round = n_out[0]
            for i in range(q_ptr[onu], q_ptr[onu + 1]):
                if room - sent <= 0:
                    break
                j = q_order[i]
                granted[j] += room - sent
                a0 = qs[j, ADMIT]
                if (
                    qs[j, QPKTS] == 0
                    and qs[j, UNBOUNDED] == 0
                    and (a0 >= qs[j, HI] or arrival_ps[a0] > cutoff)
                ):
                    continue  # nothing queued nor arriving by the cut-off: nothing to send
                g_q[0] = j
                g_room[0] = room - sent
                g_cut[0] = cutoff
                g_base[0] = start
                g_data[0] = offset + sent
                n0 = n_out[0]
                n_new = serve_grants(
                    qs, arrival_ps, size_bytes, state, enc, g_q, g_room, g_cut, g_base,
                    g_zero, g_data, g_zero, fec_n, fec_k, 1, byte_ps,
                    out[0, n0:], out[1, n0:], out[2, n0:], out[3, n0:], g_used,
                )  # fmt: skip
                n_out[0] = n0 + n_new
                used_bytes[j] += g_used[0]
                sent += g_used[0]
            if fold and n_out[0] > n_round:
                # The round's departures folded at once, while still in cache.
                bad = fold_departures(
                    out[0, n_round:], out[1, n_round:], out[2, n_round:], out[3, n_round:],
                    n_out[0] - n_round, ip[P_WARMUP_PS], ip[P_STATS_END_PS], counts, acc, win,
                )  # fmt: skip
                n_out[0] = n_round
                if bad >= 0:
                    ls[L_NEED] = start
                    return ST_NEGATIVE_DELAY
            ls[L_SENT] = sent
            if not exhaustive or sent == sent_before:
                ls[L_PHASE] = PH_CLOSE
            else:
                # Exhaustive: frames that arrived while this window was sending go too.
                c = start + line_offset(offset + sent, fec_n, fec_k) * byte_ps - one_way[onu]
                ls[L_CUTOFF] = c if c < last else last
            continue
        # PH_CLOSE: the REPORT (at the end), the window's record, the next REPORT queued.
        sent = ls[L_SENT]
        tail = 0 if report_first else ip[P_REPORT_BYTES]
        finish = start + line_offset(offset + sent + tail, fec_n, fec_k) * byte_ps
        n_w = ls[L_WINDOWS]
        if ip[P_KEEP_WINDOWS] == 1 and n_w >= windows.shape[1]:
            ls[L_NEED] = n_w + 1
            return ST_NEED_WINDOWS
        if not report_first:
            report_at = finish - one_way[onu]
            if report_at > last:
                report_at = last
            if report_at > limit_ps:
                ls[L_NEED] = report_at
                return ST_NEED_DATA
            for i in range(q_ptr[onu], q_ptr[onu + 1]):
                admit(q_order[i], report_at, qs, arrival_ps, size_bytes, state, enc)
            ls[L_REPORTED] = _queued(onu, qs, q_order, q_ptr, ip[P_REPORT_UNIT])
        if ip[P_KEEP_WINDOWS] == 1:
            windows[0, n_w] = onu
            windows[1, n_w] = start
            windows[2, n_w] = finish
        if last_start[onu] >= 0 and last_start[onu] >= ip[P_WARMUP_PS]:
            ls[L_GAP_SUM_PS] += start - last_start[onu]
            ls[L_GAP_N] += 1
        last_start[onu] = start
        ls[L_WINDOWS] = n_w + 1
        ls[L_NEXT_FREE] = finish
        ls[L_LAST_FINISH] = finish
        h_t[onu] = finish
        h_seq[onu] = ls[L_SEQ]
        h_rep[onu] = ls[L_REPORTED]
        ls[L_SEQ] += 1
        ls[L_PHASE] = PH_POP


# Integer parameters of the downstream loop (vector ``dp``).
(
    D_END_PS,
    D_BYTE_PS,
    D_FEC_N,
    D_FEC_K,
    D_SLICE_BYTES,
    D_FOLD,
    D_WARMUP_PS,
    D_STATS_END_PS,
    D_MIN_COST,
    D_T_PS,  #: state: start of the next slice
    D_NEED,  #: state: output room needed (ST_NEED_OUT)
    D_LEN,
) = range(12)


@kernel
def run_slices(
    limit_ps: int,
    dp: I64,
    qs: I64,
    arrival_ps: I64,
    size_bytes: I64,
    state: npt.NDArray[np.int8],
    enc: I64,
    priority: I64,
    levels: I64,
    q_onu: I64,
    one_way: I64,
    sh_refill: I64,
    sh_depth: I64,
    sh_tokens: I64,
    sh_order: I64,
    drr_quantum: I64,
    drr_deficit: I64,
    drr_pointer: I64,
    drr_cut: I64,
    out: I64,
    n_out: I64,
    counts: I64,
    acc: I64,
    win: I64,
    granted: I64,
    used_bytes: I64,
) -> int:
    """Run downstream slices (mirror of the reference path's ``downstream`` process) from
    ``dp[D_T_PS]`` while they start at or before ``limit_ps``; return an ``ST_*`` code."""
    n_q = qs.shape[0]
    end_ps = dp[D_END_PS]
    byte_ps = dp[D_BYTE_PS]
    fec_n, fec_k = dp[D_FEC_N], dp[D_FEC_K]
    slice_bytes = dp[D_SLICE_BYTES]
    fold = dp[D_FOLD] == 1
    demand = np.zeros(n_q, dtype=np.int64)
    g_q = np.zeros(n_q, dtype=np.int64)
    g_room = np.zeros(n_q, dtype=np.int64)
    g_t = np.zeros(n_q, dtype=np.int64)
    g_zero = np.zeros(n_q, dtype=np.int64)
    g_extra = np.zeros(n_q, dtype=np.int64)
    g_used = np.zeros(n_q, dtype=np.int64)
    cap = out.shape[1]
    t = dp[D_T_PS]
    while t < end_ps and n_q > 0:
        if t > limit_ps:
            dp[D_T_PS] = t
            return ST_NEED_DATA
        admit_all(t, qs, arrival_ps, size_bytes, state, enc)
        bound = 1
        queue_demand(qs, slice_bytes, demand)
        for q in range(n_q):
            bound += qs[q, HI] - qs[q, HEAD]
            if qs[q, UNBOUNDED] == 1:
                bound += slice_bytes // dp[D_MIN_COST] + 2
        if n_out[0] + bound > cap:
            dp[D_T_PS] = t
            dp[D_NEED] = bound
            return ST_NEED_OUT
        if sh_order.shape[0] > 0:
            # The household shaper (olt.downstream_kernel): refill, then cap by priority.
            shaper_refill(sh_tokens, sh_refill, sh_depth)
            shaper_cap(demand, sh_tokens, sh_refill, sh_order, q_onu)
        share = drr_share(
            demand, priority, levels, slice_bytes, drr_quantum, drr_deficit, drr_pointer,
            drr_cut,
        )  # fmt: skip
        # Queues by priority, then index; on the stream each share starts where the
        # previous one's last frame ended (serve_grants' MODE_OVERRUN).
        n_s = 0
        for li in range(levels.shape[0]):
            for q in range(n_q):
                if priority[q] == levels[li] and share[q] > 0:
                    g_q[n_s] = q
                    g_room[n_s] = share[q]
                    g_t[n_s] = t
                    g_extra[n_s] = one_way[q_onu[q]]
                    n_s += 1
        sent = 0
        if n_s > 0:
            n0 = n_out[0]
            n_new = serve_grants(
                qs, arrival_ps, size_bytes, state, enc, g_q[:n_s], g_room[:n_s], g_t[:n_s],
                g_t[:n_s], g_zero[:n_s], g_zero[:n_s], g_extra[:n_s], fec_n, fec_k, 1,
                byte_ps, out[0, n0:], out[1, n0:], out[2, n0:], out[3, n0:], g_used,
            )  # fmt: skip
            if fold:
                bad = fold_departures(
                    out[0], out[1], out[2], out[3], n_new, dp[D_WARMUP_PS],
                    dp[D_STATS_END_PS], counts, acc, win,
                )  # fmt: skip
                if bad >= 0:
                    dp[D_T_PS] = t
                    return ST_NEGATIVE_DELAY
            else:
                n_out[0] = n0 + n_new
            for s_i in range(n_s):
                q = g_q[s_i]
                granted[q] += g_room[s_i]
                used_bytes[q] += g_used[s_i]
                sent += g_used[s_i]
            if sh_order.shape[0] > 0:
                shaper_consume(sh_tokens, q_onu, g_q, g_used, n_s)
        step = line_offset(sent, fec_n, fec_k) * byte_ps
        t += step if step > SLICE_PS else SLICE_PS
    dp[D_T_PS] = t
    return ST_DONE


# ------------------------------------------------------------------------------ the run
def run_epon(spec: EmulationSpec, progress: Any = None, engine: str = "fast") -> RawRun:
    """Run an EPON scenario (``spec.profile`` not framed) with its polling DBA.

    Parameters
    ----------
    spec
        The resolved scenario.
    progress
        Called as ``progress(done_ps, end_ps)`` now and then.
    engine
        ``"fast"``: the compiled loops (when the DBA is a window kernel; ``FTTH_STEPPED=1``
        forces the reference path); ``"reference"``: one simpy event per window and slice.
    """
    wall0 = time.perf_counter()
    if engine not in ("fast", "reference"):
        raise ValueError(f"unknown engine {engine!r}; valid: fast, reference")
    p = spec.profile
    dba_cls = get_dba(spec.dba_name)
    if not getattr(dba_cls, "epon", False):
        raise InputError(
            "dba.name",
            f"{spec.dba_name!r} allocates 125 µs frames; an EPON needs a polling DBA"
            " (ipact, polling)",
        )
    ctx = DbaContext(p, spec.us_fec, spec.tconts, spec.n_onus, 1, True)
    dba: EponDba = dba_cls(ctx, spec.dba_params)
    if dba.exhaustive and any(q.greedy_size_bytes for q in spec.upstream):
        # An exhaustive window lasts until the queue is empty, which an unbounded source
        # never is: the first window would never end.
        raise InputError(
            "dba.params.service",
            "exhaustive polling never ends the window of an unbounded greedy source; use"
            ' service = "gated" or give the greedy source a rate_bps',
        )
    up_stats, down_stats = make_stats(spec)
    up = _Direction(spec, spec.upstream, up_stats, 1)
    down = _Direction(spec, spec.downstream, down_stats, 1)
    down.store.enc = down.store.enc.copy()
    down.store.enc[ENC_MODE] = MODE_OVERRUN
    run = _EponRun(spec, dba, up, down, progress)
    compiled = engine == "fast" and isinstance(dba, KernelEponDba) and not FORCE_STEPPED
    env = simpy.Environment()
    if compiled:
        env.process(run.upstream_loop(env))
        env.process(run.downstream_loop(env))
        # The loops release the GIL: traffic is generated meanwhile on other cores.
        if ACCELERATED and prefetch_enabled():
            up.start_prefetch("upstream-traffic")
            down.start_prefetch("downstream-traffic")
    else:
        env.process(run.upstream_reference(env))
        env.process(run.downstream_reference(env))
    run_and_close_books(env, up, down, spec.duration_ps)
    n_windows = int(run.ls[L_WINDOWS])
    raw = RawRun(
        upstream=up_stats,
        downstream=down_stats,
        engine="epon",
        backend=backend_name() + ("-compiled-loop" if compiled and ACCELERATED else ""),
        wall_s=time.perf_counter() - wall0,
        frames=n_windows,
        allocations=n_windows,
    )
    gap_n = int(run.ls[L_GAP_N])
    mean_ps = int(run.ls[L_GAP_SUM_PS]) / gap_n if gap_n else 0.0
    raw.extra["epon"] = {
        "mean_cycle_us": round(mean_ps / 1e6, 6),
        "windows": float(n_windows),
        "onus": float(spec.n_onus),
    }
    if run.keep_windows:
        w = run.windows[:, :n_windows]
        raw.extra["windows"] = EponWindows(w[0].copy(), w[1].copy(), w[2].copy())
    return raw


class _EponRun:
    """One EPON run's state, shared by the compiled loops and the reference path."""

    def __init__(
        self, spec: EmulationSpec, dba: EponDba, up: _Direction, down: _Direction, progress: Any
    ) -> None:
        p = spec.profile
        self.spec, self.dba, self.up, self.down, self.progress = spec, dba, up, down, progress
        self.end_ps = spec.duration_ps
        self.horizon_ps = spec.window_ps
        self.us_byte_ps, self.ds_byte_ps = _byte_ps(p.upstream_bps), _byte_ps(p.downstream_bps)
        self.us_fec = (spec.us_fec.n, spec.us_fec.k) if spec.us_fec else (0, 0)
        self.ds_fec = (spec.ds_fec.n, spec.ds_fec.k) if spec.ds_fec else (0, 0)
        self.report_bytes = p.mpcp_report_bytes + p.ethernet_overhead_bytes
        self.unit = p.report_unit_bytes
        n_onus = spec.n_onus
        one_way = np.zeros(n_onus, dtype=np.int64) if dba.rtt_zero else spec.one_way_ps
        self.one_way = np.ascontiguousarray(one_way, dtype=np.int64)
        self.rtt = 2 * self.one_way
        # Each ONU's queues in the order it serves them: priority, then T-CONT index (CSR).
        onu_queues: list[list[int]] = [[] for _ in range(n_onus)]
        for j in sorted(range(len(spec.upstream)), key=lambda j: (spec.upstream[j].priority, j)):
            onu_queues[spec.upstream[j].onu_index].append(j)
        self.onu_queues = onu_queues
        self.q_order = np.array([j for qs in onu_queues for j in qs], dtype=np.int64)
        self.q_ptr = np.cumsum([0] + [len(qs) for qs in onu_queues]).astype(np.int64)
        # Loop state (both paths keep the window count and cycle statistics here).
        self.ls = np.zeros(L_LEN, dtype=np.int64)
        self.ls[L_PHASE] = PH_POP
        self.ls[L_NEXT_FREE] = -dba.guard_ps  # so the first window starts at t = 0
        self.ls[L_SEQ] = n_onus
        self.last_start = np.full(n_onus, -1, dtype=np.int64)
        self.keep_windows = up.stats.keeps_packets or down.stats.keeps_packets
        self.windows = np.zeros((3, 1024 if self.keep_windows else 0), dtype=np.int64)
        # Downstream.
        self.ds_priority = np.array([q.priority for q in spec.downstream], dtype=np.int64)
        self.ds_onu = np.array([q.onu_index for q in spec.downstream], dtype=np.int64)
        slice_bytes = p.downstream_bps * SLICE_PS // (8 * 10**12)
        if spec.ds_fec:
            slice_bytes = spec.ds_fec.data_bytes(slice_bytes)
        self.slice_bytes = int(slice_bytes)
        self.min_cost = max(1, p.encap_min_frame_bytes)

    # ------------------------------------------------------------ window bookkeeping
    def _record_window(self, onu: int, start: int, finish: int) -> None:
        """The reference path's twin of run_windows' PH_CLOSE bookkeeping."""
        ls = self.ls
        n_w = int(ls[L_WINDOWS])
        if self.keep_windows:
            if n_w >= self.windows.shape[1]:
                self.windows = _grown(self.windows, n_w + 1)
            self.windows[:, n_w] = (onu, start, finish)
        last = int(self.last_start[onu])
        if last >= 0 and last >= self.spec.warmup_ps:
            ls[L_GAP_SUM_PS] += start - last
            ls[L_GAP_N] += 1
        self.last_start[onu] = start
        ls[L_WINDOWS] = n_w + 1
        ls[L_LAST_FINISH] = finish

    # --------------------------------------------------------------- compiled loops
    def upstream_loop(self, env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        """Drive :func:`run_windows` one traffic window at a time (a simpy process)."""
        spec, dba, up = self.spec, self.dba, self.up
        assert isinstance(dba, KernelEponDba)
        end = self.end_ps
        stats = up.stats
        fold = not stats.keeps_packets
        ip = np.zeros(P_LEN, dtype=np.int64)
        ip[P_END_PS] = end
        ip[P_GUARD_PS] = dba.guard_ps
        ip[P_BYTE_PS] = self.us_byte_ps
        ip[P_FEC_N], ip[P_FEC_K] = self.us_fec
        ip[P_REPORT_BYTES] = self.report_bytes
        ip[P_REPORT_UNIT] = self.unit
        ip[P_REPORT_FIRST] = 1 if dba.report_first else 0
        ip[P_EXHAUSTIVE] = 1 if dba.exhaustive else 0
        ip[P_FOLD] = 1 if fold else 0
        ip[P_WARMUP_PS], ip[P_STATS_END_PS] = stats.warmup_ps, stats.end_ps
        ip[P_KEEP_WINDOWS] = 1 if self.keep_windows else 0
        ip[P_MIN_COST] = self.min_cost
        n_onus = spec.n_onus
        # The REPORT queue: every ONU's first REPORT is due at t = 0 with nothing reported.
        h_t = np.zeros(n_onus, dtype=np.int64)
        h_seq = np.arange(n_onus, dtype=np.int64)
        h_rep = np.zeros(n_onus, dtype=np.int64)
        dba_fn = type(dba).kernel.loop_callable
        dba_ctx = dba.kernel_ctx()
        state_i = np.ascontiguousarray(dba.state_i, dtype=np.int64)
        state_f = np.ascontiguousarray(dba.state_f, dtype=np.float64)
        n_t = len(spec.upstream)
        granted = np.zeros(n_t, dtype=np.int64)
        used = np.zeros(n_t, dtype=np.int64)
        out = np.empty((4, 1 << 12), dtype=np.int64)
        n_out = np.zeros(1, dtype=np.int64)
        ls = self.ls
        need = 0
        while True:
            up.ensure_generated(min(need + self.horizon_ps, end - 1))
            limit = up.generated_until_ps - 1 if up.generated_until_ps < end else end
            st = up.store
            status = run_windows(
                limit, ip, ls, h_t, h_seq, h_rep, self.last_start, self.one_way, self.rtt,
                self.q_order, self.q_ptr, dba_fn, dba_ctx, state_i, state_f,
                st.qs, st.arrival_ps, st.size_bytes, st.state, st.enc, out, n_out,
                stats.delays.counts, stats.delays.acc, stats.window_delivered, granted, used,
                self.windows,
            )  # fmt: skip
            if n_out[0]:  # copies: the buffer is reused
                stats.departures(*(out[i, : n_out[0]].copy() for i in range(4)))
                n_out[0] = 0
            stats.delays.settle()
            if status == ST_NEGATIVE_DELAY:
                raise InvariantError(
                    f"negative upstream delay in the window starting at {int(ls[L_START])} ps:"
                    " a packet departed before it arrived"
                )
            if status == ST_DBA_ERROR:
                raise dba.window_error(
                    int(ls[L_WINDOWS]), int(ls[L_ONU]), int(ls[L_NOW]), int(ls[L_NEED])
                )
            if status == ST_NEED_OUT and out.shape[1] < ls[L_NEED]:
                out = np.empty((4, 2 * int(ls[L_NEED])), dtype=np.int64)
            elif status == ST_NEED_WINDOWS:
                self.windows = _grown(self.windows, int(ls[L_NEED]))
            elif status == ST_NEED_DATA:
                if ls[L_NEED] <= limit:
                    raise AssertionError("the EPON loop asked for traffic it already has")
                need = int(ls[L_NEED])
            if self.progress is not None:
                self.progress(min(int(ls[L_LAST_FINISH]), end), end)
            if status == ST_DONE:
                break
            t = int(ls[L_START])
            if t > env.now:
                yield env.timeout(t - int(env.now))
        stats.granted_bytes += granted
        stats.used_bytes += used

    def downstream_loop(self, env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        """Drive :func:`run_slices` one traffic window at a time (a simpy process)."""
        spec, down = self.spec, self.down
        stats = down.stats
        st = down.store
        if not st.n_queues:
            return
        end = self.end_ps
        dp = np.zeros(D_LEN, dtype=np.int64)
        dp[D_END_PS] = end
        dp[D_BYTE_PS] = self.ds_byte_ps
        dp[D_FEC_N], dp[D_FEC_K] = self.ds_fec
        dp[D_SLICE_BYTES] = self.slice_bytes
        dp[D_FOLD] = 0 if stats.keeps_packets else 1
        dp[D_WARMUP_PS], dp[D_STATS_END_PS] = stats.warmup_ps, stats.end_ps
        dp[D_MIN_COST] = self.min_cost
        levels = np.unique(self.ds_priority).astype(np.int64)
        shaper = make_shaper(spec, self.ds_onu, self.ds_priority)
        if shaper is not None:
            sh_refill, sh_depth = shaper.refill_bits, shaper.depth_bits
            sh_tokens, sh_order = shaper.tokens_bits.copy(), shaper.order
        else:
            sh_refill = sh_depth = sh_tokens = np.zeros(spec.n_onus, dtype=np.int64)
            sh_order = np.zeros(0, dtype=np.int64)
        n_q = st.n_queues
        drr_quantum = drr_quanta_bytes(spec)
        drr_deficit = np.zeros(n_q, dtype=np.int64)
        drr_pointer = np.zeros(len(levels), dtype=np.int64)
        drr_cut = np.zeros(len(levels), dtype=np.int64)
        granted = np.zeros(n_q, dtype=np.int64)
        used = np.zeros(n_q, dtype=np.int64)
        out = np.empty((4, 1 << 12), dtype=np.int64)
        n_out = np.zeros(1, dtype=np.int64)
        one_way = np.ascontiguousarray(spec.one_way_ps, dtype=np.int64)
        while True:
            t0 = int(dp[D_T_PS])
            down.ensure_generated(min(t0 + self.horizon_ps, end - 1))
            limit = down.generated_until_ps - 1 if down.generated_until_ps < end else end
            status = run_slices(
                limit, dp, st.qs, st.arrival_ps, st.size_bytes, st.state, st.enc,
                self.ds_priority, levels, self.ds_onu, one_way, sh_refill, sh_depth, sh_tokens,
                sh_order, drr_quantum, drr_deficit, drr_pointer, drr_cut, out, n_out,
                stats.delays.counts, stats.delays.acc, stats.window_delivered, granted, used,
            )  # fmt: skip
            if n_out[0]:
                stats.departures(*(out[i, : n_out[0]].copy() for i in range(4)))
                n_out[0] = 0
            stats.delays.settle()
            if status == ST_NEGATIVE_DELAY:
                raise InvariantError(
                    f"negative downstream delay in the slice at {int(dp[D_T_PS])} ps:"
                    " a packet departed before it arrived"
                )
            if status == ST_NEED_OUT and out.shape[1] < dp[D_NEED]:
                out = np.empty((4, 2 * int(dp[D_NEED])), dtype=np.int64)
            if status == ST_DONE:
                break
            t = min(int(dp[D_T_PS]), end)
            if t > env.now:
                yield env.timeout(t - int(env.now))
        stats.granted_bytes += granted
        stats.used_bytes += used

    # --------------------------------------------------------------- reference path
    def _serve(
        self, d: _Direction, q: int, room: int, cutoff: int, base: int, start: int,
        fec: tuple[int, int], byte_ps: int, extra: int,
    ) -> int:  # fmt: skip
        """Serve queue ``q`` once; departures to the statistics; return bytes used."""
        st = d.store
        # The kernel writes one row per packet completed and does not check the bounds: the
        # stored packets, plus for an unbounded (greedy) queue the frames the room holds.
        cap = len(st.arrival_ps) + 4096
        if st.qs[q, UNBOUNDED] == 1:
            cap += room // max(1, int(st.qs[q, GREEDY_SIZE])) + 1
        if len(d.out[0]) < cap:
            d.out = [np.empty(2 * cap, dtype=np.int64) for _ in range(4)]
        out = d.out
        used = d.used[:1]
        n = serve_grants(
            st.qs, st.arrival_ps, st.size_bytes, st.state, st.enc,
            np.array([q], dtype=np.int64), np.array([room], dtype=np.int64),
            np.array([cutoff], dtype=np.int64), np.array([base], dtype=np.int64),
            np.zeros(1, dtype=np.int64), np.array([start], dtype=np.int64),
            np.array([extra], dtype=np.int64), fec[0], fec[1], 1, byte_ps,
            out[0], out[1], out[2], out[3], used,
        )  # fmt: skip
        if n:
            d.stats.departures(*(a[:n].copy() for a in out))
        d.stats.grants(np.array([q]), np.array([room]), used.copy())
        return int(used[0])

    def _queued(self, onu: int) -> int:
        return int(_queued(onu, self.up.store.qs, self.q_order, self.q_ptr, self.unit))

    def upstream_reference(self, env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        """One simpy event per window; the window's logic in Python."""
        dba, up, end_ps, horizon = self.dba, self.up, self.end_ps, self.horizon_ps
        one_way, rtt, onu_queues = self.one_way, self.rtt, self.onu_queues
        us_fec, us_byte_ps, report_bytes = self.us_fec, self.us_byte_ps, self.report_bytes
        ls = self.ls
        kernel_dba = isinstance(dba, KernelEponDba)
        # Initial poll: every ONU's first REPORT is due at t = 0 with nothing reported.
        heap = [(0, i, i, 0) for i in range(self.spec.n_onus)]
        heapq.heapify(heap)
        seq = self.spec.n_onus
        next_free = -dba.guard_ps  # so the first window starts at t = 0
        while heap:
            t_report, _, onu, reported = heapq.heappop(heap)
            start = max(next_free + dba.guard_ps, t_report + int(rtt[onu]))
            if start >= end_ps:
                break
            if start > env.now:
                yield env.timeout(start - int(env.now))
            ls[L_START] = start
            tx_start = start - int(one_way[onu])  # when the ONU starts sending
            up.ensure_generated(min(tx_start + horizon, end_ps - 1))
            offset = 0
            now = t_report
            if dba.report_first:
                # The REPORT opens the window and sizes it on the spot.
                for j in onu_queues[onu]:
                    up.store.admit_all_one(j, min(tx_start, end_ps - 1))
                reported = self._queued(onu)
                offset = report_bytes
                now = start
            if kernel_dba:
                assert isinstance(dba, KernelEponDba)
                room = dba.window_bytes(onu, reported, now, int(ls[L_WINDOWS]))
                if dba.exhaustive:
                    room = UNLIMITED
            else:
                room = dba.window_bytes(onu, reported) if not dba.exhaustive else UNLIMITED
            cutoff = min(tx_start, end_ps - 1)
            sent = 0
            while True:
                sent_before = sent
                for j in onu_queues[onu]:
                    if room - sent <= 0:
                        break
                    sent += self._serve(
                        up, j, room - sent, cutoff, start, offset + sent, us_fec, us_byte_ps, 0
                    )
                if not dba.exhaustive or sent == sent_before:
                    break
                # Exhaustive: frames that arrived while this window was sending go too.
                cutoff = min(
                    start
                    + line_offset(offset + sent, us_fec[0], us_fec[1]) * us_byte_ps
                    - int(one_way[onu]),
                    end_ps - 1,
                )
                up.ensure_generated(min(cutoff + horizon, end_ps - 1))
            tail = 0 if dba.report_first else report_bytes
            finish = start + line_offset(offset + sent + tail, us_fec[0], us_fec[1]) * us_byte_ps
            if not dba.report_first:
                report_at = min(finish - int(one_way[onu]), end_ps - 1)
                # A long window can end past the traffic generated so far.
                up.ensure_generated(report_at)
                for j in onu_queues[onu]:
                    up.store.admit_all_one(j, report_at)
                reported = self._queued(onu)
            self._record_window(onu, start, finish)
            next_free = finish
            heapq.heappush(heap, (finish, seq, onu, reported))
            seq += 1
            if self.progress is not None and int(ls[L_WINDOWS]) % 256 == 0:
                self.progress(min(finish, end_ps), end_ps)

    def downstream_reference(self, env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        """One simpy event per 125 µs slice; the sharing in Python."""
        spec, down, end_ps = self.spec, self.down, self.end_ps
        shaper = make_shaper(spec, self.ds_onu, self.ds_priority)
        drr = DrrScheduler(self.ds_priority, drr_quanta_bytes(spec))
        slice_bytes, ds_fec, ds_byte_ps = self.slice_bytes, self.ds_fec, self.ds_byte_ps
        t = 0
        st = down.store
        while t < end_ps and st.n_queues:
            down.ensure_generated(t)
            st.admit_all(t)
            qs = st.qs
            demand = np.empty(len(qs), dtype=np.int64)
            queue_demand(qs, slice_bytes, demand)
            if shaper is not None:
                shaper.refill()
                demand = shaper.cap(demand)
            order, share = drr.share(demand, slice_bytes)
            sent = 0
            for q, s in zip(order.tolist(), share.tolist(), strict=True):
                before = sent
                sent += self._serve(
                    down, q, s, t, t, sent, ds_fec, ds_byte_ps,
                    int(spec.one_way_ps[self.ds_onu[q]]),
                )  # fmt: skip
                if shaper is not None:
                    shaper.consume(np.array([q]), np.array([sent - before]))
            step = max(SLICE_PS, line_offset(sent, ds_fec[0], ds_fec[1]) * ds_byte_ps)
            yield env.timeout(step)
            t += step


def _grown(windows: I64, at_least: int) -> I64:
    """The window record with room for at least ``at_least`` windows (doubling)."""
    grown = np.zeros((3, max(at_least, 2 * windows.shape[1], 1024)), dtype=np.int64)
    grown[:, : windows.shape[1]] = windows
    return grown


__all__ = ["EponWindows", "run_epon", "run_slices", "run_windows", "I64"]
