"""Optional numba acceleration with a pure-Python fallback that gives the same results.

Kernels are written in the subset of Python that numba compiles (scalar loops over
int64 numpy arrays, integer arithmetic only).  With numba installed (``pip install
'.[fast]'``) they are compiled; without it — or with ``FTTH_NO_NUMBA=1`` — the very same
source runs as plain Python.  Integer-only arithmetic makes the two bit-identical.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


#: Modules holding kernels.  numba's on-disk cache is keyed on each function's own source
#: file only, so a kernel calling a changed kernel in another file would run stale code; the
#: cache directory is therefore keyed on a digest of all of them.
_KERNEL_SOURCES = (
    "jit.py",
    "fifo.py",
    "fold.py",
    "emulator/compiled.py",
    "../olt/downstream_kernel.py",
    "../olt/dba/kernel.py",
    "../onu/report.py",
    "../olt/dba/shares.py",
)


def _cache_dir() -> str | None:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _KERNEL_SOURCES:
        try:
            digest.update((here / name).read_bytes())
        except OSError:
            return None
    base = os.environ.get("FTTH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ftth"
    )
    path = Path(base) / "numba" / digest.hexdigest()[:16]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(path) if os.access(path, os.W_OK) else None


def _numba_njit(**options: Any) -> Callable[[F], F] | None:
    if os.environ.get("FTTH_NO_NUMBA", "") not in ("", "0"):
        return None
    try:
        import numba
    except ImportError:
        return None
    cache_dir = _cache_dir()
    if cache_dir is None:
        # No safe place for a cache: compile on every run rather than risk stale kernels.
        return cast("Callable[[F], F]", numba.njit(cache=False, nogil=True, **options))
    setattr(numba.config, "CACHE_DIR", cache_dir)  # noqa: B010 (no stub for config)
    return cast("Callable[[F], F]", numba.njit(cache=True, nogil=True, **options))


_NJIT = _numba_njit()
#: Small helpers are inlined into their callers at numba's IR level: a call between
#: compiled functions passes every array as half a dozen machine words and is not inlined
#: by LLVM, which measured as half the cost of serving a grant.
_NJIT_INLINE = _numba_njit(inline="always") if _NJIT is not None else None
#: True when kernels are compiled by numba.
ACCELERATED: bool = _NJIT is not None


def kernel(func: F) -> F:
    """Compile ``func`` with numba when available; otherwise return it unchanged."""
    if _NJIT is None:
        return func
    return _NJIT(func)


def inline_kernel(func: F) -> F:
    """:func:`kernel` for a small helper that is inlined where it is called."""
    if _NJIT_INLINE is None:
        return func
    return _NJIT_INLINE(func)


def backend_name() -> str:
    """``"numba"`` or ``"python"``: which implementation of the kernels runs."""
    return "numba" if ACCELERATED else "python"


def typed_kernel(func: F, signature: Callable[[], Any], *, c_callable: bool = False) -> Any:
    """Compile ``func`` for one explicit numba signature (lazily built by ``signature()``).

    Returns the numba dispatcher (``c_callable=False``) or a ``numba.cfunc`` whose numba type
    is a first-class function type (``c_callable=True``): a compiled loop that takes such a
    function as an argument is compiled, and cached on disk, once for every function of that
    signature.  Without numba both return ``func`` itself.
    """
    if _NJIT is None:
        return func
    import numba

    options: dict[str, Any] = {"cache": _cache_dir() is not None}
    if c_callable:
        return numba.cfunc(signature(), **options)(func)
    return numba.njit(signature(), nogil=True, **options)(func)
