"""Resolve a :class:`~ftth.scenario.Scenario` into an :class:`EmulationSpec`.

* Topology: per-ONU distance, one-way delay, Teqd (:mod:`ftth.topology`).
* T-CONTs: every ONU gets the scenario's T-CONT templates (or its own), Alloc-IDs assigned
  from the profile's first assignable Alloc-ID in ONU order.
* Queues: one upstream queue per T-CONT, one downstream queue per (ONU, class).
* Traffic: one source per queue that declares ``traffic``; each gets its own generator from
  ``SeedSequence(seed, spawn_key=(direction, onu id, queue position))`` so adding or removing
  a source never changes the packets of another.  ``traffic.upstream_load`` /
  ``downstream_load`` rescale every source of that direction so the total mean offered rate
  is that share of the analytic capacity.

The checks a scenario needs the DBAs or the traffic models for live here, one layer above
:mod:`ftth.scenario` (which imports neither): :func:`build_spec` checks the DBA name and
every traffic table's model and parameters, and :func:`check_build` — what ``ftth validate``
runs — also builds the DBA with its parameters, exactly as a run does, without emulating.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from ftth.emulator.control import control_plan
from ftth.emulator.spec import EmulationSpec, QueueSpec, SourceFactory
from ftth.errors import InputError
from ftth.phy import Direction, Profile, fmt_rate
from ftth.scenario import Scenario, translate_validation_error
from ftth.topology import build_topology
from ftth.traffic import make_source, traffic_params_model
from ftth.units import PS_PER_MS, s_to_ps, us_to_ps
from olt.dba.base import DbaContext, TcontTable
from olt.dba.registry import get_dba, list_dbas

_DIRECTION_KEY = {"upstream": 1, "downstream": 2}
#: Parameters that scale a source's mean rate linearly, by model.
_RATE_KEYS = ("rate_bps", "mean_bps")


def _rng(seed: int, direction: Direction, onu_id: int, position: int) -> np.random.Generator:
    seq = np.random.SeedSequence(seed, spawn_key=(_DIRECTION_KEY[direction], onu_id, position))
    return np.random.default_rng(seq)


def _scaled(
    params: Mapping[str, Any], model: str, factor: float, mean_rate_bps: float
) -> dict[str, Any]:
    """``params`` with the source's mean rate multiplied by ``factor``."""
    out = dict(params)
    if model == "household":
        out["mean_bps"] = float(out.get("mean_bps") or mean_rate_bps) * factor
    elif model == "pcap":
        out["speed"] = float(out.get("speed", 1.0)) * factor
    elif out.get("rate_bps") is not None:
        out["rate_bps"] = float(out["rate_bps"]) * factor
        if out.get("peak_bps") is not None:  # pareto-onoff: keep the ON share unchanged
            out["peak_bps"] = float(out["peak_bps"]) * factor
    return out


class _SourcePlan:
    """A queue's traffic: model, params, seed key — materialised as factories once scaled."""

    def __init__(
        self,
        queue: QueueSpec,
        table: Mapping[str, Any],
        where: str,
        direction: Direction,
        onu_id: int,
        position: int,
        line_rate_bps: float,
        seed: int,
    ) -> None:
        self.queue = queue
        self.model = str(table.get("model", ""))
        self.params = {k: v for k, v in table.items() if k != "model"}
        self.where = where
        self.direction = direction
        self.onu_id = onu_id
        self.position = position
        self.line_rate_bps = line_rate_bps
        self.seed = seed

    def build(self, params: Mapping[str, Any]) -> Any:
        rng = _rng(self.seed, self.direction, self.onu_id, self.position)
        return make_source(
            self.model, params, rng, line_rate_bps=self.line_rate_bps, where=self.where
        )

    def factory(self, params: Mapping[str, Any]) -> SourceFactory:
        return lambda: self.build(params)


@dataclass(frozen=True)
class _SourceFacts:
    """What building a source tells about it (nothing here depends on its random stream)."""

    mean_rate_bps: float
    unbounded_size_bytes: int  # 0 unless an unbounded (greedy) source


