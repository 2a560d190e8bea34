"""The build layer's checks: what a scenario needs the DBAs or the traffic models for.

:mod:`ftth.scenario` imports neither, so the DBA name, the DBA's parameters and the traffic
models' parameters are checked by :func:`ftth.emulator.build.build_spec` /
:func:`~ftth.emulator.build.check_build` — one layer up, the path both ``ftth validate``
and ``ftth run`` take.  Each mistake is one :class:`InputError` naming its key path.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ftth.emulator.build import build_spec, check_build
from ftth.errors import InputError
from ftth.scenario import scenario_from_dict
from olt.dba.registry import get_dba, list_dbas


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


def build_error(data: dict[str, Any]) -> InputError:
    """The error ``check_build`` raises for ``data`` (which must load as a scenario)."""
    scenario = scenario_from_dict(data)
    with pytest.raises(InputError) as info:
        check_build(scenario)
    return info.value


# ============================================================================ DBA
def test_unknown_dba_name_lists_the_registered_ones() -> None:
    error = build_error(base(dba={"name": "giant-typo"}))
    assert error.where == "dba.name"
    assert "unknown DBA 'giant-typo'; valid: " in error.why and "proportional" in error.why


@pytest.mark.parametrize(
    ("technology", "dba", "fragment"),
    [
        ("xgs-pon", "ipact", "'ipact' is an EPON polling DBA; for XGS-PON use one of:"),
        ("epon-1g", "sr-dba", "'sr-dba' is a 125 µs frame DBA; for 1G-EPON use one of:"),
    ],
)
def test_dba_must_suit_the_technology(technology: str, dba: str, fragment: str) -> None:
    error = build_error(base(technology=technology, dba={"name": dba}))
    assert error.where == "dba.name" and fragment in error.why


def _kind_of(name: str) -> str:
    return "epon-1g" if getattr(get_dba(name), "epon", False) else "xgs-pon"


@pytest.mark.parametrize("name", list_dbas())
def test_every_dba_is_built_with_its_parameters(name: str) -> None:
    """check_build constructs the DBA: an unknown parameter is refused by every DBA, and the
    defaults are accepted by every DBA."""
    technology = _kind_of(name)
    check_build(scenario_from_dict(base(technology=technology, dba={"name": name})))
    error = build_error(base(technology=technology, dba={"name": name, "params": {"bogus": 1}}))
    assert error.where == "dba.params.bogus"


@pytest.mark.parametrize(
    ("name", "key", "value", "fragment"),
    [
        ("proportional", "min_grant_bytes", 2**64, "must be in 0.."),
        ("proportional", "min_grant_bytes", 1.5, "must be a whole number"),
        ("proportional", "min_grant_bytes", "lots", "got 'lots'"),
        ("ebu", "overdraft_cycles", float("inf"), "must be finite (in 0..16), got inf"),
        ("ebu", "overdraft_cycles", 10**400, "must be in 0..16, got a 401-digit integer"),
        ("giant", "si_max_frames", float("nan"), "must be finite"),
        ("ipact", "w_max_bytes", float("inf"), "must be finite"),
        ("ipact", "credit_ratio", float("nan"), "must be finite (in 0..10), got nan"),
        ("ipact", "credit_bytes", -1, "must be in 0..10000000, got -1"),
        ("ipact", "guard_us", "abc", "must be a number (in 0..1000), got 'abc'"),
        ("polling", "zero_rtt", "no", "must be true or false, got 'no'"),
    ],
)
def test_dba_parameters_are_finite_and_in_range(
    name: str, key: str, value: Any, fragment: str
) -> None:
    data = base(technology=_kind_of(name), dba={"name": name, "params": {key: value}})
    error = build_error(data)
    assert error.where == f"dba.params.{key}"
    assert fragment in error.why, error.why


def test_dba_parameter_names_are_plain() -> None:
    """A parameter name with a newline would break the one-line error; the scenario refuses it."""
    with pytest.raises(InputError) as info:
        scenario_from_dict(base(dba={"params": {"a\nb": 1}}))
    assert info.value.where == "dba.params"
    assert "\n" not in str(info.value)


# ============================================================================ traffic
def test_traffic_parameters_are_checked_with_paths() -> None:
    good: dict[str, Any] = {
        "name": "i",
        "type": 4,
        "max_bps": 1e9,
        "traffic": {"model": "pareto-onoff", "rate_bps": 1e7, "alpha_on": 1.5},
    }
    check_build(scenario_from_dict(base(tconts=[good])))
    bad = copy.deepcopy(good)
    bad["traffic"]["alpha_on"] = 2.5
    error = build_error(base(tconts=[good, {**bad, "name": "j"}]))
    assert error.where == "tconts[1].traffic.alpha_on"
    assert "< 2" in error.why and "got 2.5" in error.why


@pytest.mark.parametrize(
    ("traffic", "where", "fragment"),
    [
        ({"model": "poisson", "rate_bps": 0}, "tconts[0].traffic.rate_bps", "must be ≥ 1"),
        ({"model": "poisson", "rate_bps": -1e6}, "tconts[0].traffic.rate_bps", "must be ≥ 1"),
        ({"model": "cbr", "rate_bps": 1e-300}, "tconts[0].traffic.rate_bps", "must be ≥ 1"),
        ({"model": "greedy", "rate_bps": 1e-300}, "tconts[0].traffic.rate_bps", "must be ≥ 1"),
        ({"model": "poisson", "rate_bps": float("nan")}, "tconts[0].traffic.rate_bps", "nan"),
        ({"model": "poisson", "rate": 1e6}, "tconts[0].traffic.rate", "did you mean 'rate_bps'?"),
        ({"model": "nope", "rate_bps": 1e6}, "tconts[0].traffic.model", "valid: cbr"),
    ],
)
def test_traffic_errors(traffic: dict[str, Any], where: str, fragment: str) -> None:
    error = build_error(base(tconts=[{"name": "i", "type": 4, "max_bps": 1e9, "traffic": traffic}]))
    assert error.where == where
    assert fragment in error.why, error.why


def test_an_onus_own_traffic_is_named_by_its_entry() -> None:
    onus = [
        {"id": 1, "drop_km": 1.0},
        {
            "id": 2,
            "drop_km": 1.0,
            "downstream": [{"name": "v", "traffic": {"model": "cbr", "rate_bps": -1}}],
        },
    ]
    error = build_error(base(onus=onus))
    assert error.where == "onus[1].downstream[0].traffic.rate_bps"


# ============================================================================ not supported yet
def test_faults_give_the_spec_a_control_plan_and_plot_dir_is_refused() -> None:
    """A scenario with faults builds with its control plan attached (the engines obey it);
    one without has none (the steady path).  ``output.plot_dir`` is documented as not
    supported yet: loaded and checked, refused by every run path."""
    sc = scenario_from_dict(
        base(faults=[{"at_s": 0.1, "kind": "onu-power", "onu": 1, "power": "off"}])
    )
    spec = build_spec(sc)
    assert spec.control is not None and not spec.control.is_steady
    assert check_build(sc).control is None  # `ftth validate` skips the simulation
    assert build_spec(scenario_from_dict(base())).control is None
    sc = scenario_from_dict(base(output={"plot_dir": "plots"}))
    with pytest.raises(InputError) as info:
        build_spec(sc)
    assert info.value.where == "output.plot_dir"


def test_a_source_may_not_offer_more_than_its_line_rate(tmp_path: Path) -> None:
    """A capture replayed at `speed` × its own rate is checked by its mean rate: 2 frames
    of 1518 bytes 10 µs apart loop at 1.21 Gb/s; 10× that is above XGS-PON's 9.95 Gb/s."""
    from scapy.all import IP, UDP, Ether, Raw, wrpcap

    header = len(Ether() / IP() / UDP())
    packets = []
    for t_us in (0, 10):
        packet = Ether() / IP() / UDP() / Raw(b"\x00" * (1518 - header))
        packet.time = 1_700_000_000 + t_us / 1e6
        packets.append(packet)
    capture = tmp_path / "two.pcap"
    wrpcap(str(capture), packets)
    tcont = {"name": "i", "type": 4, "max_bps": 1e9}
    table = {"model": "pcap", "path": str(capture), "speed": 1.0}
    check_build(scenario_from_dict(base(tconts=[{**tcont, "traffic": table}])))
    error = build_error(base(tconts=[{**tcont, "traffic": {**table, "speed": 10.0}}]))
    assert error.where == "tconts[0].traffic"
    assert "offers 12.14 Gb/s on average, above the XGS-PON upstream line rate" in error.why


# ============================================================================ warnings
@pytest.mark.parametrize(
    ("classes", "warned"),
    [
        # A class alone at its priority: its weight only scales the quantum.
        ([{"name": "video", "priority": 1, "weight": 3.0}], ["video"]),
        # Two classes at one level with different weights: the weights share it.
        (
            [
                {"name": "a", "priority": 1, "weight": 1.0},
                {"name": "b", "priority": 1, "weight": 3.0},
            ],
            [],
        ),
        # The same weight on every class of a level: no effect either.
        (
            [
                {"name": "a", "priority": 2, "weight": 2.0},
                {"name": "b", "priority": 2, "weight": 2.0},
                {"name": "voice", "priority": 0},
            ],
            ["a, b"],
        ),
        ([{"name": "internet"}], []),  # the default weight 1 is never worth a warning
    ],
)
def test_a_downstream_weight_that_changes_nothing_is_a_warning(
    classes: list[dict[str, Any]], warned: list[str]
) -> None:
    spec = check_build(scenario_from_dict(base(downstream=classes)))
    weights = [w for w in spec.warnings if w.startswith("downstream weight")]
    assert len(weights) == len(warned)
    for text, names in zip(weights, warned, strict=True):
        assert f"({names}) has no effect" in text
