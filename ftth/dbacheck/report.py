"""Outputs of ``ftth dba-check``: the rich table, the JSON document, the Markdown report
and its figures, and the scenario files (``--save-scenarios``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ftth import plots
from ftth.dbacheck import scenarios as sc
from ftth.dbacheck.battery import BY_ID, CRITERIA, FAIL, NA, PASS, Card
from ftth.output import output_dir, write_text

#: Figures of ``--plots DIR`` (``<stem>-<technology>.png`` and ``.svg`` each).
PLOT_STEMS = ("dba-check-delay", "dba-check-throughput", "dba-check-restore")


def plot_stems(tech: str) -> tuple[str, ...]:
    """File stems of the figures for ``tech`` (``dba-check-delay-xgs-pon``, …)."""
    return tuple(f"{s}-{tech}" for s in PLOT_STEMS)


def fmt_value(v: float | None, cid: str) -> str:
    """A criterion's number as text."""
    if v is None:
        return "—"
    if cid in ("bwmap", "ledger"):
        return f"{v:,.0f}"
    if cid == "speed":
        return f"{v:,.0f}"
    if cid in ("restore", "delay-guaranteed", "delay-be", "voice-delay"):
        return f"{v:.3f}"
    if cid == "fixed":
        return f"{v * 100:.3f} %"
    return f"{v:.4f}"


def fmt_threshold(cid: str, op: str, t: float | None) -> str:
    if t is None:
        return "—"
    sym = {">=": "≥", "<=": "≤", "==": "="}[op]
    return f"{sym} {fmt_value(t, cid)}"


def _status_markup(s: str) -> str:
    colour = {PASS: "green", FAIL: "red", NA: "dim"}.get(s, "red")
    return f"[{colour}]{s}[/]"


def card_table(card: Card) -> Any:
    """Rich table: one row per criterion, one column per DBA (value and PASS/FAIL)."""
    from rich.table import Table

    mode = "quick" if card.quick else "full"
    table = Table(
        title=f"DBA report card — {card.tech}, {mode} battery "
        f"(C = {sc.capacity_bps(card.tech) / 1e9:.3f} Gb/s upstream goodput, 8 ONUs)",
        title_justify="left",
    )
    table.add_column("criterion")
    table.add_column("unit")
    table.add_column("threshold", justify="right")
    for d in card.dbas:
        table.add_column(d, justify="right")
    ids = [r["id"] for r in card.results[card.dbas[0]]] if card.dbas else []
    for i, cid in enumerate(ids):
        c = BY_ID[cid]
        rows = [next(r for r in card.results[d] if r["id"] == cid) for d in card.dbas]
        if all(r["status"] == NA for r in rows):
            continue  # applies to none of these DBAs (EPON: the T-CONT criteria)
        thr = next((r for r in rows if r["threshold"] is not None), rows[0])
        table.add_row(
            c.title,
            c.unit,
            fmt_threshold(cid, c.op, thr["threshold"]),
            *(f"{fmt_value(r['value'], cid)} {_status_markup(r['status'])}" for r in rows),
            end_section=i == len(ids) - 1,
        )
    table.add_row("[bold]card[/]", "", "", *(_status_markup(card.status(d)) for d in card.dbas))
    return table


def card_json(card: Card) -> str:
    return json.dumps(card.to_dict(), indent=2, allow_nan=False) + "\n"


def save_scenarios(card: Card, directory: str | Path) -> list[Path]:
    """``<dba>--<label>.toml`` for every scenario of the card (``ftth run`` reads them)."""
    out = output_dir(directory)
    paths = []
    for d in card.dbas:
        for label, s in card.scenarios[d].items():
            path = out / f"{d}--{label}.toml"
            write_text(path, sc.to_toml(s))
            paths.append(path)
    return paths


