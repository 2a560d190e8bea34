"""Rich renderings of the views: the anatomy tables, the overheads table of ``ftth profiles
--overheads`` and the terminal timeline (coloured bars per ONU across the frame width).

Colours come from :mod:`ftth.views.legend`, the same as the timeline figure's.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ftth.views.legend import KINDS, char, colour

if TYPE_CHECKING:
    from ftth.views.anatomy import BurstLayout, FrameAnatomy
    from ftth.views.timeline import Timeline


def fmt_bytes(value: Fraction) -> str:
    """Whole bytes as an integer, averages with two decimals."""
    return (
        str(value.numerator) if value.denominator == 1 else f"{float(value):,.2f}".replace(",", " ")
    )


def fmt_count(value: Fraction) -> str:
    """A count: integer, or two decimals for an average."""
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.2f}"


def swatch(kind: str) -> Text:
    """The kind's symbol on its colour (the legend of every table)."""
    return Text(f" {char(kind)} ", style=f"{_ink(kind)} on {colour(kind)}")


def _title(anatomy: FrameAnatomy) -> str:
    what = (
        "polling cycle"
        if anatomy.profile.startswith("epon") and anatomy.direction == ("upstream")
        else "frame"
    )
    if anatomy.profile.startswith("epon") and anatomy.direction == "downstream":
        what = "125 µs of stream"
    fec = anatomy.fec or "FEC off"
    return (
        f"{anatomy.title} {anatomy.direction} {what}: {fmt_bytes(anatomy.frame_bytes)} line "
        f"bytes in {float(anatomy.duration_ps) / 1e6:.3f} µs, {anatomy.onus} ONUs, "
        f"{anatomy.packet_bytes}-byte Ethernet frames, {fec}"
    )


