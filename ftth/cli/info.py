"""``ftth profiles`` and ``ftth list``: what the emulator knows by name.

Only typer and the standard library are imported at module level: ``ftth --help`` imports
every command module, so ftth.phy (numpy), the DBA registry and the traffic models are
imported inside the commands that need them.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ftth.cli import app

if TYPE_CHECKING:
    from rich.console import Console

    from ftth.phy import Direction, Profile

#: Ceilings shown by ``ftth profiles``: the reference load of pon-reference §2.
CEILING_ONUS = 32
CEILING_FRAME_BYTES = 1518

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


class Catalogue(StrEnum):
    """What ``ftth list`` can list."""

    technologies = "technologies"
    dbas = "dbas"
    traffic = "traffic"
    seeds = "seeds"


def _fec_name(profile: Profile, direction: Direction) -> str | None:
    """``"RS(n,k)"`` of the profile's default FEC in ``direction``, or ``None`` when off."""
    code = profile.fec(direction, None)
    return f"RS({code.n},{code.k})" if code else None


def profile_summary(profile: Profile) -> dict[str, Any]:
    """JSON-ready description of a profile, with its saturation goodput ceilings.

    The ceilings are :func:`ftth.phy.saturation_goodput_bps` at 32 ONUs and 1518-byte
    frames, with the profile's default FEC and the realistic overheads (fragment headers
    counted; no DBRu), i.e. what a saturation run of the emulator reaches.
    """
    from ftth.phy import saturation_goodput_bps

    return {
        "name": profile.name,
        "title": profile.title,
        "standard": profile.standard,
        "framed": profile.framed,
        "downstream_bps": profile.downstream_bps,
        "upstream_bps": profile.upstream_bps,
        "ceiling_downstream_bps": saturation_goodput_bps(
            profile, "downstream", CEILING_ONUS, CEILING_FRAME_BYTES
        ),
        "ceiling_upstream_bps": saturation_goodput_bps(
            profile, "upstream", CEILING_ONUS, CEILING_FRAME_BYTES
        ),
        "ceiling_onus": CEILING_ONUS,
        "ceiling_frame_bytes": CEILING_FRAME_BYTES,
        "fec_downstream": _fec_name(profile, "downstream"),
        "fec_upstream": _fec_name(profile, "upstream"),
        "encapsulation": profile.encap,
        "grant_unit_bytes": profile.grant_unit_bytes,
        "max_split": profile.max_split,
        "reach_km": profile.reach_km,
        "max_differential_km": profile.max_differential_km,
        "downstream_wavelength_nm": profile.ds_wavelength_nm,
        "upstream_wavelength_nm": profile.us_wavelength_nm,
        "optical_classes": {
            name: {"min_db": low, "max_db": high}
            for name, (low, high) in profile.optical_classes.items()
        },
        "default_optical_class": profile.default_optical_class,
    }


def console() -> Console:
    """A rich console for tables; at least 132 columns when stdout is a file or a pipe.

    Rich assumes 80 columns when it cannot ask a terminal, which squeezes a wide table into
    truncated cells; a log file or ``| less -S`` has no such limit.
    """
    from rich.console import Console

    out = Console()
    if not out.is_terminal:
        out.width = max(out.width, 132)
    return out


def profile_overheads(profile: Profile) -> dict[str, Any]:
    """Where the line bytes of ``profile`` go, per overhead and direction (JSON-ready).

    The frames of the ceilings (:func:`ftth.views.anatomy.frame_anatomy` at
    :data:`CEILING_ONUS` ONUs and :data:`CEILING_FRAME_BYTES`-byte frames, default FEC), so
    each direction's goodput is the ceiling of :func:`profile_summary`.
    """
    from ftth.views.anatomy import frame_anatomy

    down, up = frame_anatomy(profile, CEILING_ONUS, CEILING_FRAME_BYTES)
    return {"name": profile.name, "downstream": down.to_dict(), "upstream": up.to_dict()}


OverheadsOption = Annotated[
    bool,
    typer.Option(
        "--overheads",
        help="One table per technology: every overhead (sync, headers, BWmap, PLOAM, "
        "GEM/XGEM headers and padding, FEC parity, burst guard/preamble, DBRu) in bytes "
        "and % of the line, both directions (`ftth frame` shows one scenario's frames).",
    ),
]


