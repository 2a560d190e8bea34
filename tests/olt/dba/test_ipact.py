"""``ipact``: the window-size kernel against the services' formulas (Kramer et al. 2002),
the parameter checks, and the kernel called from Python and from a compiled caller alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.errors import DbaError, InputError
from ftth.phy import get_profile
from olt.dba import epon_kernel as ek
from olt.dba.base import DbaContext
from olt.dba.ipact import SERVICES, IpactDba, ipact_kernel
from olt.dba.registry import get_dba
from tests.olt.dba.helpers import make_table

TECHNOLOGIES = ("epon-1g", "epon-10g")


def make(params: dict[str, Any], tech: str = "epon-1g", onus: int = 4) -> IpactDba:
    ctx = DbaContext(get_profile(tech), None, make_table(tech, onus), onus, 1, True)
    return IpactDba(ctx, params)


def expected(service: str, r: int, w: int, credit: int, ratio: float) -> int:
    """The services of the module docstring, written out independently."""
    if service == "fixed":
        return w
    if service == "limited":
        return min(r, w)
    if service == "gated":
        return r
    if service == "constant-credit":
        return min(r + credit, w) if r > 0 else 0
    return min(int(r * (1 + ratio)), w)


def test_registered_as_kernel_epon_dba() -> None:
    cls = get_dba("ipact")
    assert cls is IpactDba and cls.epon and issubclass(cls, ek.KernelEponDba)
    assert cls.kernel is ipact_kernel and not cls.report_first


@settings(max_examples=200, deadline=None)
@given(
    service=st.sampled_from(SERVICES),
    reported=st.integers(0, 20_000_000),
    w_max=st.integers(84, 10_000_000),
    credit=st.integers(0, 100_000),
    ratio=st.floats(0, 10, allow_nan=False),
    onu=st.integers(0, 3),
)
def test_window_matches_service_formula(
    service: str, reported: int, w_max: int, credit: int, ratio: float, onu: int
) -> None:
    dba = make(
        {"service": service, "w_max_bytes": w_max, "credit_bytes": credit, "credit_ratio": ratio}
    )
    got = dba.window_bytes(onu, reported, now_ps=123)
    assert got == expected(service, reported, w_max, credit, ratio)
    assert got >= 0
    if service != "gated":
        assert got <= w_max  # W_max bounds every service but gated
    # The kernel called directly (the compiled loop's way, no trampoline) agrees.
    ctx = dba.kernel_ctx()
    direct = ipact_kernel.func(ctx, onu, reported, dba.state_i, dba.state_f)
    assert int(direct) == got


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_defaults_and_views(tech: str) -> None:
    dba = make({}, tech)
    assert dba.service == "limited"
    assert (dba.w_max_bytes, dba.credit_bytes, dba.credit_ratio) == (15_000, 1_538, 0.1)
    assert dba.guard_ps == get_profile(tech).default_guard_ps
    ctx = dba.kernel_ctx()
    p = get_profile(tech)
    assert ctx[ek.E_N_ONUS] == 4 and ctx[ek.E_REPORT_UNIT] == p.report_unit_bytes
    assert ctx[ek.E_BYTE_PS] * p.upstream_bps == 8 * 10**12
    assert ctx[ek.E_REPORT_BYTES] == p.mpcp_report_bytes + p.ethernet_overhead_bytes
    assert ctx[ek.E_GUARD_PS] == dba.guard_ps


@pytest.mark.parametrize(
    "params,where",
    [
        ({"service": "bursty"}, "dba.params.service"),
        ({"w_max_bytes": 83}, "dba.params.w_max_bytes"),
        ({"w_max_bytes": 10_000_001}, "dba.params.w_max_bytes"),
        ({"credit_bytes": -1}, "dba.params.credit_bytes"),
        ({"credit_ratio": 10.5}, "dba.params.credit_ratio"),
        ({"credit_ratio": -0.1}, "dba.params.credit_ratio"),
        ({"guard_us": -1}, "dba.params.guard_us"),
        ({"guard_us": 1001}, "dba.params.guard_us"),
        ({"zero_rtt": True}, "dba.params.zero_rtt"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as exc:
        make(params)
    assert exc.value.where == where


def test_negative_kernel_answer_is_a_dba_error() -> None:
    """A window kernel answering < 0 stops the run with a DbaError naming the window."""

    @ek.window_kernel
    def broken(ctx: ek.I64, onu: int, reported: int, state_i: ek.I64, state_f: ek.F64) -> int:
        return -7

    class Broken(IpactDba):
        kernel = broken

    dba = Broken(make({}).ctx, {})
    with pytest.raises(DbaError) as exc:
        dba.window_bytes(2, 100, now_ps=5_000, window=9)
    assert exc.value.frame == 9 and "ONU 2" in exc.value.rule and "-7" in exc.value.rule
    assert np.array_equal(dba.state_i, make({}).state_i)
