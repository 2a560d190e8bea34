"""Output files: the directory a command writes into."""

from __future__ import annotations

from pathlib import Path

from ftth.errors import InputError


def output_dir(directory: str | Path) -> Path:
    """``directory``, created if needed (InputError naming it if it cannot be)."""
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(str(out), f"cannot create directory: {exc.strerror or exc}") from None
    return out
