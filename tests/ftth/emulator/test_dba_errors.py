"""A kernel DBA that breaks a rule stops every engine with the same DbaError.

The compiled loop and the Python OLT lay out BWmaps with one function
(:func:`olt.bwmap.lay_out`) and call the DBA's kernel the same way, so a misbehaving DBA is
reported identically whichever engine runs it: the DBA's name, the frame and the rule.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ftth.emulator import run_spec
from ftth.errors import DbaError
from olt.dba import kernel as dk
from olt.dba import registry
from olt.dba.base import KernelDba
from tests.ftth.emulator.helpers import make_spec

MODES = {"huge": 0, "negative": 1, "status": 2}


@dk.dba_kernel
def _bad_kernel(ctx, tcont_i, tcont_f, reports, state_i, state_f, grants):  # type: ignore[no-untyped-def]
    """Misbehaves from frame 3 on, in the way ``state_i[0]`` says."""
    if ctx[dk.C_FRAME] < 3:
        return 0
    mode = state_i[0]
    if mode == 2:
        return 17
    for f in range(grants.shape[0]):
        for j in range(grants.shape[1]):
            grants[f, j] = 10_000_000 if mode == 0 else -16
    return 0


class _BadDba(KernelDba):
    name = "test-bad-kernel"
    kernel = _bad_kernel

    def __init__(self, ctx, params):  # type: ignore[no-untyped-def]
        super().__init__(ctx, params)
        self.state_i = np.array([MODES[params["mode"]]], dtype=np.int64)

    def error_text(self, code: int) -> str:
        return f"refused to allocate (code {code})"


@pytest.fixture
def bad_dba() -> Iterator[str]:
    registry.list_dbas()  # load the built-ins first
    registry._REGISTRY[_BadDba.name] = _BadDba
    yield _BadDba.name
    del registry._REGISTRY[_BadDba.name]


@pytest.mark.parametrize(
    "mode,words",
    [("huge", "GrantSize"), ("negative", "negative grant"), ("status", "code 17")],
)
def test_same_error_from_every_engine(bad_dba: str, mode: str, words: str) -> None:
    messages = []
    for engine in ("fast", "reference"):
        spec = make_spec(dba=bad_dba, dba_params={"mode": mode}, frames=10)
        with pytest.raises(DbaError) as exc:
            run_spec(spec, engine)
        assert exc.value.dba == bad_dba and exc.value.frame == 3
        assert words in exc.value.rule, exc.value.rule
        messages.append(str(exc.value))
    assert messages[0] == messages[1]
