"""``ftth profiles`` and ``ftth list``, run in-process through :func:`ftth.cli.main`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ftth.cli import info, main
from ftth.phy import PROFILES, saturation_goodput_bps


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``ftth ARGS``; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


# --------------------------------------------------------------------------- ftth profiles
def test_profiles_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "profiles", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [row["name"] for row in rows] == list(PROFILES)
    for row in rows:
        profile = PROFILES[row["name"]]
        assert row["downstream_bps"] == profile.downstream_bps
        assert row["upstream_bps"] == profile.upstream_bps
        # The ceilings must be exactly saturation_goodput_bps at 32 ONUs, 1518 B, default FEC
        # (JSON round-trips a float exactly; rel 1e-12 only guards against repr quirks).
        for direction in ("downstream", "upstream"):
            expected = saturation_goodput_bps(profile, direction, 32, 1518)
            assert row[f"ceiling_{direction}_bps"] == pytest.approx(expected, rel=1e-12)
            assert 0 < row[f"ceiling_{direction}_bps"] < row[f"{direction}_bps"]
        assert row["default_optical_class"] in row["optical_classes"]
        assert row["max_split"] == profile.max_split


def test_profiles_json_gpon_ceiling_is_the_realistic_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GPON upstream, FEC off by default: pon-reference §2 says ≈ 1.21 Gb/s without the
    # per-grant fragment header; the realistic figure is 0.5–1.5 % lower (test_phy bounds it).
    _, out, _ = run(capsys, "profiles", "--json")
    gpon = next(row for row in json.loads(out) if row["name"] == "gpon")
    assert gpon["fec_upstream"] is None
    assert 1.21e9 * 0.985 < gpon["ceiling_upstream_bps"] < 1.21e9 * 0.995


def test_profiles_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "profiles")
    assert code == 0
    for name, profile in PROFILES.items():
        line = next(line for line in out.splitlines() if re.search(rf"\b{re.escape(name)}\b", line))
        ceiling_gbps = saturation_goodput_bps(profile, "upstream", 32, 1518) / 1e9
        assert f"{ceiling_gbps:.3f}" in line


# --------------------------------------------------------------------------- ftth list
def test_list_technologies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "technologies")
    assert code == 0
    assert out.splitlines() == list(PROFILES)
    code, out, _ = run(capsys, "list", "technologies", "--json")
    assert json.loads(out) == list(PROFILES)


def test_list_dbas_matches_registry(capsys: pytest.CaptureFixture[str]) -> None:
    from olt.dba.registry import list_dbas

    try:
        expected = list_dbas()
    except ModuleNotFoundError as exc:  # a built-in DBA module not written yet
        pytest.skip(f"DBA registry incomplete: {exc}")
    assert expected, "the registry should hold at least the built-in DBAs"
    code, out, _ = run(capsys, "list", "dbas")
    assert code == 0
    assert out.splitlines() == expected
    _, out, _ = run(capsys, "list", "dbas", "--json")
    assert json.loads(out) == expected


def test_list_traffic_matches_models(capsys: pytest.CaptureFixture[str]) -> None:
    traffic = pytest.importorskip("ftth.traffic")
    if not hasattr(traffic, "list_models"):
        pytest.skip("ftth.traffic.list_models not written yet")
    expected = list(traffic.list_models())
    code, out, _ = run(capsys, "list", "traffic")
    assert code == 0
    assert out.splitlines() == expected
    _, out, _ = run(capsys, "list", "traffic", "--json")
    assert json.loads(out) == expected


@pytest.fixture
def seed_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "rural-2015.toml").write_text(
        "# Rural village, 4 Mb/s per household (Broadband China 2015)\nname = 'r'\n"
    )
    (tmp_path / "a-bare.toml").write_text("name = 'a'\n# a comment after a key is no title\n")
    (tmp_path / "not-a-seed.txt").write_text("# ignored\n")
    monkeypatch.setattr(info, "seed_dirs", lambda: [tmp_path])
    return tmp_path


def test_list_seeds_text_and_json(capsys: pytest.CaptureFixture[str], seed_folder: Path) -> None:
    code, out, _ = run(capsys, "list", "seeds")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["a-bare", "rural-2015"]
    assert lines[0] == "a-bare"  # no description, no trailing spaces
    assert lines[1].endswith("Rural village, 4 Mb/s per household (Broadband China 2015)")
    _, out, _ = run(capsys, "list", "seeds", "--json")
    assert json.loads(out) == ["a-bare", "rural-2015"]


def test_list_seeds_shipped_with_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    # Whatever seeds exist in the source tree or the package, the listing shows each stem once.
    stems = sorted({p.stem for folder in info.seed_dirs() for p in folder.glob("*.toml")})
    _, out, _ = run(capsys, "list", "seeds", "--json")
    assert json.loads(out) == stems


def test_list_unknown_catalogue_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list", "widgets")
    assert code == 2
    assert "technologies" in err  # the valid choices are shown


# --------------------------------------------------------------------------- start-up cost
HEAVY_MODULES = ("scapy", "matplotlib", "simpy")


def test_cli_import_does_not_pull_heavy_modules() -> None:
    # `ftth --help` imports ftth.cli and every command module; the heavy libraries must wait
    # until a command runs.  -X importtime lists every module imported, one per stderr line.
    code = "import ftth.cli; from ftth.cli import commands"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "ftth.cli.info" in imported  # the parse works and the commands were registered
    assert "ftth.cli.budget" in imported
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY_MODULES)
    assert heavy == []
