"""``ftth run``: emulate a scenario and report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ftth.cli import app
from ftth.cli.common import (
    ScenarioArg,
    SetOption,
    refuse_conflicts,
    scenario_inputs,
    with_progress,
)
from ftth.engines import ENGINES
from ftth.errors import InputError
from ftth.output import (
    Output,
    adopt,
    check_outputs,
    temp_path_for,
    transaction,
    write_text,
)

#: Files ``ftth run --csv DIR`` writes.
CSV_NAMES = ("summary.csv", "delays.csv", "tconts.csv", "households.csv")


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
    plot_dir: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write run-throughput and run-delay-cdf figures (PNG + SVG) into this directory.",
        ),
    ] = None,
    trace_activation: Annotated[
        bool,
        typer.Option(
            "--trace-activation",
            help="Print each ONU's activation state changes (O1…O7) with their times, and its "
            "activation, outage and re-activation times; with --csv also activation.csv.",
        ),
    ] = False,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Print the alarm / event timeline (faults, LODS, LOBi, LOS, dying gasp, rogue "
            "ONU); with --csv also events.csv.  The JSON always holds both (`control`).",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No table, no progress bar.")
    ] = False,
    pcap_uni: Annotated[
        Path | None,
        typer.Option(
            "--pcap-uni",
            help="Write the frames delivered at the user ports (Ethernet/IPv4/UDP, pcap) here.",
            rich_help_panel="Captures (docs/pcap.md)",
        ),
    ] = None,
    pcap_tc: Annotated[
        Path | None,
        typer.Option(
            "--pcap-tc",
            help="Write the TC layer (BWmaps, bursts, GEM/XGEM headers, DBRus; linktype 147) "
            "here; decode it with `ftth pcap dissector`.",
            rich_help_panel="Captures (docs/pcap.md)",
        ),
    ] = None,
    pcap_onus: Annotated[
        str | None,
        typer.Option(
            "--pcap-onus",
            help="Capture only these ONU-IDs (comma-separated, e.g. 1,2,5).",
            rich_help_panel="Captures (docs/pcap.md)",
        ),
    ] = None,
    pcap_frames: Annotated[
        int | None,
        typer.Option(
            "--pcap-frames",
            help="Capture only the first N 125 µs frames of the run (default: all).",
            rich_help_panel="Captures (docs/pcap.md)",
        ),
    ] = None,
) -> None:
    """Emulate a PON scenario and report throughput, delay, loss, fairness and the ledger.

    SCENARIO is a TOML file or a seed name (`ftth list seeds`).  Exit status 0 when the
    verdict passes, 1 when it fails or is inconclusive (too short to judge: the reason names
    the --duration to use), 2 on bad input, 3 on an internal error or a DBA that breaks the
    standard's rules.
    """
    from rich.console import Console

    from ftth.api import run as run_scenario
    from ftth.cli import pcap
    from ftth.plots import RUN_PLOT_NAMES, plot_file_names, write_run_plots
    from ftth.report import (
        ACTIVATION_CSV,
        EVENTS_CSV,
        activation_table,
        events_table,
        summary_tables,
        write_control_csv,
        write_csv,
    )
    from ftth.scenario import load_scenario

    capture = pcap.parse_request(pcap_uni, pcap_tc, pcap_onus, pcap_frames)
    overrides = list(set_ or [])
    refuse_conflicts(
        overrides,
        {
            "duration_s": "--duration" if duration is not None else None,
            "seed": "--seed" if seed is not None else None,
            "engine": "--engine" if engine is not None else None,
        },
    )
    if duration is not None:
        overrides.append(f"duration_s={duration!r}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    if engine is not None:
        if engine not in ENGINES:
            raise InputError("--engine", f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
        overrides.append(f'engine="{engine}"')
    sc = load_scenario(scenario, overrides)
    out_json = json_path if json_path is not None else sc.output.json_path
    out_csv = csv_dir if csv_dir is not None else sc.output.csv_dir
    # Only --plot: the scenario's output.plot_dir is refused by the build (not supported yet).
    out_plot = plot_dir
    trace = sc.output.trace_csv
    outputs = [
        Output("--json" if json_path else "output.json", Path(out_json), stdout_ok=True)
        if out_json is not None
        else None,
        Output(
            "--csv" if csv_dir else "output.csv_dir",
            Path(out_csv),
            "dir",
            names=CSV_NAMES
            + ((ACTIVATION_CSV,) if trace_activation else ())
            + ((EVENTS_CSV,) if events else ()),
        )
        if out_csv is not None
        else None,
        Output("--plot", Path(out_plot), "dir", names=plot_file_names(RUN_PLOT_NAMES))
        if out_plot is not None
        else None,
        Output("output.trace_csv", Path(trace)) if trace is not None else None,
        Output("--pcap-uni", capture.uni) if capture.uni is not None else None,
        Output("--pcap-tc", capture.tc) if capture.tc is not None else None,
    ]
    # Before the emulation: a bad path costs nothing and no partial output is left.
    check_outputs(outputs, inputs=scenario_inputs(sc.source))
    # The packet trace is written under a temporary name and renamed with the other outputs,
    # so an interrupted run leaves the previous trace (if any) untouched.
    trace_temp = temp_path_for(trace) if trace is not None else None
    if trace_temp is not None:
        output_table = sc.output.model_copy(update={"trace_csv": str(trace_temp)})
        sc = sc.model_copy(update={"output": output_table})
    to_stdout = out_json is not None and str(out_json) == "-"
    console = Console(stderr=to_stdout)
    try:
        if capture.wanted:
            result, pending = _run_with_captures(sc, capture, console, quiet)
        else:
            pending = []
            result = with_progress(
                console, sc.name, quiet, lambda progress: run_scenario(sc, progress=progress)
            )
    except BaseException:
        if trace_temp is not None:
            trace_temp.unlink(missing_ok=True)
        raise
    data = result.to_dict()
    for warning in data["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    with transaction():  # every file renamed into place at the end, or none
        pcap.write_captures(pending)
        if out_json is not None:
            write_text(Path(out_json), result.to_json())
        if out_csv is not None:
            write_csv(data, out_csv)
            if trace_activation or events:
                write_control_csv(data, out_csv, trace=trace_activation, events=events)
        if out_plot is not None:
            write_run_plots(result, out_plot)
        if trace is not None and trace_temp is not None:
            adopt(trace_temp, trace)
    if not quiet:
        console.print(summary_tables(data))
    # Asked for explicitly, so printed even with --quiet.
    if trace_activation:
        console.print(activation_table(data))
    if events:
        console.print(events_table(data))
    elif result.status == "inconclusive":  # the table says it otherwise (ftth.verdict)
        for reason in data["verdict"]["reasons"]:
            print(reason, file=sys.stderr)
    raise typer.Exit(0 if result.passed else 1)


def _run_with_captures(sc: Any, capture: Any, console: Any, quiet: bool) -> tuple[Any, list[Any]]:
    """``ftth run`` with ``--pcap-*``: the run hands its delivered packets to the UNI sink,
    then the TC capture traces the first frames (ftth.cli.pcap)."""
    from ftth.api import run_built
    from ftth.cli import pcap
    from ftth.emulator.build import build_spec

    spec = build_spec(sc)
    pcap.check_against(capture, spec)
    sink = pcap.attach_uni_sink(capture, spec) if capture.uni is not None else None
    result = with_progress(
        console, sc.name, quiet, lambda progress: run_built(spec, sc.engine, progress)
    )
    pending = with_progress(
        console,
        f"{sc.name}: capture",
        quiet,
        lambda progress: pcap.build_captures(capture, spec, sink, result, progress),
    )
    return result, pending
