"""``ftth dba-check``: the battery on sr-dba (the whole quick battery: it passes every
criterion) and on deliberately broken DBAs (each fails exactly the criteria it breaks), the
card's numbers against ``ftth run --json`` on the scenario the card writes, the built-ins
and the example plugin on the cheap criteria, and the outputs.

The quick battery runs once per module (one process, ``jobs=1``: the test DBAs are
registered in this process only).  ``speed`` is machine-dependent: it is checked for being
a positive number, never for its verdict.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.cli import main
from ftth.dbacheck import battery, drive, report
from ftth.dbacheck import scenarios as sc
from ftth.errors import DbaError, InputError
from olt.dba.base import EponDba
from olt.dba.registry import get_dba, list_dbas
from tests.ftth.dbacheck.broken_dbas import (
    OverMaxDba,
    RuleBreakerDba,
    StarveType2Dba,
    WastefulDba,
    registered,
)

REPO = Path(__file__).resolve().parents[3]
PLUGIN_DIR = REPO / "tests" / "plugins" / "ftth-example-dba"
TECH = "xgs-pon"
BROKEN = ["test-over-max", "test-starve-type2", "test-wasteful"]

#: What each broken DBA breaks, criterion by criterion (see broken_dbas.py).
EXPECTED_FAILS = {
    # Above R_M: both ceiling criteria, nothing else.
    "test-over-max": {"ceiling-run", "ceiling-grant"},
    # No grant to type 2: everything that judges a type-2 T-CONT, and the load sweep's
    # carried share (its type-2 calls are part of the offered load, never carried).
    "test-starve-type2": {
        "assured",
        "carried-95",
        "restore",
        "delay-guaranteed",
        "slow-rate",
        "voice-delay",
        "overload-assured",
    },
    # 40 % of the frame idle under best-effort demand: work conservation and its delay.
    "test-wasteful": {"carried-95", "delay-be"},
}


def failed(card: battery.Card, dba: str) -> set[str]:
    return {r["id"] for r in card.results[dba] if r["status"] == "FAIL" and r["id"] != "speed"}


@pytest.fixture(scope="module")
def card() -> Iterator[battery.Card]:
    with registered(OverMaxDba, StarveType2Dba, WastefulDba):
        yield battery.check(["sr-dba", *BROKEN], TECH, quick=True, jobs=1)


def test_sr_dba_passes_the_whole_battery(card: battery.Card) -> None:
    rows = {r["id"]: r for r in card.results["sr-dba"]}
    assert list(rows) == [c.id for c in battery.CRITERIA]  # every criterion ran
    assert failed(card, "sr-dba") == set(), rows
    assert rows["speed"]["value"] > 0
    # Type 1 gets R_F within the allowance (G.983.4: granted even when idle).
    assert rows["fixed"]["value"] <= rows["fixed"]["threshold"]
    assert not card.breaks_rules["sr-dba"] and not card.crashed["sr-dba"]


@pytest.mark.parametrize("dba", BROKEN)
def test_broken_dba_fails_exactly_what_it_breaks(card: battery.Card, dba: str) -> None:
    assert failed(card, dba) == EXPECTED_FAILS[dba]
    assert not card.breaks_rules[dba]  # wrong, but every BWmap is valid
    assert card.exit_code == 1


def test_over_max_exceeds_the_ceiling_by_more_than_the_allowance(card: battery.Card) -> None:
    row = next(r for r in card.results["test-over-max"] if r["id"] == "ceiling-run")
    # Half a ceiling more whenever the frame has room: well above 1 + allowance.
    assert row["value"] > 1.2 and row["threshold"] < 1.01


def test_numbers_match_ftth_run_json(
    card: battery.Card, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fairness number of the card = the one computed from ``ftth run FILE --json`` on
    the scenario ``--save-scenarios`` writes (and the same for the ceilings of over-max)."""
    files = report.save_scenarios(card, tmp_path / "scen")
    for dba, label, cid in (("sr-dba", "fairness", "fairness"),
                            ("test-over-max", "ceilings", "ceiling-run")):  # fmt: skip
        path = tmp_path / "scen" / f"{dba}--{label}.toml"
        assert path in files
        out = tmp_path / f"{dba}-{label}.json"
        with registered(OverMaxDba), pytest.raises(SystemExit):
            main(["run", str(path), "--json", str(out), "--quiet"])
        capsys.readouterr()
        data = json.loads(out.read_text())
        scen = tomllib.loads(path.read_text())
        m = battery.measure(cid, {label: {"json": data}}, {label: scen})
        row = next(r for r in card.results[dba] if r["id"] == cid)
        assert m.value == row["value"], (dba, cid)


