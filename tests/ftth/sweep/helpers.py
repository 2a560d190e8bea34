"""Functions the executor tests run in worker processes (importable by spawned workers)."""

from __future__ import annotations

import os
import sys
import time


def square(x: int) -> tuple[int, int]:
    """``(x², pid)``: the value and which process computed it."""
    return x * x, os.getpid()


def sleepy(seconds: float) -> int:
    """Sleep, then return the pid (a run that is still in flight when the sweep is stopped)."""
    time.sleep(seconds)
    return os.getpid()


def sleepy_square(seconds: float) -> tuple[float, int]:
    """Sleep, then ``(seconds², pid)`` (runs long enough that every worker gets one)."""
    time.sleep(seconds)
    return seconds * seconds, os.getpid()


def boom(_x: int) -> int:
    raise ValueError("boom in a worker")


def imported(name: str) -> bool:
    """Whether the worker has imported module ``name`` (before any run asked for it)."""
    return name in sys.modules


def assert_no_children(within_s: float = 5.0) -> None:
    """No process of this test's is left running (the pool's workers are reaped), apart
    from multiprocessing's resource tracker, which lives as long as this process."""
    import pytest

    psutil = pytest.importorskip("psutil")
    deadline = time.monotonic() + within_s
    while True:
        alive = []
        for child in psutil.Process().children(recursive=True):
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(
                    child.cmdline()
                ):
                    alive.append(child.pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not alive, f"still running: {alive}"
