"""The upstream timeline: which ONU and Alloc-ID transmits when, byte by byte.

:func:`build_timeline` turns a frame trace (:mod:`ftth.emulator.trace`, the interface of
docs/architecture.md "Frame trace") into :class:`Segment` s — one per field of every burst
(PSBu guard / preamble / delimiter, burst header, PLOAMu, DBRu, each GEM/XGEM frame's header,
payload and padding, idle and unused grant, trailer, FEC parity) and the frame's gaps
(no burst, quiet windows) — so that each frame's segments add up to exactly its line bytes.
:func:`draw_timeline` draws them with matplotlib (SVG and PNG), and
:func:`ftth.views.terminal.timeline_render` in the terminal, with the colours of
:mod:`ftth.views.legend`.

Where a field sits:

* A burst is laid out as the standards send it: PSBu (in its grant-unit slot), burst header,
  PLOAMu, then each allocation (DBRu, then its GEM/XGEM frames, then the idle rest of the
  grant), the trailer, and the FEC parity.  The parity is drawn as one block at the end of
  the burst; on the line it follows every k data bytes (RS(n, k)), which would be slivers.
* Line bytes left between the FEC-coded part and the burst's end (the coded part rounded up
  to the grant unit) are ``idle`` ("unused grant").
* A quiet window (activation, ``UpstreamFrame.quiet_ps``; 0 until activation exists) is
  drawn at the end of the frame's last gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ftth.phy import FecCode, Profile, psbu_slot_bytes

#: Row key of the segments that belong to no ONU (gaps, quiet windows).
NO_ONU = "-"
#: Row key of the ONUs left out by ``onus=``.
OTHER_ONUS = "others"


# --------------------------------------------------------------------------- what is read
class AllocationLike(Protocol):
    """What the timeline reads of ``ftth.emulator.trace.Allocation``."""

    @property
    def alloc_id(self) -> int: ...
    @property
    def onu_id(self) -> int: ...
    @property
    def tcont(self) -> str: ...
    @property
    def start_unit(self) -> int: ...
    @property
    def grant_units(self) -> int: ...
    @property
    def dbru(self) -> bool: ...
    @property
    def ploam(self) -> bool: ...


class PieceLike(Protocol):
    """What the timeline reads of ``ftth.emulator.trace.XgemPiece``."""

    @property
    def port_id(self) -> int: ...
    @property
    def alloc_id(self) -> int: ...
    @property
    def payload_bytes(self) -> int: ...
    @property
    def pad_bytes(self) -> int: ...
    @property
    def header_bytes(self) -> int: ...
    @property
    def last_fragment(self) -> bool: ...
    @property
    def fate(self) -> int: ...


class BurstLike(Protocol):
    """What the timeline reads of ``ftth.emulator.trace.Burst``."""

    @property
    def onu_id(self) -> int: ...
    @property
    def line_start_byte(self) -> int: ...
    @property
    def psb_bytes(self) -> int: ...
    @property
    def line_bytes(self) -> int: ...
    @property
    def allocations(self) -> Sequence[AllocationLike]: ...
    @property
    def pieces(self) -> Sequence[PieceLike]: ...


class UpstreamFrameLike(Protocol):
    """What the timeline reads of ``ftth.emulator.trace.UpstreamFrame``."""

    @property
    def index(self) -> int: ...
    @property
    def start_ps(self) -> int: ...
    @property
    def bytes_per_frame(self) -> int: ...
    @property
    def bwmap(self) -> Sequence[AllocationLike]: ...
    @property
    def bursts(self) -> Sequence[BurstLike]: ...
    @property
    def quiet_ps(self) -> int: ...


class FrameTraceLike(Protocol):
    """What the timeline reads of ``ftth.emulator.trace.FrameTrace``."""

    @property
    def profile_name(self) -> str: ...
    @property
    def upstream(self) -> Sequence[UpstreamFrameLike]: ...


# --------------------------------------------------------------------------- what is built
@dataclass(frozen=True)
class Segment:
    """``bytes`` line bytes of one kind from ``start_byte`` of upstream frame ``frame``."""

    frame: int
    row: str
    onu_id: int | None
    alloc_id: int | None
    kind: str
    start_byte: int
    bytes: int
    start_ps: int
    end_ps: int
    label: str


@dataclass(frozen=True)
class Row:
    """One row of the drawing: an ONU (with its Alloc-IDs), the other ONUs, or the gaps."""

    key: str
    label: str
    onu_id: int | None
    alloc_ids: tuple[int, ...]


@dataclass(frozen=True)
class FrameInfo:
    """One traced upstream frame."""

    index: int
    start_ps: int
    bytes_per_frame: int
    quiet_ps: int
    bursts: int
    allocations: int
    #: The frame's BWmap: (Alloc-ID, ONU-ID, T-CONT, StartTime, GrantSize, DBRu flag).
    bwmap: tuple[tuple[int, int, str, int, int, bool], ...] = ()


@dataclass(frozen=True)
class Timeline:
    """The segments of a window of upstream frames, and the rows they are drawn on."""

    profile: str
    title: str
    frame_ps: int
    frames: tuple[FrameInfo, ...]
    rows: tuple[Row, ...]
    segments: tuple[Segment, ...]

    def frame_bytes(self, index: int) -> dict[str, int]:
        """Bytes of each kind in frame ``index`` (they add up to its ``bytes_per_frame``)."""
        out: dict[str, int] = {}
        for seg in self.segments:
            if seg.frame == index:
                out[seg.kind] = out.get(seg.kind, 0) + seg.bytes
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: frames with their byte totals per kind, rows, every segment."""
        return {
            "profile": self.profile,
            "frame_ps": self.frame_ps,
            "frames": [
                {
                    "index": f.index,
                    "start_ps": f.start_ps,
                    "bytes_per_frame": f.bytes_per_frame,
                    "quiet_ps": f.quiet_ps,
                    "bursts": f.bursts,
                    "allocations": f.allocations,
                    "bwmap": [
                        {
                            "alloc_id": a,
                            "onu_id": o,
                            "tcont": t,
                            "burst_start_unit": st,
                            "grant_size": g,
                            "dbru": d,
                        }
                        for a, o, t, st, g, d in f.bwmap
                    ],
                    "bytes_by_kind": self.frame_bytes(f.index),
                }
                for f in self.frames
            ],
            "rows": [
                {"key": r.key, "label": r.label, "onu_id": r.onu_id, "alloc_ids": list(r.alloc_ids)}
                for r in self.rows
            ],
            "segments": [
                {
                    "frame": s.frame,
                    "row": s.row,
                    "onu_id": s.onu_id,
                    "alloc_id": s.alloc_id,
                    "kind": s.kind,
                    "start_byte": s.start_byte,
                    "bytes": s.bytes,
                    "start_ps": s.start_ps,
                    "end_ps": s.end_ps,
                    "label": s.label,
                }
                for s in self.segments
            ],
        }


