"""``ftth frame``: the anatomy of one downstream and one upstream frame of a scenario's PON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ftth.cli import app
from ftth.cli.common import ScenarioArg, SetOption, scenario_inputs

#: Columns of ``ftth frame --csv``.
CSV_COLUMNS = (
    "direction",
    "field",
    "kind",
    "count",
    "each_bytes",
    "bytes",
    "share",
    "clause",
    "note",
)


@app.command()
def frame(
    scenario: ScenarioArg = None,
    set_: SetOption = None,
    onus: Annotated[
        int | None,
        typer.Option("--onus", help="ONUs sharing the PON (default: the scenario's count)."),
    ] = None,
    packet_bytes: Annotated[
        int, typer.Option("--packet-bytes", help="Ethernet frame length of the backlog.")
    ] = 1518,
    dbru: Annotated[
        bool,
        typer.Option("--dbru", help="Every upstream allocation carries a DBRu (4 B XG, 2 B GPON)."),
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the anatomy as JSON here ('-' = stdout).")
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write one row per field (both directions).")
    ] = None,
    all_bursts: Annotated[
        bool, typer.Option("--all-bursts", help="Print every upstream burst, not only the first.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables.")] = False,
) -> None:
    """The anatomy of one downstream and one upstream frame, byte by byte, and the goodput.

    The frame of the saturation model (`ftth profiles` ceilings): every ONU backlogged with
    full-size Ethernet frames, one allocation each; the upstream frame shared equally in whole
    grant units.  Every overhead (PSBd/PCBd, XGTC header, BWmap, PLOAM, GEM/XGEM headers and
    padding, FEC parity, PSBu guard/preamble/delimiter, burst header and trailer, DBRu, idle)
    is a row; the rows add up to the frame's bytes and the Ethernet row is the goodput,
    equal to ftth.phy.saturation_goodput_bps.  EPON: 125 µs of downstream stream and one
    upstream polling cycle.
    """
    from ftth.errors import InputError
    from ftth.output import Output, check_outputs, transaction, write_text
    from ftth.scenario import load_scenario
    from ftth.views.anatomy import frame_anatomy

    sc = load_scenario(scenario, list(set_ or []))
    check_outputs(
        [
            Output("--json", json_path, stdout_ok=True) if json_path is not None else None,
            Output("--csv", csv_path) if csv_path is not None else None,
        ],
        inputs=scenario_inputs(sc.source),
    )
    n_onus = sc.n_onus if onus is None else onus
    if n_onus < 1:
        raise InputError("--onus", f"must be at least 1, got {n_onus}")
    if packet_bytes < 64:  # IEEE 802.3 §3.2.7: minFrameSize
        raise InputError(
            "--packet-bytes", f"an Ethernet frame is at least 64 bytes, got {packet_bytes}"
        )
    if dbru and not sc.profile.framed:
        raise InputError("--dbru", f"{sc.profile.title} has no DBRu (MPCP REPORTs are counted)")
    down, up = frame_anatomy(
        sc.profile, n_onus, packet_bytes, sc.fec.downstream, sc.fec.upstream, dbru=dbru
    )
    data: dict[str, Any] = {
        "scenario": sc.name,
        "technology": sc.profile.name,
        "downstream": down.to_dict(),
        "upstream": up.to_dict(),
    }
    with transaction():
        if json_path is not None:
            write_text(json_path, json.dumps(data, indent=2) + "\n")
        if csv_path is not None:
            write_text(
                csv_path, _csv({"downstream": data["downstream"], "upstream": data["upstream"]})
            )
    if quiet or (json_path is not None and str(json_path) == "-"):
        return
    from ftth.cli.info import console
    from ftth.views.terminal import (
        anatomy_bwmap_table,
        anatomy_table,
        burst_table,
        legend_text,
    )

    out = console()
    out.print(anatomy_table(down))
    if down.bwmap:
        out.print(anatomy_bwmap_table(down, None if all_bursts else 4))
    out.print(anatomy_table(up))
    for burst in up.bursts if all_bursts else up.bursts[:1]:
        out.print(burst_table(burst, up))
    out.print(legend_text(sorted({p.kind for a in (down, up) for p in a.parts})))


def _csv(data: dict[str, dict[str, Any]]) -> str:
    """One row per part of each direction (:data:`CSV_COLUMNS`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for direction in ("downstream", "upstream"):
        anatomy = data[direction]
        for part in anatomy["parts"]:
            writer.writerow(
                [
                    direction,
                    part["name"],
                    part["kind"],
                    part["count"],
                    part["each_bytes"],
                    part["bytes_exact"],
                    part["share"],
                    part["clause"],
                    part["note"],
                ]
            )
    return buffer.getvalue()
