"""Busy-hour planning verdicts: can this PON give every household its tier? (``ftth plan``)

:func:`plan` answers for one design in three stages, cheapest first:

1. **Optical budget** (:func:`ftth.optics.budget_report` on the scenario's tree).  Any ONU
   over budget or overloaded is a FAIL naming that ONU, and nothing is emulated: a design
   whose light does not reach the receiver has no traffic to speak of.
2. **Analytic capacity check**, per direction.  The offered load is what the emulation will
   offer: each probed household demands its tier, every queue that is not a probe its
   busy-hour mean (the scenario's traffic means; a type-1 T-CONT counts its fixed rate,
   which is granted even when idle; an unbounded greedy source the line rate; with
   ``traffic.*_load`` set, :func:`ftth.emulator.build.build_spec` scales the sources that
   remain beside the probes to that load).  Above
   :meth:`ftth.scenario.Scenario.capacity_bps` (the analytic saturation goodput,
   :func:`ftth.phy.saturation_goodput_bps`) the direction FAILs with reason
   "<direction> capacity".  The emulation still runs (unless ``emulate=False`` /
   ``--no-emulate``): it cannot turn the verdict into a PASS, but it shows how far the
   probed households fall short and where the queues overflow.
3. **Emulation** with speed-test probes (:class:`ftth.emulator.build.Probes`): a probe is a
   ``greedy`` source capped at the tier on the household's internet queue (its best-effort
   T-CONT upstream, its lowest-priority class downstream), in both directions at once by
   default.  ``round(concurrency × households)`` households are probed (at least one when
   ``concurrency > 0``; halves round up), spread evenly over the ONUs.

Achieved rate and the household verdict
---------------------------------------
The emulation runs through the same path as ``ftth.run`` (:func:`ftth.api.run_built`: the
engine, the results, the ledger check), so the run's own rules (:mod:`ftth.verdict`) judge
it too: a run too short to judge makes the plan INCONCLUSIVE (exit 1, the reason names the
duration to use), and the plan adopts the run's ``capacity``, ``backlog`` and ``household``
rules (every class of every household that is not a probe: its share and its delay budget)
besides the stages here.  There is one households table: the run's rows, every household,
with the plan's speed-test columns (``probed_*``, ``speed_test_*_bps``, ``own_other_*_bps``,
``granted_*_bps``, ``delay_p99_*_us``) and ``pass_*`` / ``why`` covering both.

A probed household's achieved rate is its probe queue's bytes delivered inside the
measuring window ``[warmup, end)`` over the window.  It passes a direction when
(:func:`ftth.verdict.judge_class`, the household rule ``ftth run`` uses, with the tier as
the target)

* achieved ≥ ``pass_ratio`` × tier − one probe frame over the window (a CBR probe delivers
  whole 1518-byte frames: a window holding *n* frames can show *n* or *n − 1* of them
  whatever the PON does, so one frame is the measurement's resolution; the plan warns when a
  window holds fewer than :data:`MIN_WINDOW_FRAMES` frames per household), **and**
* its delay-sensitive class keeps p99 ≤ the delay budget (default 10 ms): upstream its
  T-CONTs of type 1 and 2, downstream its priority-0 classes other than the probe's.  With
  no such class the delay condition is void.

Downstream, the OLT shapes each ONU to its households' tier (``olt.shaping``, on by
default): the tier caps a household's classes together, so a probed household's achieved
downstream rate also counts what its other classes received in the window (its video
stream takes part of the tier that the test then cannot).

Delay and drops are also judged for the households that are not probed: any ONU whose
delay-sensitive p99 is over budget fails the direction, and so does any tail drop of the
busy-hour traffic (a probe's own drops only matter when it falls short).  Packets of the
delay-sensitive class that arrived more than the budget before the end and were never
delivered count as late: the histograms only see delivered packets.

Households per ONU (FTTB)
-------------------------
Households behind one ONU share its queues.  The probes of the ``c`` probed households on
an ONU are one probe at ``c × tier`` on the ONU's internet queue, and the other
``per_onu − c`` households keep their share of that queue's busy-hour traffic: its source
thinned to ``(per_onu − c) / per_onu`` of its packets.  Each probed household's achieved
rate is the queue's delivered bytes × the probe's share of the bytes offered to the queue in
the window (a FIFO serves both alike), divided by ``c``.  ``households`` always means
ONUs × ``per_onu``; asking for N households sets ``onus.count = ceil(N / per_onu)``.

Provisioning
------------
A household sold a tier is provisioned for it: when the best-effort T-CONT's ``max_bps``
(R_M) is below what its probe needs (the probe rate plus, for FTTB, the other households'
mean), the plan raises it to that (at most the line rate) and says so in ``notes``.

Bottlenecks named by a FAIL
---------------------------
``optical budget`` of ONU x · ``upstream capacity`` / ``downstream capacity`` (analytic
demand above the saturation goodput, confirmed by the emulation's shortfall; "(bursts)"
when the mean fits but the load is ≥ 95 % of the capacity, on average or in the measuring
window, and the busy-hour bursts overrun it) · ``DBA overhead`` (the capacity suffices
analytically but the grants a probed household receives do not reach the tier) ·
``downstream shaper`` (a household falls short, or busy-hour traffic is dropped, behind
its ONU's token bucket) ·
``downstream scheduling`` (neither: the downstream frame sharing) · ``buffer`` (tail drops
with capacity to spare: of the busy-hour traffic, or of a probe that falls short) ·
``upstream delay`` / ``downstream delay`` (a delay-sensitive class over budget) ·
``packet loss from optical margin`` (FEC codewords that carried GEM/XGEM frames failed:
an ONU below its receiver sensitivity, e.g. after a ``splitter-loss`` fault; named first).

Search
------
:func:`max_households` bisects over the ONU count (households = ONUs × ``per_onu``) for
the largest design that passes, starting from the analytic bound
``capacity / (concurrency × tier + busy-hour mean per household)``; :func:`max_tier`
bisects over whole Mb/s of the downstream tier (the upstream tier kept in proportion).  A
candidate that fails the analytic check fails without being emulated (its verdict is FAIL
whatever the emulation shows).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ftth import plots, results
from ftth.api import run_built
from ftth.emulator.build import Probes, build_spec, probe_position
from ftth.emulator.collector import RawRun
from ftth.emulator.fast import ProgressFn
from ftth.emulator.result import Result, arrivals_between
from ftth.emulator.spec import EmulationSpec, QueueSpec, SourceFactory
from ftth.errors import InputError
from ftth.metrics import DelayHistogram
from ftth.optics import OVERLOAD, BudgetReport
from ftth.output import open_atomic, output_dir
from ftth.phy import Direction, fmt_rate, saturation_goodput_bps
from ftth.scenario import OnuGenerator, Scenario, scenario_from_dict
from ftth.traffic import TrafficSource
from ftth.units import PS_PER_MS, PS_PER_S, PS_PER_US
from ftth.verdict import DEFAULT_DELAY_BUDGET_MS, DELAY_SENSITIVE_TYPES, judge_class

ProbeDirection = Literal["both", "upstream", "downstream"]
PROBE_DIRECTIONS: tuple[str, ...] = ("both", "upstream", "downstream")
DIRECTIONS: tuple[Direction, Direction] = ("upstream", "downstream")

#: Frame size of the speed-test probe (an MTU Ethernet frame).
PROBE_FRAME_BYTES = 1518
#: Below this many probe frames per household in the window the verdict is coarse (a note).
MIN_WINDOW_FRAMES = 20
#: Longest emulated time a search step uses when no duration is given.
SEARCH_DURATION_S = 0.05
#: A shortfall at or above this share of the capacity (on average or in the measuring
#: window) is blamed on the capacity (busy-hour bursts), below it on the DBA / scheduler.
NEAR_CAPACITY = 0.95
#: Rules of the emulated run (ftth.verdict) a plan adopts besides its own.
PLAN_RUN_RULES = ("capacity", "backlog", "household")
#: Speed-test columns the plan adds to the households table (per direction).
PROBE_COLUMNS = ("speed_test", "own_other", "granted", "delay_p99")
#: Percentiles of the achieved rates reported per direction.
_ACHIEVED_KEYS = ("min", "p5", "median")


# ======================================================================== results
@dataclass
class HouseholdVerdict:
    """One probed household in one direction."""

    household: int  #: household id = ONU index × per_onu + k
    onu_id: int
    direction: Direction
    tier_bps: float
    share: int  #: probed households on the same ONU (they share one probe queue)
    achieved_bps: float
    #: downstream with the tier shaper: the household's other classes, included in achieved
    own_other_bps: float | None
    granted_bps: float | None  #: upstream: payload granted to the probe T-CONT per household
    delay_p99_us: float | None  #: p99 of the ONU's delay-sensitive class (None: no such class)
    rate_ok: bool
    delay_ok: bool
    why: str = ""

    @property
    def passed(self) -> bool:
        return self.rate_ok and self.delay_ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "household": self.household,
            "onu_id": self.onu_id,
            "direction": self.direction,
            "tier_bps": self.tier_bps,
            "share": self.share,
            "achieved_bps": round(self.achieved_bps, 3),
            "own_other_bps": None if self.own_other_bps is None else round(self.own_other_bps, 3),
            "granted_bps": None if self.granted_bps is None else round(self.granted_bps, 3),
            "delay_p99_us": None
            if self.delay_p99_us is None or not math.isfinite(self.delay_p99_us)
            else round(self.delay_p99_us, 3),
            "rate_ok": self.rate_ok,
            "delay_ok": self.delay_ok,
            "pass": self.passed,
            "why": self.why,
        }


@dataclass
class DirectionVerdict:
    """The verdict of one direction: analytic check, emulated figures, reasons."""

    direction: Direction
    tier_bps: float
    probed: int  #: probed households in this direction (0 when it is not tested)
    capacity_bps: float
    offered_bps: float  #: analytic demand: probes at their tier + busy-hour means
    probe_bps: float  #: the probes' share of offered_bps
    emulated: bool = False
    measured_offered_bps: float | None = None  #: arrivals in the measuring window (emulated)
    throughput_bps: float | None = None
    achieved_bps: dict[str, float] = field(default_factory=dict)  #: min / p5 / median
    delay_classes: list[str] = field(default_factory=list)
    delay_us: dict[str, float] | None = None  #: delay-sensitive class, all ONUs merged
    probe_delay_us: dict[str, float] | None = None
    dropped_packets: int = 0
    dropped_bytes: int = 0
    households: list[HouseholdVerdict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def analytic_pass(self) -> bool:
        return self.offered_bps <= self.capacity_bps

    @property
    def passed(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier_bps": self.tier_bps,
            "probed_households": self.probed,
            "capacity_bps": round(self.capacity_bps, 3),
            "offered_bps": round(self.offered_bps, 3),
            "probe_bps": round(self.probe_bps, 3),
            "analytic_pass": self.analytic_pass,
            "emulated": self.emulated,
            "measured_offered_bps": None
            if self.measured_offered_bps is None
            else round(self.measured_offered_bps, 3),
            "throughput_bps": None
            if self.throughput_bps is None
            else round(self.throughput_bps, 3),
            "achieved_bps": {k: round(v, 3) for k, v in self.achieved_bps.items()},
            "delay_classes": list(self.delay_classes),
            "delay_us": self.delay_us,
            "probe_delay_us": self.probe_delay_us,
            "dropped_packets": self.dropped_packets,
            "dropped_bytes": self.dropped_bytes,
            "pass": self.passed,
            "reasons": list(self.reasons),
        }


@dataclass
class PlanResult:
    """Everything :func:`plan` found.  :meth:`to_dict` is the ``--json`` document."""

    scenario: Scenario  #: the design judged (tier, households and provisioning applied)
    tier: str
    concurrency: float
    households: int
    per_onu: int
    probe_direction: ProbeDirection
    delay_budget_ms: float
    pass_ratio: float
    probed: list[tuple[int, int]]  #: (household id, ONU id) of every probed household
    budget: BudgetReport
    upstream: DirectionVerdict
    downstream: DirectionVerdict
    spec: EmulationSpec | None = None
    result: Result | None = None
    notes: list[str] = field(default_factory=list)
    optical_reasons: list[str] = field(default_factory=list)

    @property
    def emulated(self) -> bool:
        return self.result is not None

    @property
    def plan_reasons(self) -> list[str]:
        """The plan's own reasons: optical budget, then each direction's."""
        return [*self.optical_reasons, *self.upstream.reasons, *self.downstream.reasons]

    @property
    def run_reasons(self) -> list[str]:
        """Reasons of the emulated run's rules the plan adopts (:mod:`ftth.verdict`):
        capacity, backlog and the households' non-probe classes (the plan judges drops and
        the probes itself)."""
        if self.result is None:
            return []
        return [
            reason
            for r in self.result.data["verdict"]["rules"]
            if r["name"] in PLAN_RUN_RULES and r["status"] == "fail"
            for reason in r["reasons"]
        ]

    @property
    def status(self) -> str:
        """``fail`` (optical or analytic failure, or any reason), ``inconclusive`` (the
        emulation is too short to judge: :mod:`ftth.verdict`'s sufficiency rule) or ``pass``."""
        analytic = self.upstream.analytic_pass and self.downstream.analytic_pass
        if self.optical_reasons or not analytic:
            return "fail"
        if self.result is not None and self.result.status == "inconclusive":
            return "inconclusive"
        return "fail" if self.plan_reasons or self.run_reasons else "pass"

    @property
    def reasons(self) -> list[str]:
        status = self.status
        if status == "inconclusive":
            assert self.result is not None
            return list(self.result.data["verdict"]["reasons"])
        return [*self.plan_reasons, *self.run_reasons]

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def household_rows(self) -> list[dict[str, Any]]:
        """The one households table: the run's rows (every household, the household rule
        of :mod:`ftth.verdict` on its classes) plus the plan's speed-test columns, ``pass_*``
        and ``why`` covering both.  Empty when the plan was not emulated."""
        if self.result is None:
            return []
        rows = [dict(h) for h in self.result.data["households"]]
        for row in rows:
            for d in ("up", "down"):
                row[f"probed_{d}"] = False
                for key in PROBE_COLUMNS:
                    row[f"{key}_{d}{'_bps' if key != 'delay_p99' else '_us'}"] = None
        for dv in (self.upstream, self.downstream):
            d = "up" if dv.direction == "upstream" else "down"
            for h in dv.households:
                row = rows[h.household]
                item = h.as_dict()
                row[f"probed_{d}"] = True
                row[f"speed_test_{d}_bps"] = item["achieved_bps"]
                row[f"own_other_{d}_bps"] = item["own_other_bps"]
                row[f"granted_{d}_bps"] = item["granted_bps"]
                row[f"delay_p99_{d}_us"] = item["delay_p99_us"]
                if not h.passed:
                    row[f"pass_{d}"] = False
                    row["why"] = "; ".join(w for w in (row["why"], h.why) if w)
        for row in rows:
            row["pass"] = bool(row["pass_up"] and row["pass_down"])
        return rows

    def direction(self, name: Direction) -> DirectionVerdict:
        return self.upstream if name == "upstream" else self.downstream

    def plan_section(self) -> dict[str, Any]:
        """The ``plan`` block of the JSON document."""
        sc = self.scenario
        return {
            "tier": self.tier,
            "concurrency": self.concurrency,
            "households": self.households,
            "households_per_onu": self.per_onu,
            "onus": sc.n_onus,
            "probe_direction": self.probe_direction,
            "probed_households": [{"household": h, "onu_id": o} for h, o in self.probed],
            "pass_ratio": self.pass_ratio,
            "delay_budget_ms": self.delay_budget_ms,
            "optical_budget": self.budget.as_dict(),
            "emulated": self.emulated,
            "upstream": self.upstream.as_dict(),
            "downstream": self.downstream.as_dict(),
            "notes": list(self.notes),
            "run_verdict": None if self.result is None else self.result.data["verdict"],
        }

    def to_dict(self) -> dict[str, Any]:
        """The results contract of the run (when emulated) plus ``plan`` and the plan's
        ``verdict`` (which replaces the run's; the run's is kept as ``plan.run_verdict``)."""
        if self.result is not None:
            data = dict(self.result.to_dict())
        else:
            sc = self.scenario
            data = {
                "scenario": {
                    "name": sc.name,
                    "technology": sc.profile.name,
                    "split": sc.tree.split_ratio,
                    "onus": sc.n_onus,
                    "tconts": sum(len(onu.tconts or []) for onu in sc.onu_list()),
                    "dba": sc.dba.name,
                },
                "seed": sc.seed,
                "duration_s": sc.duration_s,
                "warmup_s": sc.warmup_s_effective,
                "engine": None,
                "warnings": [],
            }
        data["plan"] = self.plan_section()
        data["households"] = self.household_rows()
        rules = [] if self.result is None else list(self.result.data["verdict"]["rules"])
        rules.append(
            {
                "name": "plan",
                "status": "fail" if self.plan_reasons else "pass",
                "threshold": f"pass_ratio {self.pass_ratio:g}, delay budget "
                f"{self.delay_budget_ms:g} ms",
                "source": "ftth.plan (optical budget, analytic capacity, speed tests)",
                "reasons": self.plan_reasons,
            }
        )
        data["verdict"] = {
            "status": self.status,
            "pass": self.passed,
            "reasons": self.reasons,
            "rules": rules,
        }
        # The header of every results document (ftth.results), checked against its model.
        data = {**results.header(results.scenario_hash(self.scenario)), **data}
        data["scenario_hash"] = results.scenario_hash(self.scenario)
        return results.check(data, results.PlanResult)


# ======================================================================== inputs
def _re_keyed(exc: InputError, mapping: dict[str, str]) -> InputError:
    """``households.tier: …`` → ``--tier: …`` for errors caused by a plan option."""
    for key, option in mapping.items():
        if exc.where == key or exc.where.startswith(key + "."):
            return InputError(option, exc.why)
    return exc


def check_concurrency(concurrency: float) -> float:
    if not (isinstance(concurrency, int | float) and math.isfinite(concurrency)):
        raise InputError("--concurrency", f"must be a number in 0..1, got {concurrency!r}")
    if not 0.0 <= concurrency <= 1.0:
        raise InputError(
            "--concurrency", f"must be in 0..1 (a share of households), got {concurrency:g}"
        )
    return float(concurrency)


def onu_limit(scenario: Scenario) -> int:
    """Most ONUs the design can have: the split (``[onus]`` table) or the listed ONUs."""
    if isinstance(scenario.onus, OnuGenerator):
        return scenario.tree.split_ratio
    return len(scenario.onus)


def resolve_scenario(
    scenario: Scenario,
    *,
    tier: str | None = None,
    households: int | None = None,
    onus: int | None = None,
) -> Scenario:
    """``scenario`` with the plan's tier and household count applied (re-validated).

    ``households`` sets ``onus.count = ceil(households / per_onu)`` (``[[onus]]`` arrays
    keep their first ONUs); ``onus`` sets the ONU count directly (the searches).

    Raises
    ------
    InputError
        ``--tier`` (syntax, above the line rate), ``--households`` (below 1, above the split
        × households per ONU), or whatever the changed scenario breaks.
    """
    data = scenario.model_dump(by_alias=True, exclude_none=True)
    per_onu = scenario.households.per_onu
    if tier is not None:
        data.setdefault("households", {})["tier"] = tier
    count = onus
    if households is not None:
        if households < 1:
            raise InputError("--households", f"must be ≥ 1, got {households}")
        count = -(-households // per_onu)
        limit = onu_limit(scenario)
        if count > limit:
            what = (
                f"the split 1:{scenario.tree.split_ratio} has only {limit} outputs"
                if isinstance(scenario.onus, OnuGenerator)
                else f"the scenario lists only {limit} ONUs ([[onus]])"
            )
            raise InputError(
                "--households",
                f"{households} households need {count} ONUs at {per_onu} per ONU, but {what}: "
                f"at most {limit * per_onu} households",
            )
    if count is not None:
        if isinstance(scenario.onus, OnuGenerator):
            data["onus"]["count"] = count
        else:
            data["onus"] = data["onus"][:count]
    try:
        resolved = scenario_from_dict(data, source=scenario.source)
    except InputError as exc:
        raise _re_keyed(exc, {"households.tier": "--tier"}) from None
    if resolved.households.tier is None:
        raise InputError(
            "--tier", "the scenario has no households.tier; give one, e.g. --tier 100M/50M"
        )
    return resolved


def probe_counts(n_onus: int, per_onu: int, concurrency: float) -> list[int]:
    """Probed households per ONU: ``round(concurrency × households)`` (halves up, at least
    one when ``concurrency > 0``), spread evenly: ONU ``i`` gets
    ``floor((i + 1)·P / n) − floor(i·P / n)``, so counts differ by at most one and the
    ONUs with an extra probe are evenly spaced."""
    total = n_onus * per_onu
    probes = math.floor(concurrency * total + 0.5)
    if concurrency > 0:
        probes = max(1, probes)
    probes = min(probes, total)
    return [(i + 1) * probes // n_onus - i * probes // n_onus for i in range(n_onus)]


# ======================================================================== sources
class _Thinned:
    """The busy-hour traffic of the households of an FTTB ONU that are not probed: the
    queue's own source keeping each packet with probability ``keep`` (one draw per packet
    in arrival order, so the result does not depend on how the run is cut into windows)."""

    name = "thinned"
    is_unbounded = False

    def __init__(self, inner: TrafficSource, keep: float, rng: np.random.Generator) -> None:
        self._inner = inner
        self._keep = keep
        self._rng = rng
        self.mean_rate_bps = inner.mean_rate_bps * keep

    def batch(self, start_ps: int, end_ps: int) -> tuple[Any, Any]:
        arrival, size = self._inner.batch(start_ps, end_ps)
        if len(arrival) == 0:
            return arrival, size
        kept = self._rng.random(len(arrival)) < self._keep
        return arrival[kept], size[kept]


def _thinned_factory(inner: SourceFactory, keep: float, seed: int, key: int) -> SourceFactory:
    def make() -> TrafficSource:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7, key)))
        return _Thinned(inner(), keep, rng)

    return make


