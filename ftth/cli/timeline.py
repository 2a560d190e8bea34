"""``ftth timeline``: upstream frames drawn — which ONU and Alloc-ID transmits when."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from ftth.cli import app
from ftth.cli.common import ScenarioArg, SetOption, refuse_conflicts, scenario_inputs

#: Most frames one timeline draws (a picture of more is unreadable; the trace run is slow).
MAX_FRAMES = 64


def parse_onus(text: str | None, known: list[int], where: str = "--onus") -> list[int] | None:
    """``"1,2,5"`` → ``[1, 2, 5]``, each an ONU-ID of the scenario (``None`` stays ``None``).

    Raises
    ------
    ftth.errors.InputError
        Not a comma-separated list of integers, or an ID the scenario does not have.
    """
    from ftth.errors import InputError

    if text is None:
        return None
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(where, f"{text!r} is not a comma-separated list of ONU-IDs") from None
    if not ids:
        raise InputError(where, "name at least one ONU-ID, e.g. --onus 1,2,5")
    unknown = [i for i in ids if i not in set(known)]
    if unknown:
        span = f"{min(known)}..{max(known)}" if known else "none"
        raise InputError(
            where,
            f"no ONU with ID {', '.join(map(str, unknown))} in the scenario (ONU-IDs: {span})",
        )
    return list(dict.fromkeys(ids))


@app.command()
def timeline(
    scenario: ScenarioArg = None,
    frames: Annotated[
        int, typer.Option("--frames", help=f"Upstream frames to draw (1..{MAX_FRAMES}).")
    ] = 2,
    at_s: Annotated[
        float | None,
        typer.Option(
            "--at-s",
            help="Emulated second of the first frame (default: the end of the warm-up, "
            "when the queues have settled).",
        ),
    ] = None,
    onus: Annotated[
        str | None,
        typer.Option(
            "--onus", help="ONU-IDs to draw one row each, e.g. 1,2,5 (the others share a row)."
        ),
    ] = None,
    zoom: Annotated[
        int | None,
        typer.Option(
            "--zoom",
            help="ONU-ID whose first burst the picture also shows byte by byte, fields named.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    set_: SetOption = None,
    svg: Annotated[Path | None, typer.Option("--svg", help="Write the picture as SVG.")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Write the picture as PNG.")] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write the picture's data (every segment) ('-' = stdout)."),
    ] = None,
    bwmap: Annotated[
        bool, typer.Option("--bwmap", help="Also print each frame's BWmap (the drawn ONUs').")
    ] = False,
    width: Annotated[
        int | None,
        typer.Option("--width", help="Terminal cells across one frame (default: fit)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No terminal rendering.")] = False,
) -> None:
    """Upstream frames drawn: one row per ONU (and its Alloc-IDs), time on x.

    Each burst shows its guard and preamble (PSBu), burst header, DBRu, the GEM/XGEM frames
    (header, payload, padding), idle and unused grant, trailer and FEC parity; gaps are
    unallocated; quiet windows appear once ONU activation exists.  The run is emulated
    (stepped engine) up to the last drawn frame.  EPON has no frames: use `ftth frame`.
    """
    from rich.console import Console

    from ftth.cli.info import console as wide_console
    from ftth.emulator.trace import trace_frames
    from ftth.errors import InputError
    from ftth.output import Output, check_outputs, transaction, write_text
    from ftth.scenario import load_scenario
    from ftth.units import PS_PER_S
    from ftth.views.terminal import bwmap_table, timeline_render
    from ftth.views.timeline import build_timeline, draw_timeline, save_figure

    overrides = list(set_ or [])
    refuse_conflicts(overrides, {"seed": "--seed" if seed is not None else None})
    if seed is not None:
        overrides.append(f"seed={seed}")
    sc = load_scenario(scenario, overrides)
    profile = sc.profile
    if not profile.framed:
        raise InputError(
            "technology", f"{profile.title} has no upstream frames (MPCP polling); see ftth frame"
        )
    if frames < 1 or frames > MAX_FRAMES:
        raise InputError("--frames", f"must be 1..{MAX_FRAMES}, got {frames}")
    n_run = round(sc.duration_s * PS_PER_S) // profile.frame_ps
    start_s = min(sc.warmup_s_effective, sc.duration_s) if at_s is None else at_s
    if at_s is not None and not 0 <= at_s < sc.duration_s:
        raise InputError(
            "--at-s", f"{at_s:g} s is outside the run (0 ≤ T < duration_s = {sc.duration_s:g} s)"
        )
    first = int(round(start_s * PS_PER_S)) // profile.frame_ps
    if at_s is None:  # the default moment: as late as the frames fit
        first = max(0, min(first, n_run - frames))
    if first + frames > n_run:
        raise InputError(
            "--frames",
            f"{frames} frames from frame {first} (t = {first * profile.frame_ps / PS_PER_S:g} s) "
            f"go beyond the run ({n_run} frames, duration_s = {sc.duration_s:g} s)",
        )
    if width is not None and not 10 <= width <= 1000:
        raise InputError("--width", f"must be 10..1000 terminal cells, got {width}")
    known = [onu.id for onu in sc.onu_list()]
    rows = parse_onus(onus, known)
    if zoom is not None:
        parse_onus(str(zoom), known, "--zoom")
    outputs = [
        Output("--svg", svg) if svg is not None else None,
        Output("--png", png) if png is not None else None,
        Output("--json", json_path, stdout_ok=True) if json_path is not None else None,
    ]
    check_outputs(outputs, inputs=scenario_inputs(sc.source))
    to_stdout = json_path is not None and str(json_path) == "-"
    console = Console(stderr=True) if to_stdout else wide_console()
    busy = console.is_terminal and not quiet
    with console.status("emulating up to the traced frames…") if busy else nullcontext():
        trace = trace_frames(sc, first_frame=first, n_frames=frames)
    view = build_timeline(trace, profile, rows, sc.fec.upstream)
    span = f"frame {first}" if frames == 1 else f"frames {first}..{first + frames - 1}"
    title = (
        f"{sc.name}: {profile.title} upstream, {span} "
        f"(t = {first * profile.frame_ps / PS_PER_S * 1e3:g} ms), {sc.n_onus} ONUs, "
        f"DBA {sc.dba.name or 'default'}, seed {sc.seed}"
    )
    with transaction():
        if svg is not None or png is not None:
            try:
                fig = draw_timeline(view, title, zoom)
            except ValueError as exc:  # the zoomed ONU sent nothing in these frames
                raise InputError("--zoom", str(exc)) from None
            if svg is not None:
                save_figure(fig, svg, "svg")
            if png is not None:
                save_figure(fig, png, "png")
        if json_path is not None:
            data = {"scenario": sc.name, "title": title, **view.to_dict()}
            write_text(json_path, json.dumps(data, indent=2) + "\n")
    if quiet or to_stdout:
        return
    console.print(title, highlight=False)
    label = max((len(row.label) for row in view.rows), default=4) + 1
    cells = width if width is not None else max(20, console.width - label - 1)
    console.print(timeline_render(view, width=cells))
    if bwmap:
        for info in view.frames:
            console.print(bwmap_table(view, info.index, rows))
