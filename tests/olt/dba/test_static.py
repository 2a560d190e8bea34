"""``static`` DBA: equal TDMA slices from :func:`ftth.phy.equal_share_bursts`.

Exact checks (integer bytes): an ONU's grants sum to its equal-share burst, split among its
T-CONTs in whole grant units differing by at most one unit.  The resulting BWmap must be
accepted by the builder and waste at most one grant unit per burst (the StartTime alignment
of each burst's end), which is what makes static the saturation oracle's allocation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.phy import equal_share_bursts, get_profile
from olt.bwmap import BwmapBuilder
from olt.dba.base import DbaContext, Reports
from olt.dba.registry import get_dba
from olt.dba.static import StaticDba
from tests.olt.test_bwmap import table

TECHNOLOGIES = ("gpon", "xg-pon", "xgs-pon")


def reports(n: int, demand: int = 0) -> Reports:
    d = np.full(n, demand, dtype=np.int64)
    z = np.zeros(n, dtype=np.int64)
    return Reports(d, z, z, d, z, z, np.zeros(n, dtype=bool), 0)


def static_grants(tech: str, onus: int, per_onu: int, fec: bool) -> tuple[np.ndarray, DbaContext]:
    p = get_profile(tech)
    ctx = DbaContext(p, p.fec("upstream", fec), table(p, onus, per_onu), onus, 1, False)
    dba = get_dba("static")(ctx, {})
    assert isinstance(dba, StaticDba) and not dba.uses_reports
    return dba.allocate(0, reports(ctx.tconts.count)), ctx


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(TECHNOLOGIES),
    st.integers(1, 64),
    st.integers(1, 4),
    st.booleans(),
)
def test_equal_shares(tech: str, onus: int, per_onu: int, fec: bool) -> None:
    grants, ctx = static_grants(tech, onus, per_onu, fec)
    p = ctx.profile
    unit = p.grant_unit_bytes
    assert grants.dtype == np.int64 and grants.shape == (onus * per_onu,)
    assert np.all(grants % unit == 0) and np.all(grants > 0)
    per_onu_bytes = np.bincount(ctx.tconts.onu_index, weights=grants, minlength=onus).astype(int)
    expected = equal_share_bursts(p, onus, ctx.fec)
    assert per_onu_bytes.tolist() == expected
    # Equal shares: ONUs differ by at most one grant unit's worth of line, T-CONTs of one
    # ONU by at most one unit.
    by_onu = grants.reshape(onus, per_onu)
    assert np.all(by_onu.max(axis=1) - by_onu.min(axis=1) <= unit)
    # The BWmap builder accepts it and the frame is filled to within one unit per burst.
    bw = BwmapBuilder(p, ctx.fec, ctx.tconts, "static").build(
        0, grants, np.zeros(len(grants), bool)
    )
    assert bw.n_allocations == len(grants)
    assert 0 <= p.us_bytes_per_frame - bw.used_line_bytes <= onus * unit


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_ignores_reports(tech: str) -> None:
    grants, ctx = static_grants(tech, 8, 2, False)
    dba = StaticDba(ctx, {})
    for demand in (0, 10, 10**9):
        np.testing.assert_array_equal(dba.allocate(0, reports(16, demand)), grants)


def test_equal_share_bursts_are_equal_within_one_unit() -> None:
    for tech in TECHNOLOGIES:
        p = get_profile(tech)
        shares = equal_share_bursts(p, 32, p.fec("upstream", None))
        assert max(shares) - min(shares) <= p.grant_unit_bytes
