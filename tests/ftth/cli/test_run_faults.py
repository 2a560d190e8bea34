"""``ftth run`` with ``[[faults]]`` end to end (issue 12): the control plane decides, every
engine obeys, the results say what happened.

Checks are exact where the figures are integers (the ledger, lost bytes against their
parts); the rogue case compares the other ONUs' throughput in a measuring window that starts
after the isolation with what they were offered (the household rule's 95 %).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftth.cli import main
from tests.scenarios import FAULT_TREE

TREE = FAULT_TREE


def run_json(
    capsys: pytest.CaptureFixture[str], tmp: Path, toml: str, *args: str
) -> tuple[int, dict[str, Any]]:
    scenario = tmp / "s.toml"
    scenario.write_text(toml, encoding="utf-8")
    out = tmp / "out.json"
    with pytest.raises(SystemExit) as exc:
        main(["run", "-q", "--json", str(out), *args, str(scenario)])
    _, err = capsys.readouterr()
    code = int(exc.value.code or 0)
    assert code in (0, 1), err
    return code, json.loads(out.read_text())


def balanced(section: dict[str, Any]) -> bool:
    return bool(
        section["offered_bytes"]
        == section["delivered_bytes"]
        + section["queued_bytes"]
        + section["dropped_bytes"]
        + section["lost_bytes"]
        and section["offered_packets"]
        == section["delivered_packets"]
        + section["queued_packets"]
        + section["dropped_packets"]
        + section["lost_packets"]
    )


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_feeder_cut_and_restore(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, engine: str
) -> None:
    toml = (
        'name = "cut"\ntechnology = "xgs-pon"\nduration_s = 0.5\nseed = 3\n'
        + TREE
        + '\n[[faults]]\nat_s = 0.1\nkind = "fibre-cut"\n'
        + '\n[[faults]]\nat_s = 0.3\nkind = "restore"\n'
    )
    _, data = run_json(capsys, tmp_path, toml, "--engine", engine)
    for section in (data["upstream"]["conservation"], data["downstream"]["conservation"]):
        assert balanced(section)
        assert section["lost_bytes"] > 0
    assert data["verdict"]["rules"][0]["name"] == "ledger"
    assert data["verdict"]["rules"][0]["status"] == "pass"
    control = data["control"]
    kinds = {e["kind"] for e in control["events"]}
    assert "fault" in kinds
    lost = data["conservation"]["lost_bytes"]
    assert sum(o["lost_bytes"] for o in control["onus"]) == lost
    assert sum(h["lost_bytes"] for h in data["households"]) == lost
    for onu in control["onus"]:
        # Down from the cut at least until the restore, then re-activated.
        assert onu["outage_s"] >= 0.2
        assert onu["reactivation_s"] is not None and onu["reactivation_s"] > 0
        assert onu["outages"] == 1
        assert onu["lost_bytes"] > 0
        # The OLT lost its bursts (LOBi); it re-activated (its PLOAM exchange counted).
        assert onu["pm"]["lobi"] >= 1
        assert onu["pm"]["ploam_messages"] >= 4
    assert control["us_quiet_line_bytes"] > 0


def test_fast_and_reference_agree_through_faults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    toml = (
        'name = "mix"\ntechnology = "xgs-pon"\nduration_s = 0.06\nseed = 5\n'
        + TREE
        + '\n[[faults]]\nat_s = 0.01\nkind = "rogue-onu"\nonu = 2\n'
        + '\n[[faults]]\nat_s = 0.005\nkind = "splitter-loss"\nbranch = "1.4"\nextra_db = 8\n'
        + '\n[[faults]]\nat_s = 0.02\nkind = "onu-power"\nonu = 3\npower = "off"\n'
    )
    (tmp_path / "f").mkdir()
    (tmp_path / "r").mkdir()
    _, fast = run_json(capsys, tmp_path / "f", toml, "--engine", "fast")
    _, ref = run_json(capsys, tmp_path / "r", toml, "--engine", "reference")
    for key in ("upstream", "downstream", "conservation", "households", "control"):
        assert fast[key] == ref[key], key


def test_rogue_onu_is_isolated_and_the_others_recover(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    toml = (
        'name = "rogue"\ntechnology = "xgs-pon"\nduration_s = 0.3\nwarmup_s = 0.1\nseed = 3\n'
        + TREE
        + '\n[[faults]]\nat_s = 0.05\nkind = "rogue-onu"\nonu = 2\n'
    )
    _, data = run_json(capsys, tmp_path, toml)
    control = data["control"]
    detected = [e for e in control["events"] if e["kind"] == "rogue-detected"]
    isolated = [e for e in control["events"] if e["kind"] == "rogue-isolated"]
    assert detected and isolated
    assert 0.05 <= detected[0]["time_s"] < 0.1
    onus = {o["onu_id"]: o for o in control["onus"]}
    # The rogue's bursts were corrupted, every ONU's while it transmitted.
    assert all(o["pm"]["upstream"]["fec_uncorrectable_codewords"] > 0 for o in onus.values())
    assert onus[2]["down_s"]["link-down"] > 0.1  # isolated until the end
    assert [r["onu_id"] for r in control["rogues"]] == [2]
    detection = control["rogues"][0]["detection_s"]
    assert detection is not None and 0 < detection < 0.05  # time to detection reported
    # After the isolation (the window starts at 0.1 s) the other ONUs get what they ask.
    for h in data["households"]:
        if h["onu_id"] == 2:
            assert h["achieved_up_bps"] == 0
        else:
            assert h["achieved_up_bps"] >= 0.95 * h["offered_up_bps"]
            assert h["pass_up"]


def test_negative_margin_from_splitter_loss(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bit errors on ONU 4's branch; the TC capture of frames that lose GEM/XGEM frames is
    written too (it once ended in an internal error, exit 3)."""
    toml = (
        'name = "loss"\ntechnology = "xgs-pon"\nduration_s = 0.05\nseed = 3\n'
        + TREE
        + '\n[[faults]]\nat_s = 0.0\nkind = "splitter-loss"\nbranch = "1.4"\nextra_db = 8\n'
    )
    pcap = tmp_path / "tc.pcap"
    _, data = run_json(capsys, tmp_path, toml, "--pcap-tc", str(pcap), "--pcap-frames", "40")
    assert pcap.stat().st_size > 0
    onus = {o["onu_id"]: o for o in data["control"]["onus"]}
    bad = onus[4]
    assert bad["pm"]["downstream"]["fec_uncorrectable_codewords"] > 0
    assert bad["pm"]["upstream"]["fec_uncorrectable_codewords"] > 0
    assert bad["lost_bytes"] > 0
    for onu_id in (1, 2, 3):
        for d in ("upstream", "downstream"):
            assert onus[onu_id]["pm"][d]["fec_uncorrectable_codewords"] == 0
            assert onus[onu_id]["pm"][d]["gem_frames_lost"] == 0
        assert onus[onu_id]["lost_bytes"] == 0
    assert balanced(data["conservation"])


