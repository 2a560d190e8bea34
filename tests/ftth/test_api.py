"""``ftth.run``: the Python API returns the CLI's document, takes every kind of scenario,
raises :class:`InputError` for bad input, and replays pcap captures packet for packet.

Comparisons are exact: the emulator is deterministic for a scenario and seed, so the API
and the CLI must agree to the byte once the two wall-clock keys are removed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ftth
from ftth.cli import main
from ftth.emulator.result import WALL_CLOCK_KEYS, Result
from ftth.errors import InputError
from ftth.scenario import default_scenario_path, load_scenario

REPO = Path(__file__).resolve().parents[2]
SHORT = ["duration_s=0.02"]  # 160 XGS-PON frames: well under a second


def test_wall_clock_keys_are_the_documented_two() -> None:
    """The keys excluded from every determinism check below are exactly the two the
    contract names as machine-dependent (a longer list would weaken those checks)."""
    assert tuple(WALL_CLOCK_KEYS) == ("wall_s", "realtime_factor")


def test_to_dict_equals_the_cli_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``ftth.run(path, overrides)`` and ``ftth run path --set … --json`` give the same
    document: equal as data, and byte-identical as text once the ``wall_s`` and
    ``realtime_factor`` lines are removed from the CLI's file (exact)."""
    scenario = REPO / "seeds" / "urban-2020-100mbps.toml"
    out = tmp_path / "cli.json"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(scenario), "-q", "--set", SHORT[0], "--json", str(out)])
    capsys.readouterr()
    result = ftth.run(scenario, overrides=SHORT)
    assert isinstance(result, Result)
    assert exc.value.code == (0 if result.passed else 1)
    text = out.read_text()
    cli = json.loads(text)
    api = result.to_dict()
    assert {k for k in WALL_CLOCK_KEYS} <= set(api)
    assert {k: v for k, v in api.items() if k not in WALL_CLOCK_KEYS} == {
        k: v for k, v in cli.items() if k not in WALL_CLOCK_KEYS
    }
    kept = "".join(
        line
        for line in text.splitlines(keepends=True)
        if not any(line.startswith(f'  "{k}": ') for k in WALL_CLOCK_KEYS)
    )
    assert result.to_json(include_wall_clock=False) == kept


def test_none_runs_the_embedded_default() -> None:
    """``ftth.run(None, overrides=…)`` loads seeds/urban-2020-100mbps.toml (the embedded
    default) and applies the overrides: same document as passing that file's path (exact,
    minus wall-clock keys), 0.02 s emulated, the default's 64 ONUs on XGS-PON."""
    default = ftth.run(None, overrides=SHORT)
    assert (
        default_scenario_path().read_bytes()
        == (REPO / "seeds" / "urban-2020-100mbps.toml").read_bytes()
    )
    d = default.to_dict()
    assert d["scenario"]["name"] == "urban-2020-100mbps"
    assert d["scenario"]["onus"] == 64
    assert d["duration_s"] == pytest.approx(0.02, abs=1e-12)  # ps rounding only
    explicit = ftth.run(REPO / "seeds" / "urban-2020-100mbps.toml", overrides=SHORT)
    assert default.to_json(include_wall_clock=False) == explicit.to_json(include_wall_clock=False)


def test_scenario_object_and_engine_argument() -> None:
    """A loaded Scenario is accepted as is; ``engine="reference"`` overrides the scenario's
    engine and gives the fast engine's numbers (designed packet-identical; exact).  0.005 s
    keeps the reference engine fast."""
    sc = load_scenario(None, ["duration_s=0.005"])
    fast = ftth.run(sc)
    ref = ftth.run(sc, engine="reference")
    assert fast.to_dict()["engine"] == "fast"
    assert ref.to_dict()["engine"] == "reference"
    for key in ("conservation", "upstream", "downstream", "tconts"):
        assert ref.to_dict()[key] == fast.to_dict()[key], key


def test_bad_input_raises_input_error() -> None:
    """The API raises InputError naming the key (the CLI turns it into exit 2); it never
    exits the interpreter."""
    with pytest.raises(InputError) as exc:
        ftth.run(None, overrides=[*SHORT, "tconts.0.buffer_bytes=0"])
    assert exc.value.where == "tconts[0].buffer_bytes"


# --- pcap replay ------------------------------------------------------------------------

