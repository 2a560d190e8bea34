"""Imports every command module so each registers its commands on the typer app."""

from ftth.cli import budget, compare, frame, info, plan, run, timeline, validate  # noqa: F401
