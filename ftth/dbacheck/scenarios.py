"""The scenarios of the DBA report card (``ftth dba-check``), built programmatically.

Every criterion of :mod:`ftth.dbacheck.battery` that needs an emulation runs one (or, for the
load sweep, several) of these scenarios through :func:`ftth.api.run`, so its numbers are
exactly those of ``ftth run FILE --json`` on the TOML file :func:`to_toml` writes
(``ftth dba-check --save-scenarios DIR``).

Common layout: 8 ONUs on a 1:8 split at 1 … 8 km, one downstream class without traffic (the
card is about the upstream DBA), seed 1.  Rates are fractions of ``C``, the analytic
upstream goodput ``saturation_goodput_bps(profile, "upstream", 8)`` (the capacity
``traffic.upstream_load`` refers to), rounded to whole bit/s.  Overload is offered by Poisson
sources of 1518-byte frames; guaranteed T-CONTs carry CBR sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ftth.errors import InputError
from ftth.phy import Profile, get_profile, saturation_goodput_bps

#: ONUs of every card scenario.
ONUS = 8
#: Ethernet frame of the overload sources (bytes): the size saturation_goodput_bps assumes.
FRAME_BYTES = 1518
#: A G.711 voice packet every 20 ms: 160 B of voice + RTP 12 + UDP 8 + IPv4 20 + Ethernet 18.
VOICE_BYTES = 218
VOICE_PERIOD_S = 0.020
#: The provisioned assured rate of the voice T-CONT of issue 15 (sr-dba waited ~16 ms).
VOICE_ASSURED_BPS = 100e3
#: Loads of the delay sweep (fraction of C).
SWEEP_LOADS = (0.1, 0.3, 0.5, 0.7, 0.9, 0.95)
SWEEP_LOADS_QUICK = (0.1, 0.5, 0.95)
#: The load at which work conservation and the guaranteed classes' delay are judged.
HIGH_LOAD = 0.95


@dataclass(frozen=True)
class Durations:
    """Emulated time of the card's scenarios (s)."""

    run_s: float  #: most scenarios
    warmup_s: float
    slow_s: float  #: the slow T-CONTs (a voice packet every 20 ms needs time)

    @property
    def step_at_s(self) -> float:
        """When the step T-CONT of the assured scenario starts sending (half-way through
        the measuring window)."""
        return self.warmup_s + (self.run_s - self.warmup_s) / 2


FULL = Durations(run_s=0.2, warmup_s=0.02, slow_s=1.0)
QUICK = Durations(run_s=0.05, warmup_s=0.01, slow_s=0.25)


def durations(quick: bool) -> Durations:
    return QUICK if quick else FULL


def capacity_bps(tech: str) -> float:
    """``C``: the analytic upstream goodput of the card's PON (8 ONUs, default FEC)."""
    return saturation_goodput_bps(get_profile(tech), "upstream", ONUS)


def min_frame_rate_bps(profile: Profile) -> float:
    """One minimum GEM/XGEM frame per 125 µs frame, in bit/s: a T-CONT provisioned below
    this cannot be granted something every frame (the "slow T-CONT" of the card)."""
    return profile.encap_min_frame_bytes * 8 * 1e12 / profile.frame_ps


def _bps(x: float) -> float:
    return float(max(1, round(x)))


