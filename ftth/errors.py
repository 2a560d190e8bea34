"""Errors the user can fix, and how they reach the terminal.

Every mistake in user input (scenario file, command-line option, pcap file, an impossible
design) raises :class:`InputError` naming *where* the problem is (a key path such as
``tree.splitters[1]`` or a file name) and *why*, with the allowed range.  The CLI prints
``error: <where>: <why>`` on one line and exits with status 2 — never a traceback.
"""

from __future__ import annotations

#: Exit status for bad input (matches argparse / typer usage errors).
EXIT_BAD_INPUT = 2


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
