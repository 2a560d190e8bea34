"""The reference engine: one simpy event per packet, small and obviously correct.

Every arrival instant is a simpy event that enqueues (or tail-drops) the packets arriving
then; every burst is a simpy process that wakes at the instant the ONU starts transmitting and
dequeues packet by packet, cutting fragments with :mod:`ftth.phy`'s rules; every departure is a
simpy event at the moment the packet's last byte is received.  It shares only the OLT's
decisions (DBA, BWmap, downstream shares) with the fast engine, not its data plane, so the two
checking each other's departure times is a real test.  It is the speed baseline too.  It uses
SimPy's public API only (processes and timeouts; see ``after_all_due`` for the order of the
events of one instant).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from ftth.biterrors import DIR_DOWNSTREAM, DIR_UPSTREAM
from ftth.emulator.collector import RawRun
from ftth.emulator.common import DownstreamPlanner, make_olt_upstream, make_stats
from ftth.emulator.control import ControlPlan
from ftth.emulator.dataplane import DataPlane
from ftth.emulator.spec import I64, EmulationSpec, QueueSpec, merged_batch
from ftth.engines import REFERENCE
from ftth.phy import (
    FecCode,
    Profile,
    max_fragment_payload,
    max_piece_payload,
    padded_payload_bytes,
)
from onu.fifo import piece_fate
from onu.report import dbru_value_bytes


class RefQueue:
    """A FIFO of [arrival_ps, size_bytes] with a byte limit, plus the run's counters."""

    def __init__(self, profile: Profile, spec: QueueSpec) -> None:
        self.profile = profile
        self.buffer_bytes = spec.buffer_bytes
        self.greedy_size = spec.greedy_size_bytes
        self.items: deque[list[int]] = deque()
        self.head_sent = 0
        #: A piece of the head packet already sent was lost (it cannot be reassembled).
        self.head_bad = False
        self.queued_bytes = 0
        self.c = dict.fromkeys(
            (
                "offered_bytes",
                "offered_packets",
                "delivered_bytes",
                "delivered_packets",
                "dropped_bytes",
                "dropped_packets",
                "lost_bytes",
                "lost_packets",
            ),
            0,
        )
        self.max_piece = max_piece_payload(profile)
        #: Piece statistics of the last service (frames, lost frames, HEC errors).
        self.stat = [0, 0, 0]

    def offer(self, arrival_ps: int, size: int, down: bool = False, off: bool = False) -> None:
        """Offer one arrival; ``down``/``off``: it arrives while the ONU is not operating /
        powered off (a tail drop then, or any arrival when off, is lost)."""
        self.c["offered_bytes"] += size
        self.c["offered_packets"] += 1
        if off:
            self._lose(size)
        elif self.queued_bytes + size > self.buffer_bytes:
            if down:
                self._lose(size)
            else:
                self.c["dropped_bytes"] += size
                self.c["dropped_packets"] += 1
        else:
            self.items.append([arrival_ps, size])
            self.queued_bytes += size

    def _lose(self, size: int) -> None:
        self.c["lost_bytes"] += size
        self.c["lost_packets"] += 1

    def power_off(self) -> None:
        """The ONU loses power: everything queued is lost."""
        for _, size in self.items:
            self._lose(size)
        self.items.clear()
        self.head_sent = 0
        self.head_bad = False
        self.queued_bytes = 0

    def piece_cost(self, piece: int) -> int:
        return self.profile.encap_header_bytes + padded_payload_bytes(self.profile, piece)

    def cost_of(self, remaining: int) -> int:
        total = 0
        while remaining > self.max_piece:
            total += self.piece_cost(self.max_piece)
            remaining -= self.max_piece
        return total + self.piece_cost(remaining)

    def encapsulated_bytes(self) -> int:
        """Encapsulated bytes waiting (what a DBRu reports)."""
        total = 0
        for i, (_, size) in enumerate(self.items):
            total += self.cost_of(size - (self.head_sent if i == 0 else 0))
        return total

    def _piece(self, start: int, cost: int, flags: I64 | None, cw_bytes: int) -> None:
        """Count one GEM/XGEM piece at protected offset ``start``; mark the head packet bad
        when a codeword it overlaps failed (a HEC error when the header's did)."""
        self.stat[0] += 1
        if flags is None:
            return
        # The fate rule is the ONU's (onu.fifo.piece_fate), the one the fast engines use.
        fate = piece_fate(start, cost, self.profile.encap_header_bytes, 0, flags, cw_bytes)
        if fate:
            self.head_bad = True
            self.stat[1] += 1
            if fate == 2:
                self.stat[2] += 1

    def serve(
        self,
        room: int,
        cutoff_ps: int,
        data_start: int = 0,
        flags: I64 | None = None,
        cw_bytes: int = 1,
    ) -> tuple[int, list[tuple[int, int, int]]]:
        """Fill ``room`` bytes; return (bytes used, [(arrival, size, end offset)] completed).

        ``flags`` (codeword fates of the burst / frame, from protected offset 0; the grant's
        payload starts at ``data_start``) lose the pieces in failed codewords.
        """
        used = 0
        done: list[tuple[int, int, int]] = []
        header = self.profile.encap_header_bytes
        self.stat = [0, 0, 0]
        while True:
            if not self.items:
                if not self.greedy_size:
                    break
                # An unbounded source: a new frame arrives the moment the queue is served.  It
                # is created for this service, not offered to the buffer (as in onu.fifo).
                self.c["offered_bytes"] += self.greedy_size
                self.c["offered_packets"] += 1
                self.items.append([cutoff_ps, self.greedy_size])
                self.queued_bytes += self.greedy_size
            arrival, size = self.items[0]
            remaining = size - self.head_sent
            piece = min(remaining, self.max_piece)
            cost = self.piece_cost(piece)
            if cost <= room - used:
                self._piece(data_start + used, cost, flags, cw_bytes)
                used += cost
                if piece == remaining:
                    self.items.popleft()
                    self.head_sent = 0
                    self.queued_bytes -= size
                    if self.head_bad:
                        self.head_bad = False
                        self._lose(size)
                    else:
                        self.c["delivered_bytes"] += size
                        self.c["delivered_packets"] += 1
                        done.append((arrival, size, used))
                else:
                    self.head_sent += piece
                continue
            frag = max_fragment_payload(self.profile, room - used)
            if 0 < frag < piece:
                self._piece(data_start + used, header + frag, flags, cw_bytes)
                used += header + frag
                self.head_sent += frag
            break
        return used, done


