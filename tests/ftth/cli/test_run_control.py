"""``ftth run --trace-activation`` / ``--events`` and the ``control`` section of the results.

The tables and CSV files are checked here on a control plan computed for a faulty
scenario and attached to the spec of the same tree, and the flags end to end on a plain run
(every ONU operating from t = 0, no events); runs of faulty scenarios end to end are in
test_run_faults.py.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ftth.cli import main
from ftth.emulator.build import build_spec
from ftth.emulator.control import control_plan
from ftth.emulator.result import control_section
from ftth.report import activation_table, events_table, write_control_csv
from ftth.scenario import scenario_from_dict

REPO = Path(__file__).resolve().parents[3]
DEFAULT = REPO / "seeds" / "urban-2020-100mbps.toml"


def tree(**top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "c",
        "technology": "xgs-pon",
        "duration_s": 0.5,
        "tree": {"splitters": [4, 8]},
        "onus": {"count": 8, "drop_km": [0, 20]},
        "activation": {"discovery_period_ms": 10},
    }
    data.update(top)
    return data


def faulty_data() -> dict[str, Any]:
    plain = scenario_from_dict(tree())
    faulty = scenario_from_dict(
        tree(faults=[{"at_s": 0.1, "kind": "fibre-cut"}, {"at_s": 0.3, "kind": "restore"}])
    )
    spec = dataclasses.replace(build_spec(plain), control=control_plan(faulty))
    return {"control": control_section(spec)}


def render(renderable: Any) -> str:
    console = Console(record=True, width=160)
    console.print(renderable)
    return console.export_text()


def test_control_section_of_a_cut_and_restore() -> None:
    control = faulty_data()["control"]
    assert control["emulated"]
    assert control["quiet_s"] > 0
    for row in control["onus"]:
        assert row["activated_s"] == 0.0  # pre-activated
        assert row["outages"] == 1
        # down from the cut (frame 800) until back in operation after the restore
        assert 0.2 < row["outage_s"] < 0.3
        assert row["reactivation_s"] is not None and 0 < row["reactivation_s"] < 0.15
        assert row["down_s"]["link-down"] == pytest.approx(0.2)
    kinds = {e["kind"] for e in control["events"]}
    assert {"fault", "LODS", "LOBi", "LOS", "LOS-cleared", "sn-window", "ranging"} <= kinds
    times = [e["time_s"] for e in control["events"]]
    assert times == sorted(times)
    assert any(r["from"] == "O6" and r["to"] == "O1.1" for r in control["states"])


def test_tables_and_csv(tmp_path: Path) -> None:
    data = faulty_data()
    trace = render(activation_table(data))
    assert "O5" in trace and "O6" in trace and "to2-expired" in trace
    assert "re-activation (ms)" in trace
    timeline = render(events_table(data))
    assert "fibre-cut of feeder" in timeline and "LOBi" in timeline
    paths = write_control_csv(data, tmp_path, trace=True, events=True)
    assert [p.name for p in paths] == ["activation.csv", "events.csv"]
    with (tmp_path / "activation.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"time_s", "onu_id", "from", "to", "trigger"}
    assert len(rows) == len(data["control"]["states"])
    with (tmp_path / "events.csv").open(newline="") as fh:
        events = list(csv.DictReader(fh))
    assert len(events) == len(data["control"]["events"])
    assert events[0]["kind"] == "fault" and events[0]["onu_id"] == ""


def test_flags_on_a_plain_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "run",
                str(DEFAULT),
                "-q",
                "--duration",
                "0.01",
                "--json",
                str(out),
                "--csv",
                str(tmp_path / "csv"),
                "--trace-activation",
                "--events",
            ]
        )
    stdout, err = capsys.readouterr()
    assert exc.value.code in (0, 1, None), err
    assert "activation not emulated" in stdout and "Control-plane events" in stdout
    data = json.loads(out.read_text())
    assert data["control"]["emulated"] is False
    assert data["control"]["events"] == [] and data["control"]["quiet_s"] == 0.0
    assert all(row["activated_s"] == 0.0 for row in data["control"]["onus"])
    assert (tmp_path / "csv" / "events.csv").read_text().startswith("time_s,onu_id,kind,detail")
    assert (tmp_path / "csv" / "activation.csv").exists()


def test_rogue_detection_time_is_reported() -> None:
    plain = scenario_from_dict(tree())
    rogue = scenario_from_dict(tree(faults=[{"at_s": 0.1, "kind": "rogue-onu", "onu": 4}]))
    spec = dataclasses.replace(build_spec(plain), control=control_plan(rogue))
    (row,) = control_section(spec)["rogues"]
    # 8 corrupted frames to detect (1 ms), then 3 probes of 2 frames (8 active ONUs)
    assert row == {
        "onu_id": 4,
        "started_s": 0.1,
        "detection_s": pytest.approx(0.001),
        "isolation_s": pytest.approx(0.00175),
        "corrupted_frames": 14,
    }
