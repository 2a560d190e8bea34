"""The compiled frame loop: the exchange between the OLT and the ONUs, frame by frame, in
one numba kernel.

With numba, Python-level work per 125 µs frame (DBA call, BWmap arrays, kernel dispatch,
statistics) would dominate the run time, so for every kernel-form DBA (``KernelDba``: the
built-ins and plugins that ship a kernel) the fast engine runs every frame of a traffic
window inside :func:`run_frames`.  It owns no rule of its own: it calls the OLT's kernels
(:mod:`olt.upstream`: reports in, polls, the DBA's view, the books, burst timing;
:func:`olt.bwmap.lay_out`; the DBA's own kernel, passed in as a first-class function;
:mod:`olt.downstream_kernel`), the ONU's (:mod:`onu.report`) and the queue kernels
(:mod:`onu.fifo`), on the very arrays :class:`olt.upstream.OltUpstream` keeps.  Python only
generates traffic windows, folds statistics and drives the simpy clock once per window.
Plain-form DBAs (and runs without numba) use the stepped engine in :mod:`ftth.emulator.fast`,
which calls the same kernels frame by frame; the engine-equivalence tests compare every path
packet for packet with the reference engine.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ftth.emulator.dataplane import (
    advance_plan,
    corrupted_at,
    count_pieces,
    downstream_fates,
    quiet_at,
    upstream_fates,
)
from ftth.fold import fold_departures
from ftth.jit import inline_kernel, kernel
from olt.bwmap import (
    A_DATA_START,
    A_DBRU,
    A_DBRU_END,
    A_LINE_START,
    A_N,
    A_ROOM,
    A_TCONT,
    lay_out,
    lay_out_quiet,
    layout_rule,
)
from olt.dba.kernel import (
    C_FRAME,
    C_NOW_PS,
    R_N,
)
from olt.downstream_kernel import (
    drr_share,
    mask_demand,
    queue_demand,
    shaper_cap,
    shaper_consume,
    shaper_refill,
)
from olt.upstream import (
    apply_reports,
    book_grants,
    burst_timing,
    fill_reports,
    mask_not_operating,
    mask_reports,
    post_report,
    select_polls,
    select_polls_up,
)
from onu.fifo import (
    BUFFER,
    QENCAP,
    UNBOUNDED,
    admit_all,
    admit_all_spans,
    power_off,
    serve_grants,
    serve_grants_faults,
)
from onu.report import dbru_value_bytes

I64 = npt.NDArray[np.int64]

# Integer parameter vector ``ip`` (one int64 array keeps the kernel signature manageable).
(
    IP_FRAME_PS,
    IP_US_BPF,
    IP_DS_BPF,
    IP_UNIT,
    IP_DBRU,
    IP_US_FEC_N,
    IP_US_FEC_K,
    IP_DS_FEC_N,
    IP_DS_FEC_K,
    IP_DS_SYNC,
    IP_TEQD,
    IP_END_PS,
    IP_LATENCY_PS,
    IP_DBRU_EVERY,
    IP_CYCLE,
    IP_USES_REPORTS,
    IP_REPORT_UNIT,
    IP_DS_FRAME_BYTES,
    IP_POLL_BUDGET,
    IP_MIN_FRAME,
    IP_FOLD,
    IP_US_WARMUP_PS,
    IP_US_STATS_END_PS,
    IP_DS_WARMUP_PS,
    IP_DS_STATS_END_PS,
    IP_FAULTS,  #: 1: obey the control plan (the Faults record); 0: the steady path
    IP_ERRORS,  #: 1: some margin lets codewords err
    IP_SEED,
    IP_US_CW,  #: bytes per upstream codeword (FEC k, or the no-FEC block)
    IP_DS_CW,
    IP_DS_N_CW,  #: codewords per downstream frame
    IP_US_TRAILER,
    IP_LEN,
) = range(33)

# Error codes returned by the kernel (the Python side words the message).
ERR_NONE, ERR_NEGATIVE_DELAY = 0, 5
ERR_DBA_STATUS, ERR_NEGATIVE_GRANT, ERR_LAYOUT, ERR_RING_FULL = 6, 7, 8, 9


# ----------------------------------------------------------------------------------- records
# The loop's state travels in a few named records (typed NamedTuples of arrays, which numba
# passes by value as a struct of array views and caches like any other argument type).  The
# classes live at module level so numba's on-disk cache can name them.
F64 = npt.NDArray[np.float64]


class OltUp(NamedTuple):
    """The OLT's upstream state: :class:`olt.upstream.OltUpstream`'s own arrays, the grants
    of the DBA cycle in progress and the static layout of the tree."""

    olt: I64  #: per T-CONT books (olt.upstream)
    cum_granted: I64  #: payload granted so far per T-CONT
    pend: I64  #: DBRus in flight (a ring)
    pend_head_tail: I64  #: the ring's head and tail
    cycle_grants: I64  #: (cycle frames, T-CONTs) payload bytes of the current DBA cycle
    cycle_start: I64  #: [frame the current cycle started] (-1: none yet)
    order: I64  #: T-CONTs in BWmap order
    onu_of: I64  #: ONU index of each T-CONT
    one_way_ps: I64  #: one-way propagation per ONU


class DbaArrays(NamedTuple):
    """The DBA's arrays (:mod:`olt.dba.kernel`); its kernel is passed beside them."""

    ctx: I64
    tcont_i: I64
    tcont_f: F64
    reports: I64
    state_i: I64
    state_f: F64


