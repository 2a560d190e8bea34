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

from ftth.emulator.collector import RawRun
from ftth.emulator.common import DownstreamPlanner, make_olt_upstream, make_stats
from ftth.emulator.spec import I64, EmulationSpec, QueueSpec, merged_batch
from ftth.engines import REFERENCE
from ftth.phy import (
    FecCode,
    Profile,
    max_fragment_payload,
    max_piece_payload,
    padded_payload_bytes,
)
from onu.report import dbru_value_bytes


class RefQueue:
    """A FIFO of [arrival_ps, size_bytes] with a byte limit, plus the run's counters."""

    def __init__(self, profile: Profile, spec: QueueSpec) -> None:
        self.profile = profile
        self.buffer_bytes = spec.buffer_bytes
        self.greedy_size = spec.greedy_size_bytes
        self.items: deque[list[int]] = deque()
        self.head_sent = 0
        self.queued_bytes = 0
        self.c = dict.fromkeys(
            (
                "offered_bytes",
                "offered_packets",
                "delivered_bytes",
                "delivered_packets",
                "dropped_bytes",
                "dropped_packets",
            ),
            0,
        )
        self.max_piece = max_piece_payload(profile)

    def offer(self, arrival_ps: int, size: int) -> None:
        self.c["offered_bytes"] += size
        self.c["offered_packets"] += 1
        if self.queued_bytes + size > self.buffer_bytes:
            self.c["dropped_bytes"] += size
            self.c["dropped_packets"] += 1
        else:
            self.items.append([arrival_ps, size])
            self.queued_bytes += size

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

    def serve(self, room: int, cutoff_ps: int) -> tuple[int, list[tuple[int, int, int]]]:
        """Fill ``room`` bytes; return (bytes used, [(arrival, size, end offset)] completed)."""
        used = 0
        done: list[tuple[int, int, int]] = []
        header = self.profile.encap_header_bytes
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
                used += cost
                if piece == remaining:
                    self.items.popleft()
                    self.head_sent = 0
                    self.queued_bytes -= size
                    self.c["delivered_bytes"] += size
                    self.c["delivered_packets"] += 1
                    done.append((arrival, size, used))
                else:
                    self.head_sent += piece
                continue
            frag = max_fragment_payload(self.profile, room - used)
            if 0 < frag < piece:
                used += header + frag
                self.head_sent += frag
            break
        return used, done


def _line_bytes(data_bytes: int, fec: FecCode | None) -> int:
    return data_bytes if fec is None else fec.line_bytes(data_bytes)


def run_reference(spec: EmulationSpec) -> RawRun:
    """Run ``spec`` with the per-packet reference engine (small scenarios: it is slow)."""
    wall0 = time.perf_counter()
    p = spec.profile
    frame_ps = p.frame_ps
    env = simpy.Environment()
    up_stats, down_stats = make_stats(spec)
    up_q = [RefQueue(p, q) for q in spec.upstream]
    down_q = [RefQueue(p, q) for q in spec.downstream]
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
        queue: RefQueue, qspec: QueueSpec, stats: Any, qi: int
    ) -> Generator[Any, Any, None]:
        arr, size = merged_batch([make() for make in qspec.sources], 0, end_ps)
        stats.offered(qi, arr, size)
        for a, s in zip(arr.tolist(), size.tolist(), strict=True):
            if a > now():
                yield at(a)
            # Packets of one instant are offered in one step (see after_all_due).
            queue.offer(a, s)

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
        used, done = queue.serve(room, now())
        up_stats.grants(np.array([j]), np.array([room]), np.array([used]))
        used_payload[k] += used
        for arrival, size, end in done:
            line = int(bw.line_start_bytes[i]) + _line_bytes(
                int(bw.data_start_bytes[i]) + end, spec.us_fec
            )
            when = plan.time_base_ps + (line * frame_ps) // p.us_bytes_per_frame
            env.process(depart(up_stats, j, arrival, size, when))
        if bw.dbru[i]:
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
        plan = planner.plan(k, n_alloc, demand)
        for qi, room, start, extra in zip(
            plan.queue.tolist(),
            plan.room_bytes.tolist(),
            plan.data_start_bytes.tolist(),
            plan.extra_ps.tolist(),
            strict=True,
        ):
            used, done = down_q[qi].serve(room, t_k)
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
            plan = olt.plan_frame(k)
            used_line[k] = plan.bwmap.used_line_bytes
            for i in range(plan.bwmap.n_allocations):
                env.process(burst(k, plan, i))
            downstream_frame(k, plan.bwmap.n_allocations)

    for qi, (queue, qspec) in enumerate(zip(up_q, spec.upstream, strict=True)):
        env.process(arrivals(queue, qspec, up_stats, qi))
    for qi, (queue, qspec) in enumerate(zip(down_q, spec.downstream, strict=True)):
        env.process(arrivals(queue, qspec, down_stats, qi))
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
        wall_s=time.perf_counter() - wall0,
        frames=n_frames,
        us_used_line_bytes=used_line,
        us_payload_used_bytes=used_payload,
        ds_payload_used_bytes=ds_used_payload,
        allocations=olt.allocations_total,
    )


def _counters(queues: list[RefQueue]) -> dict[str, I64]:
    out: dict[str, I64] = {}
    for key in ("offered", "delivered", "dropped"):
        out[f"{key}_bytes"] = np.array([q.c[f"{key}_bytes"] for q in queues], dtype=np.int64)
        out[f"{key}_packets"] = np.array([q.c[f"{key}_packets"] for q in queues], dtype=np.int64)
    out["queued_bytes"] = np.array([q.queued_bytes for q in queues], dtype=np.int64)
    out["queued_packets"] = np.array([len(q.items) for q in queues], dtype=np.int64)
    return out
