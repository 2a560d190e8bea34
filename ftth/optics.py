"""Optical power budget: does every ONU's path loss fit the optics' class window?

An optical budget class (GPON B+, C+; XG(S)-PON N1, N2, E1, E2) is a *window* of optical path
loss between OLT and ONU, e.g. B+ = 13..28 dB (pon-reference §3).  The transmitters and
receivers of that class are guaranteed to work anywhere inside it:

* above the maximum, too little light reaches the receiver ("over budget");
* below the minimum, too much light overloads it ("overload": the cure is an attenuator).

The loss of one ONU's path, in each direction, is the sum of

* fibre: length × attenuation at that direction's wavelength (1310 nm GPON upstream loses more
  per km than 1490 nm downstream; 1270 nm XG(S)-PON upstream more still);
* every splitter stage on the path (a 1:4 then a 1:8 stage lose more than one 1:32);
* connectors and fusion splices.

A planner keeps a safety margin (default 3 dB, for ageing, repairs and temperature), so an ONU
passes when ``class_min ≤ loss`` and ``loss + margin ≤ class_max`` in both directions.  All
constants come from :mod:`ftth.phy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from ftth.errors import InputError
from ftth.phy import (
    CONNECTOR_LOSS_DB,
    DEFAULT_MARGIN_DB,
    SPLICE_LOSS_DB,
    SPLITTER_LOSS_DB,
    Direction,
    Profile,
)
from ftth.topology import Topology, split_ratio
from ftth.units import PS_PER_US

Verdict = Literal["PASS", "overload", "over budget"]
PASS: Final = "PASS"
OVERLOAD: Final = "overload"
OVER_BUDGET: Final = "over budget"

#: Losses are rounded to 1e-6 dB.  Budgets are quoted to 0.1 dB; the rounding only removes
#: float noise (20 × 0.35 = 7.000000000000001) so a loss exactly at a limit is judged as such.
_LOSS_DECIMALS: Final = 6


def optical_window_db(
    profile: Profile, optical_class: str | None = None, where: str = "tree.optical_class"
) -> tuple[str, float, float]:
    """The class name and its (minimum, maximum) path loss in dB.

    Parameters
    ----------
    profile
        Technology profile holding the classes it supports.
    optical_class
        Class name (``"B+"``, ``"N1"`` ...); ``None`` takes the profile's default class.
    where
        Key path named in the error message.

    Raises
    ------
    InputError
        If the class is not defined for the technology.
    """
    name = profile.default_optical_class if optical_class is None else optical_class
    try:
        low_db, high_db = profile.optical_classes[name]
    except KeyError:
        valid = ", ".join(profile.optical_classes)
        raise InputError(
            where, f"{profile.title} has no optical class {name!r}; valid: {valid}"
        ) from None
    return name, low_db, high_db


def _pick(typical_max_db: tuple[float, float], worst_case: bool) -> float:
    return typical_max_db[1] if worst_case else typical_max_db[0]


def splitter_loss_db(splitters: Sequence[int], worst_case: bool = True) -> float:
    """Insertion loss of cascaded splitter stages: the sum of each stage's loss.

    ``worst_case`` takes the maximum loss of each stage (planning), else the typical loss.
    """
    split_ratio(splitters)  # validates every stage
    return sum(_pick(SPLITTER_LOSS_DB[stage], worst_case) for stage in splitters)


def fibre_loss_db(profile: Profile, distance_km: float, direction: Direction) -> float:
    """Fibre attenuation over ``distance_km`` at the wavelength of ``direction``."""
    if direction == "downstream":
        return distance_km * profile.ds_attenuation_db_per_km
    return distance_km * profile.us_attenuation_db_per_km


def path_loss_db(
    profile: Profile,
    distance_km: float,
    direction: Direction,
    splitters: Sequence[int],
    connectors: int,
    splices: int,
    worst_case: bool = True,
) -> float:
    """Optical path loss OLT ↔ ONU in one direction (dB, rounded to 1e-6 dB).

    Parameters
    ----------
    profile
        Technology profile (fibre attenuation per wavelength).
    distance_km
        Fibre length OLT → ONU.
    direction
        ``"downstream"`` or ``"upstream"``: selects the wavelength's attenuation.
    splitters
        Splitter stages on the path.
    connectors, splices
        Counts along the whole path.
    worst_case
        Maximum (``True``, planning) or typical component losses.
    """
    loss_db = (
        fibre_loss_db(profile, distance_km, direction)
        + splitter_loss_db(splitters, worst_case)
        + connectors * _pick(CONNECTOR_LOSS_DB, worst_case)
        + splices * _pick(SPLICE_LOSS_DB, worst_case)
    )
    return round(loss_db, _LOSS_DECIMALS)


def judge(
    loss_down_db: float,
    loss_up_db: float,
    class_min_db: float,
    class_max_db: float,
    margin_db: float = DEFAULT_MARGIN_DB,
) -> Verdict:
    """Verdict for one ONU: both directions must satisfy ``min ≤ loss`` and ``loss + margin ≤ max``.

    "over budget" wins over "overload" if (absurdly) one direction is each: a receiver
    starved of light cannot be fixed by an attenuator.
    """
    if round(max(loss_down_db, loss_up_db) + margin_db, _LOSS_DECIMALS) > class_max_db:
        return OVER_BUDGET
    if min(loss_down_db, loss_up_db) < class_min_db:
        return OVERLOAD
    return PASS


@dataclass(frozen=True)
class OnuBudget:
    """Timing and optical budget of one ONU.

    Attributes
    ----------
    onu_id
        ONU identifier.
    distance_km
        Fibre length OLT → ONU.
    rtt_ps, eqd_ps
        Round-trip time and equalisation delay (see :mod:`ftth.topology`).
    loss_down_db, loss_up_db
        Path loss at the downstream and upstream wavelengths.
    margin_db
        Headroom ``class_max − loss`` in the worse direction; the ONU passes only if it is at
        least the planner's required margin (and the loss is above the class minimum).
    verdict
        ``"PASS"``, ``"overload"`` (loss below the class minimum: add an attenuator) or
        ``"over budget"`` (loss + margin above the class maximum).
    """

    onu_id: int
    distance_km: float
    rtt_ps: int
    eqd_ps: int
    loss_down_db: float
    loss_up_db: float
    margin_db: float
    verdict: Verdict

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, units in the key names."""
        return {
            "onu_id": self.onu_id,
            "distance_km": self.distance_km,
            "rtt_us": self.rtt_ps / PS_PER_US,
            "eqd_us": self.eqd_ps / PS_PER_US,
            "loss_down_db": self.loss_down_db,
            "loss_up_db": self.loss_up_db,
            "margin_db": self.margin_db,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class BudgetReport:
    """The optical budget of a whole tree: class window, settings and one row per ONU."""

    technology: str
    optical_class: str
    class_min_db: float
    class_max_db: float
    required_margin_db: float
    worst_case: bool
    split_ratio: int
    splitters: tuple[int, ...]
    connectors: int
    splices: int
    teqd_ps: int
    differential_km: float
    onus: tuple[OnuBudget, ...]

    @property
    def passed(self) -> bool:
        """True when every ONU passes."""
        return all(onu.passed for onu in self.onus)

    @property
    def failures(self) -> tuple[OnuBudget, ...]:
        return tuple(onu for onu in self.onus if not onu.passed)

    @property
    def tightest(self) -> OnuBudget:
        """The ONU with the least headroom (lowest ID on a tie)."""
        return min(self.onus, key=lambda onu: (onu.margin_db, onu.onu_id))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report, units in the key names."""
        return {
            "technology": self.technology,
            "optical_class": self.optical_class,
            "class_min_db": self.class_min_db,
            "class_max_db": self.class_max_db,
            "required_margin_db": self.required_margin_db,
            "worst_case": self.worst_case,
            "split_ratio": self.split_ratio,
            "splitters": list(self.splitters),
            "connectors": self.connectors,
            "splices": self.splices,
            "teqd_us": self.teqd_ps / PS_PER_US,
            "differential_km": self.differential_km,
            "pass": self.passed,
            "failures": len(self.failures),
            "onus": [onu.as_dict() for onu in self.onus],
        }


def budget_report(
    topology: Topology,
    *,
    connectors: int,
    splices: int,
    optical_class: str | None = None,
    margin_db: float = DEFAULT_MARGIN_DB,
    worst_case: bool = True,
) -> BudgetReport:
    """Optical budget of every ONU of ``topology`` against an optical class window.

    Parameters
    ----------
    topology
        The ranged tree (:func:`ftth.topology.build_topology`); its splitter stages are on
        every ONU's path.
    connectors, splices
        Connector and fusion-splice counts on each OLT → ONU path.
    optical_class
        Class name; ``None`` takes the technology's default (B+ for GPON, N1 for XG(S)-PON).
    margin_db
        Planner's safety margin required below the class maximum.
    worst_case
        Maximum component losses (planning default) or typical ones.

    Returns
    -------
    BudgetReport
        One :class:`OnuBudget` per ONU, in ONU-ID order.
    """
    profile = topology.profile
    name, low_db, high_db = optical_window_db(profile, optical_class)
    if connectors < 0:
        raise InputError("tree.connectors", f"must be ≥ 0, got {connectors}")
    if splices < 0:
        raise InputError("tree.splices", f"must be ≥ 0, got {splices}")
    if margin_db < 0:
        raise InputError("tree.margin_db", f"must be ≥ 0 dB, got {margin_db}")
    rows = []
    for place in topology.places:
        down, up = (
            path_loss_db(
                profile,
                place.distance_km,
                direction,
                topology.splitters,
                connectors,
                splices,
                worst_case,
            )
            for direction in ("downstream", "upstream")
        )
        rows.append(
            OnuBudget(
                onu_id=place.onu_id,
                distance_km=place.distance_km,
                rtt_ps=place.rtt_ps,
                eqd_ps=place.eqd_ps,
                loss_down_db=down,
                loss_up_db=up,
                margin_db=round(high_db - max(down, up), _LOSS_DECIMALS),
                verdict=judge(down, up, low_db, high_db, margin_db),
            )
        )
    return BudgetReport(
        technology=profile.name,
        optical_class=name,
        class_min_db=low_db,
        class_max_db=high_db,
        required_margin_db=margin_db,
        worst_case=worst_case,
        split_ratio=topology.split_ratio,
        splitters=topology.splitters,
        connectors=connectors,
        splices=splices,
        teqd_ps=topology.teqd_ps,
        differential_km=topology.differential_km,
        onus=tuple(rows),
    )
