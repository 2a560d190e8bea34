"""The pydantic models of a TOML scenario: keys, types, defaults and single-key ranges.

A scenario is plain data: technology, fibre tree, ONUs, T-CONTs, downstream classes,
traffic, households and their tiers, DBA, faults and outputs.  Every default lives here
(one source of truth, style.md), every model rejects unknown keys, every number must be
finite (``allow_inf_nan=False``) and every integer and time has an upper bound that keeps
the engine's int64 picosecond and byte arithmetic exact.

``Scenario``'s after-validator fills in the defaults that depend on the profile, then runs
the cross-key rules of :mod:`ftth.scenario.rules`.  Checks that need a DBA or a traffic
model live above this layer (:func:`ftth.emulator.build.check_build`): this package imports
neither ``olt`` nor ``ftth.traffic``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from ftth.engines import FAST, Engine
from ftth.phy import (
    DEFAULT_DISCOVERY_PERIOD_PS,
    DEFAULT_MARGIN_DB,
    PROFILES,
    Direction,
    Profile,
    get_profile,
    saturation_goodput_bps,
)
from ftth.scenario.limits import (
    DIFFERENTIAL_KM_CHOICES,
    INT64_MAX,
    MAX_BUFFER_BYTES,
    MAX_DURATION_S,
    MAX_JOINTS,
    MAX_LOGICAL_REACH_KM,
    MAX_ONUS,
    MAX_TEQD_US,
    MAX_WEIGHT,
)
from ftth.scenario.rules import check_scenario
from ftth.scenario.text import describe, fmt_num
from ftth.topology import Topology, build_topology, rtt_ps
from ftth.units import PS_PER_MS, PS_PER_US

#: File name of the embedded default scenario (in ``seeds/``, shipped as ``ftth/seeds``).
DEFAULT_SCENARIO_NAME = "urban-2020-100mbps.toml"
#: Warm-up used when ``warmup_s`` is absent: duration / 10, i.e. 10 % (architecture.md).
#: A divisor, not 0.1 × duration, so 0.2 s gives exactly 0.02 s.
DEFAULT_WARMUP_DIVISOR = 10
#: DBA used when ``[dba] name`` is absent: the reference DBA order of pon-reference §5 for
#: the framed ITU profiles, interleaved polling for EPON (which has no BWmap).
DEFAULT_DBA_FRAMED = "proportional"
DEFAULT_DBA_POLLED = "ipact"


def _usable_path(value: Path) -> Path:
    """A path the operating system can open: not empty, no NUL character."""
    text = str(value)
    if text in ("", "."):
        raise ValueError("must be a file or directory path, got an empty string")
    if "\x00" in text:
        raise ValueError("must not contain a NUL character")
    return value


#: A path written as a TOML string (strict mode would demand a ``Path`` object).
LaxPath = Annotated[Path, Field(strict=False), AfterValidator(_usable_path)]
FaultKind = Literal["fibre-cut", "restore", "onu-power", "rogue-onu", "splitter-loss"]

# Tags of the two forms of `onus`; pydantic puts them in error locations, the translator
# drops them so users see `onus.count` / `onus[3].id`.
ONUS_TABLE_TAG = "onus-table"
ONUS_ARRAY_TAG = "onus-array"
UNION_TAGS = {ONUS_TABLE_TAG, ONUS_ARRAY_TAG}


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
    mistake to report, not to coerce (an integer is still accepted for a float).  TOML has
    ``inf`` and ``nan``; no key of a scenario takes them (``allow_inf_nan=False``).
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


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
        default=4,
        ge=0,
        le=MAX_JOINTS,
        description="Connector pairs on the worst path (optical budget).",
    )
    splices: int = Field(
        default=4,
        ge=0,
        le=MAX_JOINTS,
        description="Fusion splices on the worst path (optical budget).",
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
            raise ValueError(f"must be 20 or 40 (km), got {fmt_num(value)}")
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
        default=1.0,
        gt=0.0,
        le=MAX_WEIGHT,
        description="Weight in the share of surplus bandwidth.",
    )
    buffer_bytes: int = Field(
        default=1_000_000,
        ge=1,
        le=MAX_BUFFER_BYTES,
        description="ONU queue size; tail drop beyond it.",
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
        default=1.0,
        gt=0.0,
        le=MAX_WEIGHT,
        description="Weight among classes of equal priority: the OLT's weighted DRR gives each "
        "ONU's queue of this class a quantum of max(1, round(Q × weight)) bytes per round, Q "
        "being one encapsulated 1518-byte Ethernet frame (GPON 1523, XG/XGS-PON 1528, EPON "
        "1538 bytes), so saturated classes of one priority share it in proportion to their "
        "weights and the ONUs of a class equally.",
    )
    buffer_bytes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_BUFFER_BYTES,
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


def _range_pair(value: Any, expected: str) -> Any:
    """A ``[low, high]`` key of ``[onus]``: one number stands for ``[x, x]``; anything but a
    number or a pair is refused with ``expected``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"{expected}, got {describe(value)}")
    return value


