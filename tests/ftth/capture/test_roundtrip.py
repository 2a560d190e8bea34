"""Round trip: the captures read back with the scapy layers give exactly what the emulator
did — the BWmaps, the GEM/XGEM frames and DBRus of the TC layer, and the frames delivered to
the chosen households at the user ports (against the run's own ledger counters)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ftth import phy
from ftth.capture.layers import FtthTc
from ftth.capture.read import read_tc, read_uni
from ftth.capture.write import UniSink, household_ip, write_records, write_tc_pcap
from ftth.emulator import run_spec
from ftth.emulator.build import build_spec
from ftth.emulator.spec import EmulationSpec
from ftth.emulator.trace import trace_spec
from ftth.scenario import load_scenario
from tests.ftth.capture.scenarios import GPON_TOML, XG_TOML, XGS_TOML, write

SCENARIOS = {"xgs-pon": XGS_TOML, "xg-pon": XG_TOML, "gpon": GPON_TOML}


def spec_of(tmp_path: Path, text: str) -> EmulationSpec:
    return build_spec(load_scenario(write(tmp_path, text)))


def padded(profile: phy.Profile, pli: int) -> int:
    """Line bytes of a GEM/XGEM frame with ``pli`` payload bytes (G.987.3 §9.1.2)."""
    return profile.encap_header_bytes + phy.padded_payload_bytes(profile, pli)


@pytest.mark.parametrize("tech", list(SCENARIOS))
def test_tc_capture_reads_back_exactly(tech: str, tmp_path: Path) -> None:
    spec = spec_of(tmp_path, SCENARIOS[tech])
    p = spec.profile
    raw = run_spec(spec)  # the run as `ftth run` makes it (compiled loop with numba)
    trace = trace_spec(spec, first_frame=0, n_frames=spec.n_frames)
    path = tmp_path / "tc.pcap"
    counts = write_tc_pcap(path, trace)
    records = read_tc(path)
    # Every record decodes with the scapy layers and rebuilds to the same bytes.
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(path)) as reader:
        for data, _meta in reader:
            assert bytes(FtthTc(data)) == data
    assert [r.time_ns for r in records] == sorted(r.time_ns for r in records)
    down = {r.frame: r for r in records if r.downstream}
    assert sorted(down) == list(range(spec.n_frames))
    up: dict[int, list] = {}
    for r in records:
        if not r.downstream:
            up.setdefault(r.frame, []).append(r)
    gpon = p.encap == "gem"
    for f, d in zip(trace.upstream, trace.downstream, strict=True):
        k = f.index
        # The BWmap, entry by entry.
        assert [
            (e.alloc_id, e.start_unit, e.grant_units, e.dbru, e.ploam, e.burst_profile)
            for e in down[k].bwmap
        ] == [
            (a.alloc_id, a.start_unit, a.grant_units, a.dbru, a.ploam, a.burst_profile)
            for a in f.bwmap
        ]
        # Downstream GEM/XGEM frames: ports, payload lengths, last-fragment flags.
        assert list(down[k].pieces) == [
            (x.port_id, x.payload_bytes, x.last_fragment) for x in d.pieces
        ]
        # Upstream bursts: one record per burst, allocations, frames, idle bytes, DBRus.
        bursts = sorted(up.get(k, []), key=lambda r: r.time_ns)
        assert [r.onu_id for r in bursts] == [b.onu_id for b in f.bursts]
        for r, b in zip(bursts, f.bursts, strict=True):
            assert [s.alloc_id for s in r.sections] == [a.alloc_id for a in b.allocations]
            assert [x for s in r.sections for x in s.pieces] == [
                (x.port_id, x.payload_bytes, x.last_fragment) for x in b.pieces
            ]
            assert sum(s.idle_bytes for s in r.sections) == b.idle_bytes
            reported = dict(b.dbru_bytes)
            for s in r.sections:
                if s.alloc_id in reported:
                    units = reported[s.alloc_id] // p.report_unit_bytes
                    assert s.dbru_units == (min(units, 0xFE) if gpon else units)
                else:
                    assert s.dbru_units is None
        # Against the run itself: the frames read back fill exactly the payload the run's
        # engine used in this frame, each direction.
        used_up = sum(padded(p, pli) for r in bursts for s in r.sections for _, pli, _ in s.pieces)
        assert used_up == raw.us_payload_used_bytes[k]
        used_down = sum(padded(p, pli) for _, pli, _ in down[k].pieces)
        assert used_down == raw.ds_payload_used_bytes[k]
    assert counts.allocations == sum(len(r.bwmap) for r in down.values()) == raw.allocations
    n_up = sum(len(s.pieces) for rs in up.values() for r in rs for s in r.sections)
    assert counts.upstream_xgem_frames == n_up
    # Every SDU completed (last fragment) in the capture is a delivered packet of the run.
    done_up = sum(x[2] for rs in up.values() for r in rs for s in r.sections for x in s.pieces)
    assert done_up == int(raw.upstream.counters["delivered_packets"].sum())
    done_down = sum(x[2] for r in down.values() for x in r.pieces)
    assert done_down == int(raw.downstream.counters["delivered_packets"].sum())


@pytest.mark.parametrize(("tech", "onus", "frames"), [("xgs-pon", {2, 5}, None), ("gpon", {1}, 12)])
def test_uni_capture_is_the_delivered_frames(
    tech: str, onus: set[int], frames: int | None, tmp_path: Path
) -> None:
    spec = spec_of(tmp_path, SCENARIOS[tech])
    spec.record_packets = True  # the run's own per-packet record, to compare with
    end_ps = None if frames is None else frames * phy.GPON.frame_ps
    sink = UniSink(spec, onus, end_ps)
    spec.packet_sink = sink
    raw = run_spec(spec)
    path = tmp_path / "uni.pcap"
    counts = sink.write_pcap(path)
    got = read_uni(path)
    assert counts["packets"] == len(got) > 0
    for direction, queues, stats in (
        ("upstream", spec.upstream, raw.upstream),
        ("downstream", spec.downstream, raw.downstream),
    ):
        chosen = [i for i, q in enumerate(queues) if spec.onu_ids[q.onu_index] in onus]
        mine = [f for f in got if f.upstream == (direction == "upstream")]
        if end_ps is None:
            # The whole run: exactly the ledger's delivered packets and bytes of those queues.
            delivered = stats.counters["delivered_packets"][chosen]
            assert Counter(f.queue for f in mine) == {
                q: int(n) for q, n in zip(chosen, delivered, strict=True) if n
            }
            assert sum(f.size_bytes for f in mine) == int(
                stats.counters["delivered_bytes"][chosen].sum()
            )
        q, a, s, d = stats.packets()
        stamp = a if direction == "upstream" else d
        keep = np.isin(q, chosen) & (stamp < (end_ps if end_ps is not None else 1 << 62))
        assert len(mine) == int(keep.sum())
        # Same frames: (queue, size, time) multisets agree, to the nanosecond.
        assert Counter((f.queue, f.size_bytes, f.time_ns) for f in mine) == Counter(
            zip(q[keep].tolist(), s[keep].tolist(), (stamp[keep] // 1000).tolist(), strict=True)
        )
        # Each household keeps its address; indexes count each queue's frames from 0.
        for f in mine:
            assert f.household_ip == household_ip(queues[f.queue].household)
        per_queue: dict[int, list[int]] = {}
        for f in sorted(mine, key=lambda f: (f.queue, f.index)):
            per_queue.setdefault(f.queue, []).append(f.index)
        assert all(v == list(range(len(v))) for v in per_queue.values())
    assert [f.time_ns for f in got] == sorted(f.time_ns for f in got)


def test_write_records_refuses_an_unwritable_path(tmp_path: Path) -> None:
    from ftth.errors import InputError

    with pytest.raises(InputError, match="cannot write"):
        write_records(tmp_path / "missing" / "x.pcap", phy.LINKTYPE_ETHERNET, [], "--pcap-uni")
