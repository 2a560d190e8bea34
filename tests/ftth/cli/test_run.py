"""``ftth run``: exit status, the ``--json`` results contract, CSV files, determinism,
engine equivalence, bad input and overload.

Runs are short (0.02 s of emulated time for the fast engine, 0.005 s for the reference
engine) so the whole file stays within a few tens of seconds.  Every numeric comparison is
exact unless a test says otherwise: the emulator is deterministic and the ledger is integer
bytes, so any tolerance would only hide a bug.

Subprocesses are used where the brief requires separate processes (determinism, the console
script's exit status); everything else calls :func:`ftth.cli.main` in-process, which holds
the InputError → ``error: …`` / exit 2 handler.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli

REPO = Path(__file__).resolve().parents[3]
DEFAULT = REPO / "seeds" / "urban-2020-100mbps.toml"
SHORT = "0.02"  # emulated seconds: 160 XGS-PON frames, about 0.4 s of wall time
TINY = "0.005"  # for the reference engine (one event per packet)
WALL_CLOCK = ("wall_s", "realtime_factor")
DELAY_KEYS = {"mean", "p50", "p95", "p99", "max", "packets"}
LEDGER_KEYS = ("offered_bytes", "delivered_bytes", "queued_bytes", "dropped_bytes")


def ftth_command() -> list[str]:
    script = Path(sys.executable).with_name("ftth")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ftth"]


def run_subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ftth_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def without_wall_clock_lines(text: str) -> str:
    """The JSON text minus the two machine-dependent top-level lines (kept byte for byte)."""
    lines = text.splitlines(keepends=True)
    kept = [ln for ln in lines if not any(ln.startswith(f'  "{k}": ') for k in WALL_CLOCK)]
    assert len(lines) - len(kept) == 2, "both wall-clock keys are top-level lines"
    return "".join(kept)


def strip_wall_clock(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in WALL_CLOCK}


def run_json(capsys: pytest.CaptureFixture[str], tmp: Path, *args: str) -> tuple[int, dict]:
    out = tmp / "result.json"
    code, _, err = run_cli(capsys, "run", "-q", "--json", str(out), *args)
    assert code in (0, 1), err
    return code, json.loads(out.read_text())


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The default scenario through the console script: ``--json`` and ``--csv``."""
    folder = tmp_path_factory.mktemp("default-run")
    proc = run_subprocess(
        "run", "--duration", SHORT, "--json", "out.json", "--csv", "csv", "-q", cwd=folder
    )
    text = (folder / "out.json").read_text()
    return {
        "proc": proc,
        "text": text,
        "data": json.loads(text),
        "folder": folder,
    }


# --- 1. exit status, contract keys, ledger, CSV ----------------------------------------


def test_exit_status_is_the_verdict(default_run: dict[str, Any]) -> None:
    """Exit 0 when ``verdict.pass`` is true, 1 when false (exact; never 2 on good input)."""
    proc, data = default_run["proc"], default_run["data"]
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.returncode == (0 if data["verdict"]["pass"] else 1)
    assert isinstance(data["verdict"]["pass"], bool)
    assert isinstance(data["verdict"]["reasons"], list)
    # A failing verdict always says why; a passing one has nothing to say.
    assert bool(data["verdict"]["reasons"]) == (not data["verdict"]["pass"])


