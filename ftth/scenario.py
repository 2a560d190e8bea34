"""Scenario files: the pydantic models of a TOML scenario and the loader.

A scenario is plain data: technology, fibre tree, ONUs, T-CONTs, downstream classes,
traffic, households and their tiers, DBA, faults and outputs.  Every default lives here
(one source of truth, style.md), every model rejects unknown keys, and every problem the
user can make surfaces as **one** :class:`~ftth.errors.InputError` naming the key path
(``tree.splitters[1]``, ``onus[3].id``, ``tconts[0].traffic.alpha_on``) and the allowed range.

Validation runs in two passes:

1. pydantic checks structure, types and static ranges (``Field(ge=…, le=…)``).  The first
   error is translated by :func:`_translate_validation_error` (unknown keys get a
   "did you mean" suggestion, literals list the valid values, ranges are spelt out).
2. ``Scenario``'s after-validator checks everything that depends on the technology profile
   or on several keys at once (split, ONU-IDs, reach, differential distance, T-CONT type
   rules, line rates, traffic parameters, admission control, DBA name, faults) and fills in
   the defaults that depend on them (optical class, default T-CONT and downstream class,
   downstream buffers, DBA name), so the engine reads concrete values.

The public entry points are :func:`load_scenario`, :func:`scenario_from_dict`,
:func:`apply_overrides` and :func:`default_scenario_path`.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import tomllib
import types
from collections.abc import Callable, Sequence
from importlib import import_module, resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from ftth.engines import FAST, Engine
from ftth.errors import InputError
from ftth.phy import (
    DEFAULT_MARGIN_DB,
    PROFILES,
    Direction,
    Profile,
    fmt_rate,
    get_profile,
    saturation_goodput_bps,
)
from ftth.topology import Topology, build_topology, rtt_ps, split_ratio
from ftth.units import PS_PER_US

#: File name of the embedded default scenario (in ``seeds/``, shipped as ``ftth/seeds``).
DEFAULT_SCENARIO_NAME = "urban-2020-100mbps.toml"
#: Longest run a scenario may ask for (an hour of simulated time is already far beyond a
#: busy-hour sample; longer runs belong in a sweep of shorter ones).
MAX_DURATION_S = 3600.0
#: Warm-up used when ``warmup_s`` is absent: duration / 10, i.e. 10 % (architecture.md).
#: A divisor, not 0.1 × duration, so 0.2 s gives exactly 0.02 s.
DEFAULT_WARMUP_DIVISOR = 10
#: DBA used when ``[dba] name`` is absent: the reference DBA order of pon-reference §5 for
#: the framed ITU profiles, interleaved polling for EPON (which has no BWmap).
DEFAULT_DBA_FRAMED = "proportional"
DEFAULT_DBA_POLLED = "ipact"
#: Logical reach: the farthest an OLT can range an ONU (G.984.1 §8.2 / G.987.1: 60 km), for
#: reach-extended designs.  Without ``tree.reach_km`` the profile's physical reach applies.
MAX_LOGICAL_REACH_KM = 60.0
#: Differential distances the standards define ranging windows for (pon-reference §3, §4).
DIFFERENTIAL_KM_CHOICES = (20.0, 40.0)

#: A path written as a TOML string (strict mode would demand a ``Path`` object).
LaxPath = Annotated[Path, Field(strict=False)]
FaultKind = Literal["onu-down", "onu-up", "rogue-onu", "fibre-cut"]

# Tags of the two forms of `onus`; pydantic puts them in error locations, the translator
# drops them so users see `onus.count` / `onus[3].id`.
_ONUS_TABLE_TAG = "onus-table"
_ONUS_ARRAY_TAG = "onus-array"
_UNION_TAGS = {_ONUS_TABLE_TAG, _ONUS_ARRAY_TAG}


def _section(model: Callable[[], Any], table: str) -> Any:
    """A sub-table whose keys all have defaults: ``[table]`` may be left out entirely."""
    return Field(
        default_factory=model,
        description=f"See [{table}].",
        json_schema_extra=_extra(default_doc="{}"),
    )


def _extra(*, allowed: str | None = None, default_doc: str | None = None) -> dict[str, Any]:
    """Documentation beyond ``Field(ge=…, le=…)`` for ``scripts/gen_scenario_docs.py``.

    ``allowed`` states a constraint checked against the profile or other keys;
    ``default_doc`` explains a default that is resolved at validation time.
    """
    extra: dict[str, Any] = {}
    if allowed is not None:
        extra["allowed"] = allowed
    if default_doc is not None:
        extra["default_doc"] = default_doc
    return extra


class _Model(BaseModel):
    """Base of every scenario model: unknown keys are an error, not silently ignored.

    Strict types: TOML values are already typed, so ``count = true`` or ``type = 2.5`` is a
    mistake to report, not to coerce (an integer is still accepted for a float).
    """

    model_config = ConfigDict(extra="forbid", strict=True)


# ======================================================================== sections
class Fec(_Model):
    """``[fec]``: forward error correction per direction."""

    upstream: bool | None = Field(
        default=None,
        description="Upstream FEC on/off.",
        json_schema_extra=_extra(
            default_doc="profile default (see Profile limits)",
            allowed="true/false; true needs a profile with an upstream code",
        ),
    )
    downstream: bool | None = Field(
        default=None,
        description="Downstream FEC on/off.",
        json_schema_extra=_extra(
            default_doc="profile default (see Profile limits)",
            allowed="false refused where it is mandatory (XG-PON, XGS-PON, 10G-EPON)",
        ),
    )


class Tree(_Model):
    """``[tree]``: the optical distribution network from the OLT to the splitter outputs."""

    optical_class: str | None = Field(
        default=None,
        description="Optical budget class the design must fit (path loss + margin in its window).",
        json_schema_extra=_extra(
            default_doc="profile default (B+ GPON, N1 XG/XGS-PON, PX20 / PR30 EPON)",
            allowed="a class of the technology (see the profile table)",
        ),
    )
    feeder_km: float = Field(
        default=0.0,
        ge=0.0,
        description="Feeder fibre from the OLT to the first splitter, shared by every ONU.",
    )
    splitters: list[int] = Field(
        ...,
        min_length=1,
        description="Cascaded splitter stages, OLT side first: [4, 16] is 1:4 then 1:16 (1:64).",
        json_schema_extra=_extra(
            allowed="each a power of 2 in 2..256; product ≤ profile max_split"
        ),
    )
    connectors: int = Field(
        default=4, ge=0, description="Connector pairs on the worst path (optical budget)."
    )
    splices: int = Field(
        default=4, ge=0, description="Fusion splices on the worst path (optical budget)."
    )
    margin_db: float = Field(
        default=DEFAULT_MARGIN_DB,
        ge=0.0,
        le=20.0,
        description="Planner's safety margin added to the path loss.",
    )
    reach_km: float | None = Field(
        default=None,
        gt=0.0,
        le=MAX_LOGICAL_REACH_KM,
        description="Farthest OLT → ONU fibre (feeder + drop) the design allows; above the "
        "profile's physical reach only for reach-extended designs (logical reach ≤ 60 km).",
        json_schema_extra=_extra(default_doc="profile reach_km (20 km)"),
    )
    max_differential_km: float = Field(
        default=20.0,
        description="Largest farthest − nearest ONU distance the ranging window covers.",
        json_schema_extra=_extra(allowed="20 or 40; ≤ profile max_differential_km"),
    )

    @field_validator("max_differential_km")
    @classmethod
    def _differential_choice(cls, value: float) -> float:
        if value not in DIFFERENTIAL_KM_CHOICES:
            raise ValueError(f"must be 20 or 40 (km), got {_fmt_num(value)}")
        return value

    @property
    def split_ratio(self) -> int:
        """Overall split: the product of the stages."""
        return math.prod(self.splitters)


class TCont(_Model):
    """``[[tconts]]``: one upstream T-CONT (transmission container) per ONU.

    Bandwidth parameters follow G.983.4 / G.984.3 (pon-reference §5): ``fixed_bps`` (R_F),
    ``assured_bps`` (R_A), ``max_bps`` (R_M).
    """

    name: str = Field(..., min_length=1, description="T-CONT name, unique among the T-CONTs.")
    type: int = Field(
        ...,
        ge=1,
        le=5,
        description="T-CONT type: 1 fixed, 2 assured, 3 assured + surplus, 4 best effort, 5 mix.",
        json_schema_extra=_extra(
            allowed=(
                "1..5; type 1: fixed > 0 only; 2: assured > 0 (max 0 or = assured); "
                "3: assured > 0, max ≥ assured; 4: max > 0, fixed = assured = 0; "
                "5: max ≥ fixed + assured"
            )
        ),
    )
    fixed_bps: float = Field(
        default=0.0,
        ge=0.0,
        description="Fixed bandwidth R_F, granted even when idle.",
        json_schema_extra=_extra(allowed="≥ 0; ≤ upstream line rate"),
    )
    assured_bps: float = Field(
        default=0.0,
        ge=0.0,
        description="Assured bandwidth R_A, granted when there is demand.",
        json_schema_extra=_extra(allowed="≥ 0; ≤ upstream line rate"),
    )
    max_bps: float = Field(
        default=0.0,
        ge=0.0,
        description="Maximum bandwidth R_M (cap of all grants).",
        json_schema_extra=_extra(allowed="≥ 0; ≤ upstream line rate"),
    )
    priority: int = Field(default=0, ge=0, le=7, description="Best-effort priority, 0 = highest.")
    weight: float = Field(
        default=1.0, gt=0.0, description="Weight in the share of surplus bandwidth."
    )
    buffer_bytes: int = Field(
        default=1_000_000, ge=1, description="ONU queue size; tail drop beyond it."
    )
    traffic: dict[str, Any] | None = Field(
        default=None,
        description="Traffic source feeding the T-CONT, an inline table such as "
        '{ model = "poisson", rate_bps = 1e7 }; the keys besides `model` are the '
        "model's parameters (`ftth list traffic`).",
        json_schema_extra=_extra(
            default_doc="none (no traffic)",
            allowed="model registered in ftth.traffic; parameters checked by that model",
        ),
    )

    @field_validator("traffic")
    @classmethod
    def _traffic_has_model(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_traffic_table(value)

    @property
    def ceiling_bps(self) -> float:
        """Most the DBA may grant this T-CONT per second (R_F, R_A or R_M by type)."""
        if self.type == 1:
            return self.fixed_bps
        if self.type == 2:
            return self.assured_bps
        return self.max_bps

    @property
    def guaranteed_bps(self) -> float:
        """R_F + R_A: what admission control reserves for this T-CONT."""
        return self.fixed_bps + self.assured_bps


class DownstreamClass(_Model):
    """``[[downstream]]``: one downstream traffic class (queue) per ONU at the OLT."""

    name: str = Field(..., min_length=1, description="Class name, unique among the classes.")
    priority: int = Field(default=0, ge=0, le=7, description="Strict priority, 0 = highest.")
    weight: float = Field(
        default=1.0, gt=0.0, description="DRR weight among classes of equal priority."
    )
    buffer_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Queue size of this class for each ONU at the OLT; tail drop beyond it.",
        json_schema_extra=_extra(default_doc="olt.downstream_buffer_bytes"),
    )
    traffic: dict[str, Any] | None = Field(
        default=None,
        description="Traffic source of the class, an inline table as for T-CONTs.",
        json_schema_extra=_extra(
            default_doc="none (no traffic)",
            allowed="model registered in ftth.traffic; parameters checked by that model",
        ),
    )

    @field_validator("traffic")
    @classmethod
    def _traffic_has_model(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_traffic_table(value)


class OnuGenerator(_Model):
    """``[onus]`` (a table): ``count`` identical ONUs spread evenly over a drop range."""

    count: int = Field(
        ...,
        ge=1,
        description="Number of ONUs.",
        json_schema_extra=_extra(allowed="≥ 1; ≤ split outputs"),
    )
    drop_km: list[float] = Field(
        ...,
        description="Drop fibre range [min, max] after the feeder; ONUs are spread evenly over it "
        "(linspace, first ONU nearest).  A single number puts every ONU at that drop.",
        json_schema_extra=_extra(allowed="0 ≤ min ≤ max; feeder + max ≤ tree.reach_km"),
    )
    first_id: int = Field(
        default=1,
        ge=0,
        description="ONU-ID of the first ONU; the others follow consecutively.",
        json_schema_extra=_extra(allowed="≥ 0; last id ≤ profile max_onu_id"),
    )

    @field_validator("drop_km", mode="before")
    @classmethod
    def _drop_range(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = [value, value]
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError(
                f"must be a range [min_km, max_km] (or one number), got {_describe(value)}"
            )
        return value

    @field_validator("drop_km")
    @classmethod
    def _drop_order(cls, value: list[float]) -> list[float]:
        low, high = value
        if low < 0:
            raise ValueError(f"the minimum drop must be ≥ 0 km, got {_fmt_num(low)}")
        if high < low:
            raise ValueError(
                f"must be [min, max] with min ≤ max, got [{_fmt_num(low)}, {_fmt_num(high)}]"
            )
        return value

    def expand(self) -> list[Onu]:
        """The explicit ONUs: ids ``first_id…``, drops ``linspace(min, max, count)``."""
        drops = np.linspace(self.drop_km[0], self.drop_km[1], self.count)
        return [Onu(id=self.first_id + i, drop_km=float(drop)) for i, drop in enumerate(drops)]


class Onu(_Model):
    """``[[onus]]`` (an array of tables): one explicit ONU."""

    id: int = Field(
        ...,
        ge=0,
        description="ONU-ID.",
        json_schema_extra=_extra(allowed="0..profile max_onu_id, unique"),
    )
    drop_km: float = Field(
        ...,
        ge=0.0,
        description="Drop fibre after the feeder.",
        json_schema_extra=_extra(allowed="≥ 0; feeder + drop ≤ tree.reach_km"),
    )
    tconts: list[TCont] | None = Field(
        default=None,
        min_length=1,
        description="This ONU's T-CONTs, replacing the [[tconts]] templates (same keys).",
        json_schema_extra=_extra(default_doc="the [[tconts]] templates"),
    )
    downstream: list[DownstreamClass] | None = Field(
        default=None,
        min_length=1,
        description="This ONU's downstream classes, replacing [[downstream]] (same keys).",
        json_schema_extra=_extra(default_doc="the [[downstream]] classes"),
    )


def _onus_form(value: Any) -> str:
    # `[[onus]]` parses to a list, `[onus]` to a table: the shape picks the model.
    return _ONUS_ARRAY_TAG if isinstance(value, list) else _ONUS_TABLE_TAG


OnusField = Annotated[
    Annotated[OnuGenerator, Tag(_ONUS_TABLE_TAG)] | Annotated[list[Onu], Tag(_ONUS_ARRAY_TAG)],
    Discriminator(_onus_form),
]


class TrafficSettings(_Model):
    """``[traffic]``: global traffic knobs."""

    upstream_load: float | None = Field(
        default=None,
        gt=0.0,
        le=2.0,
        description="Offered load as a fraction of the analytic upstream capacity: every upstream "
        "source is scaled by one common factor so the total mean offered rate is "
        "load × saturation_goodput_bps(profile, 'upstream', ONUs).",
        json_schema_extra=_extra(default_doc="unset (sources keep their own rates)"),
    )
    downstream_load: float | None = Field(
        default=None,
        gt=0.0,
        le=2.0,
        description="As upstream_load, for the downstream sources and capacity.",
        json_schema_extra=_extra(default_doc="unset (sources keep their own rates)"),
    )
    window_ms: int = Field(
        default=50,
        ge=1,
        le=1000,
        description=(
            "Fast-engine batch window: traffic is generated this far ahead. Results do not "
            "depend on it; 50 ms amortises the per-window work (10 ms ran 15 % slower)."
        ),
    )


class Households(_Model):
    """``[households]``: who sits behind each ONU and what service tier they bought."""

    per_onu: int = Field(
        default=1, ge=1, le=1024, description="Households behind each ONU (1 = FTTH, more = FTTB)."
    )
    tier: str | None = Field(
        default=None,
        description='Service tier "DOWN/UP" with k/M/G suffixes (10^3/10^6/10^9 b/s), e.g. '
        '"100M/50M", "1G/1G"; a household passes if it achieves pass_ratio × its tier '
        "in both directions.",
        json_schema_extra=_extra(
            default_doc="none (no pass/fail per household)",
            allowed="each rate > 0 and ≤ the line rate of its direction",
        ),
    )
    pass_ratio: float = Field(
        default=0.95,
        gt=0.0,
        le=1.0,
        description="Fraction of the tier a household must achieve to pass.",
    )
    concurrency: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Share of households running a full-rate speed test at the same moment "
        "in `ftth plan` (--concurrency overrides it).",
    )

    @field_validator("tier")
    @classmethod
    def _tier_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_tier(value)
        return value

    @property
    def tier_down_bps(self) -> float | None:
        """Downstream tier rate, or ``None`` without a tier."""
        return None if self.tier is None else _parse_tier(self.tier)[0]

    @property
    def tier_up_bps(self) -> float | None:
        """Upstream tier rate, or ``None`` without a tier."""
        return None if self.tier is None else _parse_tier(self.tier)[1]


class DbaSettings(_Model):
    """``[dba]``: the OLT's dynamic bandwidth assignment."""

    name: str | None = Field(
        default=None,
        description="Registered DBA (`ftth list dbas`).",
        json_schema_extra=_extra(
            default_doc=f'"{DEFAULT_DBA_FRAMED}" (ITU profiles), "{DEFAULT_DBA_POLLED}" (EPON)',
            allowed="a registered DBA name",
        ),
    )
    cycle_frames: int = Field(
        default=1, ge=1, le=64, description="DBA cycle: frames between allocations."
    )
    report_latency_frames: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Extra report-processing latency beyond the physical one (RTT, EqD).",
    )
    dbru_every_frames: int = Field(
        default=1, ge=1, le=64, description="The OLT asks for a DBRu every N frames."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form parameters passed to the DBA.",
        json_schema_extra=_extra(default_doc="{}", allowed="checked by the DBA"),
    )


