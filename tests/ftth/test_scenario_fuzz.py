"""Fuzzing the scenario checker: whatever a user writes, a valid scenario or one clean line.

Hypothesis generates random values for every valid key (including ``inf``, ``nan``, huge
and negative integers, empty arrays and tables, wrong types), unknown keys, random DBA
parameters for every registered DBA, random traffic parameters for every traffic model,
random ``--set`` overrides and random TOML documents.  Each one goes through what
``ftth validate`` does (:func:`ftth.scenario.load_scenario` or
:func:`~ftth.scenario.scenario_from_dict`, then :func:`ftth.emulator.build.check_build`):
it must either pass or raise one :class:`~ftth.errors.InputError` whose ``error: …`` line
is a single line — never any other exception.  A smaller budget runs the accepted
scenarios for 2 ms of emulated time: what ``validate`` accepts, ``run`` must run.

Fixed seed (``derandomize=True``) and fixed example budgets, so the test is reproducible
and bounded (about 10 s on one core once the kernels are compiled).
"""

from __future__ import annotations

import copy
import math
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import ftth
from ftth.emulator.build import check_build
from ftth.errors import InputError
from ftth.scenario import Scenario, apply_overrides, load_scenario, scenario_from_dict
from ftth.scenario import strip_optional as _strip
from ftth.traffic import list_models, traffic_params_model
from olt.dba.registry import get_dba, list_dbas

# ------------------------------------------------------------------------------ the bases
#: Small valid scenarios (a few ONUs, every kind of section used) the mutations start from:
#: a framed ITU PON and an EPON, so both kinds of DBA are reached.
BASES: dict[str, dict[str, Any]] = {
    "gpon": {
        "name": "fuzz-gpon",
        "technology": "gpon",
        "duration_s": 0.01,
        "tree": {"feeder_km": 2.0, "splitters": [2, 4]},
        "onus": {"count": 4, "drop_km": [0.5, 1.5]},
        "tconts": [
            {
                "name": "voice",
                "type": 2,
                "assured_bps": 2e6,
                "traffic": {"model": "cbr", "rate_bps": 1e6, "size_bytes": 200},
            },
            {
                "name": "internet",
                "type": 4,
                "max_bps": 5e8,
                "traffic": {"model": "poisson", "rate_bps": 2e7},
            },
        ],
        "downstream": [
            {"name": "video", "priority": 0, "traffic": {"model": "cbr", "rate_bps": 1e7}},
            {
                "name": "internet",
                "priority": 1,
                "traffic": {"model": "pareto-onoff", "rate_bps": 2e7},
            },
        ],
        "households": {"tier": "100M/50M"},
        "dba": {"name": "proportional"},
    },
    "epon": {
        "name": "fuzz-epon",
        "technology": "epon-1g",
        "duration_s": 0.01,
        "tree": {"splitters": [8]},
        "onus": [{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 3.0}],
        "tconts": [
            {
                "name": "internet",
                "type": 4,
                "max_bps": 5e8,
                "traffic": {"model": "household", "direction": "upstream"},
            }
        ],
        "downstream": [{"name": "internet", "traffic": {"model": "poisson", "rate_bps": 1e7}}],
        "dba": {"name": "ipact"},
    },
}


#: Where the generated TOML files go (one directory for the module, removed at exit).
_TMP = tempfile.TemporaryDirectory(prefix="ftth-fuzz-")


# ------------------------------------------------------------------------------ key paths
def _model_paths(model: type[BaseModel], prefix: str) -> list[str]:
    """Every key path of ``model`` (array elements as index 0), sub-tables included."""
    paths: list[str] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        paths.append(key)
        annotation = _strip(info.annotation)
        union = get_origin(annotation) in (Union, types.UnionType)
        # `onus` is a union of a table and an array of tables (Annotated members).
        for member in [_strip(m) for m in get_args(annotation)] if union else [annotation]:
            if get_origin(member) is list:
                item = _strip(get_args(member)[0])
                if isinstance(item, type) and issubclass(item, BaseModel):
                    paths += _model_paths(item, f"{key}.0.")
            elif isinstance(member, type) and issubclass(member, BaseModel):
                paths += _model_paths(member, f"{key}.")
    return sorted(set(paths))


