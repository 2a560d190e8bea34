"""Downstream class weights: weighted DRR among the classes of one priority at the OLT.

Analytic answer: queues of one priority level that are all backlogged (offered far above
their share) are served in proportion to their DRR quanta, ``max(1, round(Q·w))`` bytes per
round, so two classes of weights 1 and 3 split the level's bytes 1:3 and the ONUs of one
class get equal bytes.  DRR's bound (Shreedhar & Varghese 1995) is about one quantum per
queue over the whole run; the runs here last hundreds of rounds, hence the 1 % tolerance.
Strict priority between levels ignores the weights; the ledger stays exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ftth.emulator import RawRun, run_spec
from ftth.emulator.build import build_spec
from ftth.scenario import scenario_from_dict
from tests.ftth.emulator.helpers import (
    COUNTER_KEYS,
    FAST_VARIANTS,
    assert_identical,
    assert_variant,
    use_fast_variant,
)

ONUS = 4
TOLERANCE = 0.01  # relative; about one quantum per queue over the run: ~0.3 % here
#: Long enough for hundreds of DRR rounds: 400 GPON frames, 1600 EPON slices.
DURATION_S = {"gpon": 0.05, "epon-1g": 0.2}


def scenario(technology: str, classes: list[dict[str, Any]], duration_s: float) -> Any:
    """``ONUS`` ONUs, a light upstream, and the given downstream classes, each fed by an
    unbounded greedy source of 1518-byte frames (always backlogged)."""
    epon = technology.startswith("epon")
    return scenario_from_dict(
        {
            "name": "weights",
            "technology": technology,
            "duration_s": duration_s,
            "seed": 1,
            "tree": {"splitters": [16], **({"optical_class": "PX20"} if epon else {})},
            "onus": {"count": ONUS, "drop_km": [1.0, 10.0]},
            "tconts": [
                {
                    "name": "data",
                    "type": 4,
                    "max_bps": 1e9,
                    "traffic": {"model": "poisson", "rate_bps": 1e6},
                }
            ],
            "downstream": [
                {**c, "traffic": {"model": "greedy", "size_bytes": 1518}} for c in classes
            ],
        }
    )


def delivered_by_class(raw: RawRun, n_classes: int) -> np.ndarray:
    """Delivered downstream bytes as [ONU, class] (queues are laid out ONU by ONU)."""
    return raw.downstream.counters["delivered_bytes"].reshape(ONUS, n_classes)


def assert_ledger(raw: RawRun) -> None:
    c = raw.downstream.counters
    assert set(c) == set(COUNTER_KEYS)
    for unit in ("bytes", "packets"):
        np.testing.assert_array_equal(
            c[f"offered_{unit}"],
            c[f"delivered_{unit}"] + c[f"queued_{unit}"] + c[f"dropped_{unit}"]
            + c[f"lost_{unit}"],
        )  # fmt: skip


def run_path(technology: str, path: str, spec: Any, monkeypatch: pytest.MonkeyPatch) -> RawRun:
    if path == "reference":
        return run_spec(spec, "reference")
    if technology.startswith("epon"):
        return run_spec(spec, "fast")
    use_fast_variant(path, monkeypatch)
    raw = run_spec(spec, "fast")
    assert_variant(raw, path)
    return raw


PATHS = [("gpon", v) for v in (*FAST_VARIANTS, "reference")] + [
    ("epon-1g", "fast"),
    ("epon-1g", "reference"),
]


@pytest.mark.parametrize(("technology", "path"), PATHS)
def test_weights_one_and_three_split_a_saturated_level_one_to_three(
    technology: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    classes = [
        {"name": "bronze", "priority": 2, "weight": 1.0},
        {"name": "gold", "priority": 2, "weight": 3.0},
    ]
    spec = build_spec(scenario(technology, classes, DURATION_S[technology]))
    assert [q.weight for q in spec.downstream] == [1.0, 3.0] * ONUS
    raw = run_path(technology, path, spec, monkeypatch)
    assert_ledger(raw)
    got = delivered_by_class(raw, 2)
    per_class = got.sum(axis=0)
    # The level really was shared (saturated, nothing idle): both classes carried a lot.
    assert per_class.min() > 1_000_000
    assert per_class[1] / per_class[0] == pytest.approx(3.0, rel=TOLERANCE)
    # ONU fairness inside each class is unchanged: equal bytes per ONU.
    for c in range(2):
        assert got[:, c] == pytest.approx(np.full(ONUS, got[:, c].mean()), rel=TOLERANCE)


@pytest.mark.parametrize("technology", ["gpon", "epon-1g"])
def test_strict_priority_ignores_weights(technology: str) -> None:
    """A saturated high level leaves nothing to a lower one, whatever the weights."""
    classes = [
        {"name": "high", "priority": 0, "weight": 1e-6},
        {"name": "low", "priority": 1, "weight": 1e6},
    ]
    raw = run_spec(build_spec(scenario(technology, classes, 0.02)))
    assert_ledger(raw)
    got = delivered_by_class(raw, 2)
    assert got[:, 0].min() > 100_000
    assert int(got[:, 1].sum()) == 0


def test_fast_and_reference_identical_with_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Weighted quanta reach every engine path alike: the compiled frame loop, the stepped
    loop and the reference engine give the same packets and ledger (Poisson classes of
    weights 0.25, 1, 3 at one level, one above; overloaded so the DRR decides)."""
    classes = [
        {"name": "voice", "priority": 0, "weight": 0.5},
        {"name": "a", "priority": 1, "weight": 0.25},
        {"name": "b", "priority": 1, "weight": 1.0},
        {"name": "c", "priority": 1, "weight": 3.0},
    ]
    data: dict[str, Any] = {
        "name": "weights-eq",
        "technology": "gpon",
        "duration_s": 0.01,
        "seed": 7,
        "tree": {"splitters": [16]},
        "onus": {"count": ONUS, "drop_km": [1.0, 10.0]},
        "tconts": [{"name": "data", "type": 4, "max_bps": 1e9}],
        "downstream": [
            {**c, "traffic": {"model": "poisson", "rate_bps": 300e6, "sizes": "trimodal"}}
            for c in classes
        ],
    }
    data["downstream"][0]["traffic"] = {"model": "cbr", "rate_bps": 2e6, "size_bytes": 200}
    runs = {}
    for path in (*FAST_VARIANTS, "reference"):
        spec = build_spec(scenario_from_dict(data), record_packets=True)
        runs[path] = run_path("gpon", path, spec, monkeypatch)
    for path in FAST_VARIANTS:
        assert_identical(runs[path], runs["reference"], (path, "reference"))
    assert_ledger(runs["reference"])


def test_weight_description_states_the_quanta_the_engine_uses() -> None:
    """The scenario key's description (docs/scenario.md) quotes Q per technology: it must be
    the base quantum the engines use."""
    from ftth.emulator.common import drr_quantum_bytes
    from ftth.phy import get_profile
    from ftth.scenario.models import DownstreamClass

    text = DownstreamClass.model_fields["weight"].description or ""
    for label, tech in (("GPON", "gpon"), ("XG/XGS-PON", "xgs-pon"), ("EPON", "epon-1g")):
        assert f"{label} {drr_quantum_bytes(get_profile(tech))}" in text, label
    assert drr_quantum_bytes(get_profile("xg-pon")) == drr_quantum_bytes(get_profile("xgs-pon"))
    assert drr_quantum_bytes(get_profile("epon-10g")) == drr_quantum_bytes(get_profile("epon-1g"))
