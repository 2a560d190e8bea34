"""ftth.topology: split ratio, RTT, EqD and the tree's limits, against hand-computed values.

Times are integer picoseconds and every expected value here is exact, so comparisons are
exact (no tolerance): a rounding slip of one picosecond is a bug in the integer time base.
"""

from __future__ import annotations

import pytest

from ftth.errors import InputError
from ftth.phy import EPON_1G, GPON, XG_PON, XGS_PON
from ftth.topology import build_topology, default_teqd_ps, rtt_ps, split_ratio

US = 1_000_000  # ps per µs


@pytest.mark.parametrize(
    ("splitters", "ratio"),
    [([32], 32), ([4, 8], 32), ([2, 2, 2, 2, 2], 32), ([8, 16], 128), ([4, 64], 256), ([2], 2)],
)
def test_split_ratio_is_product(splitters: list[int], ratio: int) -> None:
    assert split_ratio(splitters) == ratio


@pytest.mark.parametrize(
    ("splitters", "where"),
    [
        ([], "tree.splitters"),  # no stage at all
        ([3], "tree.splitters[0]"),  # not a power of two
        ([4, 6], "tree.splitters[1]"),
        ([1], "tree.splitters[0]"),  # 1 is 2⁰ but no splitter
        ([0], "tree.splitters[0]"),
        ([-4], "tree.splitters[0]"),
        ([512], "tree.splitters[0]"),  # no loss figure beyond 1:256
        ([True], "tree.splitters[0]"),  # a TOML boolean is not a splitter
    ],
)
def test_split_ratio_errors_name_the_stage(splitters: list[int], where: str) -> None:
    with pytest.raises(InputError) as info:
        split_ratio(splitters)
    assert info.value.where == where


def test_rtt_of_20_km_is_200_plus_35_us() -> None:
    # 20 km × 5 µs/km × 2 = 200 µs, + 35 µs ONU response time (G.984.3 §10.3.4).
    assert rtt_ps(20.0) == 235 * US
    assert rtt_ps(0.0) == 35 * US
    assert rtt_ps(0.1) == 36 * US  # 100 m: 0.5 µs each way


def test_default_teqd_is_rtt_at_reach() -> None:
    for profile in (GPON, XG_PON, XGS_PON):
        assert profile.reach_km == 20.0
        assert default_teqd_ps(profile) == 235 * US


def test_places_distances_rtt_and_eqd() -> None:
    topology = build_topology(GPON, 8.0, {3: 2.0, 1: 0.5, 2: 12.0}, [4, 8])
    assert topology.split_ratio == 32
    assert topology.splitters == (4, 8)
    assert [p.onu_id for p in topology.places] == [1, 2, 3]  # sorted by ONU-ID
    one = topology.place(1)
    assert one.distance_km == 8.5
    assert one.one_way_ps == 42_500_000  # 8.5 km × 5 µs
    assert one.rtt_ps == 2 * 42_500_000 + 35 * US  # 120 µs
    assert one.eqd_ps == 235 * US - 120 * US
    far = topology.place(2)
    assert far.distance_km == 20.0
    assert far.eqd_ps == 0  # the ONU at full reach needs no extra delay
    # Differential distance: 20 − 8.5 km.
    assert topology.differential_km == pytest.approx(11.5, abs=1e-12)


@pytest.mark.parametrize("profile", [GPON, XG_PON, XGS_PON, EPON_1G], ids=lambda p: p.name)
def test_eqd_makes_every_onu_appear_at_the_same_distance(profile: object) -> None:
    from ftth.phy import Profile

    assert isinstance(profile, Profile)
    drops = {onu_id: 0.37 * onu_id for onu_id in range(1, 33)}  # 0.37 .. 11.84 km
    topology = build_topology(profile, 3.0, drops, [32])
    totals = {p.rtt_ps + p.eqd_ps for p in topology.places}
    assert totals == {topology.teqd_ps}
    assert all(p.equalised_rtt_ps == topology.teqd_ps for p in topology.places)
    assert all(p.eqd_ps >= 0 for p in topology.places)
    # Farther ONUs get less EqD, by exactly the extra round trip.
    ordered = sorted(topology.places, key=lambda p: p.distance_km)
    assert [p.eqd_ps for p in ordered] == sorted((p.eqd_ps for p in ordered), reverse=True)


def test_adding_an_onu_does_not_change_teqd_or_others_eqd() -> None:
    before = build_topology(XGS_PON, 5.0, {1: 1.0, 2: 2.0}, [32])
    after = build_topology(XGS_PON, 5.0, {1: 1.0, 2: 2.0, 3: 14.0}, [32])
    assert after.teqd_ps == before.teqd_ps
    assert after.place(1) == before.place(1)
    assert after.place(2) == before.place(2)


def test_explicit_teqd() -> None:
    topology = build_topology(GPON, 0.0, {1: 10.0}, [16], teqd_ps=300 * US)
    assert topology.teqd_ps == 300 * US
    assert topology.place(1).eqd_ps == 300 * US - 135 * US


def test_onu_beyond_teqd_is_refused() -> None:
    # 21 km: RTT 245 µs > Teqd 235 µs, EqD would be negative.
    with pytest.raises(InputError) as info:
        build_topology(GPON, 20.0, {1: 0.0, 7: 1.0}, [32])
    assert info.value.where == "onus[7].drop_km"
    with pytest.raises(InputError):
        build_topology(GPON, 0.0, {1: 10.0}, [32], teqd_ps=134 * US)


def test_differential_distance_limit() -> None:
    # XGS-PON allows 40 km of differential distance, but an explicit 10 km limit is enforced.
    build_topology(XGS_PON, 0.0, {1: 0.5, 2: 10.5}, [32], max_differential_km=10.0)
    with pytest.raises(InputError) as info:
        build_topology(XGS_PON, 0.0, {1: 0.5, 2: 10.6}, [32], max_differential_km=10.0)
    assert info.value.where == "tree.max_differential_km"


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"splitters": [2, 2], "drops": {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}}, "onus"),
        ({"splitters": [256]}, "tree.splitters"),  # GPON's maximum is 1:128
        ({"drops": {}}, "onus"),
        ({"feeder_km": -1.0}, "tree.feeder_km"),
        ({"drops": {1: -0.1}}, "onus[1].drop_km"),
        ({"drops": {254: 1.0}}, "onus[254]"),  # GPON ONU-ID 0..253
    ],
)
def test_tree_errors(kwargs: dict[str, object], where: str) -> None:
    args: dict[str, object] = {"feeder_km": 5.0, "drops": {1: 1.0}, "splitters": [32]}
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        build_topology(
            GPON,
            args["feeder_km"],  # type: ignore[arg-type]
            args["drops"],  # type: ignore[arg-type]
            args["splitters"],  # type: ignore[arg-type]
        )
    assert info.value.where == where