def _queue_mean_bps(q: QueueSpec, line_bps: float, fixed_bps: float = 0.0) -> float:
    """Busy-hour mean a queue offers (type 1: at least its fixed rate; greedy: line rate)."""
    if q.greedy_size_bytes > 0:
        return line_bps
    mean = sum(make().mean_rate_bps for make in q.sources)
    return max(mean, fixed_bps)


# ======================================================================== the plan
def _optical_reasons(report: BudgetReport) -> list[str]:
    failures = report.failures
    if not failures:
        return []
    worst = min(failures, key=lambda onu: (onu.margin_db, onu.onu_id))
    loss = max(worst.loss_down_db, worst.loss_up_db)
    low = min(worst.loss_down_db, worst.loss_up_db)
    if worst.verdict == OVERLOAD:
        text = (
            f"optical budget: ONU {worst.onu_id} path loss {low:.2f} dB < class "
            f"{report.optical_class} min {report.class_min_db:g} dB (overload: add an attenuator)"
        )
    else:
        text = (
            f"optical budget: ONU {worst.onu_id} path loss {loss:.2f} dB + margin "
            f"{report.required_margin_db:g} dB > class {report.optical_class} max "
            f"{report.class_max_db:g} dB"
        )
    if len(failures) > 1:
        text += f" ({len(failures)} of {len(report.onus)} ONUs fail, this one worst)"
    return [text]


