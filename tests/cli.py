"""What CLI tests share: running ``ftth`` in this process, and a DBA that breaks a rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from ftth.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``ftth ARGS`` in-process; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


@contextmanager
def overflowing_dba(name: str) -> Iterator[str]:
    """Register, for the block, a DBA named ``name`` that grants every T-CONT a whole frame
    (the BWmap builder refuses it: a DBA breaking the standard's rules, exit 3).  It exists
    in this process only, so the runs that use it must run here (one worker)."""
    from olt.dba.base import Dba, Reports
    from olt.dba.registry import _REGISTRY, register

    class Overflowing(Dba):
        uses_reports = False

        def allocate(self, now_ps: int, reports: Reports) -> np.ndarray:
            return np.full(self.ctx.tconts.count, self.ctx.frame_line_bytes, dtype=np.int64)

    Overflowing.name = name
    register(Overflowing)
    try:
        yield name
    finally:
        _REGISTRY.pop(name, None)
