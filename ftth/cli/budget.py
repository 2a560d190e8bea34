"""``ftth budget``: ranging and optical power budget of a scenario's PON tree.

Exit status: 0 when every ONU passes, 1 when any ONU is over budget or overloaded, 2 for bad
input (an unreadable scenario, a split the technology does not allow, an ONU beyond reach).
The scenario model is imported inside the command so ``ftth --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ftth.cli import app

if TYPE_CHECKING:
    from ftth.optics import BudgetReport
    from ftth.scenario import Scenario


def report_for_scenario(scenario: Scenario, worst_case: bool = True) -> BudgetReport:
    """Ranging and optical budget of every ONU of a loaded scenario.

    Parameters
    ----------
    scenario
        A validated scenario; its tree (with ``olt.teqd_us`` when set) comes from
        :meth:`ftth.scenario.Scenario.topology`, the optical settings from ``[tree]``.
    worst_case
        Maximum component losses (planning) or typical ones (``--typical``).
    """
    return scenario.optical_budget(worst_case)


def summary_line(report: BudgetReport) -> str:
    """One line: how many ONUs pass, and the tightest margin or the failures by kind."""
    total = len(report.onus)
    tightest = report.tightest
    if report.passed:
        return (
            f"PASS: all {total} ONUs within class {report.optical_class} with "
            f"≥ {report.required_margin_db:g} dB margin (tightest: ONU {tightest.onu_id}, "
            f"{tightest.margin_db:.2f} dB headroom)"
        )
    kinds: dict[str, int] = {}
    for onu in report.failures:
        kinds[onu.verdict] = kinds.get(onu.verdict, 0) + 1
    detail = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return f"FAIL: {len(report.failures)} of {total} ONUs fail ({detail})"


def _print_table(report: BudgetReport) -> None:
    from rich.table import Table

    from ftth.cli.info import console
    from ftth.phy import get_profile

    profile = get_profile(report.technology)
    stages = " × ".join(f"1:{stage}" for stage in report.splitters)
    losses = "maximum" if report.worst_case else "typical"
    table = Table(
        title=(
            f"{profile.title} class {report.optical_class} "
            f"({report.class_min_db:g}–{report.class_max_db:g} dB), split 1:{report.split_ratio} "
            f"({stages}), {report.connectors} connectors, {report.splices} splices, "
            f"{losses} component losses, required margin {report.required_margin_db:g} dB; "
            f"Teqd {report.teqd_ps / 1e6:g} µs, differential {report.differential_km:.2f} km"
        )
    )
    for header in (
        "ONU",
        "distance km",
        "RTT µs",
        "EqD µs",
        "loss down dB",
        "loss up dB",
        "margin dB",
    ):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for onu in report.onus:
        style = "" if onu.passed else "bold red"
        table.add_row(
            str(onu.onu_id),
            f"{onu.distance_km:.3f}",
            f"{onu.rtt_ps / 1e6:.3f}",
            f"{onu.eqd_ps / 1e6:.3f}",
            f"{onu.loss_down_db:.2f}",
            f"{onu.loss_up_db:.2f}",
            f"{onu.margin_db:.2f}",
            onu.verdict,
            style=style,
        )
    out = console()
    out.print(table)
    out.print(summary_line(report), highlight=False)


@app.command()
def budget(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario TOML file or seed name (default: the embedded default scenario)."
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a scenario key, e.g. --set tree.feeder_km=15."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    typical: Annotated[
        bool,
        typer.Option("--typical", help="Typical instead of maximum component losses."),
    ] = False,
) -> None:
    """Optical budget and ranging of every ONU: path loss against the class window.

    Exits 0 if every ONU passes, 1 if any is over budget or overloaded.
    """
    from ftth.scenario import load_scenario

    scenario = load_scenario(file, overrides or [])
    report = report_for_scenario(scenario, worst_case=not typical)
    if json_output:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_table(report)
    if not report.passed:
        raise typer.Exit(code=1)
