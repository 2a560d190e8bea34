"""Imports every command module so each registers its commands on the typer app."""

from ftth.cli import (  # noqa: F401
    budget,
    compare,
    dbacheck,
    frame,
    info,
    pcap,
    plan,
    run,
    sweep,
    timeline,
    validate,
)
