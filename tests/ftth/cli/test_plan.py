"""``ftth plan``: exit status, the verdict table, --json/--csv/--plot, searches, bad input.

Runs are 20 ms of emulated time.  Commands run in-process through :func:`ftth.cli.main`
(which holds the InputError → ``error: …`` / exit 2 handler), except the plot determinism
check, which needs two separate processes (matplotlib state, hash salts).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ftth.emulator
from ftth.plan import PLOT_NAMES
from tests.cli import run_cli

REPO = Path(__file__).resolve().parents[3]
#: Every planning seed (the bench scenario ``standard`` has no households.tier to plan for).
SEEDS = sorted(p for p in (REPO / "seeds").glob("*.toml") if p.stem != "standard")
XGS_32 = str(REPO / "seeds" / "gigabit-2020.toml")
SHORT = ("--duration", "0.02")
#: Voice assured 2 Mb/s instead of the seed's 100 kb/s, whose grants are too small for one
#: XGEM frame in this tree (see tests/ftth/test_plan.py).
VOICE = ("--set", "tconts.0.assured_bps=2e6")


@pytest.mark.parametrize("path", SEEDS, ids=[p.stem for p in SEEDS])
def test_every_seed_gives_a_verdict(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "plan.json"
    code, out, err = run_cli(capsys, "plan", str(path), *SHORT, "--json", str(out_json))
    assert code in (0, 1), err
    assert "Busy-hour verdict per direction" in out
    data = json.loads(out_json.read_text())
    assert data["verdict"]["pass"] is (code == 0)
    assert data["plan"]["emulated"] is True
    assert data["scenario"]["name"] == path.stem
    assert data["conservation"]["balanced"]
    if code == 1:
        assert data["verdict"]["reasons"]


def test_pass_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "plan", XGS_32, *SHORT, *VOICE, "--tier", "100M/100M", "--concurrency", "1"
    )
    assert code == 0
    assert "PASS" in out and "FAIL" not in out


def test_fail_exits_1_and_names_the_bottleneck(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "plan", XGS_32, *SHORT, *VOICE, "--tier", "300M/300M", "--concurrency", "1"
    )
    assert code == 1
    flat = " ".join(out.split())
    assert "upstream capacity: offered 9.60 Gb/s" in flat
    assert "downstream capacity: offered" in flat


def test_optical_budget_failure_is_not_emulated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the emulator must not run")

    monkeypatch.setattr(ftth.emulator, "run_spec", boom)
    code, out, _ = run_cli(
        capsys, "plan", str(REPO / "seeds" / "city-2015-100mbps.toml"), *SHORT,
        "--set", "tree.splitters=[4, 32]", "--set", "tree.feeder_km=19",
        "--set", "onus.count=128", "--set", "onus.drop_km=[0.5, 1.0]",
    )  # fmt: skip
    assert code == 1
    flat = " ".join(out.split())
    assert "optical budget: ONU 128 path loss" in flat
    assert "not emulated: the optical budget fails" in flat


def test_no_emulate_gives_the_analytic_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the emulator must not run")

    monkeypatch.setattr(ftth.emulator, "run_spec", boom)
    code, out, _ = run_cli(capsys, "plan", XGS_32, "--no-emulate", "--json", "-", "-q")
    assert code == 0
    data = json.loads(out)
    assert data["plan"]["emulated"] is False and data["verdict"]["pass"] is True


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("--tier", "20G/1G"), "--tier"),  # tier above the line rate
        (("--tier", "fast"), "--tier"),
        (("--concurrency", "1.5"), "--concurrency"),  # concurrency outside 0–1
        (("--concurrency", "-0.2"), "--concurrency"),
        (("--households", "33"), "--households"),  # households > ONUs × per-ONU limit (1:32)
        (("--set", "tconts.1.traffic.mean_bps=-5e6"), "tconts[1].traffic.mean_bps"),  # < 0
        (("--set", "downstream.0.traffic.mean_bps=-1"), "downstream[0].traffic.mean_bps"),
        (("--duration", "0"), "--duration"),
        (("--max-households", "--max-tier"), "--max-households"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: tuple[str, ...], where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "plan", XGS_32, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {where}: "), err
    assert "Traceback" not in err


def test_csv_has_one_households_table_with_the_probe_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run_cli(
        capsys, "plan", XGS_32, *SHORT, *VOICE, "--concurrency", "0.1", "--csv", str(tmp_path), "-q"
    )
    assert code == 0
    # One households table (issue 11): no second households file that could disagree.
    assert sorted(p.name for p in tmp_path.glob("*households*.csv")) == ["households.csv"]
    with (tmp_path / "households.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 32  # every household, one row each
    probed = [r for r in rows if r["probed_up"] == "True"]
    assert len(probed) == 3  # round(0.1 × 32) = 3 probes
    assert all(r["probed_down"] == "True" and float(r["speed_test_down_bps"]) > 0 for r in probed)
    assert all(r["speed_test_up_bps"] == "" for r in rows if r not in probed)
    assert all(r["pass"] == "True" for r in rows)
    assert (tmp_path / "plan_directions.csv").exists() and (tmp_path / "summary.csv").exists()


def test_plots_are_byte_identical_across_runs(tmp_path: Path) -> None:
    def run(directory: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "ftth", "plan", XGS_32, *SHORT, *VOICE, "--concurrency", "0.2",
             "-q", "--plot", str(directory)],
            check=False, capture_output=True, text=True, timeout=120,
            env={**os.environ, "COLUMNS": "120"},
        ).check_returncode()  # fmt: skip

    first, second = tmp_path / "a", tmp_path / "b"
    run(first)
    run(second)
    for name in PLOT_NAMES:
        for suffix in (".png", ".svg"):
            a, b = (first / name).with_suffix(suffix), (second / name).with_suffix(suffix)
            assert a.read_bytes() == b.read_bytes(), a.name
    assert (first / "plan-rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (first / "plan-delay-cdf.svg").read_text()
    assert "<dc:date>" not in svg and "ftth plan" in svg


def test_max_households_prints_how_it_got_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "search.json"
    code, out, _ = run_cli(
        capsys, "plan", XGS_32, *VOICE, "--max-households", "--duration", "0.02",
        "--concurrency", "0.5", "--tier", "300M/300M", "--json", str(out_json),
    )  # fmt: skip
    assert code == 0
    assert "step 1:" in out and "largest passing households" in " ".join(out.split())
    data = json.loads(out_json.read_text())
    search = data["search"]
    assert search["kind"] == "households" and search["best"] is not None
    assert search["steps"][0]["value"] == search["start"]
    assert data["verdict"]["pass"] is True
    assert data["plan"]["households"] == search["best"]


def test_max_tier_prints_how_it_got_there(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "plan", XGS_32, *VOICE, "--max-tier", "--duration", "0.02", "--concurrency", "0.5"
    )
    assert code == 0
    flat = " ".join(out.split())
    assert "step 1: tier " in flat and "largest passing tier:" in flat