class Store(NamedTuple):
    """A direction's :class:`onu.fifo.QueueStore` arrays."""

    qs: I64
    arrival_ps: I64
    size_bytes: I64
    state: npt.NDArray[np.int8]
    enc: I64


class OltDown(NamedTuple):
    """The downstream scheduler: class layout, frame payload by allocation count, the
    household shaper (:mod:`olt.downstream_kernel`) and the DRR's carried state."""

    priority: I64
    levels: I64
    onu: I64
    room_by_alloc: I64
    overhead_by_alloc: I64
    one_way_ps: I64
    sh_refill: I64
    sh_depth: I64
    sh_tokens: I64
    sh_order: I64  #: empty: no shaper
    drr_quantum: I64  #: per queue: the base quantum scaled by its class's weight
    drr_deficit: I64
    drr_pointer: I64
    drr_cut: I64


class Departures(NamedTuple):
    """A direction's departure buffer (queue, arrival, size, departure rows) and its fill."""

    buf: I64
    n: I64


class Books(NamedTuple):
    """A direction's statistics: delay histograms and measuring-window counters (folded in
    the loop when ``ip[IP_FOLD] == 1``, see :mod:`ftth.fold`) and granted / used bytes per
    queue."""

    counts: I64
    acc: I64
    win: I64
    granted: I64
    used: I64


class Timelines(NamedTuple):
    """Per-frame records of the run (the ``RawRun`` timelines) and the allocation count."""

    us_line_bytes: I64
    us_payload_bytes: I64
    ds_payload_bytes: I64
    alloc_count: I64


class Faults(NamedTuple):
    """The control plan as the loop obeys it (:class:`ftth.emulator.dataplane.DataPlane`'s
    own arrays, updated in place) and the loop's scratch arrays for codeword fates."""

    op_first: I64
    op_start: I64
    op_end: I64
    op_cursor: I64
    op_row: I64
    onu_up: I64
    m_first: I64
    m_start: I64
    m_end: I64
    m_cursor: I64
    m_row: I64
    row_thr: I64
    thr: I64
    quiet_frame: I64
    quiet_line: I64
    cursors: I64  #: DataPlane.cursors (quiet cursor, quiet bytes so far, flush cursor)
    corrupt_start: I64
    corrupt_end: I64
    flush: I64  #: (frame, onu, at_ps) rows sorted by frame
    us_spans: I64
    ds_spans: I64
    pm: npt.NDArray[np.int64]
    us_flags: I64
    us_g_cw: I64
    us_dbru_lost: I64
    ds_where: I64
    ds_flags: I64
    g_cw: I64
    g_stat: I64
    g_onu: I64
    grants: I64


@inline_kernel
def _keep_or_fold(
    dep: Departures, n0: int, n_new: int, fold: int, warmup_ps: int, end_ps: int,
    books: Books, err: I64, k: int, direction: int,
) -> bool:  # fmt: skip
    """After a service wrote ``n_new`` departures at ``dep.buf[:, n0:]``: keep them (advance
    ``dep.n``) or, when ``fold``, fold them into the statistics at once, so the slots are
    reused by the next frame while still in cache.  False (and ``err`` set) on a negative
    delay."""
    if fold != 1:
        dep.n[0] = n0 + n_new
        return True
    out = dep.buf
    bad = fold_departures(
        out[0, n0:], out[1, n0:], out[2, n0:], out[3, n0:], n_new, warmup_ps, end_ps,
        books.counts, books.acc, books.win,
    )  # fmt: skip
    if bad >= 0:
        err[0], err[1], err[2] = ERR_NEGATIVE_DELAY, k, direction
        return False
    return True