@app.command()
def profiles(json_output: JsonOption = False, overheads: OverheadsOption = False) -> None:
    """Technology profiles: line rates, saturation ceilings (32 ONUs, 1518 B), split, reach.

    With --overheads: where the line bytes go, per overhead, for each technology.
    """
    from ftth.phy import PROFILES

    rows = [profile_summary(p) for p in PROFILES.values()]
    if overheads:
        rows = [
            {**row, "overheads": profile_overheads(p)}
            for row, p in zip(rows, PROFILES.values(), strict=True)
        ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    if overheads:
        from ftth.views.anatomy import frame_anatomy
        from ftth.views.terminal import overheads_table

        out = console()
        for profile in PROFILES.values():
            out.print(overheads_table(*frame_anatomy(profile, CEILING_ONUS, CEILING_FRAME_BYTES)))
        return

    from rich.table import Table

    table = Table(
        title=f"Technology profiles (ceiling: Ethernet goodput at saturation, {CEILING_ONUS} "
        f"ONUs, {CEILING_FRAME_BYTES}-byte frames, default FEC)"
    )
    headers = (
        "name",
        "line down\nGb/s",
        "line up\nGb/s",
        "ceiling\ndown Gb/s",
        "ceiling\nup Gb/s",
        "FEC\ndown",
        "FEC\nup",
        "max\nsplit",
        "reach\nkm",
        "optical\nclasses",
    )
    for header in headers:
        numeric = "Gb/s" in header or "km" in header
        table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['downstream_bps'] / 1e9:.3f}",
            f"{row['upstream_bps'] / 1e9:.3f}",
            f"{row['ceiling_downstream_bps'] / 1e9:.3f}",
            f"{row['ceiling_upstream_bps'] / 1e9:.3f}",
            row["fec_downstream"] or "off",
            row["fec_upstream"] or "off",
            f"1:{row['max_split']}",
            f"{row['reach_km']:g}",
            " ".join(row["optical_classes"]),
        )
    console().print(table)


# --------------------------------------------------------------------------- ftth list
def seed_dirs() -> list[Path]:
    """Folders searched for seed scenarios: the installed package's, then the source tree's."""
    package = Path(__file__).resolve().parent.parent
    candidates = [package / "seeds", package.parent / "seeds"]
    return [folder for folder in candidates if folder.is_dir()]


def seed_description(path: Path) -> str:
    """The first comment line of a seed file (without ``#``), or ``""`` if none."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            stripped = line.strip()
            if stripped.startswith("#"):
                return stripped.lstrip("#").strip()
            if stripped:
                break  # the description must come before the first key or table
    return ""


def list_seeds() -> dict[str, Path]:
    """Seed name (file stem) → path, sorted by name; the package's copy wins on a clash."""
    found: dict[str, Path] = {}
    for folder in seed_dirs():
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def catalogue_names(what: Catalogue) -> list[str]:
    """Names registered under ``what`` (imports the registry only when asked)."""
    if what is Catalogue.technologies:
        from ftth.phy import PROFILES

        return list(PROFILES)
    if what is Catalogue.dbas:
        from olt.dba.registry import list_dbas

        return list(list_dbas())
    if what is Catalogue.traffic:
        from ftth.traffic import list_models

        return list(list_models())
    return list(list_seeds())


@app.command("list")
def list_catalogue(
    what: Annotated[Catalogue, typer.Argument(help="What to list.")],
    json_output: JsonOption = False,
) -> None:
    """Names of technologies, DBAs, traffic models or seed scenarios, one per line."""
    if json_output:
        typer.echo(json.dumps(catalogue_names(what)))
        return
    if what is Catalogue.dbas:
        from olt.dba.registry import broken_dbas

        for name in catalogue_names(what):
            typer.echo(name)
        for name, reason in broken_dbas().items():
            typer.echo(f"{name}  (broken plugin: {reason})")
        return
    if what is Catalogue.seeds:
        seeds = list_seeds()
        width = max((len(name) for name in seeds), default=0)
        for name, path in seeds.items():
            description = seed_description(path)
            typer.echo(f"{name:<{width}}  {description}".rstrip())
        return
    for name in catalogue_names(what):
        typer.echo(name)
