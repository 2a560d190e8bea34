"""Imports every command module so each registers its commands on the typer app."""

from ftth.cli import budget, compare, info, plan, run, sweep, validate  # noqa: F401
