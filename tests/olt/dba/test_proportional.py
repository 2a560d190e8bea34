"""``proportional`` DBA: grant the reported demand, scale down proportionally when full.

Tolerances (all from the grant unit, the DBA's only rounding):

* a demand that fits is granted rounded up to the next grant unit (< one unit extra);
* when demand exceeds the frame each T-CONT gets its (unit-rounded) demand × capacity / Σ
  demand, rounded *down* to a unit: 0 ≤ ideal − grant < one unit;
* the sum never exceeds :meth:`DbaContext.payload_capacity` (exact), so the BWmap builder
  always accepts the grants (exact: no DbaError);
* R_M per frame is respected within one grant unit plus one byte (floor of the cap, then
  ceil to the unit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.errors import InputError
from ftth.phy import get_profile
from olt.bwmap import BwmapBuilder
from olt.dba.base import DbaContext, Reports, TcontTable
from olt.dba.proportional import ProportionalDba
from olt.dba.registry import get_dba
from tests.olt.test_bwmap import table

TECHNOLOGIES = ("gpon", "xg-pon", "xgs-pon")


def make_ctx(
    tech: str, onus: int, per_onu: int = 1, fec: bool | None = None, cycle: int = 1,
    max_bps: float | None = None,
) -> DbaContext:  # fmt: skip
    p = get_profile(tech)
    t = table(p, onus, per_onu)
    if max_bps is not None:
        t = TcontTable(**{**t.__dict__, "max_bps": np.full(t.count, max_bps)})
    return DbaContext(p, p.fec("upstream", fec), t, onus, cycle, dbru_in_every_allocation=True)


def reports(demand: Any, poll: Any = None) -> Reports:
    d = np.asarray(demand, dtype=np.int64)
    z = np.zeros(len(d), dtype=np.int64)
    mask = np.zeros(len(d), dtype=bool) if poll is None else np.asarray(poll, dtype=bool)
    return Reports(d, z, z, d, z, z, mask, 0)


def ceil_unit(x: np.ndarray, unit: int) -> np.ndarray:
    return -(-np.asarray(x, dtype=np.int64) // unit) * unit


def dbru_of(ctx: Any) -> int:
    return ctx.profile.dbru_bytes if ctx.dbru_in_every_allocation else 0


def fill(x: Any, ctx: Any) -> np.ndarray:
    """Smallest grant ≥ x whose payload + DBRu fills whole grant units (0 stays 0)."""
    x = np.asarray(x, dtype=np.int64)
    dbru = dbru_of(ctx)
    return np.where(x > 0, ceil_unit(x + dbru, ctx.grant_unit_bytes) - dbru, 0)


def useful_of(ctx: Any) -> int:
    """Smallest payload room that carries anything (a minimum GEM/XGEM frame)."""
    p = ctx.profile
    return max(p.encap_min_frame_bytes, p.encap_header_bytes + p.encap_align_bytes)


def exact_fill(g: np.ndarray, ctx: Any) -> bool:
    return bool(np.all((g == 0) | ((g + dbru_of(ctx)) % ctx.grant_unit_bytes == 0)))


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_grants_demand_when_it_fits(tech: str) -> None:
    ctx = make_ctx(tech, 4)
    unit = ctx.grant_unit_bytes
    demand = np.array([100, 0, 1518, 7])
    g = ProportionalDba(ctx, {}).allocate(0, reports(demand))
    assert g.dtype == np.int64
    # A demand below one minimum frame is raised to it (a smaller grant carries nothing).
    np.testing.assert_array_equal(
        g, fill(np.where(demand > 0, np.maximum(demand, useful_of(ctx)), 0), ctx)
    )
    assert np.all(g - np.maximum(demand, useful_of(ctx)) < unit) and g[1] == 0


@pytest.mark.parametrize("tech", TECHNOLOGIES)
def test_scales_down_proportionally(tech: str) -> None:
    ctx = make_ctx(tech, 4)
    unit = ctx.grant_unit_bytes
    frame = ctx.frame_line_bytes
    demand = np.array([frame, frame // 2, 0, frame // 4 + 3])
    g = ProportionalDba(ctx, {}).allocate(0, reports(demand))
    cap = ctx.payload_capacity(g > 0)
    assert int(g.sum()) <= cap
    assert int(g.sum()) > cap - 3 * unit  # the frame is used (3 allocations, 1 unit each)
    d = fill(demand, ctx)
    ideal = d * cap / d.sum()
    assert exact_fill(g, ctx)
    assert np.all((ideal - g >= 0) & (ideal - g < unit)), (ideal, g)
    assert g[2] == 0


@settings(max_examples=150, deadline=None)
@given(
    tech=st.sampled_from(TECHNOLOGIES),
    onus=st.integers(1, 24),
    per_onu=st.integers(1, 3),
    fec=st.sampled_from([None, True, False]),
    cycle=st.integers(1, 3),
    min_grant=st.sampled_from([0, 16, 500, 4000]),
    max_bps=st.one_of(st.none(), st.sampled_from([1e6, 20e6, 100e6, 700e6, 3e9, 12e9])),
    data=st.data(),
)
def test_never_exceeds_capacity_and_builds(
    tech: str, onus: int, per_onu: int, fec: bool | None, cycle: int, min_grant: int,
    max_bps: float | None, data: st.DataObject,
) -> None:  # fmt: skip
    ctx = make_ctx(tech, onus, per_onu, fec, cycle, max_bps)
    n, unit = ctx.tconts.count, ctx.grant_unit_bytes
    one_demand = st.one_of(st.just(0), st.integers(1, 3 * ctx.frame_line_bytes))
    demand = np.array(data.draw(st.lists(one_demand, min_size=n, max_size=n)))
    poll = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    dba = ProportionalDba(ctx, {"min_grant_bytes": min_grant})
    frames = dba.allocate(0, reports(demand, poll))
    # One row per frame of the cycle, the same grant in each (a single row for 1-frame cycles).
    assert frames.shape == ((n,) if cycle == 1 else (cycle, n)) and frames.dtype == np.int64
    g = np.atleast_2d(frames)[0]
    assert np.all(np.atleast_2d(frames) == g)
    assert np.all(g >= 0) and exact_fill(g, ctx)
    assert np.all(g[demand == 0] == 0), "grant without demand"
    assert int(g.sum()) <= ctx.payload_capacity(poll | (g > 0))
    # R_M: a grant never exceeds the token bucket's depth (one cycle of R_M or one
    # encapsulated maximum frame, whichever is larger) by more than one grant unit.
    depth = dba.depth_mb // 8000
    assert np.all(g * cycle <= np.maximum(depth, useful_of(ctx)) + cycle * unit)
    # Never more than the demand spread over the cycle, rounded up (or the min grant).
    per_frame_demand = np.maximum(
        -(-demand // cycle), np.where(demand > 0, -(-min_grant // cycle), 0)
    )
    assert np.all(g <= fill(np.maximum(per_frame_demand, useful_of(ctx)), ctx))
    # The builder accepts it with a DBRu in every allocation, in every frame of the cycle.
    builder = BwmapBuilder(ctx.profile, ctx.fec, ctx.tconts, dba.name)
    rows = builder.check_grants(0, g, cycle)
    for k, row in enumerate(rows):
        bw = builder.build(k, row, poll | (row > 0))
        assert bw.used_line_bytes <= ctx.frame_line_bytes


def granted_over(dba: ProportionalDba, frames: int, demand: list[int]) -> np.ndarray:
    total = np.zeros(len(demand), dtype=np.int64)
    for k in range(frames):
        total += dba.allocate(k, reports(demand))
    return total


def test_respects_max_bps() -> None:
    """A backlogged T-CONT gets R_M in the long run: over K frames at most R_M·K plus the
    bucket depth, at least R_M·K minus one grant (the bucket empties)."""
    ctx = make_ctx("xg-pon", 3, max_bps=50e6)  # 781.25 bytes per frame
    dba = ProportionalDba(ctx, {})
    frames = 400
    total = granted_over(dba, frames, [10**6, 100, 10**6])
    rm = 781.25 * frames
    depth = int(dba.depth_mb[0] // 8000)
    assert rm - 800 <= total[0] <= rm + depth
    assert total[1] == 100 * frames  # a small demand well under R_M is granted every frame


def test_slow_tcont_gets_useful_grants_at_its_rate() -> None:
    """100 kb/s is 1.56 bytes per frame, below a minimum XGEM frame: the T-CONT waits for
    credit and then gets a grant that carries something, at its rate in the long run."""
    ctx = make_ctx("xgs-pon", 1, max_bps=1e5)
    dba = ProportionalDba(ctx, {})
    grants = np.array([dba.allocate(k, reports([1208]))[0] for k in range(2000)])
    assert np.all((grants == 0) | (grants >= useful_of(ctx)))
    rate_bytes = 1e5 * 125e-6 / 8 * 2000
    depth = int(dba.depth_mb[0] // 8000)
    assert rate_bytes - 2 * 16 <= grants.sum() <= rate_bytes + depth


def test_min_grant_does_not_override_max_bps() -> None:
    ctx = make_ctx("xg-pon", 2, max_bps=1e6)  # 15.625 bytes per frame
    dba = ProportionalDba(ctx, {"min_grant_bytes": 4000})
    frames = 400
    total = granted_over(dba, frames, [10**6, 10])
    depth = int(dba.depth_mb[0] // 8000)
    assert np.all(total <= 15.625 * frames + depth), total


def test_min_grant_bytes() -> None:
    ctx = make_ctx("xgs-pon", 3)
    g = ProportionalDba(ctx, {"min_grant_bytes": 2000}).allocate(0, reports([10, 0, 5000]))
    assert g.tolist() == [2012, 0, 5004]  # payload + 4-byte DBRu fill 16-byte blocks


def test_multi_frame_cycle_splits_demand() -> None:
    ctx = make_ctx("xg-pon", 2, cycle=2)
    g = ProportionalDba(ctx, {}).allocate(0, reports([1000, 1001]))
    assert g.tolist() == [[500, 504]] * 2  # ceil(demand / 2) in 4-byte words, each frame


@pytest.mark.parametrize("key", ["bogus", "min_grant", "max_bps"])
def test_rejects_unknown_params(key: str) -> None:
    ctx = make_ctx("gpon", 2)
    with pytest.raises(InputError) as exc:
        get_dba("proportional")(ctx, {key: 1})
    assert exc.value.where == f"dba.params.{key}"
    assert "min_grant_bytes" in exc.value.why  # lists what is valid


def test_rejects_negative_min_grant() -> None:
    with pytest.raises(InputError) as exc:
        ProportionalDba(make_ctx("gpon", 2), {"min_grant_bytes": -1})
    assert exc.value.where == "dba.params.min_grant_bytes"


@pytest.mark.parametrize("value", ["lots", None])
def test_rejects_non_integer_min_grant(value: Any) -> None:
    with pytest.raises(InputError) as exc:
        ProportionalDba(make_ctx("gpon", 2), {"min_grant_bytes": value})
    assert exc.value.where == "dba.params.min_grant_bytes"
