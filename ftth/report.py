"""Reports of a run: rich tables for the terminal and CSV files for spreadsheets."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from ftth.errors import InputError
from ftth.output import open_atomic, output_dir
from ftth.phy import fmt_rate

#: Shown for a figure that has no data (a class without packets in the window).
NO_DATA = "—"

#: How each verdict status is shown in a terminal table.
STATUS_MARKUP = {
    "pass": "[bold green]PASS[/]",
    "fail": "[bold red]FAIL[/]",
    "inconclusive": "[bold yellow]INCONCLUSIVE[/]",
}


def _fmt_us(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:,.1f}"


def status_markup(status: str) -> str:
    """``PASS`` / ``FAIL`` / ``INCONCLUSIVE`` with its colour."""
    return STATUS_MARKUP.get(status, status)


def summary_tables(data: dict[str, Any]) -> Group:
    """The run summary: one row per direction, then delay per traffic class."""
    sc = data["scenario"]
    title = (
        f"{sc['name']} — {sc['technology']}, 1:{sc['split']}, {sc['onus']} ONUs, "
        f"{sc['tconts']} T-CONTs, DBA {sc['dba']}, {data['duration_s']:g} s emulated "
        f"({data['engine']} engine"
        + (f", {data['realtime_factor']:.2f}× real time)" if data.get("realtime_factor") else ")")
    )
    t = Table(title=title, title_justify="left")
    for col in ("direction", "offered", "throughput", "capacity", "loss", "delivered / offered"):
        t.add_column(col, justify="right" if col != "direction" else "left")
    for direction in ("upstream", "downstream"):
        d = data[direction]
        ratio = d["throughput_bps"] / d["offered_bps"] if d["offered_bps"] else 0.0
        t.add_row(
            direction,
            fmt_rate(d["offered_bps"]),
            fmt_rate(d["throughput_bps"]),
            fmt_rate(d["capacity_bps"]),
            f"{d['loss_ratio']:.2%}",
            f"{ratio:.1%}",
        )
    delays = Table(title="Delay per traffic class (µs, after warm-up)", title_justify="left")
    for col in ("direction", "class", "packets", "mean", "p50", "p95", "p99", "max"):
        delays.add_column(col, justify="right" if col not in ("direction", "class") else "left")
    for direction in ("upstream", "downstream"):
        for name, s in data[direction]["delay_us"].items():
            delays.add_row(
                direction,
                name,
                f"{s['packets']:,}",
                *(_fmt_us(s[k]) for k in ("mean", "p50", "p95", "p99", "max")),
            )
    hh = data["households"]
    passed = sum(1 for h in hh if h["pass"])
    c = data["conservation"]
    verdict = Table(show_header=False, box=None)
    verdict.add_row("households passing", f"{passed} / {len(hh)}")
    verdict.add_row("Jain fairness (upstream T-CONTs)", f"{data['fairness']['jain']:.4f}")
    verdict.add_row(
        "grant utilisation",
        f"{data['grant_utilisation']['payload_used_of_granted']:.1%} of granted payload used",
    )
    verdict.add_row(
        "conservation ledger",
        f"offered {c['offered_bytes']:,} B = delivered {c['delivered_bytes']:,} + queued "
        f"{c['queued_bytes']:,} + dropped {c['dropped_bytes']:,}"
        + (f" + lost {c['lost_bytes']:,}" if c.get("lost_bytes") else "")
        + (" ✓" if c["balanced"] else " ✗ (BUG)"),
    )
    v = data["verdict"]
    verdict.add_row("verdict", status_markup(v["status"]))
    colour = "yellow" if v["status"] == "inconclusive" else "red"
    for reason in v["reasons"]:
        verdict.add_row("", f"[{colour}]{escape(reason)}[/]")
    return Group(t, delays, verdict)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        rows = [{}]
    fields = list(rows[0].keys())
    try:
        with open_atomic(path, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise InputError(str(path), f"cannot write CSV: {exc.strerror or exc}") from None


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                out[f"{k}_{k2}"] = v2
        else:
            out[k] = v
    return out


def write_csv(data: dict[str, Any], directory: str | Path) -> list[Path]:
    """Write ``summary.csv``, ``delays.csv``, ``tconts.csv`` and ``households.csv``.

    ``delays.csv`` and ``tconts.csv`` carry ``packets`` per class / T-CONT; a delay field is
    empty when there were no packets to measure.  ``households.csv`` is the one households
    table (``ftth plan`` adds its probe columns to the same rows).
    """
    out = output_dir(directory)
    summary = []
    delays = []
    for direction in ("upstream", "downstream"):
        d = data[direction]
        summary.append(
            {
                "direction": direction,
                **{
                    k: d[k] for k in ("offered_bps", "throughput_bps", "capacity_bps", "loss_ratio")
                },
                **{f"ledger_{k}": v for k, v in d["conservation"].items()},
            }
        )
        for name, s in d["delay_us"].items():
            # A class without packets has no delay: empty fields (null in JSON).
            delays.append(
                {
                    "direction": direction,
                    "class": name,
                    "packets": s["packets"],
                    **{f"{k}_us": s[k] for k in ("mean", "p50", "p95", "p99", "max")},
                }
            )
    files = {
        "summary.csv": summary,
        "delays.csv": delays,
        "tconts.csv": [_flat(t) for t in data["tconts"]],
        "households.csv": data["households"],
    }
    paths = []
    for name, rows in files.items():
        _write(out / name, rows)
        paths.append(out / name)
    return paths
