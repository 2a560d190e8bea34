"""The grid of a sweep: ``--grid KEY=V1,V2,…`` and ranges ``KEY=START:STOP:STEP``.

A grid is a list of axes, each a dotted scenario key (anything ``--set`` takes) and its
values; the points are their Cartesian product, the first axis varying slowest.  A point is a
``{key: value}`` dict; :func:`point_overrides` turns it into ``--set`` strings and
:func:`point_key` into the canonical JSON that names it in the results store.

Values are TOML values as ``--set`` parses them (``3``, ``0.5``, ``"x"``, ``true``; anything
else is a bare string).  A range ``START:STOP:STEP`` is inclusive of ``STOP`` when a whole
number of steps lands on it, and is computed in decimal, so ``0.5:0.95:0.05`` gives exactly
``0.5, 0.55, …, 0.95`` (ten values, each the float nearest its decimal spelling) rather than
``0.6000000000000001``.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ftth.errors import InputError

#: At most this many values on one axis and points in a grid (a typo such as ``0:1:1e-9``
#: must not allocate a billion points).
MAX_VALUES = 100_000


@dataclass(frozen=True)
class Axis:
    """One swept key and its values, in the order given."""

    key: str
    values: tuple[Any, ...]


def parse_value(text: str) -> Any:
    """A TOML value (``3``, ``0.01``, ``"x"``, ``[4, 16]``, ``true``), else the bare string —
    exactly as ``--set`` reads it (:func:`ftth.scenario.apply_overrides`)."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except (tomllib.TOMLDecodeError, ValueError):
        return text.strip()


def toml_literal(value: Any) -> str:
    """``value`` spelled as a TOML value that :func:`parse_value` reads back equal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string once DEL (not escaped by JSON) is escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{toml_literal(str(k))} = {toml_literal(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise ValueError(f"cannot spell {type(value).__name__} as TOML")


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets, braces and quotes (``[4, 16],[8, 8]`` is two)."""
    parts: list[str] = []
    depth = 0
    quote = ""
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(where, f"{text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise InputError(where, f"{text.strip()!r} is not a finite number")
    return value


def parse_range(text: str, where: str) -> list[int | float]:
    """``START:STOP:STEP`` → its values (inclusive, decimal steps; integers stay integers)."""
    parts = text.split(":")
    if len(parts) != 3:
        raise InputError(where, f"a range is START:STOP:STEP, got {text!r}")
    start, stop, step = (_decimal(p, where) for p in parts)
    if step <= 0:
        raise InputError(where, f"the step must be > 0, got {parts[2].strip()}")
    if stop < start:
        raise InputError(where, f"STOP {parts[1].strip()} is below START {parts[0].strip()}")
    count = int((stop - start) / step) + 1
    if count > MAX_VALUES:
        raise InputError(where, f"{count} values; at most {MAX_VALUES} on one axis")
    integral = all("." not in p and "e" not in p.lower() for p in parts)
    values: list[int | float] = []
    for i in range(count):
        v = start + step * i
        values.append(int(v) if integral else float(v))
    return values


def parse_axis(spec: str) -> Axis:
    """One ``--grid KEY=V1,V2,…`` or ``--grid KEY=START:STOP:STEP``."""
    key, sep, rest = spec.partition("=")
    key = key.strip()
    where = f"--grid {key}" if key else "--grid"
    if not sep or not key:
        raise InputError("--grid", f"expected KEY=V1,V2,… or KEY=START:STOP:STEP, got {spec!r}")
    if any(not part for part in key.split(".")):
        raise InputError(where, f"empty part in key {key!r}")
    rest = rest.strip()
    if not rest:
        raise InputError(where, "no values given")
    values: list[Any]
    if ":" in rest and not rest.startswith(("[", "{", '"', "'")):
        values = list(parse_range(rest, where))
    else:
        values = []
        for part in split_top_level(rest):
            if not part.strip():
                raise InputError(where, f"empty value in {rest!r}")
            values.append(parse_value(part))
    seen: list[str] = []
    for v in values:
        canon = json.dumps(v, sort_keys=True)
        if canon in seen:
            raise InputError(where, f"value {canon} is given twice")
        seen.append(canon)
    return Axis(key, tuple(values))


def parse_grid(specs: list[str]) -> list[Axis]:
    """Every ``--grid`` option; a key may appear once."""
    axes: list[Axis] = []
    for spec in specs:
        axis = parse_axis(spec)
        if any(a.key == axis.key for a in axes):
            raise InputError(f"--grid {axis.key}", "is given twice; list every value in one --grid")
        axes.append(axis)
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_VALUES:
        raise InputError("--grid", f"{total} points; at most {MAX_VALUES}")
    return axes


def points(axes: list[Axis]) -> list[dict[str, Any]]:
    """The Cartesian product, the first axis varying slowest (one empty point without axes)."""
    keys = [a.key for a in axes]
    return [
        dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(a.values for a in axes))
    ]


def point_overrides(point: dict[str, Any]) -> list[str]:
    """``--set`` strings for a point, in its key order."""
    return [f"{k}={toml_literal(v)}" for k, v in point.items()]


def point_key(point: dict[str, Any]) -> str:
    """The canonical JSON of a point (sorted keys, no spaces): its name in the store."""
    return json.dumps(point, sort_keys=True, separators=(",", ":"), allow_nan=False)


__all__ = [
    "Axis",
    "parse_axis",
    "parse_grid",
    "parse_range",
    "parse_value",
    "point_key",
    "point_overrides",
    "points",
    "split_top_level",
    "toml_literal",
]
