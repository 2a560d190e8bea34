"""Errors, exit statuses, and how they reach the terminal.

Every mistake in user input (scenario file, command-line option, pcap file, an impossible
design) raises :class:`InputError` naming *where* the problem is (a key path such as
``tree.splitters[1]`` or a file name) and *why*, with the allowed range.  The CLI prints
``error: <where>: <why>`` on one line and exits with status 2 — never a traceback.

Anything else that escapes a command — a DBA breaking a rule of the standard
(:class:`DbaError`), an exception raised inside a DBA, a bug — is exit status 3: one line
naming the DBA or the exception (:func:`describe_crash`) and the full traceback in a file
(:func:`save_traceback`) whose path the line gives.
"""

from __future__ import annotations

import operator
import os
import tempfile
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

#: Exit status: the verdict passes.
EXIT_PASS = 0
#: Exit status: the verdict fails (the design does not deliver).
EXIT_FAIL = 1
#: Exit status for bad input (matches argparse / typer usage errors).
EXIT_BAD_INPUT = 2
#: Exit status: an internal error, or a DBA that breaks the standard's rules.
EXIT_INTERNAL = 3
#: Exit status after SIGINT (Ctrl-C) and SIGTERM: 128 + the signal number, as shells do.
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class FtthError(Exception):
    """Base class of every error raised on purpose by ftth."""


class InputError(FtthError):
    """User input is wrong: a scenario key, a file, a command-line value.

    Parameters
    ----------
    where
        The key path (``"onus.count"``), option (``"--set"``) or file name at fault.
    why
        What is wrong and what is allowed, e.g. ``"must be in 1..256, got 300"``.
    """

    def __init__(self, where: str, why: str) -> None:
        self.where = where
        self.why = why
        # args keep both parts so the exception can be re-created (pickling, simpy).
        super().__init__(where, why)

    def __str__(self) -> str:
        return f"{self.where}: {self.why}" if self.where else self.why


class InvariantError(FtthError):
    """An internal invariant failed (e.g. the conservation ledger).  A bug, not bad input."""


class DbaError(FtthError):
    """A DBA returned an allocation that breaks a rule of the standard."""

    def __init__(self, dba: str, frame: int, rule: str) -> None:
        self.dba = dba
        self.frame = frame
        self.rule = rule
        super().__init__(dba, frame, rule)

    def __str__(self) -> str:
        return f"DBA {self.dba!r}, frame {self.frame}: {self.rule}"


class Interrupted(BaseException):  # noqa: N818 (a signal, like KeyboardInterrupt)
    """SIGINT or SIGTERM arrived; raised by the CLI's signal handlers.

    A :class:`BaseException` so that no ``except Exception`` on the way swallows it, and
    every ``finally`` (temporary output files) runs.
    """

    def __init__(self, signal_name: str, exit_status: int) -> None:
        self.signal_name = signal_name
        self.exit_status = exit_status
        super().__init__(signal_name, exit_status)


def _is_dba(obj: object) -> bool:
    """True for an instance of ``olt.dba.base.Dba`` (by name: this layer imports no DBA)."""
    return any(
        cls.__name__ == "Dba" and cls.__module__ == "olt.dba.base" for cls in type(obj).__mro__
    )


def _dba_frame(tb: TracebackType | None) -> tuple[str, str, int | None, int] | None:
    """The innermost frame of ``tb`` running a method of a DBA.

    Returns ``(name, method, now_ps, frame_ps)`` (``now_ps`` None when unknown, ``frame_ps``
    0 for EPON), or ``None``.
    """
    found = None
    while tb is not None:
        frame = tb.tb_frame
        owner: Any = frame.f_locals.get("self")
        if _is_dba(owner):
            now = frame.f_locals.get("now_ps")
            name = getattr(owner, "name", "") or type(owner).__name__
            try:
                frame_ps = int(owner.ctx.profile.frame_ps)
            except (AttributeError, TypeError, ValueError):
                frame_ps = 0
            try:  # an int or a numpy integer (anything with __index__), never a float
                now_ps: int | None = operator.index(now)  # type: ignore[arg-type]
            except TypeError:
                now_ps = None
            found = (name, frame.f_code.co_name, now_ps, frame_ps)
        tb = tb.tb_next
    return found


def describe_crash(exc: BaseException) -> str:
    """One line for an unexpected exception: the DBA, frame and rule, or the exception.

    A :class:`DbaError` names the DBA, the frame and the broken rule; an exception raised
    inside a DBA's method names the DBA, the method and the emulated time; anything else
    is ``internal error: <type>: <message>``.
    """
    if isinstance(exc, DbaError):
        return f"{exc} (the DBA breaks a rule of the standard)"
    if isinstance(exc, FtthError) and not isinstance(exc, InvariantError):
        return str(exc)  # e.g. compare-dba's failed run, which names the DBA, load and seed
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    dba = None
    link: BaseException | None = exc
    seen: set[int] = set()
    while link is not None and dba is None and id(link) not in seen:
        # simpy re-raises a process's exception as a copy whose cause holds the DBA's frame.
        seen.add(id(link))
        dba = _dba_frame(link.__traceback__)
        link = link.__cause__ or link.__context__
    if dba is not None:
        name, method, now_ps, frame_ps = dba
        when = f" at t = {now_ps / 1e6:g} µs" if now_ps is not None else ""
        if now_ps is not None and frame_ps > 0:
            when += f" (frame {now_ps // frame_ps})"
        return f"DBA {name!r} raised {what} in {method}(){when}"
    return f"internal error: {what}"


def crash_dir() -> Path:
    """Where tracebacks go: ``$FTTH_CACHE_DIR/crashes`` (default ``~/.cache/ftth/crashes``)."""
    base = os.environ.get("FTTH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ftth"
    )
    return Path(base) / "crashes"


def save_traceback(exc: BaseException, argv: list[str] | None = None) -> Path | None:
    """Write the full traceback of ``exc`` to ``ftth-crash-<timestamp>-<pid>.txt``.

    Tried in :func:`crash_dir`, then in the system's temporary directory.  Returns the
    file's path, or ``None`` when neither can be written.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"ftth-crash-{stamp}-{os.getpid()}.txt"
    text = "".join(traceback.format_exception(exc))
    if argv is not None:
        text = f"command: ftth {' '.join(argv)}\n\n{text}"
    for folder in (crash_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None