@kernel
def run_frames(
    k0: int,
    k1: int,
    ip: I64,
    up: OltUp,
    dba_fn: Any,
    dba: DbaArrays,
    us: Store,
    ds: Store,
    down: OltDown,
    u_dep: Departures,
    d_dep: Departures,
    u_books: Books,
    d_books: Books,
    lines: Timelines,
    fx: Faults,
    err: I64,
) -> int:
    """Run frames ``k0 .. k1-1``; return the first frame not run (``k1`` unless an error).

    Every array is updated in place; the records group them by owner (see their classes).
    With ``ip[IP_FAULTS] == 1`` the frames obey the control plan in ``fx`` with the rules
    the stepped engine calls (:mod:`ftth.emulator.dataplane`).
    """
    faulty = ip[IP_FAULTS] == 1
    olt, cum_granted, pend, pend_head_tail = up.olt, up.cum_granted, up.pend, up.pend_head_tail
    cycle_grants, cycle_start, order, onu_of = up.cycle_grants, up.cycle_start, up.order, up.onu_of
    one_way_ps = up.one_way_ps
    dba_ctx, reports = dba.ctx, dba.reports
    dqs = ds.qs
    ds_priority, ds_levels, ds_onu = down.priority, down.levels, down.onu
    ds_room_by_alloc, ds_overhead_by_alloc = down.room_by_alloc, down.overhead_by_alloc
    sh_tokens, sh_order = down.sh_tokens, down.sh_order
    n_t = olt.shape[0]
    frame_ps = ip[IP_FRAME_PS]
    bpf = ip[IP_US_BPF]
    uses_reports = ip[IP_USES_REPORTS] == 1
    us_fn, us_fk = ip[IP_US_FEC_N], ip[IP_US_FEC_K]
    g_room = np.zeros(n_t, dtype=np.int64)
    g_cut = np.zeros(n_t, dtype=np.int64)
    g_base = np.zeros(n_t, dtype=np.int64)
    g_line = np.zeros(n_t, dtype=np.int64)
    g_data = np.zeros(n_t, dtype=np.int64)
    g_extra = np.zeros(n_t, dtype=np.int64)
    g_q = np.zeros(n_t, dtype=np.int64)
    g_used = np.zeros(max(n_t, dqs.shape[0]) + 1, dtype=np.int64)
    g_dbru = np.zeros(n_t, dtype=np.bool_)
    g_dbru_arr = np.zeros(n_t, dtype=np.int64)
    g_mask = np.zeros(n_t, dtype=np.int64)
    poll = np.zeros(n_t, dtype=np.int64)
    g_alloc = np.zeros((A_N, n_t), dtype=np.int64)
    lay_err = np.zeros(4, dtype=np.int64)
    n_dq = dqs.shape[0]
    d_q = np.zeros(n_dq, dtype=np.int64)
    d_room = np.zeros(n_dq, dtype=np.int64)
    d_cut = np.zeros(n_dq, dtype=np.int64)
    d_line = np.zeros(n_dq, dtype=np.int64)
    d_data = np.zeros(n_dq, dtype=np.int64)
    d_extra = np.zeros(n_dq, dtype=np.int64)
    d_demand = np.zeros(n_dq, dtype=np.int64)
    quiet = 0
    corrupted = False
    for k in range(k0, k1):
        now = k * frame_ps
        if faulty:
            # The control plan's frame: who operates, error thresholds, power-offs, quiet.
            advance_plan(
                k, fx.op_first, fx.op_start, fx.op_end, fx.op_cursor, fx.op_row, fx.onu_up,
                ip[IP_ERRORS] == 1, fx.m_first, fx.m_start, fx.m_end, fx.m_cursor, fx.m_row,
                fx.row_thr, fx.thr,
            )  # fmt: skip
            fc = fx.cursors[2]
            while fc < fx.flush.shape[0] and fx.flush[fc, 0] <= k:
                for j in range(n_t):
                    if onu_of[j] == fx.flush[fc, 1]:
                        power_off(
                            j, fx.flush[fc, 2], us.qs, us.arrival_ps, us.size_bytes, us.state,
                            us.enc, fx.us_spans,
                        )  # fmt: skip
                fc += 1
            fx.cursors[2] = fc
            quiet = quiet_at(k, fx.quiet_frame, fx.quiet_line, fx.cursors)
            corrupted = corrupted_at(k, fx.corrupt_start, fx.corrupt_end)
        # --- reports visible to the DBA (the OLT's rule, olt.upstream) ---
        apply_reports(now - ip[IP_LATENCY_PS], pend, pend_head_tail, olt)
        # --- DBA at cycle start ---
        cycle_starts = cycle_start[0] < 0 or k - cycle_start[0] >= ip[IP_CYCLE]
        for j in range(n_t):
            poll[j] = 0
        if uses_reports and cycle_starts:
            if faulty:
                select_polls_up(
                    k, olt, ip[IP_DBRU_EVERY], ip[IP_POLL_BUDGET], poll, fx.onu_up, onu_of
                )
            else:
                select_polls(k, olt, ip[IP_DBRU_EVERY], ip[IP_POLL_BUDGET], poll)
        if cycle_starts:
            # The DBA's view (olt.upstream.fill_reports), then the DBA itself.
            fill_reports(k, now, olt, cum_granted, poll, reports)
            if faulty:
                mask_reports(fx.onu_up, onu_of, reports)
            dba_ctx[C_FRAME] = k
            dba_ctx[C_NOW_PS] = now
            for f in range(ip[IP_CYCLE]):
                for j in range(n_t):
                    cycle_grants[f, j] = 0
            status = dba_fn(
                dba_ctx, dba.tcont_i, dba.tcont_f, reports, dba.state_i, dba.state_f, cycle_grants
            )
            if status != 0:
                err[0], err[1], err[2] = ERR_DBA_STATUS, k, status
                return k
            for f in range(ip[IP_CYCLE]):
                for j in range(n_t):
                    if cycle_grants[f, j] < 0:
                        err[0], err[1], err[2] = ERR_NEGATIVE_GRANT, k, j
                        return k
            cycle_start[0] = k
        fi = k - cycle_start[0]
        # --- BWmap layout: the one rule (olt.bwmap.lay_out), then the timing ---
        for j in range(n_t):
            g_mask[j] = 1 if uses_reports and (cycle_grants[fi, j] > 0 or poll[j] == 1) else 0
        if faulty:
            grants = fx.grants
            for j in range(n_t):
                grants[j] = cycle_grants[fi, j]
            mask_not_operating(fx.onu_up, onu_of, grants, g_mask)
            if quiet > 0:
                n_alloc = lay_out_quiet(
                    dba_ctx, grants, g_mask, order, onu_of, ip[IP_DBRU], quiet, g_alloc, lay_err
                )
            else:
                n_alloc = lay_out(
                    dba_ctx, grants, g_mask, order, onu_of, ip[IP_DBRU], g_alloc, lay_err
                )
        else:
            n_alloc = lay_out(
                dba_ctx, cycle_grants[fi], g_mask, order, onu_of, ip[IP_DBRU], g_alloc, lay_err
            )
        if n_alloc < 0:
            err[0], err[1] = ERR_LAYOUT, k
            for e_i in range(4):
                err[4 + e_i] = lay_err[e_i]
            return k
        cursor = lay_err[1]
        time_base = now + ip[IP_TEQD]
        burst_timing(
            g_alloc, n_alloc, time_base, onu_of, one_way_ps, ip[IP_END_PS], dba_ctx, g_cut,
            g_dbru_arr,
        )  # fmt: skip
        for a_i in range(n_alloc):
            g_q[a_i] = g_alloc[A_TCONT, a_i]
            g_dbru[a_i] = g_alloc[A_DBRU, a_i] == 1
            g_room[a_i] = g_alloc[A_ROOM, a_i]
            g_data[a_i] = g_alloc[A_DATA_START, a_i]
            g_line[a_i] = g_alloc[A_LINE_START, a_i]
            g_base[a_i] = time_base
            g_extra[a_i] = 0
        lines.us_line_bytes[k] = cursor
        lines.alloc_count[0] += n_alloc
        book_grants(k, g_alloc, n_alloc, ip[IP_MIN_FRAME], olt, cum_granted)
        # --- upstream service ---
        if n_alloc > 0:
            n0 = u_dep.n[0]
            if faulty:
                for a_i in range(n_alloc):
                    fx.g_onu[a_i] = onu_of[g_q[a_i]]
                upstream_fates(
                    k, ip[IP_SEED], n_alloc, fx.g_onu, g_data, g_room, g_alloc[A_DBRU],
                    g_alloc[A_DBRU_END], ip[IP_US_TRAILER], ip[IP_DBRU], ip[IP_US_CW], corrupted,
                    fx.thr, fx.pm, fx.us_g_cw, fx.us_flags, fx.us_dbru_lost,
                )  # fmt: skip
                n_new = serve_grants_faults(
                    us.qs, us.arrival_ps, us.size_bytes, us.state, us.enc, g_q[:n_alloc],
                    g_room[:n_alloc], g_cut[:n_alloc], g_base[:n_alloc], g_line[:n_alloc],
                    g_data[:n_alloc], g_extra[:n_alloc], us_fn, us_fk, bpf, frame_ps,
                    u_dep.buf[0, n0:], u_dep.buf[1, n0:], u_dep.buf[2, n0:], u_dep.buf[3, n0:],
                    g_used, fx.us_spans, fx.us_g_cw, fx.us_flags, ip[IP_US_CW], fx.g_stat,
                )  # fmt: skip
                count_pieces(0, fx.g_onu, n_alloc, fx.g_stat, fx.pm)
            else:
                n_new = serve_grants(
                    us.qs,
                    us.arrival_ps,
                    us.size_bytes,
                    us.state,
                    us.enc,
                    g_q[:n_alloc],
                    g_room[:n_alloc],
                    g_cut[:n_alloc],
                    g_base[:n_alloc],
                    g_line[:n_alloc],
                    g_data[:n_alloc],
                    g_extra[:n_alloc],
                    us_fn,
                    us_fk,
                    bpf,
                    frame_ps,
                    u_dep.buf[0, n0:],
                    u_dep.buf[1, n0:],
                    u_dep.buf[2, n0:],
                    u_dep.buf[3, n0:],
                    g_used,
                )
            if not _keep_or_fold(
                u_dep, n0, n_new, ip[IP_FOLD], ip[IP_US_WARMUP_PS], ip[IP_US_STATS_END_PS],
                u_books, err, k, 0,
            ):  # fmt: skip
                return k
            payload = 0
            for a_i in range(n_alloc):
                j = g_q[a_i]
                u_books.granted[j] += g_room[a_i]
                u_books.used[j] += g_used[a_i]
                payload += g_used[a_i]
                if g_dbru[a_i] and not (faulty and fx.us_dbru_lost[a_i] == 1):
                    value = dbru_value_bytes(
                        us.qs[j, QENCAP],
                        us.qs[j, UNBOUNDED] == 1,
                        us.qs[j, BUFFER],
                        ip[IP_REPORT_UNIT],
                    )
                    if not post_report(
                        pend,
                        pend_head_tail,
                        j,
                        value,
                        g_dbru_arr[a_i],
                        k,
                        g_room[a_i] - g_used[a_i],
                        g_room[a_i],
                    ):
                        err[0], err[1] = ERR_RING_FULL, k
                        return k
            lines.us_payload_bytes[k] = payload
        # --- downstream frame ---
        if faulty:
            downstream_fates(
                k, ip[IP_SEED], ip[IP_DS_N_CW], fx.onu_up, fx.thr, fx.pm, fx.ds_where, fx.ds_flags
            )
        if n_dq > 0:
            if faulty:
                admit_all_spans(
                    now, dqs, ds.arrival_ps, ds.size_bytes, ds.state, ds.enc, fx.ds_spans
                )
            else:
                admit_all(now, dqs, ds.arrival_ps, ds.size_bytes, ds.state, ds.enc)
            queue_demand(dqs, ip[IP_DS_FRAME_BYTES], d_demand)
            if faulty:
                mask_demand(d_demand, ds_onu, fx.onu_up)
            if sh_order.shape[0] > 0:
                # The household shaper (olt.downstream_kernel): refill, then cap by priority.
                shaper_refill(sh_tokens, down.sh_refill, down.sh_depth)
                shaper_cap(d_demand, sh_tokens, down.sh_refill, sh_order, ds_onu)
            na = n_alloc if n_alloc < ds_room_by_alloc.shape[0] else ds_room_by_alloc.shape[0] - 1
            share = drr_share(
                d_demand, ds_priority, ds_levels, ds_room_by_alloc[na], down.drr_quantum,
                down.drr_deficit, down.drr_pointer, down.drr_cut,
            )  # fmt: skip
            n_s = 0
            start = ds_overhead_by_alloc[na]
            for li in range(ds_levels.shape[0]):
                for q in range(n_dq):
                    if ds_priority[q] == ds_levels[li] and share[q] > 0:
                        d_q[n_s] = q
                        d_room[n_s] = share[q]
                        d_cut[n_s] = now
                        d_line[n_s] = ip[IP_DS_SYNC]
                        d_data[n_s] = start
                        d_extra[n_s] = one_way_ps[ds_onu[q]]
                        start += share[q]
                        n_s += 1
            if n_s > 0:
                n0 = d_dep.n[0]
                if faulty:
                    for s_i in range(n_s):
                        fx.g_onu[s_i] = ds_onu[d_q[s_i]]
                        fx.g_cw[s_i] = fx.ds_where[ds_onu[d_q[s_i]]]
                    n_new = serve_grants_faults(
                        dqs, ds.arrival_ps, ds.size_bytes, ds.state, ds.enc, d_q[:n_s],
                        d_room[:n_s], d_cut[:n_s], d_cut[:n_s], d_line[:n_s], d_data[:n_s],
                        d_extra[:n_s], ip[IP_DS_FEC_N], ip[IP_DS_FEC_K], ip[IP_DS_FRAME_BYTES],
                        frame_ps, d_dep.buf[0, n0:], d_dep.buf[1, n0:], d_dep.buf[2, n0:],
                        d_dep.buf[3, n0:], g_used, fx.ds_spans, fx.g_cw, fx.ds_flags,
                        ip[IP_DS_CW], fx.g_stat,
                    )  # fmt: skip
                    count_pieces(1, fx.g_onu, n_s, fx.g_stat, fx.pm)
                else:
                    n_new = serve_grants(
                        dqs,
                        ds.arrival_ps,
                        ds.size_bytes,
                        ds.state,
                        ds.enc,
                        d_q[:n_s],
                        d_room[:n_s],
                        d_cut[:n_s],
                        d_cut[:n_s],
                        d_line[:n_s],
                        d_data[:n_s],
                        d_extra[:n_s],
                        ip[IP_DS_FEC_N],
                        ip[IP_DS_FEC_K],
                        ip[IP_DS_FRAME_BYTES],
                        frame_ps,
                        d_dep.buf[0, n0:],
                        d_dep.buf[1, n0:],
                        d_dep.buf[2, n0:],
                        d_dep.buf[3, n0:],
                        g_used,
                    )
                if not _keep_or_fold(
                    d_dep, n0, n_new, ip[IP_FOLD], ip[IP_DS_WARMUP_PS], ip[IP_DS_STATS_END_PS],
                    d_books, err, k, 1,
                ):  # fmt: skip
                    return k
                for s_i in range(n_s):
                    q = d_q[s_i]
                    d_books.granted[q] += d_room[s_i]
                    d_books.used[q] += g_used[s_i]
                    lines.ds_payload_bytes[k] += g_used[s_i]
                if sh_order.shape[0] > 0:
                    shaper_consume(sh_tokens, ds_onu, d_q, g_used, n_s)
    return k1


