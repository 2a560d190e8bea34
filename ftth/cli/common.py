"""Pieces the commands share: common arguments and the frame progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from ftth.errors import InputError

T = TypeVar("T")
ProgressFn = Callable[[int, int], None]

#: The scenario argument of the commands that run one (optional: the embedded default).
ScenarioArg = Annotated[
    Path | None,
    typer.Argument(
        help="Scenario TOML file or seed name (`ftth list seeds`); omit it for the "
        "embedded default scenario.",
        show_default=False,
    ),
]
#: ``--set dotted.key=value`` overrides, as every command that loads a scenario takes them.
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override any scenario key: --set dotted.key=value (repeatable)."),
]


def with_progress(
    console: Console, label: str, quiet: bool, call: Callable[[ProgressFn | None], T]
) -> T:
    """Run ``call(progress)`` under a rich progress bar of emulated frames.

    The bar is shown only on a terminal and when not ``quiet``; otherwise ``call`` gets
    ``None`` and runs silently (logs and pipes stay clean).
    """
    if quiet or not console.is_terminal:
        return call(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("frames", total=1.0)
        return call(lambda done, total: bar.update(task, completed=done / total))


def override_key(override: str) -> str:
    """The dotted key of a ``--set key=value`` string (``""`` when it has no ``=``)."""
    key, sep, _ = override.partition("=")
    return key.strip() if sep else ""


def refuse_conflicts(overrides: list[str] | None, given: dict[str, str | None]) -> None:
    """Refuse an option that sets the same scenario key as a ``--set`` (which would win?).

    Parameters
    ----------
    overrides
        The ``--set`` strings.
    given
        Scenario key → the option that sets it, for the options actually given
        (``None`` values are skipped), e.g. ``{"duration_s": "--duration"}``.

    Raises
    ------
    ftth.errors.InputError
        Naming the option and the ``--set`` it conflicts with.
    """
    for override in overrides or []:
        key = override_key(override)
        option = given.get(key)
        if option is not None:
            raise InputError(option, f"conflicts with --set {override}; give only one of them")


def refuse_together(first: tuple[str, bool], *others: tuple[str, bool], why: str = "") -> None:
    """Refuse ``first`` together with any of ``others`` (each ``(option, given)``)."""
    name, on = first
    if not on:
        return
    for other, other_on in others:
        if other_on:
            tail = f": {why}" if why else ""
            raise InputError(name, f"cannot be combined with {other}{tail}")


def scenario_inputs(source: str) -> list[Path]:
    """The input files of a loaded scenario (its TOML file) that no output may replace."""
    path = Path(source)
    return [path] if path.is_file() else []