def _line_bytes(data_bytes: int, fec: FecCode | None) -> int:
    return data_bytes if fec is None else fec.line_bytes(data_bytes)


def run_reference(spec: EmulationSpec, plan: ControlPlan | None = None) -> RawRun:
    """Run ``spec`` with the per-packet reference engine (small scenarios: it is slow),
    obeying the control ``plan`` (``None`` = steady; :mod:`ftth.emulator.dataplane`)."""
    wall0 = time.perf_counter()
    p = spec.profile
    frame_ps = p.frame_ps
    env = simpy.Environment()
    up_stats, down_stats = make_stats(spec)
    up_q = [RefQueue(p, q) for q in spec.upstream]
    down_q = [RefQueue(p, q) for q in spec.downstream]
    dp = DataPlane(spec, plan if plan is not None else spec.control)
    faulty = dp.active
    down_onu = np.array([q.onu_index for q in spec.downstream], dtype=np.int64)
    #: Upstream frame k's codeword fates, per allocation: (flags or None, DBRu lost).
    us_fates: dict[int, list[tuple[I64 | None, bool]]] = {}
    olt = make_olt_upstream(spec)
    planner = DownstreamPlanner(spec)
    # The numpy DRR, not its compiled twin: the fast engine's compiled loop calls the twin, so
    # the two engines checking each other also checks the twin against the numpy code.
    planner.drr.use_kernel = False
    end_ps = spec.duration_ps
    n_frames = spec.n_frames
    used_line = np.zeros(n_frames, dtype=np.int64)
    used_payload = np.zeros(n_frames, dtype=np.int64)
    ds_used_payload = np.zeros(n_frames, dtype=np.int64)

    def now() -> int:
        return int(env.now)

    def at(instant_ps: int) -> simpy.Timeout:
        """A timeout that fires at ``instant_ps`` (now or later)."""
        return env.timeout(instant_ps - now())

    def after_all_due(instant_ps: int) -> Generator[Any, Any, None]:
        """Wait until ``instant_ps``, then until every event already due at that instant ran.

        Events at one instant run in the order they were scheduled.  Arrivals and DBRus are
        scheduled before their instant (a source schedules its next arrival when it offers
        the previous one, at an earlier time; a DBRu when its burst is sent), so a second,
        zero timeout taken at ``instant_ps`` runs after every one of them: a packet arriving
        exactly when a burst or a downstream frame is served is eligible for it, as in the
        fast engines (inclusive cut-off).
        """
        yield at(instant_ps)
        yield env.timeout(0)

    def arrivals(
        queue: RefQueue, qspec: QueueSpec, stats: Any, qi: int, upstream: bool
    ) -> Generator[Any, Any, None]:
        arr, size = merged_batch([make() for make in qspec.sources], 0, end_ps)
        onu = qspec.onu_index
        if faulty:
            # Before the ONU joins, nothing is offered (the packets never exist).
            keep = arr >= dp.join_ps[onu]
            arr, size = arr[keep], size[keep]
        stats.offered(qi, arr, size)
        for a, s in zip(arr.tolist(), size.tolist(), strict=True):
            if a > now():
                yield at(a)
            # Packets of one instant are offered in one step (see after_all_due).
            if faulty:
                down, off = dp.classify(onu, a, upstream)
                queue.offer(a, s, down, off)
            else:
                queue.offer(a, s)

    def flush(onu: int, at_ps: int) -> Generator[Any, Any, None]:
        yield from after_all_due(at_ps)
        for queue, qspec in zip(up_q, spec.upstream, strict=True):
            if qspec.onu_index == onu:
                queue.power_off()

    def depart(
        stats: Any, qi: int, arrival: int, size: int, when_ps: int
    ) -> Generator[Any, Any, None]:
        yield at(when_ps)
        one = np.array([qi], dtype=np.int64)
        stats.departures(
            one,
            np.array([arrival], dtype=np.int64),
            np.array([size], dtype=np.int64),
            np.array([when_ps], dtype=np.int64),
        )

    def burst(k: int, plan: Any, i: int) -> Generator[Any, Any, None]:
        bw = plan.bwmap
        j = int(bw.tcont[i])
        yield from after_all_due(int(plan.cutoff_ps[i]))
        queue = up_q[j]
        room = int(bw.room_bytes[i])
        flags, dbru_lost = us_fates[k][i] if faulty else (None, False)
        used, done = queue.serve(
            room, now(), int(bw.data_start_bytes[i]), flags, dp.us_cw.data_bytes
        )
        if faulty:
            dp.pm[int(bw.onu[i]), DIR_UPSTREAM, 3:6] += queue.stat
        up_stats.grants(np.array([j]), np.array([room]), np.array([used]))
        used_payload[k] += used
        for arrival, size, end in done:
            line = int(bw.line_start_bytes[i]) + _line_bytes(
                int(bw.data_start_bytes[i]) + end, spec.us_fec
            )
            when = plan.time_base_ps + (line * frame_ps) // p.us_bytes_per_frame
            env.process(depart(up_stats, j, arrival, size, when))
        if bw.dbru[i] and not dbru_lost:
            value = int(
                dbru_value_bytes(
                    queue.encapsulated_bytes(), bool(queue.greedy_size), queue.buffer_bytes,
                    p.report_unit_bytes,
                )
            )  # fmt: skip
            env.process(report(k, j, value, int(plan.dbru_arrival_ps[i]), room - used, room))

    def report(
        k: int, j: int, value: int, arrival_ps: int, idle: int, room: int
    ) -> Generator[Any, Any, None]:
        yield at(arrival_ps)
        one = np.array([j], dtype=np.int64)
        olt.post_reports(
            k, one, np.array([value]), np.array([arrival_ps]), np.array([idle]), np.array([room])
        )

    def downstream_frame(k: int, n_alloc: int) -> None:
        t_k = now()
        demand = np.array(
            [p.ds_bytes_per_frame if q.greedy_size else q.encapsulated_bytes() for q in down_q],
            dtype=np.int64,
        )
        if faulty:
            demand[dp.onu_up[down_onu] == 0] = 0
        plan = planner.plan(k, n_alloc, demand)
        g_cw: I64 | None = None
        ds_flags: I64 | None = None
        if faulty:
            dp.downstream_frame(k)
            g_cw, ds_flags = dp.downstream_codewords(down_onu[plan.queue])
        rows = zip(
            plan.queue.tolist(),
            plan.room_bytes.tolist(),
            plan.data_start_bytes.tolist(),
            plan.extra_ps.tolist(),
            strict=True,
        )
        for g, (qi, room, start, extra) in enumerate(rows):
            flags = None
            if g_cw is not None and ds_flags is not None and g_cw[g] >= 0:
                flags = ds_flags[g_cw[g] :]
            used, done = down_q[qi].serve(room, t_k, start, flags, dp.ds_cw.data_bytes)
            if faulty:
                dp.pm[int(down_onu[qi]), DIR_DOWNSTREAM, 3:6] += down_q[qi].stat
            ds_used_payload[k] += used
            down_stats.grants(np.array([qi]), np.array([room]), np.array([used]))
            if planner.shaper is not None:
                planner.shaper.consume(np.array([qi]), np.array([used]))
            for arrival, size, end in done:
                line = plan.line_start_bytes + _line_bytes(start + end, spec.ds_fec)
                when = t_k + (line * frame_ps) // p.ds_bytes_per_frame + extra
                env.process(depart(down_stats, qi, arrival, size, when))

    def frame_clock() -> Generator[Any, Any, None]:
        for k in range(n_frames):
            # Frame k starts after every arrival and DBRu due at t_k (after_all_due): a packet
            # arriving exactly at t_k is in its queue when the frame is shared, as the fast
            # engines admit arrivals up to t_k inclusive.  Frame 0 too: run straight from the
            # process's start it would go before the sources' first arrivals at 0 ps.
            yield from after_all_due(k * frame_ps)
            if faulty:
                dp.advance(k)
                for onu, at_ps in dp.flushes(k):
                    env.process(flush(onu, at_ps))
                plan = olt.plan_frame(k, dp.onu_up, dp.quiet_bytes(k))
                bw = plan.bwmap
                g_cw, flags, bad = dp.upstream_codewords(k, bw, dp.corrupted(k))
                us_fates[k] = [
                    (flags[g_cw[a] :] if g_cw[a] >= 0 else None, bool(bad[a]))
                    for a in range(bw.n_allocations)
                ]
            else:
                plan = olt.plan_frame(k)
            used_line[k] = plan.bwmap.used_line_bytes
            for i in range(plan.bwmap.n_allocations):
                env.process(burst(k, plan, i))
            downstream_frame(k, plan.bwmap.n_allocations)

    for qi, (queue, qspec) in enumerate(zip(up_q, spec.upstream, strict=True)):
        env.process(arrivals(queue, qspec, up_stats, qi, True))
    for qi, (queue, qspec) in enumerate(zip(down_q, spec.downstream, strict=True)):
        env.process(arrivals(queue, qspec, down_stats, qi, False))
    env.process(frame_clock())
    env.run()
    for stats, queues in ((up_stats, up_q), (down_stats, down_q)):
        stats.counters = _counters(queues)
        stats.flush()
    if up_stats.trace is not None:
        up_stats.trace.close()
    return RawRun(
        upstream=up_stats,
        downstream=down_stats,
        engine=REFERENCE,
        backend="python",
        dataplane=dp,
        wall_s=time.perf_counter() - wall0,
        frames=n_frames,
        us_used_line_bytes=used_line,
        us_payload_used_bytes=used_payload,
        ds_payload_used_bytes=ds_used_payload,
        allocations=olt.allocations_total,
    )


def _counters(queues: list[RefQueue]) -> dict[str, I64]:
    out: dict[str, I64] = {}
    for key in ("offered", "delivered", "dropped", "lost"):
        out[f"{key}_bytes"] = np.array([q.c[f"{key}_bytes"] for q in queues], dtype=np.int64)
        out[f"{key}_packets"] = np.array([q.c[f"{key}_packets"] for q in queues], dtype=np.int64)
    out["queued_bytes"] = np.array([q.queued_bytes for q in queues], dtype=np.int64)
    out["queued_packets"] = np.array([len(q.items) for q in queues], dtype=np.int64)
    return out
