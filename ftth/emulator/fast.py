"""The fast engine: simpy drives the frame clock, numpy arrays and a kernel move the data.

Per 125 µs frame: the OLT plans upstream frame ``k`` (DBA when a cycle starts, BWmap), the
framing kernel (:func:`onu.fifo.serve_grants`) serves every allocation of that frame and
returns exact departure times, the DBRus go back to the OLT with their arrival times, then the
downstream frame is shared and served the same way.  Traffic arrives in pre-generated
windows (``window_ps``) so the sources run vectorised.  Both loops (stepped, compiled)
obey the run's control plan (:mod:`ftth.emulator.dataplane`) when it changes anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import simpy

from ftth.biterrors import DIR_DOWNSTREAM, DIR_UPSTREAM
from ftth.emulator.collector import DirectionStats, RawRun
from ftth.emulator.common import (
    DownstreamPlan,
    DownstreamPlanner,
    fec_nk,
    make_olt_upstream,
    make_stats,
)
from ftth.emulator.compiled import run_compiled_loop
from ftth.emulator.control import ControlPlan
from ftth.emulator.dataplane import DataPlane
from ftth.emulator.prefetch import Prefetcher, prefetch_enabled
from ftth.emulator.spec import I64, EmulationSpec, QueueSpec, merged_batch
from ftth.engines import FAST
from ftth.jit import ACCELERATED, backend_name
from ftth.traffic import TrafficSource
from olt.dba.base import KernelDba
from olt.downstream_kernel import mask_demand, queue_demand
from onu import fifo
from onu.fifo import (
    BUFFER,
    QENCAP,
    UNBOUNDED,
    QueueStore,
    admit_all_spans,
    flatten_batches,
    power_off,
    serve_grants,
    serve_grants_faults,
)
from onu.report import dbru_values

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class FaultInputs:
    """The fault path's inputs to a direction's serving of one frame
    (:func:`onu.fifo.serve_grants_faults`): the down spans, each grant's first codeword, the
    frame's codeword flags and size, and where each grant's payload starts (a piece's fate
    depends on the codewords it overlaps)."""

    spans: I64
    g_cw: I64
    cw_flags: I64
    cw_bytes: int
    data_start: I64


class FrameObserver(Protocol):
    """Sees every frame of a stepped run (ftth.emulator.trace); never called by the compiled
    loop, which a run with an observer does not take.  ``serving`` runs just before a
    direction's grants of frame ``k`` are served (the store still holds the state they start
    from; ``faults``: the fault path's inputs, ``None`` off that path); ``frame`` runs when
    frame ``k`` is done, with the upstream plan, the payload used per upstream allocation,
    the downstream plan (None when nothing was shared) and the payload used per downstream
    share.  An observer may raise to end the run early."""

    def serving(
        self, direction: str, k: int, store: QueueStore, faults: FaultInputs | None
    ) -> None: ...

    def frame(
        self, k: int, plan: Any, used: I64 | None, dplan: Any, ds_used: I64 | None
    ) -> None: ...


#: Set FTTH_STEPPED=1 to run the per-frame Python loop even when a compiled twin exists.
FORCE_STEPPED = os.environ.get("FTTH_STEPPED", "") not in ("", "0")


class _Direction:
    """A direction's queue store, its sources and its kernel output buffers."""

    def __init__(
        self,
        spec: EmulationSpec,
        queues: list[QueueSpec],
        stats: DirectionStats,
        max_out: int,
        dataplane: DataPlane | None = None,
        upstream: bool = True,
    ) -> None:
        self.spec = spec
        self.queues = queues
        self.stats = stats
        self.sources: list[list[TrafficSource]] = [[make() for make in q.sources] for q in queues]
        self.store = QueueStore(
            spec.profile, [q.buffer_bytes for q in queues], [q.greedy_size_bytes for q in queues]
        )
        self.generated_until_ps = 0
        self.out = [np.zeros(max_out, dtype=np.int64) for _ in range(4)]
        self.used = np.zeros(max(1, len(queues)) * 2 + 16, dtype=np.int64)
        self._produced_until_ps = 0
        self._prefetcher: Prefetcher[tuple[int, tuple[I64, I64, I64]]] | None = None
        self.queue_onu = np.array([q.onu_index for q in queues], dtype=np.int64)
        #: The fault path (a control plan that changes something): spans, codewords, PM.
        self.dataplane = dataplane if dataplane is not None and dataplane.active else None
        self.spans = fifo.NO_SPANS
        self.g_stat = np.zeros((max(1, len(queues)) * 2 + 16, 3), dtype=np.int64)
        if self.dataplane is not None:
            sp = self.dataplane.spans(self.queue_onu, upstream)
            self.spans = sp.table
            self.store.qs[:, fifo.DOWN_ROW] = sp.row
            self.store.qs[:, fifo.DOWN_STOP] = sp.stop

    @property
    def n_windows(self) -> int:
        """Traffic windows in the run."""
        return -(-self.spec.duration_ps // self.spec.window_ps)

    def _produce(self) -> tuple[int, tuple[I64, I64, I64]]:
        """Generate the next window's packets (touches only the sources)."""
        start = self._produced_until_ps
        stop = min(start + self.spec.window_ps, self.spec.duration_ps)
        batches = [merged_batch(sources, start, stop) for sources in self.sources]
        self._produced_until_ps = stop
        flat = flatten_batches(batches)
        if self.dataplane is not None:
            flat = self.dataplane.keep_joined(*flat, self.queue_onu)
        return stop, flat

    def start_prefetch(self, name: str) -> None:
        """Generate the windows on a worker thread from now on (see ftth.emulator.prefetch)."""
        if self._prefetcher is None and self.queues:
            self._prefetcher = Prefetcher(self._produce, self.n_windows, name)

    def stop_prefetch(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None

    def ensure_generated(self, until_ps: int) -> None:
        """Make sure every arrival at or before ``until_ps`` (within the run) is in the store."""
        end = self.spec.duration_ps
        while self.generated_until_ps <= min(until_ps, end - 1):
            if self._prefetcher is not None:
                stop, flat = self._prefetcher.get()
            else:
                stop, flat = self._produce()
            self.stats.offered_flat(*flat)
            self.store.append_flat(*flat)
            self.generated_until_ps = stop

    def serve(
        self,
        queue: I64,
        room: I64,
        cutoff: I64,
        time_base: I64,
        line_start: I64,
        data_start: I64,
        extra: I64,
        fec: tuple[int, int],
        frame_bytes: int,
        g_cw: I64 | None = None,
        cw_flags: I64 | None = None,
        cw_bytes: int = 1,
    ) -> I64:
        n = len(queue)
        if len(self.used) < n:
            self.used = np.zeros(2 * n, dtype=np.int64)
            self.g_stat = np.zeros((2 * n, 3), dtype=np.int64)
        st = self.store
        oq, oa, os_, od = self.out
        if self.dataplane is not None:
            assert g_cw is not None and cw_flags is not None
            n_out = serve_grants_faults(
                st.qs, st.arrival_ps, st.size_bytes, st.state, st.enc, queue, room, cutoff,
                time_base, line_start, data_start, extra, fec[0], fec[1], frame_bytes,
                self.spec.profile.frame_ps, oq, oa, os_, od, self.used,
                self.spans, g_cw, cw_flags, cw_bytes, self.g_stat,
            )  # fmt: skip
        else:
            n_out = serve_grants(
                st.qs, st.arrival_ps, st.size_bytes, st.state, st.enc, queue, room, cutoff,
                time_base, line_start, data_start, extra, fec[0], fec[1], frame_bytes,
                self.spec.profile.frame_ps, oq, oa, os_, od, self.used,
            )  # fmt: skip
        if n_out:
            self.stats.departures(
                oq[:n_out].copy(), oa[:n_out].copy(), os_[:n_out].copy(), od[:n_out].copy()
            )
        used = self.used[:n].copy()
        self.stats.grants(queue, room, used)
        return used


def run_fast(
    spec: EmulationSpec,
    progress: ProgressFn | None = None,
    observer: FrameObserver | None = None,
    plan: ControlPlan | None = None,
) -> RawRun:
    """Run ``spec`` with the fast engine.

    Parameters
    ----------
    spec
        The resolved scenario.
    progress
        Called as ``progress(frames_done, frames_total)`` every few hundred frames.
    observer
        Sees every frame (:class:`FrameObserver`); forces the stepped path.
    plan
        The control plan to obey (:mod:`ftth.emulator.dataplane`); ``None`` = steady.
    """
    wall0 = time.perf_counter()
    p = spec.profile
    frame_ps = p.frame_ps
    up_stats, down_stats = make_stats(spec)
    dp = DataPlane(spec, plan if plan is not None else spec.control)
    faulty = dp.active
    # Kernel output capacity: a frame holds at most bytes/min-frame packets per direction.
    min_cost = max(1, p.encap_min_frame_bytes)
    up = _Direction(spec, spec.upstream, up_stats, p.us_bytes_per_frame // min_cost + 64, dp)
    down = _Direction(
        spec, spec.downstream, down_stats, p.ds_bytes_per_frame // min_cost + 64, dp, False
    )
    olt = make_olt_upstream(spec)
    planner = DownstreamPlanner(spec)
    us_fec, ds_fec = fec_nk(spec.us_fec), fec_nk(spec.ds_fec)
    n_frames = spec.n_frames
    used_line = np.zeros(n_frames, dtype=np.int64)
    used_payload = np.zeros(n_frames, dtype=np.int64)
    ds_used_payload = np.zeros(n_frames, dtype=np.int64)
    horizon_ps = spec.teqd_ps + 2 * frame_ps

    def step(k: int) -> None:
        t_k = k * frame_ps
        up.ensure_generated(t_k + horizon_ps)
        down.ensure_generated(t_k)
        # Upstream frame k.
        if faulty:
            dp.advance(k)
            st = up.store
            for onu, at_ps in dp.flushes(k):
                for q in np.flatnonzero(up.queue_onu == onu).tolist():
                    power_off(
                        q, at_ps, st.qs, st.arrival_ps, st.size_bytes, st.state, st.enc, up.spans
                    )
            plan = olt.plan_frame(k, dp.onu_up, dp.quiet_bytes(k))
        else:
            plan = olt.plan_frame(k)
        bw = plan.bwmap
        n_alloc = bw.n_allocations
        used_line[k] = bw.used_line_bytes
        used: I64 | None = None
        ds_used: I64 | None = None
        dplan: DownstreamPlan | None = None
        if n_alloc:
            g_cw = cw_flags = None
            dbru_ok = bw.dbru
            if faulty:
                g_cw, cw_flags, burst_bad = dp.upstream_codewords(k, bw, dp.corrupted(k))
                dbru_ok = bw.dbru & (burst_bad == 0)
            if observer is not None:
                observer.serving(
                    "upstream", k, up.store,
                    None if g_cw is None or cw_flags is None else FaultInputs(
                        up.spans, g_cw, cw_flags, dp.us_cw.data_bytes, bw.data_start_bytes
                    ),
                )  # fmt: skip
            used = up.serve(
                bw.tcont,
                bw.room_bytes,
                plan.cutoff_ps,
                np.full(n_alloc, plan.time_base_ps, dtype=np.int64),
                bw.line_start_bytes,
                bw.data_start_bytes,
                np.zeros(n_alloc, dtype=np.int64),
                us_fec,
                p.us_bytes_per_frame,
                g_cw,
                cw_flags,
                dp.us_cw.data_bytes,
            )
            if faulty:
                dp.count_pieces(DIR_UPSTREAM, bw.onu, up.g_stat)
            used_payload[k] = int(used.sum())
            if np.any(dbru_ok):
                sel = dbru_ok
                tc = bw.tcont[sel]
                qs = up.store.qs
                value = dbru_values(
                    qs[tc, QENCAP], qs[tc, UNBOUNDED] == 1, qs[tc, BUFFER], p.report_unit_bytes
                )
                olt.post_reports(
                    k,
                    tc,
                    value,
                    plan.dbru_arrival_ps[sel],
                    (bw.room_bytes - used)[sel],
                    bw.room_bytes[sel],
                )
        # Downstream frame k.
        if faulty:
            dp.downstream_frame(k)
        store = down.store
        if store.n_queues:
            if faulty:
                admit_all_spans(
                    t_k, store.qs, store.arrival_ps, store.size_bytes, store.state, store.enc,
                    down.spans,
                )  # fmt: skip
            else:
                store.admit_all(t_k)
            qs = store.qs
            demand = np.empty(len(qs), dtype=np.int64)
            queue_demand(qs, p.ds_bytes_per_frame, demand)
            if faulty:
                mask_demand(demand, down.queue_onu, dp.onu_up)
            dplan = planner.plan(k, n_alloc, demand)
            if len(dplan.queue):
                n = len(dplan.queue)
                ds_cw = ds_flags = None
                if faulty:
                    ds_cw, ds_flags = dp.downstream_codewords(down.queue_onu[dplan.queue])
                if observer is not None:
                    observer.serving(
                        "downstream", k, store,
                        None if ds_cw is None or ds_flags is None else FaultInputs(
                            down.spans, ds_cw, ds_flags, dp.ds_cw.data_bytes,
                            dplan.data_start_bytes,
                        ),
                    )  # fmt: skip
                ds_used = down.serve(
                    dplan.queue,
                    dplan.room_bytes,
                    np.full(n, t_k, dtype=np.int64),
                    np.full(n, t_k, dtype=np.int64),
                    np.full(n, dplan.line_start_bytes, dtype=np.int64),
                    dplan.data_start_bytes,
                    dplan.extra_ps,
                    ds_fec,
                    p.ds_bytes_per_frame,
                    ds_cw,
                    ds_flags,
                    dp.ds_cw.data_bytes,
                )
                if faulty:
                    dp.count_pieces(DIR_DOWNSTREAM, down.queue_onu[dplan.queue], down.g_stat)
                ds_used_payload[k] = int(ds_used.sum())
                if planner.shaper is not None:
                    planner.shaper.consume(dplan.queue, ds_used)
        if observer is not None:
            observer.frame(k, plan, used, dplan, ds_used)

    env = simpy.Environment()
    compiled = (
        ACCELERATED and isinstance(olt.dba, KernelDba) and not FORCE_STEPPED and observer is None
    )

    def frame_clock(env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        every = max(1, n_frames // 200)
        for k in range(n_frames):
            step(k)
            if progress is not None and k % every == 0:
                progress(k, n_frames)
            yield env.timeout(frame_ps)

    if compiled:
        env.process(
            run_compiled_loop(
                spec,
                up,
                down,
                olt,
                n_frames,
                horizon_ps,
                used_line,
                used_payload,
                ds_used_payload,
                progress,
                env,
                dp,
            )
        )
        # The compiled loop releases the GIL: traffic is generated meanwhile on other cores.
        if prefetch_enabled():
            up.start_prefetch("upstream-traffic")
            down.start_prefetch("downstream-traffic")
    else:
        env.process(frame_clock(env))
    run_and_close_books(env, up, down, spec.duration_ps)
    if progress is not None:
        progress(n_frames, n_frames)
    return RawRun(
        dataplane=dp,
        upstream=up_stats,
        downstream=down_stats,
        engine=FAST,
        backend=backend_name() + ("-compiled-loop" if compiled else ""),
        wall_s=time.perf_counter() - wall0,
        frames=n_frames,
        us_used_line_bytes=used_line,
        us_payload_used_bytes=used_payload,
        ds_payload_used_bytes=ds_used_payload,
        allocations=olt.allocations_total,
    )


def run_and_close_books(
    env: simpy.Environment, up: _Direction, down: _Direction, end_ps: int
) -> None:
    """Run the simulation, then close the books: every arrival of the run is offered
    (admitted or dropped) and the ledger counters are read.  Still inside the ``try``:
    windows a worker has produced but the loop not yet taken are taken here, from the
    worker, not generated a second time.  The workers stop and the trace closes either way."""
    try:
        env.run()
        for d in (up, down):
            d.ensure_generated(end_ps)
            st = d.store
            if d.dataplane is not None:
                admit_all_spans(
                    end_ps - 1, st.qs, st.arrival_ps, st.size_bytes, st.state, st.enc, d.spans
                )
            else:
                st.admit_all(end_ps - 1)
            d.stats.counters = _counters(d.store)
            d.stats.flush()
    finally:
        up.stop_prefetch()
        down.stop_prefetch()
    if up.stats.trace is not None:
        up.stats.trace.close()


def _counters(store: QueueStore) -> dict[str, I64]:
    qs = store.qs
    return {
        "offered_bytes": qs[:, fifo.OFF_B].copy(),
        "offered_packets": qs[:, fifo.OFF_P].copy(),
        "delivered_bytes": qs[:, fifo.DELIV_B].copy(),
        "delivered_packets": qs[:, fifo.DELIV_P].copy(),
        "queued_bytes": qs[:, fifo.QBYTES].copy(),
        "queued_packets": qs[:, fifo.QPKTS].copy(),
        "dropped_bytes": qs[:, fifo.DROP_B].copy(),
        "dropped_packets": qs[:, fifo.DROP_P].copy(),
        "lost_bytes": qs[:, fifo.LOST_B].copy(),
        "lost_packets": qs[:, fifo.LOST_P].copy(),
    }