def _onu_row(onu_id: int) -> str:
    return f"onu {onu_id}"


class _Frame:
    """Accumulates the segments of one frame in line order."""

    def __init__(self, profile: Profile, fec: FecCode | None, frame: UpstreamFrameLike) -> None:
        self.profile = profile
        self.fec = fec
        self.frame = frame
        self.segments: list[Segment] = []

    def to_ps(self, offset: int) -> int:
        # The architecture's conversion: relative to the frame start, never accumulated.
        f = self.frame
        return f.start_ps + offset * self.profile.frame_ps // f.bytes_per_frame

    def add(
        self,
        row: str,
        onu_id: int | None,
        alloc_id: int | None,
        kind: str,
        start: int,
        size: int,
        label: str,
    ) -> int:
        """Append a segment at ``start``; return its end (zero-size fields are skipped)."""
        if size < 0:
            raise ValueError(f"frame {self.frame.index}: negative {kind} ({size} B) at {start}")
        if size:
            self.segments.append(
                Segment(
                    self.frame.index,
                    row,
                    onu_id,
                    alloc_id,
                    kind,
                    start,
                    size,
                    self.to_ps(start),
                    self.to_ps(start + size),
                    label,
                )
            )
        return start + size


def _burst(out: _Frame, burst: BurstLike, row: str) -> None:
    """The segments of one burst, in line order (see the module docstring)."""
    profile = out.profile
    onu = burst.onu_id
    b = profile.burst
    at = burst.line_start_byte
    end = at + burst.line_bytes
    first_alloc = burst.allocations[0].alloc_id if burst.allocations else None
    at = out.add(row, onu, first_alloc, "psb", at, b.guard_bytes, "guard time")
    at = out.add(row, onu, first_alloc, "psb", at, b.preamble_bytes, "preamble")
    at = out.add(row, onu, first_alloc, "psb", at, b.delimiter_bytes, "delimiter")
    at = out.add(
        row, onu, first_alloc, "psb", at, burst.psb_bytes - b.total_bytes, "PSBu slot alignment"
    )
    protected_start = at
    at = out.add(row, onu, first_alloc, "header", at, profile.us_burst_header_bytes, "burst header")
    if any(a.ploam for a in burst.allocations):
        at = out.add(row, onu, first_alloc, "ploam", at, profile.us_ploam_bytes, "PLOAMu")
    unit = profile.grant_unit_bytes
    for alloc in burst.allocations:
        grant_end = at + alloc.grant_units * unit
        aid = alloc.alloc_id
        if alloc.dbru:
            at = out.add(row, onu, aid, "dbru", at, profile.dbru_bytes, f"DBRu of Alloc-ID {aid}")
        for piece in burst.pieces:
            if piece.alloc_id != aid:
                continue
            tail = "" if piece.last_fragment else ", fragment"
            if piece.fate:  # lost to a failed codeword (2: in its header, a HEC error)
                tail += ", lost (HEC error)" if piece.fate == 2 else ", lost"
            at = out.add(
                row,
                onu,
                aid,
                "encap",
                at,
                piece.header_bytes,
                f"{profile.encap.upper()} header, port {piece.port_id}",
            )
            at = out.add(
                row,
                onu,
                aid,
                "payload",
                at,
                piece.payload_bytes,
                f"port {piece.port_id}: {piece.payload_bytes} B{tail}",
            )
            at = out.add(row, onu, aid, "padding", at, piece.pad_bytes, "padding")
        if at > grant_end:
            raise ValueError(
                f"frame {out.frame.index}: Alloc-ID {aid} carries {at - grant_end} B more "
                f"than its grant of {alloc.grant_units} units"
            )
        at = out.add(row, onu, aid, "idle", at, grant_end - at, f"idle in Alloc-ID {aid}")
    at = out.add(
        row, onu, first_alloc, "header", at, profile.us_burst_trailer_bytes, "burst trailer (BIP)"
    )
    code = out.fec
    protected = at - protected_start
    parity = (code.line_bytes(protected) - protected) if code else 0
    parity = min(parity, end - at)
    at = out.add(row, onu, first_alloc, "fec", at, parity, "FEC parity")
    out.add(row, onu, first_alloc, "idle", at, end - at, "unused: burst rounded to the unit")


