"""The ``ftth`` command line.

Each command lives in its own module under ``ftth.cli`` and registers itself on :data:`app`.
Heavy imports (scapy, matplotlib, the emulator) happen inside the commands, so ``ftth --help``
starts fast.  :func:`main` owns the exit statuses of every command:

====  ==========================================================================
 0    PASS (or a command that has no verdict completed)
 1    FAIL: the design does not deliver (the reasons are printed)
 2    bad input: one line ``error: <where>: <why>``, never a traceback
 3    internal error, or a DBA that breaks the standard's rules: one line naming the DBA,
      frame and rule (or the exception), the full traceback saved to a file
130   interrupted by SIGINT (Ctrl-C); one line says which outputs were kept
143   terminated by SIGTERM; the same line
====  ==========================================================================
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import typer

from ftth.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    InputError,
    Interrupted,
    describe_crash,
    save_traceback,
)

app = typer.Typer(
    name="ftth",
    help=(
        "GPON / XG-PON / XGS-PON / EPON access-network emulator.\n\n"
        "Can this PON design deliver 50-100 Mb/s or 1 Gb/s to every household at the busy "
        "hour?  Start with `ftth run` (embedded default scenario), `ftth budget FILE` for the "
        "optical budget, `ftth list seeds` for ready scenarios."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _register() -> None:
    # Importing a command module registers its commands on `app`.
    from ftth.cli import commands  # noqa: F401


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`~ftth.errors.Interrupted` for the block.

    Only the main thread can own signal handlers; elsewhere (a command run from a worker
    thread) the defaults stay.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGTERM:
            raise Interrupted("SIGTERM", EXIT_SIGTERM)
        raise Interrupted("SIGINT", EXIT_SIGINT)

    previous = {
        sig: signal.signal(sig, raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _status(code: object) -> int:
    """The exit status a :class:`SystemExit` carries (``None`` is success)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _usage_error(exc: Exception) -> int | None:
    """Say a command-line usage error (unknown option, bad value) on one line.

    Returns its exit status (2), or ``None`` when ``exc`` is not a usage error.  Duck-typed:
    click's exception classes live in ``click`` or ``typer._click`` depending on the typer
    version.
    """
    exit_code = getattr(exc, "exit_code", None)
    format_message = getattr(exc, "format_message", None)
    if not isinstance(exit_code, int) or not callable(format_message):
        return None
    if type(exc).__name__ == "NoArgsIsHelpError":  # `ftth` alone: the help, as before
        print(format_message(), file=sys.stderr)
        return exit_code
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", "") or "ftth"
    message = " ".join(str(format_message()).split())
    print(f"error: {command}: {message} (see {command} --help)", file=sys.stderr)
    return exit_code


def _crash(exc: BaseException, argv: list[str]) -> int:
    """One line naming the DBA or the exception, the traceback saved to a file; status 3."""
    path = save_traceback(exc, argv)
    where = f"full traceback in {path}" if path else "no writable place for the traceback"
    print(f"error: {describe_crash(exc)} ({where})", file=sys.stderr)
    return EXIT_INTERNAL


def run_command(argv: list[str]) -> int:
    """Run one ``ftth`` command line and return its exit status (see the module docstring)."""
    from ftth import output

    _register()
    output.reset()
    status = 0
    with output.safe_streams() as (out, err), _signals_raise():
        try:
            # Not standalone: usage errors come back here to be said on one line.
            returned = app(args=argv, standalone_mode=False)
            status = returned if type(returned) is int else 0
        except SystemExit as exc:
            status = _status(exc.code)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
        except Interrupted as exc:
            print(f"interrupted ({exc.signal_name}): {output.kept_summary()}", file=sys.stderr)
            status = exc.exit_status
        except KeyboardInterrupt:  # no handler of ours (not the main thread)
            print(f"interrupted (SIGINT): {output.kept_summary()}", file=sys.stderr)
            status = EXIT_SIGINT
        except Exception as exc:
            usage = _usage_error(exc)
            status = usage if usage is not None else _crash(exc, argv)
        try:
            out.flush()
        except InputError as exc:  # stdout on a full device: the results did not get out
            print(f"error: {exc}", file=sys.stderr)
            status = max(status, EXIT_BAD_INPUT)
        with contextlib.suppress(InputError):
            err.flush()
    return status


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ftth`` console script: run the command line, exit with its status."""
    sys.exit(run_command(sys.argv[1:] if argv is None else list(argv)))
