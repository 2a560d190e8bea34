"""Every seed scenario is valid, passes its optical budget and runs to a verdict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ftth
from ftth.optics import budget_report
from ftth.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT / "seeds").glob("*.toml"))
BROADBAND_CHINA = {
    "urban-2015-20mbps", "city-2015-100mbps", "rural-2015-4mbps", "urban-2020-50mbps",
    "urban-2020-100mbps", "gigabit-2020", "rural-2020-12mbps", "enterprise-1000mbps", "fttb-2020",
}  # fmt: skip


def test_every_broadband_china_target_has_a_seed() -> None:
    assert {p.stem for p in SEEDS} >= BROADBAND_CHINA


@pytest.mark.parametrize("path", SEEDS, ids=[p.stem for p in SEEDS])
def test_seed_header_says_what_it_models(path: Path) -> None:
    """Each seed opens with a comment naming the target it models and its assumptions."""
    head = path.read_text().split("\nname", 1)[0]
    assert head.startswith(f"# {path.stem}:"), head[:80]
    assert "Target modelled" in head and "Assumptions" in head


@pytest.mark.parametrize("path", SEEDS, ids=[p.stem for p in SEEDS])
def test_seed_budget_and_short_run(path: Path) -> None:
    """A 20 ms run gives a verdict and balances its ledger; the optical budget holds."""
    sc = load_scenario(path, ["duration_s=0.02"])
    report = budget_report(
        sc.topology(),
        connectors=sc.tree.connectors,
        splices=sc.tree.splices,
        optical_class=sc.tree.optical_class,
        margin_db=sc.tree.margin_db,
    )
    assert report.passed, [o.verdict for o in report.onus]
    data = ftth.run(sc).to_dict()
    assert isinstance(data["verdict"]["pass"], bool)
    c = data["conservation"]
    assert c["offered_bytes"] == c["delivered_bytes"] + c["queued_bytes"] + c["dropped_bytes"]
    assert data["scenario"]["name"] == path.stem


def test_list_seeds_names_them_all() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ftth", "list", "seeds"], capture_output=True, text=True, check=True
    ).stdout
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {p.stem for p in SEEDS} <= listed