def optical_budget(scenario: Scenario) -> BudgetReport:
    """The scenario's optical budget (maximum component losses, as ``ftth budget``)."""
    report: BudgetReport = scenario.optical_budget()
    return report


@dataclass
class _Prepared:
    """A design with its probes placed and its analytic load computed (no emulation yet)."""

    scenario: Scenario
    counts: list[int]
    spec: EmulationSpec
    up: DirectionVerdict
    down: DirectionVerdict
    notes: list[str]
    #: (direction, queue index) → (probe source factory, probed households, queue demand bps)
    probe_share: dict[tuple[str, int], tuple[SourceFactory, int, float]]


def _provision(scenario: Scenario, counts: list[int], base: EmulationSpec) -> tuple[Scenario, str]:
    """Raise the probe T-CONT's max_bps to what its probe needs (see the module docstring)."""
    tier_up = scenario.households.tier_up_bps or 0.0
    per_onu = scenario.households.per_onu
    line = float(scenario.profile.upstream_bps)
    data = scenario.model_dump(by_alias=True, exclude_none=True)
    onus = scenario.onu_list()
    # (ONU index when the ONU has its own T-CONTs, else -1 for the template, position)
    needed: dict[tuple[int, int], float] = {}
    for i, onu in enumerate(onus):
        if not counts[i]:
            continue
        tcs = onu.tconts or []
        pos = probe_position([tc.type for tc in tcs])
        if tcs[pos].type not in (3, 4, 5):
            continue
        first = next(j for j, q in enumerate(base.upstream) if q.onu_index == i)
        keep = (per_onu - counts[i]) / per_onu
        want = counts[i] * tier_up + keep * _queue_mean_bps(base.upstream[first + pos], line)
        own = isinstance(scenario.onus, list) and scenario.onus[i].tconts is not None
        key = (i if own else -1, pos)
        needed[key] = max(needed.get(key, 0.0), min(line, want))
    raised = []
    for (owner, pos), want in needed.items():
        table = data["tconts"][pos] if owner < 0 else data["onus"][owner]["tconts"][pos]
        if table.get("max_bps", 0.0) < want:
            raised.append(
                f"{table['name']} {fmt_rate(table.get('max_bps', 0.0))} → {fmt_rate(want)}"
            )
            table["max_bps"] = want
    if not raised:
        return scenario, ""
    note = (
        "best-effort T-CONT max_bps raised to carry the probe (a tier is provisioned): "
        + ", ".join(sorted(set(raised)))
    )
    return scenario_from_dict(data, source=scenario.source), note


