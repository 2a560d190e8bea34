"""Cross-key rules of a scenario: what depends on the technology profile or on several keys.

Split and ONU count, ONU-IDs, reach and differential distance, T-CONT type rules, line
rates, load targets, tiers, Teqd, faults and admission control.  Each rule raises one
:class:`~ftth.errors.InputError` naming the key path and the allowed range; they run in
file order from ``Scenario``'s after-validator, once the profile-dependent defaults are
filled in (:meth:`ftth.scenario.models.Scenario._resolve_defaults`).

The rules read the models but never build anything: the DBA name and parameters and the
traffic models' parameters are checked one layer up, by
:func:`ftth.emulator.build.check_build`, which both ``ftth validate`` and ``ftth run`` use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftth.errors import InputError
from ftth.phy import Profile, fmt_rate
from ftth.scenario.limits import MAX_LOGICAL_REACH_KM
from ftth.scenario.text import fmt_num, id_ranges, km
from ftth.topology import rtt_ps, split_ratio
from ftth.units import PS_PER_US

if TYPE_CHECKING:
    from ftth.scenario.models import (
        DownstreamClass,
        Fault,
        Fec,
        Households,
        Onu,
        Scenario,
        TCont,
        Tree,
    )


def check_scenario(sc: Scenario) -> None:
    """Profile-dependent and cross-key checks, in file order.

    Raises
    ------
    InputError
        The first rule broken, naming its key path and what is allowed.
    """
    profile = sc.profile
    _check_timing(sc)
    _check_fec(sc.fec, profile)
    _check_tree(sc.tree, profile)

    onus = _check_onus(sc, profile)
    _check_tconts(sc.tconts or [], "tconts", profile)
    _check_downstream(sc.downstream or [], "downstream", profile)
    for index, onu in enumerate(onus):
        if onu.tconts is not None:
            _check_tconts(onu.tconts, f"onus[{index}].tconts", profile)
        if onu.downstream is not None:
            _check_downstream(onu.downstream, f"onus[{index}].downstream", profile)

    _check_load(sc)
    _check_households(sc.households, profile)
    _check_olt(sc, profile)
    _check_faults(sc, onus)
    _check_admission(sc, profile)


def _check_timing(sc: Scenario) -> None:
    if sc.warmup_s is not None and sc.warmup_s >= sc.duration_s:
        raise InputError(
            "warmup_s",
            f"must be ≥ 0 and < duration_s ({fmt_num(sc.duration_s)} s), "
            f"got {fmt_num(sc.warmup_s)}",
        )


def _check_fec(fec: Fec, profile: Profile) -> None:
    if fec.downstream is False and profile.ds_fec_mandatory:
        raise InputError(
            "fec.downstream", f"{profile.title} downstream FEC is mandatory; it cannot be false"
        )
    if fec.downstream is True and profile.ds_fec is None:
        raise InputError("fec.downstream", f"{profile.title} has no downstream FEC code")
    if fec.upstream is True and profile.us_fec is None:
        raise InputError("fec.upstream", f"{profile.title} has no upstream FEC code")


def _check_tree(tree: Tree, profile: Profile) -> None:
    if tree.optical_class is not None and tree.optical_class not in profile.optical_classes:
        raise InputError(
            "tree.optical_class",
            f"unknown {profile.title} optical class {tree.optical_class!r}; "
            f"valid: {', '.join(profile.optical_classes)}",
        )
    ratio = split_ratio(tree.splitters, "tree.splitters")
    if ratio > profile.max_split:
        stages = " × ".join(str(s) for s in tree.splitters)
        raise InputError(
            "tree.splitters",
            f"split 1:{ratio} ({stages}) is above the {profile.title} maximum "
            f"1:{profile.max_split}",
        )
    if tree.max_differential_km > profile.max_differential_km:
        raise InputError(
            "tree.max_differential_km",
            f"{profile.title} supports at most {fmt_num(profile.max_differential_km)} km, "
            f"got {fmt_num(tree.max_differential_km)}",
        )


def _check_onus(sc: Scenario, profile: Profile) -> list[Onu]:
    """ONU count, ids, reach and differential distance; returns the explicit ONUs."""
    tree = sc.tree
    compact = sc.onus_compact
    outputs = tree.split_ratio
    if sc.n_onus > outputs:
        # Checked before expanding the compact form: the count decides how many ONUs exist.
        raise InputError(
            "onus.count" if compact else "onus",
            f"{sc.n_onus} ONUs but the splitters {tree.splitters} give only {outputs} "
            f"outputs (1:{outputs})",
        )
    onus = sc.explicit_onus()

    def where(index: int, key: str) -> str:
        # The compact form has one key for all ONUs; the array form names the entry.
        if compact:
            return {"id": "onus.first_id", "drop_km": "onus.drop_km"}[key]
        return f"onus[{index}].{key}"

    reach_km = sc.reach_km_effective
    reach_source = (
        "tree.reach_km"
        if tree.reach_km is not None
        else f"{profile.title} physical reach; tree.reach_km ≤ {km(MAX_LOGICAL_REACH_KM)} "
        "for a reach-extended design"
    )
    seen: dict[int, int] = {}
    for index, onu in enumerate(onus):
        if onu.id > profile.max_onu_id:
            raise InputError(
                where(index, "id"),
                f"{profile.title} ONU-ID must be in 0..{profile.max_onu_id}, got {fmt_num(onu.id)}"
                + (f" (ONU {index + 1} of {len(onus)})" if compact else ""),
            )
        if onu.id in seen:
            raise InputError(
                where(index, "id"),
                f"duplicate ONU-ID {fmt_num(onu.id)} (also onus[{seen[onu.id]}].id)",
            )
        seen[onu.id] = index

    for index, onu in enumerate(onus):
        distance = sc.distance_km(onu)
        if distance > reach_km:
            raise InputError(
                where(index, "drop_km"),
                f"ONU {onu.id} is {km(tree.feeder_km)} + {km(onu.drop_km)} = "
                f"{km(distance)} km from the OLT, beyond the reach of {km(reach_km)} km "
                f"({reach_source})",
            )

    near = min(range(len(onus)), key=lambda i: onus[i].drop_km)
    far = max(range(len(onus)), key=lambda i: onus[i].drop_km)
    differential = onus[far].drop_km - onus[near].drop_km
    if differential > tree.max_differential_km:
        hint = ""
        if tree.max_differential_km < profile.max_differential_km:
            hint = (
                f" (set tree.max_differential_km = {fmt_num(profile.max_differential_km)} "
                "if the OLT ranges that far)"
            )
        raise InputError(
            where(far, "drop_km"),
            f"differential distance {km(differential)} km (ONU {onus[far].id} at "
            f"{km(sc.distance_km(onus[far]))} km − ONU {onus[near].id} at "
            f"{km(sc.distance_km(onus[near]))} km) is above tree.max_differential_km "
            f"= {fmt_num(tree.max_differential_km)} km{hint}",
        )
    return onus


def _check_tconts(tconts: list[TCont], where: str, profile: Profile) -> None:
    line_bps = profile.upstream_bps
    names: dict[str, int] = {}
    for index, tc in enumerate(tconts):
        path = f"{where}[{index}]"
        if tc.name in names:
            raise InputError(
                f"{path}.name",
                f"duplicate T-CONT name {tc.name!r} (also {where}[{names[tc.name]}])",
            )
        names[tc.name] = index
        for key in ("fixed_bps", "assured_bps", "max_bps"):
            _check_line_rate(f"{path}.{key}", getattr(tc, key), line_bps, profile, "upstream")
        _check_tcont_type(tc, path)
        if tc.traffic is not None:
            _check_traffic_rates(tc.traffic, f"{path}.traffic", line_bps, profile, "upstream")


def _check_tcont_type(tc: TCont, path: str) -> None:
    """T-CONT type rules (G.983.4 lineage, pon-reference §5)."""
    fixed, assured, maximum = tc.fixed_bps, tc.assured_bps, tc.max_bps

    def fail(key: str, why: str) -> None:
        raise InputError(f"{path}.{key}", f"type {tc.type} T-CONT {why}")

    if tc.type == 1:
        if fixed <= 0:
            fail("fixed_bps", "needs fixed_bps > 0")
        if assured:
            fail("assured_bps", "has fixed bandwidth only: assured_bps must be 0")
        if maximum:
            fail("max_bps", "has fixed bandwidth only: max_bps must be 0")
    elif tc.type == 2:
        if assured <= 0:
            fail("assured_bps", "needs assured_bps > 0")
        if fixed:
            fail("fixed_bps", "has assured bandwidth only: fixed_bps must be 0")
        if maximum and maximum != assured:
            fail("max_bps", "has no non-assured part: max_bps must be 0 or equal to assured_bps")
    elif tc.type == 3:
        if assured <= 0:
            fail("assured_bps", "needs assured_bps > 0")
        if fixed:
            fail("fixed_bps", "has no fixed bandwidth: fixed_bps must be 0")
        if maximum < assured:
            fail(
                "max_bps",
                f"needs max_bps ≥ assured_bps ({fmt_num(assured)}), got {fmt_num(maximum)}",
            )
    elif tc.type == 4:
        if maximum <= 0:
            fail("max_bps", "needs max_bps > 0")
        if fixed:
            fail("fixed_bps", "is best effort: fixed_bps must be 0")
        if assured:
            fail("assured_bps", "is best effort: assured_bps must be 0")
    else:  # type 5
        if maximum <= 0 or maximum < fixed + assured:
            fail(
                "max_bps",
                f"needs max_bps > 0 and ≥ fixed_bps + assured_bps ({fmt_num(fixed + assured)}), "
                f"got {fmt_num(maximum)}",
            )


def _check_downstream(classes: list[DownstreamClass], where: str, profile: Profile) -> None:
    names: dict[str, int] = {}
    for index, cls in enumerate(classes):
        path = f"{where}[{index}]"
        if cls.name in names:
            raise InputError(
                f"{path}.name",
                f"duplicate class name {cls.name!r} (also {where}[{names[cls.name]}])",
            )
        names[cls.name] = index
        if cls.traffic is not None:
            _check_traffic_rates(
                cls.traffic, f"{path}.traffic", profile.downstream_bps, profile, "downstream"
            )


def _check_line_rate(
    where: str, rate_bps: float, line_bps: float, profile: Profile, direction: str
) -> None:
    if rate_bps > line_bps:
        shown = fmt_rate(rate_bps) if rate_bps < 1e300 else fmt_num(rate_bps)
        raise InputError(
            where,
            f"{shown} is above the {profile.title} {direction} line rate "
            f"{fmt_rate(line_bps)} (tier above line rate); must be ≤ {fmt_num(line_bps)}",
        )


def _check_traffic_rates(
    table: dict[str, Any], where: str, line_bps: float, profile: Profile, direction: str
) -> None:
    """Every ``*_bps`` parameter of a traffic table ≤ the line rate of its direction.

    The model's own parameter checks (names, types, ranges) need the traffic layer and run
    in :func:`ftth.emulator.build.check_build`.
    """
    for key, value in table.items():
        if key.endswith("_bps") and isinstance(value, int | float) and not isinstance(value, bool):
            _check_line_rate(f"{where}.{key}", value, line_bps, profile, direction)


def _check_load(sc: Scenario) -> None:
    # A load target scales sources; with none in that direction it would silently do nothing.
    onus = sc.onu_list()
    if sc.traffic.upstream_load is not None and not any(
        tc.traffic for onu in onus for tc in onu.tconts or []
    ):
        raise InputError("traffic.upstream_load", "no T-CONT has a traffic source to scale")
    if sc.traffic.downstream_load is not None and not any(
        cls.traffic for onu in onus for cls in onu.downstream or []
    ):
        raise InputError(
            "traffic.downstream_load", "no downstream class has a traffic source to scale"
        )


def _check_households(households: Households, profile: Profile) -> None:
    down_bps, up_bps = households.tier_down_bps, households.tier_up_bps
    if down_bps is None or up_bps is None:
        return
    for rate_bps, line_bps, direction in (
        (down_bps, profile.downstream_bps, "downstream"),
        (up_bps, profile.upstream_bps, "upstream"),
    ):
        if rate_bps > line_bps:
            raise InputError(
                "households.tier",
                f"{direction} {fmt_rate(rate_bps)} is above the {profile.title} {direction} "
                f"line rate {fmt_rate(line_bps)} (tier above line rate)",
            )


def _check_olt(sc: Scenario, profile: Profile) -> None:
    if sc.olt.teqd_us is None:
        return
    onus = sc.onu_list()
    far = max(onus, key=lambda onu: onu.drop_km)
    far_rtt_us = rtt_ps(sc.distance_km(far)) / PS_PER_US
    if sc.olt.teqd_us < far_rtt_us:
        # EqD = Teqd − RTT cannot be negative (G.984.3 §10.4.2).
        raise InputError(
            "olt.teqd_us",
            f"must be ≥ the RTT of the farthest ONU ({far.id} at "
            f"{km(sc.distance_km(far))} km: {fmt_num(far_rtt_us)} µs), "
            f"got {fmt_num(sc.olt.teqd_us)}",
        )


def _check_faults(sc: Scenario, onus: list[Onu]) -> None:
    """Each fault's keys, then the timeline: nothing contradicts what is already in force.

    The timeline is replayed in time order (file order on a tie): a cut of a fibre already
    cut, a restore of a fibre that is not cut, switching off an ONU that is off (or on one
    that is on), a rogue ONU that is off, not yet joined or already rogue, and two faults on
    the same fibre or ONU at the same instant are refused.
    """
    from ftth.scenario.branches import branch_name, onu_ports

    emulated = sc.activation.enabled or sc.faults or any(o.join_at_s > 0 for o in onus)
    for index, onu in enumerate(onus):
        if onu.join_at_s >= sc.duration_s:
            # The compact form has one key for all ONUs: name it, and the value written.
            raise InputError(
                "onus.join_at_s" if sc.onus_compact else f"onus[{index}].join_at_s",
                f"must be < duration_s ({fmt_num(sc.duration_s)} s), got {fmt_num(onu.join_at_s)}",
            )
    if emulated and not sc.profile.framed:
        what = "[[faults]]" if sc.faults else "activation / join_at_s"
        raise InputError(
            "faults" if sc.faults else "activation",
            f"{what} are emulated for the ITU profiles (GPON, XG-PON, XGS-PON); "
            f"{sc.profile.title} discovery (MPCP) is not modelled",
        )
    if not sc.faults:
        return
    for index, fault in enumerate(sc.faults):
        if fault.at_s >= sc.duration_s:
            raise InputError(
                f"faults[{index}].at_s",
                f"must be ≥ 0 and < duration_s ({fmt_num(sc.duration_s)} s), "
                f"got {fmt_num(fault.at_s)}",
            )
    by_id = {onu.id: position for position, onu in enumerate(onus)}
    ports = onu_ports(len(onus), sc.tree.splitters)
    targets = [
        _fault_target(sc, fault, f"faults[{index}]", by_id, ports)
        for index, fault in enumerate(sc.faults)
    ]

    order = sorted(range(len(sc.faults)), key=lambda i: (sc.faults[i].at_s, i))
    cut: dict[tuple[int, ...], int] = {}
    off: set[int] = set()
    rogue: dict[int, int] = {}
    seen_at: dict[tuple[float, str, object], int] = {}
    for i in order:
        fault = sc.faults[i]
        kind, target = fault.kind, targets[i]
        path = f"faults[{i}]"
        family = "onu" if kind in ("onu-power", "rogue-onu") else "fibre"
        key = (fault.at_s, family, target)
        if key in seen_at:
            j = seen_at[key]
            raise InputError(
                path,
                f"contradicts faults[{j}]: both hit the same "
                f"{'ONU' if family == 'onu' else 'fibre'} at {fmt_num(fault.at_s)} s",
            )
        seen_at[key] = i
        if kind == "fibre-cut":
            assert isinstance(target, tuple)
            if target in cut:
                raise InputError(
                    path,
                    f"fibre {branch_name(target)!r} is already cut since faults[{cut[target]}] "
                    "(restore it first)",
                )
            cut[target] = i
        elif kind == "restore":
            assert isinstance(target, tuple)
            if target not in cut:
                raise InputError(
                    path,
                    f"restore without a cut: fibre {branch_name(target)!r} is not cut at "
                    f"{fmt_num(fault.at_s)} s",
                )
            del cut[target]
        elif kind == "onu-power":
            assert isinstance(target, int)
            joins = onus[by_id[target]].join_at_s
            if fault.at_s < joins:
                raise InputError(
                    path, f"ONU {target} joins at {fmt_num(joins)} s (onus[].join_at_s)"
                )
            if fault.power == "off":
                if target in off:
                    raise InputError(
                        path, f"ONU {target} is already off at {fmt_num(fault.at_s)} s"
                    )
                off.add(target)
            else:
                if target not in off:
                    raise InputError(path, f"ONU {target} is already on at {fmt_num(fault.at_s)} s")
                off.discard(target)
        elif kind == "rogue-onu":
            assert isinstance(target, int)
            if target in off or fault.at_s < onus[by_id[target]].join_at_s:
                raise InputError(
                    path, f"ONU {target} is off (or not yet joined) at {fmt_num(fault.at_s)} s"
                )
            if target in rogue:
                raise InputError(
                    path, f"ONU {target} is already rogue since faults[{rogue[target]}]"
                )
            rogue[target] = i


def _fault_target(
    sc: Scenario,
    fault: Fault,
    path: str,
    by_id: dict[int, int],
    ports: list[tuple[int, ...]],
) -> tuple[int, ...] | int:
    """The ONU-ID (onu-power, rogue-onu) or the fibre (the others) a fault hits."""
    from ftth.scenario.branches import parse_branch

    kind = fault.kind
    if fault.onu is not None and fault.onu not in by_id:
        raise InputError(
            f"{path}.onu", f"no ONU with id {fmt_num(fault.onu)}; ids are {id_ranges(set(by_id))}"
        )
    if kind != "onu-power" and fault.power is not None:
        raise InputError(f"{path}.power", f'only for kind "onu-power", not {kind!r}')
    if kind != "splitter-loss" and fault.extra_db is not None:
        raise InputError(f"{path}.extra_db", f'only for kind "splitter-loss", not {kind!r}')
    if kind in ("onu-power", "rogue-onu"):
        if fault.branch is not None:
            raise InputError(f"{path}.branch", f"kind {kind!r} hits an ONU: use onu, not branch")
        if fault.onu is None:
            raise InputError(f"{path}.onu", f"kind {kind!r} needs the ONU-ID the fault hits")
        if kind == "onu-power" and fault.power is None:
            raise InputError(f"{path}.power", 'kind "onu-power" needs power = "off" or "on"')
        return fault.onu
    if fault.branch is not None and fault.onu is not None:
        raise InputError(
            f"{path}.branch", "name the fibre once: branch or onu (its drop), not both"
        )
    if kind == "splitter-loss" and fault.extra_db is None:
        raise InputError(f"{path}.extra_db", 'kind "splitter-loss" needs extra_db (dB)')
    if fault.onu is not None:
        return ports[by_id[fault.onu]]
    if fault.branch is None:
        return ()
    return parse_branch(fault.branch, sc.tree.splitters, f"{path}.branch")


def _check_admission(sc: Scenario, profile: Profile) -> None:
    # Admission control (pon-reference §5): Σ R_F + Σ R_A ≤ usable upstream capacity.
    onus = sc.onu_list()
    reserved_bps = sum(tc.guaranteed_bps for onu in onus for tc in onu.tconts or [])
    capacity_bps = sc.capacity_bps("upstream")
    if reserved_bps > capacity_bps:
        raise InputError(
            "tconts",
            f"Σ fixed_bps + assured_bps over {len(onus)} ONUs is {reserved_bps / 1e6:.2f} Mb/s, "
            f"above the {profile.title} upstream capacity {capacity_bps / 1e6:.2f} Mb/s "
            "(admission control: must be ≤ capacity)",
        )