def _facts(
    plan: _SourcePlan, params: Mapping[str, Any], memo: dict[str, _SourceFacts]
) -> _SourceFacts:
    """Build ``plan``'s source once per distinct (model, place, parameters) to validate it
    and read its mean rate: every ONU's copy of a class has the same parameters, and
    building hundreds of sources (household: five spawned generators each) cost more than a
    short run itself."""
    key = json.dumps(
        [plan.model, plan.where, plan.line_rate_bps, params], sort_keys=True, default=str
    )
    facts = memo.get(key)
    if facts is None:
        source = plan.build(params)
        facts = _SourceFacts(
            float(source.mean_rate_bps),
            int(source.size_bytes) if getattr(source, "is_unbounded", False) else 0,
        )
        memo[key] = facts
    return facts


def _attach(plans: list[_SourcePlan], load: float | None, capacity_bps: float, where: str) -> float:
    """Give every queue its source factory, rescaled to ``load`` × capacity if asked.

    Returns the total mean offered rate of the direction's finite sources (bit/s).
    """
    factor = 1.0
    memo: dict[str, _SourceFacts] = {}
    # Greedy sources (saturation, speed-test probes) are never rescaled.
    scalable = [plan for plan in plans if plan.model != "greedy"]
    means = (
        {id(plan): _facts(plan, plan.params, memo).mean_rate_bps for plan in scalable}
        if load is not None
        else {}
    )
    if load is not None and plans:
        total = sum(means.values())
        if total <= 0:
            raise InputError(
                where, "a load is set but no source in that direction has a finite rate"
            )
        factor = load * capacity_bps / total
    offered = 0.0
    for plan in plans:
        params = plan.params
        if factor != 1.0 and id(plan) in means:
            params = _scaled(plan.params, plan.model, factor, means[id(plan)])
        facts = _facts(plan, params, memo)
        if facts.unbounded_size_bytes:
            plan.queue.greedy_size_bytes = facts.unbounded_size_bytes
        else:
            plan.queue.sources.append(plan.factory(params))
            offered += facts.mean_rate_bps
    return offered


@dataclass(frozen=True)
class Probes:
    """Speed-test probes: the chosen ONUs' internet queues carry a greedy source at the tier.

    Upstream the probe replaces the traffic of the ONU's best-effort T-CONT (the last type-4
    T-CONT, else the last type-3, else the last T-CONT); downstream that of its lowest-priority
    class.  The probe is a ``greedy`` source capped at the rate (a CBR of ``size_bytes`` frames),
    never rescaled by ``traffic.*_load``.  Its queue is flagged ``probe=True``.
    """

    onu_indices: frozenset[int]
    upstream_bps: float | None = None
    downstream_bps: float | None = None
    size_bytes: int = 1518


def probe_position(types: list[int]) -> int:
    """Which of an ONU's T-CONTs (by type, in order) a speed-test probe replaces: the last
    type 4, else the last type 3, else the last one."""
    for wanted in (4, 3):
        hits = [i for i, t in enumerate(types) if t == wanted]
        if hits:
            return hits[-1]
    return len(types) - 1


def _probe_table(rate_bps: float, size_bytes: int) -> dict[str, Any]:
    return {"model": "greedy", "rate_bps": float(rate_bps), "size_bytes": size_bytes}


def _check_dba_name(name: str, profile: Profile) -> type[Any]:
    """The DBA class registered as ``name``, if it suits ``profile``'s kind of upstream.

    Frame DBAs (125 µs BWmaps) and MPCP polling DBAs (EPON) are not interchangeable.
    """
    valid = list_dbas()
    if name not in valid:
        raise InputError(
            "dba.name", f"unknown DBA {name!r}; valid: {', '.join(valid) or '(none registered)'}"
        )
    fits = [n for n in valid if bool(getattr(get_dba(n), "epon", False)) != profile.framed]
    if name not in fits:
        kind = "an EPON polling DBA" if profile.framed else "a 125 µs frame DBA"
        raise InputError(
            "dba.name", f"{name!r} is {kind}; for {profile.title} use one of: {', '.join(fits)}"
        )
    return get_dba(name)


