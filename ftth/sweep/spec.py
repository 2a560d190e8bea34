"""A sweep, checked before anything runs: the scenario, the grid, the seeds, the tasks.

:func:`prepare` loads the scenario with its ``--set`` overrides, parses ``--grid``, and checks
every value of every axis the way ``ftth validate`` would (the scenario rules and the build:
DBA parameters, traffic tables), then every point of the product against the scenario rules,
so a bad key or value is one :class:`~ftth.errors.InputError` (exit 2) naming the ``--grid``
option, the key and the allowed range — before a worker starts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftth.errors import InputError
from ftth.results import scenario_hash
from ftth.sweep.grid import Axis, parse_grid, point_overrides, points, toml_literal
from ftth.sweep.runs import RunTask

#: Seeds are 1..N; at most this many.
MAX_SEEDS = 10_000


@dataclass
class Sweep:
    """A checked sweep: the scenario's table and hash, the axes, the seeds."""

    table: dict[str, Any]
    source: str
    scenario_hash: str
    name: str
    technology: str
    overrides: list[str]
    axes: list[Axis]
    seeds: int

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.axes]

    def points(self) -> list[dict[str, Any]]:
        return points(self.axes)

    def tasks(self) -> list[RunTask]:
        """Every run: points in grid order (first axis slowest), seeds 1..N within a point."""
        return [
            RunTask(self.table, self.source, self.scenario_hash, p, s)
            for p in self.points()
            for s in range(1, self.seeds + 1)
        ]

    def grid_description(self) -> dict[str, Any]:
        return {
            "axes": [{"key": a.key, "values": list(a.values)} for a in self.axes],
            "seeds": list(range(1, self.seeds + 1)),
        }


def load_base(
    scenario: str | Path | None, overrides: Sequence[str]
) -> tuple[Any, dict[str, Any], str]:
    """The swept scenario, its validated table (a copy) and its source path."""
    from ftth.scenario import load_scenario

    sc = load_scenario(None if scenario is None else str(scenario), list(overrides))
    raw = sc._input.data
    assert raw is not None  # load_scenario keeps the table it validated
    table = copy.deepcopy(raw)
    return sc, table, sc.source


def _refused(key: str, value: Any, exc: InputError) -> InputError:
    spelled = toml_literal(value)
    return InputError(f"--grid {key}={spelled}", str(exc))


def check_point(table: dict[str, Any], source: str, point: dict[str, Any], build: bool) -> None:
    """Validate ``point`` applied to ``table`` (and build it, as ``ftth validate`` does)."""
    from ftth.scenario import apply_overrides, scenario_from_dict

    sc = scenario_from_dict(apply_overrides(table, point_overrides(point)), source=source)
    if build:
        from ftth.emulator.build import check_build

        check_build(sc)


def prepare(
    scenario: str | Path | None,
    grid: Sequence[str],
    seeds: int,
    overrides: Sequence[str] = (),
) -> Sweep:
    """Check the whole sweep; return it ready to run.

    Raises
    ------
    ftth.errors.InputError
        A bad scenario or ``--set``, a malformed ``--grid``, a key the scenario does not
        have or a value outside its range (``--grid KEY=VALUE: <key>: <why>``), a point
        whose values do not fit together, or ``--seeds`` out of 1..:data:`MAX_SEEDS`.
    """
    if not 1 <= seeds <= MAX_SEEDS:
        raise InputError("--seeds", f"must be in 1..{MAX_SEEDS}, got {seeds}")
    axes = parse_grid(list(grid))
    for axis in axes:
        if axis.key == "seed":
            raise InputError("--grid seed", "seeds are swept by --seeds N (seeds 1..N)")
    sc, table, source = load_base(scenario, overrides)
    # Each value alone (with the build, which checks DBA parameters and traffic tables) …
    for axis in axes:
        for value in axis.values:
            try:
                check_point(table, source, {axis.key: value}, build=True)
            except InputError as exc:
                raise _refused(axis.key, value, exc) from None
    # … then every combination against the scenario's rules (cheap: no build).
    if len(axes) > 1:
        for p in points(axes):
            try:
                check_point(table, source, p, build=False)
            except InputError as exc:
                spelled = " ".join(f"{k}={toml_literal(v)}" for k, v in p.items())
                raise InputError(f"--grid point {spelled}", str(exc)) from None
    return Sweep(
        table=table,
        source=source,
        scenario_hash=scenario_hash(sc),
        name=sc.name,
        technology=sc.profile.name,
        overrides=list(overrides),
        axes=axes,
        seeds=seeds,
    )


__all__ = ["MAX_SEEDS", "Sweep", "check_point", "load_base", "prepare"]
