"""``ftth plan``: can this PON give every household its tier at the busy hour?

Optical budget, then an analytic capacity check, then an emulation with speed-test probes
(:mod:`ftth.plan` and :mod:`ftth.verdict` hold the rules).  Exit status 0 when the verdict
passes, 1 when it fails or is inconclusive (the emulation too short to judge), 2 for bad
input (one line ``error: <key>: <why>``).  ``--max-households`` / ``--max-tier`` search for
the largest design that passes and print every step; they exit 0 when something passes, 1
when even the smallest candidate fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ftth.cli import app
from ftth.cli.common import (
    ScenarioArg,
    SetOption,
    refuse_conflicts,
    refuse_together,
    scenario_inputs,
    with_progress,
)
from ftth.cli.run import CSV_NAMES
from ftth.errors import InputError
from ftth.output import Output, check_outputs, transaction, write_text

#: Files ``ftth plan --csv DIR`` writes: the run's tables and the plan's own.
PLAN_CSV_NAMES = (*CSV_NAMES, "plan_households.csv", "plan_directions.csv")

if TYPE_CHECKING:
    from rich.console import Console, Group

    from ftth.plan import DirectionVerdict, PlanResult, SearchResult, SearchStep


def _rate(value: float | None) -> str:
    from ftth.phy import fmt_rate

    return "—" if value is None else fmt_rate(value)


def _ms(us: float | None) -> str:
    return "—" if us is None else f"{us / 1000:.2f}"


def _achieved(d: DirectionVerdict) -> str:
    if not d.achieved_bps:
        return "—"
    values = [d.achieved_bps[k] for k in ("min", "p5", "median")]
    scale, unit = next(
        ((s, u) for s, u in ((1e9, "Gb/s"), (1e6, "Mb/s"), (1e3, "kb/s")) if d.tier_bps >= s),
        (1.0, "b/s"),
    )
    return " / ".join(f"{v / scale:.3g}" for v in values) + f" {unit}"


def _delays(d: DirectionVerdict) -> str:
    s = d.delay_us
    if s is None or not s.get("count"):
        return "—"
    return " / ".join(_ms(s[k]) for k in ("p50", "p99", "max"))


def _verdict(d: DirectionVerdict) -> str:
    if not d.passed:
        return "[bold red]FAIL[/]"
    return "[green]PASS[/]" if d.emulated else "[green]PASS[/] (analytic)"


def verdict_tables(result: PlanResult) -> Group:
    """The plan on the terminal: design line, optical budget, one row per direction, reasons."""
    from rich.console import Group
    from rich.table import Table

    sc = result.scenario
    budget = result.budget
    tight = budget.tightest
    head = Table(show_header=False, box=None, title_justify="left")
    head.add_row(
        "design",
        f"{sc.name}: {sc.profile.title} 1:{sc.tree.split_ratio}, {sc.n_onus} ONUs × "
        f"{result.per_onu} household(s) = {result.households} households, tier {result.tier}",
    )
    head.add_row(
        "speed tests",
        f"{len(result.probed)} households probed (concurrency {result.concurrency:g}, "
        f"{result.probe_direction}), pass at ≥ {result.pass_ratio:.0%} of the tier and "
        f"delay-sensitive p99 ≤ {result.delay_budget_ms:g} ms",
    )
    head.add_row(
        "optical budget",
        (
            f"[green]PASS[/] class {budget.optical_class}, tightest ONU {tight.onu_id} "
            f"{tight.margin_db:.2f} dB headroom (≥ {budget.required_margin_db:g} dB required)"
        )
        if budget.passed
        else f"[bold red]FAIL[/] {len(budget.failures)} of {len(budget.onus)} ONUs",
    )
    if result.result is not None:
        data = result.result.to_dict()
        head.add_row(
            "emulation",
            f"{data['duration_s']:g} s ({data['warmup_s']:g} s warm-up), seed {data['seed']}, "
            f"{data['engine']} engine, {data['wall_s']:.1f} s wall",
        )
    table = Table(title="Busy-hour verdict per direction", title_justify="left")
    table.add_column("")
    for d in (result.upstream, result.downstream):
        table.add_column(d.direction, justify="right")

    def row(label: str, fn: Any) -> None:
        table.add_row(label, *(fn(d) for d in (result.upstream, result.downstream)))

    row("tier", lambda d: _rate(d.tier_bps))
    row("probed households", lambda d: str(d.probed))
    row("capacity (analytic)", lambda d: _rate(d.capacity_bps))
    row("offered (analytic)", lambda d: _rate(d.offered_bps))
    row("carried (emulated)", lambda d: _rate(d.throughput_bps))
    row("achieved min / p5 / median", _achieved)
    row("delay-sensitive class", lambda d: ", ".join(d.delay_classes) or "—")
    row("  p50 / p99 / max (ms)", _delays)
    row("verdict", _verdict)
    foot = Table(show_header=False, box=None)
    from rich.markup import escape

    from ftth.report import status_markup

    status = result.status
    foot.add_row("verdict", status_markup(status))
    colour = "yellow" if status == "inconclusive" else "red"
    for reason in result.reasons:
        foot.add_row("", f"[{colour}]{escape(reason)}[/]")
    for note in result.notes:
        foot.add_row("note", note)
    return Group(head, table, foot)


def _step_line(index: int, step: SearchStep) -> str:
    how = "emulated" if step.emulated else "analytic"
    verdict = "[green]PASS[/]" if step.passed else f"[red]{step.status.upper()}[/]"
    tail = "" if step.passed else f" — {step.reason}"
    return f"  step {index}: {step.label}: {verdict} ({how}, {step.wall_s:.1f} s){tail}"


def _search_summary(search: SearchResult) -> str:
    what = "households" if search.kind == "households" else "tier (Mb/s down)"
    start = f"started at {search.start} from the analytic bound {search.analytic_bound:.1f} {what}"
    if search.best is None:
        return f"no passing {search.kind}: even the smallest candidate fails ({start})"
    return (
        f"largest passing {search.kind}: [bold]{search.best_label}[/] ({start}, limit "
        f"{search.limit}; {len(search.steps)} steps)"
    )


@app.command("plan")
def plan_command(
    scenario: ScenarioArg = None,
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            help='Service tier "DOWN/UP", e.g. 100M/50M (default: the '
            "scenario's households.tier).",
        ),  # fmt: skip
    ] = None,
    concurrency: Annotated[
        float | None,
        typer.Option(
            "--concurrency",
            help="Share of households running a speed test at once, 0..1 (default 0.2).",
        ),
    ] = None,
    households: Annotated[
        int | None,
        typer.Option(
            "--households",
            help="Households on the tree (sets onus.count = ceil(N / households per ONU)).",
        ),
    ] = None,
    set_: SetOption = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            help="Emulated seconds (overrides duration_s; searches default to ≤ 0.05 s a step).",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    delay_budget_ms: Annotated[
        float,
        typer.Option("--delay-budget-ms", help="p99 budget of the delay-sensitive class (ms)."),
    ] = 10.0,
    direction: Annotated[
        str,
        typer.Option("--direction", help="Probe both (default), upstream or downstream."),
    ] = "both",
    no_emulate: Annotated[
        bool, typer.Option("--no-emulate", help="Optical and analytic checks only.")
    ] = False,
    max_households: Annotated[
        bool,
        typer.Option("--max-households", help="Search the largest household count that passes."),
    ] = False,
    max_tier: Annotated[
        bool,
        typer.Option("--max-tier", help="Search the largest tier (whole Mb/s) that passes."),
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results JSON here ('-' = stdout).")
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Write the CSV tables here: the run's files (one households.csv with the "
            "speed-test columns) and plan_directions.csv.",
        ),
    ] = None,
    plot_dir: Annotated[
        Path | None, typer.Option("--plot", help="Write PNG and SVG figures here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables.")] = False,
    city: Annotated[
        Path | None,
        typer.Option(
            "--city",
            help="Districts CSV (district, households, drop_km_min, drop_km_max, tiers): split "
            "each into PON trees of SCENARIO's design, plan them on --workers / --dask, report "
            "the share of households reaching 20/50/100/1000 Mb/s (e.g. seeds/city-example.csv).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="With --city: local worker processes.", show_default=False),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="With --city: 'local' or tcp://HOST:PORT.", show_default=False),
    ] = None,
) -> None:
    """Busy-hour verdict: optical budget, analytic capacity, then speed-test emulation.

    Exit status 0 when every direction passes, 1 on FAIL (each reason names the
    bottleneck), 2 on bad input.
    """
    if city is not None:  # the city-scale plan (ftth.city); the tree options come from the CSV
        refuse_together(
            ("--city", True),
            ("--tier", tier is not None),
            ("--households", households is not None),
            ("--max-households", max_households),
            ("--max-tier", max_tier),
            ("--no-emulate", no_emulate),
            ("--csv", csv_dir is not None),
            ("--plot", plot_dir is not None),
            why="each district's row gives the trees' tiers and sizes",
        )
        from ftth.cli.city import run_city

        city_overrides = list(set_ or [])
        city_overrides += [f"seed={seed}"] if seed is not None else []
        city_overrides += [f"duration_s={duration!r}"] if duration is not None else []
        run_city(scenario, city, overrides=city_overrides, concurrency=concurrency,
                 workers=workers, dask=dask, json_path=json_path, quiet=quiet)  # fmt: skip
        return
    for option, given in (("--workers", workers is not None), ("--dask", dask is not None)):
        if given:
            raise InputError(option, "only with --city (one plan runs in this process)")
    from rich.console import Console

    from ftth import plan as planning
    from ftth.plots import plot_file_names
    from ftth.scenario import load_scenario

    if max_households and max_tier:
        raise InputError("--max-households", "search one thing at a time (not with --max-tier)")
    # --no-emulate is the analytic check only: every option that needs an emulation conflicts.
    refuse_together(
        ("--no-emulate", no_emulate),
        ("--max-tier", max_tier),
        ("--max-households", max_households),
        ("--duration", duration is not None),
        ("--seed", seed is not None),
        ("--plot", plot_dir is not None),
        why="it needs an emulation",
    )
    refuse_conflicts(
        set_,
        {
            "seed": "--seed" if seed is not None else None,
            "duration_s": "--duration" if duration is not None else None,
            "households.tier": "--tier" if tier is not None else None,
            "households.concurrency": "--concurrency" if concurrency is not None else None,
            "onus.count": "--households" if households is not None else None,
        },
    )
    if max_households and households is not None:
        raise InputError("--households", "--max-households searches the household count itself")
    if direction not in planning.PROBE_DIRECTIONS:
        raise InputError(
            "--direction",
            f"must be one of {', '.join(planning.PROBE_DIRECTIONS)}, got {direction!r}",
        )
    if concurrency is not None:
        planning.check_concurrency(concurrency)
    overrides = list(set_ or [])
    if seed is not None:
        overrides.append(f"seed={seed}")
    if duration is not None and not (max_households or max_tier):
        overrides.append(f"duration_s={duration!r}")
    if duration is not None and not duration > 0:
        raise InputError("--duration", f"must be > 0 s, got {duration:g}")
    sc = load_scenario(scenario, overrides)
    check_outputs(
        [
            Output("--json", json_path, stdout_ok=True) if json_path is not None else None,
            Output("--csv", csv_dir, "dir", names=PLAN_CSV_NAMES) if csv_dir is not None else None,
            Output("--plot", plot_dir, "dir", names=plot_file_names(planning.PLOT_NAMES))
            if plot_dir is not None
            else None,
        ],
        inputs=scenario_inputs(sc.source),
    )
    to_stdout = json_path is not None and str(json_path) == "-"
    console = Console(stderr=to_stdout, highlight=False)
    probe_direction: Any = direction

    search: SearchResult | None = None
    result: PlanResult | None
    if max_households or max_tier:
        steps_seen = 0

        def on_step(step: SearchStep) -> None:
            nonlocal steps_seen
            steps_seen += 1
            if not quiet:
                console.print(_step_line(steps_seen, step))

        if not quiet:
            console.print(
                f"[bold]{sc.name}[/]: searching the largest "
                f"{'household count' if max_households else 'tier'} that passes"
            )
        if max_households:
            search = planning.max_households(
                sc,
                tier=tier,
                concurrency=concurrency,
                probe_direction=probe_direction,
                delay_budget_ms=delay_budget_ms,
                duration_s=duration,
                on_step=on_step,
            )
        else:
            search = planning.max_tier(
                sc,
                tier=tier,
                concurrency=concurrency,
                households=households,
                probe_direction=probe_direction,
                delay_budget_ms=delay_budget_ms,
                duration_s=duration,
                on_step=on_step,
            )
        result = search.best_plan
        if not quiet:
            console.print(_search_summary(search))
            if result is not None:
                console.print(verdict_tables(result))
    else:
        result = _plan_with_progress(
            planning, sc, console, quiet,
            tier=tier, concurrency=concurrency, households=households,
            probe_direction=probe_direction, delay_budget_ms=delay_budget_ms,
            emulate=not no_emulate,
        )  # fmt: skip
        if not quiet:
            console.print(verdict_tables(result))

    with transaction():  # every file renamed into place at the end, or none
        if json_path is not None:
            data: dict[str, Any] = result.to_dict() if result is not None else {}
            if search is not None:
                data["search"] = search.as_dict()
                if result is None:
                    data["verdict"] = {
                        "status": "fail",
                        "pass": False,
                        "reasons": [_search_summary(search)],
                        "rules": [],
                    }
            write_text(json_path, json.dumps(data, indent=2, allow_nan=False) + "\n")
        if csv_dir is not None and result is not None:
            planning.write_plan_csv(result, csv_dir)
        if plot_dir is not None and result is not None and result.result is not None:
            planning.write_plots(result, plot_dir)
        elif plot_dir is not None:  # nothing was emulated: the verdict stands, no figure
            why = "no candidate passed the search" if result is None else "nothing was emulated"
            console.print(f"note: --plot: no figures ({why})", highlight=False)
    if search is not None:
        raise typer.Exit(0 if search.best is not None else 1)
    assert result is not None
    if quiet and result.status == "inconclusive":
        for reason in result.reasons:
            print(reason, file=sys.stderr)
    raise typer.Exit(0 if result.passed else 1)


def _plan_with_progress(
    planning: Any, sc: Any, console: Console, quiet: bool, **kwargs: Any
) -> PlanResult:
    """One plan, with a progress bar on a terminal."""
    silent = quiet or not kwargs.get("emulate", True)
    result: PlanResult = with_progress(
        console,
        f"{sc.name} plan",
        silent,
        lambda progress: planning.plan(sc, progress=progress, **kwargs),
    )
    return result
