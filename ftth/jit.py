"""Optional numba acceleration with a pure-Python fallback that gives the same results.

Kernels are written in the subset of Python that numba compiles (scalar loops over
int64 numpy arrays, integer arithmetic only).  With numba installed (``pip install
'.[fast]'``) they are compiled; without it — or with ``FTTH_NO_NUMBA=1`` — the very same
source runs as plain Python.  Integer-only arithmetic makes the two bit-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickletools
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


#: Sources of the kernels and of the module constants they freeze at compile time.  numba's
#: on-disk cache is keyed on each function's own source file only, so a kernel calling a
#: changed kernel in another file would run stale code; the cache directory is therefore keyed
#: on a digest of all of them: a few ftth modules, and every module of ``olt/`` and ``onu/``.
_KERNEL_SOURCES = (
    "jit.py",
    "phy.py",
    "biterrors.py",
    "fold.py",
    "traffic/kernels.py",
    "emulator/compiled.py",
    "emulator/dataplane.py",
    "emulator/epon.py",
)
_KERNEL_PACKAGES = ("../olt", "../onu")


def _kernel_sources(here: Path) -> list[Path]:
    """Every file whose content keys the cache (in a fixed order)."""
    files = [here / name for name in _KERNEL_SOURCES]
    for package in _KERNEL_PACKAGES:
        files.extend(sorted((here / package).rglob("*.py")))
    return files


#: Wall time of the first compilation of every kernel, as announced (2-CPU machine, numba
#: 0.6x: 20-45 s).
COMPILE_ESTIMATE = "~30 s"
#: In the cache directory: size and mtime of every cache file already checked whole.
_VERIFIED = "verified.txt"
#: Set in the environment once the first compilation was announced (worker processes
#: inherit it and stay quiet).
_ANNOUNCED_ENV = "FTTH_COMPILE_ANNOUNCED"


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _cache_base() -> Path:
    """``$FTTH_CACHE_DIR``, else ``$XDG_CACHE_HOME/ftth``, else ``~/.cache/ftth``."""
    return Path(
        os.environ.get("FTTH_CACHE_DIR")
        or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ftth")
    )


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot hold the cache (created if needed), or ``None`` when it can.

    A real file is written and removed: ``os.access`` says yes on a read-only mount as root.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _complete_pickles(data: bytes) -> bool:
    """True when ``data`` is one or more whole pickles (read without building any object)."""
    stream = io.BytesIO(data)
    try:
        while True:
            for _ in pickletools.genops(stream):
                pass
            if stream.tell() >= len(data):
                return len(data) > 0
    except Exception:
        return False


def _corrupt_files(path: Path) -> list[Path]:
    """Cache files under ``path`` that are not whole (truncated, garbage).

    numba reads its ``.nbi`` index and ``.nbc`` data files with :func:`pickle.loads`, so a
    truncated file is an ``UnpicklingError``/``EOFError`` in the middle of a run.  Files
    checked before (same size and mtime, listed in ``verified.txt``) are not read again.
    """
    ledger = path / _VERIFIED
    try:
        known = set(ledger.read_text().split("\n"))
    except OSError:
        known = set()
    seen: list[str] = []
    bad: list[Path] = []
    for file in sorted(path.rglob("*.nb[ic]")):
        try:
            stat = file.stat()
            key = f"{file.relative_to(path)}\t{stat.st_size}\t{stat.st_mtime_ns}"
            if key not in known and not _complete_pickles(file.read_bytes()):
                bad.append(file)
                continue
        except OSError:
            bad.append(file)
            continue
        seen.append(key)
    with contextlib.suppress(OSError):  # if not, checked again next time
        ledger.write_text("\n".join(seen))
    return bad


def _discard(path: Path, bad: list[Path]) -> None:
    """Remove the corrupt files with their index or data siblings (numba rebuilds them)."""
    names = ", ".join(str(file.relative_to(path)) for file in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    _warn(
        f"the numba cache in {path} has corrupt files ({names}{more}); discarded, those "
        "kernels are compiled again"
    )
    for file in bad:
        # ``f.nbi`` indexes ``f.<n>.nbc``: drop the whole family of a corrupt member.
        base = file.name.split(".nb")[0] if file.suffix == ".nbi" else file.name.rsplit(".", 2)[0]
        for sibling in [*file.parent.glob(f"{base}.nbi"), *file.parent.glob(f"{base}.*.nbc")]:
            with contextlib.suppress(OSError):
                sibling.unlink()
        with contextlib.suppress(OSError):
            file.unlink()
    if any(file.exists() for file in bad):  # could not delete: start from an empty cache
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)


_CHOSEN: list[str | None] = []


def _cache_dir() -> str | None:
    """:func:`_choose_cache_dir`, once per process (later calls return the same answer)."""
    if not _CHOSEN:
        _CHOSEN.append(_choose_cache_dir())
    return _CHOSEN[0]


def _choose_cache_dir() -> str | None:
    """The checked, writable cache directory of this version of the kernels, or ``None``.

    Keyed on a digest of the kernels' sources.  A corrupt cache is discarded (one warning);
    an unwritable one falls back to a private temporary directory (one warning), which the
    environment then names so worker processes use it without a word.
    """
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for file in _kernel_sources(here):
        try:
            digest.update(file.read_bytes())
        except OSError:
            return None
    key = digest.hexdigest()[:16]
    path = _cache_base() / "numba" / key
    why = _unwritable(path)
    if why is not None:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        fallback_base = Path(tempfile.gettempdir()) / f"ftth-cache-{uid}"
        fallback = fallback_base / "numba" / key
        why_fallback = _unwritable(fallback)
        if why_fallback is not None:
            _warn(
                f"no writable numba cache ({path}: {why}; {fallback}: {why_fallback}); "
                f"the kernels are compiled on every run ({COMPILE_ESTIMATE})"
            )
            return None
        _warn(f"the numba cache {path} is not writable ({why}); using {fallback} instead")
        os.environ["FTTH_CACHE_DIR"] = str(fallback_base)
        path = fallback
    bad = _corrupt_files(path)
    if bad:
        _discard(path, bad)
    return str(path)


#: The cache directory in use (``None``: no numba, or no cache).
CACHE_DIR: str | None = None
#: Every compiled kernel that is called from Python (not the inlined helpers).
_DISPATCHERS: list[Any] = []


def _numba_njit(**options: Any) -> Callable[[F], F] | None:
    global CACHE_DIR
    if os.environ.get("FTTH_NO_NUMBA", "") not in ("", "0"):
        return None
    try:
        import numba
    except ImportError:
        return None
    if "inline" not in options:
        CACHE_DIR = _cache_dir()
    if CACHE_DIR is None:
        # No safe place for a cache: compile on every run rather than risk stale kernels.
        return cast("Callable[[F], F]", numba.njit(cache=False, nogil=True, **options))
    setattr(numba.config, "CACHE_DIR", CACHE_DIR)  # noqa: B010 (no stub for config)
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
    dispatcher = _NJIT(func)
    _DISPATCHERS.append(dispatcher)
    return dispatcher


def inline_kernel(func: F) -> F:
    """:func:`kernel` for a small helper that is inlined where it is called."""
    if _NJIT_INLINE is None:
        return func
    return _NJIT_INLINE(func)


def will_compile() -> bool:
    """True when the next run compiles every kernel (nothing usable in the cache).

    Asks numba's cache index of each kernel whether it holds code for the current sources
    (an index written for other sources, or none, is empty).
    """
    if not ACCELERATED:
        return False
    if CACHE_DIR is None:
        return True
    try:
        return not any(d._cache._cache_file._load_index() for d in _DISPATCHERS)
    except Exception:  # numba's internals moved: judge by the presence of any index file
        return not any(Path(CACHE_DIR).rglob("*.nbi"))


def announce_compilation() -> None:
    """Say on stderr, once, that the kernels are being compiled and how long it takes."""
    if os.environ.get(_ANNOUNCED_ENV) or not will_compile():
        return
    os.environ[_ANNOUNCED_ENV] = "1"
    where = f"; later runs reuse them from {CACHE_DIR}" if CACHE_DIR else ""
    print(
        f"compiling the data-plane kernels once ({COMPILE_ESTIMATE}){where}…",
        file=sys.stderr,
        flush=True,
    )


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
