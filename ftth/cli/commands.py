"""Imports every command module so each registers its commands on the typer app."""

from ftth.cli import budget, compare, dbacheck, info, plan, run, validate  # noqa: F401
