"""A third-party DBA plugs in through the ``ftth.dba`` entry-point group.

The example package in tests/plugins/ftth-example-dba is really installed (pip, into a
temporary target directory) and used by a child process through PYTHONPATH: no file of this
repository names it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "tests" / "plugins" / "ftth-example-dba"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugin-site")
    # No build isolation: setuptools of this environment builds it, no network needed.
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PLUGIN)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return target


def _env(plugin: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(ROOT)])}


def test_plugin_is_listed(plugin_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ftth", "list", "dbas"], env=_env(plugin_path), check=True,
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert "equal-share" in out
    assert "proportional" in out  # the built-ins are still there


def test_plugin_dba_runs_a_scenario(plugin_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "ftth", "run", "--duration", "0.01", "-q",
         "--set", 'dba.name="equal-share"', "--json", str(out)],
        env=_env(plugin_path), capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(out.read_text())
    assert data["scenario"]["dba"] == "equal-share"
    assert data["conservation"]["balanced"]
    assert data["upstream"]["throughput_bps"] > 0


def test_without_the_plugin_the_name_is_unknown() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ftth", "run", "--duration", "0.01", "-q",
         "--set", 'dba.name="equal-share"'],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "equal-share" in proc.stderr and "valid:" in proc.stderr