def _check_traffic_table(
    table: Mapping[str, Any], where: str, profile: Profile, direction: Direction
) -> None:
    """Traffic model registered, its parameters valid (the model's own checks), and its
    mean rate within the line rate of its direction.

    Names the key path as the scenario does (``tconts[1].traffic.alpha_on``), with the
    allowed range and a "did you mean" for a misspelt parameter.  The mean-rate rule covers
    what the scenario's ``*_bps`` rule cannot see (a capture replayed at ``speed`` × its
    rate): one source never offers more than its link can carry.
    """
    line_bps = profile.upstream_bps if direction == "upstream" else profile.downstream_bps
    model = table["model"]
    params = {key: value for key, value in table.items() if key != "model"}
    try:
        params_model: type[BaseModel] = traffic_params_model(model)
    except InputError as exc:
        raise InputError(f"{where}.model", exc.why) from None
    try:
        params_model.model_validate(params)
    except ValidationError as exc:
        raise translate_validation_error(exc, root=params_model, prefix=where) from None
    # Building the source once runs the model's cross-parameter checks (size mix
    # consistency, a pcap file that exists); the generator is a throwaway.
    source = make_source(
        model, params, np.random.default_rng(0), line_rate_bps=line_bps, where=where
    )
    mean_bps = float(source.mean_rate_bps)
    if mean_bps > line_bps:
        raise InputError(
            where,
            f"offers {fmt_rate(mean_bps)} on average, above the {profile.title} {direction} "
            f"line rate {fmt_rate(line_bps)}",
        )


def _check_traffic(scenario: Scenario) -> None:
    """Every traffic table of the scenario, templates first, then each ONU's own."""
    profile = scenario.profile
    onus = scenario.onus if isinstance(scenario.onus, list) else []
    groups: list[tuple[str, Any, Any]] = [("", scenario.tconts, scenario.downstream)]
    groups += [(f"onus[{i}].", onu.tconts, onu.downstream) for i, onu in enumerate(onus)]
    for prefix, tconts, classes in groups:
        for index, tc in enumerate(tconts or []):
            if tc.traffic is not None:
                where = f"{prefix}tconts[{index}].traffic"
                _check_traffic_table(tc.traffic, where, profile, "upstream")
        for index, cls in enumerate(classes or []):
            if cls.traffic is not None:
                where = f"{prefix}downstream[{index}].traffic"
                _check_traffic_table(cls.traffic, where, profile, "downstream")


def _idle_weights(queues: list[QueueSpec]) -> list[str]:
    """Warnings for ``[[downstream]].weight`` values that change nothing: weighted DRR shares
    a priority level among its queues by weight, so where every queue of a level has the
    same weight a weight other than 1 only scales the quantum."""
    by_level: dict[int, set[float]] = {}
    names: dict[int, set[str]] = {}
    for q in queues:
        by_level.setdefault(int(q.priority), set()).add(float(q.weight))
        names.setdefault(int(q.priority), set()).add(q.name)
    out = []
    for level in sorted(by_level):
        weights = by_level[level]
        if len(weights) == 1 and weights != {1.0}:
            (w,) = weights
            classes = ", ".join(sorted(names[level]))
            out.append(
                f"downstream weight {w:g} ({classes}) has no effect: every queue at priority "
                f"{level} has it, and weights only share a priority level among classes"
            )
    return out


def check_build(scenario: Scenario) -> EmulationSpec:
    """Build everything ``ftth run`` builds for ``scenario``, without emulating.

    The emulation spec (:func:`build_spec`: topology, queues, every traffic source with its
    parameters, load scaling, Alloc-IDs; ``output.plot_dir`` refused) and the DBA
    with its ``[dba.params]``, constructed as the engines construct it.  ``ftth validate``
    calls this, so it accepts exactly what a run accepts.

    Raises
    ------
    InputError
        The first problem, naming its key path and what is allowed.
    """
    spec = build_spec(scenario, validating=True)
    dba_cls = get_dba(spec.dba_name)
    if spec.profile.framed:
        ctx = DbaContext(
            spec.profile,
            spec.us_fec,
            spec.tconts,
            spec.n_onus,
            spec.cycle_frames,
            dbru_in_every_allocation=bool(dba_cls.uses_reports),
        )
    else:  # EPON: one polling window per ONU, REPORT in every window (ftth.emulator.epon)
        ctx = DbaContext(spec.profile, spec.us_fec, spec.tconts, spec.n_onus, 1, True)
    dba_cls(ctx, spec.dba_params)
    return spec


