"""``ftth.sweep.grid``: ``--grid`` values and ranges, the product, the canonical point."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftth.errors import InputError
from ftth.sweep.grid import (
    Axis,
    parse_axis,
    parse_grid,
    parse_range,
    parse_value,
    point_key,
    point_overrides,
    points,
    toml_literal,
)


def test_decimal_range_is_exact_and_inclusive() -> None:
    """0.5:0.95:0.05 is ten values, each the float nearest its decimal spelling (a float
    loop would give 0.6000000000000001 and might miss 0.95)."""
    values = parse_range("0.5:0.95:0.05", "--grid x")
    assert values == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    assert [repr(v) for v in values][2] == "0.6"
    # STOP not on a whole number of steps: the last value below it.
    assert parse_range("0:1:0.3", "w") == [0.0, 0.3, 0.6, 0.9]
    assert parse_range("0.1:0.1:0.5", "w") == [0.1]


def test_integer_range_stays_integer() -> None:
    values = parse_range("8:32:8", "w")
    assert values == [8, 16, 24, 32] and all(type(v) is int for v in values)


@pytest.mark.parametrize(
    "text,why",
    [
        ("1:2", "START:STOP:STEP"),
        ("1:2:0", "step must be > 0"),
        ("1:2:-1", "step must be > 0"),
        ("3:2:1", "below START"),
        ("a:2:1", "is not a number"),
        ("0:1:1e-9", "at most"),
        ("0:inf:1", "finite"),
    ],
)
def test_bad_ranges(text: str, why: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_range(text, "--grid k")
    assert exc.value.where == "--grid k" and why in exc.value.why


def test_values_are_read_as_set_reads_them() -> None:
    axis = parse_axis('dba.name=proportional,"sr-dba"')
    assert axis == Axis("dba.name", ("proportional", "sr-dba"))
    assert parse_axis("tree.splitters=[4, 16],[8,8]").values == ([4, 16], [8, 8])
    assert parse_axis("x={a = 1, b = 2},{a = 3}").values == ({"a": 1, "b": 2}, {"a": 3})
    assert parse_axis("onus.count = 8, 16").values == (8, 16)
    assert parse_axis("flag=true,false").values == (True, False)


@pytest.mark.parametrize(
    "spec,where",
    [
        ("novalue", "--grid"),
        ("=1,2", "--grid"),
        ("a..b=1", "--grid a..b"),
        ("k=", "--grid k"),
        ("k=1,,2", "--grid k"),
        ("k=0.5,0.50", "--grid k"),  # the same number twice
    ],
)
def test_bad_axes(spec: str, where: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_axis(spec)
    assert exc.value.where == where


def test_a_key_given_twice() -> None:
    with pytest.raises(InputError) as exc:
        parse_grid(["a=1,2", "a=3"])
    assert exc.value.where == "--grid a"


def test_product_first_axis_slowest() -> None:
    axes = parse_grid(["a=1,2", "b=x,y,z"])
    got = points(axes)
    assert len(got) == 6
    assert got[:4] == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"}, {"a": 2, "b": "x"}
    ]  # fmt: skip
    assert points([]) == [{}]


def test_point_key_is_canonical() -> None:
    assert point_key({"b": 0.55, "a": 3}) == point_key({"a": 3, "b": 0.55}) == '{"a":3,"b":0.55}'


def test_point_overrides_read_back_equal() -> None:
    point = {"dba.name": "sr-dba", "x.y": 0.1, "n": 3, "s": [4, 16], "t": {"k": "v"}}
    for override, (key, value) in zip(point_overrides(point), point.items(), strict=True):
        k, _, v = override.partition("=")
        assert k == key and parse_value(v) == value


_scalars = (
    st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
)


@given(st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6))
def test_toml_literal_round_trips(value: object) -> None:
    assert parse_value(toml_literal(value)) == value


def test_range_matches_decimal_arithmetic() -> None:
    values = parse_range("0.01:0.2:0.01", "w")
    assert values == [float(Decimal("0.01") * i) for i in range(1, 21)]
    assert json.dumps(values[6]) == "0.07"
