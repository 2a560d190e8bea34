"""``ftth compare-dba``: the table, ``--csv`` / ``--json`` / ``--plot``, the same bytes on a
second invocation, exit status 2 (one line naming the option) for bad input and 1 when a
run breaks a rule.  Grids are tiny (16 ONUs, 10 ms) so the file stays within seconds."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftth.cli import main
from tests.cli import overflowing_dba as overflowing_dba_named
from tests.cli import run_cli
from tests.ftth.sweep.helpers import assert_no_children

REPO = Path(__file__).resolve().parents[3]
STANDARD = str(REPO / "bench" / "standard.toml")
SMALL = ("--duration", "0.012", "--set", "onus.count=16")  # ≥ one delay budget judged
GRID = ("--dba", "proportional,sr-dba", "--loads", "0.3,0.9", "--seeds", "2", "--jobs", "2")

EPON_TOML = """
name = "epon-small"
technology = "epon-1g"
duration_s = 0.012
[tree]
splitters = [16]
optical_class = "PX20"
[onus]
count = 4
drop_km = 1.0
[[tconts]]
name = "data"
type = 4
max_bps = 1e9
traffic = { model = "poisson", rate_bps = 50e6 }
[[downstream]]
name = "data"
priority = 0
"""


def bad(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_cli(capsys, "compare-dba", *args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("compare")
    runs = []
    for name in ("a", "b"):
        with pytest.raises(SystemExit) as exc:
            main(
                [
                    "compare-dba", STANDARD, *GRID, *SMALL,
                    "--csv", str(folder / name / "csv"),
                    "--json", str(folder / name / "out.json"),
                    "--plot", str(folder / name / "plot"),
                ]
            )  # fmt: skip
        runs.append(exc.value.code)
    return {"folder": folder, "codes": runs}


def test_table_and_files(outputs: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert outputs["codes"] == [0, 0] or outputs["codes"] == [None, None]
    folder = outputs["folder"] / "a"
    rows = list(csv.DictReader((folder / "csv" / "compare-runs.csv").open()))
    assert len(rows) == 2 * 2 * 2
    summary = list(csv.DictReader((folder / "csv" / "compare-summary.csv").open()))
    assert [(r["dba"], r["load"]) for r in summary] == [
        ("proportional", "0.3"), ("proportional", "0.9"), ("sr-dba", "0.3"), ("sr-dba", "0.9")
    ]  # fmt: skip
    data = json.loads((folder / "out.json").read_text())
    assert data["dbas"] == ["proportional", "sr-dba"] and data["loads"] == [0.3, 0.9]
    assert data["seeds"] == [1, 2] and data["duration_s"] == 0.012
    assert data["scenario"]["technology"] == "xgs-pon" and len(data["runs"]) == 8
    assert sorted(p.name for p in (folder / "plot").iterdir()) == [
        "dba-delay-vs-load.png", "dba-delay-vs-load.svg"
    ]  # fmt: skip


def test_second_invocation_same_bytes(outputs: dict[str, Any]) -> None:
    a, b = outputs["folder"] / "a", outputs["folder"] / "b"
    for rel in (
        "csv/compare-runs.csv",
        "csv/compare-summary.csv",
        "plot/dba-delay-vs-load.png",
        "plot/dba-delay-vs-load.svg",
    ):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ja, jb = (json.loads((x / "out.json").read_text()) for x in (a, b))
    for j in (ja, jb):
        j.pop("wall_s")
        for r in j["runs"]:
            r.pop("wall_s")
    assert ja == jb


def test_printed_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "compare-dba", STANDARD, "--dba", "static,giant", "--loads", "0.5",
        "--seeds", "1", "--jobs", "1", "--duration", "0.012", "--set", "onus.count=8",
    )  # fmt: skip
    assert code == 0, err
    assert "one seed" in out and "±" not in out.split("┃ DBA")[1]  # one seed: values alone
    for word in ("static", "giant", "T1 mean", "T4 p99", "util %", "Jain", "loss %"):
        assert word in out
    assert "2 run(s)" not in out and "2 runs (2 DBA(s) × 1 load(s) × 1 seed(s))" in out


def test_unknown_dba_lists_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """With two jobs: the workers start before the grid is checked; the error stops them."""
    line = bad(capsys, STANDARD, "--dba", "static,warp-drive", *SMALL, "--jobs", "2")
    assert line.startswith("error: --dba: unknown DBA 'warp-drive'; valid: ")
    assert "sr-dba" in line and "ipact" in line
    assert_no_children()


def test_epon_dba_on_xgs_pon(capsys: pytest.CaptureFixture[str]) -> None:
    line = bad(capsys, STANDARD, "--dba", "sr-dba,ipact", *SMALL)
    assert line.startswith("error: --dba: 'ipact' is an EPON polling DBA and xgs-pon is a")
    assert "valid here: " in line and "polling" not in line.split("valid here: ")[1]


def test_frame_dba_on_epon(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "epon.toml"
    path.write_text(EPON_TOML)
    line = bad(capsys, str(path), "--dba", "proportional")
    assert line == (
        "error: --dba: 'proportional' is a frame (BWmap) DBA and epon-1g is an EPON; "
        "valid here: ipact, polling"
    )


@pytest.mark.parametrize("loads", ["0", "0.3,0", "2.5", "abc"])
def test_bad_loads(capsys: pytest.CaptureFixture[str], loads: str) -> None:
    assert bad(capsys, STANDARD, "--dba", "static", "--loads", loads).startswith("error: --loads: ")


@pytest.mark.parametrize(
    "args,where",
    [
        (("--seeds", "0"), "--seeds"),
        (("--jobs", "0"), "--jobs"),
        (("--set", "onus.count=0"), "onus.count"),
        (("--duration", "-1"), "duration_s"),
    ],
)
def test_bad_options(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], where: str) -> None:
    assert bad(capsys, STANDARD, "--dba", "static", *args).startswith(f"error: {where}")


# --------------------------------------------------------------------------- a failing run
@pytest.fixture
def overflowing_dba() -> Iterator[str]:
    with overflowing_dba_named("test-compare-overflowing") as name:
        yield name


def test_a_run_that_breaks_a_rule_exits_3(
    capsys: pytest.CaptureFixture[str],
    overflowing_dba: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In-process (``--jobs 1``: a DBA registered by the test exists only in this process).

    A DBA breaking a rule is not a FAIL of the design: exit 3, one line, traceback in a file.
    """
    monkeypatch.setenv("FTTH_CACHE_DIR", str(tmp_path))  # where the traceback file goes
    code, out, err = run_cli(
        capsys, "compare-dba", STANDARD, "--dba", overflowing_dba, "--loads", "0.5",
        "--seeds", "1", "--jobs", "1", *SMALL,
    )  # fmt: skip
    assert code == 3
    line = err.strip()
    assert line.startswith(f"error: run dba={overflowing_dba} load=0.5 seed=1: DBA ")
    assert "frame" in line and "\n" not in line
    saved = list((tmp_path / "crashes").glob("ftth-crash-*.txt"))
    assert len(saved) == 1 and str(saved[0]) in line