def test_json_has_every_contract_key(default_run: dict[str, Any]) -> None:
    """Every key of architecture.md's results contract is present with the right shape.

    Exact key presence (field names are stable: tools read them); scalar values are only
    checked for type and the scenario's own facts (64 ONUs on 1:64, XGS-PON, seed 1).
    """
    d = default_run["data"]
    assert d["scenario"]["name"] == "urban-2020-100mbps"
    assert d["scenario"]["technology"] == "xgs-pon"
    assert d["scenario"]["split"] == 64
    assert d["scenario"]["onus"] == 64
    assert d["seed"] == 1
    assert d["duration_s"] == pytest.approx(0.02, abs=1e-12)  # ps rounding only
    assert d["engine"] == "fast"
    assert isinstance(d["wall_s"], float) and d["wall_s"] > 0
    assert isinstance(d["realtime_factor"], float) and d["realtime_factor"] > 0
    for direction in ("upstream", "downstream"):
        section = d[direction]
        for key in ("offered_bps", "throughput_bps", "capacity_bps", "loss_ratio"):
            assert isinstance(section[key], int | float), (direction, key)
            assert section[key] >= 0, (direction, key)
        assert section["capacity_bps"] > 0
        assert 0.0 <= section["loss_ratio"] <= 1.0
        # One delay summary per traffic class of the scenario.
        classes = {"upstream": {"voice-video", "internet"}, "downstream": {"video", "internet"}}
        assert set(section["delay_us"]) == classes[direction]
        for name, summary in section["delay_us"].items():
            assert set(summary) == DELAY_KEYS, (direction, name)
            assert summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]
    assert len(d["tconts"]) == 64 * 2
    for tc in d["tconts"]:
        for key in ("type", "household", "offered_bps", "granted_bps", "delivered_bps"):
            assert key in tc, key
        assert set(tc["delay_us"]) == DELAY_KEYS
    assert {tc["type"] for tc in d["tconts"]} == {2, 4}
    assert len(d["households"]) == 64
    for hh in d["households"]:
        assert hh["tier_down_bps"] == 100e6 and hh["tier_up_bps"] == 50e6  # "100M/50M"
        for key in ("achieved_up_bps", "achieved_down_bps"):
            assert isinstance(hh[key], int | float), key
        assert isinstance(hh["pass"], bool)
    assert 0.0 < d["fairness"]["jain"] <= 1.0
    for key in LEDGER_KEYS:
        assert isinstance(d["conservation"][key], int), key
    assert set(d["verdict"]) >= {"pass", "reasons"}


def test_ledger_balances_exactly(default_run: dict[str, Any]) -> None:
    """offered = delivered + queued + dropped, exactly (integer bytes), in each direction and
    in total, and the total is the sum of the two directions.  The run offers traffic in
    both directions, so the identity is not trivially 0 = 0."""
    d = default_run["data"]
    for section in (d["upstream"]["conservation"], d["downstream"]["conservation"]):
        assert section["offered_bytes"] > 0
        assert section["offered_bytes"] == (
            section["delivered_bytes"] + section["queued_bytes"] + section["dropped_bytes"]
        )
    total = d["conservation"]
    assert total["offered_bytes"] == (
        total["delivered_bytes"] + total["queued_bytes"] + total["dropped_bytes"]
    )
    for key in LEDGER_KEYS:
        assert total[key] == (
            d["upstream"]["conservation"][key] + d["downstream"]["conservation"][key]
        ), key


def test_csv_files_mirror_the_json(default_run: dict[str, Any]) -> None:
    """``--csv DIR`` writes the four files with a header row and one row per direction /
    class / T-CONT / household; the numbers are the JSON's (exact text of the same float)."""
    d = default_run["data"]
    folder = default_run["folder"] / "csv"
    tables = {}
    for name in ("summary.csv", "delays.csv", "tconts.csv", "households.csv"):
        with (folder / name).open(newline="") as fh:
            reader = csv.DictReader(fh)
            assert reader.fieldnames, name
            tables[name] = (reader.fieldnames, list(reader))
    header, rows = tables["summary.csv"]
    assert {"direction", "offered_bps", "throughput_bps", "capacity_bps", "loss_ratio"} <= set(
        header
    )
    assert [r["direction"] for r in rows] == ["upstream", "downstream"]
    for row in rows:
        for key in ("offered_bps", "throughput_bps", "capacity_bps"):
            assert float(row[key]) == d[row["direction"]][key], (row["direction"], key)
    header, rows = tables["delays.csv"]
    assert {"direction", "class", "mean_us", "p50_us", "p95_us", "p99_us", "max_us"} <= set(header)
    expected = [(dr, c) for dr in ("upstream", "downstream") for c in d[dr]["delay_us"]]
    assert [(r["direction"], r["class"]) for r in rows] == expected
    for row in rows:
        assert float(row["p99_us"]) == d[row["direction"]]["delay_us"][row["class"]]["p99"]
    header, rows = tables["tconts.csv"]
    assert {"type", "household", "offered_bps", "granted_bps", "delivered_bps"} <= set(header)
    assert len(rows) == len(d["tconts"])
    assert [float(r["delivered_bps"]) for r in rows] == [t["delivered_bps"] for t in d["tconts"]]
    header, rows = tables["households.csv"]
    assert {"tier_down_bps", "achieved_up_bps", "achieved_down_bps", "pass"} <= set(header)
    assert len(rows) == len(d["households"])
    assert [r["pass"] == "True" for r in rows] == [h["pass"] for h in d["households"]]


