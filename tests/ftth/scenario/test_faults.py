"""``[[faults]]``, ``join_at_s`` and ``[activation]``: keys, branch names and the timeline rules.

Every bad input names its key path and says what is wrong in one line; ``ftth validate``
turns it into exit status 2 (checked at the end through the real entry point).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftth.cli import main
from ftth.errors import InputError
from ftth.scenario import scenario_from_dict
from ftth.scenario.branches import behind, branch_name, onu_ports, parse_branch


def base(faults: list[dict[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    """XGS-PON, splitters 1:4 then 1:8, 8 ONUs (ids 1..8) on outputs 1.1 .. 1.8, 1 s."""
    data: dict[str, Any] = {
        "name": "t",
        "technology": "xgs-pon",
        "tree": {"feeder_km": 2.0, "splitters": [4, 8]},
        "onus": {"count": 8, "drop_km": [0.5, 1.5]},
        "faults": faults or [],
    }
    data.update(top)
    return data


def error_of(data: dict[str, Any]) -> InputError:
    with pytest.raises(InputError) as info:
        scenario_from_dict(data)
    return info.value


CUT = {"at_s": 0.1, "kind": "fibre-cut"}
RESTORE = {"at_s": 0.3, "kind": "restore"}


# ============================================================================ branch names
def test_ports_fill_the_last_stage_first() -> None:
    ports = onu_ports(10, [4, 8])
    assert ports[0] == (1, 1) and ports[7] == (1, 8) and ports[8] == (2, 1) and ports[9] == (2, 2)
    assert [branch_name(p) for p in ports[:2]] == ["1.1", "1.2"]
    assert branch_name(()) == "feeder"
    assert behind((), (3, 4)) and behind((3,), (3, 4)) and not behind((2,), (3, 4))


def test_parse_branch() -> None:
    assert parse_branch("feeder", [4, 8], "x") == ()
    assert parse_branch("2", [4, 8], "x") == (2,)
    assert parse_branch("2.8", [4, 8], "x") == (2, 8)
    for bad, fragment in (
        ("5", "stage 1 is a 1:4 splitter, its outputs are 1..4"),
        ("1.9", "stage 2 is a 1:8 splitter"),
        ("1.1.1", "one number per stage"),
        ("a", "one number per stage"),
        ("0", "its outputs are 1..4"),
    ):
        with pytest.raises(InputError) as info:
            parse_branch(bad, [4, 8], "faults[0].branch")
        assert info.value.where == "faults[0].branch" and fragment in info.value.why, bad


# ============================================================================ good faults
def test_a_valid_fault_timeline_loads() -> None:
    sc = scenario_from_dict(
        base(
            [
                CUT,
                RESTORE,
                {"at_s": 0.05, "kind": "onu-power", "onu": 3, "power": "off"},
                {"at_s": 0.06, "kind": "onu-power", "onu": 3, "power": "on"},
                {"at_s": 0.2, "kind": "rogue-onu", "onu": 5},
                {"at_s": 0.4, "kind": "splitter-loss", "branch": "1.8", "extra_db": 6},
                {"at_s": 0.5, "kind": "fibre-cut", "onu": 2},
                {"at_s": 0.6, "kind": "restore", "branch": "1.2"},  # the same drop as onu 2
            ]
        )
    )
    assert [f.kind for f in sc.faults][:2] == ["fibre-cut", "restore"]
    assert sc.emulates_control_plane


def test_without_faults_activation_or_late_joins_nothing_is_emulated() -> None:
    assert not scenario_from_dict(base()).emulates_control_plane
    assert scenario_from_dict(base(activation={"enabled": True})).emulates_control_plane
    late = base(onus=[{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 1.0, "join_at_s": 0.2}])
    assert scenario_from_dict(late).emulates_control_plane


# ============================================================================ bad faults
@pytest.mark.parametrize(
    ("faults", "where", "fragment"),
    [
        (
            [{"at_s": 0.1, "kind": "onu-power", "onu": 99, "power": "off"}],
            "faults[0].onu",
            "no ONU with id 99; ids are 1..8",
        ),
        ([{"at_s": 1.0, "kind": "fibre-cut"}], "faults[0].at_s", "< duration_s (1 s)"),
        (
            [{"at_s": 0.1, "kind": "onu-down", "onu": 1}],
            "faults[0].kind",
            "fibre-cut, restore, onu-power, rogue-onu, splitter-loss",
        ),
        ([{"at_s": 0.1, "kind": "rogue-onu"}], "faults[0].onu", "needs the ONU-ID"),
        (
            [{"at_s": 0.1, "kind": "onu-power", "onu": 1}],
            "faults[0].power",
            'power = "off" or "on"',
        ),
        (
            [{"at_s": 0.1, "kind": "fibre-cut", "branch": "7"}],
            "faults[0].branch",
            "unknown branch '7'",
        ),
        (
            [{"at_s": 0.1, "kind": "fibre-cut", "branch": "1", "onu": 1}],
            "faults[0].branch",
            "branch or onu",
        ),
        (
            [{"at_s": 0.1, "kind": "splitter-loss", "branch": "1"}],
            "faults[0].extra_db",
            "needs extra_db",
        ),
        (
            [{"at_s": 0.1, "kind": "fibre-cut", "extra_db": 3}],
            "faults[0].extra_db",
            'only for kind "splitter-loss"',
        ),
        (
            [{"at_s": 0.1, "kind": "rogue-onu", "onu": 1, "branch": "1"}],
            "faults[0].branch",
            "use onu, not branch",
        ),
        # the timeline
        ([RESTORE], "faults[0]", "restore without a cut: fibre 'feeder' is not cut at 0.3 s"),
        (
            [CUT, {"at_s": 0.2, "kind": "restore", "branch": "1"}],
            "faults[1]",
            "restore without a cut: fibre '1'",
        ),
        (
            [CUT, {"at_s": 0.2, "kind": "fibre-cut", "branch": "feeder"}],
            "faults[1]",
            "already cut since faults[0]",
        ),
        # time order, not file order: the restore at 0.05 s comes before the cut at 0.1 s
        ([CUT, {"at_s": 0.05, "kind": "restore"}], "faults[1]", "restore without a cut"),
        (
            [{"at_s": 0.1, "kind": "onu-power", "onu": 2, "power": "on"}],
            "faults[0]",
            "ONU 2 is already on",
        ),
        (
            [
                {"at_s": 0.1, "kind": "onu-power", "onu": 2, "power": "off"},
                {"at_s": 0.2, "kind": "onu-power", "onu": 2, "power": "off"},
            ],
            "faults[1]",
            "ONU 2 is already off at 0.2 s",
        ),
        (
            [
                {"at_s": 0.1, "kind": "onu-power", "onu": 2, "power": "off"},
                {"at_s": 0.2, "kind": "rogue-onu", "onu": 2},
            ],
            "faults[1]",
            "ONU 2 is off",
        ),
        (
            [
                {"at_s": 0.1, "kind": "rogue-onu", "onu": 2},
                {"at_s": 0.2, "kind": "rogue-onu", "onu": 2},
            ],
            "faults[1]",
            "already rogue",
        ),
        (
            [
                {"at_s": 0.1, "kind": "fibre-cut", "onu": 2},
                {"at_s": 0.1, "kind": "splitter-loss", "branch": "1.2", "extra_db": 1},
            ],
            "faults[1]",
            "contradicts faults[0]: both hit the same fibre at 0.1 s",
        ),
    ],
)
def test_bad_faults(faults: list[dict[str, Any]], where: str, fragment: str) -> None:
    error = error_of(base(faults))
    assert error.where == where, error
    assert fragment in error.why, error.why


def test_join_at_s_rules() -> None:
    onus = [{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 1.0, "join_at_s": 1.5}]
    error = error_of(base(onus=onus))
    assert error.where == "onus[1].join_at_s" and "< duration_s (1 s)" in error.why
    onus[1]["join_at_s"] = 0.5
    error = error_of(base([{"at_s": 0.2, "kind": "rogue-onu", "onu": 2}], onus=onus))
    assert error.where == "faults[0]" and "not yet joined" in error.why
    error = error_of(
        base([{"at_s": 0.2, "kind": "onu-power", "onu": 2, "power": "off"}], onus=onus)
    )
    assert error.where == "faults[0]" and "ONU 2 joins at 0.5 s" in error.why


def test_epon_refuses_the_control_plane() -> None:
    data = base([CUT], technology="epon-10g")
    data["tree"]["optical_class"] = "PR30"
    error = error_of(data)
    assert error.where == "faults" and "not modelled" in error.why


def test_discovery_period_bounds() -> None:
    error = error_of(base(activation={"discovery_period_ms": 0.5}))
    assert error.where == "activation.discovery_period_ms"


# ============================================================================ ftth validate
def _validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], faults: str) -> tuple[int, str]:
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "f"\ntechnology = "xgs-pon"\nduration_s = 0.5\n'
        "[tree]\nsplitters = [4, 8]\n[onus]\ncount = 8\ndrop_km = [0.5, 1.5]\n" + faults,
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(path)])
    _, err = capsys.readouterr()
    return int(exc.value.code or 0), err


def test_validate_accepts_faults_and_refuses_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (
        '[[faults]]\nat_s = 0.1\nkind = "fibre-cut"\n'
        '[[faults]]\nat_s = 0.3\nkind = "restore"\nbranch = "feeder"\n'
    )
    code, err = _validate(tmp_path, capsys, good)
    assert code == 0, err
    for faults, where in (
        ('[[faults]]\nat_s = 0.3\nkind = "restore"\n', "faults[0]"),
        ('[[faults]]\nat_s = 0.1\nkind = "fibre-cut"\nbranch = "9.1"\n', "faults[0].branch"),
        ('[[faults]]\nat_s = 0.1\nkind = "rogue-onu"\nonu = 42\n', "faults[0].onu"),
        ('[[faults]]\nat_s = 0.7\nkind = "fibre-cut"\n', "faults[0].at_s"),
        (
            '[[faults]]\nat_s = 0.1\nkind = "fibre-cut"\n[[faults]]\nat_s = 0.1\n'
            'kind = "restore"\n',
            "faults[1]",
        ),
    ):
        code, err = _validate(tmp_path, capsys, faults)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {where}: "), err
        assert "Traceback" not in err


def test_validate_summary_names_activation_and_faults() -> None:
    from ftth.scenario import summary_rows

    onus = [{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 1.0, "join_at_s": 0.2}]
    rows = dict(summary_rows(scenario_from_dict(base([CUT, RESTORE], onus=onus))))
    assert rows["activation"] == "ONUs start in O5, 1 join(s) later, discovery every 100 ms"
    assert rows["faults"] == "fibre-cut@0.1s, restore@0.3s"
    assert "activation" not in dict(summary_rows(scenario_from_dict(base())))
