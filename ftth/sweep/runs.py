"""One run of a sweep, from (scenario, point, seed) to its row, and the loop over a sweep.

:func:`execute` is what every executor runs (:mod:`ftth.sweep.executors`): it takes a
:class:`RunTask` — the scenario's table (so a worker on another machine needs no file), its
source path, the point, the seed — and returns the row (:class:`ftth.results.SweepRow`).
Any error is caught and becomes a row with ``status = "error"``; the row depends only on the
task, never on which worker ran it (the wall clock aside).

:func:`run_tasks` runs the tasks a store has not finished, writes each row as it arrives
(one transaction per row) and calls back for the progress bar.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftth.errors import FtthError, InputError, describe_crash
from ftth.results import header
from ftth.sweep.grid import point_key, point_overrides

if TYPE_CHECKING:
    from ftth.emulator.result import Result
    from ftth.sweep.executors import Executor
    from ftth.sweep.store import Store

#: T-CONT types (G.984.3 / G.9807.1 §8.4: 1 fixed, 2 assured, 3 non-assured, 4 best effort).
TCONT_TYPES = ("1", "2", "3", "4")
#: Headline metrics stored as columns of the results table, besides the JSON of all of them.
METRIC_COLUMNS: tuple[str, ...] = (
    "offered_bps",
    "throughput_bps",
    "capacity_bps",
    "utilisation",
    "jain",
    "loss_ratio",
    "downstream_throughput_bps",
    "downstream_loss_ratio",
    "grant_used_of_granted",
    *(f"type{t}_{stat}_us" for t in TCONT_TYPES for stat in ("mean", "p99")),
)
#: What a pool worker imports before its first run (:func:`execute`'s imports).
WARM_MODULES = ("ftth.sweep.runs", "ftth.api", "ftth.scenario")
#: Keys of the run document left out of a row (they depend on the machine).
WALL_CLOCK_KEYS = ("wall_s", "realtime_factor")


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs (picklable, no open file).

    ``table`` is the swept scenario as validated (``--set`` and ``--duration`` applied),
    ``scenario_hash`` its hash; the run applies ``point`` and ``seed`` on top.
    """

    table: dict[str, Any]
    source: str
    scenario_hash: str
    point: dict[str, Any]
    seed: int

    @property
    def key(self) -> tuple[str, int]:
        """``(point key, seed)``: the run's name within its scenario."""
        return point_key(self.point), self.seed

    def overrides(self) -> list[str]:
        return [*point_overrides(self.point), f"seed={self.seed}"]

    def describe(self) -> str:
        """``onus.count=16 seed=2`` (for messages)."""
        parts = [f"{k}={json.dumps(v)}" for k, v in self.point.items()]
        return " ".join([*parts, f"seed={self.seed}"])


def headline(result: Result) -> dict[str, Any]:
    """The numbers a sweep or a comparison keeps of a run besides its document.

    ``delay_us[type]``: upstream delay over every T-CONT of that type (merged histograms:
    ``mean`` exact, ``p99`` ≤ 0.4 % error, ``packets``), ``None`` when it carried no packet;
    ``type{t}_mean_us`` / ``type{t}_p99_us`` the same numbers flat.  ``utilisation``:
    upstream throughput / analytic capacity; ``jain``: Jain's index over upstream T-CONTs;
    ``loss_ratio``: upstream dropped / offered bytes.  An inconclusive run (too short to
    judge, :mod:`ftth.verdict`) has ``None`` for every measured figure.
    """
    data = result.to_dict()
    spec, raw = result.spec, result.raw
    by_type: dict[int, list[int]] = {}
    for j, q in enumerate(spec.upstream):
        by_type.setdefault(int(q.tcont_type), []).append(j)
    verdict = data["verdict"]
    measured = verdict["status"] != "inconclusive"
    delays: dict[str, dict[str, float | int] | None] = {}
    for t in sorted(by_type):
        h = raw.upstream.delays.merged(by_type[t])
        if h.count == 0 or not measured:
            delays[str(t)] = None
            continue
        s = h.summary_us()
        delays[str(t)] = {
            "mean": float(s["mean"]),
            "p99": float(s["p99"]),
            "packets": int(s["count"]),
        }
    up, down = data["upstream"], data["downstream"]

    def m(value: float) -> float | None:
        return float(value) if measured else None

    out: dict[str, Any] = {
        "verdict": verdict["status"],
        "reasons": list(verdict["reasons"]),
        "delay_us": delays,
        "utilisation": m(up["throughput_bps"] / up["capacity_bps"] if up["capacity_bps"] else 0.0),
        "jain": m(data["fairness"]["jain"]),
        "loss_ratio": m(up["loss_ratio"]),
        "offered_bps": m(up["offered_bps"]),
        "throughput_bps": m(up["throughput_bps"]),
        "capacity_bps": float(up["capacity_bps"]),
        "downstream_throughput_bps": m(down["throughput_bps"]),
        "downstream_loss_ratio": m(down["loss_ratio"]),
        "grant_used_of_granted": m(data["grant_utilisation"]["payload_used_of_granted"]),
        "engine": f"{data['engine']}/{data['backend']}",
    }
    for name in TCONT_TYPES:
        d = delays.get(name)
        out[f"type{name}_mean_us"] = None if d is None else d["mean"]
        out[f"type{name}_p99_us"] = None if d is None else d["p99"]
    return out


