"""``ftth validate``: check a scenario file and summarise it.

Validation builds everything ``ftth run`` builds — the scenario, the emulation spec with
every traffic source, the DBA with its parameters (:func:`ftth.emulator.build.check_build`)
— without emulating, so a scenario ``validate`` accepts is one ``run`` accepts.

Exit status 0 with a short summary when the scenario is valid; otherwise the one-line
``error: <key path>: <why>`` of :func:`ftth.cli.main` and exit status 2.  The scenario model
is imported inside the command so ``ftth --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ftth.cli import app


@app.command()
def validate(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario TOML file or seed name (default: the embedded default scenario)."
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a key before validating, e.g. --set tree.splitters=[4,8] "
            "(value parsed as TOML, else a bare string; repeatable).",
        ),
    ] = None,
) -> None:
    """Check a scenario (keys, ranges, split, reach, admission control, traffic and DBA
    parameters: everything a run builds) and summarise it.

    Every problem is reported as one line naming the key path and the allowed range.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ftth.emulator.build import check_build
    from ftth.scenario import load_scenario, summary_rows

    scenario = load_scenario(file, overrides or [])
    spec = check_build(scenario)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in summary_rows(scenario):
        table.add_row(escape(key), escape(value))
    out = Console()
    out.print(f"[green]valid[/green]: {escape(scenario.source)}", highlight=False)
    out.print(table, highlight=False)
    for warning in spec.warnings:  # as `ftth run` prints them
        print(f"warning: {warning}", file=sys.stderr)
