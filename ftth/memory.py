"""Keep the resident memory of long runs flat.

The fast engine allocates and frees large temporary numpy arrays every traffic window
(tens of MB: kernel output buffers, histogram scratch).  glibc's malloc raises its mmap
threshold dynamically after such frees, so later large arrays come from the heap, which
fragments and grows with the run's length (measured: 514 MB peak RSS for a 60 s standard run,
294 MB with the threshold pinned).  Pinning the threshold at 1 MiB makes every large array an
mmap that is returned to the system when freed.  No effect (and no error) off glibc.

numpy also asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on large
arrays.  The engine's big arrays are touched sparsely (delay histograms of 7296 buckets per
queue, kernel output buffers sized for the worst case), so a 2 MiB page is cleared and kept
resident where a few 4 KiB pages would do: the peak RSS (VmHWM) of the 60 s standard run
was 455 MB with the hint and 281 MB without it, minutes apart on the same machine (how much
it costs depends on how much contiguous memory the machine has free).  Runs therefore
switch that hint off while they last (:func:`run_memory_policy`).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: glibc mallopt parameter number (malloc.h).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 20
_done = False


def pin_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold once per process; return whether it was applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False
    _done = ok
    return ok


def _hugepage_switch() -> tuple[Callable[[], bool], Callable[[bool], None]] | None:
    """numpy's (get, set) of its huge-page hint, or None if this numpy has none."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        try:
            from numpy.core import multiarray  # type: ignore[no-redef]
        except ImportError:
            return None
    get = getattr(multiarray, "_get_madvise_hugepage", None)
    put = getattr(multiarray, "_set_madvise_hugepage", None)
    if get is None or put is None:
        return None
    return get, put


@contextmanager
def run_memory_policy() -> Iterator[None]:
    """During a run: glibc's mmap threshold pinned (for good) and numpy's huge-page hint
    off (restored afterwards)."""
    pin_mmap_threshold()
    switch = _hugepage_switch()
    if switch is None:
        yield
        return
    get, put = switch
    before = bool(get())
    put(False)
    try:
        yield
    finally:
        put(before)
