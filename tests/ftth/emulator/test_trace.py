"""The frame trace (ftth.emulator.trace) against the run it records: every frame's bytes add
up to what the engine's own timelines say, BWmap rules hold, pieces follow the framing rules."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ftth.emulator.fast import run_fast
from ftth.emulator.trace import FrameTrace, trace_frames, trace_spec
from ftth.errors import InputError
from ftth.phy import get_profile, psbu_slot_bytes
from tests.ftth.emulator.helpers import make_spec
from tests.scenarios import FAULT_TREE

CASES = [
    # technology, traffic, fec: fragmentation, padding, idle grants and GEM pieces.
    ("xgs-pon", ("poisson", {"rate_bps": 1.5e9, "sizes": "trimodal"}), None),
    ("xg-pon", ("poisson", {"rate_bps": 500e6, "sizes": "trimodal"}), None),
    ("gpon", ("poisson", {"rate_bps": 250e6, "sizes": "trimodal"}), False),
    ("gpon", ("greedy", {"size_bytes": 9000}), True),
]


@pytest.mark.parametrize(("tech", "traffic", "fec"), CASES)
def test_trace_adds_up_to_the_run(tech: str, traffic: tuple, fec: bool | None) -> None:
    spec = make_spec(tech, onus=4, frames=24, up=traffic, down=traffic, fec=fec, record=True)
    raw = run_fast(spec)  # the compiled loop when numba is there, the stepped path otherwise
    first, n = 4, 16
    trace = trace_spec(spec, first_frame=first, n_frames=n)
    assert isinstance(trace, FrameTrace)
    p = get_profile(tech)
    unit = p.grant_unit_bytes
    assert [f.index for f in trace.upstream] == list(range(first, first + n))
    assert [f.index for f in trace.downstream] == list(range(first, first + n))
    for f in trace.upstream:
        k = f.index
        assert sum(b.line_bytes for b in f.bursts) == raw.us_used_line_bytes[k]
        used = sum(x.line_bytes for b in f.bursts for x in b.pieces)
        assert used == raw.us_payload_used_bytes[k]
        assert sum(len(b.allocations) for b in f.bursts) == len(f.bwmap)
        for b in f.bursts:
            assert b.psb_bytes == psbu_slot_bytes(p)
            assert b.line_start_byte % unit == 0 and b.line_bytes % unit == 0
            granted = sum(
                a.grant_units * unit - (p.dbru_bytes if a.dbru else 0) for a in b.allocations
            )
            assert granted == sum(b.room_bytes)
            assert sum(x.line_bytes for x in b.pieces) + b.idle_bytes == granted
            assert len(b.dbru_bytes) == sum(a.dbru for a in b.allocations)
            for _aid, value in b.dbru_bytes:
                assert value % p.report_unit_bytes == 0
        # Bursts do not overlap and fit the frame.
        ends = [b.line_start_byte + b.line_bytes for b in f.bursts]
        assert all(e <= s.line_start_byte for e, s in zip(ends, f.bursts[1:], strict=False))
        assert not ends or ends[-1] <= p.us_bytes_per_frame
    for d in trace.downstream:
        assert sum(x.line_bytes for x in d.pieces) == raw.ds_payload_used_bytes[d.index]
        assert sum(x.line_bytes for x in d.pieces) <= d.payload_room_bytes
        assert len(d.onu_of_piece) == len(d.pieces)
    for x in [x for f in trace.upstream for b in f.bursts for x in b.pieces]:
        assert x.header_bytes == p.encap_header_bytes
        assert (x.payload_bytes + x.pad_bytes) % p.encap_align_bytes == 0
        assert x.payload_bytes <= p.encap_max_fragment_bytes
        assert x.header_bytes + x.payload_bytes + x.pad_bytes >= p.encap_min_frame_bytes


def test_last_fragments_are_the_delivered_packets() -> None:
    """Every SDU completed inside the window (LF set) is a departure of the run in that
    window, queue by queue, and packet ids count up without gaps."""
    spec = make_spec("xgs-pon", onus=3, frames=20, record=True)
    raw = run_fast(spec)
    trace = trace_spec(spec, first_frame=0, n_frames=20)
    alloc_index = {int(a): j for j, a in enumerate(spec.tconts.alloc_id)}
    done = Counter(
        alloc_index[x.alloc_id]
        for f in trace.upstream
        for b in f.bursts
        for x in b.pieces
        if x.last_fragment
    )
    q, _a, _s, _d = raw.upstream.packets()
    assert done == Counter(int(v) for v in q)
    ids: dict[int, list[int]] = {}
    for f in trace.upstream:
        for b in f.bursts:
            for x in b.pieces:
                if x.last_fragment:
                    ids.setdefault(x.alloc_id, []).append(x.packet_id)
    for got in ids.values():
        assert got == list(range(len(got)))
    dq = raw.downstream.packets()[0]
    done_down = sum(x.last_fragment for d in trace.downstream for x in d.pieces)
    assert done_down == len(dq)


def test_onu_filter_keeps_the_whole_bwmap() -> None:
    spec = make_spec("xg-pon", onus=4, frames=8, record=False)
    whole = trace_spec(spec, first_frame=2, n_frames=3)
    part = trace_spec(spec, first_frame=2, n_frames=3, onus=[2])
    assert [f.bwmap for f in part.upstream] == [f.bwmap for f in whole.upstream]
    assert {b.onu_id for f in part.upstream for b in f.bursts} == {2}
    assert set(o for d in part.downstream for o in d.onu_of_piece) <= {2}
    assert part.kept_onu_ids == (2,)
    np.testing.assert_array_equal(
        [len(b.pieces) for f in part.upstream for b in f.bursts],
        [len(b.pieces) for f in whole.upstream for b in f.bursts if b.onu_id == 2],
    )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"first_frame": 6, "n_frames": 4}, "beyond the run"),
        ({"n_frames": 0}, "at least 1"),
        ({"onus": [99]}, "no ONU with ID 99"),
    ],
)
def test_bad_windows_are_input_errors(kwargs: dict, words: str) -> None:
    spec = make_spec("xgs-pon", onus=2, frames=8, record=False)
    with pytest.raises(InputError, match=words):
        trace_spec(spec, **kwargs)


BIT_ERRORS = (
    'name = "ber"\ntechnology = "xgs-pon"\nduration_s = 0.01\nseed = 3\n'
    + FAULT_TREE
    + '\n[[faults]]\nat_s = 0.0\nkind = "splitter-loss"\nbranch = "1.4"\nextra_db = 8\n'
)


def test_trace_through_bit_errors_marks_the_lost_pieces(tmp_path: Path) -> None:
    """8 dB extra loss on ONU 4's branch: its codewords fail (the fault path).  The trace
    serves its copies with the same fault rules and draws, so it agrees with the engine
    (no InvariantError) and marks the GEM/XGEM frames lost — ONU 4's only."""
    path = tmp_path / "ber.toml"
    path.write_text(BIT_ERRORS, encoding="utf-8")
    trace = trace_frames(str(path), first_frame=8, n_frames=24)
    up = [(b.onu_id, x) for f in trace.upstream for b in f.bursts for x in b.pieces]
    down = [
        (onu, x) for d in trace.downstream for onu, x in zip(d.onu_of_piece, d.pieces, strict=True)
    ]
    for pieces in (up, down):
        lost = [(onu, x) for onu, x in pieces if x.fate > 0]
        assert lost, "the 8 dB loss must fail codewords in 24 frames"
        assert {onu for onu, _ in lost} == {4}
        assert all(x.fate in (1, 2) for _, x in lost)
        assert any(x.fate == 0 for onu, x in pieces if onu != 4)