def build_spec(
    scenario: Scenario,
    *,
    record_packets: bool = False,
    probes: Probes | None = None,
    validating: bool = False,
) -> EmulationSpec:
    """Resolve ``scenario`` for the engines (optionally with speed-test ``probes``).

    With activation, faults or late joins the control plane runs here
    (:func:`ftth.emulator.control.control_plan`) and its plan becomes ``spec.control``;
    ``validating`` (:func:`check_build`) skips that simulation.

    Raises
    ------
    InputError
        Faults or activation on EPON, ``output.plot_dir`` (not supported yet), an unknown or
        unsuitable DBA, a
        traffic table the model refuses, more T-CONTs than Alloc-IDs, or a load target
        without a finite source.
    """
    profile = scenario.profile
    if scenario.emulates_control_plane and not profile.framed:
        # The EPON engines do not obey a control plan (ftth.emulator.control) yet.
        raise InputError(
            "faults" if scenario.faults else "activation",
            f"{profile.title} does not emulate activation, late joins (join_at_s) or faults "
            "yet (GPON, XG-PON and XGS-PON do); remove [[faults]], activation.enabled and "
            "join_at_s",
        )
    if scenario.output.plot_dir is not None:
        raise InputError(
            "output.plot_dir", "`ftth run` draws no plots: remove it and use `ftth plan --plot DIR`"
        )
    _check_dba_name(scenario.dba.name or "", profile)
    _check_traffic(scenario)
    onus = scenario.onu_list()
    topo = build_topology(
        profile,
        scenario.tree.feeder_km,
        {onu.id: onu.drop_km for onu in onus},
        scenario.tree.splitters,
        us_to_ps(scenario.teqd_us_effective),
        max_differential_km=scenario.tree.max_differential_km,
    )
    places = {place.onu_id: place for place in topo.places}
    one_way = np.array([places[onu.id].one_way_ps for onu in onus], dtype=np.int64)
    per_onu = scenario.households.per_onu
    default_buffer = scenario.olt.downstream_buffer_bytes
    seed = scenario.seed

    up_queues: list[QueueSpec] = []
    down_queues: list[QueueSpec] = []
    up_plans: list[_SourcePlan] = []
    down_plans: list[_SourcePlan] = []
    cols: dict[str, list[float]] = {
        k: [] for k in ("onu", "type", "fixed", "assured", "max", "prio", "weight")
    }
    for i, onu in enumerate(onus):
        probed = probes is not None and i in probes.onu_indices
        tcs = list(onu.tconts or [])
        classes = list(onu.downstream or [])
        up_probe = (
            probe_position([tc.type for tc in tcs])
            if probed and probes is not None and probes.upstream_bps and tcs
            else -1
        )
        down_probe = (
            max(range(len(classes)), key=lambda c: (classes[c].priority, c))
            if probed and probes is not None and probes.downstream_bps and classes
            else -1
        )
        for pos, tc in enumerate(tcs):
            q = QueueSpec(
                onu_index=i,
                name=tc.name,
                priority=tc.priority,
                buffer_bytes=tc.buffer_bytes,
                tcont_type=tc.type,
                household=i * per_onu,
                probe=pos == up_probe,
            )
            up_queues.append(q)
            cols["onu"].append(i)
            cols["type"].append(tc.type)
            cols["fixed"].append(tc.fixed_bps)
            cols["assured"].append(tc.assured_bps)
            cols["max"].append(tc.max_bps)
            cols["prio"].append(tc.priority)
            cols["weight"].append(tc.weight)
            traffic = tc.traffic
            if q.probe and probes is not None and probes.upstream_bps:
                traffic = _probe_table(probes.upstream_bps, probes.size_bytes)
            if traffic:
                up_plans.append(
                    _SourcePlan(
                        q,
                        traffic,
                        f"tconts[{pos}].traffic",
                        "upstream",
                        onu.id,
                        pos,
                        profile.upstream_bps,
                        seed,
                    )
                )
        for pos, cls in enumerate(classes):
            buffer_bytes = cls.buffer_bytes if cls.buffer_bytes is not None else default_buffer
            q = QueueSpec(
                onu_index=i,
                name=cls.name,
                priority=cls.priority,
                buffer_bytes=buffer_bytes,
                household=i * per_onu,
                weight=cls.weight,
                probe=pos == down_probe,
            )
            down_queues.append(q)
            traffic = cls.traffic
            if q.probe and probes is not None and probes.downstream_bps:
                traffic = _probe_table(probes.downstream_bps, probes.size_bytes)
            if traffic:
                down_plans.append(
                    _SourcePlan(
                        q,
                        traffic,
                        f"downstream[{pos}].traffic",
                        "downstream",
                        onu.id,
                        pos,
                        profile.downstream_bps,
                        seed,
                    )
                )
    n_t = len(up_queues)
    tconts = TcontTable(
        onu_index=np.array(cols["onu"], dtype=np.int64),
        alloc_id=(profile.min_assignable_alloc_id + np.arange(n_t)).astype(np.int64),
        tcont_type=np.array(cols["type"], dtype=np.int64),
        fixed_bps=np.array(cols["fixed"], dtype=float),
        assured_bps=np.array(cols["assured"], dtype=float),
        max_bps=np.array(cols["max"], dtype=float),
        priority=np.array(cols["prio"], dtype=np.int64),
        weight=np.array(cols["weight"], dtype=float),
    )
    if n_t and int(tconts.alloc_id[-1]) > profile.max_alloc_id:
        raise InputError("tconts", f"{n_t} T-CONTs need more Alloc-IDs than {profile.title} has")
    warnings: list[str] = []
    for direction, plans, load in (
        ("upstream", up_plans, scenario.traffic.upstream_load),
        ("downstream", down_plans, scenario.traffic.downstream_load),
    ):
        capacity = scenario.capacity_bps(direction)  # type: ignore[arg-type]
        offered = _attach(plans, load, capacity, f"traffic.{direction}_load")
        if offered > capacity:
            # Allowed (overload studies), but the user should know before reading the results.
            warnings.append(
                f"{direction} offered load {fmt_rate(offered)} is {offered / capacity:.2f}× the"
                f" analytic capacity {fmt_rate(capacity)}: queues will grow and drop"
            )
    warnings += _idle_weights(down_queues)
    duration_ps = s_to_ps(scenario.duration_s)
    tier_down, tier_up = scenario.households.tier_down_bps, scenario.households.tier_up_bps
    shaper_rate = shaper_depth = None
    if tier_down and scenario.olt.shaping:
        rate = int(round(tier_down)) * per_onu
        depth = max(2 * 1518 * per_onu, int(rate * scenario.olt.shaper_burst_ms / 8000))
        shaper_rate = np.full(len(onus), rate, dtype=np.int64)
        shaper_depth = np.full(len(onus), depth, dtype=np.int64)
    spec = EmulationSpec(
        name=scenario.name,
        profile=profile,
        us_fec=profile.fec("upstream", scenario.fec.upstream),
        ds_fec=profile.fec("downstream", scenario.fec.downstream),
        duration_ps=duration_ps,
        warmup_ps=s_to_ps(scenario.warmup_s_effective),
        seed=seed,
        onu_ids=[onu.id for onu in onus],
        one_way_ps=one_way,
        distance_km=[scenario.distance_km(onu) for onu in onus],
        teqd_ps=topo.teqd_ps,
        tconts=tconts,
        upstream=up_queues,
        downstream=down_queues,
        dba_name=scenario.dba.name or "proportional",
        dba_params=dict(scenario.dba.params),
        cycle_frames=scenario.dba.cycle_frames,
        report_latency_frames=scenario.dba.report_latency_frames,
        dbru_every_frames=scenario.dba.dbru_every_frames,
        window_ps=scenario.traffic.window_ms * PS_PER_MS,
        split_ratio=topo.split_ratio,
        tier_down_bps=tier_down,
        tier_up_bps=tier_up,
        households_per_onu=per_onu,
        pass_ratio=scenario.households.pass_ratio,
        record_packets=record_packets,
        warnings=warnings,
        shaper_rate_bps=shaper_rate,
        shaper_depth_bytes=shaper_depth,
        trace_csv=str(scenario.output.trace_csv) if scenario.output.trace_csv is not None else None,
    )
    if scenario.emulates_control_plane and not validating:
        # Activation, faults, late joins: the control plane runs first; the engines obey
        # its plan (ftth.emulator.dataplane).
        spec.control = control_plan(scenario, spec.n_frames, seed)
    return spec
