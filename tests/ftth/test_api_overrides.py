"""``ftth.run(scenario_object, overrides=[...])`` applies the overrides (or refuses them)."""

from __future__ import annotations

import pytest

import ftth
from ftth.api import with_overrides
from ftth.emulator.result import WALL_CLOCK_KEYS
from ftth.errors import InputError
from ftth.scenario import load_scenario

OVERRIDES = ["duration_s=0.01", "seed=7", 'dba.name="sr-dba"']


def _stable(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in WALL_CLOCK_KEYS}


def test_overrides_on_a_scenario_object_equal_overrides_at_load() -> None:
    base = load_scenario("urban-2020-50mbps")
    direct = load_scenario("urban-2020-50mbps", OVERRIDES)
    assert with_overrides(base, OVERRIDES).model_dump() == direct.model_dump()
    assert base.duration_s == 0.2  # the object itself is not changed


def test_ftth_run_applies_them() -> None:
    sc = load_scenario("urban-2020-50mbps")
    result = ftth.run(sc, overrides=OVERRIDES).to_dict()
    assert result["duration_s"] == 0.01 and result["seed"] == 7
    assert result["scenario"]["dba"] == "sr-dba"
    same = ftth.run("urban-2020-50mbps", overrides=OVERRIDES).to_dict()
    assert _stable(result) == _stable(same)


def test_a_changed_object_refuses_overrides_instead_of_dropping_them() -> None:
    sc = load_scenario("urban-2020-50mbps").model_copy(update={"seed": 99})
    with pytest.raises(InputError) as caught:
        ftth.run(sc, overrides=["duration_s=0.01"])
    assert caught.value.where == "overrides" and "changed after loading" in caught.value.why


def test_a_bad_override_is_input_error() -> None:
    with pytest.raises(InputError):
        ftth.run(load_scenario("urban-2020-50mbps"), overrides=["onus.count=0"])


def test_no_overrides_keeps_the_object() -> None:
    sc = load_scenario("urban-2020-50mbps")
    assert with_overrides(sc, []) is sc
