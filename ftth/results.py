"""One results schema: the JSON documents and SQLite rows ftth writes, as pydantic models.

Every document carries a header of three fields:

* ``schema_version``: :data:`SCHEMA_VERSION`, raised when a key is renamed or removed or its
  meaning changes (adding a key does not raise it: readers ignore keys they do not know);
* ``ftth_version``: the version of ftth that wrote it;
* ``scenario_hash``: :func:`scenario_hash` of the scenario the numbers come from.

The documents are

========================  ====================================================================
:class:`RunResult`        ``ftth run --json`` (:mod:`ftth.emulator.result`)
:class:`PlanResult`       ``ftth plan --json`` (:mod:`ftth.plan`): a run document (when an
                          emulation ran) plus ``plan``
:class:`CompareResult`    ``ftth compare-dba --json`` (:mod:`ftth.compare`)
:class:`SweepRow`         one row of a sweep's SQLite table ``runs`` (:mod:`ftth.sweep.store`)
:class:`SweepSummary`     ``ftth sweep summary --json`` (:mod:`ftth.sweep.summary`)
========================  ====================================================================

Each model accepts keys it does not declare (``extra="allow"``): a newer writer may add keys,
and the models check that the declared ones are present and well typed.  The JSON Schema of
all of them is ``docs/results-schema.json``, written by ``scripts/gen_results_schema.py`` (a
test regenerates it and requires identical bytes).

This module imports only pydantic and the standard library (layer 0): the emulator stamps
the header with it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ftth import __version__

#: Version of the results schema (the documents described here).
SCHEMA_VERSION = 1
#: ``sha256:`` + 64 hex digits (:func:`scenario_hash`).
HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"
#: Scenario keys that change no emulated number, left out of the scenario hash: where output
#: files go, and the traffic generation window (results do not depend on it, tested in
#: tests/ftth/test_api.py).  Writing the JSON elsewhere does not make another scenario.
UNHASHED_KEYS = ("output", "traffic.window_ms")

Status = Literal["pass", "fail", "inconclusive"]


def scenario_hash(scenario: Any) -> str:
    """A fingerprint of a validated scenario: ``sha256:`` + the hex digest of its canonical JSON.

    Parameters
    ----------
    scenario
        A :class:`ftth.scenario.Scenario` (anything with pydantic's ``model_dump``) or the
        dict of its ``model_dump(mode="json")``.

    The canonical JSON is the validated model (defaults filled in, so two files that differ
    only by a default spelled out hash the same) with sorted keys and no whitespace, without
    :data:`UNHASHED_KEYS`.  The seed and every override are part of it.
    """
    data = scenario if isinstance(scenario, dict) else scenario.model_dump(mode="json")
    kept = json.loads(json.dumps(data, allow_nan=False))  # a deep copy
    for dotted in UNHASHED_KEYS:
        *path, last = dotted.split(".")
        table = kept
        for part in path:
            table = table.get(part) if isinstance(table, dict) else None
        if isinstance(table, dict):
            table.pop(last, None)
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def header(scenario_hash_: str | None) -> dict[str, Any]:
    """The three header fields, in the order every document starts with."""
    return {
        "schema_version": SCHEMA_VERSION,
        "ftth_version": __version__,
        "scenario_hash": scenario_hash_,
    }


class _Open(BaseModel):
    """A part of a document: declared keys are checked, others are kept."""

    model_config = ConfigDict(extra="allow")


class Header(_Open):
    """The fields every document and row starts with."""

    schema_version: Literal[1] = Field(description="Version of the results schema.")
    ftth_version: str = Field(description="Version of ftth that wrote the document.")
    scenario_hash: str | None = Field(
        pattern=HASH_PATTERN,
        description="Fingerprint of the scenario (ftth.results.scenario_hash); null only in a "
        "run document built outside ftth.run / ftth.plan.",
    )


class ScenarioInfo(_Open):
    name: str
    technology: str
    split: int | None = None
    onus: int | None = None
    tconts: int | None = None
    dba: str | None = None


class Delay(_Open):
    """Delay of a class in µs (``None`` when it carried no packet in the window)."""

    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    packets: int


class DirectionResult(_Open):
    offered_bps: float
    throughput_bps: float
    capacity_bps: float
    loss_ratio: float
    delay_us: dict[str, Delay]
    conservation: dict[str, int | bool]


class Rule(_Open):
    name: str
    status: str
    reasons: list[str]


class Verdict(_Open):
    status: Status
    pass_: bool = Field(alias="pass")
    reasons: list[str]
    rules: list[Rule]


class RunResult(Header):
    """``ftth run --json``: one emulation (keys defined in :mod:`ftth.emulator.result`)."""

    scenario: ScenarioInfo
    seed: int
    duration_s: float
    warmup_s: float
    engine: str
    backend: str
    frames: int
    wall_s: float | None = Field(None, description="Wall-clock seconds (machine-dependent).")
    realtime_factor: float | None = None
    upstream: DirectionResult
    downstream: DirectionResult
    grant_utilisation: dict[str, float]
    tconts: list[dict[str, Any]]
    households: list[dict[str, Any]]
    fairness: dict[str, float]
    conservation: dict[str, int | bool]
    warnings: list[str]
    verdict: Verdict


class PlanResult(Header):
    """``ftth plan --json``: the run document (when an emulation ran) plus ``plan``."""

    scenario: ScenarioInfo
    seed: int
    duration_s: float
    engine: str | None
    plan: dict[str, Any]
    households: list[dict[str, Any]]
    warnings: list[str]
    verdict: Verdict


class CompareRun(_Open):
    """One run of a comparison (``runs[i]``); measured figures are ``None`` when the run was
    inconclusive or failed (``error`` says why)."""

    dba: str
    load: float
    seed: int
    verdict: Status | Literal["error"]
    reasons: list[str]
    delay_us: dict[str, dict[str, float | int] | None]
    utilisation: float | None
    jain: float | None
    loss_ratio: float | None
    error: str | None = None


class CompareResult(Header):
    """``ftth compare-dba --json``."""

    scenario: dict[str, Any]
    overrides: list[str]
    duration_s: float
    dbas: list[str]
    loads: list[float]
    seeds: list[int]
    confidence: float
    runs: list[CompareRun]
    summary: list[dict[str, Any]]
    wall_s: float | None = None


class SweepRow(Header):
    """One row of a sweep's SQLite table ``runs``: one run of (scenario, point, seed).

    ``scenario_hash`` is the hash of the swept scenario (the file with its ``--set`` and
    ``--duration``, before the point and the seed): with ``point`` and ``seed`` it names the
    run (a UNIQUE constraint).  The run's own document (``result``) carries the hash of the
    scenario that ran (point and seed applied).
    """

    point: dict[str, Any] = Field(description="Dotted scenario key → value of this run.")
    seed: int
    status: Literal["ok", "error"]
    verdict: Status | None
    error: str | None
    metrics: dict[str, Any] = Field(description="Headline metrics (ftth.sweep.metrics).")
    result: RunResult | None = Field(description="The run's JSON document, wall clock removed.")
    wall_s: float | None = Field(description="Wall-clock seconds of the run (machine-dependent).")


class SummaryCell(_Open):
    mean: float | None
    ci95: float | None
    n: int


class SweepSummaryRow(_Open):
    point: dict[str, Any]
    seeds: int
    errors: int
    metrics: dict[str, SummaryCell]


class SweepSummary(Header):
    """``ftth sweep summary --json``: mean and 95 % Student-t half-width over seeds per point."""

    confidence: float
    keys: list[str]
    rows: list[SweepSummaryRow]


#: Every document, by the name it has in docs/results-schema.json.
DOCUMENTS: dict[str, type[BaseModel]] = {
    "run": RunResult,
    "plan": PlanResult,
    "compare": CompareResult,
    "sweep_row": SweepRow,
    "sweep_summary": SweepSummary,
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every document (what docs/results-schema.json holds)."""
    from pydantic.json_schema import models_json_schema

    _, defs = models_json_schema(
        [(model, "validation") for model in DOCUMENTS.values()],
        ref_template="#/$defs/{model}",
    )
    refs = {name: {"$ref": f"#/$defs/{model.__name__}"} for name, model in DOCUMENTS.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ftth results",
        "description": (__doc__ or "").split("\n\n")[0],
        "schema_version": SCHEMA_VERSION,
        "x-documents": refs,
        "anyOf": list(refs.values()),
        "$defs": defs["$defs"],
    }


def check(document: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Validate ``document`` against ``model`` and return it unchanged (key order kept).

    Raises
    ------
    pydantic.ValidationError
        A document that breaks its schema: a bug in the writer, so exit status 3.
    """
    model.model_validate(document)
    return document


__all__ = [
    "DOCUMENTS",
    "SCHEMA_VERSION",
    "CompareResult",
    "Header",
    "PlanResult",
    "RunResult",
    "SweepRow",
    "SweepSummary",
    "check",
    "header",
    "json_schema",
    "scenario_hash",
]
