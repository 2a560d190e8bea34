"""ftth.optics: path loss and verdicts against hand-computed budgets.

Losses are sums of a few decimal figures; ``pytest.approx(abs=1e-9)`` only absorbs float
representation noise (the module rounds to 1e-6 dB), so a wrong component (a typical figure
where the maximum was meant, a wrong wavelength) of ≥ 0.05 dB always fails.
"""

from __future__ import annotations

import pytest

from ftth.errors import InputError
from ftth.optics import (
    OVER_BUDGET,
    OVERLOAD,
    PASS,
    budget_report,
    judge,
    optical_window_db,
    path_loss_db,
    splitter_loss_db,
)
from ftth.phy import GPON, XG_PON, XGS_PON
from ftth.topology import build_topology

NOISE_DB = 1e-9


def test_gpon_b_plus_128_way_20_km_is_over_budget() -> None:
    # Upstream at 1310 nm, maximum component losses, 2 connectors, 4 splices:
    #   fibre 20 × 0.35 = 7.0, splitter 1:128 = 24.5, connectors 2 × 0.5 = 1.0,
    #   splices 4 × 0.1 = 0.4  →  32.9 dB;  32.9 + 3 dB margin = 35.9 > 28 (B+ maximum).
    # Downstream at 1490 nm: 20 × 0.25 = 5.0 + 24.5 + 1.0 + 0.4 = 30.9 dB.
    topology = build_topology(GPON, 20.0, {1: 0.0}, [128])
    report = budget_report(topology, connectors=2, splices=4)
    onu = report.onus[0]
    assert onu.loss_up_db == pytest.approx(32.9, abs=NOISE_DB)
    assert onu.loss_down_db == pytest.approx(30.9, abs=NOISE_DB)
    assert onu.margin_db == pytest.approx(28.0 - 32.9, abs=NOISE_DB)
    assert onu.verdict == OVER_BUDGET
    assert not report.passed
    assert report.optical_class == "B+"
    # Even with typical losses and no margin it cannot work: 7.0 + 23.5 + 0.6 + 0.2 = 31.3 > 28.
    typical = budget_report(topology, connectors=2, splices=4, worst_case=False, margin_db=0.0)
    assert typical.onus[0].loss_up_db == pytest.approx(31.3, abs=NOISE_DB)
    assert typical.onus[0].verdict == OVER_BUDGET


def test_xgs_pon_n1_32_way_10_km_passes() -> None:
    # Upstream at 1270 nm: fibre 10 × 0.40 = 4.0, splitter 1:32 = 17.2, connectors 2 × 0.5 = 1.0,
    #   splices 4 × 0.1 = 0.4  →  22.6 dB; 22.6 + 3 = 25.6 ≤ 29 (N1 maximum).
    # Downstream at 1577 nm: 10 × 0.22 = 2.2 + 17.2 + 1.0 + 0.4 = 20.8 dB ≥ 14 (N1 minimum).
    topology = build_topology(XGS_PON, 10.0, {1: 0.0}, [32])
    report = budget_report(topology, connectors=2, splices=4)
    onu = report.onus[0]
    assert onu.loss_up_db == pytest.approx(22.6, abs=NOISE_DB)
    assert onu.loss_down_db == pytest.approx(20.8, abs=NOISE_DB)
    assert onu.margin_db == pytest.approx(29.0 - 22.6, abs=NOISE_DB)
    assert onu.verdict == PASS
    assert report.passed
    assert report.optical_class == "N1"


def test_onu_too_close_overloads_receiver() -> None:
    # GPON B+ (min 13 dB), one 1:8 splitter, 0.5 km, 1 connector, maximum losses:
    #   downstream 0.5 × 0.25 = 0.125 + 10.8 + 0.5 = 11.425 dB < 13  →  overload.
    #   upstream   0.5 × 0.35 = 0.175 + 10.8 + 0.5 = 11.475 dB.
    topology = build_topology(GPON, 0.5, {1: 0.0}, [8])
    onu = budget_report(topology, connectors=1, splices=0).onus[0]
    assert onu.loss_down_db == pytest.approx(11.425, abs=NOISE_DB)
    assert onu.loss_up_db == pytest.approx(11.475, abs=NOISE_DB)
    assert onu.verdict == OVERLOAD