# --------------------------------------------------------------------------- on the sweep machinery
def test_per_dba_parameters_and_the_results_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same DBA twice with different [dba.params]: two columns of the comparison, rows in
    the SQLite file `ftth sweep summary` reads; a rerun with the same --out runs nothing and
    reports the same numbers."""
    from ftth.sweep.store import Store

    out, first, second = tmp_path / "r.sqlite", tmp_path / "1.json", tmp_path / "2.json"
    args = (
        "compare-dba", STANDARD, "--dba", "proportional,proportional:min_grant_bytes=15000",
        "--loads", "0.5", "--seeds", "2", "--jobs", "2", *SMALL, "--out", str(out),
    )  # fmt: skip
    code, _, err = run_cli(capsys, *args, "--json", str(first))
    assert code == 0, err
    data = json.loads(first.read_text())
    assert data["dbas"] == ["proportional", "proportional:min_grant_bytes=15000"]
    assert data["schema_version"] == 1 and data["scenario_hash"].startswith("sha256:")
    with Store(out) as st:
        rows = list(st.rows())
    assert len(rows) == 4
    params = sorted(r["point"].get("dba.params.min_grant_bytes", 0) for r in rows)
    assert params == [0, 0, 15000, 15000]
    for r in rows:
        assert r["result"]["scenario"]["dba"] == "proportional" and r["status"] == "ok"
    # The parameter reached the DBA: the runs differ.
    by = {(r["dba"], r["seed"]): r for r in data["runs"]}
    assert any(
        by[("proportional", s)]["delay_us"]
        != by[("proportional:min_grant_bytes=15000", s)]["delay_us"]
        for s in (1, 2)
    )
    code, _, err = run_cli(capsys, *args, "--json", str(second))
    assert code == 0, err
    again = json.loads(second.read_text())
    strip = [{k: v for k, v in r.items() if k != "wall_s"} for r in data["runs"]]
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in again["runs"]] == strip
    with Store(out) as st:
        assert st.count() == 4
    code, text, err = run_cli(capsys, "sweep", "summary", str(out), "--metric", "jain")
    assert code == 0, err
    assert "proportional" in text and "15000" in text


def test_bad_dba_parameter_names_the_dba(capsys: pytest.CaptureFixture[str]) -> None:
    line = bad(capsys, STANDARD, "--dba", "proportional:nope=1", *SMALL)
    assert line.startswith("error: --dba proportional:nope=1: dba.params.nope: unknown parameter")
    line = bad(capsys, STANDARD, "--dba", "proportional:min_grant_bytes", *SMALL)
    assert line.startswith("error: --dba: 'proportional:min_grant_bytes': parameters are")


def test_a_failing_cell_keeps_the_others(
    capsys: pytest.CaptureFixture[str],
    overflowing_dba: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One DBA breaks a rule: exit 3, but the other DBA's cells are in the JSON, the table
    and the results file, and the failure is a row with its error."""
    from ftth.sweep.store import Store

    monkeypatch.setenv("FTTH_CACHE_DIR", str(tmp_path))
    out, doc = tmp_path / "r.sqlite", tmp_path / "c.json"
    code, text, err = run_cli(
        capsys, "compare-dba", STANDARD, "--dba", f"static,{overflowing_dba}", "--loads", "0.5",
        "--seeds", "1", "--jobs", "1", *SMALL, "--out", str(out), "--json", str(doc),
    )  # fmt: skip
    assert code == 3
    line = err.strip()
    assert "\n" not in line
    assert line.startswith(f"error: run dba={overflowing_dba} load=0.5 seed=1: DBA ")
    assert "(1 of 2 runs failed; the other rows are kept)" in line
    assert "static" in text and "ERROR" in text
    data = json.loads(doc.read_text())
    runs = {r["dba"]: r for r in data["runs"]}
    assert runs["static"]["verdict"] in ("pass", "fail") and runs["static"]["error"] is None
    assert runs["static"]["utilisation"] > 0
    failed = runs[overflowing_dba]
    assert failed["verdict"] == "error" and "frame" in failed["error"]
    assert failed["utilisation"] is None
    summary = {s["dba"]: s for s in data["summary"]}
    assert summary[overflowing_dba]["verdict"] == "ERROR"
    assert summary["static"]["metrics"]["utilisation"]["n"] == 1
    with Store(out) as st:
        assert sorted(r["status"] for r in st.rows()) == ["error", "ok"]
    assert "traceback" not in failed  # the traceback goes to the crash file, not the JSON
    saved = list((tmp_path / "crashes").glob("ftth-crash-*.txt"))
    assert len(saved) == 1 and "in the run's process" in saved[0].read_text()