def anatomy_table(anatomy: FrameAnatomy) -> Table:
    """Every part of the frame: count, size of one, bytes per frame, share, clause."""
    table = Table(title=_title(anatomy), title_justify="left")
    for header, justify in (
        ("", "left"),
        ("field", "left"),
        ("count", "right"),
        ("each B", "right"),
        ("bytes", "right"),
        ("% of frame", "right"),
        ("clause", "left"),
        ("note", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    total = anatomy.frame_bytes
    for part in anatomy.parts:
        table.add_row(
            swatch(part.kind),
            part.name,
            fmt_count(part.count),
            "" if part.each_bytes is None else str(part.each_bytes),
            fmt_bytes(part.bytes),
            f"{float(part.bytes / total) * 100:.3f}",
            part.clause,
            part.note,
        )
    table.add_section()
    table.add_row(
        "", "[bold]total[/]", "", "", f"[bold]{fmt_bytes(anatomy.total_bytes)}[/]", "100.000"
    )
    good = anatomy.goodput_bytes
    table.caption = (
        f"goodput {anatomy.goodput_bps / 1e9:.4f} Gb/s of {anatomy.line_rate_bps / 1e9:.4f} "
        f"Gb/s line rate ({float(good / total) * 100:.2f} % of the line bytes are Ethernet "
        f"frames); = ftth.phy.saturation_goodput_bps"
    )
    table.caption_justify = "left"
    return table


def burst_table(burst: BurstLayout, anatomy: FrameAnatomy) -> Table:
    """One burst byte by byte: offset in the frame, field, bytes."""
    table = Table(
        title=f"Burst of ONU {burst.onu} byte by byte ({burst.line_bytes} line bytes from "
        f"offset {burst.start}, GrantSize {burst.grant_bytes} B; the other "
        f"{anatomy.onus - 1} bursts differ by at most one grant unit)",
        title_justify="left",
    )
    table.add_column("")
    table.add_column("offset", justify="right")
    table.add_column("field")
    table.add_column("bytes", justify="right")
    for f in burst.fields:
        offset = fmt_bytes(f.offset) if f.offset.denominator == 1 else "(interleaved)"
        table.add_row(swatch(f.kind), offset, f.name, fmt_bytes(f.bytes))
    return table


def legend_text(kinds: Sequence[str] | None = None) -> Text:
    """The colour legend on one wrapped line (every kind, or only ``kinds``)."""
    text = Text()
    for kind in KINDS:
        if kinds is not None and kind.key not in kinds:
            continue
        text.append(f" {kind.char} ", style=f"{_ink(kind.key)} on {kind.colour}")
        text.append(f" {kind.label}   ")
    return text


def _ink(kind: str) -> str:
    """Black or white, whichever reads better on the kind's colour (WCAG relative luminance)."""
    hex_colour = colour(kind).lstrip("#")
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "black" if luminance > 0.45 else "white"


def overheads_table(down: FrameAnatomy, up: FrameAnatomy) -> Table:
    """``ftth profiles --overheads``: one technology's overheads, both directions, % of line."""
    names: list[tuple[str, str]] = []
    for anatomy in (down, up):
        for part in anatomy.parts:
            if (part.name, part.kind) not in names:
                names.append((part.name, part.kind))
    table = Table(
        title=f"{down.title}: where the line bytes go ({down.onus} ONUs, "
        f"{down.packet_bytes}-byte frames, default FEC)",
        title_justify="left",
    )
    table.add_column("")
    table.add_column("field")
    for anatomy in (down, up):
        table.add_column(f"{anatomy.direction}\nbytes", justify="right")
        table.add_column(f"{anatomy.direction}\n%", justify="right")
    for name, kind in names:
        cells: list[str] = []
        for anatomy in (down, up):
            match = [p for p in anatomy.parts if p.name == name]
            if match:
                size = sum((p.bytes for p in match), Fraction(0))
                cells += [fmt_bytes(size), f"{float(size / anatomy.frame_bytes) * 100:.2f}"]
            else:
                cells += ["", ""]
        table.add_row(swatch(kind), name, *cells)
    if down.profile.startswith("epon"):
        table.caption = (
            "EPON has no frame: downstream = 125 µs of the stream, upstream = one polling "
            f"cycle ({float(up.duration_ps) / 1e6:.1f} µs: every ONU's guard, window, REPORT)"
        )
        table.caption_justify = "left"
    table.add_section()
    table.add_row(
        "",
        "[bold]goodput[/]",
        f"{down.goodput_bps / 1e9:.3f} Gb/s",
        f"{float(down.goodput_bytes / down.frame_bytes) * 100:.2f}",
        f"{up.goodput_bps / 1e9:.3f} Gb/s",
        f"{float(up.goodput_bytes / up.frame_bytes) * 100:.2f}",
    )
    return table


# --------------------------------------------------------------------------- timeline
def timeline_render(timeline: Timeline, width: int = 100) -> Group:
    """Coloured bars: one line per row (ONU) and frame, ``width`` cells across the frame.

    A cell shows the kind that covers most of its bytes (unallocated if none), so a thin
    field can vanish at small widths; the figure and ``--json`` keep every byte.
    """
    parts: list[Text | Table] = []
    label_width = max((len(row.label) for row in timeline.rows), default=4) + 1
    for frame in timeline.frames:
        cell_bytes = Fraction(frame.bytes_per_frame, width)
        header = Text(
            f"frame {frame.index}  t = {frame.start_ps / 1e6:.3f} µs  "
            f"({frame.bytes_per_frame} line bytes, one cell = {float(cell_bytes):.0f} B)",
            style="bold",
        )
        parts.append(header)
        for row in timeline.rows:
            line = Text(f"{row.label:<{label_width}}", no_wrap=True, overflow="crop")
            cover: list[dict[str, Fraction]] = [{} for _ in range(width)]
            for seg in timeline.segments:
                if seg.frame != frame.index or seg.row != row.key or seg.bytes == 0:
                    continue
                first = int(Fraction(seg.start_byte) / cell_bytes)
                last = min(width - 1, int(Fraction(seg.start_byte + seg.bytes - 1) / cell_bytes))
                for cell in range(first, last + 1):
                    lo = max(Fraction(seg.start_byte), cell * cell_bytes)
                    hi = min(Fraction(seg.start_byte + seg.bytes), (cell + 1) * cell_bytes)
                    if hi > lo:
                        cover[cell][seg.kind] = cover[cell].get(seg.kind, Fraction(0)) + hi - lo
            for covered in cover:
                kind = max(covered, key=lambda k: covered[k]) if covered else None
                line.append(
                    " " if kind is None else char(kind),
                    style="" if kind is None else f"{_ink(kind)} on {colour(kind)}",
                )
            parts.append(line)
    kinds = sorted({seg.kind for seg in timeline.segments})
    parts.append(legend_text(kinds))
    return Group(*parts)


def bwmap_table(timeline: Timeline, frame_index: int, onus: Sequence[int] | None = None) -> Table:
    """The BWmap of one traced frame: one allocation structure per line.

    StartTime and GrantSize are in grant units, as on the wire; ``onus`` limits the lines.
    """
    frame = next(f for f in timeline.frames if f.index == frame_index)
    shown = [a for a in frame.bwmap if onus is None or a[1] in onus]
    table = Table(
        title=f"BWmap of frame {frame.index}: {len(frame.bwmap)} allocation structures"
        + (f" ({len(shown)} shown)" if len(shown) != len(frame.bwmap) else ""),
        title_justify="left",
    )
    for header in ("Alloc-ID", "ONU-ID", "T-CONT", "StartTime", "GrantSize", "DBRu"):
        table.add_column(header, justify="left" if header == "T-CONT" else "right")
    rows = _wire_start_times(timeline, frame.bwmap, shown)
    for alloc_id, onu_id, tcont, _start, grant, dbru, wire in rows:
        table.add_row(str(alloc_id), str(onu_id), tcont, wire, str(grant), "yes" if dbru else "")
    table.caption = (
        "StartTime as sent: a later allocation of the same burst follows the previous one "
        "(XG(S)-PON: 0xFFFF; GPON: the previous StartTime + GrantSize, bytes after the PLOu)"
    )
    table.caption_justify = "left"
    return table


def _wire_start_times(
    timeline: Timeline,
    bwmap: Sequence[tuple[int, int, str, int, int, bool]],
    shown: Sequence[tuple[int, int, str, int, int, bool]],
) -> list[tuple[int, int, str, int, int, bool, str]]:
    """Each shown allocation with its StartTime field as sent.

    The trace gives every allocation its burst's StartTime (the first unit after the PSBu);
    on the wire only the first allocation of a burst carries it in XG(S)-PON (0xFFFF chains
    the next ones, G.987.3 §8.1.1.2).  A GPON StartTime is a byte after the PLOu (G.984.3
    §8.1.3.6) and each next allocation of the burst starts where the previous one stops —
    the values ``ftth run --pcap-tc`` writes.
    """
    from ftth.phy import get_profile

    profile = get_profile(timeline.profile)
    chained_xg = profile.encap == "xgem"
    plou = 0 if chained_xg else profile.us_burst_header_bytes
    wire: dict[int, str] = {}
    previous: tuple[int, int, int] | None = None  # (burst start, wire start, grant)
    for alloc_id, _onu, _tcont, start, grant, _dbru in bwmap:
        if previous is not None and previous[0] == start:
            own = previous[1] + previous[2]
            wire[alloc_id] = "0xFFFF (chained)" if chained_xg else str(own)
            previous = (start, own, grant)
        else:
            wire[alloc_id] = str(start + plou)
            previous = (start, start + plou, grant)
    return [(*row, wire[row[0]]) for row in shown]


def anatomy_bwmap_table(anatomy: FrameAnatomy, limit: int | None = 4) -> Table:
    """The downstream frame's BWmap (saturation model): StartTime and GrantSize per ONU."""
    rows = anatomy.bwmap if limit is None else anatomy.bwmap[:limit]
    more = len(anatomy.bwmap) - len(rows)
    table = Table(
        title=f"BWmap of the downstream frame: {len(anatomy.bwmap)} allocation structures of "
        "8 bytes (grant units)" + (f"; {more} more with --all-bursts" if more else ""),
        title_justify="left",
    )
    for header in ("allocation", "ONU", "StartTime", "GrantSize"):
        table.add_column(header, justify="right")
    for i, (onu, start, grant) in enumerate(rows, 1):
        table.add_row(str(i), str(onu), str(start), str(grant))
    return table
