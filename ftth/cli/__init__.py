"""The ``ftth`` command line.

Each command lives in its own module under ``ftth.cli`` and registers itself on :data:`app`.
Heavy imports (scapy, matplotlib, the emulator) happen inside the commands, so ``ftth --help``
starts fast.  :func:`main` turns every :class:`~ftth.errors.InputError` into one line on
stderr and exit status 2 — users never see a traceback for their own mistakes.
"""

from __future__ import annotations

import sys

import typer

from ftth.errors import EXIT_BAD_INPUT, InputError

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


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ftth`` console script."""
    _register()
    try:
        app(args=argv, standalone_mode=True)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
