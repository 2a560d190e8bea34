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


def _run_json(plugin: Path, tmp_path: Path, dba: str) -> dict:
    out = tmp_path / f"{dba}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "ftth", "run", "--duration", "0.01", "-q",
         "--set", f'dba.name="{dba}"', "--json", str(out)],
        env=_env(plugin), capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return dict(json.loads(out.read_text()))


def test_kernel_form_runs_compiled_with_the_same_results(plugin_path: Path, tmp_path: Path) -> None:
    """The example's two forms implement one rule: the kernel form runs inside the compiled
    frame loop (when numba is present) and every number of the run is the same."""
    plain = _run_json(plugin_path, tmp_path, "equal-share")
    compiled = _run_json(plugin_path, tmp_path, "equal-share-kernel")
    from ftth.jit import ACCELERATED

    if ACCELERATED:
        assert compiled["backend"].endswith("compiled-loop"), compiled["backend"]
        assert not plain["backend"].endswith("compiled-loop")
    for key in ("upstream", "downstream", "tconts", "households", "conservation"):
        assert plain[key] == compiled[key], key
