"""The real tshark (Debian package ``tshark``) decodes both captures of ``ftth run`` — the
TC capture through the shipped Lua dissector — and finds the counts the run's JSON reports.

Skipped only when tshark is not installed (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ftth.capture import dissector_path
from ftth.cli import main
from tests.ftth.capture.scenarios import GPON_TOML, XGS_TOML, write

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


def tshark(*args: str) -> str:
    assert TSHARK is not None
    done = subprocess.run(
        [TSHARK, "-n", "-X", f"lua_script:{dissector_path()}", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Lua" not in done.stderr, done.stderr  # a dissector error is reported there
    return done.stdout


def run(tmp_path: Path, text: str, *extra: str) -> dict:
    scenario = write(tmp_path, text)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(scenario), "-q", "--json", str(tmp_path / "r.json"),
              "--pcap-uni", str(tmp_path / "uni.pcap"), "--pcap-tc", str(tmp_path / "tc.pcap"),
              *extra])  # fmt: skip
    assert exc.value.code in (0, 1, None)
    return json.loads((tmp_path / "r.json").read_text())


def count_fields(path: Path, *fields: str) -> list[list[int]]:
    """Per record, how many times each field occurs (tshark -T fields, all occurrences)."""
    args = ["-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        args += ["-e", f]
    rows = []
    for line in tshark(*args).splitlines():
        cols = line.split("\t")
        rows.append([len([v for v in c.split(",") if v]) for c in cols])
    return rows


@pytest.mark.parametrize("text", [XGS_TOML, GPON_TOML], ids=["xgs-pon", "gpon"])
def test_tshark_finds_the_counts_the_json_reports(tmp_path: Path, text: str) -> None:
    data = run(tmp_path, text)
    tc, uni = data["captures"]["tc"], data["captures"]["uni"]
    rows = count_fields(
        tmp_path / "tc.pcap", "ftth.frame", "ftth.ds.psync", "ftth.alloc.alloc_id",
        "ftth.xgem.pli", "ftth.dbru.bytes",
    )  # fmt: skip
    down = [r for r in rows if r[1]]
    up = [r for r in rows if not r[1]]
    assert len(down) == tc["downstream_frames"] == data["frames"]
    assert len(up) == tc["upstream_bursts"]
    assert sum(r[2] for r in down) == tc["allocations"]
    assert sum(r[2] for r in up) == tc["allocations"]  # every allocation is in one burst
    assert sum(r[3] for r in down) == tc["downstream_xgem_frames"]
    assert sum(r[3] for r in up) == tc["upstream_xgem_frames"]
    assert sum(r[4] for r in up) == tc["dbru"]
    # The UNI capture of every household over the whole run: the ledger's delivered frames.
    delivered = sum(
        data[d]["conservation"]["delivered_packets"] for d in ("upstream", "downstream")
    )
    lines = tshark("-r", str(tmp_path / "uni.pcap"), "-T", "fields", "-e", "udp.length").split()
    assert len(lines) == uni["packets"] == delivered
    # -V shows the fields by name.
    text_v = tshark("-r", str(tmp_path / "tc.pcap"), "-V", "-c", "40")
    for words in ("Alloc-ID:", "StartTime:", "GrantSize:", "DBRu requested:", "PLI:", "Port-ID:"):
        assert words in text_v


def test_tshark_on_a_limited_capture(tmp_path: Path) -> None:
    """--pcap-onus and --pcap-frames: only those bursts, only those frames."""
    data = run(tmp_path, XGS_TOML, "--pcap-onus", "2,4", "--pcap-frames", "7")
    tc = data["captures"]["tc"]
    rows = count_fields(tmp_path / "tc.pcap", "ftth.frame", "ftth.ds.psync", "ftth.onu_id")
    frames = tshark("-r", str(tmp_path / "tc.pcap"), "-T", "fields", "-e", "ftth.frame").split()
    assert {int(f) for f in frames} == set(range(7))
    onus = tshark("-r", str(tmp_path / "tc.pcap"), "-Y", "ftth.direction == 1", "-T",
                  "fields", "-e", "ftth.onu_id").split()  # fmt: skip
    assert set(onus) <= {"2", "4"} and len(onus) == tc["upstream_bursts"] > 0
    assert sum(1 for r in rows if r[1]) == 7
    uni = tshark("-r", str(tmp_path / "uni.pcap"), "-T", "fields", "-e", "ip.src", "-e", "ip.dst")
    assert len(uni.splitlines()) == data["captures"]["uni"]["packets"] > 0