def _prepare(scenario: Scenario, concurrency: float, probe_direction: ProbeDirection) -> _Prepared:
    hh = scenario.households
    tier_up, tier_down = hh.tier_up_bps or 0.0, hh.tier_down_bps or 0.0
    per_onu = hh.per_onu
    n = scenario.n_onus
    counts = probe_counts(n, per_onu, concurrency)
    base = build_spec(scenario)
    notes: list[str] = []
    test_up = probe_direction in ("both", "upstream")
    test_down = probe_direction in ("both", "downstream")
    if test_up:
        scenario, note = _provision(scenario, counts, base)
        if note:
            notes.append(note)
            base = build_spec(scenario)
    # One spec per distinct probe count (Probes has one rate for all probed ONUs).
    specs: dict[int, EmulationSpec] = {}
    for c in sorted(set(counts) - {0}):
        specs[c] = build_spec(
            scenario,
            probes=Probes(
                onu_indices=frozenset(i for i, k in enumerate(counts) if k == c),
                upstream_bps=c * tier_up if test_up else None,
                downstream_bps=c * tier_down if test_down else None,
                size_bytes=PROBE_FRAME_BYTES,
            ),
        )
    spec = specs[max(specs)] if specs else base
    probe_share: dict[tuple[str, int], tuple[SourceFactory, int, float]] = {}
    for name, queues, base_queues in (
        ("upstream", spec.upstream, base.upstream),
        ("downstream", spec.downstream, base.downstream),
    ):
        for j, q in enumerate(queues):
            c = counts[q.onu_index]
            if not c:
                continue
            donor = specs[c].upstream[j] if name == "upstream" else specs[c].downstream[j]
            if not donor.probe:
                continue
            q.probe = True
            q.sources = list(donor.sources)
            q.greedy_size_bytes = 0
            probe_share[(name, j)] = (donor.sources[0], c, 0.0)
            keep = (per_onu - c) / per_onu
            if keep > 0:
                original = base_queues[j]
                key = (0 if name == "upstream" else 1) + 2 * j
                q.sources += [
                    _thinned_factory(make, keep, scenario.seed, key) for make in original.sources
                ]
    verdicts = {}
    for name, queues, tier in (
        ("upstream", spec.upstream, tier_up),
        ("downstream", spec.downstream, tier_down),
    ):
        line = float(scenario.profile.line_rate_bps(name))  # type: ignore[arg-type]
        offered = probe = 0.0
        for j, q in enumerate(queues):
            fixed = float(spec.tconts.fixed_bps[j]) if name == "upstream" else 0.0
            mean = _queue_mean_bps(q, line, fixed)
            offered += mean
            if (name, j) in probe_share:
                make, c, _ = probe_share[(name, j)]
                probe_share[(name, j)] = (make, c, mean)
                probe += c * tier
        tested = test_up if name == "upstream" else test_down
        verdicts[name] = DirectionVerdict(
            direction=name,  # type: ignore[arg-type]
            tier_bps=tier,
            probed=sum(counts) if tested else 0,
            capacity_bps=scenario.capacity_bps(name),  # type: ignore[arg-type]
            offered_bps=offered,
            probe_bps=probe,
        )
    spec.warnings = [
        f"{d.direction} offered load {fmt_rate(d.offered_bps)} is "
        f"{d.offered_bps / d.capacity_bps:.2f}× the analytic capacity {fmt_rate(d.capacity_bps)}"
        for d in verdicts.values()
        if not d.analytic_pass
    ]
    return _Prepared(
        scenario, counts, spec, verdicts["upstream"], verdicts["downstream"], notes, probe_share
    )


def _capacity_reason(d: DirectionVerdict, n_onus: int) -> str:
    background = d.offered_bps - d.probe_bps
    return (
        f"{d.direction} capacity: offered {fmt_rate(d.offered_bps)} ({d.probed} probed "
        f"households × {fmt_rate(d.tier_bps)} + busy-hour mean {fmt_rate(background)}) > "
        f"capacity {fmt_rate(d.capacity_bps)} (analytic saturation goodput, {n_onus} ONUs)"
    )


def _delay_summary(h: DelayHistogram) -> dict[str, float]:
    s = h.summary_us()
    out = {k: round(float(s[k]), 3) for k in ("mean", "p50", "p95", "p99", "max")}
    out["count"] = int(s["count"])
    return out


def _margin_loss_reason(spec: EmulationSpec, raw: RawRun, direction: str) -> str:
    """``packet loss from optical margin`` when FEC failed to correct codewords that carried
    GEM/XGEM frames in ``direction`` (the PM counters of the run's data plane), else ``""``."""
    dp = raw.dataplane
    if dp is None or not dp.active:
        return ""
    from ftth.emulator.dataplane import PM_GEM_LOST, PM_UNCORRECTABLE

    d = 0 if direction == "upstream" else 1
    hit = [i for i in range(spec.n_onus) if dp.pm[i, d, PM_GEM_LOST] > 0]
    if not hit:
        return ""
    frames = int(sum(dp.pm[i, d, PM_GEM_LOST] for i in hit))
    codewords = int(sum(dp.pm[i, d, PM_UNCORRECTABLE] for i in hit))
    ids = ", ".join(str(spec.onu_ids[i]) for i in hit[:8]) + (" …" if len(hit) > 8 else "")
    return (
        f"packet loss from optical margin: {len(hit)} ONU(s) ({ids}) below their receiver "
        f"sensitivity lost {frames} {direction} GEM/XGEM frames in {codewords} uncorrectable "
        "FEC codewords"
    )


