"""Downstream QoS: strict priority between classes and the per-household tier shaper.

Issue 5: "a high class keeps its delay under overload; a household never exceeds its tier by
more than the bucket depth".
"""

from __future__ import annotations

import numpy as np
import pytest

from ftth.emulator import run_spec
from tests.ftth.emulator.helpers import make_spec

TIER_BPS = 100_000_000
DEPTH_BYTES = 50_000


def shaped_spec(onus: int = 8, frames: int = 400) -> object:
    spec = make_spec(
        technology="xgs-pon",
        onus=onus,
        frames=frames,
        up=None,
        down=("poisson", {"rate_bps": 400e6, "sizes": "trimodal"}),
    )
    spec.shaper_rate_bps = np.full(onus, TIER_BPS, dtype=np.int64)  # type: ignore[attr-defined]
    spec.shaper_depth_bytes = np.full(onus, DEPTH_BYTES, dtype=np.int64)  # type: ignore[attr-defined]
    return spec


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_household_never_exceeds_tier_by_more_than_the_bucket(engine: str) -> None:
    """Over every interval between two departures, bytes ≤ tier × T + depth (+ one frame of
    slack: tokens count whole 125 µs refills, and the last frame may finish a packet)."""
    raw = run_spec(shaped_spec(), engine)
    queue, _, size, depart = raw.downstream.packets()
    slack = TIER_BPS / 8 * 125e-6 + 1518 + 8
    for onu in range(3):
        sel = queue == onu
        order = np.argsort(depart[sel], kind="stable")
        t = depart[sel][order] / 1e12
        cum = np.concatenate(([0], np.cumsum(size[sel][order])))
        # All pairs (i < j): bytes of packets i..j-1 ... j over t[j] - t[i].
        i, j = np.triu_indices(len(t), k=1)
        excess = (cum[j + 1] - cum[i]) - TIER_BPS / 8 * (t[j] - t[i])
        assert excess.max() <= DEPTH_BYTES + slack, excess.max()
        # The shaper is really limiting: offered 400 Mb/s, long-run rate near the tier.
        rate = (cum[-1] - DEPTH_BYTES) * 8 / (t[-1] - t[0])
        assert rate == pytest.approx(TIER_BPS, rel=0.05)


def test_high_priority_class_keeps_its_delay_under_overload() -> None:
    """Two classes per ONU, the low one offered 3× the downstream capacity: the high class's
    p99 delay stays within a few frames (it is served first every frame)."""
    spec = make_spec(
        technology="gpon",
        onus=4,
        frames=400,
        up=None,
        down=("poisson", {"rate_bps": 2e9, "sizes": "trimodal"}),
        buffer_bytes=200_000,
    )
    from ftth.emulator.spec import QueueSpec
    from tests.ftth.emulator.helpers import source

    hi = []
    for i in range(4):
        q = QueueSpec(onu_index=i, name="voice", priority=0, buffer_bytes=200_000)
        q.sources.append(source("cbr", {"rate_bps": 2e6, "size_bytes": 200}, 900 + i, 2.48832e9))
        hi.append(q)
    for q in spec.downstream:
        q.priority = 1
    spec.downstream = hi + spec.downstream
    raw = run_spec(spec)
    voice = raw.downstream.delays.merged(range(4))
    internet = raw.downstream.delays.merged(range(4, 8))
    assert voice.count > 100
    assert voice.percentile_ps(99) < 3 * 125e6  # < 3 frames (375 µs)
    assert int(raw.downstream.counters["dropped_bytes"][4:].sum()) > 0  # really overloaded
    assert internet.percentile_ps(99) > 10 * voice.percentile_ps(99)