def execute(task: RunTask) -> dict[str, Any]:
    """Run one task and return its row; an error becomes a row, never an exception.

    Interrupts (``KeyboardInterrupt``, :class:`~ftth.errors.Interrupted`) are not caught.
    """
    from ftth.api import run
    from ftth.scenario import apply_overrides, scenario_from_dict

    row: dict[str, Any] = {
        **header(task.scenario_hash),
        "point": task.point,
        "seed": task.seed,
        "status": "ok",
        "verdict": None,
        "error": None,
        "traceback": None,
        "metrics": {},
        "result": None,
        "wall_s": None,
    }
    start = time.perf_counter()
    try:
        scenario = scenario_from_dict(
            apply_overrides(task.table, task.overrides()), source=task.source
        )
        result = run(scenario)
        metrics = headline(result)
    except Exception as exc:
        row["status"] = "error"
        row["error"] = str(exc) if isinstance(exc, InputError) else describe_crash(exc)
        row["traceback"] = "".join(traceback.format_exception(exc))
        row["wall_s"] = round(time.perf_counter() - start, 6)
        return row
    document = {k: v for k, v in result.to_dict().items() if k not in WALL_CLOCK_KEYS}
    row["verdict"] = metrics["verdict"]
    row["metrics"] = metrics
    row["result"] = document
    row["wall_s"] = round(float(result.to_dict().get("wall_s") or 0.0), 6)
    return row


@dataclass
class Outcome:
    """What :func:`run_tasks` did."""

    total: int
    skipped: int = 0
    finished: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.skipped + self.finished


class RunFailedError(FtthError):
    """Some runs of a sweep failed (their rows hold the errors); exit status 3.

    The message names the first failure; the first failure's traceback travels as a note
    (saved to the crash file by the CLI).
    """

    def __init__(self, failed: list[dict[str, Any]], total: int, out: str | None) -> None:
        self.failed = failed
        self.total = total
        self.out = out
        super().__init__(len(failed), total, out)
        if failed and failed[0].get("traceback"):
            self.add_note("in the run's process:\n" + str(failed[0]["traceback"]))

    def __str__(self) -> str:
        first = self.failed[0]
        parts = [f"{k}={json.dumps(v)}" for k, v in first["point"].items()]
        name = " ".join([*parts, f"seed={first['seed']}"])
        kept = f"every row kept in {self.out}" if self.out else "the other runs completed"
        return (
            f"run {name}: {first['error']} ({len(self.failed)} of {self.total} runs failed; {kept})"
        )


ProgressFn = Callable[[RunTask, dict[str, Any], int, int], None]


def run_tasks(
    tasks: Sequence[RunTask],
    store: Store,
    executor: Executor,
    on_done: ProgressFn | None = None,
) -> Outcome:
    """Run every task the store has not finished; write each row as it arrives.

    ``on_done(task, row, done, to_run)`` is called after each row is committed (``done``
    counts this invocation's runs only).
    """
    finished: dict[str, set[tuple[str, int]]] = {}
    todo = []
    for task in tasks:
        seen = finished.setdefault(task.scenario_hash, store.finished(task.scenario_hash))
        if task.key not in seen:
            todo.append(task)
    outcome = Outcome(total=len(tasks), skipped=len(tasks) - len(todo))
    for index, row in executor.map_unordered(execute, todo):
        store.insert(row)
        outcome.finished += 1
        if row["status"] == "error":
            outcome.failed.append(row)
        if on_done is not None:
            on_done(todo[index], row, outcome.finished, len(todo))
    return outcome


__all__ = [
    "METRIC_COLUMNS",
    "WARM_MODULES",
    "Outcome",
    "RunTask",
    "RunFailedError",
    "execute",
    "headline",
    "run_tasks",
]
