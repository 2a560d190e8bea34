"""Benchmarks (pytest-benchmark): real-time factor, engine ratio, scaling, memory.

Run with ``python -m pytest bench/`` (they are not part of the unit tests).  Every number is a
ratio measured in the same run, never a timed assertion.  ``BENCH_SECONDS`` shortens or
lengthens the emulated time of the standard scenario (default 1 s).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).parent
RESULTS = BENCH_DIR / "results"


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


@pytest.fixture(scope="session")
def record() -> Any:
    """Collect named measurements into bench/results/latest.json."""
    data: dict[str, Any] = {"machine": machine()}

    def put(name: str, value: Any) -> None:
        data[name] = value

    yield put
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2) + "\n")
