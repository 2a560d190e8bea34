"""Turn an engine's raw statistics into the results contract (architecture.md, ``--json``).

Definitions used below:

* ``offered_bps``: bytes generated with arrival time in the measuring window
  ``[warmup, end)``, over the window.  An unbounded (greedy) source offers exactly what it is
  given, so its offered rate is its throughput.
* ``throughput_bps``: bytes whose last bit is received in the window, over the window.
* ``loss_ratio``: dropped / offered bytes over the whole run (tail drops; bytes destroyed
  by faults and bit errors are ``conservation.lost_bytes``, ``lost_ratio``).
* ``conservation``: per direction and in total, offered = delivered + queued + dropped +
  lost, bytes and packets, exact (``balanced``; :func:`ledger`).
* ``control``: the control plane's section (:func:`control_section`), plus the data
  plane's ``us_quiet_line_bytes`` (upstream line bytes the OLT kept quiet for discovery and
  ranging) and per ONU (``onus[]``) ``lost_bytes`` and, when the run's plan changed
  anything (faults, activation, bit errors), the PM counters ``pm``
  (:func:`ftth.emulator.dataplane.pm_counters`).  Households carry ``lost_bytes`` (their
  ONU's lost bytes, both directions, over its households).
* Delay: per traffic class (T-CONT or downstream class name), packets arriving after warm-up;
  percentiles from log-linear histograms (≤ 0.4 % relative error).
* ``fairness.jain``: Jain's index of delivered/offered ratios over upstream T-CONTs with
  offered traffic (1.0 = every T-CONT got the same share of what it asked for).
* Delay and ``packets`` per class: a class without packets in the window has ``null`` delays.
* ``verdict``: the rules of :mod:`ftth.verdict` (capacity, backlog, loss, household,
  sufficiency, ledger); ``verdict.status`` is ``pass``, ``fail`` or ``inconclusive``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ftth import verdict as rules
from ftth.emulator.collector import DirectionStats, RawRun
from ftth.emulator.spec import EmulationSpec, QueueSpec, SourceFactory
from ftth.metrics import DelayHistogram, jain_index
from ftth.phy import Direction, saturation_goodput_bps
from ftth.results import header
from ftth.units import PS_PER_S, PS_PER_US
from ftth.verdict import DELAY_SENSITIVE_TYPES, IN_FLIGHT_S, MTU_BYTES

__all__ = ["IN_FLIGHT_S", "MTU_BYTES", "Result", "arrivals_between", "assemble"]

#: Keys that depend on the machine, not on the scenario (excluded from determinism checks).
WALL_CLOCK_KEYS = ("wall_s", "realtime_factor")


def _delay(h: DelayHistogram) -> dict[str, float | int | None]:
    """Delay summary (µs) and ``packets``; ``None`` delays when no packet was measured."""
    out: dict[str, float | int | None]
    if h.count == 0:
        out = dict.fromkeys(("mean", "p50", "p95", "p99", "max"))
    else:
        s = h.summary_us()
        out = {k: round(float(s[k]), 6) for k in ("mean", "p50", "p95", "p99", "max")}
    out["packets"] = int(h.count)
    return out


def _classes(
    stats: DirectionStats, queues: list[QueueSpec]
) -> dict[str, dict[str, float | int | None]]:
    names = sorted({q.name for q in queues})
    out = {}
    for name in names:
        rows = [i for i, q in enumerate(queues) if q.name == name]
        out[name] = _delay(stats.delays.merged(rows))
    return out


@dataclass
class Result:
    """One run's results.  :meth:`to_dict` is the ``--json`` document."""

    spec: EmulationSpec
    raw: RawRun
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when the verdict's status is ``pass`` (not ``fail`` nor ``inconclusive``)."""
        return bool(self.data["verdict"]["status"] == "pass")

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``inconclusive`` (:mod:`ftth.verdict`)."""
        return str(self.data["verdict"]["status"])

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def to_json(self, include_wall_clock: bool = True) -> str:
        data = dict(self.data)
        if not include_wall_clock:
            for key in WALL_CLOCK_KEYS:
                data.pop(key, None)
        return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"


def _direction(
    spec: EmulationSpec, stats: DirectionStats, queues: list[QueueSpec], direction: Direction
) -> dict[str, Any]:
    window_s = (spec.duration_ps - spec.warmup_ps) / PS_PER_S
    c = stats.counters
    greedy = np.array([q.greedy_size_bytes > 0 for q in queues], dtype=bool)
    offered_window = np.where(greedy, stats.window_delivered_bytes, stats.window_offered_bytes)
    offered_total = int(c["offered_bytes"].sum()) if len(queues) else 0
    dropped_total = int(c["dropped_bytes"].sum()) if len(queues) else 0
    fec = spec.us_fec if direction == "upstream" else spec.ds_fec
    capacity = saturation_goodput_bps(
        spec.profile, direction, max(1, spec.n_onus), 1518, fec is not None
    )
    led = ledger(c)
    lost_total = led["lost_bytes"]
    return {
        "offered_bps": round(float(offered_window.sum()) * 8 / window_s, 3),
        "throughput_bps": round(float(stats.window_delivered_bytes.sum()) * 8 / window_s, 3),
        "capacity_bps": round(capacity, 3),
        "loss_ratio": (dropped_total / offered_total) if offered_total else 0.0,
        "lost_ratio": (lost_total / offered_total) if offered_total else 0.0,
        "delay_us": _classes(stats, queues),
        "conservation": led,
    }


#: The ledger's columns, in order (bytes, then packets).
LEDGER_KEYS = tuple(
    f"{what}_{unit}"
    for unit in ("bytes", "packets")
    for what in ("offered", "delivered", "queued", "dropped", "lost")
)


def ledger(counters: dict[str, Any]) -> dict[str, Any]:
    """Whole-direction ledger from per-queue counters: offered = delivered + queued +
    dropped + lost, in bytes and in packets, every queue exact (``balanced``)."""
    out: dict[str, Any] = {}
    for key in LEDGER_KEYS:
        v = counters.get(key)
        out[key] = int(np.asarray(v).sum()) if v is not None else 0
    out["balanced"] = bool(rules.ledger_balanced(counters))
    return out


def assemble(
    spec: EmulationSpec, raw: RawRun, *, delay_budget_ms: float = rules.DEFAULT_DELAY_BUDGET_MS
) -> Result:
    """Build the results document of one run (``delay_budget_ms``: the households' delay
    budget, :mod:`ftth.verdict`)."""
    window_s = (spec.duration_ps - spec.warmup_ps) / PS_PER_S
    up, down = raw.upstream, raw.downstream
    duration_s = spec.duration_ps / PS_PER_S
    tconts = []
    ratios = []
    up_greedy = np.array([q.greedy_size_bytes > 0 for q in spec.upstream], dtype=bool)
    for j, q in enumerate(spec.upstream):
        offered = int(up.window_delivered_bytes[j] if up_greedy[j] else up.window_offered_bytes[j])
        delivered = int(up.window_delivered_bytes[j])
        if offered > 0:
            ratios.append(min(1.0, delivered / offered))
        tconts.append(
            {
                "index": j,
                "onu_id": spec.onu_ids[q.onu_index],
                "alloc_id": int(spec.tconts.alloc_id[j]),
                "name": q.name,
                "type": int(spec.tconts.tcont_type[j]),
                "household": q.household,
                "offered_bps": round(offered * 8 / window_s, 3),
                "granted_bps": round(int(up.granted_bytes[j]) * 8 / duration_s, 3),
                "delivered_bps": round(delivered * 8 / window_s, 3),
                "dropped_bytes": int(up.counters["dropped_bytes"][j]),
                "delay_us": _delay(up.delays.row(j)),
            }
        )
    up_d = _direction(spec, up, spec.upstream, "upstream")
    down_d = _direction(spec, down, spec.downstream, "downstream")
    facts = [
        _direction_facts(spec, up, spec.upstream, "upstream", up_d["capacity_bps"]),
        _direction_facts(spec, down, spec.downstream, "downstream", down_d["capacity_bps"]),
    ]
    households = _households(spec, raw, window_s, facts, delay_budget_ms)
    lost_onu = _lost_per_onu(spec, raw)
    per = spec.households_per_onu
    for row in households:
        row["lost_bytes"] = int(lost_onu[spec.onu_ids.index(row["onu_id"])]) // per
    total = {
        k: up_d["conservation"][k] + down_d["conservation"][k]
        for k in up_d["conservation"]
        if k != "balanced"
    }
    total["balanced"] = bool(
        up_d["conservation"]["balanced"] and down_d["conservation"]["balanced"]
    )
    data: dict[str, Any] = {
        # schema_version, ftth_version, scenario_hash (ftth.results; the hash is set by
        # ftth.api.run_built, which knows the scenario)
        **header(None),
        "scenario": {
            "name": spec.name,
            "technology": spec.profile.name,
            "split": spec.split_ratio,
            "onus": spec.n_onus,
            "tconts": spec.tconts.count,
            "dba": spec.dba_name,
        },
        "seed": spec.seed,
        "duration_s": duration_s,
        "warmup_s": spec.warmup_ps / PS_PER_S,
        "engine": raw.engine,
        "backend": raw.backend,
        "frames": raw.frames,
        "wall_s": round(raw.wall_s, 6),
        "realtime_factor": round(duration_s / raw.wall_s, 6) if raw.wall_s > 0 else None,
        "upstream": up_d,
        "downstream": down_d,
        "grant_utilisation": _utilisation(spec, raw),
        "tconts": tconts,
        "households": households,
        "fairness": {"jain": round(jain_index(ratios), 9) if ratios else 1.0},
        "conservation": total,
        "warnings": list(spec.warnings),
        **({"epon": raw.extra["epon"]} if "epon" in raw.extra else {}),
    }
    control = control_section(spec)
    _add_data_plane(control, spec, raw, lost_onu)
    if control["emulated"] or int(lost_onu.sum()) > 0:
        _attribute_faults(households, control["onus"], spec)
    data["verdict"] = judge(spec, raw, data, facts, delay_budget_ms)
    data["control"] = control
    return Result(spec, raw, data)


def _attribute_faults(
    households: list[dict[str, Any]], onus: list[dict[str, Any]], spec: EmulationSpec
) -> None:
    """Say in a failing household's ``why`` what the control plane did to its ONU: out of
    service after it first operated (per cause), operating only from a late time, never
    operating, bytes lost to faults and bit errors.  ``fault_hit`` marks such households
    (``True`` / ``False``), so a verdict's failures can be told apart from the design's."""
    by_id = {int(o["onu_id"]): o for o in onus}
    warmup_s = spec.warmup_ps / PS_PER_S
    for row in households:
        onu = by_id.get(int(row["onu_id"]))
        if onu is None:
            continue
        notes = []
        if onu["activated_s"] is None:
            notes.append("its ONU never operated")
        elif onu["activated_s"] > warmup_s:
            notes.append(f"its ONU operated only from {onu['activated_s']:.6g} s")
        if onu["outage_s"] > 0:
            causes = ", ".join(
                f"{cause} {secs:.6g} s"
                for cause, secs in onu["down_s"].items()
                if secs > 0 and cause != "not-yet-joined"
            )
            notes.append(f"its ONU was out of service {onu['outage_s']:.6g} s ({causes})")
        if row.get("lost_bytes", 0) > 0:
            notes.append(f"{row['lost_bytes']:,} B lost to faults and bit errors")
        row["fault_hit"] = bool(notes)
        if notes and not row["pass"]:
            row["why"] = "; ".join(w for w in (row["why"], "; ".join(notes)) if w)


def _lost_per_onu(spec: EmulationSpec, raw: RawRun) -> np.ndarray:
    """Bytes lost to faults and bit errors per ONU index, both directions."""
    lost = np.zeros(spec.n_onus, dtype=np.int64)
    for stats, queues in ((raw.upstream, spec.upstream), (raw.downstream, spec.downstream)):
        if queues and "lost_bytes" in stats.counters:
            onu = np.array([q.onu_index for q in queues], dtype=np.int64)
            np.add.at(lost, onu, stats.counters["lost_bytes"])
    return lost


def _add_data_plane(
    control: dict[str, Any], spec: EmulationSpec, raw: RawRun, lost_onu: np.ndarray
) -> None:
    """The data plane's side of the ``control`` section: ``us_quiet_line_bytes`` and per
    ONU ``lost_bytes``, plus the PM counters (:func:`ftth.emulator.dataplane.pm_counters`)
    when the run's plan changed anything (the engines count them on that path only)."""
    dp = raw.dataplane
    active = dp is not None and dp.active
    control["us_quiet_line_bytes"] = int(dp.quiet_line_bytes) if active else 0
    pm = None
    if active:
        from ftth.emulator.dataplane import pm_counters

        pm = pm_counters(spec, dp.pm, dp.plan)
    for i, row in enumerate(control.get("onus", [])):
        row["lost_bytes"] = int(lost_onu[i])
        if pm is not None:
            row["pm"] = {k: v for k, v in pm[i].items() if k != "onu_id"}


