"""Turn an engine's raw statistics into the results contract (architecture.md, ``--json``).

Definitions used below:

* ``offered_bps``: bytes generated with arrival time in the measuring window
  ``[warmup, end)``, over the window.  An unbounded (greedy) source offers exactly what it is
  given, so its offered rate is its throughput.
* ``throughput_bps``: bytes whose last bit is received in the window, over the window.
* ``loss_ratio``: dropped / offered bytes over the whole run.
* Delay: per traffic class (T-CONT or downstream class name), packets arriving after warm-up;
  percentiles from log-linear histograms (≤ 0.4 % relative error).
* ``fairness.jain``: Jain's index of delivered/offered ratios over upstream T-CONTs with
  offered traffic (1.0 = every T-CONT got the same share of what it asked for).
* Household verdict (until speed-test probes exist): a household passes in a direction when
  it lost nothing and received at least ``pass_ratio`` × min(offered, tier), less an
  allowance of two 1518-byte frames per queue for packets in flight at the window's edges;
  its backlog at the end counts as received when its tier (or offered rate) drains it within
  50 ms — a burst that arrived just before the end is not a shortfall of the PON.
  ``verdict.pass`` = nothing lost and every household passes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ftth.emulator.collector import DirectionStats, RawRun
from ftth.emulator.spec import EmulationSpec, QueueSpec
from ftth.metrics import DelayHistogram, jain_index
from ftth.phy import Direction, saturation_goodput_bps
from ftth.units import PS_PER_S

#: Ethernet MTU frame, the unit of the in-flight allowance of household verdicts.
MTU_BYTES = 1518
#: A household's end-of-run backlog counts as carried if its rate drains it within this time.
IN_FLIGHT_S = 0.05

#: Keys that depend on the machine, not on the scenario (excluded from determinism checks).
WALL_CLOCK_KEYS = ("wall_s", "realtime_factor")


def _delay(h: DelayHistogram) -> dict[str, float]:
    s = h.summary_us()
    return {k: round(float(s[k]), 6) for k in ("mean", "p50", "p95", "p99", "max")}


def _classes(stats: DirectionStats, queues: list[QueueSpec]) -> dict[str, dict[str, float]]:
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
        return bool(self.data["verdict"]["pass"])

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
    ledger = {k: int(v.sum()) for k, v in c.items()}
    ledger["balanced"] = (
        ledger["offered_bytes"]
        == ledger["delivered_bytes"] + ledger["queued_bytes"] + ledger["dropped_bytes"]
        and ledger["offered_packets"]
        == ledger["delivered_packets"] + ledger["queued_packets"] + ledger["dropped_packets"]
    )
    return {
        "offered_bps": round(float(offered_window.sum()) * 8 / window_s, 3),
        "throughput_bps": round(float(stats.window_delivered_bytes.sum()) * 8 / window_s, 3),
        "capacity_bps": round(capacity, 3),
        "loss_ratio": (dropped_total / offered_total) if offered_total else 0.0,
        "delay_us": _classes(stats, queues),
        "conservation": ledger,
    }


def assemble(spec: EmulationSpec, raw: RawRun) -> Result:
    """Build the results document of one run."""
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
    households = _households(spec, raw, window_s)
    up_d = _direction(spec, up, spec.upstream, "upstream")
    down_d = _direction(spec, down, spec.downstream, "downstream")
    total = {
        k: up_d["conservation"][k] + down_d["conservation"][k]
        for k in up_d["conservation"]
        if k != "balanced"
    }
    total["balanced"] = bool(
        up_d["conservation"]["balanced"] and down_d["conservation"]["balanced"]
    )
    reasons = []
    if total["dropped_bytes"]:
        reasons.append(
            f"{total['dropped_packets']} packets ({total['dropped_bytes']} bytes) dropped:"
            f" upstream {up_d['conservation']['dropped_bytes']} B,"
            f" downstream {down_d['conservation']['dropped_bytes']} B"
        )
    failing = [h for h in households if not h["pass"]]
    if failing:
        reasons.append(
            f"{len(failing)} of {len(households)} households below {spec.pass_ratio:.0%}"
            " of what they asked (up to their tier)"
        )
    if not total["balanced"]:
        reasons.append("conservation ledger does not balance (a bug: please report)")
    data: dict[str, Any] = {
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
        "verdict": {"pass": not reasons, "reasons": reasons},
    }
    return Result(spec, raw, data)


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


def _households(spec: EmulationSpec, raw: RawRun, window_s: float) -> list[dict[str, Any]]:
    per = spec.households_per_onu
    out: list[dict[str, Any]] = []
    for direction, stats, queues, tier in (
        ("up", raw.upstream, spec.upstream, spec.tier_up_bps),
        ("down", raw.downstream, spec.downstream, spec.tier_down_bps),
    ):
        onu = np.array([q.onu_index for q in queues], dtype=np.int64)
        greedy = np.array([q.greedy_size_bytes > 0 for q in queues], dtype=bool)
        n = spec.n_onus
        delivered = (
            np.bincount(onu, weights=stats.window_delivered_bytes, minlength=n)
            if len(onu)
            else np.zeros(n)
        )
        offered_q = np.where(greedy, stats.window_delivered_bytes, stats.window_offered_bytes)
        offered = np.bincount(onu, weights=offered_q, minlength=n) if len(onu) else np.zeros(n)
        queues_per_onu = np.bincount(onu, minlength=n) if len(onu) else np.zeros(n, dtype=np.int64)
        backlog = (
            np.bincount(onu, weights=stats.counters["queued_bytes"], minlength=n)
            if len(onu)
            else np.zeros(n)
        )
        dropped = (
            np.bincount(onu, weights=stats.counters["dropped_bytes"], minlength=n)
            if len(onu)
            else np.zeros(n)
        )
        for i in range(n):
            for h in range(per):
                idx = i * per + h
                if len(out) <= idx:
                    out.append(
                        {
                            "id": idx,
                            "onu_id": spec.onu_ids[i],
                            "tier_down_bps": spec.tier_down_bps,
                            "tier_up_bps": spec.tier_up_bps,
                        }
                    )
                got = float(delivered[i]) * 8 / window_s / per
                asked = float(offered[i]) * 8 / window_s / per
                # Packets in flight at the window's edges: allow two MTUs per queue.
                slack = 2 * MTU_BYTES * 8 * queues_per_onu[i] / window_s / per
                target = (min(asked, tier) if tier else asked) - slack
                # A burst that arrived just before the end is still queued: count the final
                # backlog as carried when the household's rate drains it within 50 ms.
                in_flight_bits = float(backlog[i]) * 8 / per
                drainable = in_flight_bits <= max(tier or 0.0, asked) * IN_FLIGHT_S
                credited = got + (in_flight_bits / window_s if drainable else 0.0)
                ok = dropped[i] == 0 and credited >= spec.pass_ratio * target
                out[idx][f"offered_{direction}_bps"] = round(asked, 3)
                out[idx][f"achieved_{direction}_bps"] = round(got, 3)
                out[idx][f"pass_{direction}"] = bool(ok)
    for household in out:
        household["pass"] = bool(household["pass_up"] and household["pass_down"])
    return out
