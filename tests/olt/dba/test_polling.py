"""``polling``: the textbook oracle's window kernel (gated: what the opening REPORT says;
exhaustive: no limit) and its parameters.  Its queueing behaviour is checked against Takagi's
formulas in tests/ftth/emulator/test_epon.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.errors import InputError
from ftth.phy import get_profile
from olt.dba import epon_kernel as ek
from olt.dba.base import DbaContext
from olt.dba.polling import PollingDba, polling_kernel
from olt.dba.registry import get_dba
from tests.olt.dba.helpers import make_table


def make(params: dict[str, Any]) -> PollingDba:
    tech = "epon-1g"
    ctx = DbaContext(get_profile(tech), None, make_table(tech, 3), 3, 1, True)
    return PollingDba(ctx, params)


def test_registered_as_kernel_epon_dba() -> None:
    cls = get_dba("polling")
    assert cls is PollingDba and issubclass(cls, ek.KernelEponDba)
    assert cls.kernel is polling_kernel and cls.report_first


@settings(max_examples=100, deadline=None)
@given(reported=st.integers(0, 1 << 36), onu=st.integers(0, 2))
def test_gated_grants_the_report_exhaustive_has_no_limit(reported: int, onu: int) -> None:
    assert make({}).window_bytes(onu, reported) == reported
    assert make({"service": "exhaustive"}).window_bytes(onu, reported) == ek.UNLIMITED_BYTES


@pytest.mark.parametrize(
    "params,exhaustive,rtt_zero",
    [
        ({}, False, True),
        ({"service": "exhaustive"}, True, True),
        ({"zero_rtt": False}, False, False),
    ],
)
def test_engine_flags(params: dict[str, Any], exhaustive: bool, rtt_zero: bool) -> None:
    dba = make(params)
    assert (dba.exhaustive, dba.rtt_zero) == (exhaustive, rtt_zero)


@pytest.mark.parametrize(
    "params,where",
    [
        ({"service": "limited"}, "dba.params.service"),
        ({"w_max_bytes": 1000}, "dba.params.w_max_bytes"),
        ({"guard_us": 2000}, "dba.params.guard_us"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as exc:
        make(params)
    assert exc.value.where == where