def control_section(spec: EmulationSpec) -> dict[str, Any]:
    """The ``control`` section: the control plane's timeline and per-ONU activation (issue 12).

    ``emulated`` says whether activation / faults were emulated (else every ONU operates from
    t = 0 and ``events`` is empty); ``quiet_s`` is the upstream time the OLT's quiet windows
    took; ``onus`` holds each ONU's ``activated_s``, ``outage_s``, ``outages``,
    ``reactivation_s`` and ``down_s`` per cause (:func:`ftth.emulator.control.onu_summaries`);
    ``rogues`` each rogue ONU's detection and isolation times;
    ``states`` every state change (``--trace-activation``); ``events`` the alarm / event
    timeline (``--events``), in time order.
    """
    from ftth.emulator.control import onu_summaries, rogue_summaries, state_changes, steady_plan

    plan = spec.control
    if plan is None:
        if not spec.profile.framed:  # EPON: no frame clock, every ONU up from t = 0
            onus: list[dict[str, Any]] = [
                {
                    "onu_id": onu_id,
                    "activated_s": 0.0,
                    "outage_s": 0.0,
                    "outages": 0,
                    "reactivation_s": None,
                    "down_s": {},
                }
                for onu_id in spec.onu_ids
            ]
            return {
                "emulated": False,
                "quiet_s": 0.0,
                "onus": onus,
                "rogues": [],
                "states": [],
                "events": [],
            }
        plan = steady_plan(spec.n_onus, spec.n_frames, spec.profile.frame_ps)
    events = [
        {"time_s": ev.time_ps / PS_PER_S, "onu_id": ev.onu_id, "kind": ev.kind, "detail": ev.detail}
        for ev in plan.events
        if ev.kind != "state"
    ]
    return {
        "emulated": spec.control is not None,
        "quiet_s": int(plan.quiet_ps.sum()) / PS_PER_S,
        "onus": onu_summaries(plan, spec.onu_ids, spec.n_frames),
        "rogues": rogue_summaries(plan, spec.onu_ids),
        "states": state_changes(plan),
        "events": events,
    }


