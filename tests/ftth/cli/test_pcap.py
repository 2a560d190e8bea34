"""``ftth pcap`` and the capture options of ``ftth run``: bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.ftth.capture.scenarios import XGS_TOML, write

EPON_TOML = """
name = "epon-small"
technology = "epon-1g"
duration_s = 0.004
[tree]
splitters = [16]
optical_class = "PX20"
[onus]
count = 3
drop_km = 1.0
[[tconts]]
name = "data"
type = 4
max_bps = 1e9
traffic = { model = "poisson", rate_bps = 50e6 }
[[downstream]]
name = "data"
priority = 0
traffic = { model = "poisson", rate_bps = 50e6 }
"""


def bad(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_cli(capsys, *args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_dissector_prints_the_shipped_lua_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "pcap", "dissector")
    path = Path(out.strip())
    assert code == 0 and path.name == "ftth_tc.lua" and path.is_file()
    assert 'DissectorTable.get("wtap_encap")' in path.read_text()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--pcap-uni", "{tmp}/u.pcap", "--pcap-frames", "0"), "--pcap-frames: must be at least 1"),
        (("--pcap-uni", "{tmp}/u.pcap", "--pcap-onus", "99"), "--pcap-onus: no ONU with ID 99"),
        (("--pcap-uni", "{tmp}/u.pcap", "--pcap-onus", "a,b"), "--pcap-onus: expected ONU-IDs"),
        (
            (
                "--pcap-frames",
                "3",
            ),
            "--pcap-frames: limits a capture",
        ),
        (("--pcap-uni", "{tmp}/same.pcap", "--pcap-tc", "{tmp}/same.pcap"), "name two files"),
        (("--pcap-tc", "{tmp}"), "is a directory"),
    ],
)
def test_bad_capture_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    scenario = write(tmp_path, XGS_TOML)
    line = bad(capsys, "run", str(scenario), "-q", *(a.format(tmp=tmp_path) for a in args))
    assert words in line
    assert not list(tmp_path.glob("*.pcap"))


def test_unwritable_capture_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = write(tmp_path, XGS_TOML)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = bad(capsys, "run", str(scenario), "-q", "--pcap-uni", str(blocker / "uni.pcap"))
    assert line.startswith("error: --pcap-uni")


def test_epon_has_no_tc_capture_but_a_uni_capture(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = write(tmp_path, EPON_TOML)
    line = bad(capsys, "run", str(scenario), "-q", "--pcap-tc", str(tmp_path / "tc.pcap"))
    assert "--pcap-tc" in line and "EPON" in line
    code, _, err = run_cli(
        capsys, "run", str(scenario), "-q", "--json", str(tmp_path / "r.json"),
        "--pcap-uni", str(tmp_path / "uni.pcap"),
    )  # fmt: skip
    assert code in (0, 1), err
    data = json.loads((tmp_path / "r.json").read_text())
    delivered = sum(
        data[d]["conservation"]["delivered_packets"] for d in ("upstream", "downstream")
    )
    assert data["captures"]["uni"]["packets"] == delivered > 0
    code, out, _ = run_cli(capsys, "pcap", "show", str(tmp_path / "uni.pcap"), "--json")
    assert code == 0 and json.loads(out)["packets"] == delivered


def test_show_counts_a_tc_capture(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = write(tmp_path, XGS_TOML)
    code, _, err = run_cli(
        capsys, "run", str(scenario), "-q", "--json", str(tmp_path / "r.json"),
        "--pcap-tc", str(tmp_path / "tc.pcap"), "--pcap-frames", "5",
    )  # fmt: skip
    assert code in (0, 1), err
    reported = json.loads((tmp_path / "r.json").read_text())["captures"]["tc"]
    code, out, _ = run_cli(capsys, "pcap", "show", str(tmp_path / "tc.pcap"), "--json")
    shown = json.loads(out)
    assert code == 0 and shown["downstream_frames"] == 5 == reported["frames"]
    for key in ("upstream_bursts", "allocations", "dbru", "upstream_xgem_frames"):
        assert shown[key] == reported[key]
    line = bad(capsys, "pcap", "show", str(tmp_path / "nothing.pcap"))
    assert "no such file" in line