def build_timeline(
    trace: FrameTraceLike,
    profile: Profile,
    onus: Sequence[int] | None = None,
    fec: bool | None = None,
) -> Timeline:
    """The segments of every traced upstream frame.

    Parameters
    ----------
    trace
        A :class:`ftth.emulator.trace.FrameTrace` (anything with its fields).
    profile
        The technology profile of the traced run.
    onus
        ONU ids to give a row each; the bursts of the others share one row ("other ONUs").
        ``None``: every ONU that sends a burst gets a row.
    fec
        Upstream FEC of the run (the scenario's ``fec.upstream``; ``None``: the default).

    Raises
    ------
    ValueError
        When a burst overlaps another, leaves its frame, or carries more than its grants
        (the trace contradicts itself: an internal error, not bad input).
    """
    if psbu_slot_bytes(profile) <= 0:
        raise ValueError(f"{profile.title} has no upstream frame")
    wanted = set(onus) if onus is not None else None
    code = profile.fec("upstream", fec)
    segments: list[Segment] = []
    frames: list[FrameInfo] = []
    alloc_ids: dict[int, set[int]] = {}
    for frame in trace.upstream:
        out = _Frame(profile, code, frame)
        at = 0
        gaps: list[tuple[int, int]] = []
        for burst in sorted(frame.bursts, key=lambda b: b.line_start_byte):
            if burst.line_start_byte < at:
                raise ValueError(
                    f"frame {frame.index}: the burst of ONU {burst.onu_id} at byte "
                    f"{burst.line_start_byte} overlaps the previous one (ends at {at})"
                )
            gaps.append((at, burst.line_start_byte - at))
            shown = wanted is None or burst.onu_id in wanted
            row = _onu_row(burst.onu_id) if shown else OTHER_ONUS
            if shown:
                alloc_ids.setdefault(burst.onu_id, set()).update(
                    a.alloc_id for a in burst.allocations
                )
            _burst(out, burst, row)
            at = burst.line_start_byte + burst.line_bytes
        if at > frame.bytes_per_frame:
            raise ValueError(f"frame {frame.index}: bursts end at byte {at}, after the frame")
        gaps.append((at, frame.bytes_per_frame - at))
        quiet = frame.quiet_ps * frame.bytes_per_frame // profile.frame_ps
        for start, size in gaps:
            if not size:
                continue
            if start + size == frame.bytes_per_frame and quiet:
                quiet_here = min(quiet, size)
                out.add(NO_ONU, None, None, "unallocated", start, size - quiet_here, "no burst")
                out.add(
                    NO_ONU,
                    None,
                    None,
                    "quiet",
                    start + size - quiet_here,
                    quiet_here,
                    "quiet window",
                )
            else:
                out.add(NO_ONU, None, None, "unallocated", start, size, "no burst")
        segments += sorted(out.segments, key=lambda s: s.start_byte)
        frames.append(
            FrameInfo(
                frame.index,
                frame.start_ps,
                frame.bytes_per_frame,
                frame.quiet_ps,
                len(frame.bursts),
                sum(len(b.allocations) for b in frame.bursts),
                tuple(
                    (a.alloc_id, a.onu_id, a.tcont, a.start_unit, a.grant_units, a.dbru)
                    for a in frame.bwmap
                ),
            )
        )
    ids = sorted(alloc_ids) if wanted is None else sorted(wanted)
    rows = [
        Row(
            _onu_row(i),
            _row_label(i, sorted(alloc_ids.get(i, ()))),
            i,
            tuple(sorted(alloc_ids.get(i, ()))),
        )
        for i in ids
    ]
    if any(s.row == OTHER_ONUS for s in segments):
        rows.append(Row(OTHER_ONUS, "other ONUs", None, ()))
    if any(s.kind == "quiet" for s in segments):
        rows.append(Row(NO_ONU, "quiet", None, ()))
    return Timeline(
        profile.name,
        profile.title,
        profile.frame_ps,
        tuple(frames),
        tuple(rows),
        tuple(segments),
    )


