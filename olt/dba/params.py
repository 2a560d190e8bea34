"""Reading ``[dba.params]``: one checked value per key, the same rules for every DBA.

A DBA's parameters come straight from the scenario's free-form ``[dba.params]`` table, so
each value is checked here before any arithmetic uses it: the right type (a bool is not a
number, a float is not an integer), finite, and within an inclusive range.  Every problem
raises :class:`~ftth.errors.InputError` naming ``dba.params.<key>`` and what is allowed —
never an ``OverflowError`` from a 30-digit integer or a ``nan`` that slips past ``<``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ftth.errors import InputError

#: kind (``"int"``, ``"float"``, ``"bool"``), default, minimum, maximum (inclusive;
#: ``None`` = unbounded) of one parameter.
ParamSpec = tuple[str, Any, float | None, float | None]


def read_param(key: str, value: Any, kind: str, lo: float | None, hi: float | None) -> Any:
    """``value`` of parameter ``key`` checked against ``kind`` and ``[lo, hi]``.

    Returns it as ``int``, ``float`` or ``bool``.  Integers written as whole floats
    (``2000.0``) are accepted as integers.

    Raises
    ------
    InputError
        ``where = "dba.params.<key>"``: wrong type, not finite, or out of range.
    """
    where = f"dba.params.{key}"
    if kind == "bool":
        if not isinstance(value, bool):
            raise InputError(where, f"must be true or false, got {_shown(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(where, f"must be a number ({_range(kind, lo, hi)}), got {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(where, f"must be finite ({_range(kind, lo, hi)}), got {_shown(value)}")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise InputError(
                where, f"must be a whole number ({_range(kind, lo, hi)}), got {_shown(value)}"
            )
        value = int(value)
    else:
        # Compared before conversion: float() of a 400-digit integer would overflow.
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise InputError(where, f"must be {_range(kind, lo, hi)}, got {_shown(value)}")
        value = float(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError(where, f"must be {_range(kind, lo, hi)}, got {_shown(value)}")
    return value


def read_params(
    dba: str, params: Mapping[str, Any], spec: Mapping[str, ParamSpec]
) -> dict[str, Any]:
    """Validate ``[dba.params]`` against ``spec``; return every parameter with its value.

    Unknown keys, wrong types (a bool is not a number, a float is not an int) and values out
    of range raise :class:`InputError` naming ``dba.params.<key>`` and what is allowed.
    """
    unknown = sorted(set(params) - set(spec))
    if unknown:
        valid = ", ".join(sorted(spec)) or "(none)"
        raise InputError(
            f"dba.params.{unknown[0]}", f"unknown parameter for {dba!r}; valid: {valid}"
        )
    return {
        key: read_param(key, params.get(key, default), kind, lo, hi)
        for key, (kind, default, lo, hi) in spec.items()
    }


def _shown(value: Any) -> str:
    """A parameter value in a one-line message (huge integers by magnitude)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        return f"a {len(str(abs(value)))}-digit integer"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _range(kind: str, lo: float | None, hi: float | None) -> str:
    fmt = (lambda v: str(int(v))) if kind == "int" else (lambda v: f"{v:g}")
    if lo is not None and hi is not None:
        return f"in {fmt(lo)}..{fmt(hi)}"
    if lo is not None:
        return f"≥ {fmt(lo)}"
    return f"≤ {fmt(hi)}" if hi is not None else "any number"