SCENARIO_PATHS = _model_paths(Scenario, "")
#: The paths of number keys: where a plausible but huge value can overflow the engine.
NUMBER_PATHS = [
    path
    for path in SCENARIO_PATHS
    if path.split(".")[-1].endswith(("_s", "_km", "_bps", "_bytes", "_us", "_ms", "_frames"))
    or path.split(".")[-1] in ("seed", "count", "first_id", "weight", "priority", "type", "id")
]
TRAFFIC_KEYS = sorted(
    {"model", *(key for model in list_models() for key in traffic_params_model(model).model_fields)}
)
DBA_NAMES = list_dbas()


def _is_epon(name: str) -> bool:
    return bool(getattr(get_dba(name), "epon", False))


def _dba_keys(name: str) -> list[str]:
    """The parameter names DBA ``name`` takes (its docstring's list, as a table here)."""
    cls = get_dba(name)
    keys = [*getattr(cls, "PARAMS", {}), *getattr(cls, "param_names", ())]
    keys += {
        "proportional": ["min_grant_bytes"],
        "sr-dba": ["demand_slack_bytes"],
        "tm-dba": [
            "increase_factor",
            "increase_bytes",
            "decrease_factor",
            "idle_threshold_bytes",
            "min_grant_bytes",
        ],
    }.get(name, [])
    return sorted(set(keys) | ({"guard_us"} if _is_epon(name) else set()))


DBA_KEYS = sorted({key for name in DBA_NAMES for key in _dba_keys(name)} | {"bogus"})
TRAFFIC_HOLDERS = ["tconts.0.traffic", "tconts.1.traffic", "downstream.0.traffic"]


# ------------------------------------------------------------------------------ values
#: Integers at the edges of every range the engine cares about.
EDGE_INTS = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400]
EDGE_FLOATS = [0.0, -0.0, 1e-300, 1e-9, 0.5, 1.5, 1e30, 1e308, math.inf, -math.inf, math.nan]

