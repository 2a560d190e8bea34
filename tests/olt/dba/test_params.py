"""``olt.dba.params``: every DBA parameter typed, finite and in range, or one InputError."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ftth.errors import InputError
from olt.dba.params import read_param, read_params


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("int", 7, 7),
        ("int", 7.0, 7),  # a whole float is an integer
        ("float", 3, 3.0),
        ("float", 0.25, 0.25),
        ("bool", False, False),
    ],
)
def test_accepted_values_come_back_typed(kind: str, value: Any, expected: Any) -> None:
    got = read_param("k", value, kind, 0, 10)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value", "fragment"),
    [
        ("int", math.inf, "must be finite (in 0..10), got inf"),
        ("int", math.nan, "must be finite (in 0..10), got nan"),
        ("float", -math.inf, "must be finite (in 0..10), got -inf"),
        ("int", 7.5, "must be a whole number (in 0..10), got 7.5"),
        ("int", 2**64, "must be in 0..10, got a 20-digit integer"),
        ("float", 10**400, "must be in 0..10, got a 401-digit integer"),
        ("float", 11, "must be in 0..10, got 11"),
        ("int", -1, "must be in 0..10, got -1"),
        ("int", True, "must be a number (in 0..10), got True"),
        ("float", [1], "must be a number (in 0..10), got [1]"),
        ("bool", 1, "must be true or false, got 1"),
    ],
)
def test_refused_values_name_the_key_and_the_range(kind: str, value: Any, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        read_param("k", value, kind, 0, 10)
    assert info.value.where == "dba.params.k"
    assert fragment in info.value.why, info.value.why


def test_read_params_fills_defaults_and_refuses_unknown_keys() -> None:
    spec = {"a": ("int", 4, 1, 64), "b": ("bool", True, None, None)}
    assert read_params("x", {"a": 8}, spec) == {"a": 8, "b": True}
    with pytest.raises(InputError) as info:
        read_params("x", {"c": 1}, spec)
    assert (info.value.where, info.value.why) == (
        "dba.params.c",
        "unknown parameter for 'x'; valid: a, b",
    )
