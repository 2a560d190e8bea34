"""Python API for notebooks and scripts: ``ftth.run(scenario) -> Result``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ftth.emulator import run_spec
from ftth.emulator.build import build_spec
from ftth.emulator.fast import ProgressFn
from ftth.emulator.result import Result, assemble
from ftth.emulator.spec import EmulationSpec
from ftth.errors import InvariantError
from ftth.scenario import Scenario, load_scenario
from ftth.verdict import DEFAULT_DELAY_BUDGET_MS


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
        A loaded :class:`~ftth.scenario.Scenario`, a path to a TOML file, or ``None`` for the
        embedded default (``seeds/urban-2020-100mbps.toml``).
    overrides
        ``dotted.key=value`` strings, as ``--set`` on the command line (files/None only).
    engine
        ``"fast"`` or ``"reference"``; ``None`` takes the scenario's ``engine``.
    progress
        ``progress(frames_done, frames_total)`` callback (fast engine).
    record_packets
        Keep every packet's departure (tests; memory grows with the run).

    Raises
    ------
    ftth.errors.InputError
        The scenario is invalid or describes an impossible design.
    ftth.errors.InvariantError
        The conservation ledger does not balance (a bug, never expected).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides)
    spec = build_spec(scenario, record_packets=record_packets)
    return run_built(spec, engine or scenario.engine, progress)


def run_built(
    spec: EmulationSpec,
    engine: str,
    progress: ProgressFn | None = None,
    *,
    delay_budget_ms: float = DEFAULT_DELAY_BUDGET_MS,
) -> Result:
    """Run a built spec, assemble its results and check the ledger: the one path from a
    spec to a :class:`Result`, used by :func:`run` and by :func:`ftth.plan.plan`.

    ``delay_budget_ms`` is the households' delay budget (:mod:`ftth.verdict`).

    Raises
    ------
    ftth.errors.InvariantError
        The conservation ledger does not balance (a bug, never expected).
    """
    raw = run_spec(spec, engine, progress)
    result = assemble(spec, raw, delay_budget_ms=delay_budget_ms)
    if not result.data["conservation"]["balanced"]:
        raise InvariantError(f"conservation ledger does not balance: {result.data['conservation']}")
    return result
