"""``ftth.plan``: busy-hour verdicts against arithmetic (issue 6, "Done when").

Every expected number is derived here from ``ftth.phy`` / ``ftth.optics`` and the seed's own
traffic tables, never pasted from a run.  Emulations are 20 ms of simulated time (each well
under a second); the searches take a handful of such steps.

Tolerances:
* analytic offered load: relative 1e-9 (a sum of exact source means);
* the achieved rate of a probe: ≥ 95 % of the tier less one 1518-byte frame over the
  window (the resolution of a CBR probe; ``ftth.plan`` docstring);
* ``--max-households``: within 5 % of the analytic bound (issue 6).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import ftth.api
from ftth.errors import InputError
from ftth.optics import path_loss_db
from ftth.phy import get_profile, saturation_goodput_bps
from ftth.plan import (
    PROBE_FRAME_BYTES,
    max_households,
    max_tier,
    plan,
    probe_counts,
)
from ftth.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"
SHORT = "duration_s=0.02"
#: XGS-PON 1:32 (1:4 + 1:8), 32 households, voice type-2 + internet type-4, two DS classes.
XGS_32 = SEEDS / "gigabit-2020.toml"
#: The seed's voice T-CONT is assured 100 kb/s: 1.6 bytes a frame, less than one XGEM frame,
#: which the DBAs of this tree turn into grants too small to carry anything (voice is then
#: never delivered and the plan rightly FAILs on upstream delay).  The tests that expect a
#: PASS assure voice 2 Mb/s (44-byte grants) so they judge the plan, not that DBA rounding.
VOICE = "tconts.0.assured_bps=2e6"


def seed(name: str, *overrides: str) -> Scenario:
    return load_scenario(SEEDS / f"{name}.toml", [SHORT, *overrides])


def table_mean(table: dict[str, Any] | None) -> float:
    """Mean rate a traffic table declares (the seeds use mean_bps / rate_bps)."""
    if table is None:
        return 0.0
    return float(table.get("mean_bps") or table.get("rate_bps") or 0.0)


def capacity(sc: Scenario, direction: str, onus: int | None = None) -> float:
    return saturation_goodput_bps(
        sc.profile,
        direction,  # type: ignore[arg-type]
        onus or sc.n_onus,
        fec=sc.fec.upstream if direction == "upstream" else sc.fec.downstream,
    )


def fails_with(reasons: list[str], prefix: str) -> bool:
    return any(r.startswith(prefix) for r in reasons)


def no_emulation(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the emulator must not run")


# ------------------------------------------------------------------ the four analytic cases
def test_xgs_pon_1_32_tier_100m_everyone_at_once_passes() -> None:
    sc = load_scenario(XGS_32, [SHORT, VOICE])
    assert sc.technology == "xgs-pon" and sc.tree.split_ratio == 32 and sc.n_onus == 32
    result = plan(sc, tier="100M/100M", concurrency=1.0)
    voice_up = table_mean(sc.tconts[0].traffic)  # type: ignore[index]
    video_down = table_mean(sc.downstream[0].traffic)  # type: ignore[index]
    # Every household probed: its internet queue carries the probe, its other queue its mean.
    expected = {"upstream": 32 * (100e6 + voice_up), "downstream": 32 * (100e6 + video_down)}
    for d in (result.upstream, result.downstream):
        assert d.offered_bps == pytest.approx(expected[d.direction], rel=1e-9)
        assert d.capacity_bps == pytest.approx(capacity(sc, d.direction), rel=1e-12)
        assert d.offered_bps < d.capacity_bps
        assert d.probed == 32 and len(d.households) == 32
        window_s = 0.02 * 0.9
        floor = 0.95 * 100e6 - PROBE_FRAME_BYTES * 8 / window_s
        assert min(h.achieved_bps for h in d.households) >= floor
        assert d.achieved_bps["median"] <= 100e6 + PROBE_FRAME_BYTES * 8 / window_s
    assert result.emulated and result.passed, result.reasons
    verdict = result.to_dict()["verdict"]
    assert (verdict["status"], verdict["pass"], verdict["reasons"]) == ("pass", True, [])


def test_xgs_pon_1_32_tier_300m_everyone_at_once_fails_on_both_capacities() -> None:
    sc = load_scenario(XGS_32, [SHORT, VOICE])
    result = plan(sc, tier="300M/300M", concurrency=1.0)
    for direction in ("upstream", "downstream"):
        # 32 × 300 Mb/s = 9.6 Gb/s: above both XGS-PON ceilings (≈ 8.15 up, ≈ 8.58 down).
        assert capacity(sc, direction) < 32 * 300e6
        assert fails_with(result.reasons, f"{direction} capacity:"), result.reasons
        d = result.direction(direction)
        assert not d.analytic_pass and not d.passed
        # The emulation confirms it: the probes share the capacity and miss the tier.
        assert d.achieved_bps["median"] < 0.95 * 300e6
        assert d.throughput_bps is not None and d.throughput_bps <= capacity(sc, direction)
    assert not result.passed


def test_gpon_b_plus_1_128_at_20_km_fails_the_optical_budget_before_emulating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ftth.api, "run_spec", no_emulation)
    sc = seed(
        "city-2015-100mbps",
        "tree.splitters=[4, 32]",
        "tree.feeder_km=19",
        "onus.count=128",
        "onus.drop_km=[0.5, 1.0]",
    )
    assert sc.technology == "gpon" and sc.tree.optical_class == "B+"
    result = plan(sc)
    profile = get_profile("gpon")
    # The farthest ONU (20 km) at the 1310 nm upstream loss, maximum component losses.
    loss = path_loss_db(profile, 20.0, "upstream", [4, 32], 4, 4)
    low, high = profile.optical_classes["B+"]
    assert loss + 3.0 > high
    first = result.reasons[0]
    assert first.startswith("optical budget: ONU 128 path loss"), first
    assert f"{loss:.2f} dB + margin 3 dB > class B+ max {high:g} dB" in first
    assert not result.emulated and result.result is None
    assert not result.passed


def test_gpon_1_64_tier_1g_half_the_households_fails() -> None:
    # GPON 1:64 needs class C+ to pass its optical budget; the question is the capacity.
    sc = seed("urban-2020-50mbps")
    assert sc.technology == "gpon" and sc.tree.split_ratio == 64 and sc.n_onus == 64
    result = plan(sc, tier="1G/1G", concurrency=0.5)
    assert result.budget.passed
    assert len(result.probed) == 32
    # 32 probes × 1 Gb/s against ≈ 1.16 Gb/s up and ≈ 2.43 Gb/s down.
    for direction in ("upstream", "downstream"):
        assert capacity(sc, direction) < 32 * 1e9
        assert fails_with(result.reasons, f"{direction} capacity:"), result.reasons
    assert not result.passed
    # The tier is provisioned: the internet T-CONT's R_M (50 Mb/s in the seed) was raised.
    assert any("max_bps raised" in note for note in result.notes)


# ------------------------------------------------------------------ search
def test_max_households_agrees_with_the_analytic_bound() -> None:
    """XGS-PON, tier 1G/1G, concurrency 0.1: the bound from ftth.phy within 5 %."""
    sc = load_scenario(XGS_32, [SHORT, VOICE, "tree.splitters=[4, 32]", 'tree.optical_class="E1"'])
    tiers = {"upstream": 1e9, "downstream": 1e9}
    means = {
        "upstream": sum(table_mean(tc.traffic) for tc in sc.tconts or []),
        "downstream": sum(table_mean(c.traffic) for c in sc.downstream or []),
    }
    bound = math.inf
    for direction in ("upstream", "downstream"):
        onus = sc.n_onus
        for _ in range(3):  # the ceiling depends (slightly) on the ONU count
            h = capacity(sc, direction, onus) / (0.1 * tiers[direction] + means[direction])
            onus = math.ceil(h)
        bound = min(bound, h)
    steps: list[str] = []
    found = max_households(
        sc, tier="1G/1G", concurrency=0.1, on_step=lambda s: steps.append(s.label)
    )
    assert found.best is not None
    assert abs(found.best - bound) / bound <= 0.05, (found.best, bound)
    assert found.analytic_bound == pytest.approx(bound, rel=0.02)
    assert found.start == math.floor(found.analytic_bound)
    assert steps and steps[0].startswith(f"{found.start} households")  # started at the bound
    assert len(found.steps) <= 8  # affordable
    assert found.best_plan is not None and found.best_plan.passed
    assert any(s.value == found.best + 1 and not s.passed for s in found.steps)


def test_max_tier_agrees_with_the_analytic_tier_bound() -> None:
    sc = load_scenario(XGS_32, [SHORT, VOICE])
    found = max_tier(sc, tier="1G/1G", concurrency=0.2)
    # 6 probes (0.2 × 32 = 6.4): t ≤ (capacity − everyone else's mean) / 6, tighter direction.
    probes = 6
    bound = math.inf
    for direction, classes in (("upstream", sc.tconts), ("downstream", sc.downstream)):
        means = [table_mean(c.traffic) for c in classes or []]
        # Probed households keep their first queue's mean; the others keep all of them.
        background = probes * means[0] + (32 - probes) * sum(means)
        bound = min(bound, (capacity(sc, direction) - background) / probes / 1e6)
    assert found.best is not None
    assert bound - 1 <= found.best <= bound, (found.best, bound)
    assert found.best_label == f"{found.best}M/{found.best}M"


# ------------------------------------------------------------------ households per ONU
@pytest.mark.parametrize(
    ("onus", "per_onu", "concurrency", "total"),
    [(32, 1, 0.1, 3), (16, 24, 0.2, 77), (10, 1, 0.05, 1), (10, 1, 0.04, 1), (8, 1, 0.0, 0),
     (8, 1, 1.0, 8), (3, 5, 0.5, 8)],
)  # fmt: skip
def test_probe_counts_spread_evenly(
    onus: int, per_onu: int, concurrency: float, total: int
) -> None:
    counts = probe_counts(onus, per_onu, concurrency)
    assert sum(counts) == total and len(counts) == onus
    assert max(counts) - min(counts) <= 1 and max(counts) <= per_onu


def test_fttb_probe_rate_is_the_tier_times_the_probed_households_of_the_onu() -> None:
    sc = seed("fttb-2020")
    per = sc.households.per_onu
    result = plan(sc, concurrency=0.2, emulate=False)
    counts = probe_counts(sc.n_onus, per, 0.2)
    assert len(result.probed) == sum(counts) == 77
    spec = result.spec
    assert spec is not None
    tier_down = sc.households.tier_down_bps or 0.0
    video, internet = (table_mean(c.traffic) for c in sc.downstream or [])
    for q in spec.downstream:
        if not q.probe:
            continue
        c = counts[q.onu_index]
        probe, *rest = (make() for make in q.sources)
        assert probe.mean_rate_bps == pytest.approx(c * tier_down)
        # The building's other households keep their share of the internet class.
        assert sum(s.mean_rate_bps for s in rest) == pytest.approx(internet * (per - c) / per)
    expected = sum(video + c * tier_down + internet * (per - c) / per for c in counts)
    assert result.downstream.offered_bps == pytest.approx(expected, rel=1e-9)


def test_fttb_emulated_household_rates_are_per_household() -> None:
    result = plan(seed("fttb-2020"), concurrency=0.2)
    d = result.downstream
    assert len(d.households) == 77
    window_s = 0.018
    for h in d.households:
        assert h.share in (4, 5)
        # 50 Mb/s each, measured as the building's probe share divided by its households.
        assert h.achieved_bps >= 0.95 * 50e6 - PROBE_FRAME_BYTES * 8 / window_s / h.share
        # The OLT shapes each building to 24 × the tier, so a household's achieved rate
        # includes its share of the building's other classes (video).
        assert h.own_other_bps is not None and h.own_other_bps >= 0
        assert h.achieved_bps - h.own_other_bps <= 50e6 * 1.05


# ------------------------------------------------------------------ bottleneck reasons
def test_dba_overhead_named_when_grants_do_not_reach_the_tier() -> None:
    # The static DBA gives every T-CONT an equal ≈ 127 Mb/s slice: far below a 1G probe
    # although 3 probes × 1 Gb/s fit the capacity analytically.
    result = plan(load_scenario(XGS_32, [SHORT, VOICE, 'dba.name="static"']), concurrency=0.1)
    assert result.upstream.analytic_pass
    assert fails_with(result.upstream.reasons, "DBA overhead:"), result.reasons
    slice_bps = capacity(result.scenario, "upstream") / (2 * 32)
    assert all(h.granted_bps is not None for h in result.upstream.households)
    assert all((h.granted_bps or 0) < 1.1 * slice_bps for h in result.upstream.households)
    assert result.downstream.passed


def test_buffer_named_for_drops_with_capacity_to_spare() -> None:
    result = plan(
        load_scenario(XGS_32, [SHORT, VOICE, "downstream.1.buffer_bytes=3000"]), concurrency=0.1
    )
    assert result.downstream.analytic_pass and result.downstream.dropped_bytes > 0
    assert fails_with(result.downstream.reasons, "buffer:"), result.reasons


def test_downstream_shaper_named_only_when_it_shapes() -> None:
    # A 30M tier under households whose busy-hour mean is 50 Mb/s down (20 video + 30 web):
    # the OLT's token bucket at the tier holds their traffic back and small buffers overflow.
    # Without the shaper the same design passes: the PON itself has capacity to spare.
    base = ["olt.downstream_buffer_bytes=20000"]
    shaped = plan(seed("urban-2020-100mbps", *base), tier="30M/30M")
    assert shaped.downstream.analytic_pass
    assert fails_with(shaped.downstream.reasons, "downstream shaper:"), shaped.reasons
    free = plan(seed("urban-2020-100mbps", *base, "olt.shaping=false"), tier="30M/30M")
    assert not any("shaper" in r for r in free.reasons), free.reasons
    assert free.downstream.passed
    # Shaped, a household's other classes count in its achieved rate; unshaped they do not.
    assert all(h.own_other_bps is not None for h in shaped.downstream.households)
    assert all(h.own_other_bps is None for h in free.downstream.households)


def test_delay_budget_names_the_delay_sensitive_class() -> None:
    loose = plan(load_scenario(XGS_32, [SHORT, VOICE]), concurrency=0.1)
    assert loose.passed
    p99_us = (loose.upstream.delay_us or {})["p99"]
    assert loose.upstream.delay_classes == ["voice"]
    tight = plan(
        load_scenario(XGS_32, [SHORT, VOICE]), concurrency=0.1, delay_budget_ms=p99_us / 2000
    )
    assert fails_with(tight.upstream.reasons, "upstream delay: voice p99"), tight.reasons
    assert not any(h.delay_ok for h in tight.upstream.households)


def test_undelivered_delay_sensitive_packets_count_as_late() -> None:
    # 2 Mb/s of voice on a type-2 T-CONT assured (and capped) at 100 kb/s: the queue only
    # grows, so most voice packets of the window are never delivered.  The histogram sees
    # only the delivered ones; the plan must still call the class late.
    result = plan(load_scenario(XGS_32, [SHORT, "tconts.0.traffic.rate_bps=2e6"]), concurrency=0.1)
    assert fails_with(
        result.upstream.reasons, "upstream delay: voice packets older than 10 ms never delivered"
    ), result.reasons
    assert all(h.delay_p99_us == math.inf for h in result.upstream.households)
    # One households table: the probed households' rows carry the plan's columns; an
    # infinite p99 (packets never delivered) is null in JSON.
    rows = result.to_dict()["households"]
    probed = [r for r in rows if r["probed_up"]]
    assert len(probed) == len(result.upstream.households)
    assert all(r["delay_p99_up_us"] is None and not r["pass_up"] for r in probed)


# ------------------------------------------------------------------ contract and inputs
def test_json_follows_the_results_contract_with_plan_and_verdict() -> None:
    result = plan(load_scenario(XGS_32, [SHORT, VOICE]), concurrency=0.1)
    data = result.to_dict()
    for key in ("scenario", "seed", "duration_s", "engine", "upstream", "downstream",
                "tconts", "households", "fairness", "conservation", "warnings"):  # fmt: skip
        assert key in data, key
    assert set(data["verdict"]) == {"status", "pass", "reasons", "rules"}
    assert data["verdict"]["status"] == ("pass" if result.passed else "fail")
    assert [r["name"] for r in data["verdict"]["rules"]][-1] == "plan"
    plan_data = data["plan"]
    assert plan_data["tier"] == "1G/1G" and plan_data["concurrency"] == 0.1
    assert len(plan_data["probed_households"]) == 3
    assert plan_data["upstream"]["offered_bps"] == pytest.approx(result.upstream.offered_bps)
    assert plan_data["run_verdict"] is not None
    assert data["conservation"]["balanced"]


def test_no_emulation_gives_the_analytic_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ftth.api, "run_spec", no_emulation)
    result = plan(load_scenario(XGS_32, [SHORT, VOICE]), tier="100M/100M", emulate=False)
    assert result.passed and not result.emulated
    assert "plan" in result.to_dict() and result.to_dict()["engine"] is None


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"tier": "20G/1G"}, "--tier"),  # above the XGS-PON line rate
        ({"tier": "0M/1M"}, "--tier"),
        ({"concurrency": 1.5}, "--concurrency"),
        ({"concurrency": -0.1}, "--concurrency"),
        ({"households": 33}, "--households"),  # 1:32 split, one household per ONU
        ({"households": 0}, "--households"),
        ({"probe_direction": "sideways"}, "--direction"),
    ],
)
def test_bad_input_names_the_option(kwargs: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as exc:
        plan(load_scenario(XGS_32, [SHORT, VOICE]), **kwargs)
    assert exc.value.where == where


def test_households_sets_the_onu_count() -> None:
    result = plan(seed("fttb-2020"), households=100, emulate=False)
    assert result.scenario.n_onus == 5 and result.households == 120
    assert "planned as 120 households" in result.notes[0]


def test_packet_loss_from_optical_margin_is_named(tmp_path: Path) -> None:
    """A splitter-loss fault that puts one ONU below its receiver sensitivity (margin
    −1.7 dB, inside the loss-of-signal threshold): FEC fails codewords, GEM frames are lost,
    and the plan names that bottleneck."""
    scenario = tmp_path / "loss.toml"
    scenario.write_text(
        XGS_32.read_text(encoding="utf-8")
        + '\n[[faults]]\nat_s = 0.0\nkind = "splitter-loss"\nbranch = "1.1"\nextra_db = 8\n',
        encoding="utf-8",
    )
    sc = load_scenario(scenario, [SHORT, VOICE])
    result = plan(sc, tier="100M/100M", concurrency=0.2)
    assert fails_with(result.reasons, "packet loss from optical margin: 1 ONU(s) (1)"), (
        result.reasons
    )
    healthy = load_scenario(XGS_32, [SHORT, VOICE])
    assert not fails_with(
        plan(healthy, tier="100M/100M", concurrency=0.2).reasons, "packet loss from optical"
    )
