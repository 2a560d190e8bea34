"""Optional numba acceleration with a pure-Python fallback that gives the same results.

Kernels are written in the subset of Python that numba compiles (scalar loops over
int64 numpy arrays, integer arithmetic only).  With numba installed (``pip install
'.[fast]'``) they are compiled; without it — or with ``FTTH_NO_NUMBA=1`` — the very same
source runs as plain Python.  Integer-only arithmetic makes the two bit-identical.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


def _numba_njit() -> Callable[[F], F] | None:
    if os.environ.get("FTTH_NO_NUMBA", "") not in ("", "0"):
        return None
    try:
        import numba
    except ImportError:
        return None
    return cast("Callable[[F], F]", numba.njit(cache=True, nogil=True))


_NJIT = _numba_njit()
#: True when kernels are compiled by numba.
ACCELERATED: bool = _NJIT is not None


def kernel(func: F) -> F:
    """Compile ``func`` with numba when available; otherwise return it unchanged."""
    if _NJIT is None:
        return func
    return _NJIT(func)


def backend_name() -> str:
    """``"numba"`` or ``"python"``: which implementation of the kernels runs."""
    return "numba" if ACCELERATED else "python"
