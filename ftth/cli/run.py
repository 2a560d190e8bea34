"""``ftth run``: emulate a scenario and report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ftth.cli import app
from ftth.cli.common import ScenarioArg, SetOption, with_progress
from ftth.engines import ENGINES
from ftth.errors import InputError


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (``-`` = stdout); a write failure is bad input, not a crash."""
    if str(path) == "-":
        sys.stdout.write(text)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise InputError(str(path), f"cannot write: {exc.strerror or exc}") from None


@app.command()
def run(
    scenario: ScenarioArg = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Emulated seconds (overrides duration_s).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (overrides seed).")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="fast (default) or reference (one event per packet; slow, the test oracle).",
        ),
    ] = None,
    set_: SetOption = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results JSON here ('-' = stdout).")
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="Write summary/delays/tconts/households CSV files into this directory."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No table, no progress bar.")
    ] = False,
) -> None:
    """Emulate a PON scenario and report throughput, delay, loss, fairness and the ledger.

    Exit status 0 when the verdict passes, 1 when it fails, 2 on bad input.
    """
    from rich.console import Console

    from ftth.api import run as run_scenario
    from ftth.report import summary_tables, write_csv
    from ftth.scenario import load_scenario

    overrides = list(set_ or [])
    if duration is not None:
        overrides.append(f"duration_s={duration!r}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    if engine is not None:
        if engine not in ENGINES:
            raise InputError("--engine", f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
        overrides.append(f'engine="{engine}"')
    sc = load_scenario(scenario, overrides)
    console = Console(stderr=json_path is not None and str(json_path) == "-")
    result = with_progress(
        console, sc.name, quiet, lambda progress: run_scenario(sc, progress=progress)
    )
    data = result.to_dict()
    for warning in data["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    out_json = json_path or sc.output.json_path
    if out_json is not None:
        write_text(Path(out_json), result.to_json())
    out_csv = csv_dir or sc.output.csv_dir
    if out_csv is not None:
        write_csv(data, out_csv)
    if not quiet:
        console.print(summary_tables(data))
    raise typer.Exit(0 if result.passed else 1)
