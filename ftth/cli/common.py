"""Pieces the commands share: common arguments and the frame progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

T = TypeVar("T")
ProgressFn = Callable[[int, int], None]

#: The scenario argument of the commands that run one (optional: the embedded default).
ScenarioArg = Annotated[
    Path | None,
    typer.Argument(
        help="Scenario TOML file; omit it for the embedded default scenario.",
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
