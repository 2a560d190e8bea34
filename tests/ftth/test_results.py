"""``ftth.results``: the header in every document, the models that check them, the scenario
hash, and docs/results-schema.json regenerated identical."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import ftth
from ftth import results
from ftth.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
STANDARD = str(REPO / "bench" / "standard.toml")
SMALL = ["onus.count=4", "duration_s=0.012"]
HEADER = ["schema_version", "ftth_version", "scenario_hash"]


@pytest.fixture(scope="module")
def run_doc() -> dict[str, Any]:
    return ftth.run(STANDARD, overrides=SMALL).to_dict()


def test_schema_file_is_regenerated_identical() -> None:
    script = runpy.run_path(str(REPO / "scripts" / "gen_results_schema.py"))
    current = (REPO / "docs" / "results-schema.json").read_text(encoding="utf-8")
    assert current == script["render"](), (
        "docs/results-schema.json is stale: run python scripts/gen_results_schema.py"
    )
    schema = json.loads(current)
    assert schema["schema_version"] == results.SCHEMA_VERSION
    assert set(schema["x-documents"]) == {"run", "plan", "compare", "sweep_row", "sweep_summary"}
    for ref in schema["x-documents"].values():
        assert ref["$ref"].removeprefix("#/$defs/") in schema["$defs"]


def test_run_document_starts_with_the_header(run_doc: dict[str, Any]) -> None:
    assert list(run_doc)[:3] == HEADER
    assert run_doc["schema_version"] == results.SCHEMA_VERSION == 1
    assert run_doc["ftth_version"] == ftth.__version__
    assert run_doc["scenario_hash"] == results.scenario_hash(load_scenario(STANDARD, SMALL))
    results.RunResult.model_validate(run_doc)
    # The keys other code reads are still there (added, never renamed).
    for key in ("scenario", "seed", "upstream", "downstream", "verdict", "conservation", "wall_s"):
        assert key in run_doc


def test_a_document_missing_a_key_is_refused(run_doc: dict[str, Any]) -> None:
    for key in ("verdict", "scenario_hash", "upstream"):
        broken = {k: v for k, v in run_doc.items() if k != key}
        with pytest.raises(ValidationError):
            results.RunResult.model_validate(broken)
    wrong = dict(run_doc, schema_version=2)
    with pytest.raises(ValidationError):
        results.RunResult.model_validate(wrong)
    bad_hash = dict(run_doc, scenario_hash="md5:abc")
    with pytest.raises(ValidationError):
        results.RunResult.model_validate(bad_hash)
    # A key a newer writer adds is kept, not refused.
    results.RunResult.model_validate(dict(run_doc, faults={"lost_bytes": 0}))


def test_plan_document_has_the_header() -> None:
    from ftth.plan import plan

    sc = load_scenario("urban-2020-100mbps", ["duration_s=0.012"])
    doc = plan(sc, emulate=False).to_dict()
    assert list(doc)[:3] == HEADER
    assert doc["scenario_hash"] == results.scenario_hash(sc)
    results.PlanResult.model_validate(doc)


def test_scenario_hash() -> None:
    base = load_scenario(STANDARD, SMALL)
    same = load_scenario(STANDARD, [*SMALL, 'output.json="x.json"', "traffic.window_ms=7"])
    assert results.scenario_hash(base) == results.scenario_hash(same)  # no emulated number moves
    assert results.scenario_hash(base) == results.scenario_hash(base.model_dump(mode="json"))
    for other in ("seed=2", "onus.count=5", 'dba.name="sr-dba"', "duration_s=0.013"):
        changed = load_scenario(STANDARD, [*SMALL, other])
        assert results.scenario_hash(changed) != results.scenario_hash(base), other
    assert (
        results.scenario_hash(base).startswith("sha256:") and len(results.scenario_hash(base)) == 71
    )


def test_documents_validate_against_the_json_schema_file(run_doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "docs" / "results-schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(run_doc, schema)