def _ceilings_bps(spec: EmulationSpec) -> np.ndarray:
    """Upstream: most each T-CONT may get, max(R_M, R_F + R_A) (the type rules)."""
    t = spec.tconts
    return np.maximum(
        np.asarray(t.max_bps, dtype=float),
        np.asarray(t.fixed_bps, dtype=float) + np.asarray(t.assured_bps, dtype=float),
    )


def _direction_facts(
    spec: EmulationSpec,
    stats: DirectionStats,
    queues: list[QueueSpec],
    name: str,
    capacity_bps: float,
) -> rules.DirectionFacts:
    """Capacity and backlog figures of one direction (see :mod:`ftth.verdict`)."""
    window_s = (spec.duration_ps - spec.warmup_ps) / PS_PER_S
    n = len(queues)
    if n == 0:
        return rules.DirectionFacts(name, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    greedy = np.array([q.greedy_size_bytes > 0 for q in queues], dtype=bool)
    delivered = stats.window_delivered_bytes.astype(float)
    offered = np.where(greedy, delivered, stats.window_offered_bytes.astype(float))
    within = np.ones(n, dtype=bool)
    line_bps = float(spec.profile.line_rate_bps(name))  # type: ignore[arg-type]
    backlog_end = stats.counters["queued_bytes"].astype(float)
    if name == "upstream":
        limit_bps = np.minimum(_ceilings_bps(spec), line_bps)
        limit = limit_bps * window_s / 8
        capped = float(np.minimum(offered, limit).sum())
        within = offered <= limit
        drains = backlog_end <= limit_bps * rules.IN_FLIGHT_S / 8
    else:
        onu = np.array([q.onu_index for q in queues], dtype=np.int64)
        per_onu = np.bincount(onu, weights=offered, minlength=spec.n_onus)
        if spec.shaper_rate_bps is not None:
            rate_onu = np.minimum(np.asarray(spec.shaper_rate_bps, dtype=float), line_bps)
        else:
            rate_onu = np.full(spec.n_onus, line_bps)
        limit_onu = rate_onu * window_s / 8
        capped = float(np.minimum(per_onu, limit_onu).sum())
        within = (per_onu <= limit_onu)[onu]
        backlog_onu = np.bincount(onu, weights=backlog_end, minlength=spec.n_onus)
        drains = (backlog_onu <= rate_onu * rules.IN_FLIGHT_S / 8)[onu]
    counted = within & ~greedy
    start = (stats.arrived_before_warmup_bytes - stats.received_before_warmup_bytes)[counted]
    end = stats.counters["queued_bytes"][counted]
    return rules.DirectionFacts(
        direction=name,
        offered_bytes=float(offered.sum()),
        capped_offered_bytes=capped,
        carried_bytes=float(delivered.sum()),
        backlog_start_bytes=float(np.maximum(start, 0).sum()),
        backlog_end_bytes=float(end.sum()),
        counted_queues=int(counted.sum()),
        dropped_bytes=int(stats.counters["dropped_bytes"].sum()),
        dropped_packets=int(stats.counters["dropped_packets"].sum()),
        drainable_backlog_bytes=float(backlog_end[counted & drains].sum()),
        capacity_bps=capacity_bps,
        window_s=window_s,
    )


def _cycle_s(spec: EmulationSpec, raw: RawRun) -> float:
    """One DBA cycle: ``cycle_frames`` frames, or EPON's measured mean polling cycle."""
    if "epon" in raw.extra:
        return float(raw.extra["epon"].get("mean_cycle_us", 0.0)) / 1e6
    return spec.cycle_frames * spec.profile.frame_ps / PS_PER_S


def _class_traffic(spec: EmulationSpec, raw: RawRun) -> list[rules.ClassTraffic]:
    out = []
    for name, stats, queues in (
        ("upstream", raw.upstream, spec.upstream),
        ("downstream", raw.downstream, spec.downstream),
    ):
        for cls in sorted({q.name for q in queues}):
            rows = [j for j, q in enumerate(queues) if q.name == cls]
            out.append(
                rules.ClassTraffic(
                    direction=name,
                    name=cls,
                    window_packets=int(stats.window_offered_packets[rows].sum()),
                    run_packets=int(stats.counters["offered_packets"][rows].sum()),
                    greedy=any(queues[j].greedy_size_bytes > 0 for j in rows),
                )
            )
    return out


def judge(
    spec: EmulationSpec,
    raw: RawRun,
    data: dict[str, Any],
    facts: list[rules.DirectionFacts],
    delay_budget_ms: float = rules.DEFAULT_DELAY_BUDGET_MS,
) -> dict[str, Any]:
    """The run's ``verdict`` object (rules of :mod:`ftth.verdict`)."""
    window_s = (spec.duration_ps - spec.warmup_ps) / PS_PER_S
    outcomes = [
        rules.ledger_rule(bool(data["conservation"]["balanced"])),
        rules.sufficiency_rule(
            window_s=window_s,
            duration_s=spec.duration_ps / PS_PER_S,
            cycle_s=_cycle_s(spec, raw),
            classes=_class_traffic(spec, raw),
            min_window_s=delay_budget_ms / 1000.0,
        ),
        rules.capacity_rule(facts),
        rules.backlog_rule(facts),
        rules.loss_rule(facts),
        rules.household_rule(data["households"], spec.pass_ratio),
    ]
    return rules.combine(outcomes)


def _utilisation(spec: EmulationSpec, raw: RawRun) -> dict[str, float]:
    granted = int(raw.upstream.granted_bytes.sum())
    used = int(raw.upstream.used_bytes.sum())
    frame_bytes = spec.profile.us_bytes_per_frame
    line = raw.us_used_line_bytes
    return {
        "payload_used_of_granted": round(used / granted, 9) if granted else 0.0,
        "line_allocated_of_frame": round(float(line.mean()) / frame_bytes, 9) if len(line) else 0.0,
        "allocations_per_frame": round(raw.allocations / raw.frames, 6) if raw.frames else 0.0,
    }


def arrivals_between(make: SourceFactory, start_ps: int, end_ps: int) -> int:
    """Packets a (fresh, identically seeded) source offers in ``[start_ps, end_ps)``."""
    if end_ps <= start_ps:
        return 0
    source = make()
    if getattr(source, "is_unbounded", False):
        return 0
    arrival, _ = source.batch(0, end_ps)
    return int(np.count_nonzero(arrival >= start_ps))


def _late_undelivered(
    spec: EmulationSpec,
    stats: DirectionStats,
    queues: list[QueueSpec],
    rows: list[int],
    delivered: int,
    budget_us: float,
) -> bool:
    """Whether more than 1 % of the packets of ``rows`` that arrived after warm-up but more
    than the delay budget before the end were never delivered: they waited longer than the
    budget, yet no histogram sees them, so p99 > budget.

    The arrivals before the cut-off are counted while the run goes for the default budget
    (``DirectionStats.judged_arrivals``); for another budget the sources are regenerated
    (identically seeded), only when the window's arrivals cannot clear the class at once.
    """
    arrived = int(stats.window_offered_packets[rows].sum())
    if arrived - delivered <= 0.01 * arrived:
        return False
    cutoff_ps = spec.duration_ps - round(budget_us * PS_PER_US)
    if cutoff_ps == stats.judged_cutoff_ps:  # the default budget: counted while running
        early = int(stats.judged_arrivals[rows].sum())
    else:
        early = sum(
            arrivals_between(make, spec.warmup_ps, cutoff_ps)
            for j in rows
            for make in queues[j].sources
        )
    stuck = max(0, early - delivered)
    return stuck > 0.01 * (delivered + stuck)


def _households(
    spec: EmulationSpec,
    raw: RawRun,
    window_s: float,
    facts: list[rules.DirectionFacts],
    delay_budget_ms: float = rules.DEFAULT_DELAY_BUDGET_MS,
) -> list[dict[str, Any]]:
    """One row per household: offered and achieved per direction, its verdict per direction
    (:func:`ftth.verdict.judge_class` for every class of the household) and why it fails.

    Households behind one ONU share its queues: each gets ``1 / per_onu`` of every figure.
    Probe queues (``ftth plan``) are judged by the plan, not here.
    """
    per = spec.households_per_onu
    n = spec.n_onus
    budget_us = delay_budget_ms * 1000.0
    out: list[dict[str, Any]] = [
        {
            "id": i * per + h,
            "onu_id": spec.onu_ids[i],
            "tier_down_bps": spec.tier_down_bps,
            "tier_up_bps": spec.tier_up_bps,
        }
        for i in range(n)
        for h in range(per)
    ]
    ceilings = _ceilings_bps(spec) if spec.upstream else np.zeros(0)
    for direction, stats, queues, tier, fact in (
        ("up", raw.upstream, spec.upstream, spec.tier_up_bps, facts[0]),
        ("down", raw.downstream, spec.downstream, spec.tier_down_bps, facts[1]),
    ):
        credit_share = fact.credit_share
        line = float(spec.profile.line_rate_bps("upstream" if direction == "up" else "downstream"))
        rows_of: list[list[int]] = [[] for _ in range(n)]
        for j, q in enumerate(queues):
            rows_of[q.onu_index].append(j)
        delivered = stats.window_delivered_bytes
        offered = stats.window_offered_bytes
        backlog = stats.counters["queued_bytes"] if len(queues) else np.zeros(0)
        dropped = stats.counters["dropped_bytes"] if len(queues) else np.zeros(0)
        for i in range(n):
            rows = rows_of[i]
            greedy = [queues[j].greedy_size_bytes > 0 for j in rows]
            off_bps = [
                float(delivered[j] if g else offered[j]) * 8 / window_s
                for j, g in zip(rows, greedy, strict=True)
            ]
            got_bps = [float(delivered[j]) * 8 / window_s for j in rows]
            if direction == "up":
                ceil = [float(ceilings[j]) for j in rows]
                prio = [min(int(queues[j].tcont_type), 4) for j in rows]
                sensitive = [queues[j].tcont_type in DELAY_SENSITIVE_TYPES for j in rows]
            else:
                ceil = [math.inf] * len(rows)
                prio = [int(queues[j].priority) for j in rows]
                sensitive = [queues[j].priority == 0 and not queues[j].probe for j in rows]
            cap = tier * per if tier else None
            targets = rules.class_targets(off_bps, ceil, prio, cap)
            sens_rows = [j for j, s in zip(rows, sensitive, strict=True) if s]
            p99 = None
            if sens_rows:
                merged = stats.delays.merged(sens_rows)
                if merged.count:
                    p99 = merged.percentile_ps(99) / PS_PER_US
                if _late_undelivered(spec, stats, queues, sens_rows, merged.count, budget_us):
                    p99 = math.inf
            verdicts = []
            for k, j in enumerate(rows):
                if queues[j].probe:
                    continue
                drain = min(ceil[k], cap if cap is not None else math.inf, line)
                verdicts.append(
                    rules.judge_class(
                        name=f"{direction} {queues[j].name}",
                        target_bps=targets[k] / per,
                        carried_bps=got_bps[k] / per,
                        pass_ratio=spec.pass_ratio,
                        allowance_bps=2 * MTU_BYTES * 8 / window_s / per,
                        backlog_bits=float(backlog[j]) * 8 / per,
                        drain_bps=drain / per * credit_share,
                        window_s=window_s,
                        dropped_bytes=int(dropped[j]),
                        delay_p99_us=p99 if sensitive[k] else None,
                        delay_budget_us=budget_us,
                    )
                )
            ok = all(v.passed for v in verdicts)
            why = "; ".join(v.why for v in verdicts if not v.passed)
            for h in range(per):
                row = out[i * per + h]
                row[f"offered_{direction}_bps"] = round(sum(off_bps) / per, 3)
                row[f"achieved_{direction}_bps"] = round(sum(got_bps) / per, 3)
                row[f"pass_{direction}"] = bool(ok)
                row[f"why_{direction}"] = why
    for household in out:
        household["pass"] = bool(household["pass_up"] and household["pass_down"])
        household["why"] = "; ".join(
            w for w in (household.pop("why_up"), household.pop("why_down")) if w
        )
    return out