class OnuGenerator(_Model):
    """``[onus]`` (a table): ``count`` identical ONUs spread evenly over a drop range."""

    count: int = Field(
        ...,
        ge=1,
        le=MAX_ONUS,
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
    join_at_s: list[float] = Field(
        default_factory=lambda: [0.0, 0.0],
        description="When the ONUs are connected and powered, as onus[].join_at_s: one number "
        "for every ONU, or a range [first, last] over which they join one after another, "
        "evenly spaced in ONU order (linspace).",
        json_schema_extra=_extra(
            default_doc="0 (every ONU from the start)", allowed="0 ≤ first ≤ last < duration_s"
        ),
    )

    @field_validator("drop_km", mode="before")
    @classmethod
    def _drop_range(cls, value: Any) -> Any:
        return _range_pair(value, "must be a range [min_km, max_km] (or one number)")

    @field_validator("join_at_s", mode="before")
    @classmethod
    def _join_range(cls, value: Any) -> Any:
        return _range_pair(value, "must be a time or a range [first_s, last_s]")

    @field_validator("join_at_s")
    @classmethod
    def _join_order(cls, value: list[float]) -> list[float]:
        first, last = value
        if first < 0:
            raise ValueError(f"must be ≥ 0 s, got {fmt_num(first)}")
        if last < first:
            raise ValueError(
                f"must be [first, last] with first ≤ last, got [{fmt_num(first)}, {fmt_num(last)}]"
            )
        return value

    @field_validator("drop_km")
    @classmethod
    def _drop_order(cls, value: list[float]) -> list[float]:
        low, high = value
        if low < 0:
            raise ValueError(f"the minimum drop must be ≥ 0 km, got {fmt_num(low)}")
        if high < low:
            raise ValueError(
                f"must be [min, max] with min ≤ max, got [{fmt_num(low)}, {fmt_num(high)}]"
            )
        return value

    def expand(self) -> list[Onu]:
        """The explicit ONUs: ids ``first_id…``, drops ``linspace(min, max, count)``, joins
        ``linspace(first, last, count)``."""
        drops = np.linspace(self.drop_km[0], self.drop_km[1], self.count)
        joins = np.linspace(self.join_at_s[0], self.join_at_s[1], self.count)
        return [
            Onu(id=self.first_id + i, drop_km=float(drop), join_at_s=float(join))
            for i, (drop, join) in enumerate(zip(drops, joins, strict=True))
        ]


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
    join_at_s: float = Field(
        default=0.0,
        ge=0.0,
        description="When the ONU is connected and powered: before it the ONU is absent (no "
        "traffic offered); from it, it activates through the OLT's discovery windows.",
        json_schema_extra=_extra(allowed="≥ 0; < duration_s"),
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
    return ONUS_ARRAY_TAG if isinstance(value, list) else ONUS_TABLE_TAG


OnusField = Annotated[
    Annotated[OnuGenerator, Tag(ONUS_TABLE_TAG)] | Annotated[list[Onu], Tag(ONUS_ARRAY_TAG)],
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
            parse_tier(value)
        return value

    @property
    def tier_down_bps(self) -> float | None:
        """Downstream tier rate, or ``None`` without a tier."""
        return None if self.tier is None else parse_tier(self.tier)[0]

    @property
    def tier_up_bps(self) -> float | None:
        """Upstream tier rate, or ``None`` without a tier."""
        return None if self.tier is None else parse_tier(self.tier)[1]


#: What a DBA parameter name may look like (a Python identifier, as the DBAs read them).
_PARAM_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
        json_schema_extra=_extra(
            default_doc="{}", allowed="names and values checked by the DBA (`ftth list dbas`)"
        ),
    )

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The DBA names a bad parameter as `dba.params.<key>`: keep that path one plain line.
        for key in value:
            if not _PARAM_NAME_RE.fullmatch(key):
                raise ValueError(
                    f"parameter names are letters, digits and _ (a DBA's keyword), got {key!r}"
                )
        return value


class OltSettings(_Model):
    """``[olt]``: OLT-side settings."""

    teqd_us: float | None = Field(
        default=None,
        gt=0.0,
        le=MAX_TEQD_US,
        description="Equalised round-trip time Teqd (G.984.3 §10.4.2).",
        json_schema_extra=_extra(
            default_doc="RTT at tree.reach_km (20 km: 235 µs)",
            allowed=f"≥ RTT of the farthest ONU; ≤ {MAX_TEQD_US:g}",
        ),
    )
    downstream_buffer_bytes: int = Field(
        default=4_000_000,
        ge=1,
        le=MAX_BUFFER_BYTES,
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
    """``[[faults]]``: an event injected during the run (issue 12, docs/activation.md).

    A fibre is named by ``branch`` (``"feeder"``, a splitter output ``"2"``, ``"2.5"``; see
    :mod:`ftth.scenario.branches`) or by ``onu`` (that ONU's drop fibre).  Every ITU engine
    obeys the control plane's decisions (docs/faults.md); EPON refuses faults.
    """

    at_s: float = Field(
        ...,
        ge=0.0,
        description="Simulated time of the fault; it takes effect from the first frame that "
        "starts at or after it.",
        json_schema_extra=_extra(allowed="≥ 0; < duration_s"),
    )
    kind: FaultKind = Field(
        ...,
        description="fibre-cut: the fibre breaks (ONUs behind it lose the PON); restore: the "
        "cut fibre is repaired (they re-activate); onu-power: the ONU is switched off (dying "
        "gasp first) or on; rogue-onu: the ONU's laser stays on and corrupts every burst until "
        "the OLT isolates it; splitter-loss: extra loss on a fibre (margins fall; out of budget "
        "= down, marginal = bit errors).",
    )
    branch: str | None = Field(
        default=None,
        description='Fibre hit by fibre-cut, restore or splitter-loss: "feeder", or splitter '
        'outputs from the OLT side joined by dots ("2", "2.5").',
        json_schema_extra=_extra(
            default_doc='"feeder" (when onu is not given either)',
            allowed="a branch of tree.splitters; not with onu",
        ),
    )
    onu: int | None = Field(
        default=None,
        ge=0,
        description="ONU-ID the fault hits (onu-power, rogue-onu), or whose drop fibre it hits.",
        json_schema_extra=_extra(
            default_doc="none", allowed="an existing ONU-ID; required for onu-power and rogue-onu"
        ),
    )
    power: Literal["off", "on"] | None = Field(
        default=None,
        description="onu-power only: switch the ONU off or on.",
        json_schema_extra=_extra(default_doc="none", allowed="off / on; required for onu-power"),
    )
    extra_db: float | None = Field(
        default=None,
        ge=0.0,
        le=60.0,
        description="splitter-loss only: extra loss on the fibre from at_s on (replaces an "
        "earlier value on the same fibre; 0 removes it).",
        json_schema_extra=_extra(
            default_doc="none", allowed="0..60 dB; required for splitter-loss"
        ),
    )


class Activation(_Model):
    """``[activation]``: how ONUs join the PON (issue 12, docs/activation.md)."""

    enabled: bool = Field(
        default=False,
        description="Emulate every ONU's activation from power-on at t = 0 (O1 … O5: serial "
        "number in quiet windows, ranging).  Off: ONUs start in operation, except ONUs with "
        "join_at_s > 0 and ONUs recovering from faults, which always go through activation.",
    )
    discovery_period_ms: float = Field(
        default=DEFAULT_DISCOVERY_PERIOD_PS / PS_PER_MS,
        ge=1.0,
        le=10_000.0,
        description="Period of the OLT's serial-number (discovery) quiet windows while the "
        "control plane is emulated; a window that saw a collision is repeated as soon as no "
        "ranging is pending.",
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
        description="Directory for plots. **Not supported yet**: `ftth run` and `ftth validate` "
        "refuse it; use `ftth plan --plot DIR`.",
        json_schema_extra=_extra(default_doc="none"),
    )
    trace_csv: LaxPath | None = Field(
        default=None,
        description="Per-packet trace (arrival, departure, size, flow).",
        json_schema_extra=_extra(default_doc="none"),
    )


class RawInput:
    """The table a scenario was validated from; not part of the scenario's identity.

    Every ``RawInput`` equals every other, so two scenarios with the same keys compare equal
    however they were built (a file, a dict, a dump of another scenario).
    """

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any] | None) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawInput)

    __hash__ = None  # type: ignore[assignment]


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
        default=1,
        ge=0,
        le=INT64_MAX,
        description="Root seed; each source gets its own SeedSequence child.",
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
    activation: Activation = _section(Activation, "activation")
    faults: list[Fault] = Field(
        default_factory=list,
        description="See [[faults]].",
        json_schema_extra=_extra(default_doc="[] (none)"),
    )
    output: Output = _section(Output, "output")

    _source: str = PrivateAttr("<dict>")
    #: The table it was validated from (for overrides on a loaded scenario, ftth.api.run).
    _input: RawInput = PrivateAttr(default_factory=lambda: RawInput(None))

    @field_validator("technology")
    @classmethod
    def _known_technology(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown technology {value!r}; valid: {', '.join(PROFILES)}")
        return value

    @model_validator(mode="after")
    def _check_semantics(self) -> Scenario:
        self._resolve_defaults()
        check_scenario(self)
        return self

    def _resolve_defaults(self) -> None:
        """Fill in the defaults that depend on the profile or on other keys."""
        profile = self.profile
        if self.tree.optical_class is None:
            self.tree.optical_class = profile.default_optical_class
        if self.tconts is None:
            self.tconts = [TCont(name="internet", type=4, max_bps=float(profile.upstream_bps))]
        if self.downstream is None:
            self.downstream = [DownstreamClass(name="internet")]
        if self.dba.name is None:
            self.dba.name = DEFAULT_DBA_FRAMED if profile.framed else DEFAULT_DBA_POLLED
        default_buffer = self.olt.downstream_buffer_bytes
        onus = self.onus if isinstance(self.onus, list) else []
        for classes in [self.downstream, *(onu.downstream or [] for onu in onus)]:
            for cls in classes:
                if cls.buffer_bytes is None:
                    cls.buffer_bytes = default_buffer

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
    def onus_compact(self) -> bool:
        """True for the ``[onus]`` table form (one key for every ONU), False for ``[[onus]]``."""
        return isinstance(self.onus, OnuGenerator)

    def explicit_onus(self) -> list[Onu]:
        """The ONUs as written, the compact form expanded; T-CONTs and classes unresolved."""
        return self.onus.expand() if isinstance(self.onus, OnuGenerator) else list(self.onus)

    @property
    def emulates_control_plane(self) -> bool:
        """True when activation, late joins or faults need the control plane emulated
        (:func:`ftth.emulator.control.control_plan`); otherwise every ONU operates from t = 0."""
        if self.activation.enabled or self.faults:
            return True
        return any(onu.join_at_s > 0 for onu in self.explicit_onus())

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
        explicit = self.explicit_onus()
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


# ======================================================================== helpers
def _check_traffic_table(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Structural check of an inline traffic table (the model checks its parameters later)."""
    if value is None:
        return None
    model = value.get("model")
    if model is None:
        raise ValueError('needs a `model` key, e.g. { model = "poisson", rate_bps = 1e7 }')
    if not isinstance(model, str):
        raise ValueError(f"`model` must be a string, got {describe(model)}")
    return value


_TIER_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKMG])\s*/\s*(\d+(?:\.\d+)?)\s*([kKMG])\s*$")
_SCALE = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def parse_tier(text: str) -> tuple[float, float]:
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