def test_cascaded_splitters_lose_more_than_one_stage() -> None:
    # 1:4 (7.5) + 1:8 (10.8) = 18.3 dB vs 1:32 alone 17.2 dB (maximum figures).
    assert splitter_loss_db([4, 8]) == pytest.approx(18.3, abs=NOISE_DB)
    assert splitter_loss_db([32]) == pytest.approx(17.2, abs=NOISE_DB)
    assert splitter_loss_db([4, 8], worst_case=False) == pytest.approx(17.3, abs=NOISE_DB)


def test_upstream_loses_more_than_downstream() -> None:
    # 1310 nm (0.35 dB/km) vs 1490 nm (0.25), and 1270 nm (0.40) vs 1577 nm (0.22).
    for profile in (GPON, XG_PON):
        up = path_loss_db(profile, 10.0, "upstream", [32], 0, 0)
        down = path_loss_db(profile, 10.0, "downstream", [32], 0, 0)
        expected = 10.0 * (profile.us_attenuation_db_per_km - profile.ds_attenuation_db_per_km)
        assert up - down == pytest.approx(expected, abs=NOISE_DB)
        assert up > down


@pytest.mark.parametrize(
    ("down", "up", "verdict"),
    [
        (13.0, 25.0, PASS),  # both limits met exactly: 13 ≥ 13 and 25 + 3 ≤ 28
        (12.99, 20.0, OVERLOAD),
        (20.0, 25.01, OVER_BUDGET),
        (10.0, 30.0, OVER_BUDGET),  # both wrong: starving wins over overload
    ],
)
def test_judge_edges(down: float, up: float, verdict: str) -> None:
    assert judge(down, up, 13.0, 28.0, 3.0) == verdict


def test_loss_exactly_at_limit_passes_despite_float_noise() -> None:
    # 20 × 0.35 = 7.000000000000001 in binary floating point; with a 1:64 splitter (21.0)
    # the upstream loss is exactly 28.0 − 0 margin and must pass.
    topology = build_topology(GPON, 20.0, {1: 0.0}, [64])
    onu = budget_report(topology, connectors=0, splices=0, margin_db=0.0).onus[0]
    assert onu.loss_up_db == 28.0
    assert onu.verdict == PASS


def test_report_rows_and_tightest() -> None:
    topology = build_topology(XGS_PON, 5.0, {1: 0.2, 2: 9.0, 3: 4.0}, [4, 8])
    report = budget_report(topology, connectors=2, splices=2, optical_class="N2")
    assert [o.onu_id for o in report.onus] == [1, 2, 3]
    assert (report.class_min_db, report.class_max_db) == (16.0, 31.0)
    assert report.tightest.onu_id == 2  # the farthest ONU has the least headroom
    data = report.as_dict()
    assert data["pass"] is True
    assert data["onus"][1]["rtt_us"] == pytest.approx(2 * 14.0 * 5 + 35, abs=1e-9)
    assert data["onus"][1]["eqd_us"] == pytest.approx(235 - 175, abs=1e-9)


def test_unknown_class_and_bad_counts() -> None:
    with pytest.raises(InputError) as info:
        optical_window_db(GPON, "N1")
    assert info.value.where == "tree.optical_class"
    assert "B+" in info.value.why
    topology = build_topology(GPON, 5.0, {1: 1.0}, [32])
    for kwargs, where in (
        ({"connectors": -1, "splices": 0}, "tree.connectors"),
        ({"connectors": 0, "splices": -1}, "tree.splices"),
        ({"connectors": 0, "splices": 0, "margin_db": -1.0}, "tree.margin_db"),
    ):
        with pytest.raises(InputError) as info:
            budget_report(topology, **kwargs)
        assert info.value.where == where
