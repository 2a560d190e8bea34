"""Traffic windows generated ahead on another core while the frame loop runs.

The compiled frame loop releases the GIL (``nogil`` kernels), so a worker thread can
generate the next traffic windows — the sources' numpy and numba work — in parallel with
it.  Each direction has its own worker, which alone touches that direction's sources, and
hands over finished windows in order through a bounded queue: the packets, and therefore
the results, are exactly those of generating inline (tests compare the two).

Used only when more than one CPU is available to the process and ``FTTH_PREFETCH`` is not
``0``; the benchmark's one-core real-time factor is measured without it.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: Windows a worker may run ahead of the frame loop (bounded memory).
AHEAD_WINDOWS = 2
_POLL_S = 0.05


def cpus_available() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def prefetch_enabled() -> bool:
    """Whether windows are generated on a worker thread: more than one CPU available and
    ``FTTH_PREFETCH`` not set to ``0``."""
    if os.environ.get("FTTH_PREFETCH", "") == "0":
        return False
    return cpus_available() > 1


class Prefetcher(Generic[T]):
    """Call ``produce()`` repeatedly on a daemon thread, ``count`` times, keeping at most
    :data:`AHEAD_WINDOWS` results ready; :meth:`get` returns them in order and re-raises,
    in the caller's thread, an exception ``produce`` raised."""

    def __init__(self, produce: Callable[[], T], count: int, name: str) -> None:
        self._produce = produce
        self._count = count
        self._queue: queue.Queue[tuple[bool, T | BaseException]] = queue.Queue(AHEAD_WINDOWS)
        self._stop = threading.Event()
        self._taken = 0
        self._thread = threading.Thread(target=self._run, name=f"ftth-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for _ in range(self._count):
            try:
                item: tuple[bool, T | BaseException] = (True, self._produce())
            except BaseException as exc:  # handed to the consumer, who raises it
                item = (False, exc)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set() or not item[0]:
                return

    def get(self) -> T:
        """The next result, in production order."""
        if self._taken >= self._count:
            raise IndexError("every prefetched item was already taken")
        ok, value = self._queue.get()
        self._taken += 1
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the worker (it finishes the item in hand) and wait for it."""
        self._stop.set()
        self._thread.join()
