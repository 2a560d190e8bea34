"""Every number of a scenario is finite and bounded; the scenario layer imports nothing above it.

The key paths are walked from the models, so a key added later is covered without editing
this file: every float key refuses ``inf``, ``-inf`` and ``nan``, every integer key refuses
integers beyond int64 (and a 401-digit one), each with one :class:`InputError` naming that
key.  The bounds themselves are derived in :mod:`ftth.scenario.limits`; the test checks
them against the engine's int64 range.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from ftth.errors import InputError
from ftth.scenario import (
    INT64_MAX,
    MAX_BUFFER_BYTES,
    MAX_TEQD_US,
    Onu,
    OnuGenerator,
    Scenario,
    apply_overrides,
    load_scenario,
    scenario_from_dict,
    strip_optional,
)
from ftth.units import PS_PER_US


def base() -> dict[str, Any]:
    """A valid XGS-PON scenario using every list section once (so `x.0.key` paths exist)."""
    return {
        "name": "t",
        "technology": "xgs-pon",
        "tree": {"feeder_km": 2.0, "splitters": [4, 8]},
        "onus": {"count": 8, "drop_km": [0.5, 1.5]},
        "tconts": [{"name": "i", "type": 4, "max_bps": 1e9}],
        "downstream": [{"name": "d"}],
        "faults": [{"at_s": 0.1, "kind": "fibre-cut"}],
    }


def _paths(model: type[BaseModel], prefix: str, kind: type) -> list[str]:
    """Dotted paths of the ``kind`` (int or float) keys of ``model``; arrays as index 0."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        annotation = strip_optional(info.annotation)
        if annotation is kind:
            out.append(key)
        elif model is Scenario and name == "onus":
            out += _paths(OnuGenerator, f"{key}.", kind)  # the table form of `base()`
        elif get_origin(annotation) is list:
            item = strip_optional(get_args(annotation)[0])
            if isinstance(item, type) and issubclass(item, BaseModel) and item is not Onu:
                out += _paths(item, f"{key}.0.", kind)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _paths(annotation, f"{key}.", kind)
    return out


FLOAT_PATHS = _paths(Scenario, "", float)
INT_PATHS = _paths(Scenario, "", int)


def _where(path: str) -> str:
    """``tconts.0.weight`` → ``tconts[0].weight`` (how errors name it)."""
    parts = path.split(".")
    text = parts[0]
    for part in parts[1:]:
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text


def error_at(path: str, value: Any) -> InputError:
    data = apply_overrides(base(), [])
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[parts[-1]] = value
    with pytest.raises(InputError) as info:
        scenario_from_dict(data)
    return info.value


def test_the_walk_finds_the_keys_that_used_to_overflow() -> None:
    assert {"olt.teqd_us", "tconts.0.weight", "downstream.0.weight"} <= set(FLOAT_PATHS)
    assert {"tconts.0.buffer_bytes", "olt.downstream_buffer_bytes", "seed"} <= set(INT_PATHS)
    scenario_from_dict(base())  # and the base they are set in is valid


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("path", FLOAT_PATHS)
def test_every_float_key_refuses_non_finite_numbers(path: str, value: float) -> None:
    error = error_at(path, value)
    assert error.where == _where(path)
    assert error.why.endswith(f"got {value}"), error.why
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "value", [2**63, 2**64, -(2**64), 10**400], ids=["2^63", "2^64", "-2^64", "10^400"]
)
@pytest.mark.parametrize("path", INT_PATHS)
def test_every_integer_key_refuses_integers_beyond_int64(path: str, value: int) -> None:
    error = error_at(path, value)
    assert error.where == _where(path)
    assert "\n" not in str(error) and len(str(error)) < 300


@pytest.mark.parametrize("value", [[0.5, math.inf], [math.nan, 1.0]])
def test_drop_ranges_refuse_non_finite_numbers(value: list[float]) -> None:
    error = error_at("onus.drop_km", value)
    assert error.where.startswith("onus.drop_km") and "finite" in error.why


def test_bounds_keep_the_engine_arithmetic_in_int64() -> None:
    # Teqd in ps plus an hour of run time stays far inside int64.
    assert MAX_TEQD_US * PS_PER_US + 3600 * 10**12 < INT64_MAX
    # A greedy queue reports its buffer as demand; DBAs scale it by 8000 (millibits) and by
    # the longest DBA cycle (64 frames).
    assert MAX_BUFFER_BYTES * 8000 * 64 < INT64_MAX
    assert INT64_MAX == 2**63 - 1


def test_paths_must_be_usable() -> None:
    error = error_at("output.json", "a\x00b")
    assert error.where == "output.json" and "NUL" in error.why
    error = error_at("output.csv_dir", "")
    assert error.where == "output.csv_dir" and "empty" in error.why


def test_an_override_with_a_huge_integer_is_refused_by_type() -> None:
    """`--set seed=<5000 digits>` cannot be parsed as a TOML integer by Python; it falls back
    to a string like any value that is not TOML, and the key's type refuses it."""
    with pytest.raises(InputError) as info:
        load_scenario(None, ["seed=" + "9" * 5000])
    assert info.value.where == "seed" and "must be an integer" in info.value.why
    assert len(str(info.value)) < 300


def test_a_key_with_a_newline_is_shown_quoted(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\n"a\\nb" = 1\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert info.value.where == "'a\\nb'" and "\n" not in str(info.value)


def test_the_scenario_layer_imports_no_dba_traffic_model_or_engine() -> None:
    """Layers point down (issue 10): loading and validating a scenario with traffic and a
    DBA imports nothing from olt, onu, ftth.traffic, ftth.emulator or above."""
    code = (
        "import sys\n"
        "from ftth.scenario import load_scenario\n"
        "load_scenario(None)\n"
        "above = ('olt', 'onu', 'ftth.traffic', 'ftth.emulator', 'ftth.plan', 'ftth.compare',"
        " 'ftth.api', 'ftth.cli', 'numba')\n"
        "print(sorted(m for m in sys.modules if m.startswith(above)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout


@pytest.mark.parametrize(
    ("key", "value"),
    [("id", 2**64), ("id", 10**400), ("drop_km", math.inf), ("drop_km", math.nan)],
)
def test_explicit_onus_refuse_huge_and_non_finite_numbers(key: str, value: Any) -> None:
    data = base()
    data["onus"] = [{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 1.0}]
    data["onus"][1][key] = value
    with pytest.raises(InputError) as info:
        scenario_from_dict(data)
    assert info.value.where == f"onus[1].{key}"
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
