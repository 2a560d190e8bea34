"""``ftth pcap``: the Wireshark dissector of the TC capture, and a quick look at a capture;
the capture options of ``ftth run`` (``--pcap-uni``, ``--pcap-tc``, ``--pcap-onus``,
``--pcap-frames``) are parsed and carried out here."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ftth.cli import app
from ftth.errors import InputError

if TYPE_CHECKING:
    from ftth.emulator.result import Result
    from ftth.emulator.spec import EmulationSpec

pcap_app = typer.Typer(
    name="pcap",
    help="Packet captures: `ftth run --pcap-tc FILE` / `--pcap-uni FILE` write them; "
    "`ftth pcap dissector` prints the path of the Wireshark dissector for the TC capture.",
    no_args_is_help=True,
)
app.add_typer(pcap_app, name="pcap")


@pcap_app.command("dissector")
def dissector() -> None:
    """Print the path of the Lua dissector for TC captures (linktype 147).

    Use it as `tshark -X lua_script:$(ftth pcap dissector) -r tc.pcap -V`, or copy it into
    Wireshark's personal plugins folder (docs/pcap.md).
    """
    from ftth.capture import dissector_path

    typer.echo(str(dissector_path()))


@pcap_app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="A capture written by `ftth run --pcap-*`.")],
    json_output: Annotated[bool, typer.Option("--json", help="Counts as JSON.")] = False,
) -> None:
    """Decode a capture with ftth's scapy layers and count what it holds."""
    counts = capture_counts(file)
    if json_output:
        typer.echo(json.dumps(counts, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=str(file))
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    Console().print(table)


def capture_counts(path: Path) -> dict[str, Any]:
    """What a TC or UNI capture holds, decoded with the scapy layers."""
    from scapy.utils import RawPcapReader

    from ftth import phy
    from ftth.capture.read import read_tc, read_uni

    if not path.is_file():
        raise InputError(str(path), "no such file")
    try:
        with RawPcapReader(str(path)) as reader:
            linktype = reader.linktype
    except Exception as exc:  # scapy raises Scapy_Exception on a non-pcap file
        raise InputError(str(path), f"not a pcap file ({exc})") from None
    if linktype == phy.LINKTYPE_USER0:
        records = read_tc(path)
        down = [r for r in records if r.downstream]
        up = [r for r in records if not r.downstream]
        return {
            "kind": "tc",
            "technology": records[0].technology if records else None,
            "downstream_frames": len(down),
            "upstream_bursts": len(up),
            "allocations": sum(len(r.bwmap) for r in down),
            "dbru": sum(s.dbru_units is not None for r in up for s in r.sections),
            "upstream_xgem_frames": sum(len(s.pieces) for r in up for s in r.sections),
            "downstream_xgem_frames": sum(len(r.pieces) for r in down),
        }
    if linktype == phy.LINKTYPE_ETHERNET:
        frames = read_uni(path)
        per = Counter(f.upstream for f in frames)
        return {
            "kind": "uni",
            "packets": len(frames),
            "upstream_packets": per[True],
            "downstream_packets": per[False],
            "bytes": sum(f.size_bytes for f in frames),
            "households": len({f.household_ip for f in frames}),
        }
    raise InputError(str(path), f"linktype {linktype} is not an ftth capture")


# ------------------------------------------------------------------- ftth run --pcap-*
@dataclass(frozen=True)
class CaptureRequest:
    """The capture options of one ``ftth run``."""

    uni: Path | None
    tc: Path | None
    onus: tuple[int, ...] | None
    frames: int | None

    @property
    def wanted(self) -> bool:
        return self.uni is not None or self.tc is not None


def parse_request(
    uni: Path | None, tc: Path | None, onus: str | None, frames: int | None
) -> CaptureRequest:
    """Check the options on their own (the scenario checks come in :func:`check_against`)."""
    if frames is not None and frames < 1:
        raise InputError("--pcap-frames", f"must be at least 1 (125 µs frames), got {frames}")
    ids: tuple[int, ...] | None = None
    if onus is not None:
        try:
            ids = tuple(int(part) for part in onus.split(",") if part.strip())
        except ValueError:
            raise InputError(
                "--pcap-onus", f"expected ONU-IDs separated by commas (e.g. 1,2,5), got {onus!r}"
            ) from None
        if not ids:
            raise InputError("--pcap-onus", "names no ONU")
    if uni is None and tc is None:
        for option, given in (("--pcap-onus", onus is not None), ("--pcap-frames", frames)):
            if given:
                raise InputError(option, "limits a capture: give --pcap-uni or --pcap-tc too")
    if uni is not None and tc is not None and uni.resolve() == tc.resolve():
        raise InputError("--pcap-tc", f"{tc} is also the --pcap-uni file; name two files")
    return CaptureRequest(uni, tc, ids, frames)


def check_against(request: CaptureRequest, spec: EmulationSpec) -> None:
    """Refuse ONU-IDs the scenario does not have and a TC capture of EPON."""
    if request.onus is not None:
        unknown = sorted(set(request.onus) - set(spec.onu_ids))
        if unknown:
            raise InputError(
                "--pcap-onus",
                f"no ONU with ID {', '.join(map(str, unknown))} in the scenario"
                f" (ONU-IDs {min(spec.onu_ids)}..{max(spec.onu_ids)})",
            )
    if request.tc is not None and not spec.profile.framed:
        raise InputError(
            "--pcap-tc",
            f"{spec.profile.title} has no TC frames to capture: the EPON engine does not"
            " trace its GATE/REPORT exchange yet (--pcap-uni works)",
        )


def capture_frames(request: CaptureRequest, spec: EmulationSpec) -> int:
    """Frames (125 µs) the captures cover: ``--pcap-frames``, at most the run's."""
    from ftth.units import FRAME_PS

    run_frames = -(-spec.duration_ps // FRAME_PS)
    return run_frames if request.frames is None else min(request.frames, run_frames)


def attach_uni_sink(request: CaptureRequest, spec: EmulationSpec) -> Any:
    """Make ``spec`` hand its delivered packets to a UNI sink (which still feeds the
    scenario's ``output.trace_csv`` when there is one); return the sink."""
    from ftth.capture.write import UniSink
    from ftth.metrics import PacketTrace
    from ftth.units import FRAME_PS

    then = PacketTrace(spec.trace_csv) if spec.trace_csv else None
    sink = UniSink(
        spec,
        set(request.onus) if request.onus is not None else None,
        capture_frames(request, spec) * FRAME_PS,
        then,
    )
    spec.packet_sink = sink
    return sink


@dataclass(frozen=True)
class PendingCapture:
    """A capture computed after the run, waiting for the output transaction."""

    path: Path
    option: str
    linktype: int
    records: list[tuple[int, bytes]]


def build_captures(
    request: CaptureRequest,
    spec: EmulationSpec,
    sink: Any,
    result: Result,
    progress: Callable[[int, int], None] | None = None,
) -> list[PendingCapture]:
    """Compute the captures' records (the TC capture traces the first frames again with the
    stepped engine) and report their counts in the results under ``captures``."""
    from ftth import phy
    from ftth.capture.write import tc_records
    from ftth.emulator.trace import trace_spec

    frames = capture_frames(request, spec)
    report: dict[str, Any] = {}
    pending: list[PendingCapture] = []
    onus = list(request.onus) if request.onus is not None else None
    if request.uni is not None:
        pending.append(
            PendingCapture(request.uni, "--pcap-uni", phy.LINKTYPE_ETHERNET, sink.records())
        )
        report["uni"] = {"file": str(request.uni), "frames": frames, "onus": onus,
                         **sink.counts()}  # fmt: skip
    if request.tc is not None:
        trace = trace_spec(
            spec, first_frame=0, n_frames=frames, onus=request.onus, progress=progress
        )
        records, counts = tc_records(trace)
        pending.append(PendingCapture(request.tc, "--pcap-tc", phy.LINKTYPE_USER0, records))
        report["tc"] = {"file": str(request.tc), "frames": frames, "onus": onus,
                        **counts.as_dict()}  # fmt: skip
    result.data["captures"] = report
    return pending


def write_captures(pending: list[PendingCapture]) -> None:
    """Write the computed captures (inside the caller's output transaction)."""
    from ftth.capture.write import write_records
    from ftth.output import atomic_path

    for capture in pending:
        with atomic_path(capture.path) as temp:
            write_records(temp, capture.linktype, capture.records, capture.option)
