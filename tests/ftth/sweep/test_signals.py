"""Signals during ``ftth sweep`` and ``ftth compare-dba`` (real subprocesses).

* SIGKILL mid-sweep, then the same command again: every run is present exactly once, the
  file is intact, and the killed sweep's workers died with it.
* SIGINT (to the process group, as a terminal's Ctrl-C) and SIGTERM (to the process, as
  ``kill``): exit 130 / 143 within a functional bound (the brief's 2 s, asserted as < 5 s on a
  loaded machine: behaviour, not speed), one line saying how many runs were kept, every row
  kept, and no process left behind — workers nor multiprocessing's resource tracker.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parents[3]
STANDARD = str(REPO / "bench" / "standard.toml")
SMALL = ("--duration", "0.03", "--set", "onus.count=8")
#: 20 loads × 2 seeds = 40 runs: long enough to be stopped in the middle.
SWEEP = ("sweep", STANDARD, "--grid", "traffic.upstream_load=0.05:1.0:0.05", "--seeds", "2",
         *SMALL, "--workers", "2")  # fmt: skip
COMPARE = ("compare-dba", STANDARD, "--dba", "proportional,sr-dba,static,giant", "--loads",
           "0.2,0.4,0.6,0.8,0.9", "--seeds", "2", *SMALL, "--jobs", "2", "--quiet")  # fmt: skip
SWEEP_DASK = (*SWEEP, "--dask", "local")
TOTAL = 40


def start(args: tuple[str, ...], out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ftth", *args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,  # its own process group, as a job in a shell
    )


def rows(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=10) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def wait_rows(proc: subprocess.Popen[str], path: Path, n: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while rows(path) < n:
        if proc.poll() is not None:
            raise AssertionError(f"ended early ({proc.returncode}): {proc.stderr.read()}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"fewer than {n} rows after {timeout_s} s")
        time.sleep(0.1)


def descendants(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def assert_gone(pids: list[int], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.05)
    assert not alive, f"processes left behind: {alive}"


def unique_runs(path: Path) -> tuple[int, int]:
    """(rows, distinct (scenario, point, seed)) and an intact file."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        distinct = conn.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT scenario_hash, point, seed FROM runs)"
        ).fetchone()[0]
        partial = conn.execute(
            "SELECT COUNT(*) FROM runs WHERE status = 'ok' AND result IS NULL"
        ).fetchone()[0]
    assert partial == 0
    return int(total), int(distinct)


@pytest.mark.parametrize("args", [SWEEP, COMPARE], ids=["sweep", "compare-dba"])
def test_sigkill_then_resume(tmp_path: Path, args: tuple[str, ...]) -> None:
    out = tmp_path / "r.sqlite"
    proc = start(args, out)
    wait_rows(proc, out, 3)
    family = descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert_gone(family)  # the workers die with their parent (PR_SET_PDEATHSIG)
    kept, distinct = unique_runs(out)
    assert 3 <= kept == distinct < TOTAL
    resumed = start(args, out)
    _, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err
    assert unique_runs(out) == (TOTAL, TOTAL)
    if args[0] == "sweep":
        assert re.search(rf"(\d+) run\(s\) done, {kept} already in", err), err


@pytest.mark.parametrize(
    "args", [SWEEP, COMPARE, SWEEP_DASK], ids=["sweep", "compare-dba", "sweep-dask-local"]
)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_everything_and_keeps_finished_runs(
    tmp_path: Path, args: tuple[str, ...], signum: int
) -> None:
    if "--dask" in args:
        pytest.importorskip("dask.distributed")
    out = tmp_path / "r.sqlite"
    proc = start(args, out)
    wait_rows(proc, out, 1)
    family = descendants(proc.pid)
    assert len(family) >= 2  # the workers (and the resource tracker)
    sent = time.monotonic()
    if signum == signal.SIGINT:  # Ctrl-C: the terminal signals the whole process group
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    elapsed = time.monotonic() - sent
    assert proc.returncode == (130 if signum == signal.SIGINT else 143), err
    assert elapsed < 5.0, f"took {elapsed:.1f} s to stop"
    name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1, err
    match = re.fullmatch(
        rf"interrupted \({name}\): (\d+) of {TOTAL} runs finished, kept in {re.escape(str(out))} "
        r"\(run the same command again to resume\)",
        lines[0],
    )
    assert match, lines[0]
    assert_gone(family)
    kept, distinct = unique_runs(out)
    assert kept == distinct == int(match.group(1)) and 1 <= kept < TOTAL


def test_compare_interrupted_leaves_its_other_outputs_as_they_were(tmp_path: Path) -> None:
    out, old = tmp_path / "r.sqlite", tmp_path / "old.json"
    old.write_text('{"old": true}\n')
    proc = start((*COMPARE, "--json", str(old)), out)
    wait_rows(proc, out, 1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted")]
    assert line.endswith(f"(run the same command again to resume); {old} left as it was"), line
    assert old.read_text() == '{"old": true}\n'