def tcont(
    name: str,
    tcont_type: int,
    *,
    fixed: float = 0.0,
    assured: float = 0.0,
    maximum: float = 0.0,
    weight: float = 1.0,
    traffic: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``[[onus.tconts]]`` entry (rates in bit/s, rounded to whole bit/s)."""
    out: dict[str, Any] = {"name": name, "type": tcont_type}
    if fixed:
        out["fixed_bps"] = _bps(fixed)
    if assured:
        out["assured_bps"] = _bps(assured)
    if maximum:
        out["max_bps"] = _bps(maximum)
    if weight != 1.0:
        out["weight"] = float(weight)
    if traffic is not None:
        out["traffic"] = traffic
    return out


def poisson(rate_bps: float, size: int | None = FRAME_BYTES) -> dict[str, Any]:
    if size is None:
        return {"model": "poisson", "rate_bps": _bps(rate_bps), "sizes": "trimodal"}
    return {"model": "poisson", "rate_bps": _bps(rate_bps), "size_bytes": size}


def cbr(rate_bps: float, size: int = FRAME_BYTES, phase_s: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "cbr", "rate_bps": _bps(rate_bps), "size_bytes": size}
    if phase_s is not None:
        out["phase_ps"] = int(round(phase_s * 1e12))
    return out


def greedy() -> dict[str, Any]:
    """An unbounded source: its queue never empties (the DBRu is at least its buffer)."""
    return {"model": "greedy", "size_bytes": FRAME_BYTES}


def base(tech: str, dba: str, label: str, run_s: float, warmup_s: float) -> dict[str, Any]:
    """The scenario table shared by every card scenario, ONUs without T-CONTs yet."""
    return {
        "name": f"dba-check-{label}",
        "description": f"ftth dba-check: scenario {label!r} of the DBA report card",
        "technology": tech,
        "duration_s": run_s,
        "warmup_s": warmup_s,
        "seed": 1,
        "tree": {"splitters": [ONUS]},
        "onus": [{"id": i + 1, "drop_km": float(i + 1), "tconts": []} for i in range(ONUS)],
        "downstream": [{"name": "internet"}],
        "dba": {"name": dba},
    }


def _be_fill(sc: dict[str, Any], first: int, total_bps: float, line_bps: float) -> None:
    """Best-effort type-4 T-CONTs ``be`` on ONUs ``first…``, Poisson, ``total_bps`` in all."""
    n = ONUS - first
    for i in range(first, ONUS):
        sc["onus"][i]["tconts"].append(
            tcont("be", 4, maximum=line_bps, traffic=poisson(total_bps / n))
        )


def scenario_fixed(tech: str, dba: str, d: Durations) -> dict[str, Any]:
    """Type 1 idle and type 1 loaded at 150 % of R_F, best effort overloading the PON to
    150 % of C."""
    c, line = capacity_bps(tech), float(get_profile(tech).upstream_bps)
    rf = 0.05 * c
    sc = base(tech, dba, "fixed", d.run_s, d.warmup_s)
    sc["onus"][0]["tconts"].append(tcont("fixed-idle", 1, fixed=rf))
    sc["onus"][1]["tconts"].append(tcont("fixed-loaded", 1, fixed=rf, traffic=poisson(1.5 * rf)))
    _be_fill(sc, 2, 1.5 * c - 1.5 * rf, line)
    return sc


def scenario_assured(tech: str, dba: str, d: Durations) -> dict[str, Any]:
    """Type 2 and type 3 offered 150 % of R_A, a type-2 T-CONT stepping from idle to 150 %
    of R_A half-way through, best effort making 150 % of C."""
    c, line = capacity_bps(tech), float(get_profile(tech).upstream_bps)
    ra = 0.1 * c
    sc = base(tech, dba, "assured", d.run_s, d.warmup_s)
    sc["onus"][0]["tconts"].append(tcont("assured-2", 2, assured=ra, traffic=cbr(1.5 * ra)))
    sc["onus"][1]["tconts"].append(
        tcont("assured-3", 3, assured=ra, maximum=3 * ra, traffic=cbr(1.5 * ra))
    )
    sc["onus"][2]["tconts"].append(
        tcont("step-2", 2, assured=ra, traffic=cbr(1.5 * ra, phase_s=d.step_at_s))
    )
    _be_fill(sc, 3, 1.5 * c - 3 * 1.5 * ra, line)
    return sc


#: The capped T-CONTs of the ceilings scenario: (name, type, R_F, R_A, R_M) as fractions of C.
CAPPED = (
    ("cap-2", 2, 0.0, 0.05, 0.0),
    ("cap-3", 3, 0.0, 0.02, 0.05),
    ("cap-4", 4, 0.0, 0.0, 0.05),
    ("cap-5", 5, 0.01, 0.01, 0.05),
)


def scenario_ceilings(tech: str, dba: str, d: Durations) -> dict[str, Any]:
    """Greedy T-CONTs of types 2-5 capped at 5 % of C while the PON has room to spare
    (the rest offers 20 % of C)."""
    c, line = capacity_bps(tech), float(get_profile(tech).upstream_bps)
    sc = base(tech, dba, "ceilings", d.run_s, d.warmup_s)
    for i, (name, t, f, a, m) in enumerate(CAPPED):
        sc["onus"][i]["tconts"].append(
            tcont(name, t, fixed=f * c, assured=a * c, maximum=m * c, traffic=greedy())
        )
    _be_fill(sc, len(CAPPED), 0.2 * c, line)
    return sc


def scenario_fairness(tech: str, dba: str, d: Durations, weighted: bool = False) -> dict[str, Any]:
    """Eight equal best-effort T-CONTs offered 150 % of C; ``weighted``: weights 1,1,2,2,3,3,
    4,4 and 200 % of C, so every T-CONT wants more than its weighted share."""
    c, line = capacity_bps(tech), float(get_profile(tech).upstream_bps)
    label = "weights" if weighted else "fairness"
    sc = base(tech, dba, label, d.run_s, d.warmup_s)
    load = 2.0 if weighted else 1.5
    for i in range(ONUS):
        w = float(1 + i // 2) if weighted else 1.0
        sc["onus"][i]["tconts"].append(
            tcont("be", 4, maximum=line, weight=w, traffic=poisson(load * c / ONUS))
        )
    return sc


#: Guaranteed T-CONTs of every ONU in the load sweep (fractions of C): type 1 R_F, type 2 R_A,
#: each offered 80 % of its rate.
SWEEP_RF, SWEEP_RA, SWEEP_USE = 0.005, 0.01, 0.8


def scenario_load(tech: str, dba: str, d: Durations, load: float) -> dict[str, Any]:
    """Every ONU: a type-1 (CBR 200 B) and a type-2 (CBR 1200 B) T-CONT at 80 % of their
    guarantee, and a best-effort T-CONT with trimodal Poisson traffic making ``load`` × C."""
    c, line = capacity_bps(tech), float(get_profile(tech).upstream_bps)
    sc = base(tech, dba, f"load-{round(load * 100):d}", d.run_s, d.warmup_s)
    guaranteed = ONUS * SWEEP_USE * (SWEEP_RF + SWEEP_RA) * c
    be_total = load * c - guaranteed
    if be_total <= 0:
        raise InputError("load", f"load {load} is below the guaranteed traffic of the sweep")
    for onu in sc["onus"]:
        rf, ra = SWEEP_RF * c, SWEEP_RA * c
        onu["tconts"] += [
            tcont("t1", 1, fixed=rf, traffic=cbr(SWEEP_USE * rf, 200)),
            tcont("t2", 2, assured=ra, traffic=cbr(SWEEP_USE * ra, 1200)),
            tcont("be", 4, maximum=line, traffic=poisson(be_total / ONUS, None)),
        ]
    return sc


def scenario_slow(tech: str, dba: str, d: Durations) -> dict[str, Any]:
    """T-CONTs provisioned below one minimum GEM/XGEM frame per frame beside best effort at
    100 % of C: type 2 and type 3 at R_A = half that rate (64-byte frames at 80 % of R_A)
    and a G.711 voice call on a type-2 T-CONT with R_A = 100 kb/s."""
    p = get_profile(tech)
    c, line = capacity_bps(tech), float(p.upstream_bps)
    slow = 0.5 * min_frame_rate_bps(p)
    sc = base(tech, dba, "slow", d.slow_s, d.warmup_s)
    sc["onus"][0]["tconts"].append(tcont("slow-2", 2, assured=slow, traffic=cbr(0.8 * slow, 64)))
    sc["onus"][1]["tconts"].append(
        tcont("slow-3", 3, assured=slow, maximum=2 * slow, traffic=cbr(0.8 * slow, 64))
    )
    voice_bps = VOICE_BYTES * 8 / VOICE_PERIOD_S
    sc["onus"][2]["tconts"].append(
        tcont("voice", 2, assured=VOICE_ASSURED_BPS, traffic=cbr(voice_bps, VOICE_BYTES))
    )
    _be_fill(sc, 3, 1.0 * c, line)
    return sc


def scenario_overload(tech: str, dba: str, d: Durations) -> dict[str, Any]:
    """Type 2 and type 3 offered 120 % of R_A = 10 % of C while best effort makes 200 %."""
    c, line = capacity_bps(tech), float(get_profile(tech).upstream_bps)
    ra = 0.1 * c
    sc = base(tech, dba, "overload", d.run_s, d.warmup_s)
    sc["onus"][0]["tconts"].append(tcont("assured-2", 2, assured=ra, traffic=cbr(1.2 * ra)))
    sc["onus"][1]["tconts"].append(
        tcont("assured-3", 3, assured=ra, maximum=5 * ra, traffic=cbr(1.2 * ra))
    )
    _be_fill(sc, 2, 2.0 * c - 2 * 1.2 * ra, line)
    return sc


def sweep_loads(quick: bool) -> tuple[float, ...]:
    return SWEEP_LOADS_QUICK if quick else SWEEP_LOADS


def load_key(load: float) -> str:
    return f"load-{round(load * 100):d}"


def build_all(tech: str, dba: str, quick: bool, weighted: bool) -> dict[str, dict[str, Any]]:
    """Every scenario of one DBA's card, keyed by label (``fixed``, ``load-95``, …).

    EPON has no T-CONT types: only fairness, the load sweep and overload are built there."""
    d = durations(quick)
    framed = get_profile(tech).framed
    out: dict[str, dict[str, Any]] = {}
    if framed:
        out["fixed"] = scenario_fixed(tech, dba, d)
        out["assured"] = scenario_assured(tech, dba, d)
        out["ceilings"] = scenario_ceilings(tech, dba, d)
    out["fairness"] = scenario_fairness(tech, dba, d)
    if weighted and framed:
        out["weights"] = scenario_fairness(tech, dba, d, weighted=True)
    for load in sweep_loads(quick):
        out[load_key(load)] = scenario_load(tech, dba, d, load)
    if framed:
        out["slow"] = scenario_slow(tech, dba, d)
    out["overload"] = scenario_overload(tech, dba, d)
    return out


# ============================================================================ TOML
def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else _toml_value(key)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"TOML has no {v}")
        return repr(v)  # round-trips exactly (shortest repr)
    if isinstance(v, str):
        escaped = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(sc: dict[str, Any]) -> str:
    """The scenario as a TOML file ``ftth run`` reads back to the same table (floats by their
    shortest ``repr``, which round-trips exactly).  Handles what the card's scenarios use:
    scalars, arrays, tables of scalars, and ``[[onus]]`` with ``[[onus.tconts]]``."""
    lines = ["# Written by `ftth dba-check --save-scenarios`: rerun with `ftth run FILE --json F`."]
    tables: list[tuple[str, Any]] = []
    for key, v in sc.items():
        if isinstance(v, dict) or (isinstance(v, list) and v and isinstance(v[0], dict)):
            tables.append((key, v))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(v)}")
    for key, v in tables:
        if isinstance(v, dict):
            lines += ["", f"[{key}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()]
            continue
        for item in v:
            lines += ["", f"[[{key}]]"]
            subs = []
            for k, x in item.items():
                if isinstance(x, list) and x and isinstance(x[0], dict):
                    subs.append((k, x))
                else:
                    lines.append(f"{_toml_key(k)} = {_toml_value(x)}")
            for k, rows in subs:
                for row in rows:
                    lines += [f"[[{key}.{k}]]"]
                    lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in row.items()]
    return "\n".join(lines) + "\n"