def _row_label(onu_id: int, alloc_ids: Sequence[int]) -> str:
    if not alloc_ids:
        return f"ONU {onu_id}"
    shown = ",".join(str(a) for a in alloc_ids[:3]) + ("…" if len(alloc_ids) > 3 else "")
    return f"ONU {onu_id} · Alloc {shown}"


# --------------------------------------------------------------------------- the figure
def draw_timeline(timeline: Timeline, title: str = "", zoom_onu: int | None = None) -> Any:
    """A matplotlib figure: one row per ONU, time in µs on x, one colour per kind.

    ``zoom_onu``: a second panel shows that ONU's first traced burst byte by byte (x in line
    bytes from the burst's start, each field named where it is wide enough).  The figure is
    returned, not saved (see :func:`save_figure`).
    """
    from ftth.plots import pyplot

    plt = pyplot()
    rows = list(timeline.rows)
    n_rows = max(1, len(rows))
    zoom = _zoom_segments(timeline, zoom_onu) if zoom_onu is not None else []
    if zoom_onu is not None and not zoom:
        raise ValueError(f"ONU {zoom_onu} sends no burst in the traced frames")
    heights = [0.9 + 0.42 * n_rows] + ([1.3] if zoom else [])
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(12, sum(heights) + 1.6), height_ratios=heights, squeeze=False
    )
    ax = axes[0][0]
    _draw_rows(ax, timeline, rows)
    if zoom:
        _draw_zoom(axes[1][0], zoom)
    present = {seg.kind for seg in timeline.segments} - {"unallocated"}
    _legend(fig, present)
    ax.set_title(title or f"{timeline.title} upstream: who transmits when", fontsize=10, pad=14)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def _draw_rows(ax: Any, timeline: Timeline, rows: list[Row]) -> None:
    from ftth.views.legend import colour

    n_rows = max(1, len(rows))
    index = {row.key: i for i, row in enumerate(rows)}
    first_ps = timeline.frames[0].start_ps if timeline.frames else 0
    # One bar per run of same-kind segments on a row (an XGEM frame's payload next to the
    # next one's is one green bar): the same picture, a smaller SVG.
    bars: dict[tuple[int, str], list[tuple[float, float]]] = {}
    previous: dict[int, tuple[str, int]] = {}
    for seg in timeline.segments:
        y = index.get(seg.row)
        if y is None or seg.kind == "unallocated":
            continue
        runs = bars.setdefault((y, seg.kind), [])
        if previous.get(y) == (seg.kind, seg.start_ps) and runs:
            start_us, _ = runs[-1]
            runs[-1] = (start_us, (seg.end_ps - first_ps) / 1e6 - start_us)
        else:
            runs.append(((seg.start_ps - first_ps) / 1e6, (seg.end_ps - seg.start_ps) / 1e6))
        previous[y] = (seg.kind, seg.end_ps)
    for (y, kind), runs in sorted(bars.items()):
        ax.broken_barh(runs, (y - 0.38, 0.76), facecolors=colour(kind), edgecolor="none")
    for frame in timeline.frames:
        x = (frame.start_ps - first_ps) / 1e6
        ax.axvline(x, color="#424242", linewidth=0.8, linestyle="--")
        ax.text(
            x, 1.0, f" frame {frame.index}", fontsize=8, va="bottom",
            transform=ax.get_xaxis_transform(),
        )  # fmt: skip
    if timeline.frames:
        end = timeline.frames[-1]
        ax.set_xlim(0, (end.start_ps - first_ps + timeline.frame_ps) / 1e6)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_yticks(range(len(rows)), [row.label for row in rows], fontsize=8)
    ax.set_xlabel(
        f"µs from the start of frame {timeline.frames[0].index if timeline.frames else 0} "
        "at the OLT (FEC parity drawn at the end of each burst; on the line it follows every "
        "codeword)",
        fontsize=8,
    )