def test_outputs(card: battery.Card, tmp_path: Path) -> None:
    data = json.loads(report.card_json(card))
    assert data["dbas"] == ["sr-dba", *BROKEN] and data["exit_status"] == 1
    assert {c["id"] for c in data["criteria"]} == set(battery.BY_ID)
    assert all(c["source"] for c in data["criteria"])
    # Without wall-clock numbers the document is a function of the scenarios alone.
    assert "speed" not in json.dumps(card.to_dict(include_wall_clock=False)["criteria"])
    paths = report.write_plots(card, tmp_path / "plots")
    assert {p.name for p in paths} == set(
        f"{s}{e}" for s in report.plot_stems(TECH) for e in (".png", ".svg")
    )
    md = report.report(card, tmp_path / "plots", tmp_path / "card.md")
    assert "| criterion |" in md and "plots/dba-check-delay-xgs-pon.png" in md
    fails = sum(r["status"] == "FAIL" for d in card.dbas for r in card.results[d])
    assert fails >= sum(len(v) for v in EXPECTED_FAILS.values())
    # One **FAIL** per failed criterion, and one per failed card in the status row.
    assert md.count("**FAIL**") == fails + sum(card.status(d) == "FAIL" for d in card.dbas)


# ---------------------------------------------------------------------------- cheap criteria
CHEAP = ("bwmap", "ceiling-grant", "fairness")


def frame_dbas() -> list[str]:
    return [n for n in list_dbas() if not issubclass(get_dba(n), EponDba)]


@pytest.mark.parametrize("dba", frame_dbas())
def test_every_builtin_keeps_the_bwmap_rules(dba: str) -> None:
    card = battery.check([dba], TECH, quick=True, jobs=1, only=CHEAP)
    rows = {r["id"]: r for r in card.results[dba]}
    assert rows["bwmap"]["status"] == "PASS", rows["bwmap"]["detail"]
    assert rows["fairness"]["status"] == "PASS"  # every built-in shares equal BE equally
    assert card.exit_code in (0, 1)


def test_example_plugin() -> None:
    sys.path.insert(0, str(PLUGIN_DIR))
    try:
        from ftth_example_dba import EqualShareDba, EqualShareKernelDba  # type: ignore
    finally:
        sys.path.remove(str(PLUGIN_DIR))
    with registered(EqualShareDba, EqualShareKernelDba):
        card = battery.check(
            ["equal-share", "equal-share-kernel"], TECH, quick=True, jobs=1, only=CHEAP
        )
    assert card.exit_code in (0, 1)
    for d in card.dbas:
        assert not card.breaks_rules[d]
    # Both forms are one DBA: the same numbers.
    values = [[r["value"] for r in card.results[d] if r["id"] != "speed"] for d in card.dbas]
    assert values[0] == values[1]


def test_rule_breaker_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with registered(RuleBreakerDba), pytest.raises(SystemExit) as exc:
        main(["dba-check", "test-rule-breaker", "--quick", "--jobs", "1",
              "--json", str(tmp_path / "c.json"), "--markdown", str(tmp_path / "c.md"),
              "--plots", str(tmp_path / "plots"),
              "--save-scenarios", str(tmp_path / "s")])  # fmt: skip
    assert exc.value.code == 3
    assert "BREAKS RULES" in (tmp_path / "c.md").read_text()
    assert (tmp_path / "plots" / "dba-check-delay-xgs-pon.png").is_file()
    assert (tmp_path / "s" / "test-rule-breaker--fixed.toml").is_file()
    data = json.loads((tmp_path / "c.json").read_text())
    card = data["cards"]["test-rule-breaker"]
    assert card["breaks_rules"] and card["status"] == "BREAKS RULES"
    bwmap = next(r for r in card["criteria"] if r["id"] == "bwmap")
    assert (
        bwmap["status"] == "FAIL"
        and "GrantSize" in bwmap["detail"]
        or "overflow" in bwmap["detail"]
    )
    capsys.readouterr()


