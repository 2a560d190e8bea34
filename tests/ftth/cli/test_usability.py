"""Seeds by name, conflicting options refused, ``ftth run --plot``, outputs checked first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftth.cli.info import list_seeds
from ftth.plots import RUN_PLOT_NAMES
from ftth.scenario import resolve_scenario_path
from tests.cli import run_cli

REPO = Path(__file__).resolve().parents[3]
SHORT = "0.02"


def one_error(code: int, err: str, where: str) -> str:
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {where}: "), line
    return line


# ------------------------------------------------------------------ seeds by name
def test_the_bench_scenario_is_a_packaged_seed_named_standard() -> None:
    assert "standard" in list_seeds()
    packaged = resolve_scenario_path("standard")
    assert packaged.read_bytes() == (REPO / "bench" / "standard.toml").read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "urban-2020-50mbps"),
        ("budget", "standard"),
        ("plan", "urban-2020-50mbps", "--no-emulate"),
        ("run", "urban-2020-50mbps", "--duration", SHORT, "-q"),
    ],
)
def test_commands_take_a_seed_by_name(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str, ...],
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository: the name must resolve to the package
    code, _, err = run_cli(capsys, *args)
    assert code in (0, 1), err


def test_a_local_file_wins_over_a_seed_of_the_same_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "standard").write_text("")
    assert resolve_scenario_path("standard") == Path("standard")


def test_an_unknown_name_says_where_to_look(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_error(*run_cli(capsys, "run", "urban-2030")[::2], where="urban-2030")
    assert "ftth list seeds" in line


# ------------------------------------------------------------------ conflicting options
@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("run", "--duration", "0.01", "--set", "duration_s=0.02"), "--duration"),
        (("run", "--seed", "3", "--set", "seed=4"), "--seed"),
        (("run", "--engine", "fast", "--set", 'engine="reference"'), "--engine"),
        (("plan", "--no-emulate", "--max-tier"), "--no-emulate"),
        (("plan", "--no-emulate", "--max-households"), "--no-emulate"),
        (("plan", "--no-emulate", "--duration", "0.01"), "--no-emulate"),
        (("plan", "--no-emulate", "--plot", "p"), "--no-emulate"),
        (("plan", "--tier", "50M/20M", "--set", 'households.tier="100M/50M"'), "--tier"),
        (("plan", "--households", "32", "--set", "onus.count=8"), "--households"),
        (("compare-dba", "standard", "--duration", "0.01", "--set", "duration_s=0.02"),
         "--duration"),
        (("compare-dba", "standard", "--set", "traffic.upstream_load=0.5"), "--loads"),
    ],
)  # fmt: skip
def test_conflicting_options_are_refused(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str, ...],
    where: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *args)
    one_error(code, err, where)
    assert list(tmp_path.iterdir()) == []  # refused before anything ran or was written


# ------------------------------------------------------------------ outputs checked first
def test_a_bad_csv_after_a_good_json_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    out_json = tmp_path / "r.json"
    code, _, err = run_cli(
        capsys, "run", "--duration", SHORT, "--json", str(out_json),
        "--csv", str(tmp_path / "file"),
    )  # fmt: skip
    one_error(code, err, "--csv")
    assert not out_json.exists()
    assert "compiling" not in err  # nothing was emulated


def test_the_scenario_is_never_an_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_bytes((REPO / "seeds" / "urban-2020-50mbps.toml").read_bytes())
    before = scenario.read_bytes()
    for option in ("--json",):
        code, _, err = run_cli(capsys, "run", str(scenario), option, str(scenario))
        assert "refusing to overwrite an input" in one_error(code, err, option)
    code, _, err = run_cli(capsys, "plan", str(scenario), "--json", str(scenario))
    one_error(code, err, "--json")
    assert scenario.read_bytes() == before


def test_csv_dash_creates_no_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (("run",), ("plan", "--no-emulate")):
        code, _, err = run_cli(capsys, *command, "--csv", "-")
        one_error(code, err, "--csv")
    assert not (tmp_path / "-").exists()


def test_json_dash_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "--duration", SHORT, "--json", "-")
    assert code in (0, 1)
    assert json.loads(out)["duration_s"] == float(SHORT)


# ------------------------------------------------------------------ ftth run --plot
def test_run_plot_writes_byte_stable_figures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outputs = []
    for attempt in ("a", "b"):
        folder = tmp_path / attempt
        code, _, err = run_cli(capsys, "run", "--duration", SHORT, "-q", "--plot", str(folder))
        assert code in (0, 1), err
        outputs.append({p.name: p.read_bytes() for p in sorted(folder.iterdir())})
    expected = {f"{stem}{ext}" for stem in RUN_PLOT_NAMES for ext in (".png", ".svg")}
    assert set(outputs[0]) == expected
    assert outputs[0] == outputs[1]
    svg = outputs[0]["run-delay-cdf.svg"].decode()
    assert "delay (ms)" in svg and "upstream delay CDF per class" in svg


def test_two_runs_writing_the_same_outputs_never_mix(tmp_path: Path) -> None:
    """Two seeds racing to the same --json and --csv: the CSV matches the JSON next to it."""
    import csv
    import subprocess
    import sys

    script = Path(sys.executable).with_name("ftth")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ftth"]
    runs = [
        subprocess.Popen(
            [
                *command,
                "run",
                "--duration",
                SHORT,
                "-q",
                "--seed",
                str(seed),
                "--json",
                "r.json",
                "--csv",
                "csv",
            ],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for seed in (1, 2)
    ]
    for proc in runs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 1), err
    data = json.loads((tmp_path / "r.json").read_text())
    with (tmp_path / "csv" / "summary.csv").open(newline="") as handle:
        rows = {row["direction"]: row for row in csv.DictReader(handle)}
    for direction in ("upstream", "downstream"):
        offered = data[direction]["conservation"]["offered_bytes"]
        assert int(rows[direction]["ledger_offered_bytes"]) == offered
    households = (tmp_path / "csv" / "households.csv").read_text().splitlines()
    assert len(households) == len(data["households"]) + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csv", "r.json"]  # no temporaries
