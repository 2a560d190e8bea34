"""``ftth sweep``: a scenario over a grid of keys × seeds into SQLite, and its summary.

``ftth sweep SCENARIO --grid KEY=V1,V2 … --out results.sqlite`` runs the sweep (the ``run``
subcommand, implied); ``ftth sweep summary results.sqlite`` summarises a results file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from ftth.cli import app
from ftth.cli.common import ScenarioArg, SetOption, refuse_conflicts, scenario_inputs
from ftth.errors import InputError, Interrupted
from ftth.output import Output, check_outputs, transaction, write_text

if TYPE_CHECKING:
    from rich.console import Console

    from ftth.sweep.runs import Outcome


class _RunByDefault(TyperGroup):
    """``ftth sweep ARGS`` is ``ftth sweep run ARGS`` unless ARGS start with a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


SWEEP_HELP = (
    "Run a scenario over a grid of scenario keys × seeds, on a local process pool or a Dask "
    "cluster, into an SQLite results file (resumable); summarise it."
    "\n\n"
    "`ftth sweep SCENARIO --grid KEY=V1,V2 --seeds N --out results.sqlite` runs the sweep "
    "(`ftth sweep run …`); `ftth sweep summary results.sqlite` prints mean ± 95 % CI per point."
)

sweep_app = typer.Typer(
    cls=_RunByDefault,
    help=SWEEP_HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(sweep_app, name="sweep")

RUN_HELP = (
    "Run SCENARIO at every point of the grid (the product of the --grid values) with seeds "
    "1..N; one row per run in --out (SQLite), written as each run finishes."
    "\n\n"
    "--grid takes any dotted scenario key, as --set: `--grid onus.count=8,16,32`, "
    "`--grid traffic.upstream_load=0.5:0.95:0.05` (START:STOP:STEP, inclusive, decimal steps), "
    "`--grid dba.name=proportional,sr-dba`.  Every value is checked before anything runs."
    "\n\n"
    "Rerunning with the same --out skips the runs already finished (and retries failed ones). "
    "Ctrl-C / SIGTERM stop the workers at once and keep every finished run."
    "\n\n"
    "Exit status 0 when every run finished, 2 on bad input, 3 when a run failed (each "
    "failure is a row with its error; the first is printed, its traceback saved), 130/143 "
    "when interrupted."
)


def progress_bar(console: Console, label: str) -> Any:
    """A rich progress bar of runs with elapsed time and ETA (transient)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def interrupted_line(
    exc: Interrupted, done: int, total: int, out: str | None, untouched: Sequence[str] = ()
) -> str:
    """The one line said when a sweep or comparison is interrupted: the runs kept, and the
    other outputs (``untouched``), which are left as they were."""
    where = (
        f"kept in {out} (run the same command again to resume)" if out else "not kept (no --out)"
    )
    line = f"interrupted ({exc.signal_name}): {done} of {total} runs finished, {where}"
    if untouched:
        verb = "it was" if len(untouched) == 1 else "they were"
        line += f"; {', '.join(untouched)} left as {verb}"
    return line


@sweep_app.command("run", help=RUN_HELP)
def sweep_run(
    scenario: ScenarioArg = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="KEY=V1,V2,… or KEY=START:STOP:STEP (repeatable; the points are the product).",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Runs per point: seeds 1..N.")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="SQLite results file (created, or resumed).", show_default=False
        ),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Emulated seconds per run (duration_s).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Local worker processes, or the size of --dask local (default: usable cores).",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            help="Run on Dask distributed: 'local' (a LocalCluster) or a scheduler address "
            "tcp://HOST:PORT (needs the cluster extra: pip install 'ftth[cluster]').",
            show_default=False,
        ),
    ] = None,
    set_: SetOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar, no final line.")
    ] = False,
) -> None:
    from rich.console import Console

    from ftth.sweep.executors import make_executor, pool_ahead
    from ftth.sweep.runs import WARM_MODULES, run_tasks
    from ftth.sweep.spec import prepare
    from ftth.sweep.store import Store

    if not grid:
        raise InputError("--grid", "give at least one --grid KEY=V1,V2,…")
    if out is None:
        raise InputError("--out", "name the SQLite results file, e.g. --out results.sqlite")
    if workers is not None and workers < 1:
        raise InputError("--workers", f"must be ≥ 1, got {workers}")
    overrides = list(set_ or [])
    refuse_conflicts(
        overrides,
        {"duration_s": "--duration" if duration is not None else None, "seed": "--seeds"},
    )
    if duration is not None:
        overrides.append(f"duration_s={duration!r}")
    check_outputs([Output("--out", out)], inputs=scenario_inputs(str(scenario or "")))
    # The workers start now and import the emulator while this process checks every grid
    # value (which builds each one): ~1 s of start-up that no longer delays the first run.
    with pool_ahead(workers, dask, WARM_MODULES) as ahead:
        sweep = prepare(scenario, grid, seeds, overrides)
        tasks = sweep.tasks()
        console = Console(stderr=True)
        store = Store(out)
        outcome: Outcome | None = None
        done = [0]
        finished = 0
        try:
            store.record_scenario(
                sweep.scenario_hash, sweep.name, sweep.technology, sweep.source,
                sweep.overrides, sweep.grid_description(),
            )  # fmt: skip
            finished = len(store.finished(sweep.scenario_hash) & {t.key for t in tasks})
            executor = make_executor(workers, dask, len(tasks) - finished, ahead)
            with executor:
                if not quiet and console.is_terminal:
                    with progress_bar(console, "sweep") as bar:
                        task_id = bar.add_task("runs", total=len(tasks) - finished)

                        def advance(_t: Any, _r: Any, n: int, _total: int) -> None:
                            done[0] = n
                            bar.update(task_id, completed=n)

                        outcome = run_tasks(tasks, store, executor, advance)
                else:

                    def count(_t: Any, _r: Any, n: int, _total: int) -> None:
                        done[0] = n

                    outcome = run_tasks(tasks, store, executor, count)
        except Interrupted as exc:
            print(interrupted_line(exc, finished + done[0], len(tasks), str(out)), file=sys.stderr)
            raise SystemExit(exc.exit_status) from None
        finally:
            store.close()
    assert outcome is not None
    if not quiet:
        print(
            f"{outcome.finished} run(s) done, {outcome.skipped} already in {out}, "
            f"{len(outcome.failed)} failed; {len(tasks)} runs = {len(sweep.points())} point(s) "
            f"× {seeds} seed(s) on {executor.label}",
            file=sys.stderr,
        )
    if outcome.failed:
        from ftth.sweep.runs import RunFailedError

        raise RunFailedError(outcome.failed, len(tasks), str(out))


SUMMARY_HELP = (
    "Summarise a results file: per point, every headline metric as its mean and 95 % "
    "Student-t half-width over the seeds (failed and inconclusive runs contribute nothing)."
)


@sweep_app.command("summary", help=SUMMARY_HELP)
def sweep_summary(
    results: Annotated[
        Path, typer.Argument(help="SQLite results file of ftth sweep / compare-dba --out.")
    ],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            help="Metric to show (repeatable; default: a few headline ones).",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Swept key on the plot's x axis (default: the first).", show_default=False
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario", help="Only this scenario (name or hash prefix).", show_default=False
        ),
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write every metric per point to this CSV file.")
    ] = None,
    plot_path: Annotated[
        Path | None,
        typer.Option("--plot", help="Plot the (first) --metric against --by into this .png/.svg."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the summary as JSON ('-' = stdout).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table.")] = False,
) -> None:
    import json

    from rich.console import Console

    from ftth.sweep.store import open_existing
    from ftth.sweep.summary import (
        DEFAULT_TABLE_METRICS,
        check_metric,
        summarise,
        summary_table,
        write_summary_csv,
        write_summary_plot,
    )

    check_outputs(
        [
            Output("--csv", csv_path) if csv_path is not None else None,
            Output("--plot", plot_path) if plot_path is not None else None,
            Output("--json", json_path, stdout_ok=True) if json_path is not None else None,
        ],
        inputs=[results],
    )
    with open_existing(results, "RESULTS") as store:
        summary = summarise(store, scenario)
    if not summary.rows:
        raise InputError(str(results), "holds no run")
    metrics = (
        [check_metric(summary, m) for m in metric]
        if metric
        else [m for m in DEFAULT_TABLE_METRICS if m in summary.metrics]
    )
    x = by if by is not None else (summary.keys[0] if summary.keys else None)
    if plot_path is not None and x is None:
        raise InputError("--plot", "the results have no swept key to plot against")
    if by is not None and by not in summary.keys:
        raise InputError("--by", f"{by!r} is not a swept key; swept: {', '.join(summary.keys)}")
    with transaction():
        if csv_path is not None:
            write_summary_csv(summary, csv_path)
        if plot_path is not None and x is not None:
            write_summary_plot(summary, metrics[0], x, plot_path)
        if json_path is not None:
            write_text(json_path, json.dumps(summary.to_dict(), indent=2, allow_nan=False) + "\n")
    if not quiet:
        console = Console(stderr=json_path is not None and str(json_path) == "-")
        table = summary_table(summary, metrics)
        if not console.is_terminal:
            wide = console.options.update(max_width=10_000)
            console.width = max(console.width, console.measure(table, options=wide).maximum)
        console.print(table)
