"""How numbers, distances and TOML values are written in scenario error messages.

Shared by the models, the cross-key rules and the loader, so ``20`` reads the same whether
a field validator, a rule or the pydantic translator reports it.
"""

from __future__ import annotations

from typing import Any


def fmt_num(value: float | int) -> str:
    """Short number for messages: ``20`` not ``20.0``; large floats as ``1e+09``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e7:
            return str(int(value))
        return f"{value:g}"
    if isinstance(value, int) and abs(value) > 2**63:
        # A 30-digit integer is unreadable in a one-line message; the magnitude is the point
        # (and beyond ~1e308 not even a float can show it).
        digits = len(str(abs(value)))
        return f"{value:g}" if digits <= 300 else f"a {digits}-digit integer"
    return str(value)


def km(value: float) -> str:
    """A distance for messages, to the metre: ``17.148`` not ``17.147586206896552``."""
    return fmt_num(round(value, 3))


def describe(value: Any) -> str:
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
        return fmt_num(value)
    text = repr(value)
    # Keep the message on one short line whatever the user typed.
    return text if len(text) <= 60 else text[:57] + "..."


def id_ranges(ids: set[int]) -> str:
    """``{1, 2, 3, 7}`` → ``"1..3, 7"``."""
    runs: list[list[int]] = []
    for value in sorted(ids):
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)