scalars = st.one_of(
    st.sampled_from(EDGE_INTS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(EDGE_FLOATS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["", "fast", "gpon", "100M/50M", "poisson", "upstream", "limited", "x\ny"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _get(data: dict[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``data``, or None where the path does not lead."""
    node: Any = data
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    """Set dotted ``path`` in ``data`` like ``--set`` (missing tables created); a path that
    cannot be followed in this document is skipped (another example covers it)."""
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            return
    last = parts[-1]
    if isinstance(node, list):
        if last.isdigit() and int(last) < len(node):
            node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value


#: Values a user might plausibly type, including the large ones that used to pass validation
#: and overflow the engine: mostly accepted, so the run test gets scenarios to run.
plausible = st.one_of(
    st.integers(min_value=0, max_value=300),
    st.sampled_from([2**40, 2**62, 2**63 - 1, 2**63, 10**30, -1]),
    st.floats(min_value=0, max_value=2e9, allow_nan=False),
    st.sampled_from([1e12, 1e30, 1e300, 0.0, 1.0, 4.0]),
    st.booleans(),
)


@st.composite
def nudged(draw: st.DrawFn) -> dict[str, Any]:
    """A base scenario with one numeric or boolean key set to a plausible value."""
    data = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    kind = draw(st.sampled_from(["scenario", "scenario", "traffic", "dba"]))
    if kind == "scenario":
        path = draw(st.sampled_from(NUMBER_PATHS))
        if path.split(".")[-1] in ("duration_s", "warmup_s"):
            return data  # the run test sets its own duration
        current = _get(data, path)
        if (
            isinstance(current, int | float)
            and not isinstance(current, bool)
            and draw(st.booleans())
        ):
            # Half the time a multiple of the value already there: mostly still valid.
            factor = draw(st.sampled_from([0, 0.5, 2, 10, 1000, 10**6]))
            value = current * factor
            _set(data, path, int(value) if isinstance(current, int) else float(value))
        else:
            _set(data, path, draw(plausible))
    elif kind == "traffic":
        holder = draw(st.sampled_from(TRAFFIC_HOLDERS))
        table = _get(data, holder)
        if isinstance(table, dict):
            keys = list(traffic_params_model(table["model"]).model_fields)
            _set(data, f"{holder}.{draw(st.sampled_from(keys))}", draw(plausible))
    else:
        framed = data["technology"] != "epon-1g"
        name = draw(st.sampled_from([n for n in DBA_NAMES if _is_epon(n) != framed]))
        keys = _dba_keys(name) or ["bogus"]
        params = draw(st.dictionaries(st.sampled_from(keys), plausible, max_size=2))
        data["dba"] = {"name": name, "params": params}
    return data


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A base scenario with a few keys set to random values (valid keys mostly)."""
    data = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["scenario", "scenario", "traffic", "dba", "unknown"]))
        if kind == "scenario":
            _set(data, draw(st.sampled_from(SCENARIO_PATHS)), draw(values))
        elif kind == "traffic":
            holder = draw(st.sampled_from(TRAFFIC_HOLDERS))
            key = draw(st.sampled_from(TRAFFIC_KEYS))
            value = draw(st.sampled_from(list_models())) if key == "model" else draw(values)
            _set(data, f"{holder}.{key}", value)
        elif kind == "dba":
            params = draw(st.dictionaries(st.sampled_from(DBA_KEYS), values, max_size=3))
            data["dba"] = {"name": draw(st.sampled_from(DBA_NAMES)), "params": params}
        else:
            path = draw(st.sampled_from(["", "tree.", "tconts.0.", "dba.", "olt.", "output."]))
            _set(data, path + draw(st.text(min_size=1, max_size=8)), draw(values))
    return data


# ------------------------------------------------------------------------------ the check
def _outcome(make: Callable[[], Scenario]) -> Scenario | None:
    """The validated scenario, or None after one clean InputError; anything else raises."""
    try:
        scenario = make()
        check_build(scenario)
    except InputError as exc:
        line = f"error: {exc}"
        assert "\n" not in line and "\r" not in line, line
        assert exc.why, line
        return None
    return scenario


FAST = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(FAST, max_examples=400)
@given(mutated())
def test_random_values_for_valid_keys(data: dict[str, Any]) -> None:
    _outcome(lambda: scenario_from_dict(data))


@settings(FAST, max_examples=150)
@given(
    st.sampled_from(sorted(BASES)),
    st.lists(
        st.one_of(
            st.builds(
                lambda path, text: f"{path}={text}",
                st.sampled_from(SCENARIO_PATHS),
                st.one_of(
                    st.sampled_from(["inf", "nan", "-inf", "1e999", "[]", "{}", "[[]]", '""']),
                    st.sampled_from([str(v) for v in EDGE_INTS]),
                    st.text(max_size=10),
                ),
            ),
            st.text(max_size=16),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_random_overrides(base: str, overrides: list[str]) -> None:
    folder = Path(_TMP.name)
    path = folder / f"{base}.toml"
    if not path.exists():
        path.write_text(_toml(BASES[base]), encoding="utf-8")
    _outcome(lambda: load_scenario(path, overrides))


# ------------------------------------------------------------------------------ TOML documents


def _toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else _toml_str(key)


def _toml_str(text: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in text)
    return f'"{escaped}"'


def _toml_value(value: Any) -> str:
    """One TOML value, inline (tables as inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _toml(data: dict[str, Any]) -> str:
    """A TOML document: one ``key = value`` line per top-level key (inline tables below)."""
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in data.items())


documents = st.one_of(
    mutated().map(_toml),
    st.dictionaries(
        st.sampled_from([*{p.split(".")[0] for p in SCENARIO_PATHS}, "zzz"]), values, max_size=8
    ).map(_toml),
    st.text(max_size=80),
    st.sampled_from(["", "a = ", "[tree", "x = 1\nx = 2", "n = " + "9" * 5000, "\x00"]),
)


@settings(FAST, max_examples=200)
@given(documents)
def test_random_toml_documents(text: str) -> None:
    path = Path(_TMP.name) / "doc.toml"
    path.write_text(text, encoding="utf-8")
    _outcome(lambda: load_scenario(path))


# ------------------------------------------------------------------------------ run
@settings(FAST, max_examples=150)
@given(nudged())
def test_what_validate_accepts_runs(data: dict[str, Any]) -> None:
    """A scenario ``validate`` accepts runs 2 ms (16 frames) with a balanced ledger."""
    data = apply_overrides(data, [])
    data["duration_s"] = 0.002
    data.pop("warmup_s", None)
    scenario = _outcome(lambda: scenario_from_dict(data))
    if scenario is None:
        return
    result = ftth.run(scenario)
    assert result.data["conservation"]["balanced"]
