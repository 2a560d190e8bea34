"""Wires a scenario into one emulation run and returns its :class:`~ftth.emulator.result.Result`.

``build_spec`` resolves the scenario (topology, T-CONTs, queues, traffic sources), then the
chosen engine runs it: ``fast`` (simpy frame clock + array data plane) or ``reference``
(one simpy event per packet).  Both return a :class:`~ftth.emulator.collector.RawRun` that
:mod:`ftth.emulator.result` turns into the results contract.
"""

from __future__ import annotations

from ftth.emulator.collector import RawRun
from ftth.emulator.fast import ProgressFn, run_fast
from ftth.emulator.reference import run_reference
from ftth.emulator.spec import EmulationSpec
from ftth.engines import ENGINES, FAST, REFERENCE
from ftth.errors import InputError
from ftth.memory import run_memory_policy


def run_spec(spec: EmulationSpec, engine: str = FAST, progress: ProgressFn | None = None) -> RawRun:
    """Run a resolved spec with the named engine."""
    with run_memory_policy():
        return _run(spec, engine, progress)


def _run(spec: EmulationSpec, engine: str, progress: ProgressFn | None) -> RawRun:
    plan = spec.control
    if not spec.profile.framed and plan is not None and not plan.is_steady:
        raise InputError(
            "faults",
            f"{spec.profile.title} does not emulate activation, late joins or faults yet "
            "(the ITU profiles do); remove [[faults]], activation.enabled and join_at_s",
        )
    if not spec.profile.framed:
        # EPON: compiled polling loops ("fast") or one event per window ("reference"); see
        # ftth.emulator.epon.
        from ftth.emulator.epon import run_epon

        return run_epon(spec, progress, engine)
    if engine == FAST:
        return run_fast(spec, progress, plan=plan)
    if engine == REFERENCE:
        return run_reference(spec, plan)
    raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")


__all__ = ["ENGINES", "EmulationSpec", "RawRun", "run_spec"]