class OltSettings(_Model):
    """``[olt]``: OLT-side settings."""

    teqd_us: float | None = Field(
        default=None,
        gt=0.0,
        description="Equalised round-trip time Teqd (G.984.3 §10.4.2).",
        json_schema_extra=_extra(
            default_doc="RTT at tree.reach_km (20 km: 235 µs)",
            allowed="> 0; ≥ RTT of the farthest ONU",
        ),
    )
    downstream_buffer_bytes: int = Field(
        default=4_000_000,
        ge=1,
        description="Default queue size of each downstream class of each ONU at the OLT "
        "(a class's buffer_bytes overrides it).",
    )
    shaping: bool = Field(
        default=True,
        description="Shape each ONU's downstream to its households' tier with a token bucket "
        "(only when households.tier is set).",
    )
    shaper_burst_ms: float = Field(
        default=4.0,
        gt=0.0,
        le=1000.0,
        description="Token-bucket depth, as time at the tier rate (at least two 1518-byte "
        "frames per household).",
    )


class Fault(_Model):
    """``[[faults]]``: an event injected during the run."""

    at_s: float = Field(
        ...,
        ge=0.0,
        description="Simulated time of the fault.",
        json_schema_extra=_extra(allowed="≥ 0; < duration_s"),
    )
    kind: FaultKind = Field(
        ...,
        description="onu-down / onu-up: the ONU loses / regains power; rogue-onu: the ONU "
        "transmits outside its grants; fibre-cut: the ONU's drop (with onu) or the feeder "
        "(without).",
    )
    onu: int | None = Field(
        default=None,
        ge=0,
        description="ONU-ID the fault hits.",
        json_schema_extra=_extra(
            default_doc="none", allowed="an existing ONU-ID; required except for fibre-cut"
        ),
    )
    duration_s: float | None = Field(
        default=None,
        gt=0.0,
        description="How long the fault lasts.",
        json_schema_extra=_extra(default_doc="until the end of the run"),
    )