def _zoom_segments(timeline: Timeline, onu_id: int) -> list[Segment]:
    """The segments of ``onu_id``'s first burst in the timeline."""
    mine = [s for s in timeline.segments if s.onu_id == onu_id]
    if not mine:
        return []
    frame = mine[0].frame
    out = [mine[0]]
    for seg in mine[1:]:
        if seg.frame != frame or seg.start_byte != out[-1].start_byte + out[-1].bytes:
            break
        out.append(seg)
    return out


def _draw_zoom(ax: Any, segs: list[Segment]) -> None:
    from ftth.views.legend import colour

    start = segs[0].start_byte
    total = segs[-1].start_byte + segs[-1].bytes - start
    # Merge runs of one kind within one allocation (the payload of consecutive XGEM frames).
    merged: list[list[Any]] = []
    for seg in segs:
        if merged and merged[-1][0] == seg.kind and seg.kind == "payload":
            merged[-1][2] += seg.bytes
            continue
        merged.append([seg.kind, seg.start_byte - start, seg.bytes, seg.label])
    for kind, offset, size, label in merged:
        ax.broken_barh(
            [(offset, size)], (0, 1), facecolors=colour(kind), edgecolor="white", linewidth=0.3
        )
        if size >= total / 40:
            name = {"payload": "payload", "encap": "hdr", "padding": "pad"}.get(kind, label)
            ax.text(
                offset + size / 2,
                0.5,
                f"{name}\n{size} B",
                ha="center",
                va="center",
                fontsize=7,
                rotation=90 if size < total / 12 else 0,
            )
    seg0 = segs[0]
    ax.set_xlim(0, total)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel(
        f"line bytes from the start of ONU {seg0.onu_id}'s burst in frame {seg0.frame} "
        f"(byte {start} of the frame, {total} bytes, Alloc-ID {seg0.alloc_id} first)",
        fontsize=8,
    )


def _legend(fig: Any, present: set[str]) -> None:
    from matplotlib.patches import Patch

    from ftth.views.legend import KINDS

    handles = [
        Patch(facecolor=k.colour, edgecolor="#616161", label=k.label)
        for k in KINDS
        if k.key in present
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)


def save_figure(fig: Any, path: Path, fmt: str) -> Path:
    """Write ``fig`` as ``fmt`` (``"png"`` or ``"svg"``) to ``path``, atomically and with
    byte-stable metadata (no date, no software version: same run, same bytes)."""
    from ftth.errors import InputError
    from ftth.output import atomic_path

    creator = "ftth timeline"
    metadata = (
        {"Software": None, "Creator": creator}
        if fmt == "png"
        else {"Date": None, "Creator": creator}
    )
    import matplotlib

    try:
        with atomic_path(path) as temp, matplotlib.rc_context({"svg.hashsalt": "ftth-timeline"}):
            fig.savefig(temp, format=fmt, dpi=100, metadata=metadata, bbox_inches="tight")
    except OSError as exc:
        raise InputError(str(path), f"cannot write the figure: {exc.strerror or exc}") from None
    return path
