"""``ftth budget``: exit status, table and JSON on small hand-computed scenarios.

Losses are sums of a few decimal figures; ``abs=1e-9`` dB only absorbs float noise (the
report rounds to 1e-6 dB), so any wrong component (≥ 0.05 dB) fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftth.cli import main

NOISE_DB = 1e-9
ONU_KEYS = {
    "onu_id",
    "distance_km",
    "rtt_us",
    "eqd_us",
    "loss_down_db",
    "loss_up_db",
    "margin_db",
    "verdict",
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``ftth ARGS``; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


def scenario_file(
    folder: Path,
    technology: str,
    splitters: list[int],
    feeder_km: float,
    drops_km: list[float],
    connectors: int = 2,
    splices: int = 4,
) -> Path:
    """A minimal scenario with explicit ONUs (ids 1, 2, …)."""
    onus = "".join(
        f"\n[[onus]]\nid = {i}\ndrop_km = {drop}\n" for i, drop in enumerate(drops_km, start=1)
    )
    path = folder / f"{technology}.toml"
    path.write_text(
        f'name = "budget-test"\ntechnology = "{technology}"\n\n[tree]\n'
        f"feeder_km = {feeder_km}\nsplitters = {splitters}\n"
        f"connectors = {connectors}\nsplices = {splices}\n{onus}",
        encoding="utf-8",
    )
    return path


def test_xgs_pon_n1_passes_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # XGS-PON N1 (14–29 dB), 1:32, 10 km feeder, 2 connectors, 4 splices, maximum losses:
    #   up   10 × 0.40 + 17.2 + 2 × 0.5 + 4 × 0.1 = 22.6 dB; + 3 dB margin = 25.6 ≤ 29
    #   down 10 × 0.22 + 17.2 + 1.0 + 0.4        = 20.8 dB ≥ 14
    # ONU 2 at 12 km: up 4.8 + 18.6 = 23.4 dB.
    path = scenario_file(tmp_path, "xgs-pon", [32], 10.0, [0.0, 2.0])
    code, out, _ = run(capsys, "budget", str(path), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["pass"] is True
    assert report["optical_class"] == "N1"
    assert report["teqd_us"] == pytest.approx(235.0, abs=1e-9)
    assert report["differential_km"] == pytest.approx(2.0, abs=1e-9)
    first, second = report["onus"]
    assert set(first) == ONU_KEYS
    assert first["loss_up_db"] == pytest.approx(22.6, abs=NOISE_DB)
    assert first["loss_down_db"] == pytest.approx(20.8, abs=NOISE_DB)
    assert first["margin_db"] == pytest.approx(6.4, abs=NOISE_DB)
    assert first["rtt_us"] == pytest.approx(135.0, abs=1e-9)  # 2 × 50 + 35
    assert first["eqd_us"] == pytest.approx(100.0, abs=1e-9)  # 235 − 135
    assert second["loss_up_db"] == pytest.approx(23.4, abs=NOISE_DB)
    assert second["rtt_us"] + second["eqd_us"] == pytest.approx(235.0, abs=1e-9)


def test_gpon_128_way_20_km_fails_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GPON B+ (13–28 dB), 1:128, 20 km: up 7.0 + 24.5 + 1.0 + 0.4 = 32.9 dB; + 3 > 28.
    path = scenario_file(tmp_path, "gpon", [128], 20.0, [0.0])
    code, out, _ = run(capsys, "budget", str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["pass"] is False
    assert report["failures"] == 1
    onu = report["onus"][0]
    assert onu["loss_up_db"] == pytest.approx(32.9, abs=NOISE_DB)
    assert onu["verdict"] == "over budget"
    # The table shows the same row and a FAIL summary.
    code, out, _ = run(capsys, "budget", str(path))
    assert code == 1
    assert "over budget" in out
    assert "32.90" in out
    assert "FAIL: 1 of 1 ONUs fail (1 over budget)" in out


def test_typical_losses_and_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Same tree with --set tree.feeder_km=5 and typical losses:
    #   up 5 × 0.35 + 23.5 + 2 × 0.3 + 4 × 0.05 = 26.05 dB; + 3 = 29.05 > 28 → still fails,
    # and with --set tree.splitters=[64]: 1.75 + 20.0 + 0.6 + 0.2 = 22.55 dB → passes.
    path = scenario_file(tmp_path, "gpon", [128], 20.0, [0.0])
    code, out, _ = run(
        capsys, "budget", str(path), "--typical", "--json", "--set", "tree.feeder_km=5"
    )
    assert code == 1
    assert json.loads(out)["onus"][0]["loss_up_db"] == pytest.approx(26.05, abs=NOISE_DB)
    code, out, _ = run(
        capsys,
        "budget",
        str(path),
        "--typical",
        "--json",
        "--set",
        "tree.feeder_km=5",
        "--set",
        "tree.splitters=[64]",
    )
    assert code == 0
    report = json.loads(out)
    assert report["worst_case"] is False
    assert report["onus"][0]["loss_up_db"] == pytest.approx(22.55, abs=NOISE_DB)


def test_overload_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GPON B+, 1:8 at 0.5 km, 1 connector, no splice: down 0.125 + 10.8 + 0.5 = 11.425 < 13.
    path = scenario_file(tmp_path, "gpon", [8], 0.5, [0.0], connectors=1, splices=0)
    code, out, _ = run(capsys, "budget", str(path))
    assert code == 1
    assert "overload" in out
    assert "11.43" in out  # downstream loss, 2 decimals


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1:256 is above GPON's 1:128: bad input (exit 2, one line naming the key), not a FAIL.
    path = scenario_file(tmp_path, "gpon", [256], 5.0, [0.0])
    code, out, err = run(capsys, "budget", str(path))
    assert code == 2
    assert err.startswith("error: tree.splitters")
    assert out == ""
    code, _, err = run(capsys, "budget", str(tmp_path / "missing.toml"))
    assert code == 2
    assert "no such file" in err


def test_default_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    from ftth.scenario import default_scenario_path

    if not default_scenario_path().is_file():
        pytest.skip("embedded default scenario not written yet")
    code, out, _ = run(capsys, "budget", "--json")
    report = json.loads(out)
    assert code == (0 if report["pass"] else 1)
    assert all(set(onu) == ONU_KEYS for onu in report["onus"])
    assert all(onu["verdict"] in ("PASS", "overload", "over budget") for onu in report["onus"])
