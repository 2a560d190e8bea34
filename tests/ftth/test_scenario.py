"""Scenario models and loader: defaults, expansion, overrides, and one error per mistake.

Every error test asserts the exact key path (``InputError.where``) and a fragment of the
reason that states the allowed range or the valid values, so a message that loses either
fails.  Numeric checks are exact: the values are decimal inputs or integer arithmetic, and
the few float comparisons use ``pytest.approx`` with a 1e-12 relative tolerance that only
absorbs float rounding.
"""

from __future__ import annotations

import copy
import runpy
from pathlib import Path
from typing import Any

import pytest

from ftth.errors import InputError
from ftth.phy import PROFILES, saturation_goodput_bps
from ftth.scenario import (
    DownstreamClass,
    OnuGenerator,
    Scenario,
    TCont,
    apply_overrides,
    default_scenario_path,
    load_scenario,
    scenario_from_dict,
)

REPO = Path(__file__).resolve().parents[2]
SEEDS = sorted((REPO / "seeds").glob("*.toml"))
FLOAT_NOISE = 1e-12


def base(**top: Any) -> dict[str, Any]:
    """A small valid XGS-PON scenario: 1:32, 8 ONUs at 2 + 0.5..1.5 km, all defaults."""
    data: dict[str, Any] = {
        "name": "t",
        "technology": "xgs-pon",
        "tree": {"feeder_km": 2.0, "splitters": [4, 8]},
        "onus": {"count": 8, "drop_km": [0.5, 1.5]},
    }
    data.update(top)
    return data


def error_of(data: dict[str, Any]) -> InputError:
    with pytest.raises(InputError) as info:
        scenario_from_dict(data)
    return info.value