def test_json_dash_prints_only_json_on_stdout(
    capsys: pytest.CaptureFixture[str], default_run: dict[str, Any]
) -> None:
    """``--json -`` (without ``-q``, so the summary table is drawn) puts exactly the JSON
    document on stdout — the table goes to stderr — and it equals the file written by the
    console script for the same scenario and seed (exact, minus wall-clock keys)."""
    code, out, err = run_cli(capsys, "run", "--duration", SHORT, "--json", "-")
    data = json.loads(out)  # fails if anything else shares stdout
    assert code == (0 if data["verdict"]["pass"] else 1), err
    assert "urban-2020-100mbps" in err  # the table went to stderr
    assert strip_wall_clock(data) == strip_wall_clock(default_run["data"])


# --- 2. determinism and engine equivalence ----------------------------------------------


def test_same_seed_is_byte_identical_across_processes(default_run: dict[str, Any]) -> None:
    """Same scenario and seed in a second, separate process → the JSON text is byte for
    byte the same once the ``wall_s`` and ``realtime_factor`` lines are removed (exact:
    seeds derive every generator, nothing may depend on the process, hash seed or clock)."""
    folder = default_run["folder"]
    proc = run_subprocess("run", "--duration", SHORT, "--json", "again.json", "-q", cwd=folder)
    assert proc.returncode in (0, 1), proc.stderr
    again = (folder / "again.json").read_text()
    assert without_wall_clock_lines(again) == without_wall_clock_lines(default_run["text"])


def test_another_seed_gives_other_traffic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, default_run: dict[str, Any]
) -> None:
    """``--seed 2`` changes the generated traffic: the ledger's offered bytes differ (a
    household-model run of 128+128 queues cannot offer the same bytes by chance)."""
    _, other = run_json(capsys, tmp_path, "--duration", SHORT, "--seed", "2")
    base = default_run["data"]
    assert other["seed"] == 2
    assert other["upstream"]["conservation"] != base["upstream"]["conservation"]
    assert other["downstream"]["conservation"] != base["downstream"]["conservation"]


def test_reference_engine_matches_fast_engine(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The reference (one event per packet) and fast engines are designed packet-identical:
    same ledger, offered/throughput, capacity, loss and every delay summary, per direction and
    per T-CONT, exactly.  0.005 s keeps the reference engine under a second."""
    _, fast = run_json(capsys, tmp_path, "--duration", TINY, "--engine", "fast")
    _, ref = run_json(capsys, tmp_path, "--duration", TINY, "--engine", "reference")
    assert fast["engine"] == "fast" and ref["engine"] == "reference"
    assert ref["conservation"]["offered_bytes"] > 0
    assert ref["conservation"] == fast["conservation"]
    for direction in ("upstream", "downstream"):
        assert ref[direction] == fast[direction], direction
    assert ref["tconts"] == fast["tconts"]
    assert ref["households"] == fast["households"]
    assert ref["verdict"] == fast["verdict"]


# --- 3. bad input: one line, exit 2, no traceback --------------------------------------

SCENARIO_HEAD = """\
name = "bad-input"
technology = "xgs-pon"
duration_s = 0.005

[tree]
feeder_km = 2.0
splitters = [4]

[onus]
count = 2
drop_km = [0.5, 1.0]
"""


def pcap_scenario(folder: Path, pcap_name: str) -> Path:
    path = folder / "scenario.toml"
    path.write_text(
        SCENARIO_HEAD
        + f"""
[[tconts]]
name = "replay"
type = 4
max_bps = 1e9
traffic = {{ model = "pcap", path = "{pcap_name}" }}
""",
        encoding="utf-8",
    )
    return path


def assert_one_error_line(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(
            ["--set", 'tconts.1.traffic.model="nope"'],
            ["tconts[1].traffic.model", "nope"],
            id="unknown-traffic-model",
        ),
        pytest.param(
            ["--set", "tconts.1.traffic.bogus=3"],
            ["tconts[1].traffic.bogus"],
            id="unknown-traffic-parameter",
        ),
        pytest.param(
            ["--set", "tconts.0.buffer_bytes=0"],
            ["tconts[0].buffer_bytes"],
            id="zero-byte-buffer",
        ),
        pytest.param(["--engine", "warp"], ["--engine", "warp"], id="bad-engine"),
        pytest.param(["--duration", "-1"], ["duration_s"], id="negative-duration"),
        pytest.param(["--json", "/proc/nope/x.json"], ["/proc/nope/x.json"], id="unwritable-json"),
        pytest.param(["--csv", "/proc/nope/csv"], ["/proc/nope/csv"], id="unwritable-csv"),
    ],
)
def test_bad_option_is_one_error_line(
    capsys: pytest.CaptureFixture[str], args: list[str], fragments: list[str]
) -> None:
    """Each mistake → exit 2 and a single ``error: <where>: <why>`` line naming the key,
    option or path (exact substring), never a traceback."""
    code, _, err = run_cli(capsys, "run", "-q", "--duration", TINY, *args)
    assert_one_error_line(code, err, *fragments)


def test_missing_pcap_is_one_error_line(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """A pcap source whose file does not exist: exit 2, the line names the file."""
    scenario = pcap_scenario(tmp_path, "missing.pcap")
    code, _, err = run_cli(capsys, "run", "-q", str(scenario))
    assert_one_error_line(code, err, "missing.pcap")


def test_corrupt_pcap_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``.pcap`` file of garbage bytes: exit 2, the line names the file.  The test runs
    from the scenario's folder so the path resolves whatever the resolution rule is (that
    rule is tested in tests/ftth/test_api.py)."""
    (tmp_path / "corrupt.pcap").write_bytes(b"this is not a capture\x00\x01\x02" * 8)
    scenario = pcap_scenario(tmp_path, "corrupt.pcap")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "run", "-q", str(scenario))
    assert_one_error_line(code, err, "corrupt.pcap")


