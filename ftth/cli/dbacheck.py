"""``ftth dba-check``: the DBA report card (:mod:`ftth.dbacheck`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ftth.cli import app
from ftth.errors import InputError
from ftth.output import Output, check_outputs, transaction, write_text

HELP = (
    "The DBA report card: a fixed battery of criteria run on registered DBAs "
    "(built-in or plugin), side by side."
    "\n\n"
    "Each criterion is one number against one threshold, PASS or FAIL, with the source of the "
    "threshold: BWmap validity under fuzzed reports and provisioning; type 1 gets exactly R_F; "
    "type 2/3 get R_A at 150 % load and the time to restore it after a step from idle; no "
    "T-CONT above its ceiling (over the run and per grant); Jain fairness and shares by weight "
    "at overload; work conservation and delays at 95 % load (best-effort delay from 10 to 95 "
    "%); slow T-CONTs; overload at 200 %; DBA frames per wall second.  docs/dba-report-card.md "
    "describes every criterion."
    "\n\n"
    "Exit status 0 when every criterion passes, 1 when some fail, 2 on bad input (unknown DBA, "
    "a technology the DBA does not support), 3 when a DBA breaks the standard's rules (a BWmap "
    "refused) or crashes."
)


@app.command("dba-check", help=HELP)
def dba_check(
    dbas: Annotated[
        str,
        typer.Argument(
            help="Comma-separated DBA names (`ftth list dbas`), e.g. sr-dba,ebu.",
            show_default=False,
            metavar="DBA[,DBA…]",
        ),
    ],
    tech: Annotated[
        str,
        typer.Option(
            "--tech",
            help="Technology: gpon, xg-pon, xgs-pon (frame DBAs) or epon-10g (EPON polling "
            "DBAs: fairness, work conservation, delay and the ledger only).",
        ),
    ] = "xgs-pon",
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Shorter runs (0.05 s; 0.25 s for the slow T-CONTs), three loads, a smaller "
            "fuzz: under a minute per DBA on an idle 2-core machine.",
        ),
    ] = False,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write the card as JSON ('-' = stdout)."),
    ] = None,
    markdown_path: Annotated[
        Path | None,
        typer.Option("--markdown", help="Write a Markdown report (with --plots: its figures)."),
    ] = None,
    plot_dir: Annotated[
        Path | None,
        typer.Option(
            "--plots",
            help="Write the figures here: delay and throughput against load, restoration step "
            "response (.png and .svg).",
        ),
    ] = None,
    scenario_dir: Annotated[
        Path | None,
        typer.Option(
            "--save-scenarios",
            help="Write every scenario of the card as TOML (<dba>--<label>.toml): `ftth run "
            "FILE --json` on one gives the numbers the card used.",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", help="Worker processes (default: the number of CPUs).", show_default=False
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No table, no progress bar.")
    ] = False,
) -> None:
    """Run ``ftth dba-check`` (help text in :data:`HELP`)."""
    from rich.console import Console

    from ftth.dbacheck import battery, report
    from ftth.plots import plot_file_names

    if jobs is not None and jobs < 1:
        raise InputError("--jobs", f"must be ≥ 1, got {jobs}")
    names = battery.parse_dbas(dbas, tech)
    check_outputs(
        [
            Output("--json", json_path, stdout_ok=True) if json_path is not None else None,
            Output("--markdown", markdown_path) if markdown_path is not None else None,
            Output("--plots", plot_dir, "dir", names=plot_file_names(report.plot_stems(tech)))
            if plot_dir is not None
            else None,
            Output("--save-scenarios", scenario_dir, "dir") if scenario_dir is not None else None,
        ],
        inputs=[],
    )
    console = Console(stderr=json_path is not None and str(json_path) == "-")
    if not quiet and console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("[bold]dba-check[/]"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("runs", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            card = battery.check(names, tech, quick=quick, jobs=jobs, on_done=advance)
    else:
        card = battery.check(names, tech, quick=quick, jobs=jobs)
    with transaction():  # every file renamed into place at the end, or none
        if json_path is not None:
            write_text(json_path, report.card_json(card))
        if plot_dir is not None:
            report.write_plots(card, plot_dir)
        if markdown_path is not None:
            write_text(markdown_path, report.report(card, plot_dir, markdown_path))
        if scenario_dir is not None:
            report.save_scenarios(card, scenario_dir)
    if not quiet:
        table = report.card_table(card)
        if not console.is_terminal:
            wide = console.options.update(max_width=10_000)
            console.width = max(console.width, console.measure(table, options=wide).maximum)
        console.print(table)
        for d in card.dbas:
            for label, err in card.errors[d].items():
                console.print(f"[red]{d}[/] scenario {label}: {err}")
        console.print(f"{len(names)} DBA(s) on {tech} in {card.wall_s:.1f} s wall")
    raise typer.Exit(card.exit_code)