def _judge(prep: _Prepared, result: Result, delay_budget_ms: float, pass_ratio: float) -> None:
    """Fill both directions' emulated figures, household verdicts and reasons."""
    spec, raw = result.spec, result.raw
    window_s = (spec.duration_ps - spec.warmup_ps) / PS_PER_S
    duration_s = spec.duration_ps / PS_PER_S
    budget_us = delay_budget_ms * 1000.0
    per_onu = spec.households_per_onu
    for d in (prep.up, prep.down):
        name = d.direction
        stats = raw.upstream if name == "upstream" else raw.downstream
        queues = spec.upstream if name == "upstream" else spec.downstream
        d.emulated = True
        d.throughput_bps = float(stats.window_delivered_bytes.sum()) * 8 / window_s
        d.measured_offered_bps = float(result.data[name]["offered_bps"])
        d.dropped_packets = int(stats.counters["dropped_packets"].sum())
        d.dropped_bytes = int(stats.counters["dropped_bytes"].sum())
        # Delay-sensitive rows per ONU.
        if name == "upstream":
            sensitive = [j for j, q in enumerate(queues) if q.tcont_type in DELAY_SENSITIVE_TYPES]
        else:
            sensitive = [j for j, q in enumerate(queues) if q.priority == 0 and not q.probe]
        d.delay_classes = sorted({queues[j].name for j in sensitive})
        if sensitive:
            d.delay_us = _delay_summary(stats.delays.merged(sensitive))
        probe_rows = [j for j, q in enumerate(queues) if q.probe]
        if probe_rows:
            d.probe_delay_us = _delay_summary(stats.delays.merged(probe_rows))
        p99_by_onu: dict[int, float] = {}
        stuck_by_onu: dict[int, int] = {}
        cutoff_ps = spec.duration_ps - round(budget_us * PS_PER_US)
        for i in range(spec.n_onus):
            rows = [j for j in sensitive if queues[j].onu_index == i]
            if not rows:
                continue
            merged = stats.delays.merged(rows)
            # Packets that arrived after warm-up but more than the budget before the end and
            # were never delivered have a delay above the budget, yet no histogram sees them:
            # at least (arrived − delivered) of them.  Above 1 % of the class, p99 > budget.
            early = sum(
                arrivals_between(make, spec.warmup_ps, cutoff_ps)
                for j in rows
                for make in queues[j].sources
            )
            stuck = max(0, early - merged.count)
            if stuck and stuck > 0.01 * (merged.count + stuck):
                stuck_by_onu[i] = stuck
                p99_by_onu[i] = math.inf
            elif merged.count:
                p99_by_onu[i] = merged.percentile_ps(99) / PS_PER_US
        # Probed households.
        onu_rows: dict[int, list[int]] = {}
        for j, q in enumerate(queues):
            onu_rows.setdefault(q.onu_index, []).append(j)
        shaper = getattr(spec, "shaper_rate_bps", None) if name == "downstream" else None
        shaped = (
            {i: float(shaper[i]) for i in range(spec.n_onus) if shaper[i] > 0}
            if shaper is not None
            else {}
        )
        onu_bps = {
            i: float(stats.window_delivered_bytes[rows].sum()) * 8 / window_s
            for i, rows in onu_rows.items()
        }
        achieved_all: list[float] = []
        grant_short: set[int] = set()  # probe T-CONTs granted less than pass_ratio × demand
        if d.probed:
            for j in probe_rows:
                make, c, demand = prep.probe_share[(name, j)]
                i = queues[j].onu_index
                delivered = float(stats.window_delivered_bytes[j])
                offered_q = float(stats.window_offered_bytes[j])
                if len(queues[j].sources) > 1 and offered_q > 0:
                    arrival, size = make().batch(0, spec.duration_ps)
                    inside = (arrival >= spec.warmup_ps) & (arrival < spec.duration_ps)
                    delivered *= min(1.0, float(size[inside].sum()) / offered_q)
                achieved = delivered * 8 / window_s / c
                own_other = None
                if name == "downstream" and i in shaped:
                    # The shaper caps the household's classes together: its test gets what
                    # its other classes leave of the tier, so they count as achieved too
                    # (behind an FTTB ONU, one household's share of them).
                    others = [r for r in onu_rows[i] if r != j]
                    own_other = (
                        float(stats.window_delivered_bytes[others].sum()) * 8 / window_s / per_onu
                    )
                    achieved += own_other
                granted = (
                    float(stats.granted_bytes[j]) * 8 / duration_s / c
                    if name == "upstream"
                    else None
                )
                if granted is not None and granted * c < pass_ratio * demand:
                    grant_short.add(j)
                p99 = p99_by_onu.get(i)
                # The household rule of ftth.verdict: the probe's target is the tier, its
                # allowance one probe frame over the window (the measurement's resolution).
                judged = judge_class(
                    name=f"{'up' if name == 'upstream' else 'down'} speed test",
                    target_bps=d.tier_bps,
                    carried_bps=achieved,
                    pass_ratio=pass_ratio,
                    allowance_bps=PROBE_FRAME_BYTES * 8 / window_s / c,
                    delay_p99_us=p99,
                    delay_budget_us=budget_us,
                    fmt=fmt_rate,
                )
                for k in range(c):
                    # The c probed households of an ONU are its first c (ids i·per_onu + k).
                    d.households.append(
                        HouseholdVerdict(
                            household=i * per_onu + k,
                            onu_id=spec.onu_ids[i],
                            direction=name,
                            tier_bps=d.tier_bps,
                            share=c,
                            achieved_bps=achieved,
                            own_other_bps=own_other,
                            granted_bps=granted,
                            delay_p99_us=p99,
                            rate_ok=judged.rate_ok,
                            delay_ok=judged.delay_ok,
                            why=judged.why,
                        )
                    )
                    achieved_all.append(achieved)
        if achieved_all:
            arr = np.array(achieved_all)
            d.achieved_bps = {
                "min": float(arr.min()),
                "p5": float(np.percentile(arr, 5, method="inverted_cdf")),
                "median": float(np.percentile(arr, 50, method="inverted_cdf")),
            }
        # Reasons, bottleneck first.
        margin_reason = _margin_loss_reason(spec, raw, name)
        if margin_reason:
            d.reasons.append(margin_reason)
        short = [h for h in d.households if not h.rate_ok]
        if not d.analytic_pass:
            d.reasons.append(_capacity_reason(d, spec.n_onus))
        if short:
            detail = (
                f"{len(short)} of {len(d.households)} probed households below "
                f"{pass_ratio:.0%} of the {fmt_rate(d.tier_bps)} tier (min "
                f"{fmt_rate(d.achieved_bps['min'])}, median {fmt_rate(d.achieved_bps['median'])})"
            )
            drops = (
                f"; {d.dropped_packets} packets ({d.dropped_bytes:,} B) tail-dropped {name}"
                if d.dropped_bytes
                else ""
            )
            granted_min = min((h.granted_bps or 0.0) for h in short)
            load = max(d.offered_bps, d.measured_offered_bps or 0.0) / d.capacity_bps
            if not d.analytic_pass:
                d.reasons.append(f"{name} capacity (emulated): {detail}{drops}")
            elif load >= NEAR_CAPACITY:
                d.reasons.append(
                    f"{name} capacity (bursts): the offered load is "
                    f"{d.offered_bps / d.capacity_bps:.1%} of capacity on average "
                    f"({load:.1%} in the measuring window), so busy-hour bursts exceed it: "
                    f"{detail}{drops}"
                )
            elif name == "upstream" and (grant_short or not d.dropped_bytes):
                d.reasons.append(
                    f"DBA overhead: capacity {fmt_rate(d.capacity_bps)} covers the offered "
                    f"{fmt_rate(d.offered_bps)} analytically, but {detail}; the DBA grants "
                    f"only {fmt_rate(granted_min)} per probed household{drops}"
                )
            elif name == "downstream" and any(
                h_onu in shaped and onu_bps[h_onu] >= NEAR_CAPACITY * shaped[h_onu]
                for h_onu in {spec.onu_ids.index(h.onu_id) for h in short}
            ):
                d.reasons.append(
                    f"downstream shaper: the ONUs' token buckets (tier × {per_onu} household(s) "
                    f"per ONU) run full, {detail}{drops}"
                )
            elif d.dropped_bytes:
                d.reasons.append(f"buffer: {detail}{drops} with capacity to spare")
            else:
                d.reasons.append(
                    f"downstream scheduling: capacity {fmt_rate(d.capacity_bps)} covers the "
                    f"offered {fmt_rate(d.offered_bps)} analytically, but {detail}"
                )
        elif d.analytic_pass:
            # Drops of the probes themselves are not a fault when every probed household got
            # its tier (a CBR probe does not back off as TCP would, e.g. behind the shaper);
            # drops of the busy-hour traffic are.
            real = [j for j, q in enumerate(queues) if not q.probe]
            lost_bytes = int(stats.counters["dropped_bytes"][real].sum()) if real else 0
            lost_packets = int(stats.counters["dropped_packets"][real].sum()) if real else 0
            lost_onus = {queues[j].onu_index for j in real if stats.counters["dropped_bytes"][j]}
            if lost_bytes and lost_onus <= set(shaped):
                d.reasons.append(
                    f"downstream shaper: the busy-hour traffic of {len(lost_onus)} ONU(s) "
                    f"outruns their tier at peaks: {lost_packets} packets ({lost_bytes:,} B) "
                    f"tail-dropped behind the token bucket with capacity to spare"
                )
            elif lost_bytes:
                d.reasons.append(
                    f"buffer: {lost_packets} packets ({lost_bytes:,} B) of busy-hour traffic "
                    f"tail-dropped {name} with capacity to spare"
                )
        late = {i: v for i, v in p99_by_onu.items() if v > budget_us}
        if late:
            worst = max(late, key=lambda i: (late[i], -i))
            if name == "upstream":
                cause = "DBA grant latency"
            elif worst in shaped and onu_bps[worst] >= 0.9 * shaped[worst]:
                cause = "downstream shaper: the ONU's token bucket runs full"
            else:
                cause = "downstream scheduling"
            classes = "/".join(d.delay_classes)
            if stuck_by_onu:
                what = (
                    f"{classes} packets older than {delay_budget_ms:g} ms never delivered at "
                    f"{len(stuck_by_onu)} ONU(s) ({sum(stuck_by_onu.values())} packets), p99 "
                    f"above the budget at {len(late)} ONU(s)"
                )
            else:
                what = (
                    f"{classes} p99 {late[worst] / 1000:.2f} ms > {delay_budget_ms:g} ms budget "
                    f"at {len(late)} ONU(s)"
                )
            d.reasons.append(f"{name} delay: {what} (worst ONU {spec.onu_ids[worst]}; {cause})")
    # Coarse measurement note.
    tiers = [d.tier_bps for d in (prep.up, prep.down) if d.probed]
    if tiers:
        frames = min(tiers) * window_s / (PROBE_FRAME_BYTES * 8)
        if frames < MIN_WINDOW_FRAMES:
            need_s = MIN_WINDOW_FRAMES * PROBE_FRAME_BYTES * 8 / min(tiers) / 0.9
            prep.notes.append(
                f"coarse verdict: the {window_s * 1000:g} ms window holds only {frames:.1f} "
                f"probe frames per household at {fmt_rate(min(tiers))}; use --duration ≥ "
                f"{math.ceil(need_s * 100) / 100:g} s"
            )


