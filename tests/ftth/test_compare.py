"""``ftth.compare``: Student-t intervals, input checks, the DBA × load × seed grid on a process
pool (one row per cell, grid order, same numbers on every invocation), summary, CSV, plots.

The grid is 2 DBAs (one with a compiled twin, one stepped) × 2 loads × 2 seeds of the
standard benchmark scenario cut to 16 ONUs and 10 ms, on two worker processes.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ftth.compare import (
    Cell,
    CompareResult,
    compare,
    mean_ci,
    parse_dbas,
    parse_loads,
    student_t_quantile,
    summary_table,
    summary_tables_narrow,
    write_compare_csv,
    write_compare_plots,
)
from ftth.errors import InputError

REPO = Path(__file__).resolve().parents[2]
STANDARD = REPO / "bench" / "standard.toml"
DBAS = "proportional,sr-dba"
LOADS = "0.3,0.9"
SEEDS = 2
GRID: dict[str, Any] = {
    "dbas": DBAS,
    "loads": LOADS,
    "seeds": SEEDS,
    "duration_s": 0.012,  # the window holds the 10 ms delay budget (ftth.verdict)
    "overrides": ["onus.count=16"],
    "jobs": 2,
}


@pytest.fixture(scope="module")
def grid() -> CompareResult:
    return compare(STANDARD, **GRID)


# --------------------------------------------------------------------------- statistics
@pytest.mark.parametrize(
    "df,expected",
    # Two-sided 95 % factors t(0.975, df) from any statistics table (8 significant digits).
    [(1, 12.706205), (2, 4.3026527), (3, 3.1824463), (4, 2.7764451), (9, 2.2621572),
     (10, 2.2281389), (30, 2.0422725), (120, 1.9799304)],
)  # fmt: skip
def test_student_t_quantile_matches_the_table(df: int, expected: float) -> None:
    assert student_t_quantile(0.975, df) == pytest.approx(expected, rel=2e-7)


def test_student_t_quantile_other_levels() -> None:
    assert student_t_quantile(0.95, 5) == pytest.approx(2.0150484, rel=2e-7)
    assert student_t_quantile(0.995, 2) == pytest.approx(9.9248432, rel=2e-7)
    with pytest.raises(ValueError):
        student_t_quantile(0.975, 0)


def test_mean_ci_hand_computed() -> None:
    """Three seeds 10, 12, 17: mean 13; deviations −3, −1, 4, sum of squares 26, s² = 26/2 =
    13; half-width = t(0.975, 2) · √(13/3) = 4.3026527 × 2.0816660 = 8.956686."""
    mean, hw = mean_ci([10.0, 12.0, 17.0])
    assert mean == 13.0
    assert hw == pytest.approx(4.3026527 * math.sqrt(13 / 3), rel=1e-7)
    assert hw == pytest.approx(8.956686, rel=1e-6)


def test_mean_ci_edge_cases() -> None:
    assert mean_ci([5.0]) == (5.0, None)  # one seed: the value alone
    assert mean_ci([2.0, 2.0, 2.0]) == (2.0, 0.0)
    mean, hw = mean_ci([])
    assert math.isnan(mean) and hw is None


# --------------------------------------------------------------------------- input
def test_parse_loads() -> None:
    assert parse_loads("0.3, 0.6,0.9,0.95") == [0.3, 0.6, 0.9, 0.95]
    assert parse_loads("2") == [2.0]
    for bad in ("0", "-0.1", "2.01", "nan", "x", "0.3,", "0.5,0.5"):
        with pytest.raises(InputError) as exc:
            parse_loads(bad)
        assert exc.value.where == "--loads"


def test_parse_dbas_fits_the_technology() -> None:
    assert parse_dbas("sr-dba, static", True, "xgs-pon") == ["sr-dba", "static"]
    every_frame = parse_dbas(None, True, "xgs-pon")
    assert "proportional" in every_frame and "ipact" not in every_frame
    assert parse_dbas(None, False, "epon-1g") == ["ipact", "polling"]
    with pytest.raises(InputError) as exc:
        parse_dbas("proportional,ipact", True, "xgs-pon")
    assert exc.value.where == "--dba"
    assert "'ipact' is an EPON polling DBA" in exc.value.why and "xgs-pon" in exc.value.why
    with pytest.raises(InputError) as exc:
        parse_dbas("giant", False, "epon-10g")
    assert "'giant' is a frame (BWmap) DBA" in exc.value.why
    with pytest.raises(InputError) as exc:
        parse_dbas("nope", True, "gpon")
    assert exc.value.where == "--dba" and "valid:" in exc.value.why and "sr-dba" in exc.value.why


# --------------------------------------------------------------------------- the grid
def test_one_row_per_cell_in_grid_order(grid: CompareResult) -> None:
    cells = [Cell(r["dba"], r["load"], r["seed"]) for r in grid.runs]
    assert cells == [
        Cell(d, load, s) for d in ("proportional", "sr-dba") for load in (0.3, 0.9) for s in (1, 2)
    ]
    assert [(s["dba"], s["load"], s["seeds"]) for s in grid.summary] == [
        ("proportional", 0.3, 2), ("proportional", 0.9, 2), ("sr-dba", 0.3, 2), ("sr-dba", 0.9, 2)
    ]  # fmt: skip
    assert grid.types == ["1", "2", "3", "4"]
    for r in grid.runs:
        assert r["capacity_bps"] > 0
        assert r["utilisation"] == r["throughput_bps"] / r["capacity_bps"]
        assert 0 < r["jain"] <= 1 and 0 <= r["loss_ratio"] <= 1
        for t in grid.types:
            d = r["delay_us"][t]
            assert d is not None and d["packets"] > 0 and 0 < d["mean"] <= d["p99"]
    # Higher load, more throughput (same DBA, same seed).
    by = {(r["dba"], r["load"], r["seed"]): r for r in grid.runs}
    for d in ("proportional", "sr-dba"):
        for s in (1, 2):
            assert by[(d, 0.9, s)]["throughput_bps"] > 2 * by[(d, 0.3, s)]["throughput_bps"]


def test_summary_is_mean_and_student_t_over_seeds(grid: CompareResult) -> None:
    for s in grid.summary:
        runs = [r for r in grid.runs if r["dba"] == s["dba"] and r["load"] == s["load"]]
        values = [r["delay_us"]["2"]["p99"] for r in runs]
        mean, hw = mean_ci(values)
        m = s["metrics"]["type2_p99_us"]
        assert (m["mean"], m["ci95"], m["n"]) == (mean, hw, 2)
        a, b = (r["jain"] for r in runs)
        assert s["metrics"]["jain"]["ci95"] == pytest.approx(
            12.706205 * abs(a - b) / 2, rel=1e-6
        )  # n = 2: s = |a − b| / √2, half-width = t(0.975, 1) · s / √2


def test_same_numbers_on_a_second_invocation(grid: CompareResult) -> None:
    again = compare(STANDARD, **GRID)
    strip = [{k: v for k, v in r.items() if k != "wall_s"} for r in grid.runs]
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in again.runs] == strip
    assert again.summary == grid.summary


def test_one_seed_has_no_interval() -> None:
    res = compare(
        STANDARD, dbas="static", loads="0.5", seeds=1, duration_s=0.012,
        overrides=["onus.count=8"], jobs=1,
    )  # fmt: skip
    assert len(res.runs) == 1
    assert all(m["ci95"] is None for m in res.summary[0]["metrics"].values())


def test_progress_callback_once_per_run() -> None:
    calls: list[tuple[Cell, int, int]] = []
    res = compare(
        STANDARD, dbas="static", loads="0.5", seeds=3, duration_s=0.012,
        overrides=["onus.count=8"], jobs=2, on_done=lambda c, d, t: calls.append((c, d, t)),
    )  # fmt: skip
    assert [d for _, d, _ in calls] == [1, 2, 3] and {t for _, _, t in calls} == {3}
    assert sorted(c.seed for c, _, _ in calls) == [1, 2, 3]
    assert [r["seed"] for r in res.runs] == [1, 2, 3]


def test_grid_is_validated_before_anything_runs() -> None:
    with pytest.raises(InputError) as exc:
        compare(STANDARD, dbas="static", loads="0.5", seeds=1, overrides=["tree.splitters=[3]"])
    assert exc.value.where.startswith("tree.splitters")
    with pytest.raises(InputError) as exc:
        compare(STANDARD, dbas="static", loads="0.5", seeds=0)
    assert exc.value.where == "--seeds"


def test_tables_show_every_number(grid: CompareResult) -> None:
    """The wide table at its own width, the narrow one (a table per DBA) in 80 columns: no
    cell is cut to an ellipsis."""
    from rich.console import Console

    texts = []
    for width, table in ((400, summary_table(grid)), (80, summary_tables_narrow(grid))):
        console = Console(width=width, file=io.StringIO())
        console.print(table)
        texts.append(console.file.getvalue())  # type: ignore[attr-defined]
    for text in texts:
        assert "…" not in text and "proportional" in text and "sr-dba" in text
        assert " ± " in text and "T4 p99" in text and "util %" in text
    assert max(len(line) for line in texts[1].splitlines()) <= 80
    m = grid.summary[0]["metrics"]["type1_mean_us"]
    assert f"{m['mean']:,.0f} ± {m['ci95']:,.0f}" in texts[1]


# --------------------------------------------------------------------------- files
def test_csv_rows_and_bytes(grid: CompareResult, tmp_path: Path) -> None:
    import csv

    a, b = write_compare_csv(grid, tmp_path / "a"), write_compare_csv(grid, tmp_path / "b")
    runs = list(csv.DictReader(a[0].open()))
    summary = list(csv.DictReader(a[1].open()))
    assert len(runs) == 8 and len(summary) == 4
    assert [(r["dba"], r["load"], r["seed"]) for r in runs[:3]] == [
        ("proportional", "0.3", "1"), ("proportional", "0.3", "2"), ("proportional", "0.9", "1")
    ]  # fmt: skip
    assert float(summary[0]["type1_mean_us"]) == grid.summary[0]["metrics"]["type1_mean_us"]["mean"]
    assert "type1_mean_us_ci95" in summary[0] and "wall_s" not in runs[0]
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes()


def test_plot_bytes_identical(grid: CompareResult, tmp_path: Path) -> None:
    first = write_compare_plots(grid, tmp_path / "one")
    second = write_compare_plots(compare(STANDARD, **GRID), tmp_path / "two")
    assert [p.name for p in first] == ["dba-delay-vs-load.png", "dba-delay-vs-load.svg"]
    for x, y in zip(first, second, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name
    assert first[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = first[1].read_text()
    assert "<dc:date>" not in svg and "proportional" in svg and "sr-dba" in svg


def test_matplotlib_only_imported_to_plot() -> None:
    code = (
        "import sys, ftth.compare, ftth.cli.compare; from ftth.cli import commands; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