# ---------------------------------------------------------------------------- input
@pytest.mark.parametrize(
    "args,where",
    [
        (["no-such-dba"], "DBA"),
        (["sr-dba", "--tech", "epon-10g"], "DBA"),
        (["sr-dba", "--tech", "vdsl"], "--tech"),
        (["ipact"], "DBA"),
        (["sr-dba,sr-dba"], "DBA"),
        (["sr-dba", "--jobs", "0"], "--jobs"),
    ],
)
def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str], args: list[str], where: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["dba-check", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2
    assert len(err) == 1 and err[0].startswith(f"error: {where}:"), err


def test_same_card_twice() -> None:
    """Same DBA, same criteria: the same document (the machine-dependent speed aside)."""
    a, b = (
        battery.check(["max-min"], "gpon", quick=True, jobs=1, only=("fairness", "bwmap"))
        for _ in range(2)
    )
    assert json.dumps(a.to_dict(False)) == json.dumps(b.to_dict(False))


def test_epon_polling_dba_gets_the_criteria_that_apply() -> None:
    card = battery.check(["polling"], "epon-10g", quick=True, jobs=1, only=("fairness", "bwmap"))
    rows = {r["id"]: r for r in card.results["polling"]}
    assert rows["bwmap"]["status"] == "N/A"  # no BWmap in EPON
    assert rows["fairness"]["status"] == "PASS"  # exhaustive polling serves equals equally


def test_parse_dbas() -> None:
    assert battery.parse_dbas("sr-dba, ebu", "gpon") == ["sr-dba", "ebu"]
    with pytest.raises(InputError):
        battery.parse_dbas("", "gpon")


@pytest.mark.parametrize("tech", battery.FRAMED)
def test_scenarios_round_trip_through_toml(tech: str) -> None:
    from ftth.scenario import scenario_from_dict

    for label, s in sc.build_all(tech, "sr-dba", False, True).items():
        back = tomllib.loads(sc.to_toml(s))
        assert back == s, label
        scenario_from_dict(back)  # valid for ftth run


def test_jain() -> None:
    assert battery.jain([1.0, 1.0, 1.0]) == 1.0
    assert battery.jain([1.0, 0.0]) == pytest.approx(0.5)  # one of two served: 1/n


# ---------------------------------------------------------------------------- the fuzz checker
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_check_frames_accepts_sr_dba_and_refuses_the_rule_breaker(data: st.DataObject) -> None:
    """The frame checker of the fuzz (drive.check_frames) on hypothesis-drawn PONs and
    reports: every frame of sr-dba is built, the rule breaker's first frame is refused."""
    from olt.bwmap import BwmapBuilder
    from tests.olt.dba.helpers import make_ctx, make_reports, report_rounds, tcont_tables

    tech, table, cycle, fec = data.draw(tcont_tables(max_onus=8))
    ctx = make_ctx(tech, table, fec=fec, cycle=cycle)
    builder = BwmapBuilder(ctx.profile, ctx.fec, table, "sr-dba")
    good = get_dba("sr-dba")(ctx, {})
    bad = RuleBreakerDba(ctx, {})
    for k, (demand, poll, idle, granted, age) in enumerate(
        data.draw(report_rounds(table.count, ctx.frame_line_bytes, 3))
    ):
        rep = make_reports(
            demand, poll, idle=idle, granted_last=granted, age_ps=age, frame=k * cycle
        )
        g = good.allocate(k * cycle * ctx.frame_ps, rep)
        assert drive.check_frames(builder, g, k * cycle, cycle, poll, True) == cycle
        with pytest.raises(DbaError):
            drive.check_frames(builder, bad.allocate(0, rep), k * cycle, cycle, poll, True)