def plan(
    scenario: Scenario,
    *,
    tier: str | None = None,
    concurrency: float | None = None,
    households: int | None = None,
    probe_direction: ProbeDirection = "both",
    delay_budget_ms: float = DEFAULT_DELAY_BUDGET_MS,
    emulate: bool = True,
    emulate_infeasible: bool = True,
    engine: str | None = None,
    progress: ProgressFn | None = None,
    onus: int | None = None,
) -> PlanResult:
    """Busy-hour verdict for ``scenario`` (module docstring: stages, rules, bottlenecks).

    Parameters
    ----------
    scenario
        A validated scenario (its duration, seed and engine are used).
    tier
        ``"DOWN/UP"`` (e.g. ``"100M/50M"``); default the scenario's ``households.tier``.
    concurrency
        Share of households running a speed test at once, 0..1 (default
        the scenario's ``households.concurrency``).
    households
        Household count (sets ``onus.count = ceil(households / per_onu)``); default the
        scenario's ONUs × ``per_onu``.
    probe_direction
        ``"both"`` (default: probes run both ways at once), ``"upstream"`` or
        ``"downstream"``.
    delay_budget_ms
        p99 budget of the delay-sensitive class.
    emulate
        ``False``: optical and analytic stages only.
    emulate_infeasible
        ``False``: skip the emulation when the analytic check already FAILs (searches).
    engine, progress
        Emulation engine (default the scenario's) and progress callback.
    onus
        ONU count (instead of ``households``; the searches).

    Raises
    ------
    InputError
        A bad tier, concurrency, household count or probe direction.
    """
    if probe_direction not in PROBE_DIRECTIONS:
        raise InputError(
            "--direction", f"must be one of {', '.join(PROBE_DIRECTIONS)}, got {probe_direction!r}"
        )
    conc = check_concurrency(
        scenario.households.concurrency if concurrency is None else concurrency
    )
    if not (math.isfinite(delay_budget_ms) and delay_budget_ms > 0):
        raise InputError("--delay-budget-ms", f"must be > 0, got {delay_budget_ms:g}")
    sc = resolve_scenario(scenario, tier=tier, households=households, onus=onus)
    report = optical_budget(sc)
    prep = _prepare(sc, conc, probe_direction)
    sc = prep.scenario
    per_onu = sc.households.per_onu
    probed = [
        (i * per_onu + k, sc.onu_list()[i].id) for i, c in enumerate(prep.counts) for k in range(c)
    ]
    out = PlanResult(
        scenario=sc,
        tier=sc.households.tier or "",
        concurrency=conc,
        households=sc.n_onus * per_onu,
        per_onu=per_onu,
        probe_direction=probe_direction,
        delay_budget_ms=delay_budget_ms,
        pass_ratio=sc.households.pass_ratio,
        probed=probed,
        budget=report,
        upstream=prep.up,
        downstream=prep.down,
        spec=prep.spec,
        notes=prep.notes,
        optical_reasons=_optical_reasons(report),
    )
    if households is not None and households != out.households:
        out.notes.insert(
            0,
            f"{households} households need {sc.n_onus} ONUs at {per_onu} per ONU: "
            f"planned as {out.households} households",
        )
    feasible = prep.up.analytic_pass and prep.down.analytic_pass
    if not report.passed:
        out.notes.append("not emulated: the optical budget fails")
    elif not emulate or (not feasible and not emulate_infeasible):
        out.notes.append(
            "not emulated" + ("" if emulate else " (--no-emulate): analytic verdict only")
        )
    else:
        # The same path as ftth.run: engine, results, ledger check (ftth.api.run_built).
        out.result = run_built(
            prep.spec, engine or sc.engine, progress, delay_budget_ms=delay_budget_ms
        )
        _judge(prep, out.result, delay_budget_ms, sc.households.pass_ratio)
        return out
    for d in (prep.up, prep.down):
        if not d.analytic_pass:
            d.reasons.append(_capacity_reason(d, sc.n_onus))
    return out


# ======================================================================== analytic bounds
def busy_hour_means(scenario: Scenario) -> dict[Direction, tuple[float, float]]:
    """Per direction: (busy-hour mean per household, of which on the probe's queue)."""
    spec = build_spec(scenario)
    per = scenario.households.per_onu
    n = scenario.n_onus
    out: dict[Direction, tuple[float, float]] = {}
    for name, queues in (("upstream", spec.upstream), ("downstream", spec.downstream)):
        line = float(scenario.profile.line_rate_bps(name))  # type: ignore[arg-type]
        total = probe_q = 0.0
        for i in range(n):
            rows = [j for j, q in enumerate(queues) if q.onu_index == i]
            if not rows:
                continue
            if name == "upstream":
                probe_j = rows[probe_position([queues[j].tcont_type for j in rows])]
            else:
                probe_j = max(rows, key=lambda j: (queues[j].priority, j))
            for j in rows:
                fixed = float(spec.tconts.fixed_bps[j]) if name == "upstream" else 0.0
                mean = _queue_mean_bps(queues[j], line, fixed)
                total += mean
                if j == probe_j:
                    probe_q += mean
        out[name] = (total / (n * per), probe_q / (n * per))  # type: ignore[index]
    return out


def analytic_household_bound(
    scenario: Scenario, concurrency: float, tier: str | None = None
) -> dict[Direction, float]:
    """Largest household count each direction carries analytically:
    ``capacity / (concurrency × tier + mean − concurrency × probe-queue mean)`` (the probed
    households' internet queue carries the probe instead of its mean).  The capacity is taken
    at the ONU count of the bound (three fixed-point steps: it changes slowly with ONUs)."""
    sc = resolve_scenario(scenario, tier=tier) if tier is not None else scenario
    means = busy_hour_means(sc)
    per = sc.households.per_onu
    out: dict[Direction, float] = {}
    for name in DIRECTIONS:
        tier_bps = (
            sc.households.tier_up_bps if name == "upstream" else sc.households.tier_down_bps
        ) or 0.0
        mean, probe_q = means[name]
        per_household = concurrency * tier_bps + mean - concurrency * probe_q
        if per_household <= 0:
            out[name] = math.inf
            continue
        onus = sc.n_onus
        bound = 0.0
        for _ in range(3):
            fec = sc.fec.upstream if name == "upstream" else sc.fec.downstream
            cap = saturation_goodput_bps(sc.profile, name, max(1, onus), fec=fec)
            bound = cap / per_household
            onus = max(1, math.ceil(bound / per))
        out[name] = bound
    return out


