"""Benchmarks (pytest-benchmark): real-time factor, engine ratio, scaling, memory.

Run with ``python -m pytest bench/`` (they are not part of the unit tests).  Every number is a
ratio or a median over ``BENCH_ROUNDS`` rounds (default 3) measured in the same run, never a
timed assertion.  ``BENCH_SECONDS`` shortens or lengthens the emulated time of the standard
scenario (default 1 s).

The committed figures change only on purpose: a plain run writes its figures to
``bench/results/last-run.json`` (ignored by git); ``--benchmark-save=NAME`` or
``--benchmark-autosave`` (pytest-benchmark's own flags) also merge them into
``bench/results/latest.json`` — the file the README's Performance table quotes — and store
pytest-benchmark's per-round statistics, with the figures, under ``bench/results/history/``
(this suite's ``--benchmark-storage`` unless one is given).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).parent
RESULTS = BENCH_DIR / "results"
#: The committed figures (written only when saving) and a plain run's figures.
SAVED, UNSAVED = RESULTS / "latest.json", RESULTS / "last-run.json"
#: pytest-benchmark's storage for this suite (used by ``--benchmark-save``/``-autosave``).
HISTORY = RESULTS / "history"
_DEFAULT_STORAGE = "file://./.benchmarks"
#: Rounds per measurement (the figure is their median).
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))


def saving(config: pytest.Config) -> bool:
    """Whether this run was asked to save (``--benchmark-save`` / ``--benchmark-autosave``)."""
    return bool(
        config.getoption("benchmark_save", None) or config.getoption("benchmark_autosave", None)
    )


def pytest_configure(config: pytest.Config) -> None:
    """Point pytest-benchmark's storage at ``bench/results/history`` unless the user chose
    one (pytest-benchmark reads it in its own, later, ``pytest_configure``)."""
    if getattr(config.option, "benchmark_storage", None) == _DEFAULT_STORAGE:
        config.option.benchmark_storage = f"file://{HISTORY}"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.system(),
    }


_FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="session")
def record(request: pytest.FixtureRequest) -> Any:
    """Collect named measurements; at the end of the session write them to
    ``bench/results/last-run.json``, or merge them into ``bench/results/latest.json`` when
    saving (each entry keeps the time it was measured: compare entries of one time only)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    data: dict[str, Any] = {
        "machine": machine(),
        "rounds": ROUNDS,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }

    def put(name: str, value: Any) -> None:
        data[name] = {**value, "measured": started}
        _FIGURES[name] = data[name]

    yield put
    data["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    target = SAVED if saving(request.config) else UNSAVED
    if target == SAVED and SAVED.exists():
        data = {**json.loads(SAVED.read_text()), **data}
    RESULTS.mkdir(exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(target)
    request.config.stash[_WRITTEN] = str(target)


_WRITTEN = pytest.StashKey[str]()


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
) -> None:
    """Saved runs in ``bench/results/history`` carry the suite's figures too."""
    output_json["ftth_figures"] = dict(_FIGURES)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    written = config.stash.get(_WRITTEN, None)
    if written is not None:
        how = "saved" if written == str(SAVED) else "not saved (use --benchmark-save=NAME)"
        terminalreporter.write_line(f"bench figures written to {written}: {how}")
