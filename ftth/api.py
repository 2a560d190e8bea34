"""Python API for notebooks and scripts: ``ftth.run(scenario) -> Result``."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

from ftth import results
from ftth.emulator import run_spec
from ftth.emulator.build import build_spec
from ftth.emulator.fast import ProgressFn
from ftth.emulator.result import Result, assemble
from ftth.emulator.spec import EmulationSpec
from ftth.errors import InputError, InvariantError
from ftth.jit import announce_compilation
from ftth.scenario import Scenario, apply_overrides, load_scenario, scenario_from_dict
from ftth.verdict import DEFAULT_DELAY_BUDGET_MS


def with_overrides(scenario: Scenario, overrides: Sequence[str]) -> Scenario:
    """``scenario`` with ``dotted.key=value`` overrides applied, as ``--set`` would.

    The overrides are applied to the table the scenario was validated from and the result
    validated again, so ``with_overrides(load_scenario(f), o)`` equals ``load_scenario(f, o)``.

    Raises
    ------
    ftth.errors.InputError
        A bad override; or a scenario not built by :func:`~ftth.scenario.load_scenario` /
        :func:`~ftth.scenario.scenario_from_dict`, or changed since (``model_copy(update=…)``),
        whose source table no longer describes it: such overrides are refused, not dropped.
    """
    if not overrides:
        return scenario
    raw = scenario._input.data
    unchanged = (
        raw is not None
        and scenario_from_dict(copy.deepcopy(raw)).model_dump() == scenario.model_dump()
    )
    if raw is None or not unchanged:
        raise InputError(
            "overrides",
            "this Scenario object was changed after loading (or not loaded from a table), so "
            "overrides cannot be applied to it; pass the file with overrides=[...] or use "
            "scenario.model_copy(update={...})",
        )
    return scenario_from_dict(
        apply_overrides(copy.deepcopy(raw), overrides), source=scenario.source
    )


def run(
    scenario: Scenario | str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    engine: str | None = None,
    progress: ProgressFn | None = None,
    record_packets: bool = False,
) -> Result:
    """Emulate one scenario and return its :class:`~ftth.emulator.result.Result`.

    Parameters
    ----------
    scenario
        A loaded :class:`~ftth.scenario.Scenario`, a path to a TOML file, a seed name
        (``"urban-2020-50mbps"``, see ``ftth list seeds``), or ``None`` for the embedded
        default (``seeds/urban-2020-100mbps.toml``).
    overrides
        ``dotted.key=value`` strings, as ``--set`` on the command line; applied to a
        :class:`~ftth.scenario.Scenario` object too (:func:`with_overrides`).
    engine
        ``"fast"`` or ``"reference"``; ``None`` takes the scenario's ``engine``.
    progress
        ``progress(frames_done, frames_total)`` callback (fast engine).
    record_packets
        Keep every packet's departure (tests; memory grows with the run).

    Raises
    ------
    ftth.errors.InputError
        The scenario is invalid or describes an impossible design, or an override cannot be
        applied (:func:`with_overrides`).
    ftth.errors.InvariantError
        The conservation ledger does not balance (a bug, never expected).
    """
    if isinstance(scenario, Scenario):
        scenario = with_overrides(scenario, overrides)
    else:
        scenario = load_scenario(scenario, overrides)
    spec = build_spec(scenario, record_packets=record_packets)
    return run_built(
        spec, engine or scenario.engine, progress, scenario_hash=results.scenario_hash(scenario)
    )


def run_built(
    spec: EmulationSpec,
    engine: str,
    progress: ProgressFn | None = None,
    *,
    delay_budget_ms: float = DEFAULT_DELAY_BUDGET_MS,
    scenario_hash: str | None = None,
) -> Result:
    """Run a built spec, assemble its results and check the ledger: the one path from a
    spec to a :class:`Result`, used by :func:`run` and by :func:`ftth.plan.plan`.

    ``delay_budget_ms`` is the households' delay budget (:mod:`ftth.verdict`);
    ``scenario_hash`` (:func:`ftth.results.scenario_hash` of the scenario the spec was built
    from) goes in the document's header.  The document is checked against
    :class:`ftth.results.RunResult` here, at the boundary every run leaves through.

    Raises
    ------
    ftth.errors.InvariantError
        The conservation ledger does not balance (a bug, never expected).
    """
    announce_compilation()
    raw = run_spec(spec, engine, progress)
    result = assemble(spec, raw, delay_budget_ms=delay_budget_ms)
    if not result.data["conservation"]["balanced"]:
        raise InvariantError(f"conservation ledger does not balance: {result.data['conservation']}")
    result.data["scenario_hash"] = scenario_hash
    results.check(result.data, results.RunResult)
    return result