def with_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with ``path`` (dotted, numbers index lists) set to ``value``."""
    return apply_overrides(data, [f"{path}={value}"])


# ============================================================================ defaults
def test_defaults_are_filled_in() -> None:
    sc = scenario_from_dict(base())
    profile = PROFILES["xgs-pon"]
    assert sc.duration_s == 1.0
    assert sc.warmup_s is None
    assert sc.warmup_s_effective == 0.1  # 10 % of 1 s
    assert sc.seed == 1
    assert sc.engine == "fast"
    assert sc.description == ""
    assert sc.fec_upstream and sc.fec_downstream  # XGS-PON defaults
    assert sc.tree.optical_class == "N1"
    assert sc.tree.connectors == 4 and sc.tree.splices == 4
    assert sc.tree.margin_db == 3.0
    assert sc.tree.max_differential_km == 20.0
    assert sc.reach_km_effective == 20.0
    # Teqd = RTT at 20 km: 2 × 20 km × 5 µs/km + 35 µs response time.
    assert sc.teqd_us_effective == 235.0
    assert sc.dba.name == "proportional"
    assert (sc.dba.cycle_frames, sc.dba.report_latency_frames, sc.dba.dbru_every_frames) == (
        1,
        0,
        1,
    )
    assert sc.dba.params == {}
    assert sc.traffic.window_ms == 50
    assert sc.traffic.upstream_load is None and sc.traffic.downstream_load is None
    assert sc.households.per_onu == 1
    assert sc.households.tier is None and sc.households.tier_down_bps is None
    assert sc.households.pass_ratio == 0.95
    assert sc.olt.downstream_buffer_bytes == 4_000_000
    assert sc.faults == []
    assert sc.output.json_path is None
    assert sc.tconts == [TCont(name="internet", type=4, max_bps=float(profile.upstream_bps))]
    assert sc.tconts[0].buffer_bytes == 1_000_000
    assert sc.tconts[0].traffic is None
    assert sc.downstream == [DownstreamClass(name="internet", buffer_bytes=4_000_000)]


def test_warmup_default_is_exactly_a_tenth() -> None:
    # duration / 10, not 0.1 × duration (which gives 0.020000000000000004 for 0.2 s).
    assert scenario_from_dict(base(duration_s=0.2)).warmup_s_effective == 0.02
    assert scenario_from_dict(base(duration_s=0.2, warmup_s=0.0)).warmup_s_effective == 0.0


@pytest.mark.parametrize(
    ("technology", "optical_class", "fec_up", "fec_down"),
    [
        ("gpon", "B+", False, False),
        ("xg-pon", "N1", True, True),
        ("xgs-pon", "N1", True, True),
    ],
)
def test_profile_dependent_defaults(
    technology: str, optical_class: str, fec_up: bool, fec_down: bool
) -> None:
    sc = scenario_from_dict(base(technology=technology))
    assert sc.tree.optical_class == optical_class
    assert sc.fec_upstream is fec_up and sc.fec_downstream is fec_down
    assert sc.tconts is not None
    assert sc.tconts[0].max_bps == PROFILES[technology].upstream_bps


def test_capacity_is_the_analytic_saturation_goodput() -> None:
    sc = scenario_from_dict(base(fec={"upstream": False}))
    profile = PROFILES["xgs-pon"]
    assert sc.capacity_bps("upstream") == saturation_goodput_bps(profile, "upstream", 8, fec=False)
    assert sc.capacity_bps("downstream") == saturation_goodput_bps(profile, "downstream", 8)
    # FEC off really changes the figure (else the line above could not fail on FEC).
    assert sc.capacity_bps("upstream") > saturation_goodput_bps(profile, "upstream", 8)


def test_tier_parsing() -> None:
    for tier, down, up in [
        ("100M/50M", 100e6, 50e6),
        ("1G/1G", 1e9, 1e9),
        ("300M/300M", 300e6, 300e6),
        ("2.5G/500k", 2.5e9, 500e3),
    ]:
        households = scenario_from_dict(base(households={"tier": tier})).households
        assert (households.tier_down_bps, households.tier_up_bps) == (down, up), tier


# ============================================================================ ONU expansion
def test_compact_onus_expand_with_linspace_and_consecutive_ids() -> None:
    sc = scenario_from_dict(base(onus={"count": 5, "drop_km": [1.0, 2.0], "first_id": 10}))
    onus = sc.onu_list()
    assert [onu.id for onu in onus] == [10, 11, 12, 13, 14]
    assert [onu.drop_km for onu in onus] == [1.0, 1.25, 1.5, 1.75, 2.0]  # exact binary fractions
    assert [sc.distance_km(onu) for onu in onus] == [3.0, 3.25, 3.5, 3.75, 4.0]
    assert all(onu.tconts == sc.tconts and onu.downstream == sc.downstream for onu in onus)
    assert sc.n_onus == 5
    assert isinstance(sc.onus, OnuGenerator)


def test_single_drop_number_puts_every_onu_there() -> None:
    sc = scenario_from_dict(base(onus={"count": 3, "drop_km": 0.7}))
    assert [onu.drop_km for onu in sc.onu_list()] == [0.7, 0.7, 0.7]


def test_compact_onus_join_one_after_another() -> None:
    """``[onus] join_at_s``: one time for all, or a range spread in ONU order (linspace)."""
    sc = scenario_from_dict(
        base(duration_s=0.2, onus={"count": 5, "drop_km": 1.0, "join_at_s": [0.0, 0.1]})
    )
    assert [onu.join_at_s for onu in sc.onu_list()] == pytest.approx([0, 0.025, 0.05, 0.075, 0.1])
    assert sc.emulates_control_plane
    same = scenario_from_dict(base(onus={"count": 3, "drop_km": 1.0, "join_at_s": 0.05}))
    assert [onu.join_at_s for onu in same.onu_list()] == [0.05] * 3
    plain = scenario_from_dict(base(onus={"count": 3, "drop_km": 1.0}))
    assert [onu.join_at_s for onu in plain.onu_list()] == [0.0] * 3
    assert not plain.emulates_control_plane


@pytest.mark.parametrize(
    ("join", "where", "fragment"),
    [
        ([0.05, 0.01], "onus.join_at_s", "first ≤ last"),
        (-0.1, "onus.join_at_s", "≥ 0 s"),
        ([0.0, 0.1, 0.2], "onus.join_at_s", "a time or a range"),
        ([0.0, 0.3], "onus.join_at_s", "must be < duration_s (0.2 s), got 0.3"),
    ],
)
def test_compact_join_errors_name_the_one_key(join: Any, where: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        scenario_from_dict(
            base(duration_s=0.2, onus={"count": 4, "drop_km": 1.0, "join_at_s": join})
        )
    assert info.value.where == where and fragment in info.value.why


def test_explicit_onus_with_overrides() -> None:
    special = [{"name": "mobile", "type": 1, "fixed_bps": 1e8}]
    data = base(
        onus=[
            {"id": 3, "drop_km": 0.2},
            {"id": 7, "drop_km": 1.0, "tconts": special},
            {"id": 5, "drop_km": 0.4, "downstream": [{"name": "iptv", "priority": 0}]},
        ],
        tconts=[{"name": "web", "type": 4, "max_bps": 1e9}],
    )
    sc = scenario_from_dict(data)
    onus = sc.onu_list()
    assert [onu.id for onu in onus] == [3, 7, 5]  # file order kept
    assert [tc.name for tc in onus[0].tconts or []] == ["web"]
    assert [(tc.name, tc.type, tc.fixed_bps) for tc in onus[1].tconts or []] == [("mobile", 1, 1e8)]
    assert [c.name for c in onus[2].downstream or []] == ["iptv"]
    assert [c.name for c in onus[0].downstream or []] == ["internet"]
    # onu_list() resolves templates without touching the declared ONUs.
    assert isinstance(sc.onus, list) and sc.onus[0].tconts is None


def test_topology_uses_the_scenario_tree() -> None:
    sc = scenario_from_dict(base(onus={"count": 2, "drop_km": [1.0, 3.0]}))
    topology = sc.topology()
    assert topology.split_ratio == 32
    assert [p.distance_km for p in topology.places] == [3.0, 5.0]
    assert topology.teqd_ps == 235_000_000


# ============================================================================ seeds and loader
def test_seed_directory_is_not_empty() -> None:
    assert any(path.name == "urban-2020-100mbps.toml" for path in SEEDS)


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_every_seed_validates(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.source == str(path)
    assert sc.n_onus >= 1


def test_embedded_default_is_the_urban_2020_seed() -> None:
    path = default_scenario_path()
    assert path.is_file()
    assert path.read_bytes() == (REPO / "seeds" / "urban-2020-100mbps.toml").read_bytes()
    sc = load_scenario(None)
    assert sc.name == "urban-2020-100mbps"
    assert sc.technology == "xgs-pon"
    assert sc.tree.splitters == [4, 16] and sc.tree.split_ratio == 64
    assert sc.tree.feeder_km == 3.0
    assert sc.n_onus == 64
    drops = [onu.drop_km for onu in sc.onu_list()]
    assert (drops[0], drops[-1]) == (0.1, 1.5)
    assert (sc.households.tier_down_bps, sc.households.tier_up_bps) == (100e6, 50e6)
    assert sc.tconts is not None and sc.downstream is not None
    assert [(tc.name, tc.type) for tc in sc.tconts] == [("voice-video", 2), ("internet", 4)]
    assert sc.tconts[1].max_bps == 1e9
    assert [(c.name, c.priority) for c in sc.downstream] == [("video", 0), ("internet", 1)]
    assert all(tc.traffic for tc in sc.tconts) and all(c.traffic for c in sc.downstream)
    assert sc.dba.name == "proportional"
    assert (sc.duration_s, sc.seed) == (0.2, 1)


def test_load_with_overrides() -> None:
    sc = load_scenario(
        None,
        [
            "tree.splitters=[4, 8]",
            "onus.count=32",
            "tconts.1.max_bps=5e8",
            "seed=7",
            'households.tier="1G/1G"',
            "engine=reference",
        ],
    )
    assert sc.tree.splitters == [4, 8]
    assert sc.n_onus == 32
    assert sc.tconts is not None and sc.tconts[1].max_bps == 5e8
    assert sc.seed == 7
    assert sc.households.tier_down_bps == 1e9
    assert sc.engine == "reference"  # bare string fallback


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(InputError) as info:
        load_scenario(missing)
    assert (info.value.where, info.value.why) == (str(missing), "no such file")


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\ntechnology = "gpon"\nduration_s = = 3\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert info.value.where == str(path)
    assert info.value.why.startswith("TOML syntax error at line 3, column 14: ")


def test_toml_error_at_end_of_document_gets_a_position(tmp_path: Path) -> None:
    path = tmp_path / "dup.toml"
    path.write_text('name = "x"\nname = "y"\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert "TOML syntax error at line " in info.value.why
    assert "column" in info.value.why


# ============================================================================ overrides
def test_apply_overrides_parses_toml_values_and_falls_back_to_strings() -> None:
    data = {"a": {"b": 1}, "list": [{"x": 1}, {"x": 2}]}
    out = apply_overrides(
        data,
        [
            "a.b=3",
            "a.c=0.01",
            'a.d="quoted"',
            "a.e=[4, 16]",
            "a.f=true",
            "a.g=bare words",
            "list.1.x=1e9",
            "new.table.key=5",
        ],
    )
    assert out == {
        "a": {"b": 3, "c": 0.01, "d": "quoted", "e": [4, 16], "f": True, "g": "bare words"},
        "list": [{"x": 1}, {"x": 1e9}],
        "new": {"table": {"key": 5}},
    }
    assert data == {"a": {"b": 1}, "list": [{"x": 1}, {"x": 2}]}  # input untouched


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("no-equals-sign", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("a..b=1", "empty part"),
        ("list.5.x=1", "no such element"),
        ("list.x=1", "is an array; use a number"),
        ("a.b.c=1", "is 1, not a table or array"),
    ],
)
def test_bad_override(override: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        apply_overrides({"a": {"b": 1}, "list": [{"x": 1}]}, [override])
    assert info.value.where == "--set"
    assert fragment in info.value.why


# ============================================================================ errors
@pytest.mark.parametrize(
    ("path", "value", "where", "fragment"),
    [
        # structure: unknown keys with suggestions, types, literals, ranges
        (
            "tree.splitter",
            "[4]",
            "tree.splitter",
            "unknown key 'splitter'; did you mean 'splitters'?",
        ),
        ("tecnology", '"gpon"', "tecnology", "did you mean 'technology'?"),
        ("output.jsn", '"x.json"', "output.jsn", "did you mean 'json'?"),
        ("dba.zzz", "1", "dba.zzz", "valid keys: name, cycle_frames"),
        (
            "technology",
            '"10g-pon"',
            "technology",
            "valid: gpon, xg-pon, xgs-pon, epon-1g, epon-10g",
        ),
        ("engine", '"slow"', "engine", "must be one of: fast, reference; got 'slow'"),
        ("duration_s", "0", "duration_s", "must be > 0 and ≤ 3600, got 0"),
        ("duration_s", "-1", "duration_s", "must be > 0 and ≤ 3600, got -1"),
        ("duration_s", "4000", "duration_s", "must be > 0 and ≤ 3600, got 4000"),
        ("warmup_s", "1.0", "warmup_s", "< duration_s (1 s), got 1"),
        ("seed", "1.5", "seed", "must be an integer in 0..9223372036854775807, got 1.5"),
        ("tree", "3", "tree", "must be a table, got 3"),
        ("onus", "5", "onus", "must be a table [onus] or an array of tables [[onus]], got 5"),
        ("name", '""', "name", "must not be empty"),
        # strict types: TOML values are typed, so nothing is coerced
        ("onus.count", "true", "onus.count", "must be an integer in 1..256, got true"),
        ("onus.count", "8.0", "onus.count", "must be an integer in 1..256, got 8.0"),
        ("fec.upstream", "1", "fec.upstream", "must be true or false, got 1"),
        ("onus.drop_km", '["a", 1]', "onus.drop_km[0]", "must be a number, got 'a'"),
        ("output.json", "5", "output.json", "must be a path string, got 5"),
        ("tree.splitters", "[]", "tree.splitters", "needs at least 1 entry, got 0"),
        ("tree.splitters", "[4, 12]", "tree.splitters[1]", "power of two in 2..256, got 12"),
        (
            "tree.splitters",
            "[16, 32]",
            "tree.splitters",
            "1:512 (16 × 32) is above the XGS-PON maximum 1:256",
        ),
        ("tree.max_differential_km", "30", "tree.max_differential_km", "must be 20 or 40"),
        ("tree.optical_class", '"B+"', "tree.optical_class", "valid: N1, N2, E1, E2"),
        ("tree.margin_db", "-1", "tree.margin_db", "must be ≥ 0 and ≤ 20, got -1"),
        ("tree.reach_km", "70", "tree.reach_km", "must be > 0 and ≤ 60, got 70"),
        ("fec.downstream", "false", "fec.downstream", "mandatory"),
        ("onus.count", "33", "onus.count", "33 ONUs but the splitters [4, 8] give only 32 outputs"),
        ("onus.count", "0", "onus.count", "must be in 1..256, got 0"),
        ("onus.drop_km", "[2.0, 1.0]", "onus.drop_km", "min ≤ max"),
        (
            "onus.drop_km",
            "[0.5, 18.5]",
            "onus.drop_km",
            "ONU 8 is 2 + 18.5 = 20.5 km from the OLT, beyond the reach of 20 km",
        ),
        ("onus.first_id", "1015", "onus.first_id", "ONU-ID must be in 0..1020, got 1021"),
        ("tconts", "{}", "tconts", "must be an array, got a table"),
        ("households.tier", '"100/50"', "households.tier", 'must look like "100M/50M"'),
        (
            "households.tier",
            '"20G/1G"',
            "households.tier",
            "downstream 20 Gb/s is above the XGS-PON downstream line rate 9.95 Gb/s",
        ),
        ("households.pass_ratio", "0", "households.pass_ratio", "must be > 0 and ≤ 1, got 0"),
        ("dba.cycle_frames", "65", "dba.cycle_frames", "must be in 1..64, got 65"),
        ("traffic.upstream_load", "2.5", "traffic.upstream_load", "must be > 0 and ≤ 2, got 2.5"),
        ("traffic.upstream_load", "0.5", "traffic.upstream_load", "no T-CONT has a traffic source"),
        ("olt.teqd_us", "50", "olt.teqd_us", "must be ≥ the RTT of the farthest ONU"),
        (
            "olt.downstream_buffer_bytes",
            "0",
            "olt.downstream_buffer_bytes",
            "must be in 1..1099511627776, got 0",
        ),
    ],
)
def test_scenario_errors(path: str, value: str, where: str, fragment: str) -> None:
    error = error_of(with_path(base(), path, value))
    assert error.where == where
    assert fragment in error.why, error.why


def test_unknown_key_is_reported_before_the_missing_one_it_misspells() -> None:
    data = base()
    data["tree"] = {"splitter": [4, 8]}  # `splitters` is then also missing
    error = error_of(data)
    assert (error.where, error.why) == (
        "tree.splitter",
        "unknown key 'splitter'; did you mean 'splitters'?",
    )


def test_missing_required_key() -> None:
    data = base()
    del data["onus"]
    error = error_of(data)
    assert (error.where, error.why) == ("onus", "required key missing")


def test_split_above_gpon_max() -> None:
    error = error_of(base(technology="gpon", tree={"splitters": [16, 16]}))
    assert error.where == "tree.splitters"
    assert "1:256 (16 × 16) is above the GPON maximum 1:128" in error.why


def test_differential_distance_beyond_20_km_names_the_farthest_onu() -> None:
    # Beyond the 20 km differential needs a logical reach above 20 km (tree.reach_km).
    data = base(
        tree={"splitters": [32], "reach_km": 60.0},
        onus=[
            {"id": 1, "drop_km": 0.5},
            {"id": 2, "drop_km": 25.0},
            {"id": 3, "drop_km": 10.0},
        ],
    )
    error = error_of(data)
    assert error.where == "onus[1].drop_km"
    assert "differential distance 24.5 km (ONU 2 at 25 km − ONU 1 at 0.5 km)" in error.why
    assert "tree.max_differential_km = 20 km" in error.why
    assert "set tree.max_differential_km = 40" in error.why  # XGS-PON allows 40


def test_differential_distance_beyond_40_km() -> None:
    data = base(
        tree={"splitters": [32], "reach_km": 60.0, "max_differential_km": 40.0},
        onus=[{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 42.0}],
    )
    error = error_of(data)
    assert error.where == "onus[1].drop_km"
    assert "differential distance 41 km" in error.why and "= 40 km" in error.why
    # 40 km of differential is fine.
    data["onus"][1]["drop_km"] = 41.0
    assert scenario_from_dict(data).onu_list()[1].drop_km == 41.0


def test_gpon_refuses_40_km_differential() -> None:
    error = error_of(base(technology="gpon", tree={"splitters": [32], "max_differential_km": 40}))
    assert error.where == "tree.max_differential_km"
    assert "GPON supports at most 20 km" in error.why


def test_distance_beyond_reach_names_the_onu_entry() -> None:
    error = error_of(base(onus=[{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 18.5}]))
    assert error.where == "onus[1].drop_km"
    assert "ONU 2 is 2 + 18.5 = 20.5 km from the OLT, beyond the reach of 20 km" in error.why


def test_duplicate_onu_ids() -> None:
    error = error_of(base(onus=[{"id": 4, "drop_km": 1.0}, {"id": 4, "drop_km": 1.2}]))
    assert error.where == "onus[1].id"
    assert "duplicate ONU-ID 4 (also onus[0].id)" in error.why


def test_explicit_onu_errors_use_list_indexes() -> None:
    error = error_of(base(onus=[{"id": 1, "drop_km": 1.0}, {"id": 2}]))
    assert (error.where, error.why) == ("onus[1].drop_km", "required key missing")
    error = error_of(base(onus=[{"id": 1, "drop_km": 1.0}, {"id": 2000, "drop_km": 1.0}]))
    assert error.where == "onus[1].id"
    assert "0..1020, got 2000" in error.why
    error = error_of(base(onus=[{"id": 1, "drop_km": 1.0, "tconts": [{"name": "x", "type": 4}]}]))
    assert error.where == "onus[0].tconts[0].max_bps"
    assert "type 4 T-CONT needs max_bps > 0" in error.why
    error = error_of(base(onus=[{"id": 1, "drop_km": 1.0, "tcont": []}]))
    assert error.where == "onus[0].tcont"
    assert "did you mean 'tconts'?" in error.why


def test_more_explicit_onus_than_outputs() -> None:
    onus = [{"id": i, "drop_km": 1.0} for i in range(1, 6)]
    error = error_of(base(tree={"splitters": [4]}, onus=onus))
    assert error.where == "onus"
    assert "5 ONUs but the splitters [4] give only 4 outputs" in error.why


@pytest.mark.parametrize(
    ("tcont", "where", "fragment"),
    [
        ({"type": 1}, "fixed_bps", "type 1 T-CONT needs fixed_bps > 0"),
        ({"type": 1, "fixed_bps": 1e6, "max_bps": 2e6}, "max_bps", "max_bps must be 0"),
        ({"type": 2}, "assured_bps", "type 2 T-CONT needs assured_bps > 0"),
        ({"type": 2, "assured_bps": 1e6, "max_bps": 2e6}, "max_bps", "equal to assured_bps"),
        ({"type": 3, "assured_bps": 2e6, "max_bps": 1e6}, "max_bps", "max_bps ≥ assured_bps"),
        ({"type": 4, "max_bps": 1e8, "assured_bps": 1e6}, "assured_bps", "best effort"),
        (
            {"type": 5, "fixed_bps": 1e6, "assured_bps": 1e6, "max_bps": 1e6},
            "max_bps",
            "≥ fixed_bps + assured_bps (2000000)",
        ),
        ({"type": 6, "max_bps": 1e6}, "type", "must be in 1..5, got 6"),
        ({"type": 4, "max_bps": -5}, "max_bps", "must be ≥ 0, got -5"),
        (
            {"type": 4, "max_bps": 2e10},
            "max_bps",
            "20 Gb/s is above the XGS-PON upstream line rate 9.95 Gb/s (tier above line rate)",
        ),
        (
            {"type": 4, "max_bps": 1e9, "buffer_bytes": 0},
            "buffer_bytes",
            "must be in 1..1099511627776, got 0",
        ),
        ({"type": 4, "max_bps": 1e9, "priority": 8}, "priority", "must be in 0..7, got 8"),
        ({"type": 4, "max_bps": 1e9, "weight": 0}, "weight", "must be > 0 and ≤ 1000000, got 0"),
    ],
)
def test_tcont_rules(tcont: dict[str, Any], where: str, fragment: str) -> None:
    error = error_of(
        base(tconts=[{"name": "ok", "type": 4, "max_bps": 1e9}, {"name": "t", **tcont}])
    )
    assert error.where == f"tconts[1].{where}"
    assert fragment in error.why, error.why


def test_valid_tcont_of_every_type() -> None:
    tconts = [
        {"name": "t1", "type": 1, "fixed_bps": 1e6},
        {"name": "t2", "type": 2, "assured_bps": 1e6},
        {"name": "t2m", "type": 2, "assured_bps": 1e6, "max_bps": 1e6},
        {"name": "t3", "type": 3, "assured_bps": 1e6, "max_bps": 1e6},
        {"name": "t4", "type": 4, "max_bps": 1e6},
        {"name": "t5", "type": 5, "fixed_bps": 1e6, "assured_bps": 1e6, "max_bps": 2e6},
    ]
    sc = scenario_from_dict(base(tconts=tconts))
    assert sc.tconts is not None
    assert [tc.ceiling_bps for tc in sc.tconts] == [1e6, 1e6, 1e6, 1e6, 1e6, 2e6]
    assert [tc.guaranteed_bps for tc in sc.tconts] == [1e6, 1e6, 1e6, 1e6, 0.0, 2e6]


def test_duplicate_tcont_and_class_names() -> None:
    error = error_of(base(tconts=[{"name": "a", "type": 4, "max_bps": 1}] * 2))
    assert error.where == "tconts[1].name" and "duplicate T-CONT name 'a'" in error.why
    error = error_of(base(downstream=[{"name": "v"}, {"name": "v"}]))
    assert error.where == "downstream[1].name" and "duplicate class name 'v'" in error.why


def test_admission_control_sum_of_fixed_and_assured() -> None:
    sc = scenario_from_dict(base(fec={"upstream": True}))
    capacity_bps = sc.capacity_bps("upstream")
    # 8 ONUs × (fixed + assured): just under the capacity passes, just over fails.
    per_onu_bps = capacity_bps / 8
    ok = base(
        tconts=[
            {
                "name": "a",
                "type": 5,
                "fixed_bps": per_onu_bps / 2,
                "assured_bps": per_onu_bps / 2 * 0.999,
                "max_bps": per_onu_bps * 1.01,
            }
        ]
    )
    scenario_from_dict(ok)
    over = copy.deepcopy(ok)
    over["tconts"][0]["assured_bps"] = per_onu_bps / 2 * 1.001
    error = error_of(over)
    assert error.where == "tconts"
    assert f"upstream capacity {capacity_bps / 1e6:.2f} Mb/s" in error.why
    assert "over 8 ONUs" in error.why


def test_output_paths() -> None:
    sc = scenario_from_dict(base(output={"json": "r.json", "csv_dir": "csv", "trace_csv": "t.csv"}))
    assert sc.output.json_path == Path("r.json")
    assert sc.output.csv_dir == Path("csv") and sc.output.plot_dir is None


# ============================================================================ traffic tables
@pytest.mark.parametrize(
    ("traffic", "where", "fragment"),
    [
        (
            {"model": "poisson", "rate_bps": 2e10},
            "tconts[0].traffic.rate_bps",
            "above the XGS-PON upstream line rate",
        ),
        ({"rate_bps": 1e6}, "tconts[0].traffic", "needs a `model` key"),
        ({"model": 5}, "tconts[0].traffic", "`model` must be a string, got 5"),
    ],
)
def test_traffic_table_rules(traffic: dict[str, Any], where: str, fragment: str) -> None:
    """The scenario checks a traffic table's shape and its rates against the line rate; the
    model's own parameters are checked by the build layer (tests/ftth/emulator/test_build.py).
    """
    error = error_of(base(tconts=[{"name": "i", "type": 4, "max_bps": 1e9, "traffic": traffic}]))
    assert error.where == where
    assert fragment in error.why, error.why


def test_downstream_traffic_is_checked_against_the_downstream_line_rate() -> None:
    # 5 Gb/s is above the XG-PON upstream (2.49 Gb/s) but fine downstream (9.95 Gb/s).
    ok = base(
        technology="xg-pon",
        downstream=[{"name": "v", "traffic": {"model": "poisson", "rate_bps": 5e9}}],
    )
    scenario_from_dict(ok)
    error = error_of(with_path(ok, "downstream.0.traffic.rate_bps", "2e10"))
    assert error.where == "downstream[0].traffic.rate_bps"
    assert "XG-PON downstream line rate 9.95 Gb/s" in error.why


def test_load_needs_sources_in_its_direction() -> None:
    tconts = [
        {"name": "i", "type": 4, "max_bps": 1e9, "traffic": {"model": "poisson", "rate_bps": 1e6}}
    ]
    sc = scenario_from_dict(base(tconts=tconts, traffic={"upstream_load": 0.9}))
    assert sc.traffic.upstream_load == 0.9
    error = error_of(base(tconts=tconts, traffic={"downstream_load": 0.9}))
    assert error.where == "traffic.downstream_load"


# ============================================================================ docs
def test_docs_are_current() -> None:
    script = runpy.run_path(str(REPO / "scripts" / "gen_scenario_docs.py"))
    expected = script["render"]()
    current = (REPO / "docs" / "scenario.md").read_text(encoding="utf-8")
    assert current == expected, "docs/scenario.md is stale: run python scripts/gen_scenario_docs.py"


def test_docs_cover_every_key() -> None:
    text = (REPO / "docs" / "scenario.md").read_text(encoding="utf-8")
    for key in (
        "`tree.splitters`",
        "`onus.count`",
        "`onus[].id`",
        "`tconts[].traffic`",
        "`households.tier`",
        "`dba.params`",
        "`faults[].kind`",
        "`output.json`",
        "`traffic.upstream_load`",
        "`olt.teqd_us`",
        "`duration_s`",
        "`fec.upstream`",
    ):
        assert key in text, key


def test_scenario_is_plain_data() -> None:
    # A validated scenario dumps to data that validates again to the same scenario (sweeps
    # hash and re-load scenarios this way).
    sc = load_scenario(None)
    again = scenario_from_dict(sc.model_dump(by_alias=True), source=sc.source)
    assert again == sc
    assert again.model_dump() == sc.model_dump()
    # The dump holds the resolved defaults, so it no longer depends on the profile.
    assert sc.model_dump()["tree"]["optical_class"] == "N1"
    assert Scenario.model_validate(sc.model_dump(by_alias=True)).source == "<dict>"