# ======================================================================== search
@dataclass
class SearchStep:
    """One candidate the search judged."""

    value: int  #: households (max_households) or downstream tier in Mb/s (max_tier)
    label: str  #: "64 households" / "tier 300M/300M"
    passed: bool
    emulated: bool
    reason: str  #: first reason, or "PASS"
    wall_s: float
    status: str = ""  #: pass / fail / inconclusive (ftth.verdict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "label": self.label,
            "pass": self.passed,
            "status": self.status or ("pass" if self.passed else "fail"),
            "emulated": self.emulated,
            "reason": self.reason,
            "wall_s": round(self.wall_s, 3),
        }


@dataclass
class SearchResult:
    """What a search found: the best passing value (None: even the smallest fails)."""

    kind: Literal["households", "tier"]
    best: int | None
    best_label: str | None
    analytic_bound: float
    start: int
    limit: int
    steps: list[SearchStep]
    best_plan: PlanResult | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "best": self.best,
            "best_label": self.best_label,
            "analytic_bound": self.analytic_bound if math.isfinite(self.analytic_bound) else None,
            "start": self.start,
            "limit": self.limit,
            "steps": [s.as_dict() for s in self.steps],
        }


StepFn = Callable[[SearchStep], None]


def _bisect(
    evaluate: Callable[[int], tuple[bool, PlanResult, SearchStep]],
    start: int,
    low: int,
    high: int,
    on_step: StepFn | None,
) -> tuple[int | None, PlanResult | None, list[SearchStep]]:
    """Largest x in [low, high] that passes, from ``start``: step up (1, 2, 4, …) while it
    passes, or down (5 % of ``start``, doubling) while it fails, then bisect between the last
    pass and the first fail."""
    steps: list[SearchStep] = []
    cache: dict[int, tuple[bool, PlanResult]] = {}

    def judge(x: int) -> bool:
        if x not in cache:
            ok, result, step = evaluate(x)
            cache[x] = (ok, result)
            steps.append(step)
            if on_step is not None:
                on_step(step)
        return cache[x][0]

    x = min(max(start, low), high)
    if judge(x):
        # Above the analytic bound every candidate fails analytically (no emulation), so
        # upward steps start at 1 and double.
        stride = 1
        good, bad = x, None
        while bad is None and good < high:
            y = min(high, good + stride)
            if judge(y):
                good = y
                stride *= 2
            else:
                bad = y
    else:
        stride = max(1, round(x * 0.05))
        good, bad = None, x
        while good is None and bad > low:
            y = max(low, bad - stride)
            if judge(y):
                good = y
            else:
                bad = y
                stride *= 2
    if good is None:
        return None, None, steps
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        if judge(mid):
            good = mid
        else:
            bad = mid
    return good, cache[good][1], steps


def _step(value: int, label: str, result: PlanResult, wall_s: float) -> SearchStep:
    return SearchStep(
        value=value,
        label=label,
        passed=result.passed,
        emulated=result.emulated,
        reason="PASS" if result.passed else result.reasons[0],
        wall_s=wall_s,
        status=result.status,
    )


def _search_scenario(scenario: Scenario, duration_s: float | None) -> Scenario:
    duration = duration_s if duration_s is not None else min(scenario.duration_s, SEARCH_DURATION_S)
    if duration == scenario.duration_s:
        return scenario
    data = scenario.model_dump(by_alias=True, exclude_none=True)
    data["duration_s"] = duration
    data.pop("warmup_s", None)
    return scenario_from_dict(data, source=scenario.source)


def max_households(
    scenario: Scenario,
    *,
    tier: str | None = None,
    concurrency: float | None = None,
    probe_direction: ProbeDirection = "both",
    delay_budget_ms: float = DEFAULT_DELAY_BUDGET_MS,
    duration_s: float | None = None,
    on_step: StepFn | None = None,
) -> SearchResult:
    """Largest household count (whole ONUs × ``per_onu``) that passes :func:`plan`.

    Starts at the analytic bound (:func:`analytic_household_bound`, the tighter direction),
    limited by the split; each step is a plan of ``duration_s`` emulated seconds (default
    ``min(duration_s, SEARCH_DURATION_S)``).
    """
    conc = check_concurrency(
        scenario.households.concurrency if concurrency is None else concurrency
    )
    sc = _search_scenario(resolve_scenario(scenario, tier=tier), duration_s)
    per = sc.households.per_onu
    bounds = analytic_household_bound(sc, conc)
    bound = min(bounds.values())
    limit = onu_limit(sc)
    start = max(1, min(limit, math.floor(bound / per)))

    def evaluate(onus: int) -> tuple[bool, PlanResult, SearchStep]:
        t0 = time.perf_counter()
        result = plan(
            sc,
            concurrency=conc,
            onus=onus,
            probe_direction=probe_direction,
            delay_budget_ms=delay_budget_ms,
            emulate_infeasible=False,
        )
        label = f"{onus * per} households ({onus} ONUs)" if per > 1 else f"{onus} households"
        return result.passed, result, _step(onus * per, label, result, time.perf_counter() - t0)

    best, best_plan, steps = _bisect(evaluate, start, 1, limit, on_step)
    return SearchResult(
        kind="households",
        best=None if best is None else best * per,
        best_label=None if best is None else f"{best * per} households",
        analytic_bound=bound,
        start=start * per,
        limit=limit * per,
        steps=steps,
        best_plan=best_plan,
    )


def _tier_text(down_mbps: int, ratio: float) -> str:
    up = max(0.1, round(down_mbps * ratio, 1))
    return f"{down_mbps}M/{up:g}M"


def max_tier(
    scenario: Scenario,
    *,
    tier: str | None = None,
    concurrency: float | None = None,
    households: int | None = None,
    probe_direction: ProbeDirection = "both",
    delay_budget_ms: float = DEFAULT_DELAY_BUDGET_MS,
    duration_s: float | None = None,
    on_step: StepFn | None = None,
) -> SearchResult:
    """Largest tier (whole Mb/s downstream, upstream in the tier's up/down proportion, to
    0.1 Mb/s) that
    passes :func:`plan`, starting from the analytic bound of the tier."""
    conc = check_concurrency(
        scenario.households.concurrency if concurrency is None else concurrency
    )
    sc = _search_scenario(resolve_scenario(scenario, tier=tier, households=households), duration_s)
    hh = sc.households
    down, up = hh.tier_down_bps or 0.0, hh.tier_up_bps or 0.0
    ratio = up / down
    profile = sc.profile
    limit_mbps = math.floor(min(profile.downstream_bps, profile.upstream_bps / ratio) / 1e6)
    if limit_mbps < 1:
        raise InputError("--tier", f"up/down ratio {ratio:g} leaves no whole-Mb/s tier")
    # Analytic bound: demand(t) = background + probes × t per direction.
    prep = _prepare(sc, conc, probe_direction)
    scale = math.inf
    for d in (prep.up, prep.down):
        if d.probe_bps > 0:
            per_bps = d.probe_bps / d.tier_bps  # probed households
            background = d.offered_bps - d.probe_bps
            t_max = (d.capacity_bps - background) / per_bps
            scale = min(scale, t_max / d.tier_bps)
    bound_mbps = down * scale / 1e6 if math.isfinite(scale) else float(limit_mbps)
    start = max(1, min(limit_mbps, math.floor(bound_mbps)))

    def evaluate(mbps: int) -> tuple[bool, PlanResult, SearchStep]:
        t0 = time.perf_counter()
        text = _tier_text(mbps, ratio)
        result = plan(
            sc,
            tier=text,
            concurrency=conc,
            probe_direction=probe_direction,
            delay_budget_ms=delay_budget_ms,
            emulate_infeasible=False,
        )
        return result.passed, result, _step(mbps, f"tier {text}", result, time.perf_counter() - t0)

    best, best_plan, steps = _bisect(evaluate, start, 1, limit_mbps, on_step)
    return SearchResult(
        kind="tier",
        best=best,
        best_label=None if best is None else _tier_text(best, ratio),
        analytic_bound=bound_mbps,
        start=start,
        limit=limit_mbps,
        steps=steps,
        best_plan=best_plan,
    )