class Output(_Model):
    """``[output]``: where results go (all optional)."""

    json_path: LaxPath | None = Field(
        default=None,
        alias="json",
        description="Results file (the --json contract).",
        json_schema_extra=_extra(default_doc="none"),
    )
    csv_dir: LaxPath | None = Field(
        default=None,
        description="Directory for per-class CSV tables.",
        json_schema_extra=_extra(default_doc="none"),
    )
    plot_dir: LaxPath | None = Field(
        default=None,
        description="Directory for plots.",
        json_schema_extra=_extra(default_doc="none"),
    )
    trace_csv: LaxPath | None = Field(
        default=None,
        description="Per-packet trace (arrival, departure, size, flow).",
        json_schema_extra=_extra(default_doc="none"),
    )


# ======================================================================== the scenario
class Scenario(_Model):
    """A whole scenario file.  Build it with :func:`load_scenario` or :func:`scenario_from_dict`.

    After validation the defaults that depend on the profile or on other keys are filled
    in: ``tree.optical_class``, ``tconts``, ``downstream``, every downstream class's
    ``buffer_bytes`` and ``dba.name`` are never ``None``.  FEC, reach, Teqd and warm-up stay
    ``None`` when absent; read them through ``fec_upstream`` / ``fec_downstream``,
    ``reach_km_effective``, ``teqd_us_effective`` and ``warmup_s_effective``.
    """

    name: str = Field(..., min_length=1, description="Scenario name (reports, sweep keys).")
    description: str = Field(default="", description="Free text.")
    technology: str = Field(
        ...,
        description="Technology profile.",
        json_schema_extra=_extra(allowed=", ".join(PROFILES)),
    )
    duration_s: float = Field(default=1.0, gt=0.0, le=MAX_DURATION_S, description="Simulated time.")
    warmup_s: float | None = Field(
        default=None,
        ge=0.0,
        description="Statistics start after this time (the conservation ledger covers the run).",
        json_schema_extra=_extra(default_doc="10 % of duration_s", allowed="≥ 0; < duration_s"),
    )
    seed: int = Field(
        default=1, ge=0, description="Root seed; each source gets its own SeedSequence child."
    )
    engine: Engine = Field(
        default=FAST, description="Simulation engine; reference is the per-packet oracle."
    )
    fec: Fec = _section(Fec, "fec")
    tree: Tree = Field(..., description="See [tree].")
    onus: OnusField = Field(..., description="See [onus] / [[onus]].")
    tconts: list[TCont] | None = Field(
        default=None,
        min_length=1,
        description="T-CONT templates applied to every ONU.",
        json_schema_extra=_extra(
            default_doc='one type-4 "internet", max_bps = upstream line rate, no traffic'
        ),
    )
    downstream: list[DownstreamClass] | None = Field(
        default=None,
        min_length=1,
        description="Downstream classes of every ONU.",
        json_schema_extra=_extra(default_doc='one class "internet", no traffic'),
    )
    traffic: TrafficSettings = _section(TrafficSettings, "traffic")
    households: Households = _section(Households, "households")
    dba: DbaSettings = _section(DbaSettings, "dba")
    olt: OltSettings = _section(OltSettings, "olt")
    faults: list[Fault] = Field(
        default_factory=list,
        description="See [[faults]].",
        json_schema_extra=_extra(default_doc="[] (none)"),
    )
    output: Output = _section(Output, "output")

    _source: str = PrivateAttr("<dict>")

    @field_validator("technology")
    @classmethod
    def _known_technology(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown technology {value!r}; valid: {', '.join(PROFILES)}")
        return value

    @model_validator(mode="after")
    def _check_semantics(self) -> Scenario:
        _check_scenario(self)
        return self

    # ------------------------------------------------------------------ what the engine reads
    @property
    def source(self) -> str:
        """Where the scenario came from (file path or ``"<dict>"``)."""
        return self._source

    @property
    def profile(self) -> Profile:
        """The technology profile."""
        return get_profile(self.technology)

    @property
    def warmup_s_effective(self) -> float:
        """``warmup_s``, or 10 % of ``duration_s`` when it is absent."""
        if self.warmup_s is not None:
            return self.warmup_s
        return self.duration_s / DEFAULT_WARMUP_DIVISOR

    @property
    def fec_upstream(self) -> bool:
        """Upstream FEC in force (the profile default resolved)."""
        return self.profile.fec("upstream", self.fec.upstream) is not None

    @property
    def fec_downstream(self) -> bool:
        """Downstream FEC in force (the profile default resolved)."""
        return self.profile.fec("downstream", self.fec.downstream) is not None

    @property
    def n_onus(self) -> int:
        """Number of ONUs."""
        if isinstance(self.onus, OnuGenerator):
            return self.onus.count
        return len(self.onus)

    @property
    def reach_km_effective(self) -> float:
        """``tree.reach_km``, or the profile's physical reach."""
        return self.tree.reach_km if self.tree.reach_km is not None else self.profile.reach_km

    @property
    def teqd_us_effective(self) -> float:
        """``olt.teqd_us``, or the RTT of an ONU at the reach (``tree.reach_km``).

        Fixed by the reach rather than by the farthest ONU present, so an ONU added later
        never changes the EqD of the others (:func:`ftth.topology.default_teqd_ps`).
        """
        if self.olt.teqd_us is not None:
            return self.olt.teqd_us
        return rtt_ps(self.reach_km_effective) / PS_PER_US

    def onu_list(self) -> list[Onu]:
        """Every ONU explicitly, sorted as written, with its T-CONTs and classes resolved.

        The compact ``[onus]`` form expands to ids ``first_id, first_id+1, …`` and drops
        ``linspace(min, max, count)``.  ``tconts`` / ``downstream`` of each returned ONU are
        its overrides or, without them, the scenario's templates (never ``None``).
        """
        explicit = self.onus.expand() if isinstance(self.onus, OnuGenerator) else self.onus
        tconts = self.tconts or []
        downstream = self.downstream or []
        return [
            onu.model_copy(
                update={
                    "tconts": onu.tconts if onu.tconts is not None else tconts,
                    "downstream": onu.downstream if onu.downstream is not None else downstream,
                }
            )
            for onu in explicit
        ]

    def optical_budget(self, worst_case: bool = True) -> Any:
        """Per-ONU optical budget of this tree (:func:`ftth.optics.budget_report`).

        ``worst_case`` uses maximum component losses (planning), otherwise typical ones.
        """
        from ftth.optics import budget_report

        tree = self.tree
        return budget_report(
            self.topology(),
            connectors=tree.connectors,
            splices=tree.splices,
            optical_class=tree.optical_class,
            margin_db=tree.margin_db,
            worst_case=worst_case,
        )

    def distance_km(self, onu: Onu) -> float:
        """Fibre length OLT → ``onu`` (feeder + drop)."""
        return self.tree.feeder_km + onu.drop_km

    def capacity_bps(self, direction: Direction) -> float:
        """Analytic saturation goodput of this PON in ``direction`` (pon-reference §2).

        The reference for ``traffic.*_load`` and for admission control.
        """
        fec = self.fec.upstream if direction == "upstream" else self.fec.downstream
        profile = self.profile
        if not profile.framed:
            return saturation_goodput_bps(profile, direction, self.n_onus)
        return saturation_goodput_bps(profile, direction, self.n_onus, fec=fec)

    def topology(self) -> Topology:
        """The ranged fibre tree (:func:`ftth.topology.build_topology`)."""
        return build_topology(
            self.profile,
            self.tree.feeder_km,
            {onu.id: onu.drop_km for onu in self.onu_list()},
            self.tree.splitters,
            round(self.teqd_us_effective * PS_PER_US),
            max_differential_km=self.tree.max_differential_km,
        )


# ======================================================================== semantic checks
def _check_scenario(sc: Scenario) -> None:
    """Profile-dependent and cross-key checks, in file order; fills in resolved defaults."""
    profile = sc.profile
    _check_timing(sc)
    _check_fec(sc.fec, profile)
    _check_tree(sc.tree, profile)

    if sc.tconts is None:
        sc.tconts = [TCont(name="internet", type=4, max_bps=float(profile.upstream_bps))]
    if sc.downstream is None:
        sc.downstream = [DownstreamClass(name="internet")]

    onus = _check_onus(sc, profile)
    _check_tconts(sc.tconts, "tconts", profile)
    _check_downstream(sc.downstream, "downstream", profile, sc.olt.downstream_buffer_bytes)
    for index, onu in enumerate(onus):
        if onu.tconts is not None:
            _check_tconts(onu.tconts, f"onus[{index}].tconts", profile)
        if onu.downstream is not None:
            _check_downstream(
                onu.downstream, f"onus[{index}].downstream", profile, sc.olt.downstream_buffer_bytes
            )

    _check_load(sc)
    _check_households(sc.households, profile)
    _check_dba(sc.dba, profile)
    _check_olt(sc, profile)
    _check_faults(sc, {onu.id for onu in onus})
    _check_admission(sc, profile)


def _check_timing(sc: Scenario) -> None:
    if sc.warmup_s is not None and sc.warmup_s >= sc.duration_s:
        raise InputError(
            "warmup_s",
            f"must be ≥ 0 and < duration_s ({_fmt_num(sc.duration_s)} s), "
            f"got {_fmt_num(sc.warmup_s)}",
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
    if tree.optical_class is None:
        tree.optical_class = profile.default_optical_class
    elif tree.optical_class not in profile.optical_classes:
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
            f"{profile.title} supports at most {_fmt_num(profile.max_differential_km)} km, "
            f"got {_fmt_num(tree.max_differential_km)}",
        )


def _check_onus(sc: Scenario, profile: Profile) -> list[Onu]:
    """ONU count, ids, reach and differential distance; returns the explicit ONUs."""
    tree = sc.tree
    compact = isinstance(sc.onus, OnuGenerator)
    onus = sc.onus.expand() if isinstance(sc.onus, OnuGenerator) else sc.onus
    outputs = tree.split_ratio
    if len(onus) > outputs:
        raise InputError(
            "onus.count" if compact else "onus",
            f"{len(onus)} ONUs but the splitters {tree.splitters} give only {outputs} "
            f"outputs (1:{outputs})",
        )

    def where(index: int, key: str) -> str:
        # The compact form has one key for all ONUs; the array form names the entry.
        if compact:
            return {"id": "onus.first_id", "drop_km": "onus.drop_km"}[key]
        return f"onus[{index}].{key}"

    reach_km = sc.reach_km_effective
    reach_source = (
        "tree.reach_km"
        if tree.reach_km is not None
        else f"{profile.title} physical reach; tree.reach_km ≤ {_km(MAX_LOGICAL_REACH_KM)} "
        "for a reach-extended design"
    )
    seen: dict[int, int] = {}
    for index, onu in enumerate(onus):
        if onu.id > profile.max_onu_id:
            raise InputError(
                where(index, "id"),
                f"{profile.title} ONU-ID must be in 0..{profile.max_onu_id}, got {onu.id}"
                + (f" (ONU {index + 1} of {len(onus)})" if compact else ""),
            )
        if onu.id in seen:
            raise InputError(
                where(index, "id"), f"duplicate ONU-ID {onu.id} (also onus[{seen[onu.id]}].id)"
            )
        seen[onu.id] = index

    for index, onu in enumerate(onus):
        distance = sc.distance_km(onu)
        if distance > reach_km:
            raise InputError(
                where(index, "drop_km"),
                f"ONU {onu.id} is {_km(tree.feeder_km)} + {_km(onu.drop_km)} = "
                f"{_km(distance)} km from the OLT, beyond the reach of {_km(reach_km)} km "
                f"({reach_source})",
            )

    near = min(range(len(onus)), key=lambda i: onus[i].drop_km)
    far = max(range(len(onus)), key=lambda i: onus[i].drop_km)
    differential = onus[far].drop_km - onus[near].drop_km
    if differential > tree.max_differential_km:
        hint = ""
        if tree.max_differential_km < profile.max_differential_km:
            hint = (
                f" (set tree.max_differential_km = {_fmt_num(profile.max_differential_km)} "
                "if the OLT ranges that far)"
            )
        raise InputError(
            where(far, "drop_km"),
            f"differential distance {_km(differential)} km (ONU {onus[far].id} at "
            f"{_km(sc.distance_km(onus[far]))} km − ONU {onus[near].id} at "
            f"{_km(sc.distance_km(onus[near]))} km) is above tree.max_differential_km "
            f"= {_fmt_num(tree.max_differential_km)} km{hint}",
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
            _check_traffic(tc.traffic, f"{path}.traffic", line_bps, profile, "upstream")


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
                f"needs max_bps ≥ assured_bps ({_fmt_num(assured)}), got {_fmt_num(maximum)}",
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
                f"needs max_bps > 0 and ≥ fixed_bps + assured_bps ({_fmt_num(fixed + assured)}), "
                f"got {_fmt_num(maximum)}",
            )


def _check_downstream(
    classes: list[DownstreamClass], where: str, profile: Profile, default_buffer_bytes: int
) -> None:
    names: dict[str, int] = {}
    for index, cls in enumerate(classes):
        if cls.buffer_bytes is None:
            cls.buffer_bytes = default_buffer_bytes
        path = f"{where}[{index}]"
        if cls.name in names:
            raise InputError(
                f"{path}.name",
                f"duplicate class name {cls.name!r} (also {where}[{names[cls.name]}])",
            )
        names[cls.name] = index
        if cls.traffic is not None:
            _check_traffic(
                cls.traffic, f"{path}.traffic", profile.downstream_bps, profile, "downstream"
            )


def _check_line_rate(
    where: str, rate_bps: float, line_bps: float, profile: Profile, direction: str
) -> None:
    if rate_bps > line_bps:
        raise InputError(
            where,
            f"{fmt_rate(rate_bps)} is above the {profile.title} {direction} line rate "
            f"{fmt_rate(line_bps)} (tier above line rate); must be ≤ {_fmt_num(line_bps)}",
        )


def _check_traffic_table(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Structural check of an inline traffic table (the model checks its parameters later)."""
    if value is None:
        return None
    model = value.get("model")
    if model is None:
        raise ValueError('needs a `model` key, e.g. { model = "poisson", rate_bps = 1e7 }')
    if not isinstance(model, str):
        raise ValueError(f"`model` must be a string, got {_describe(model)}")
    return value


def _traffic_module() -> Any:
    """:mod:`ftth.traffic`, or ``None`` in a checkout that does not have it yet.

    The one place that imports the traffic layer: without it the scenario still loads,
    with traffic parameters unchecked.
    """
    try:
        module = import_module("ftth.traffic")
    except ImportError:
        return None
    if not hasattr(module, "traffic_params_model"):
        return None
    return module


def _check_traffic(
    table: dict[str, Any], where: str, line_bps: float, profile: Profile, direction: str
) -> None:
    """Traffic model known, parameters valid (with the model's own checks), rates ≤ line."""
    traffic = _traffic_module()
    params = {key: value for key, value in table.items() if key != "model"}
    if traffic is not None:
        try:
            params_model: type[BaseModel] = traffic.traffic_params_model(table["model"])
        except InputError as exc:
            raise InputError(f"{where}.model", exc.why) from None
        try:
            params_model.model_validate(params)
        except ValidationError as exc:
            raise _translate_validation_error(exc, root=params_model, prefix=where) from None
    for key, value in params.items():
        if key.endswith("_bps") and isinstance(value, int | float) and not isinstance(value, bool):
            _check_line_rate(f"{where}.{key}", float(value), line_bps, profile, direction)
    if traffic is not None and hasattr(traffic, "make_source"):
        # Building the source once runs the model's cross-parameter checks (size mix
        # consistency, a pcap file that exists); the generator is a throwaway.
        traffic.make_source(
            table["model"], params, np.random.default_rng(0), line_rate_bps=line_bps, where=where
        )


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
    if households.tier is None:
        return
    down_bps, up_bps = _parse_tier(households.tier)
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


def _check_dba(dba: DbaSettings, profile: Profile) -> None:
    from olt.dba.registry import list_dbas

    if dba.name is None:
        dba.name = DEFAULT_DBA_FRAMED if profile.framed else DEFAULT_DBA_POLLED
    valid = list_dbas()
    if dba.name not in valid:
        raise InputError(
            "dba.name",
            f"unknown DBA {dba.name!r}; valid: {', '.join(valid) or '(none registered)'}",
        )
    from olt.dba.registry import get_dba

    # Frame DBAs (125 µs BWmaps) and MPCP polling DBAs (EPON) are not interchangeable.
    fits = [n for n in valid if bool(getattr(get_dba(n), "epon", False)) != profile.framed]
    if dba.name not in fits:
        kind = "an EPON polling DBA" if profile.framed else "a 125 µs frame DBA"
        raise InputError(
            "dba.name",
            f"{dba.name!r} is {kind}; for {profile.title} use one of: {', '.join(fits)}",
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
            f"{_km(sc.distance_km(far))} km: {_fmt_num(far_rtt_us)} µs), "
            f"got {_fmt_num(sc.olt.teqd_us)}",
        )


def _check_faults(sc: Scenario, onu_ids: set[int]) -> None:
    for index, fault in enumerate(sc.faults):
        path = f"faults[{index}]"
        if fault.at_s >= sc.duration_s:
            raise InputError(
                f"{path}.at_s",
                f"must be ≥ 0 and < duration_s ({_fmt_num(sc.duration_s)} s), "
                f"got {_fmt_num(fault.at_s)}",
            )
        if fault.onu is None:
            if fault.kind != "fibre-cut":
                raise InputError(
                    f"{path}.onu", f"kind {fault.kind!r} needs the ONU-ID the fault hits"
                )
        elif fault.onu not in onu_ids:
            raise InputError(
                f"{path}.onu", f"no ONU with id {fault.onu}; ids are {_id_ranges(onu_ids)}"
            )


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


# ======================================================================== helpers
_TIER_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKMG])\s*/\s*(\d+(?:\.\d+)?)\s*([kKMG])\s*$")
_SCALE = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def _parse_tier(text: str) -> tuple[float, float]:
    """``"100M/50M"`` → ``(100e6, 50e6)`` (down, up) in bit/s."""
    match = _TIER_RE.match(text)
    if match is None:
        raise ValueError(
            'must look like "100M/50M" (down/up with k, M or G: 10^3, 10^6, 10^9 b/s), '
            f"got {text!r}"
        )
    down = float(match.group(1)) * _SCALE[match.group(2)]
    up = float(match.group(3)) * _SCALE[match.group(4)]
    if down <= 0 or up <= 0:
        raise ValueError(f"both rates must be > 0, got {text!r}")
    return down, up


def _fmt_num(value: float | int) -> str:
    """Short number for messages: ``20`` not ``20.0``; large floats as ``1e+09``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e7:
            return str(int(value))
        return f"{value:g}"
    return str(value)


def _km(value: float) -> str:
    """A distance for messages, to the metre: ``17.148`` not ``17.147586206896552``."""
    return _fmt_num(round(value, 3))


def _describe(value: Any) -> str:
    """How a TOML value is shown in a message."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e4:
        return f"{value:.1f}"  # `2.0`, so "must be an integer, got 2.0" makes sense
    if isinstance(value, int | float):
        return _fmt_num(value)
    return repr(value)


def _id_ranges(ids: set[int]) -> str:
    """``{1, 2, 3, 7}`` → ``"1..3, 7"``."""
    runs: list[list[int]] = []
    for value in sorted(ids):
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


# ------------------------------------------------------------------------ type walking
def strip_optional(annotation: Any) -> Any:
    """``X | None`` → ``X``; ``Annotated[X, …]`` → ``X`` (other unions unchanged)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _union_branch(annotation: Any, tag: str) -> Any:
    """The member of a discriminated union carrying ``Tag(tag)``."""
    for member in get_args(annotation):
        if get_origin(member) is Annotated:
            base, *meta = get_args(member)
            if any(isinstance(m, Tag) and m.tag == tag for m in meta):
                return base
    return None


def _key_name(name: str, info: FieldInfo) -> str:
    return info.alias or name


def _field_by_key(model: type[BaseModel], key: str) -> tuple[str, FieldInfo] | None:
    for name, info in model.model_fields.items():
        if _key_name(name, info) == key:
            return name, info
    return None


def _walk(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[Any, FieldInfo | None, Any]:
    """Follow ``loc`` through the models.

    Returns the model containing the last key (or ``None``), that key's FieldInfo (or
    ``None``) and the annotation reached.
    """
    annotation: Any = root
    parent: Any = None
    info: FieldInfo | None = None
    for part in loc:
        current = strip_optional(annotation)
        if isinstance(part, str) and part in _UNION_TAGS:
            annotation = _union_branch(current, part)
            continue
        if isinstance(part, int):
            args = get_args(current)
            annotation = args[0] if get_origin(current) is list and args else None
            info = None
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            found = _field_by_key(current, part)
            parent = current
            if found is None:
                return parent, None, None
            info = found[1]
            annotation = info.annotation
            continue
        return None, None, None
    return parent, info, annotation


def _loc_path(loc: Sequence[str | int], prefix: str = "") -> str:
    """``("onus", "onus-array", 3, "id")`` → ``onus[3].id``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_TAGS:
            continue
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _range_text(info: FieldInfo | None, use_allowed: bool = True) -> str | None:
    """``"in 0..7"``, ``"> 0 and ≤ 3600"``, ``"≥ 1"`` from a field's constraints.

    With ``use_allowed``, a field without numeric bounds falls back to the ``allowed`` text
    of its ``json_schema_extra`` (how the traffic parameter models state their ranges).
    """
    if info is None:
        return None
    low: tuple[str, Any] | None = None
    high: tuple[str, Any] | None = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = ("≥", meta.ge)
        elif isinstance(meta, annotated_types.Gt):
            low = (">", meta.gt)
        elif isinstance(meta, annotated_types.Le):
            high = ("≤", meta.le)
        elif isinstance(meta, annotated_types.Lt):
            high = ("<", meta.lt)
    if low and high:
        if low[0] == "≥" and high[0] == "≤" and strip_optional(info.annotation) is int:
            return f"in {_fmt_num(low[1])}..{_fmt_num(high[1])}"
        return f"{low[0]} {_fmt_num(low[1])} and {high[0]} {_fmt_num(high[1])}"
    bound = low or high
    if bound:
        return f"{bound[0]} {_fmt_num(bound[1])}"
    if not use_allowed:
        return None
    # Parameter models of other modules (traffic) state their range in json_schema_extra.
    extra = info.json_schema_extra
    allowed = extra.get("allowed") if isinstance(extra, dict) else None
    return str(allowed) if allowed else None


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "list_type": "an array",
    "path_type": "a path string",
}


