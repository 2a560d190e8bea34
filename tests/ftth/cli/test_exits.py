"""Exit statuses of every command, a misbehaving DBA, signals and hostile stdout.

0 PASS, 1 FAIL, 2 bad input, 3 internal error or a DBA breaking the standard's rules (one
line, the traceback in a file), 130/143 on SIGINT/SIGTERM (one line saying what was kept).
Subprocesses run the console script where the process boundary is the point (signals,
stdout on /dev/full, a closed pipe, ``PYTHONIOENCODING``, plugins found on ``PYTHONPATH``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import run_cli

REPO = Path(__file__).resolve().parents[3]
SHORT = "0.02"

#: A tiny plugin package: three DBAs and a broken entry point, found through a dist-info
#: folder on PYTHONPATH (importlib.metadata reads it; nothing is installed).
PLUGIN_SOURCE = '''
import numpy as np
from olt.dba.base import Dba


class Raising(Dba):
    """Raises from allocate() once the run has started (frame 9 of 125 us frames)."""

    def allocate(self, now_ps, reports):
        if now_ps > 1_000_000_000:
            return 1 // 0
        return np.zeros(len(reports.demand_bytes), dtype=np.int64)


class Greedy(Dba):
    """Grants far beyond a frame: breaks the BWmap rules."""

    name = "test-greedy"

    def allocate(self, now_ps, reports):
        return np.full(len(reports.demand_bytes), 10**9, dtype=np.int64)
'''
ENTRY_POINTS = """[ftth.dba]
test-raising = ftth_test_plugins:Raising
test-greedy = ftth_test_plugins:Greedy
test-missing = ftth_test_no_such_module:Nope
"""


def ftth_command() -> list[str]:
    script = Path(sys.executable).with_name("ftth")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ftth"]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("plugins")
    (site / "ftth_test_plugins.py").write_text(PLUGIN_SOURCE)
    info = site / "ftth_test_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ftth-test-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    env.pop("FTTH_DBA_PLUGIN_WARNINGS_SHOWN", None)
    return env


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ftth_command(), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
        **kw,  # type: ignore[call-overload]
    )


def error_lines(stderr: str) -> list[str]:
    """stderr without plugin warnings and the first-compilation notice."""
    return [
        line
        for line in stderr.splitlines()
        if not line.startswith(("warning: ", "compiling the data-plane kernels"))
    ]


# ------------------------------------------------------------------ a DBA that misbehaves
@pytest.fixture
def crash_files() -> Iterator[list[Path]]:
    """Traceback files a test found (in the user's cache directory); removed afterwards.

    ``FTTH_CACHE_DIR`` is not redirected: it also holds the compiled kernels.
    """
    found: list[Path] = []
    yield found
    for path in found:
        path.unlink(missing_ok=True)


def _crash_file(line: str, found: list[Path]) -> Path:
    assert "full traceback in " in line, line
    path = Path(line.split("full traceback in ", 1)[1].rstrip(")"))
    found.append(path)
    assert path.is_file() and path.name.startswith("ftth-crash-")
    return path


def test_a_dba_that_raises_exits_3_with_one_line_and_a_traceback_file(
    plugin_env: dict[str, str], crash_files: list[Path]
) -> None:
    proc = run(
        "run", "--duration", "0.01", "-q", "--set", 'dba.name="test-raising"',
        env=plugin_env,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: DBA 'test-raising' raised ZeroDivisionError")
    assert "in allocate() at t = 1125 µs (frame 9)" in line  # first frame after 1 ms
    text = _crash_file(line, crash_files).read_text()
    assert "Traceback" in text and "ftth_test_plugins.py" in text and "1 // 0" in text


def test_a_dba_that_breaks_a_bwmap_rule_exits_3_naming_dba_frame_and_rule(
    plugin_env: dict[str, str], crash_files: list[Path]
) -> None:
    proc = run(
        "run", "--duration", "0.01", "-q", "--set", 'dba.name="test-greedy"',
        env=plugin_env,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    (line,) = error_lines(proc.stderr)
    assert line.startswith("error: DBA 'test-greedy', frame 0: ")
    assert "exceeds the maximum" in line and "breaks a rule of the standard" in line
    assert "DbaError" in _crash_file(line, crash_files).read_text()


def test_a_broken_plugin_is_one_warning_and_everything_else_works(
    plugin_env: dict[str, str],
) -> None:
    listed = run("list", "dbas", env=plugin_env)
    assert listed.returncode == 0, listed.stderr
    assert "test-raising" in listed.stdout.split() and "proportional" in listed.stdout.split()
    broken = [ln for ln in listed.stdout.splitlines() if ln.startswith("test-missing")]
    assert len(broken) == 1 and "broken plugin" in broken[0]
    assert "ftth_test_no_such_module" in broken[0]
    assert listed.stderr.count("\n") == 1
    assert listed.stderr.startswith("warning: DBA plugin 'test-missing' not loaded")
    for args in (
        ("validate",),
        ("budget",),
        ("plan", "--no-emulate"),
        ("run", "--duration", "0.02", "-q"),
    ):
        proc = run(*args, env=plugin_env)
        assert proc.returncode in (0, 1), (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert error_lines(proc.stderr) == [], (args, proc.stderr)


# ------------------------------------------------------------------ statuses of every command
@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("validate",), 0),
        (("validate", "--set", "onus.count=0"), 2),
        (("budget",), 0),
        (("budget", "--set", "tree.feeder_km=17", "--set", 'tree.optical_class="N1"'), 1),
        (("budget", "no-such-seed"), 2),
        (("list", "seeds"), 0),
        (("list", "dbas"), 0),
        (("profiles",), 0),
        (("plan", "--no-emulate"), 0),
        (("plan", "--no-emulate", "--tier", "5G/2G"), 1),
        (("plan", "--tier", "5G/2G", "--duration", SHORT, "--plot", "plots"), 1),
        (("plan", "--no-emulate", "--max-tier"), 2),
        (("compare-dba", "standard", "--jobs", "0"), 2),
        (("run", "--duration", SHORT, "-q"), 0),
        (("run", "--duration", SHORT, "--csv", "-"), 2),
        (("run", "--bogus"), 2),  # usage errors are one line too
        (("run", "--duration", "abc"), 2),
        (("list", "nothing"), 2),
        (("--help",), 0),
    ],
)
def test_exit_status_of_every_command(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str, ...],
    status: int,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *args)
    assert code == status, err
    assert "Traceback" not in err
    if status == 2:
        (line,) = err.strip().splitlines()
        assert line.startswith("error: ")


# ------------------------------------------------------------------ signals
def _start_and_wait(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """Start a long run whose packet trace shows when the emulation is under way."""
    proc = subprocess.Popen(
        [*ftth_command(), "run", "standard", "--duration", "5", "-q", *args,
         "--set", f'output.trace_csv="{tmp_path / "trace" / "t.csv"}"'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for _ in range(1200):  # the trace's temporary file appears once packets flow
        if (tmp_path / "trace").is_dir() and any((tmp_path / "trace").iterdir()):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"the run did not start: {proc.communicate()[1]}")


@pytest.mark.parametrize(("sig", "status", "name"), [(signal.SIGINT, 130, "SIGINT"),
                                                     (signal.SIGTERM, 143, "SIGTERM")])  # fmt: skip
def test_a_signal_exits_128_plus_its_number_and_keeps_the_old_outputs(
    tmp_path: Path, sig: int, status: int, name: str
) -> None:
    old = tmp_path / "out.json"
    old.write_text('{"old": true}\n')
    proc = _start_and_wait(tmp_path, "--json", str(old), "--csv", str(tmp_path / "csv"))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    (line,) = error_lines(err)  # a cold numba cache adds its one-line notice first
    assert line.startswith(f"interrupted ({name}): nothing written")
    assert str(old) in line
    assert json.loads(old.read_text()) == {"old": True}
    assert not (tmp_path / "csv").exists()
    assert list((tmp_path / "trace").iterdir()) == []  # the partial trace is gone


# ------------------------------------------------------------------ hostile stdout
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux /dev/full")
@pytest.mark.parametrize("args", [("run", "--duration", SHORT), ("list", "dbas"), ("profiles",)])
def test_stdout_on_a_full_device_is_one_error_line(args: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [*ftth_command(), *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=300
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: stdout: cannot write: No space left on device"


def test_a_closed_pipe_ends_quietly_with_the_verdict() -> None:
    """``ftth run | head -1``: the reader stops after one line; no traceback, verdict kept."""
    proc = subprocess.Popen(
        [*ftth_command(), "run", "--duration", SHORT],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert first.strip()
    assert proc.returncode in (0, 1), err
    assert "Traceback" not in err and "Broken pipe" not in err and "Exception" not in err


@pytest.mark.parametrize(
    "args",
    [("run", "--duration", SHORT), ("budget",), ("profiles",), ("list", "seeds"),
     ("plan", "--no-emulate"), ("validate",)],
)  # fmt: skip
def test_an_ascii_terminal_gets_a_plain_table(args: tuple[str, ...]) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    proc = subprocess.run([*ftth_command(), *args], capture_output=True, env=env, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert b"Traceback" not in proc.stderr
    proc.stdout.decode("ascii")  # every byte is ASCII
    proc.stderr.decode("ascii")
    assert len(proc.stdout.splitlines()) > 1


def test_a_dba_that_raises_in_a_compare_worker_is_named(
    plugin_env: dict[str, str], crash_files: list[Path]
) -> None:
    """compare-dba runs cells in worker processes: the one line still names the run and the
    DBA, and the crash file holds the worker's traceback."""
    proc = run(
        "compare-dba", "standard", "--dba", "proportional,test-raising", "--loads", "0.5",
        "--seeds", "1", "--duration", "0.02", "--jobs", "2",
        env=plugin_env,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "dba=test-raising" in lines[0]
    assert "DBA 'test-raising' raised ZeroDivisionError" in lines[0]
    text = _crash_file(lines[0], crash_files).read_text()
    assert "1 // 0" in text
