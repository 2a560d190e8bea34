"""``ftth sweep summary``: mean and 95 % Student-t interval over seeds, per point.

For each (scenario, point) of a results file and each numeric headline metric
(:data:`ftth.sweep.runs.METRIC_COLUMNS` and any other number in a row's ``metrics``): the
mean over the finished runs whose metric is a number, and the half-width
``t(0.975, n − 1) · s / √n`` of its two-sided 95 % interval (``None`` with one value;
:func:`ftth.compare.mean_ci`).  Failed runs count in ``errors`` and contribute nothing.
Points come in grid order (the order the sweep recorded), else sorted by value.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftth.compare import CONFIDENCE, mean_ci
from ftth.errors import InputError
from ftth.output import atomic_path, open_atomic
from ftth.results import SweepSummary, check, header
from ftth.sweep.grid import Axis, point_key, points
from ftth.sweep.runs import METRIC_COLUMNS
from ftth.sweep.store import Store

#: Metrics the table shows when ``--metric`` is not given.
DEFAULT_TABLE_METRICS = ("throughput_bps", "utilisation", "loss_ratio", "type2_mean_us", "jain")


@dataclass
class Summary:
    """The summary of a results file (:meth:`to_dict` is ``--json``)."""

    keys: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]
    scenarios: dict[str, str]  # hash → name

    def to_dict(self) -> dict[str, Any]:
        only = next(iter(self.scenarios)) if len(self.scenarios) == 1 else None
        doc = {
            **header(only),
            "confidence": CONFIDENCE,
            "keys": self.keys,
            "rows": self.rows,
        }
        return check(doc, SweepSummary)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def summarise(store: Store, scenario: str | None = None) -> Summary:
    """Group the rows of ``store`` (of one scenario hash or name, if given) by point."""
    recorded = store.scenarios()
    names = {s["scenario_hash"]: s["name"] for s in recorded}
    if scenario is not None:
        wanted = [h for h, n in names.items() if scenario in (h, n) or h.startswith(scenario)]
        if not wanted:
            raise InputError("--scenario", f"no scenario {scenario!r} in the file")
    else:
        wanted = list(names)
    keys: list[str] = []
    order: list[tuple[str, str]] = []
    for s in recorded:
        if s["scenario_hash"] not in wanted:
            continue
        axes = [Axis(a["key"], tuple(a["values"])) for a in s["grid"].get("axes", [])]
        keys += [a.key for a in axes if a.key not in keys]
        order += [(s["scenario_hash"], point_key(p)) for p in points(axes)]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    point_of: dict[tuple[str, str], dict[str, Any]] = {}
    for row in store.rows():
        h = row["scenario_hash"]
        if h not in wanted:
            continue
        k = (h, point_key(row["point"]))
        groups.setdefault(k, []).append(row)
        point_of[k] = row["point"]
        keys += [key for key in row["point"] if key not in keys]
    rank = {k: i for i, k in enumerate(order)}
    ordered = sorted(groups, key=lambda k: (rank.get(k, len(rank)), k))
    metrics = list(METRIC_COLUMNS)
    for rows in groups.values():
        for row in rows:
            metrics += [m for m, v in row["metrics"].items() if _numeric(v) and m not in metrics]
    out = []
    for k in ordered:
        rows = groups[k]
        ok = [r for r in rows if r["status"] == "ok"]
        cells = {}
        for m in metrics:
            values = [float(r["metrics"][m]) for r in ok if _numeric(r["metrics"].get(m))]
            mean, hw = mean_ci(values)
            cells[m] = {"mean": None if math.isnan(mean) else mean, "ci95": hw, "n": len(values)}
        verdicts: dict[str, int] = {}
        for r in rows:
            v = r["verdict"] or r["status"]
            verdicts[v] = verdicts.get(v, 0) + 1
        out.append(
            {
                "scenario_hash": k[0],
                "scenario": names.get(k[0], ""),
                "point": point_of[k],
                "seeds": len(rows),
                "errors": len(rows) - len(ok),
                "verdicts": verdicts,
                "metrics": cells,
            }
        )
    return Summary(keys, metrics, out, {h: names.get(h, "") for h in wanted})


def check_metric(summary: Summary, metric: str) -> str:
    if metric not in summary.metrics:
        raise InputError(
            "--metric", f"unknown metric {metric!r}; valid: {', '.join(summary.metrics)}"
        )
    return metric


def format_cell(cell: dict[str, Any]) -> str:
    """``mean ± half-width`` with 4 significant digits (the mean alone with one value)."""
    mean, hw = cell["mean"], cell["ci95"]
    if mean is None:
        return "—"
    text = f"{mean:.4g}"
    return text if hw is None else f"{text} ± {hw:.2g}"


def summary_table(summary: Summary, metrics: Sequence[str]) -> Any:
    """A rich table: one row per point, a column per swept key, one per metric."""
    from rich.table import Table

    several = len(summary.scenarios) > 1
    table = Table(
        title=f"mean ± {CONFIDENCE:.0%} CI over seeds (Student t)",
        title_justify="left",
    )
    if several:
        table.add_column("scenario")
    for key in summary.keys:
        table.add_column(key, justify="right")
    table.add_column("runs", justify="right")
    for m in metrics:
        table.add_column(m, justify="right")
    for row in summary.rows:
        cells = [str(row["point"].get(k, "")) for k in summary.keys]
        runs = f"{row['seeds']}" + (f" ([red]{row['errors']} failed[/])" if row["errors"] else "")
        table.add_row(
            *([row["scenario"]] if several else []),
            *cells,
            runs,
            *(format_cell(row["metrics"][m]) for m in metrics),
        )
    return table


def write_summary_csv(summary: Summary, path: str | Path) -> Path:
    """One line per point: the swept keys, runs, errors, then ``<metric>`` and
    ``<metric>_ci95`` for every metric."""
    fields = ["scenario_hash", *summary.keys, "runs", "errors"]
    for m in summary.metrics:
        fields += [m, f"{m}_ci95"]
    try:
        with open_atomic(path, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for row in summary.rows:
                line: dict[str, Any] = {
                    "scenario_hash": row["scenario_hash"],
                    "runs": row["seeds"],
                    "errors": row["errors"],
                }
                for k in summary.keys:
                    v = row["point"].get(k, "")
                    line[k] = v if isinstance(v, int | float | str) else str(v)
                for m in summary.metrics:
                    c = row["metrics"][m]
                    line[m] = "" if c["mean"] is None else c["mean"]
                    line[f"{m}_ci95"] = "" if c["ci95"] is None else c["ci95"]
                writer.writerow(line)
    except OSError as exc:
        raise InputError(str(path), f"cannot write CSV: {exc.strerror or exc}") from None
    return Path(path)


def write_summary_plot(summary: Summary, metric: str, by: str, path: str | Path) -> Path:
    """``metric`` (mean, 95 % error bars) against the swept key ``by``, one line per value of
    the other swept keys.  Same figure, same bytes (no date or version in the metadata)."""
    import matplotlib

    from ftth import plots

    if by not in summary.keys:
        raise InputError("--by", f"{by!r} is not a swept key; swept: {', '.join(summary.keys)}")
    others = [k for k in summary.keys if k != by]
    series: dict[str, list[tuple[float, float, float]]] = {}
    for row in summary.rows:
        x = row["point"].get(by)
        cell = row["metrics"][metric]
        if not _numeric(x) or cell["mean"] is None:
            continue
        label = ", ".join(f"{k}={row['point'].get(k)}" for k in others) or metric
        if len(summary.scenarios) > 1:
            label = f"{row['scenario']}: {label}"
        series.setdefault(label, []).append((float(x), cell["mean"], cell["ci95"] or 0.0))
    if not series:
        raise InputError("--by", f"no numeric values of {by!r} with a value of {metric!r}")
    plt = plots.pyplot()
    with matplotlib.rc_context({"svg.hashsalt": "ftth", "font.size": 8}):
        fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
        for i, (label, pts) in enumerate(series.items()):
            pts.sort()
            ax.errorbar(
                [p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                label=label, color=f"C{i % 10}", marker="o", markersize=4, capsize=3,
            )  # fmt: skip
        ax.set_xlabel(by)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} vs {by} (mean ± 95 % CI over seeds)")
        ax.grid(True, alpha=0.3)
        if len(series) > 1 or others:
            ax.legend(fontsize=7)
        suffix = Path(path).suffix.lower().lstrip(".") or "png"
        if suffix not in ("png", "svg", "pdf"):
            plt.close(fig)
            raise InputError("--plot", f"{path}: name a .png, .svg or .pdf file")
        try:
            with atomic_path(path) as temp:
                meta = {"Software": None} if suffix == "png" else {"Date": None}
                if suffix == "pdf":
                    meta = {"CreationDate": None}
                fig.savefig(temp, format=suffix, dpi=100, metadata=meta)
        except OSError as exc:
            raise InputError(str(path), f"cannot write plot: {exc.strerror or exc}") from None
        finally:
            plt.close(fig)
    return Path(path)


__all__ = [
    "DEFAULT_TABLE_METRICS",
    "Summary",
    "check_metric",
    "format_cell",
    "summarise",
    "summary_table",
    "write_summary_csv",
    "write_summary_plot",
]