def _translate_validation_error(
    exc: ValidationError, root: type[BaseModel] = Scenario, prefix: str = ""
) -> InputError:
    """One :class:`InputError` for the most useful error of a pydantic ``ValidationError``.

    Unknown keys are reported first (a misspelt key often also shows up as a missing one),
    then the first error in document order.
    """
    errors = exc.errors(include_url=False)
    chosen = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(chosen["loc"])
    kind = chosen["type"]
    value = chosen.get("input")
    where = _loc_path(loc, prefix)

    if kind == "extra_forbidden":
        # The unknown key sits in the model reached by walking everything before it.
        _, _, holder = _walk(root, loc[:-1])
        holder = strip_optional(holder)
        keys = (
            [_key_name(n, i) for n, i in holder.model_fields.items()]
            if isinstance(holder, type) and issubclass(holder, BaseModel)
            else []
        )
        key = str(loc[-1])
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(keys)}"
        return InputError(where, f"unknown key {key!r}; {hint}")

    if loc and loc[-1] == _ONUS_TABLE_TAG and kind == "model_type":
        return InputError(
            where, f"must be a table [onus] or an array of tables [[onus]], got {_describe(value)}"
        )
    _, info, annotation = _walk(root, loc)
    if kind == "missing":
        return InputError(where, "required key missing")
    if kind == "literal_error":
        choices = get_args(strip_optional(annotation))
        listed = ", ".join(str(c) for c in choices) or str(chosen.get("ctx", {}).get("expected"))
        return InputError(where, f"must be one of: {listed}; got {_describe(value)}")
    if kind in (
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
    ):
        bounds = _range_text(info) or chosen["msg"].removeprefix("Input should be ")
        return InputError(where, f"must be {bounds}, got {_describe(value)}")
    if kind in _TYPE_WORDS:
        bounds_or_none = _range_text(info, use_allowed=False)
        extra = f" {bounds_or_none}" if bounds_or_none else ""
        return InputError(where, f"must be {_TYPE_WORDS[kind]}{extra}, got {_describe(value)}")
    if kind == "string_too_short":
        return InputError(where, "must not be empty")
    if kind == "too_short":
        least = chosen.get("ctx", {}).get("min_length", 1)
        return InputError(where, f"needs at least {least} entry, got {len(value or ())}")
    if kind == "too_long":
        most = chosen.get("ctx", {}).get("max_length")
        return InputError(where, f"takes at most {most} entries, got {len(value or ())}")
    message = chosen["msg"]
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    return InputError(where, message)