# ---------------------------------------------------------------------------------- driver
def run_compiled_loop(
    spec: Any,
    up: Any,
    down: Any,
    olt_py: Any,
    n_frames: int,
    horizon_ps: int,
    used_line: I64,
    used_payload: I64,
    ds_used_payload: I64,
    progress: Any,
    env: Any,
    dataplane: Any = None,
) -> Any:
    """Drive :func:`run_frames` window by window (a simpy process).

    ``up`` / ``down`` are the fast engine's direction objects (stores, sources, stats);
    ``olt_py`` is an :class:`olt.upstream.OltUpstream` whose DBA has a compiled twin;
    ``dataplane`` the run's :class:`ftth.emulator.dataplane.DataPlane` (obeyed when it is
    active).  Yields one simpy timeout per window.
    """
    from ftth.emulator.common import drr_quanta_bytes, make_shaper
    from ftth.errors import DbaError, InvariantError
    from ftth.phy import ds_overhead_bytes, ds_payload_bytes

    p = spec.profile
    dba = olt_py.dba
    frame_ps = p.frame_ps
    n_t = spec.tconts.count
    ip = np.zeros(IP_LEN, dtype=np.int64)
    ip[IP_FRAME_PS] = frame_ps
    ip[IP_US_BPF] = p.us_bytes_per_frame
    ip[IP_DS_BPF] = p.ds_bytes_per_frame
    ip[IP_UNIT] = p.grant_unit_bytes
    ip[IP_DBRU] = p.dbru_bytes
    if spec.us_fec is not None:
        ip[IP_US_FEC_N], ip[IP_US_FEC_K] = spec.us_fec.n, spec.us_fec.k
    if spec.ds_fec is not None:
        ip[IP_DS_FEC_N], ip[IP_DS_FEC_K] = spec.ds_fec.n, spec.ds_fec.k
    ip[IP_DS_SYNC] = p.ds_sync_bytes
    ip[IP_TEQD] = spec.teqd_ps
    ip[IP_END_PS] = spec.duration_ps
    ip[IP_LATENCY_PS] = spec.report_latency_frames * frame_ps
    ip[IP_DBRU_EVERY] = spec.dbru_every_frames
    ip[IP_CYCLE] = spec.cycle_frames
    ip[IP_USES_REPORTS] = 1 if dba.uses_reports else 0
    ip[IP_REPORT_UNIT] = p.report_unit_bytes
    ip[IP_DS_FRAME_BYTES] = p.ds_bytes_per_frame
    ip[IP_POLL_BUDGET] = olt_py.poll_budget
    ip[IP_MIN_FRAME] = p.encap_min_frame_bytes
    # Statistics folded inside the loop unless departures must be kept one by one.
    fold = not (up.stats.keeps_packets or down.stats.keeps_packets)
    ip[IP_FOLD] = 1 if fold else 0
    ip[IP_US_WARMUP_PS], ip[IP_US_STATS_END_PS] = up.stats.warmup_ps, up.stats.end_ps
    ip[IP_DS_WARMUP_PS], ip[IP_DS_STATS_END_PS] = down.stats.warmup_ps, down.stats.end_ps
    fx = _faults(dataplane, up, down, n_t, len(spec.downstream))
    if dataplane is not None and dataplane.active:
        ip[IP_FAULTS] = 1
        ip[IP_ERRORS] = 1 if dataplane.errors else 0
        ip[IP_SEED] = spec.seed
        ip[IP_US_CW] = dataplane.us_cw.data_bytes
        ip[IP_DS_CW] = dataplane.ds_cw.data_bytes
        ip[IP_DS_N_CW] = dataplane.ds_codewords
        ip[IP_US_TRAILER] = p.us_burst_trailer_bytes
    # The DBA's kernel and arrays (olt.dba.kernel); its state is updated in place.
    dba_fn = type(dba).kernel.loop_callable
    dba_arrays = DbaArrays(
        ctx=dba.kernel_ctx(),
        tcont_i=dba.ctx.tcont_i,
        tcont_f=dba.ctx.tcont_f,
        reports=np.zeros((R_N, n_t), dtype=np.int64),
        state_i=np.ascontiguousarray(dba.state_i, dtype=np.int64),
        state_f=np.ascontiguousarray(dba.state_f, dtype=np.float64),
    )
    # The OLT's state is the OltUpstream's own arrays: the kernels update them in place.
    one_way_ps = np.ascontiguousarray(spec.one_way_ps, dtype=np.int64)
    up_olt = OltUp(
        olt=olt_py.olt,
        cum_granted=olt_py.cum_granted,
        pend=olt_py.pend,
        pend_head_tail=olt_py.pend_ht,
        cycle_grants=np.zeros((spec.cycle_frames, n_t), dtype=np.int64),
        cycle_start=np.full(1, -1, dtype=np.int64),
        order=olt_py.builder.order,
        onu_of=spec.tconts.onu_index.astype(np.int64),
        one_way_ps=one_way_ps,
    )
    ds_priority = np.array([q.priority for q in spec.downstream], dtype=np.int64)
    ds_levels = np.unique(ds_priority).astype(np.int64)
    ds_onu = np.array([q.onu_index for q in spec.downstream], dtype=np.int64)
    max_allocs = p.max_allocations_per_frame
    fec_on = spec.ds_fec is not None
    ds_room = np.array(
        [ds_payload_bytes(p, n, fec_on) for n in range(max_allocs + 1)], dtype=np.int64
    )
    ds_over = np.array([ds_overhead_bytes(p, n) for n in range(max_allocs + 1)], dtype=np.int64)

    shaper = make_shaper(spec, ds_onu, ds_priority)
    if shaper is not None:
        sh_refill, sh_depth = shaper.refill_bits, shaper.depth_bits
        sh_tokens, sh_order = shaper.tokens_bits, shaper.order
    else:
        sh_refill = sh_depth = sh_tokens = np.zeros(spec.n_onus, dtype=np.int64)
        sh_order = np.zeros(0, dtype=np.int64)
    down_olt = OltDown(
        priority=ds_priority,
        levels=ds_levels,
        onu=ds_onu,
        room_by_alloc=ds_room,
        overhead_by_alloc=ds_over,
        one_way_ps=one_way_ps,
        sh_refill=sh_refill,
        sh_depth=sh_depth,
        sh_tokens=sh_tokens,
        sh_order=sh_order,
        drr_quantum=drr_quanta_bytes(spec),
        drr_deficit=np.zeros(len(spec.downstream), dtype=np.int64),
        drr_pointer=np.zeros(len(ds_levels), dtype=np.int64),
        drr_cut=np.zeros(len(ds_levels), dtype=np.int64),
    )
    lines = Timelines(
        us_line_bytes=used_line,
        us_payload_bytes=used_payload,
        ds_payload_bytes=ds_used_payload,
        alloc_count=np.zeros(1, dtype=np.int64),
    )
    err = np.zeros(8, dtype=np.int64)
    n_uout = np.zeros(1, dtype=np.int64)
    n_dout = np.zeros(1, dtype=np.int64)
    min_up = max(1, p.encap_header_bytes + max(1, p.encap_min_frame_bytes - p.encap_header_bytes))
    every = max(1, n_frames // 200)
    uout = np.empty((4, 0), dtype=np.int64)
    dout = np.empty((4, 0), dtype=np.int64)
    up_greedy = bool(np.any(up.store.qs[:, UNBOUNDED] == 1))
    down_greedy = bool(np.any(down.store.qs[:, UNBOUNDED] == 1))
    k = 0
    while k < n_frames:
        up.ensure_generated(k * frame_ps + horizon_ps)
        down.ensure_generated(k * frame_ps)
        if (
            up.generated_until_ps >= spec.duration_ps
            and down.generated_until_ps >= spec.duration_ps
        ):
            k1 = n_frames
        else:
            k1 = min(
                n_frames,
                (up.generated_until_ps - 1 - horizon_ps) // frame_ps + 1,
                (down.generated_until_ps - 1) // frame_ps + 1,
            )
            k1 = max(k1, k + 1)
        frames = k1 - k
        # Every departure is a packet of the store or one a greedy queue makes at a grant
        # (at most a frame's bytes of minimum frames per frame).
        ucap = len(up.store.arrival_ps) + 1
        if up_greedy:
            ucap += frames * (p.us_bytes_per_frame // min_up + 1)
        dcap = len(down.store.arrival_ps) + 1
        if down_greedy:
            dcap += frames * (p.ds_bytes_per_frame // min_up + 1)
        # np.empty: only the slots the kernel writes are ever touched (no page-fault storm).
        if uout.shape[1] < ucap:
            uout = np.empty((4, ucap), dtype=np.int64)
        if dout.shape[1] < dcap:
            dout = np.empty((4, dcap), dtype=np.int64)
        n_uout[0] = 0
        n_dout[0] = 0
        us_granted = np.zeros(n_t, dtype=np.int64)
        us_used = np.zeros(n_t, dtype=np.int64)
        ds_granted = np.zeros(len(spec.downstream), dtype=np.int64)
        ds_used = np.zeros(len(spec.downstream), dtype=np.int64)
        stopped = run_frames(
            k,
            k1,
            ip,
            up_olt,
            dba_fn,
            dba_arrays,
            _store(up.store),
            _store(down.store),
            down_olt,
            Departures(uout, n_uout),
            Departures(dout, n_dout),
            _books(up.stats, us_granted, us_used),
            _books(down.stats, ds_granted, ds_used),
            lines,
            fx,
            err,
        )
        if not fold:  # copies: the buffers are reused by the next window
            for stats, out, n_out in ((up.stats, uout, n_uout[0]), (down.stats, dout, n_dout[0])):
                stats.departures(*(out[i, :n_out].copy() for i in range(4)))
        up.stats.delays.settle()
        down.stats.delays.settle()
        if err[0] == ERR_NEGATIVE_DELAY:
            direction = "downstream" if err[2] else "upstream"
            raise InvariantError(
                f"negative {direction} delay in frame {int(err[1])}: a packet departed before"
                " it arrived"
            )
        up.stats.granted_bytes += us_granted
        up.stats.used_bytes += us_used
        down.stats.granted_bytes += ds_granted
        down.stats.used_bytes += ds_used
        if stopped != k1:
            raise DbaError(dba.name, int(err[1]), _error_rule(err, p, spec, dba))
        if progress is not None and (k // every) != (k1 // every):
            progress(k1, n_frames)
        yield env.timeout((k1 - k) * frame_ps)
        k = k1
    olt_py.allocations_total = int(lines.alloc_count[0])


def _faults(dp: Any, up: Any, down: Any, n_t: int, n_dq: int) -> Faults:
    """The :class:`Faults` record of a data plane (its own arrays; scratch sized for one
    frame), or a record of empty arrays when the plan changes nothing."""
    z1 = np.zeros(1, dtype=np.int64)
    z2 = np.zeros((1, 4), dtype=np.int64)
    if dp is None or not dp.active:
        return Faults(
            z1, z1, z1, z1, z1, z1, z1, z1, z1, z1, z1, z2, z2, z1, z1, np.zeros(3, np.int64),
            z1, z1, np.zeros((0, 3), np.int64), up.spans, down.spans,
            np.zeros((1, 2, 6), np.int64), z1, z1, z1, z1, z1, z1, np.zeros((1, 3), np.int64),
            z1, z1,
        )  # fmt: skip
    op, m = dp.op_walker, dp.margin_walker
    n_g = max(n_t, n_dq) + 1
    return Faults(
        op_first=op.first, op_start=op.start, op_end=op.end, op_cursor=op.cursor,
        op_row=op.row, onu_up=dp.onu_up, m_first=m.first, m_start=m.start, m_end=m.end,
        m_cursor=m.cursor, m_row=m.row, row_thr=dp.row_thr, thr=dp.thr,
        quiet_frame=dp.quiet_frame, quiet_line=dp.quiet_line, cursors=dp.cursors,
        corrupt_start=dp.corrupt_start, corrupt_end=dp.corrupt_end,
        flush=np.ascontiguousarray(dp.flush, dtype=np.int64), us_spans=up.spans,
        ds_spans=down.spans, pm=dp.pm,
        us_flags=np.zeros(dp.us_flag_capacity(n_t), dtype=np.int64),
        us_g_cw=np.zeros(n_g, dtype=np.int64), us_dbru_lost=np.zeros(n_g, dtype=np.int64),
        ds_where=np.zeros(dp.n_onus, dtype=np.int64),
        ds_flags=np.zeros(max(1, dp.n_onus * dp.ds_codewords), dtype=np.int64),
        g_cw=np.zeros(n_g, dtype=np.int64), g_stat=np.zeros((n_g, 3), dtype=np.int64),
        g_onu=np.zeros(n_g, dtype=np.int64), grants=np.zeros(n_t, dtype=np.int64),
    )  # fmt: skip


def _store(store: Any) -> Store:
    """The arrays of a :class:`onu.fifo.QueueStore` (rebuilt each window: appending traffic
    replaces them)."""
    return Store(store.qs, store.arrival_ps, store.size_bytes, store.state, store.enc)


def _books(stats: Any, granted: I64, used: I64) -> Books:
    """A direction's statistics arrays, with this window's granted / used accumulators."""
    return Books(stats.delays.counts, stats.delays.acc, stats.window_delivered, granted, used)


def _error_rule(err: I64, p: Any, spec: Any, dba: Any) -> str:
    code = int(err[0])
    if code == ERR_DBA_STATUS:
        return str(dba.error_text(int(err[2])))
    if code == ERR_RING_FULL:
        return "more DBRus in flight than the OLT's ring holds (an ftth bug)"
    if code == ERR_NEGATIVE_GRANT:
        j = int(err[2])
        return f"negative grant for T-CONT {j} (Alloc-ID {int(spec.tconts.alloc_id[j])})"
    return layout_rule(err[4:8], spec.tconts.alloc_id, p)