def test_faults_on_epon_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """EPON does not emulate faults yet: a valid ``[[faults]]`` entry is refused with exit 2
    and a line naming ``faults`` — never silently ignored (the ITU profiles run them:
    tests/ftth/cli/test_run_faults.py)."""
    scenario = tmp_path / "faults.toml"
    scenario.write_text(
        'name = "e"\ntechnology = "epon-10g"\n[tree]\nfeeder_km = 2.0\nsplitters = [8]\n'
        '[onus]\ncount = 2\ndrop_km = 1.0\n[[faults]]\nkind = "fibre-cut"\nat_s = 0.001\n',
        encoding="utf-8",
    )
    code, _, err = run_cli(capsys, "run", "-q", "--duration", TINY, str(scenario))
    assert_one_error_line(code, err, "faults")


def test_bad_input_through_the_console_script(tmp_path: Path) -> None:
    """End to end in a real process: the console script prints the one line on stderr,
    nothing on stdout, exits 2 (not 1: 1 means "design fails", 2 "your input is wrong")."""
    proc = run_subprocess(
        "run", "-q", "--duration", TINY, "--set", 'tconts.1.traffic.model="nope"', cwd=tmp_path
    )
    assert_one_error_line(proc.returncode, proc.stderr, "tconts[1].traffic.model")
    assert proc.stdout == ""


# --- 6. overload ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="default-buffers"),
        pytest.param(["--set", "tconts.1.buffer_bytes=20000"], id="small-buffers"),
    ],
)
def test_overload_runs_and_the_ledger_still_balances(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str]
) -> None:
    """150 % of the upstream capacity is a legitimate question, not bad input: exit 0 or 1
    (matching the verdict), never 2.  What does not fit shows in the ledger: at least 20 %
    of the offered upstream bytes are still queued or dropped after 0.02 s (1.5× offered,
    at most 1× served: about a third cannot have left; 20 % leaves room for warm-up and the
    DBA's start), throughput stays below the offered rate, and the ledger balances exactly.
    With 20 kB buffers the excess must be dropped (dropped > 0) and the verdict fails."""
    code, d = run_json(
        capsys, tmp_path, "--duration", SHORT, "--set", "traffic.upstream_load=1.5", *extra
    )
    assert code == (0 if d["verdict"]["pass"] else 1)
    up = d["upstream"]
    ledger = up["conservation"]
    assert up["offered_bps"] > 1.2 * up["capacity_bps"]
    assert up["throughput_bps"] < up["offered_bps"]
    backlog = ledger["queued_bytes"] + ledger["dropped_bytes"]
    assert backlog >= 0.2 * ledger["offered_bytes"], ledger
    assert ledger["offered_bytes"] == (
        ledger["delivered_bytes"] + ledger["queued_bytes"] + ledger["dropped_bytes"]
    )
    total = d["conservation"]
    assert total["offered_bytes"] == (
        total["delivered_bytes"] + total["queued_bytes"] + total["dropped_bytes"]
    )
    if extra:
        assert ledger["dropped_bytes"] > 0
        assert up["loss_ratio"] > 0
        assert code == 1 and not d["verdict"]["pass"]
        assert any("dropped" in reason for reason in d["verdict"]["reasons"])