# ======================================================================== CSV and plots
def household_rows(result: PlanResult) -> list[dict[str, Any]]:
    """The one households table (:meth:`PlanResult.household_rows`)."""
    return result.household_rows()


def write_plan_csv(result: PlanResult, directory: str | Path) -> list[Path]:
    """The run's CSV files (``households.csv`` with the plan's speed-test columns: one
    households table) plus ``plan_directions.csv``."""
    from ftth.report import write_csv

    out = Path(directory)
    paths: list[Path] = []
    if result.result is not None:
        paths += write_csv(result.to_dict(), out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "plan_directions.csv"
        with open_atomic(path, newline="") as fh:
            keys = ["direction", "tier_bps", "probed_households", "capacity_bps", "offered_bps",
                    "throughput_bps", "achieved_min_bps", "achieved_p5_bps",
                    "achieved_median_bps", "delay_p99_us", "pass", "reasons"]  # fmt: skip
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            for d in (result.upstream, result.downstream):
                row = d.as_dict()
                writer.writerow(
                    {
                        "direction": d.direction,
                        "tier_bps": d.tier_bps,
                        "probed_households": d.probed,
                        "capacity_bps": row["capacity_bps"],
                        "offered_bps": row["offered_bps"],
                        "throughput_bps": row["throughput_bps"],
                        **{f"achieved_{k}_bps": row["achieved_bps"].get(k) for k in _ACHIEVED_KEYS},
                        "delay_p99_us": (d.delay_us or {}).get("p99"),
                        "pass": d.passed,
                        "reasons": " | ".join(d.reasons),
                    }
                )
        paths.append(path)
    except OSError as exc:
        raise InputError(str(out), f"cannot write CSV: {exc.strerror or exc}") from None
    return paths


#: Names of the figures :func:`write_plots` writes (each as .png and .svg).
PLOT_NAMES = ("plan-rates", "plan-delay-cdf", "plan-grant-utilisation")


def write_plots(result: PlanResult, directory: str | Path) -> list[Path]:
    """PNG and SVG figures of an emulated plan, byte-identical across runs.

    * ``plan-rates``: achieved rate of every probed household against its tier (downstream
      behind the tier shaper, its other classes stacked in a lighter shade);
    * ``plan-delay-cdf``: delay CDF per traffic class and direction (from the histograms);
    * ``plan-grant-utilisation``: upstream line bytes used by bursts per frame over the
      frame, averaged per millisecond.

    matplotlib (Agg) is imported here only.  Determinism: ``svg.hashsalt`` fixed, no date or
    software version in the metadata.
    """
    if result.result is None:
        raise InputError("--plot", "nothing to plot: the plan was not emulated")
    import matplotlib

    plt = plots.pyplot()
    out = output_dir(directory)
    spec, raw = result.result.spec, result.result.raw
    title = (
        f"{result.scenario.name}: {spec.profile.title} 1:{spec.split_ratio}, "
        f"{result.households} households, tier {result.tier}, concurrency {result.concurrency:g}"
    )
    paths: list[Path] = []
    with matplotlib.rc_context({"svg.hashsalt": "ftth-plan", "font.size": 9}):
        # 1. Achieved rate per probed household against the tier.
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        for ax, d in zip(axes, (result.downstream, result.upstream), strict=True):
            ax.set_title(f"{d.direction}: tier {fmt_rate(d.tier_bps)}")
            if d.households:
                x = np.arange(len(d.households))
                other = np.array([h.own_other_bps or 0.0 for h in d.households]) / 1e6
                probe = np.array([h.achieved_bps for h in d.households]) / 1e6 - other
                colours = [plots.verdict_colour(h.passed) for h in d.households]
                ax.bar(x, probe, color=colours, width=0.8)
                if other.any():
                    ax.bar(x, other, bottom=probe, color=colours, alpha=0.45, width=0.8,
                           label="its other classes (shaped)")  # fmt: skip
                ax.axhline(d.tier_bps / 1e6, color="black", lw=1, label="tier")
                ax.axhline(
                    result.pass_ratio * d.tier_bps / 1e6,
                    color="black", lw=1, ls="--", label=f"{result.pass_ratio:.0%} of tier",
                )  # fmt: skip
                if len(x) <= 40:
                    ticks = [str(h.household) for h in d.households]
                    ax.set_xticks(x, ticks, rotation=90, fontsize=6)
                else:
                    ax.set_xticks([])
                # Say what the colours mean: green passes, red fails (its speed test).
                handles, _ = ax.get_legend_handles_labels()
                ax.legend(
                    handles=[*plots.verdict_legend_handles(), *handles],
                    loc="lower right",
                    fontsize=7,
                    framealpha=0.9,
                )
            else:
                ax.text(0.5, 0.5, "not probed", ha="center", va="center", transform=ax.transAxes)
            ax.set_xlabel(f"probed household ({len(d.households)})")
            ax.set_ylabel("achieved rate (Mb/s)")
        fig.suptitle(title)
        paths += _save(fig, out / PLOT_NAMES[0])
        plt.close(fig)
        # 2. Delay CDF per class.
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        for ax, name in zip(axes, ("downstream", "upstream"), strict=True):
            stats = raw.upstream if name == "upstream" else raw.downstream
            queues = spec.upstream if name == "upstream" else spec.downstream
            labels: dict[str, list[int]] = {}
            for j, q in enumerate(queues):
                labels.setdefault(q.name + (" (probe)" if q.probe else ""), []).append(j)
            for label, rows in labels.items():
                values, frac = stats.delays.merged(rows).cdf()
                if len(values):
                    ax.step(values / PS_PER_MS, frac, where="post", label=label)
            ax.axvline(result.delay_budget_ms, color="black", lw=1, ls="--", label="budget")
            ax.set_xscale("log")
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{name} delay CDF per class")
            ax.set_xlabel("delay (ms)")
            ax.set_ylabel("fraction of packets ≤ delay")
            ax.legend(loc="lower right", fontsize=7)
        fig.suptitle(title)
        paths += _save(fig, out / PLOT_NAMES[1])
        plt.close(fig)
        # 3. Upstream grant utilisation per ms.
        fig, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
        per_frame = raw.us_used_line_bytes / spec.profile.us_bytes_per_frame
        frames_per_ms = max(1, PS_PER_MS // spec.profile.frame_ps)
        n_ms = len(per_frame) // frames_per_ms
        if n_ms:
            per_ms = per_frame[: n_ms * frames_per_ms].reshape(n_ms, frames_per_ms).mean(axis=1)
            ax.step(np.arange(n_ms), per_ms * 100, where="post", color="tab:blue")
        ax.axvline(spec.warmup_ps / PS_PER_MS, color="grey", lw=1, ls=":", label="end of warm-up")
        ax.set_ylim(0, 105)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("upstream frame used by bursts (%)")
        ax.set_title("upstream grant utilisation (line bytes of bursts / frame, mean per ms)")
        ax.legend(loc="lower right")
        fig.suptitle(title)
        paths += _save(fig, out / PLOT_NAMES[2])
        plt.close(fig)
    return paths


def _save(fig: Any, stem: Path) -> list[Path]:
    return plots.save(fig, stem, "ftth plan")


__all__ = [
    "DEFAULT_DELAY_BUDGET_MS",
    "DirectionVerdict",
    "HouseholdVerdict",
    "PlanResult",
    "SearchResult",
    "SearchStep",
    "analytic_household_bound",
    "busy_hour_means",
    "max_households",
    "max_tier",
    "optical_budget",
    "plan",
    "probe_counts",
    "resolve_scenario",
    "write_plan_csv",
    "write_plots",
]
