"""``ftth compare-dba``: run DBAs side by side over loads and seeds (:mod:`ftth.compare`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ftth.cli import app
from ftth.cli.common import SetOption, refuse_conflicts, scenario_inputs
from ftth.errors import InputError, Interrupted
from ftth.output import Output, check_outputs, transaction, write_text

#: Files ``ftth compare-dba --csv DIR`` writes.
COMPARE_CSV_NAMES = ("compare-runs.csv", "compare-summary.csv")

if TYPE_CHECKING:
    from ftth.compare import Cell


HELP = (
    "Compare DBAs on the same scenario: the grid DBA × load × seed, a sweep on a local "
    "process pool or Dask (the machinery of `ftth sweep`)."
    "\n\n"
    "Prints, per DBA and load, mean and p99 upstream delay per T-CONT type, utilisation "
    "(throughput / capacity), Jain fairness and loss, each as mean ± 95 % confidence "
    "half-width over the seeds (Student t)."
    "\n\n"
    "With --out, every run is a row of an SQLite results file (the one `ftth sweep` writes; "
    "`ftth sweep summary` reads it); rerunning with the same --out skips finished runs."
    "\n\n"
    "Exit status 0 when every run completed, 2 on bad input, 3 when a run failed (e.g. a DBA "
    "broke a BWmap rule: the other runs are kept and reported, the failure is one line and "
    "its traceback is saved to a file), 130/143 when interrupted (workers stopped at once)."
)


@app.command("compare-dba", help=HELP)
def compare_dba(
    scenario: Annotated[
        Path,
        typer.Argument(help="Scenario TOML file (e.g. bench/standard.toml).", show_default=False),
    ],
    dba: Annotated[
        str | None,
        typer.Option(
            "--dba",
            help="Comma-separated DBAs (`ftth list dbas`), each optionally with [dba.params]: "
            "NAME:KEY=VALUE[:KEY=VALUE…], e.g. proportional,'proportional:min_grant_bytes=1518'; "
            "default: every DBA that fits the technology (frame DBAs for GPON/XG(S)-PON, "
            "polling DBAs for EPON).",
            show_default=False,
        ),
    ] = None,
    loads: Annotated[
        str,
        typer.Option(
            "--loads",
            help="Comma-separated offered loads in (0, 2], fraction of the analytic capacity; "
            "each sets traffic.upstream_load and traffic.downstream_load.",
        ),
    ] = "0.3,0.6,0.9,0.95",
    seeds: Annotated[int, typer.Option("--seeds", help="Runs per DBA × load: seeds 1..N.")] = 3,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Emulated seconds per run (duration_s).")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "--workers",
            help="Local worker processes, or the size of --dask local (default: usable cores; "
            "1 runs in this process).",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            help="Run on Dask distributed: 'local' (a LocalCluster) or a scheduler address "
            "tcp://HOST:PORT (needs the cluster extra).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="SQLite results file to resume from and write to (as ftth sweep --out).",
            show_default=False,
        ),
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option("--csv", help="Write compare-runs.csv and compare-summary.csv here."),
    ] = None,
    plot_dir: Annotated[
        Path | None,
        typer.Option("--plot", help="Write dba-delay-vs-load.png and .svg here."),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write every run and the summary as JSON ('-' = stdout)."),
    ] = None,
    set_: SetOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No table, no progress bar.")
    ] = False,
) -> None:
    """Run ``ftth compare-dba`` (help text in :data:`HELP`)."""
    from rich.console import Console

    from ftth.cli.sweep import interrupted_line, progress_bar
    from ftth.compare import (
        PLOT_STEM,
        prepare,
        run_prepared,
        summary_table,
        summary_tables_narrow,
        write_compare_csv,
        write_compare_plots,
    )
    from ftth.plots import plot_file_names
    from ftth.sweep.store import Store

    if jobs is not None and jobs < 1:
        raise InputError("--jobs", f"must be ≥ 1, got {jobs}")
    refuse_conflicts(
        set_,
        {
            "duration_s": "--duration" if duration is not None else None,
            "dba.name": "--dba" if dba is not None else None,
            "traffic.upstream_load": "--loads",
            "traffic.downstream_load": "--loads",
            "seed": "--seeds",
        },
    )
    check_outputs(
        [
            Output("--json", json_path, stdout_ok=True) if json_path is not None else None,
            Output("--csv", csv_dir, "dir", names=COMPARE_CSV_NAMES)
            if csv_dir is not None
            else None,
            Output("--plot", plot_dir, "dir", names=plot_file_names((PLOT_STEM,)))
            if plot_dir is not None
            else None,
            Output("--out", out) if out is not None else None,
        ],
        inputs=scenario_inputs(str(scenario)),
    )
    from ftth.sweep.executors import pool_ahead
    from ftth.sweep.runs import WARM_MODULES

    # The workers start now, importing the emulator while the grid is checked (~1 s each).
    with pool_ahead(jobs, dask, WARM_MODULES) as ahead:
        grid, name, technology, duration_s = prepare(
            scenario,
            dbas=dba,
            loads=loads,
            seeds=seeds,
            duration_s=duration,
            overrides=list(set_ or []),
        )
        console = Console(stderr=json_path is not None and str(json_path) == "-")
        total = len(grid.cells())
        store = Store(out if out is not None else ":memory:")
        done = [0]
        already = 0

        def count(_cell: Cell, n: int, _total: int) -> None:
            done[0] = n

        try:
            keys = {t.key for t in grid.tasks()}
            already = len(store.finished(grid.scenario_hash or "") & keys)
            if not quiet and console.is_terminal:
                with progress_bar(console, "compare-dba") as bar:
                    task = bar.add_task("runs", total=total)

                    def advance(cell: Cell, n: int, left: int) -> None:
                        count(cell, n, left)
                        bar.update(task, completed=total - left + n)

                    res = run_prepared(
                        grid, name, technology, duration_s, jobs=jobs, on_done=advance, dask=dask,
                        store=store, ahead=ahead,
                    )  # fmt: skip
            else:
                res = run_prepared(
                    grid, name, technology, duration_s, jobs=jobs, on_done=count, dask=dask,
                    store=store, ahead=ahead,
                )  # fmt: skip
        except Interrupted as exc:
            kept = str(out) if out is not None else None
            finished = min(total, done[0] + already)
            untouched = [str(p) for p in (json_path, csv_dir, plot_dir) if p is not None]
            untouched = [p for p in untouched if p != "-"]
            print(interrupted_line(exc, finished, total, kept, untouched), file=sys.stderr)
            raise SystemExit(exc.exit_status) from None
        finally:
            store.close()
    with transaction():  # every file renamed into place at the end, or none
        if json_path is not None:
            write_text(json_path, res.to_json())
        if csv_dir is not None:
            write_compare_csv(res, csv_dir)
        if plot_dir is not None:
            write_compare_plots(res, plot_dir)
    if not quiet:
        table = summary_table(res)
        wide = console.options.update(max_width=10_000)
        needed = console.measure(table, options=wide).maximum
        if not console.is_terminal:  # a file or a pipe: as wide as the table, never wrapped
            console.width = max(console.width, needed)
        elif needed > console.width:  # a narrow terminal: one table per DBA
            table = summary_tables_narrow(res)
        console.print(table)
        console.print(
            f"{total} runs ({len(grid.dbas)} DBA(s) × {len(grid.loads)} load(s) × "
            f"{grid.seeds} seed(s)) in {res.wall_s:.1f} s wall"
        )
    failure = res.error()
    if failure is not None:  # exit 3 (ftth.cli.main), after every finished cell was reported
        raise failure