# ======================================================================== loader
def default_scenario_path() -> Path:
    """Path of the embedded default scenario (works in editable and regular installs)."""
    return Path(str(resources.files("ftth").joinpath("seeds", DEFAULT_SCENARIO_NAME)))


def scenario_from_dict(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate parsed TOML data into a :class:`Scenario`.

    Raises
    ------
    InputError
        The first problem, naming its key path and the allowed range.
    """
    if not isinstance(data, dict):
        raise InputError(source, f"a scenario must be a table, got {_describe(data)}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _translate_validation_error(exc) from None
    scenario._source = source
    return scenario


def load_scenario(path: str | Path | None, overrides: Sequence[str] = ()) -> Scenario:
    """Read a TOML scenario, apply ``--set`` overrides and validate it.

    Parameters
    ----------
    path
        Scenario file; ``None`` loads the embedded default (:func:`default_scenario_path`).
    overrides
        ``"dotted.key=value"`` strings (see :func:`apply_overrides`).

    Raises
    ------
    InputError
        Missing file, TOML syntax error (with line and column), bad override, or the first
        problem in the scenario.
    """
    file = default_scenario_path() if path is None else Path(path)
    data = _read_toml(file)
    data = apply_overrides(data, overrides)
    _resolve_capture_paths(data, file.parent)
    return scenario_from_dict(data, source=str(file))


def _resolve_capture_paths(data: dict[str, Any], folder: Path) -> None:
    """Make every relative ``pcap`` path relative to the scenario file's folder, as a user
    writing ``path = "trace.pcap"`` next to the scenario means (not to the current directory)."""

    def fix(table: Any) -> None:
        if isinstance(table, dict) and table.get("model") == "pcap":
            raw = table.get("path")
            if isinstance(raw, str) and raw and not Path(raw).is_absolute():
                table["path"] = str(folder / raw)

    def walk(items: Any) -> None:
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    fix(item.get("traffic"))

    walk(data.get("tconts"))
    walk(data.get("downstream"))
    onus = data.get("onus")
    if isinstance(onus, list):
        for onu in onus:
            if isinstance(onu, dict):
                walk(onu.get("tconts"))
                walk(onu.get("downstream"))


def _read_toml(file: Path) -> dict[str, Any]:
    where = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(where, "no such file") from None
    except IsADirectoryError:
        raise InputError(where, "is a directory, not a scenario file") from None
    except UnicodeDecodeError as exc:
        raise InputError(where, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(where, exc.strerror or str(exc)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(where, _toml_error_text(str(exc), text)) from None


_TOML_POS_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END_RE = re.compile(r"\s*\(at end of document\)\s*$")


def _toml_error_text(message: str, text: str) -> str:
    """``"Invalid value (at line 3, column 9)"`` → ``"TOML syntax error at line 3, column 9: …"``.

    Python 3.11's tomllib reports some errors "at end of document"; those get the position
    of the last character.
    """
    match = _TOML_POS_RE.search(message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    else:
        end = _TOML_END_RE.search(message)
        if end:
            message = message[: end.start()]
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return f"TOML syntax error at line {line}, column {column}: {message}"


def _parse_override_value(text: str) -> Any:
    """A TOML value (``3``, ``0.01``, ``"x"``, ``[4, 16]``, ``true``), else the bare string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set dotted.key=value`` overrides to parsed TOML data (a deep copy is returned).

    Each value is parsed as a TOML value and falls back to a bare string.  Missing tables
    on the way are created; numeric path parts index arrays (``tconts.0.max_bps=1e9``).

    Raises
    ------
    InputError
        ``where = "--set"`` for a malformed override or a path that cannot be followed.
    """
    result = copy.deepcopy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                "--set", f"expected KEY=VALUE, e.g. tree.feeder_km=5, got {override!r}"
            )
        parts = key.split(".")
        if any(not part for part in parts):
            raise InputError("--set", f"empty part in key {key!r}")
        _set_path(result, parts, _parse_override_value(raw), override)
    return result


def _set_path(data: dict[str, Any], parts: list[str], value: Any, override: str) -> None:
    node: Any = data
    walked: list[str] = []

    def fail(why: str) -> InputError:
        return InputError("--set", f"{override!r}: {why}")

    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        here = ".".join(walked + [part])
        if isinstance(node, list):
            if not part.isdigit():
                raise fail(f"{'.'.join(walked)} is an array; use a number, not {part!r}")
            position = int(part)
            if position >= len(node):
                raise fail(f"{here}: no such element ({'.'.join(walked)} has {len(node)})")
            if last:
                node[position] = value
                return
            node = node[position]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            if part not in node:
                node[part] = {}
            node = node[part]
        else:
            raise fail(f"{'.'.join(walked)} is {_describe(node)}, not a table or array")
        walked.append(part)


#: One ``(label, text)`` row of :func:`summary_rows` (rendering is the caller's business).
SummaryRow = tuple[str, str]


def summary_rows(sc: Scenario) -> list[SummaryRow]:
    """Key facts of a validated scenario, for ``ftth validate`` and reports."""
    profile = sc.profile
    onus = sc.onu_list()
    distances = [sc.distance_km(onu) for onu in onus]
    tcont_text = ", ".join(
        f"{tc.name} (type {tc.type}"
        + (f", fixed {fmt_rate(tc.fixed_bps)}" if tc.fixed_bps else "")
        + (f", assured {fmt_rate(tc.assured_bps)}" if tc.assured_bps else "")
        + (f", max {fmt_rate(tc.max_bps)}" if tc.max_bps else "")
        + (f", {tc.traffic['model']}" if tc.traffic else "")
        + ")"
        for tc in sc.tconts or []
    )
    overridden = sum(1 for onu in (sc.onus if isinstance(sc.onus, list) else []) if onu.tconts)
    if overridden:
        tcont_text += f"; {overridden} ONU(s) override"
    ds_text = ", ".join(
        f"{c.name} (priority {c.priority}" + (f", {c.traffic['model']}" if c.traffic else "") + ")"
        for c in sc.downstream or []
    )
    tier = sc.households.tier
    rows: list[SummaryRow] = [
        ("scenario", sc.name),
        (
            "technology",
            f"{profile.title} ({fmt_rate(profile.downstream_bps)} down / "
            f"{fmt_rate(profile.upstream_bps)} up)",
        ),
        (
            "FEC",
            f"upstream {'on' if sc.fec_upstream else 'off'}, "
            f"downstream {'on' if sc.fec_downstream else 'off'}",
        ),
        (
            "split",
            f"1:{sc.tree.split_ratio} ({' × '.join(map(str, sc.tree.splitters))}), "
            f"class {sc.tree.optical_class}",
        ),
        (
            "ONUs",
            f"{len(onus)} (ids {_id_ranges({onu.id for onu in onus})}), "
            f"{sc.households.per_onu} household(s) each" + (f", tier {tier}" if tier else ""),
        ),
        (
            "distance",
            f"{_fmt_num(round(min(distances), 3))}–{_fmt_num(round(max(distances), 3))} km "
            f"(feeder {_fmt_num(sc.tree.feeder_km)} km)",
        ),
        ("T-CONTs", tcont_text),
        ("downstream", ds_text),
        ("DBA", f"{sc.dba.name}, cycle {sc.dba.cycle_frames} frame(s)"),
        (
            "capacity",
            f"{fmt_rate(sc.capacity_bps('upstream'))} up, "
            f"{fmt_rate(sc.capacity_bps('downstream'))} down (analytic saturation goodput)",
        ),
        (
            "run",
            f"{_fmt_num(sc.duration_s)} s, warm-up {_fmt_num(sc.warmup_s_effective)} s, "
            f"seed {sc.seed}, engine {sc.engine}",
        ),
    ]
    if sc.faults:
        rows.append(("faults", ", ".join(f"{f.kind}@{_fmt_num(f.at_s)}s" for f in sc.faults)))
    return rows


__all__ = [
    "DEFAULT_SCENARIO_NAME",
    "DbaSettings",
    "DownstreamClass",
    "Fault",
    "Fec",
    "Households",
    "OltSettings",
    "Onu",
    "OnuGenerator",
    "Output",
    "Scenario",
    "TCont",
    "TrafficSettings",
    "Tree",
    "apply_overrides",
    "default_scenario_path",
    "load_scenario",
    "scenario_from_dict",
    "summary_rows",
]