PCAP_SCENARIO = """\
name = "pcap-replay"
technology = "xgs-pon"
duration_s = 0.01
seed = 3

[tree]
feeder_km = 2.0
splitters = [4]

[onus]
count = 2
drop_km = [0.5, 1.0]

[[tconts]]
name = "replay"
type = 4
max_bps = 1e9
traffic = { model = "pcap", path = "trace.pcap" }

[[tconts]]
name = "other"
type = 4
max_bps = 1e9
traffic = { model = "poisson", rate_bps = 5e6 }
"""

#: Frame sizes of the capture (bytes on the wire, no FCS); all distinct so order shows.
PCAP_SIZES = (100, 333, 777, 1400, 64)
#: Spacing of the capture's packets (s): 0.1 ms, so 0.01 s replays it about 20 times.
PCAP_GAP_S = 1e-4


def write_pcap_scenario(folder: Path) -> Path:
    """``folder/scenario.toml`` whose "replay" T-CONT replays ``folder/trace.pcap``."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    packets = []
    for i, size in enumerate(PCAP_SIZES):
        packet = Ether() / IP(dst="192.0.2.1") / UDP(sport=1000 + i, dport=2000)
        packet = packet / Raw(b"x" * (size - len(packet)))
        packet.time = 1_700_000_000 + i * PCAP_GAP_S
        packets.append(packet)
    assert [len(p) for p in packets] == list(PCAP_SIZES)
    folder.mkdir(parents=True, exist_ok=True)
    wrpcap(str(folder / "trace.pcap"), packets)
    path = folder / "scenario.toml"
    path.write_text(PCAP_SCENARIO, encoding="utf-8")
    return path


def assert_replayed_in_order(result: Result) -> None:
    """Every "replay" queue delivered the capture's sizes repeated in file order (exact):
    the queue is FIFO and the source loops, so its delivered packets, in arrival order, are
    a prefix of sizes × N.  At least three whole loops must have been delivered; the
    "other" queue's Poisson traffic must not leak into it."""
    queue, arrival, size, _ = result.raw.upstream.packets()
    replay = [j for j, q in enumerate(result.spec.upstream) if q.name == "replay"]
    assert len(replay) == 2  # one per ONU
    for j in replay:
        mine = queue == j
        sizes = size[mine]
        assert np.all(np.diff(arrival[mine]) > 0)  # packets() is in arrival order
        assert len(sizes) >= 3 * len(PCAP_SIZES), len(sizes)
        expected = np.resize(np.array(PCAP_SIZES, dtype=np.int64), len(sizes))
        np.testing.assert_array_equal(sizes, expected)
        # The capture's timing is kept: 0.1 ms between packets (exact in ps).
        np.testing.assert_array_equal(np.diff(arrival[mine][: len(PCAP_SIZES)]), 100_000_000)


def test_pcap_replay_sizes_loop_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A T-CONT replaying a 5-packet capture (run from the scenario's folder, so the
    relative path resolves under any rule) delivers exactly its sizes, looped, in order."""
    scenario = write_pcap_scenario(tmp_path / "scenarios")
    monkeypatch.chdir(scenario.parent)
    result = ftth.run(scenario.name, record_packets=True)
    assert_replayed_in_order(result)
    ledger = result.to_dict()["conservation"]
    assert ledger["offered_bytes"] == (
        ledger["delivered_bytes"] + ledger["queued_bytes"] + ledger["dropped_bytes"]
    )


def test_pcap_path_is_relative_to_the_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same replay run from another directory: ``path = "trace.pcap"`` means the file next
    to the scenario (commit 1ed9e2d, build.py), whatever the current directory."""
    scenario = write_pcap_scenario(tmp_path / "scenarios")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = ftth.run(scenario, record_packets=True)
    assert_replayed_in_order(result)


def test_results_do_not_depend_on_the_batch_window() -> None:
    """``traffic.window_ms`` only sets how far ahead traffic is generated: 1, 7 and 50 ms
    windows give the same document (exact, minus wall-clock keys and the echoed window).
    The bench scenario's heavy-tailed sources and 256 T-CONTs make the cut points matter
    if anything does."""
    bench = REPO / "bench" / "standard.toml"
    docs = []
    for window_ms in (1, 7, 50):
        d = ftth.run(bench, overrides=["duration_s=0.02", f"traffic.window_ms={window_ms}"])
        doc = {k: v for k, v in d.to_dict().items() if k not in WALL_CLOCK_KEYS}
        docs.append(json.dumps(doc, sort_keys=True).replace(f'"window_ms": {window_ms}', ""))
    assert docs[0] == docs[1] == docs[2]
