"""``ftth sweep`` end to end: 40 short runs on the process pool and on a Dask LocalCluster
give identical rows; a rerun skips finished runs; every row holds its run's document; bad
grids are exit 2 before anything runs; a failing run is a row and exit 3; the summary is the
mean and Student-t interval of the rows."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftth.cli import main
from ftth.compare import mean_ci
from ftth.results import RunResult, SweepSummary, scenario_hash
from ftth.scenario import load_scenario
from ftth.sweep.store import COLUMNS, WALL_CLOCK_COLUMNS, Store
from tests.cli import overflowing_dba as overflowing_dba_named
from tests.cli import run_cli
from tests.ftth.sweep.helpers import assert_no_children

REPO = Path(__file__).resolve().parents[3]
STANDARD = str(REPO / "bench" / "standard.toml")
#: 10 loads × 2 DBAs × 2 seeds = 40 short runs (4 ONUs, 12 ms: one delay budget judged).
SWEEP = (
    "sweep", STANDARD,
    "--grid", "traffic.upstream_load=0.1:1.0:0.1",
    "--grid", "dba.name=proportional,sr-dba",
    "--seeds", "2", "--duration", "0.012", "--set", "onus.count=4", "--workers", "2",
)  # fmt: skip


def comparable(path: Path) -> list[tuple[Any, ...]]:
    """Every stored row without its wall-clock columns."""
    keep = [i for i, c in enumerate(COLUMNS) if c not in WALL_CLOCK_COLUMNS]
    with Store(path) as st:
        return [tuple(r[i] for i in keep) for r in st.raw_rows()]


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "pool.sqlite"
    with pytest.raises(SystemExit) as exc:
        main([*SWEEP, "--out", str(out)])
    assert exc.value.code in (0, None)
    return out


def test_forty_runs_identical_on_the_pool_and_a_dask_local_cluster(
    pool_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("dask.distributed")
    out = tmp_path / "dask.sqlite"
    code, _, err = run_cli(capsys, *SWEEP, "--dask", "local", "--out", str(out))
    assert code == 0, err
    assert "Dask LocalCluster of 2 workers" in err
    pool, dask = comparable(pool_file), comparable(out)
    assert len(pool) == 40 and pool == dask


def test_rows_hold_each_runs_document(pool_file: Path) -> None:
    base = load_scenario(STANDARD, ["onus.count=4", "duration_s=0.012"])
    with Store(pool_file) as st:
        rows = list(st.rows())
        assert [s["scenario_hash"] for s in st.scenarios()] == [scenario_hash(base)]
    keys = {(json.dumps(r["point"], sort_keys=True), r["seed"]) for r in rows}
    assert len(rows) == len(keys) == 40
    for r in rows:
        assert r["status"] == "ok" and r["error"] is None
        assert r["scenario_hash"] == scenario_hash(base)
        doc = r["result"]
        RunResult.model_validate(doc)
        assert "wall_s" not in doc and r["wall_s"] > 0
        assert doc["seed"] == r["seed"] and doc["scenario"]["dba"] == r["point"]["dba.name"]
        # The document's hash is the scenario that ran: the base with the point and the seed.
        load, dba = r["point"]["traffic.upstream_load"], r["point"]["dba.name"]
        ran = load_scenario(
            STANDARD,
            ["onus.count=4", "duration_s=0.012", f"traffic.upstream_load={load!r}",
             f'dba.name="{dba}"', f"seed={r['seed']}"],
        )  # fmt: skip
        assert doc["scenario_hash"] == scenario_hash(ran)
        assert r["metrics"]["throughput_bps"] == doc["upstream"]["throughput_bps"]
        assert r["verdict"] == doc["verdict"]["status"]
    loads = sorted({r["point"]["traffic.upstream_load"] for r in rows})
    assert loads == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def test_a_rerun_skips_finished_runs(pool_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = comparable(pool_file)
    code, _, err = run_cli(capsys, *SWEEP, "--out", str(pool_file))
    assert code == 0, err
    assert "0 run(s) done, 40 already in" in err
    assert comparable(pool_file) == before
    assert_no_children()  # the workers started ahead were stopped: nothing was left to run


def test_summary_is_mean_and_student_t(
    pool_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "sweep", "summary", str(pool_file), "--metric", "throughput_bps",
        "--by", "traffic.upstream_load", "--csv", str(tmp_path / "s.csv"),
        "--json", str(tmp_path / "s.json"), "--plot", str(tmp_path / "s.png"),
    )  # fmt: skip
    assert code == 0, err
    assert "traffic.upstream_load" in out and "throughput_bps" in out and " ± " in out
    doc = json.loads((tmp_path / "s.json").read_text())
    SweepSummary.model_validate(doc)
    assert len(doc["rows"]) == 20 and doc["keys"] == ["traffic.upstream_load", "dba.name"]
    with Store(pool_file) as st:
        rows = list(st.rows())
    for s in doc["rows"]:
        values = [r["metrics"]["throughput_bps"] for r in rows if r["point"] == s["point"]]
        mean, hw = mean_ci(values)
        cell = s["metrics"]["throughput_bps"]
        assert len(values) == 2 and cell["n"] == 2
        assert cell["mean"] == mean and cell["ci95"] == hw
        # n = 2: half-width = t(0.975, 1) · |a − b| / 2
        assert hw == pytest.approx(12.706205 * abs(values[0] - values[1]) / 2, rel=1e-6)
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_lines = (tmp_path / "s.csv").read_text().splitlines()
    assert len(csv_lines) == 21 and "throughput_bps_ci95" in csv_lines[0]
    # Grid order: the first axis slowest.
    assert [r["point"]["traffic.upstream_load"] for r in doc["rows"][:3]] == [0.1, 0.1, 0.2]


@pytest.mark.parametrize(
    "grid,start",
    [
        ("onus.count=0,8", "error: --grid onus.count=0: onus.count: must be in 1..256, got 0"),
        ("onus.cuont=3", "error: --grid onus.cuont=3: onus.cuont: unknown key"),
        ("dba.name=static,nope", "error: --grid dba.name=\"nope\": dba.name: unknown DBA 'nope'"),
        ("traffic.upstream_load=0.5:0.1:0.1", "error: --grid traffic.upstream_load: STOP"),
        ("seed=1,2", "error: --grid seed: seeds are swept by --seeds"),
        ("duration_s=x", 'error: --grid duration_s="x": duration_s: '),
    ],
)
def test_bad_grid_is_exit_2_before_anything_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, grid: str, start: str
) -> None:
    """With two workers: they start before the grid is checked, and a bad grid stops them."""
    out = tmp_path / "r.sqlite"
    code, _, err = run_cli(
        capsys, "sweep", STANDARD, "--grid", grid, "--workers", "2", "--out", str(out)
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), err
    assert not out.exists()
    assert_no_children()


def test_missing_options_are_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "sweep", STANDARD, "--grid", "onus.count=4")
    assert code == 2 and err.startswith("error: --out: ")
    code, _, err = run_cli(capsys, "sweep", STANDARD, "--out", str(tmp_path / "x.sqlite"))
    assert code == 2 and err.startswith("error: --grid: ")
    code, _, err = run_cli(capsys, "sweep", "summary", str(tmp_path / "none.sqlite"))
    assert code == 2 and "no such results file" in err


# --------------------------------------------------------------------------- a failing run
@pytest.fixture
def overflowing_dba() -> Iterator[str]:
    with overflowing_dba_named("test-sweep-overflowing") as name:
        yield name


def test_a_failing_run_is_a_row_and_exit_3(
    capsys: pytest.CaptureFixture[str],
    overflowing_dba: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In this process (``--workers 1``: the test's DBA is registered here only)."""
    monkeypatch.setenv("FTTH_CACHE_DIR", str(tmp_path))
    out = tmp_path / "r.sqlite"
    code, _, err = run_cli(
        capsys, "sweep", STANDARD, "--grid", f"dba.name=static,{overflowing_dba}",
        "--duration", "0.012", "--set", "onus.count=4", "--workers", "1", "--out", str(out),
    )  # fmt: skip
    assert code == 3
    last = err.strip().splitlines()[-1]
    assert last.startswith(f'error: run dba.name="{overflowing_dba}" seed=1: DBA ')
    assert "1 of 2 runs failed; every row kept in" in last
    with Store(out) as st:
        rows = {r["point"]["dba.name"]: r for r in st.rows()}
    assert rows["static"]["status"] == "ok" and rows["static"]["result"] is not None
    bad = rows[overflowing_dba]
    assert bad["status"] == "error" and "frame" in bad["error"] and "Traceback" in bad["traceback"]
    assert bad["result"] is None and bad["verdict"] is None
    assert math.isfinite(rows["static"]["metrics"]["throughput_bps"])
    saved = list((tmp_path / "crashes").glob("ftth-crash-*.txt"))
    assert len(saved) == 1 and "in the run's process" in saved[0].read_text()