def test_a_household_failed_by_a_fault_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """ONU 3 is powered off for the last 0.1 s of the window: its household fails, and its
    ``why`` (quoted by the verdict when it is the first failure) names the outage and its
    cause; the households no fault touched are not marked."""
    toml = (
        'name = "off"\ntechnology = "xgs-pon"\nduration_s = 0.3\nwarmup_s = 0.05\nseed = 3\n'
        + TREE
        + '\n[[faults]]\nat_s = 0.2\nkind = "onu-power"\nonu = 3\npower = "off"\n'
    )
    code, data = run_json(capsys, tmp_path, toml)
    assert code == 1
    rows = {h["onu_id"]: h for h in data["households"]}
    hit = rows[3]
    assert not hit["pass"] and hit["fault_hit"]
    outage = next(o for o in data["control"]["onus"] if o["onu_id"] == 3)["outage_s"]
    assert 0.099 <= outage <= 0.1  # powered off from 0.2 s to the end
    assert f"its ONU was out of service {outage:.6g} s (power-off " in hit["why"]
    for onu_id in (1, 2, 4):
        assert rows[onu_id]["pass"] and not rows[onu_id]["fault_hit"]
        assert "out of service" not in rows[onu_id]["why"]
    household = next(r for r in data["verdict"]["rules"] if r["name"] == "household")
    assert household["failing"] == household["failing_fault_hit"] == 1
    assert "out of service" in household["reasons"][0]


def test_without_faults_households_carry_no_fault_marks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    toml = 'name = "plain"\ntechnology = "xgs-pon"\nduration_s = 0.05\nseed = 3\n' + TREE
    _, data = run_json(capsys, tmp_path, toml)
    assert all("fault_hit" not in h for h in data["households"])
    household = next(r for r in data["verdict"]["rules"] if r["name"] == "household")
    assert "failing_fault_hit" not in household


def test_compact_onus_join_one_after_another(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``[onus] join_at_s = [0.01, 0.04]``: the 4 ONUs join 10 ms apart; each is absent
    until its time and operates after it (its activation through the discovery windows)."""
    toml = (
        'name = "joins"\ntechnology = "xgs-pon"\nduration_s = 0.08\nseed = 3\n'
        + "[activation]\ndiscovery_period_ms = 5\n"
        + TREE.replace("drop_km = [0.5, 1.5]\n", "drop_km = [0.5, 1.5]\njoin_at_s = [0.01, 0.04]\n")
    )
    _, data = run_json(capsys, tmp_path, toml)
    onus = {o["onu_id"]: o for o in data["control"]["onus"]}
    for onu_id, join_s in zip((1, 2, 3, 4), (0.01, 0.02, 0.03, 0.04), strict=True):
        assert onus[onu_id]["down_s"]["not-yet-joined"] == pytest.approx(join_s, abs=125e-6)
        assert onus[onu_id]["activated_s"] > join_s
    assert balanced(data["conservation"])