# ============================================================================ figures
def _plain_log_labels(ax: Any) -> None:
    """Plain numbers on a log axis (``0.5``, ``2``, ``10``), the minor ticks labelled too when
    the data span less than a decade (no major tick would be left to read)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    lo, hi = ax.get_ylim()
    if lo > 0 and math.floor(math.log10(hi)) - math.ceil(math.log10(lo)) < 1:
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def write_plots(card: Card, directory: str | Path) -> list[Path]:
    """Delay and throughput against load, and the restoration step response, one line per
    DBA (byte-identical across runs: fixed svg hash salt, no dates)."""
    import matplotlib

    plt = plots.pyplot()
    out = output_dir(directory)
    paths: list[Path] = []
    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    title = f"{card.tech}, 8 ONUs, {'quick' if card.quick else 'full'} battery"
    stems = plot_stems(card.tech)

    def nan(v: float | None) -> float:
        return math.nan if v is None else float(v)

    with matplotlib.rc_context({"svg.hashsalt": "ftth", "font.size": 8}):
        # Delay against load.
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
        for i, d in enumerate(card.dbas):
            cv = card.curves.get(d) or {}
            if not cv:
                continue
            style = {
                "marker": markers[i % len(markers)],
                "color": f"C{i % 10}",
                "label": d,
                "markersize": 4,
                "linewidth": 1.2,
            }
            axes[0].plot(cv["load"], [nan(v) for v in cv["be_mean_ms"]], **style)
            axes[1].plot(cv["load"], [nan(v) for v in cv["be_p99_ms"]], **style)
            axes[2].plot(cv["load"], [nan(v) for v in cv["t2_p99_ms"]], **style)
        for ax, what in zip(
            axes, ("best effort: mean", "best effort: p99", "type 2: p99"), strict=True
        ):
            ax.set_yscale("log")
            _plain_log_labels(ax)
            ax.set_title(f"{what} upstream delay")
            ax.set_xlabel("offered load (fraction of C)")
            ax.set_ylabel("delay (ms)")
            ax.grid(True, which="both", alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        if labels:
            fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 8))
        fig.suptitle(f"Upstream delay against load — {title}")
        try:
            paths += plots.save(fig, out / stems[0], "ftth dba-check")
        finally:
            plt.close(fig)
        # Throughput against load.
        fig, ax = plt.subplots(1, 1, figsize=(5.5, 3.8), layout="constrained")
        c = sc.capacity_bps(card.tech)
        for i, d in enumerate(card.dbas):
            cv = card.curves.get(d) or {}
            if not cv:
                continue
            ax.plot(
                cv["load"],
                [nan(v) / c for v in cv["throughput_bps"]],
                marker=markers[i % len(markers)],
                color=f"C{i % 10}",
                label=d,
                markersize=4,
                linewidth=1.2,
            )
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="offered")
        ax.set_xlabel("offered load (fraction of C)")
        ax.set_ylabel("throughput / C")
        ax.set_title(f"Upstream throughput against load — {title}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=7)
        try:
            paths += plots.save(fig, out / stems[1], "ftth dba-check")
        finally:
            plt.close(fig)
        # Restoration step response (frame DBAs only: EPON has no assured class).
        if not any(card.steps.get(d) for d in card.dbas):
            return paths
        fig, ax = plt.subplots(1, 1, figsize=(6.5, 3.8), layout="constrained")
        ra = None
        for i, d in enumerate(card.dbas):
            st = card.steps.get(d)
            if not st:
                continue
            ra = st["assured_eth_bps"]
            t = [(st["t0_s"] + (k + 0.5) * st["bin_s"]) * 1e3 for k in range(len(st["rate_bps"]))]
            ax.step(
                t,
                [v / 1e6 for v in st["rate_bps"]],
                where="mid",
                color=f"C{i % 10}",
                label=d,
                linewidth=1.0,
            )
        if ra is not None:
            ax.axhline(ra / 1e6, color="grey", linestyle="--", linewidth=1, label="R_A")
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlim(-1.0, 6.0)
        ax.set_xlabel("time since the step (ms)")
        ax.set_ylabel("carried rate per 125 µs (Mb/s)")
        ax.set_title(f"Type 2 stepping from idle to 150 % of R_A — {title}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
        try:
            paths += plots.save(fig, out / stems[2], "ftth dba-check")
        finally:
            plt.close(fig)
    return paths


# ============================================================================ Markdown
def markdown(card: Card, plot_dir: str | None = None, command: str | None = None) -> str:
    """The report: the card side by side, each criterion's method and source, the curves,
    and (with ``plot_dir``, relative to the report) the figures."""
    mode = "quick" if card.quick else "full"
    lines = [
        f"## {card.tech}: {', '.join(card.dbas)}",
        "",
        f"{mode} battery, 8 ONUs, C = {sc.capacity_bps(card.tech) / 1e9:.3f} Gb/s "
        "(analytic upstream goodput, `saturation_goodput_bps`).",
    ]
    if command:
        lines += ["", f"Regenerate: `{command}`"]
    lines += ["", "| criterion | unit | threshold | " + " | ".join(card.dbas) + " |"]
    lines.append("|---|---|---|" + "---|" * len(card.dbas))
    ids = [r["id"] for r in card.results[card.dbas[0]]] if card.dbas else []
    for cid in ids:
        c = BY_ID[cid]
        rows = [next(r for r in card.results[d] if r["id"] == cid) for d in card.dbas]
        thr = next((r for r in rows if r["threshold"] is not None), rows[0])
        cells = []
        for r in rows:
            mark = {PASS: "PASS", FAIL: "**FAIL**", NA: "N/A"}[r["status"]]
            cells.append(f"{fmt_value(r['value'], cid)} {mark}")
        if all(r["status"] == NA for r in rows):
            continue  # applies to none of these DBAs (EPON: the T-CONT criteria)
        lines.append(
            f"| [{c.title}](#{c.id}) | {c.unit.replace('|', chr(92) + '|')} | "
            f"{fmt_threshold(cid, c.op, thr['threshold'])} | " + " | ".join(cells) + " |"
        )
    lines.append(
        "| **card** | | | " + " | ".join(f"**{card.status(d)}**" for d in card.dbas) + " |"
    )
    # Details of failures.
    notes = []
    for d in card.dbas:
        for r in card.results[d]:
            if r["status"] == FAIL and r["detail"]:
                notes.append(f"- `{d}` {r['id']}: {r['detail']}")
        for label, err in card.errors[d].items():
            notes.append(f"- `{d}` scenario {label}: {err}")
    if notes:
        lines += ["", "Details of the failures:", "", *notes]
    # Curves.
    if any(card.curves.get(d) for d in card.dbas):
        lines += [
            "",
            "Best-effort delay (mean / p99, ms) and throughput / C against load:",
            "",
        ]
        loads = next(card.curves[d]["load"] for d in card.dbas if card.curves.get(d))
        lines.append("| DBA | " + " | ".join(f"{x:g}" for x in loads) + " |")
        lines.append("|---|" + "---|" * len(loads))
        cap = sc.capacity_bps(card.tech)
        for d in card.dbas:
            cv = card.curves.get(d)
            if not cv:
                continue
            cells = []
            for m, p, t in zip(
                cv["be_mean_ms"], cv["be_p99_ms"], cv["throughput_bps"], strict=True
            ):
                if m is None or p is None or t is None:
                    cells.append("—")
                else:
                    cells.append(f"{m:.3f} / {p:.3f} / {t / cap:.3f}")
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
    if plot_dir is not None:
        lines += [""]
        stems = plot_stems(card.tech)
        if not any(card.steps.get(d) for d in card.dbas):
            stems = stems[:2]  # no restoration figure (EPON)
        for stem in stems:
            lines.append(f"![{stem}]({plot_dir}/{stem}.png)")
    return "\n".join(lines) + "\n"


def criteria_markdown() -> str:
    """Every criterion: what it measures, its threshold's source."""
    lines = ["| id | criterion | measure | source |", "|---|---|---|---|"]
    for c in CRITERIA:
        lines.append(f'| <a id="{c.id}"></a>`{c.id}` | {c.title} | {c.method} | {c.source} |')
    return "\n".join(lines) + "\n"


def report(card: Card, plot_dir: Path | None, report_path: Path) -> str:
    """The Markdown document of one card (figures in ``plot_dir``, linked relative to the
    report)."""
    rel = None
    if plot_dir is not None:
        try:
            rel = str(plot_dir.resolve().relative_to(report_path.resolve().parent))
        except ValueError:
            rel = str(plot_dir.resolve())
    body = [
        f"# DBA report card ({card.tech})",
        "",
        markdown(card, rel),
        "## Criteria",
        "",
        criteria_markdown(),
    ]
    return "\n".join(body)
