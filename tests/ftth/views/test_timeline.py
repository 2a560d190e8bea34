"""The timeline's segments: built from hand-made frame traces, checked byte by byte."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from rich.console import Console

from ftth.phy import GPON, XGS_PON, Profile, burst_line_bytes, padded_payload_bytes
from ftth.views.terminal import timeline_render
from ftth.views.timeline import (
    OTHER_ONUS,
    build_timeline,
    draw_timeline,
    save_figure,
)


# The frame-trace interface (docs/architecture.md "Frame trace"), as plain records.
@dataclass(frozen=True)
class Allocation:
    alloc_id: int
    onu_id: int
    tcont: str
    start_unit: int
    grant_units: int
    dbru: bool
    ploam: bool
    burst_profile: int = 0


@dataclass(frozen=True)
class Piece:
    port_id: int
    alloc_id: int
    payload_bytes: int
    pad_bytes: int
    header_bytes: int
    last_fragment: bool
    packet_id: int
    fate: int = 0


@dataclass(frozen=True)
class Burst:
    onu_id: int
    line_start_byte: int
    psb_bytes: int
    line_bytes: int
    allocations: tuple[Allocation, ...]
    pieces: tuple[Piece, ...]
    dbru_bytes: tuple[tuple[int, int], ...]
    idle_bytes: int
    arrival_ps: int


@dataclass(frozen=True)
class UpstreamFrame:
    index: int
    start_ps: int
    bytes_per_frame: int
    bwmap: tuple[Allocation, ...]
    bursts: tuple[Burst, ...]
    quiet_ps: int


@dataclass(frozen=True)
class Trace:
    profile_name: str
    upstream: tuple[UpstreamFrame, ...]
    downstream: tuple[()] = ()


def piece(profile: Profile, alloc_id: int, size: int, last: bool = True) -> Piece:
    padded = padded_payload_bytes(profile, size)
    return Piece(alloc_id, alloc_id, size, padded - size, profile.encap_header_bytes, last, 0)


def burst(
    profile: Profile,
    onu: int,
    start: int,
    allocs: list[tuple[int, int, bool, list[int]]],
    ploam: bool = False,
) -> Burst:
    """A burst laid out as olt.bwmap does: PSBu slot + FEC-coded part rounded up to the unit.

    ``allocs``: (alloc_id, grant_units, dbru, packet sizes).
    """
    unit = profile.grant_unit_bytes
    allocations = tuple(
        Allocation(aid, onu, "T4", 0, units, dbru, ploam and i == 0)
        for i, (aid, units, dbru, _) in enumerate(allocs)
    )
    pieces = tuple(piece(profile, aid, size) for aid, _, _, sizes in allocs for size in sizes)
    data = sum(units for _, units, _, _ in allocs) * unit
    line = burst_line_bytes(profile, data, profile.fec("upstream", None), ploam)
    line = -(-line // unit) * unit
    slot = -(-profile.burst.total_bytes // unit) * unit
    return Burst(onu, start, slot, line, allocations, pieces, (), 0, 0)


def xgs_trace(quiet_ps: int = 0) -> Trace:
    p = XGS_PON
    b1 = burst(p, 1, 0, [(1024, 110, True, [1518, 64]), (1025, 10, False, [40])], ploam=True)
    b2 = burst(p, 2, b1.line_bytes + 160, [(1026, 300, True, [1518, 1518, 1000])])
    b3 = burst(p, 5, b2.line_start_byte + b2.line_bytes, [(1029, 5, True, [])])
    frames = (
        UpstreamFrame(40, 40 * p.frame_ps, p.us_bytes_per_frame, (), (b1, b2, b3), quiet_ps),
        UpstreamFrame(41, 41 * p.frame_ps, p.us_bytes_per_frame, (), (b3, b1), 0),
    )
    return Trace("xgs-pon", frames)


def test_each_frame_adds_up_and_each_burst_matches_the_trace() -> None:
    trace = xgs_trace()
    timeline = build_timeline(trace, XGS_PON)
    code = XGS_PON.us_fec
    assert code is not None
    for frame in trace.upstream:
        segs = [s for s in timeline.segments if s.frame == frame.index]
        # Contiguous, no overlap, from byte 0 to the frame's end.
        at = 0
        for seg in segs:
            assert seg.start_byte == at
            at += seg.bytes
        assert at == frame.bytes_per_frame
        assert sum(timeline.frame_bytes(frame.index).values()) == frame.bytes_per_frame
        for b in frame.bursts:
            mine = [s for s in segs if s.onu_id == b.onu_id]
            assert sum(s.bytes for s in mine) == b.line_bytes
            kinds: dict[str, int] = {}
            for s in mine:
                kinds[s.kind] = kinds.get(s.kind, 0) + s.bytes
            assert kinds.get("payload", 0) == sum(p.payload_bytes for p in b.pieces)
            assert kinds.get("padding", 0) == sum(p.pad_bytes for p in b.pieces)
            assert kinds.get("encap", 0) == 8 * len(b.pieces)
            assert kinds.get("dbru", 0) == 4 * sum(a.dbru for a in b.allocations)
            assert kinds["psb"] == b.psb_bytes == 240  # 64 + 160 + 8 in a 16-byte-unit slot
            grants = sum(a.grant_units for a in b.allocations) * 16
            ploam = 48 if any(a.ploam for a in b.allocations) else 0
            protected = 4 + 4 + ploam + grants
            assert kinds["fec"] == code.line_bytes(protected) - protected
            # Payload, headers, padding, DBRu and idle fill the grants exactly.
            inside = sum(kinds.get(k, 0) for k in ("payload", "padding", "encap", "dbru"))
            idle_in_grants = sum(
                s.bytes for s in mine if s.kind == "idle" and s.label.startswith("idle in")
            )
            assert inside + idle_in_grants == grants
    # Times: relative to the frame start, floor of offset · 125 µs / bytes.
    for seg in timeline.segments:
        start_ps = seg.frame * XGS_PON.frame_ps
        assert seg.start_ps == start_ps + seg.start_byte * XGS_PON.frame_ps // 155_520


def test_segments_keep_alloc_ids_and_order() -> None:
    timeline = build_timeline(xgs_trace(), XGS_PON)
    first = [s for s in timeline.segments if s.frame == 40 and s.onu_id == 1]
    kinds = [s.kind for s in first]
    # PSBu, header, PLOAMu, then Alloc 1024 (DBRu first), ..., trailer, parity.
    assert kinds[:6] == ["psb", "psb", "psb", "psb", "header", "ploam"]
    assert kinds[6] == "dbru" and first[6].alloc_id == 1024
    assert kinds[-2:] == ["header", "fec"] or kinds[-3:-1] == ["header", "fec"]
    assert {s.alloc_id for s in first if s.kind == "payload"} == {1024, 1025}
    rows = {row.key: row for row in timeline.rows}
    assert rows["onu 1"].alloc_ids == (1024, 1025)
    assert [row.onu_id for row in timeline.rows] == [1, 2, 5]


def test_onu_filter_puts_the_others_on_one_row() -> None:
    timeline = build_timeline(xgs_trace(), XGS_PON, onus=[2])
    assert [row.key for row in timeline.rows] == ["onu 2", OTHER_ONUS]
    assert {s.onu_id for s in timeline.segments if s.row == OTHER_ONUS} == {1, 5}
    assert sum(timeline.frame_bytes(40).values()) == 155_520


def test_quiet_window_is_drawn_and_counted() -> None:
    timeline = build_timeline(xgs_trace(quiet_ps=10_000_000), XGS_PON)  # 10 µs
    quiet = [s for s in timeline.segments if s.kind == "quiet"]
    assert len(quiet) == 1
    assert quiet[0].bytes == 10_000_000 * 155_520 // XGS_PON.frame_ps
    assert quiet[0].start_byte + quiet[0].bytes == 155_520
    assert sum(timeline.frame_bytes(40).values()) == 155_520


def test_gpon_without_fec_has_no_parity() -> None:
    b = burst(GPON, 3, 100, [(300, 1600, True, [1518])])
    assert b.psb_bytes == 12
    frame = UpstreamFrame(0, 0, GPON.us_bytes_per_frame, (), (b,), 0)
    timeline = build_timeline(Trace("gpon", (frame,)), GPON)
    assert "fec" not in timeline.frame_bytes(0)
    assert sum(timeline.frame_bytes(0).values()) == 19_440
    assert timeline.frame_bytes(0)["encap"] == 5


def test_a_trace_that_contradicts_itself_is_refused() -> None:
    p = XGS_PON
    b1 = burst(p, 1, 0, [(1024, 10, True, [])])
    b2 = burst(p, 2, 16, [(1025, 10, True, [])])  # starts inside b1
    frame = UpstreamFrame(0, 0, p.us_bytes_per_frame, (), (b1, b2), 0)
    with pytest.raises(ValueError, match="overlaps"):
        build_timeline(Trace("xgs-pon", (frame,)), p)
    over = burst(p, 1, 0, [(1024, 1, False, [1518])])  # 1528 B of XGEM in a 16 B grant
    frame = UpstreamFrame(0, 0, p.us_bytes_per_frame, (), (over,), 0)
    with pytest.raises(ValueError, match="more than its grant"):
        build_timeline(Trace("xgs-pon", (frame,)), p)


def test_figure_files_are_written_and_byte_stable(tmp_path: Path) -> None:
    timeline = build_timeline(xgs_trace(), XGS_PON)
    outputs = []
    for attempt in range(2):
        fig = draw_timeline(timeline)
        svg = save_figure(fig, tmp_path / f"t{attempt}.svg", "svg")
        png = save_figure(fig, tmp_path / f"t{attempt}.png", "png")
        outputs.append((svg.read_bytes(), png.read_bytes()))
    svg_bytes, png_bytes = outputs[0]
    assert png_bytes.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in svg_bytes and b"ONU 1" in svg_bytes
    assert outputs[0] == outputs[1]


def test_terminal_rendering_has_a_bar_per_row_and_frame() -> None:
    timeline = build_timeline(xgs_trace(), XGS_PON)
    console = Console(width=140, record=True, color_system="truecolor")
    console.print(timeline_render(timeline, width=100))
    text = console.export_text()
    lines = text.splitlines()
    assert sum(line.startswith("ONU 1") for line in lines) == 2  # one bar per frame
    assert sum(line.startswith("ONU 5") for line in lines) == 2
    assert "frame 40" in text and "frame 41" in text
    assert "FEC parity" in text  # the legend


def _bwmap_rows(profile: Profile) -> list[str]:
    from ftth.views.terminal import bwmap_table

    unit = profile.grant_unit_bytes
    b = burst(profile, 1, 0, [(1100, 4, True, []), (1101, 2, True, [])])
    start_unit = b.psb_bytes // unit  # the trace's StartTime: the first unit after the PSBu
    bwmap = tuple(replace(a, start_unit=start_unit) for a in b.allocations)
    frame = UpstreamFrame(3, 0, profile.us_bytes_per_frame, bwmap, (b,), 0)
    timeline = build_timeline(Trace(profile.name, (frame,)), profile)
    console = Console(width=120, record=True)
    console.print(bwmap_table(timeline, 3))
    return [line for line in console.export_text().splitlines() if "│     110" in line]


def test_bwmap_table_shows_start_times_as_sent() -> None:
    # XGS-PON: the 240-byte PSBu slot is 15 units; the burst's second allocation is chained.
    first, second = _bwmap_rows(XGS_PON)
    assert first.split("│")[4].strip() == "15"
    assert "0xFFFF (chained)" in second
    # GPON: 12-byte PSBu; StartTime is the byte after the 3-byte PLOu (15), and the second
    # allocation starts where the first (GrantSize 4) stops: 19.
    first, second = _bwmap_rows(GPON)
    assert first.split("│")[4].strip() == "15"
    assert second.split("│")[4].strip() == "19"
