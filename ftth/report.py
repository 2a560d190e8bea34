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


# ------------------------------------------------------------------ control plane (issue 12)
#: How alarm kinds are coloured in the --events table.
_EVENT_STYLE = {
    "fault": "bold red",
    "LOS": "red",
    "LOBi": "red",
    "LODS": "red",
    "DGi": "yellow",
    "dying-gasp": "yellow",
    "rogue-detected": "bold red",
    "rogue-isolated": "yellow",
    "sn-collision": "dim",
}


def _onu(value: int | None) -> str:
    return "PON" if value is None else str(value)


def activation_table(data: dict[str, Any]) -> Group:
    """``--trace-activation``: every ONU state change with its time, then per-ONU times."""
    control = data["control"]
    trace = Table(title="ONU state changes (activation trace)", title_justify="left")
    for col in ("time (ms)", "ONU", "from", "to", "trigger"):
        trace.add_column(col, justify="right" if col in ("time (ms)", "ONU") else "left")
    for row in control["states"]:
        trace.add_row(
            f"{row['time_s'] * 1e3:,.3f}",
            _onu(row["onu_id"]),
            row["from"],
            row["to"],
            escape(row["trigger"]),
        )
    per_onu = Table(title="Per ONU", title_justify="left")
    for col in ("ONU", "activated (ms)", "outage (ms)", "outages", "re-activation (ms)"):
        per_onu.add_column(col, justify="right")
    for row in control["onus"]:
        per_onu.add_row(
            str(row["onu_id"]),
            NO_DATA if row["activated_s"] is None else f"{row['activated_s'] * 1e3:,.3f}",
            f"{row['outage_s'] * 1e3:,.3f}",
            str(row["outages"]),
            NO_DATA if row["reactivation_s"] is None else f"{row['reactivation_s'] * 1e3:,.3f}",
        )
    if not control["emulated"]:
        note = "activation not emulated: every ONU operates from t = 0 ([activation], [[faults]])"
        return Group(per_onu, f"[dim]{note}[/]")
    return Group(trace, per_onu)


def events_table(data: dict[str, Any]) -> Table:
    """``--events``: the alarm / event timeline (faults, LODS, LOBi, LOS, dying gasp, …)."""
    control = data["control"]
    table = Table(title="Control-plane events", title_justify="left")
    for col in ("time (ms)", "ONU", "event", "detail"):
        table.add_column(col, justify="right" if col in ("time (ms)", "ONU") else "left")
    for ev in control["events"]:
        style = _EVENT_STYLE.get(ev["kind"])
        kind = f"[{style}]{escape(ev['kind'])}[/]" if style else escape(ev["kind"])
        table.add_row(f"{ev['time_s'] * 1e3:,.4f}", _onu(ev["onu_id"]), kind, escape(ev["detail"]))
    if not control["events"]:
        table.caption = "no events (activation and faults not emulated)"
    return table


#: File names ``ftth run --csv DIR`` adds with ``--trace-activation`` / ``--events``.
ACTIVATION_CSV = "activation.csv"
EVENTS_CSV = "events.csv"


def write_control_csv(
    data: dict[str, Any], directory: str | Path, *, trace: bool, events: bool
) -> list[Path]:
    """``activation.csv`` (one row per ONU state change) and/or ``events.csv`` (the
    timeline) in ``directory``.

    ``activation.csv`` columns: ``time_s, onu_id, from, to, trigger``; ``events.csv``:
    ``time_s, onu_id, kind, detail`` (``onu_id`` empty for a PON-wide event).
    """
    out = output_dir(directory)
    control = data["control"]
    paths = []
    if trace:
        fields = ("time_s", "onu_id", "from", "to", "trigger")
        _write_fields(out / ACTIVATION_CSV, control["states"], fields)
        paths.append(out / ACTIVATION_CSV)
    if events:
        _write_fields(out / EVENTS_CSV, control["events"], ("time_s", "onu_id", "kind", "detail"))
        paths.append(out / EVENTS_CSV)
    return paths


def _write_fields(path: Path, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> None:
    """A CSV with a fixed header, even without rows."""
    try:
        with open_atomic(path, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(fields))
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise InputError(str(path), f"cannot write CSV: {exc.strerror or exc}") from None
