"""Every frame DBA caps a T-CONT at the ceiling of its type (olt.dba.kernel).

The case from issue 10: a type-3 T-CONT with R_A = 10 Mb/s and R_M = 20 Mb/s, greedy (its
report never empties), must get at most R_M — never R_A + R_M = 30 Mb/s — plus one grant
unit per frame of rounding, alone on the PON or beside greedy best-effort neighbours.

Tolerance: one grant unit per frame (the BWmap pads grants to units) plus one encapsulated
maximum-size frame (a token bucket may start full), over 800 frames (100 ms).
"""

from __future__ import annotations

import numpy as np
import pytest

from ftth.phy import ETH_MAX_FRAME_BYTES, encapsulated_bytes, get_profile
from olt.dba.base import DbaContext, EponDba, Reports, TcontTable
from olt.dba.registry import get_dba, list_dbas

FRAMES = 800
R_A_BPS, R_M_BPS = 10e6, 20e6


def frame_dbas() -> list[str]:
    return [name for name in list_dbas() if not issubclass(get_dba(name), EponDba)]


def tconts(tech: str, neighbours: int) -> TcontTable:
    p = get_profile(tech)
    n = 1 + neighbours
    return TcontTable(
        onu_index=np.arange(n, dtype=np.int64),
        alloc_id=(p.min_assignable_alloc_id + np.arange(n)).astype(np.int64),
        tcont_type=np.array([3] + [4] * neighbours, dtype=np.int64),
        fixed_bps=np.zeros(n),
        assured_bps=np.array([R_A_BPS] + [0.0] * neighbours),
        max_bps=np.array([R_M_BPS] + [float(p.upstream_bps) / 2] * neighbours),
        priority=np.zeros(n, dtype=np.int64),
        weight=np.ones(n),
    )


@pytest.mark.parametrize("neighbours", [0, 3])
@pytest.mark.parametrize("cycle", [1, 4])
@pytest.mark.parametrize("tech", ["gpon", "xgs-pon"])
@pytest.mark.parametrize("name", frame_dbas())
def test_type3_never_above_max_rate(name: str, tech: str, cycle: int, neighbours: int) -> None:
    p = get_profile(tech)
    table = tconts(tech, neighbours)
    ctx = DbaContext(p, p.fec("upstream", None), table, table.count, cycle, True)
    dba = get_dba(name)(ctx, {})
    n = table.count
    greedy = np.full(n, 10**9, dtype=np.int64)
    zero = np.zeros(n, dtype=np.int64)
    granted = 0
    for k in range(0, FRAMES, cycle):
        poll = np.zeros(n, dtype=bool)
        reports = Reports(greedy, zero, zero, greedy, zero, zero, poll, k)
        grants = np.atleast_2d(dba.allocate(k * p.frame_ps, reports))
        frames = np.broadcast_to(grants, (cycle, n))
        granted += int(frames[:, 0].sum())
    unit = p.grant_unit_bytes
    limit = FRAMES * (R_M_BPS * p.frame_ps / 1e12 / 8 + unit) + encapsulated_bytes(
        p, ETH_MAX_FRAME_BYTES
    )
    rate_bps = granted * 8 / (FRAMES * p.frame_ps / 1e12)
    assert granted <= limit, f"{name}: {rate_bps / 1e6:.2f} Mb/s granted, R_M is 20 Mb/s"
    # And the type-3 T-CONT is served: at least its assured rate (less one unit per frame).
    if name != "static":
        assert rate_bps >= R_A_BPS - unit * 8 / (p.frame_ps / 1e12), f"{name}: starved"
