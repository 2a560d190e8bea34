"""``ftth frame`` and ``ftth profiles --overheads``, run in-process through ftth.cli.main."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import pytest

from ftth.cli import main
from ftth.phy import PROFILES, saturation_goodput_bps
from ftth.scenario import load_scenario


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``ftth ARGS``; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


def test_default_scenario_json_adds_up_to_the_frame_and_the_ceiling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "frame", "--json", "-")
    assert code == 0
    assert run(capsys, "frame", "--json", "-")[1] == out  # deterministic, byte for byte
    data = json.loads(out)
    sc = load_scenario(None, [])
    profile = sc.profile
    assert data["technology"] == profile.name
    frames = {"downstream": profile.ds_bytes_per_frame, "upstream": profile.us_bytes_per_frame}
    for direction in ("downstream", "upstream"):
        anatomy = data[direction]
        assert anatomy["onus"] == sc.n_onus
        assert sum(Fraction(p["bytes_exact"]) for p in anatomy["parts"]) == frames[direction]
        # The scenario's capacity is the same analytic ceiling (same ONUs, same FEC).
        assert anatomy["goodput_bps"] == pytest.approx(sc.capacity_bps(direction), rel=1e-12)
        kinds = {p["kind"] for p in anatomy["parts"]}
        assert {"encap", "payload"} <= kinds


def test_text_tables_name_every_overhead(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "frame", "--onus", "8")
    assert code == 0
    for name in (
        "PSBd",
        "BWmap",
        "PLOAMd",
        "XGEM headers",
        "FEC parity",
        "preamble",
        "guard time",
        "delimiter",
        "burst header",
        "burst trailer",
        "DBRu",
    ):
        assert name in out
    ceiling = saturation_goodput_bps(PROFILES["xgs-pon"], "upstream", 8)
    assert f"{ceiling / 1e9:.4f} Gb/s" in out


def test_gpon_seed_csv_with_dbru(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "frame.csv"
    code, _, _ = run(capsys, "frame", "rural-2015-4mbps", "--dbru", "--csv", str(target), "-q")
    assert code == 0
    with target.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    gpon = PROFILES["gpon"]
    for direction, frame in (
        ("downstream", gpon.ds_bytes_per_frame),
        ("upstream", gpon.us_bytes_per_frame),
    ):
        parts = [row for row in rows if row["direction"] == direction]
        assert sum(Fraction(row["bytes"]) for row in parts) == frame
        good = sum(Fraction(row["bytes"]) for row in parts if row["kind"] == "payload")
        expected = saturation_goodput_bps(gpon, direction, 16, dbru=direction == "upstream")
        assert float(good * 8 * 8000) == pytest.approx(expected, rel=1e-12)
    dbru = [row for row in rows if row["kind"] == "dbru"]
    assert Fraction(dbru[0]["bytes"]) == 16 * gpon.dbru_bytes


def test_epon_is_a_stream_and_a_polling_cycle(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "frame", "--set", 'technology="epon-10g"', "--onus", "16", "--json", "-"
    )
    assert code == 0, out
    data = json.loads(out)
    for direction in ("downstream", "upstream"):
        anatomy = data[direction]
        total = sum(Fraction(p["bytes_exact"]) for p in anatomy["parts"])
        assert float(total) == pytest.approx(anatomy["frame_bytes"], rel=1e-12)
        expected = saturation_goodput_bps(PROFILES["epon-10g"], direction, 16)
        assert anatomy["goodput_bps"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("--onus", "0"), "--onus"),
        (("--onus", "257"), "--onus"),  # beyond XGS-PON's 1:256
        (("--packet-bytes", "10"), "--packet-bytes"),
        (("--csv", "{tmp}"), "--csv"),
        (("--set", 'technology="epon-1g"', "--dbru"), "--dbru"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], where: str
) -> None:
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    code, out, err = run(capsys, "frame", *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {where}")


# --------------------------------------------------------------------------- profiles --overheads
def test_profiles_overheads_json_goodput_is_the_ceiling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "profiles", "--overheads", "--json")
    assert code == 0
    for row in json.loads(out):
        for direction in ("downstream", "upstream"):
            anatomy = row["overheads"][direction]
            assert anatomy["goodput_bps"] == pytest.approx(
                row[f"ceiling_{direction}_bps"], rel=1e-12
            )
            shares = sum(p["share"] for p in anatomy["parts"])
            assert shares == pytest.approx(1.0, abs=1e-12)


def test_profiles_overheads_table_per_technology(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "profiles", "--overheads")
    assert code == 0
    for profile in PROFILES.values():
        assert f"{profile.title}: where the line bytes go" in out
    assert "FEC parity" in out and "preamble" in out and "REPORT" in out
