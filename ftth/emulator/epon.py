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

Modelling choices (stated, not hidden): MPCP GATE messages are not charged to the downstream;
the REPORT carries one value per ONU (the sum of its queues, not 802.3's per-queue sets); ONU
response time is neglected against the round trip.  Simpy drives one event per window.
"""

from __future__ import annotations

import heapq
import time
from typing import Any

import numpy as np
import simpy

from ftth.emulator.collector import RawRun
from ftth.emulator.common import drr_quantum_bytes, make_shaper, make_stats
from ftth.emulator.fast import _counters, _Direction
from ftth.emulator.spec import I64, EmulationSpec
from ftth.errors import InputError
from ftth.fifo import (
    BUFFER,
    ENC_MODE,
    GREEDY_SIZE,
    MODE_OVERRUN,
    QENCAP,
    UNBOUNDED,
    line_offset,
    serve_grants,
)
from ftth.jit import backend_name
from ftth.phy import UNLIMITED_BYTES
from olt.dba.base import DbaContext, EponDba
from olt.dba.registry import get_dba
from olt.downstream import DrrScheduler

#: Bytes a REPORT occupies on the wire: 64-byte MPCPDU + 8 preamble + 12 IFG (802.3 §64.3.6).
SLICE_PS = 125_000_000  # downstream sharing slice (same 125 µs as the ITU frame)


def _byte_ps(rate_bps: int) -> int:
    ps, rest = divmod(8 * 10**12, rate_bps)
    if rest:
        raise InputError("technology", f"line rate {rate_bps} b/s gives a non-integer byte time")
    return ps


class _Window:
    """Everything about one upstream window (for statistics and tests)."""

    __slots__ = ("end_ps", "onu", "start_ps")

    def __init__(self, onu: int, start_ps: int, end_ps: int) -> None:
        self.onu = onu
        self.start_ps = start_ps
        self.end_ps = end_ps


def run_epon(spec: EmulationSpec, progress: Any = None) -> RawRun:
    """Run an EPON scenario (``spec.profile`` not framed) with its polling DBA."""
    wall0 = time.perf_counter()
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
    end_ps = spec.duration_ps
    us_byte_ps, ds_byte_ps = _byte_ps(p.upstream_bps), _byte_ps(p.downstream_bps)
    us_n, us_k = (spec.us_fec.n, spec.us_fec.k) if spec.us_fec else (0, 0)
    ds_n, ds_k = (spec.ds_fec.n, spec.ds_fec.k) if spec.ds_fec else (0, 0)
    report_bytes = p.mpcp_report_bytes + p.ethernet_overhead_bytes
    unit = p.report_unit_bytes
    one_way = np.zeros(spec.n_onus, dtype=np.int64) if dba.rtt_zero else spec.one_way_ps
    rtt = 2 * one_way
    # Each ONU's queues in the order it serves them: priority, then T-CONT index.
    onu_queues: list[list[int]] = [[] for _ in range(spec.n_onus)]
    for j in sorted(range(len(spec.upstream)), key=lambda j: (spec.upstream[j].priority, j)):
        onu_queues[spec.upstream[j].onu_index].append(j)
    out = [np.empty(1 << 16, dtype=np.int64) for _ in range(4)]
    used = np.zeros(1, dtype=np.int64)
    zero = np.zeros(1, dtype=np.int64)
    windows: list[_Window] = []
    horizon = spec.window_ps

    def serve(
        d: Any,
        q: int,
        room: int,
        cutoff: int,
        base: int,
        start: int,
        fec: tuple[int, int],
        byte_ps: int,
        extra: int,
    ) -> int:
        """Serve queue ``q`` once; departures to the statistics; return bytes used."""
        st = d.store
        # The kernel writes one row per packet completed and does not check the bounds: the
        # stored packets, plus for an unbounded (greedy) queue the frames the room holds.
        cap = len(st.arrival_ps) + 4096
        if st.qs[q, UNBOUNDED] == 1:
            cap += room // max(1, int(st.qs[q, GREEDY_SIZE])) + 1
        if len(out[0]) < cap:
            out[:] = [np.empty(2 * cap, dtype=np.int64) for _ in range(4)]
        n = serve_grants(
            st.qs, st.arrival_ps, st.size_bytes, st.state, st.enc,
            np.array([q], dtype=np.int64), np.array([room], dtype=np.int64),
            np.array([cutoff], dtype=np.int64), np.array([base], dtype=np.int64), zero,
            np.array([start], dtype=np.int64), np.array([extra], dtype=np.int64),
            fec[0], fec[1], 1, byte_ps, out[0], out[1], out[2], out[3], used,
        )  # fmt: skip
        if n:
            d.stats.departures(*(a[:n].copy() for a in out))
        d.stats.grants(np.array([q]), np.array([room]), used.copy())
        return int(used[0])

    def queued(onu: int) -> int:
        qs = up.store.qs
        total = 0
        for j in onu_queues[onu]:
            value = int(qs[j, QENCAP])
            if qs[j, UNBOUNDED] == 1:
                value = max(value, int(qs[j, BUFFER]))
            total += value
        return -(-total // unit) * unit

    def upstream(env: simpy.Environment) -> Any:
        # Initial poll: every ONU's first REPORT is due at t = 0 with nothing reported.
        heap = [(0, i, i, 0) for i in range(spec.n_onus)]
        heapq.heapify(heap)
        seq = spec.n_onus
        next_free = -dba.guard_ps  # so the first window starts at t = 0
        while heap:
            t_report, _, onu, reported = heapq.heappop(heap)
            start = max(next_free + dba.guard_ps, t_report + int(rtt[onu]))
            if start >= end_ps:
                break
            if start > env.now:
                yield env.timeout(start - int(env.now))
            tx_start = start - int(one_way[onu])  # when the ONU starts sending
            up.ensure_generated(min(tx_start + horizon, end_ps - 1))
            offset = 0
            if dba.report_first:
                # The REPORT opens the window and sizes it on the spot.
                for j in onu_queues[onu]:
                    up.store.admit_all_one(j, min(tx_start, end_ps - 1))
                reported = queued(onu)
                offset = report_bytes
            room = dba.window_bytes(onu, reported) if not dba.exhaustive else UNLIMITED_BYTES
            cutoff = min(tx_start, end_ps - 1)
            sent = 0
            while True:
                sent_before = sent
                for j in onu_queues[onu]:
                    if room - sent <= 0:
                        break
                    sent += serve(
                        up,
                        j,
                        room - sent,
                        cutoff,
                        start,
                        offset + sent,
                        (us_n, us_k),
                        us_byte_ps,
                        0,
                    )
                if not dba.exhaustive or sent == sent_before:
                    break
                # Exhaustive: frames that arrived while this window was sending go too.
                cutoff = min(
                    start + line_offset(offset + sent, us_n, us_k) * us_byte_ps - int(one_way[onu]),
                    end_ps - 1,
                )
                up.ensure_generated(min(cutoff + horizon, end_ps - 1))
            tail = 0 if dba.report_first else report_bytes
            finish = start + line_offset(offset + sent + tail, us_n, us_k) * us_byte_ps
            if not dba.report_first:
                report_at = min(finish - int(one_way[onu]), end_ps - 1)
                for j in onu_queues[onu]:
                    up.store.admit_all_one(j, report_at)
                reported = queued(onu)
            windows.append(_Window(onu, start, finish))
            next_free = finish
            heapq.heappush(heap, (finish, seq, onu, reported))
            seq += 1
            if progress is not None and len(windows) % 256 == 0:
                progress(min(finish, end_ps), end_ps)

    ds_priority = np.array([q.priority for q in spec.downstream], dtype=np.int64)
    ds_onu = np.array([q.onu_index for q in spec.downstream], dtype=np.int64)
    shaper = make_shaper(spec, ds_onu, ds_priority)
    drr = DrrScheduler(ds_priority, drr_quantum_bytes(p))
    slice_bytes = p.downstream_bps * SLICE_PS // (8 * 10**12)
    if spec.ds_fec:
        slice_bytes = spec.ds_fec.data_bytes(slice_bytes)

    def downstream(env: simpy.Environment) -> Any:
        t = 0
        k = 0
        st = down.store
        while t < end_ps and st.n_queues:
            down.ensure_generated(t)
            st.admit_all(t)
            qs = st.qs
            demand = np.where(qs[:, UNBOUNDED] == 1, slice_bytes, qs[:, QENCAP])
            if shaper is not None:
                shaper.refill()
                demand = shaper.cap(demand)
            order, share = drr.share(demand, slice_bytes)
            sent = 0
            for q, s in zip(order.tolist(), share.tolist(), strict=True):
                before = sent
                sent += serve(
                    down,
                    q,
                    s,
                    t,
                    t,
                    sent,
                    (ds_n, ds_k),
                    ds_byte_ps,
                    int(spec.one_way_ps[ds_onu[q]]),
                )
                if shaper is not None:
                    shaper.consume(np.array([q]), np.array([sent - before]))
            step = max(SLICE_PS, line_offset(sent, ds_n, ds_k) * ds_byte_ps)
            yield env.timeout(step)
            t += step
            k += 1

    env = simpy.Environment()
    env.process(upstream(env))
    env.process(downstream(env))
    env.run()
    for d in (up, down):
        d.ensure_generated(end_ps)
        d.store.admit_all(end_ps - 1)
        d.stats.counters = _counters(d.store)
        d.stats.flush()
    if up_stats.trace is not None:
        up_stats.trace.close()
    raw = RawRun(
        upstream=up_stats,
        downstream=down_stats,
        engine="epon",
        backend=backend_name(),
        wall_s=time.perf_counter() - wall0,
        frames=len(windows),
        allocations=len(windows),
    )
    raw.extra["epon"] = _cycle_stats(windows, spec.n_onus, spec.warmup_ps)
    raw.extra["windows"] = windows
    return raw


def _cycle_stats(windows: list[_Window], n_onus: int, warmup_ps: int) -> dict[str, float]:
    """Mean cycle time: time between successive windows of the same ONU (after warm-up)."""
    gaps: list[int] = []
    last: dict[int, int] = {}
    for w in windows:
        if w.onu in last and last[w.onu] >= warmup_ps:
            gaps.append(w.start_ps - last[w.onu])
        last[w.onu] = w.start_ps
    mean_ps = float(np.mean(gaps)) if gaps else 0.0
    return {
        "mean_cycle_us": round(mean_ps / 1e6, 6),
        "windows": float(len(windows)),
        "onus": float(n_onus),
    }


__all__ = ["run_epon", "I64"]
