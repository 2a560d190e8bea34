"""Functions the executor tests run in worker processes (importable by spawned workers)."""

from __future__ import annotations

import os
import time


def square(x: int) -> tuple[int, int]:
    """``(x², pid)``: the value and which process computed it."""
    return x * x, os.getpid()


def sleepy(seconds: float) -> int:
    """Sleep, then return the pid (a run that is still in flight when the sweep is stopped)."""
    time.sleep(seconds)
    return os.getpid()


def boom(_x: int) -> int:
    raise ValueError("boom in a worker")
