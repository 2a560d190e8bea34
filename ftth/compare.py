"""``ftth compare-dba``: run DBAs side by side on the same traffic and summarise them.

The grid is DBA × load × seed.  Every cell is one emulation of the same scenario with
``dba.name`` set to the DBA, ``traffic.upstream_load`` and ``traffic.downstream_load`` both set
to the load, and ``seed`` set to the seed (seeds are 1..N, the scenario's own seed is not
used).  Cells run on a local process pool (:class:`concurrent.futures.ProcessPoolExecutor`,
``spawn`` start method: no fork of a process that already runs threads); results are put back
in grid order whatever order the workers finish in, and each cell's numbers depend only on the
cell, so two invocations give the same numbers.

Per run (one row of :attr:`CompareResult.runs`)
-----------------------------------------------
* ``delay_us[type]``: upstream delay of every packet of the T-CONTs of that type (arrival after
  warm-up), from their merged histograms: ``mean`` (exact), ``p99`` (≤ 0.4 % error),
  ``packets``.  ``None`` when the type carried no packet in the window.
* ``utilisation``: upstream throughput / the analytic upstream capacity of the profile
  (``saturation_goodput_bps`` for 1518-byte frames: smaller frames cost more headers, so a
  mix of sizes cannot reach 1.0 even when saturated).
* ``jain``: Jain's index of delivered/offered over upstream T-CONTs (``fairness.jain``).
* ``loss_ratio``: upstream dropped / offered bytes over the whole run.

Per DBA × load (one row of :attr:`CompareResult.summary`)
--------------------------------------------------------
Each metric as the mean over the seeds and the half-width of its two-sided 95 % confidence
interval, ``t(0.975, n − 1) · s / √n`` with ``s`` the sample standard deviation (Student t,
:func:`student_t_quantile`); with one seed the half-width is ``None``.  Runs where a T-CONT
type carried no packet do not enter that type's delay mean.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftth import plots, results
from ftth.errors import FtthError, InputError
from ftth.output import open_atomic, output_dir
from ftth.sweep.grid import point_key

if TYPE_CHECKING:
    from ftth.sweep.executors import ProcessExecutor
    from ftth.sweep.runs import RunTask
    from ftth.sweep.store import Store

#: Loads ``--loads`` accepts: a fraction of the analytic capacity in (0, 2] (as the scenario's
#: ``traffic.upstream_load``).
MAX_LOAD = 2.0
#: Confidence level of the intervals over seeds.
CONFIDENCE = 0.95
#: Stem of the delay-vs-load figure (``.png`` and ``.svg``).
PLOT_STEM = "dba-delay-vs-load"
#: Scalar metrics of a run besides the per-type delays (key, what it is).
SCALARS = (
    ("utilisation", "upstream throughput / capacity"),
    ("jain", "Jain index of delivered/offered over upstream T-CONTs"),
    ("loss_ratio", "upstream dropped / offered bytes"),
)
EXTRA_SCALARS = ("throughput_bps", "downstream_loss_ratio", "grant_used_of_granted")
#: Verdict statuses of a run (ftth.verdict), in report order, then a run that failed.
VERDICTS = ("pass", "fail", "inconclusive", "error")


# ============================================================================ statistics
def _abs_t_probability(t: float, df: int) -> float:
    """``P(|T| < t)`` for Student's t with integer ``df`` degrees of freedom.

    Closed forms of Abramowitz & Stegun 26.7.3 (odd ``df``) and 26.7.4 (even ``df``) with
    ``θ = atan(t / √df)``; exact to rounding, no special functions needed.
    """
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    c2 = c * c
    if df % 2:
        if df == 1:
            return 2 * theta / math.pi
        term, total = c, c
        for k in range(3, df, 2):  # cos θ · (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + …)
            term *= c2 * (k - 1) / k
            total += term
        return 2 / math.pi * (theta + s * total)
    term, total = 1.0, 1.0
    for k in range(2, df - 1, 2):  # 1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + …
        term *= c2 * (k - 1) / k
        total += term
    return s * total


@lru_cache(maxsize=256)
def student_t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (``0.5 < p < 1``) of Student's t with ``df ≥ 1`` degrees of freedom.

    ``student_t_quantile(0.975, 2) = 4.302652…``: the factor of a two-sided 95 % interval
    from three samples.  Found by bisection on :func:`_abs_t_probability` to full precision.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be ≥ 1, got {df}")
    if not 0.5 < p < 1:
        raise ValueError(f"p must be in (0.5, 1), got {p}")
    target = 2 * p - 1
    lo, hi = 0.0, 1.0
    while _abs_t_probability(hi, df) < target:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if _abs_t_probability(mid, df) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float | None]:
    """Mean and half-width of the two-sided Student-t confidence interval of the mean.

    Returns ``(mean, None)`` for a single value (no spread to estimate) and
    ``(nan, None)`` for none.
    """
    n = len(values)
    if n == 0:
        return math.nan, None
    mean = math.fsum(values) / n
    if n == 1:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    t = student_t_quantile(0.5 + confidence / 2, n - 1)
    return mean, t * math.sqrt(var) / math.sqrt(n)


# ============================================================================ input
def parse_loads(text: str) -> list[float]:
    """``"0.3,0.6,0.9"`` → ``[0.3, 0.6, 0.9]``; each load in (0, 2], no duplicates."""
    loads: list[float] = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise InputError(
                "--loads", f"expected comma-separated numbers in (0, 2], got {part!r}"
            ) from None
        if not (0 < value <= MAX_LOAD) or math.isnan(value):
            raise InputError("--loads", f"each load must be in (0, {MAX_LOAD:g}], got {part}")
        if value in loads:
            raise InputError("--loads", f"load {part} is given twice")
        loads.append(value)
    return loads


def fitting_dbas(framed: bool) -> list[str]:
    """Registered DBAs that fit a framed PON (``framed``) or EPON (polling DBAs)."""
    from olt.dba.registry import get_dba, list_dbas

    return [n for n in list_dbas() if bool(getattr(get_dba(n), "epon", False)) != framed]


def dba_spec(label: str) -> tuple[str, dict[str, Any]]:
    """``"sr-dba:demand_slack_bytes=0:x=1"`` → ``("sr-dba", {"demand_slack_bytes": 0, "x": 1})``.

    Parameter values are TOML values as ``--set`` reads them (else bare strings).
    """
    from ftth.sweep.grid import parse_value

    name, *pairs = label.split(":")
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise InputError(
                "--dba", f"{label!r}: parameters are NAME:KEY=VALUE[:KEY=VALUE…], got {pair!r}"
            )
        if key in params:
            raise InputError("--dba", f"{label!r}: parameter {key!r} is given twice")
        params[key] = parse_value(value)
    return name.strip(), params


def dba_label(name: str, params: dict[str, Any]) -> str:
    """The normalised spelling of a DBA with parameters (``sr-dba:demand_slack_bytes=0``)."""
    from ftth.sweep.grid import toml_literal

    return ":".join([name, *(f"{k}={toml_literal(v)}" for k, v in params.items())])


def parse_dbas(text: str | None, framed: bool, technology: str) -> list[str]:
    """Check a ``--dba`` list against the registry and the technology.

    Each item is a DBA name, optionally with parameters for its ``[dba.params]``:
    ``proportional,'sr-dba:demand_slack_bytes=0'`` (``NAME:KEY=VALUE[:KEY=VALUE…]``); the same
    DBA may appear with different parameters.  ``None`` or empty selects every registered DBA
    that fits the technology.  Returns the labels (the names, with their parameters
    normalised).
    """
    from olt.dba.registry import get_dba

    valid = fitting_dbas(framed)
    if text is None or not text.strip():
        if not valid:
            raise InputError("--dba", f"no registered DBA fits {technology}")
        return valid
    labels: list[str] = []
    for part in text.split(","):
        if not part.strip():
            raise InputError("--dba", f"empty DBA name in {text!r}")
        name, params = dba_spec(part.strip())
        if not name:
            raise InputError("--dba", f"empty DBA name in {text!r}")
        cls = get_dba(name, where="--dba")
        if bool(getattr(cls, "epon", False)) == framed:
            kind = "an EPON polling DBA" if framed else "a frame (BWmap) DBA"
            pon = "a framed PON" if framed else "an EPON"
            raise InputError(
                "--dba",
                f"{name!r} is {kind} and {technology} is {pon}; valid here: {', '.join(valid)}",
            )
        label = dba_label(name, params)
        if label in labels:
            raise InputError("--dba", f"DBA {label!r} is given twice")
        labels.append(label)
    return labels


# ============================================================================ the grid
@dataclass(frozen=True)
class Cell:
    """One run of the grid (``dba`` is a label: a name, maybe with parameters)."""

    dba: str
    load: float
    seed: int


@dataclass
class Grid:
    """What ``compare-dba`` runs: a scenario, its overrides, and DBA × load × seed.

    ``table``, ``source`` and ``scenario_hash`` describe the scenario with its overrides
    (:func:`ftth.sweep.spec.load_base`); :func:`prepare` fills them, :func:`run_grid` loads
    them when they are missing.
    """

    scenario: str | None
    overrides: list[str]
    dbas: list[str]
    loads: list[float]
    seeds: int
    table: dict[str, Any] | None = None
    source: str = ""
    scenario_hash: str | None = None

    def cells(self) -> list[Cell]:
        """Every cell in report order: DBA (as given), then load (as given), then seed."""
        return [
            Cell(d, load, s)
            for d in self.dbas
            for load in self.loads
            for s in range(1, self.seeds + 1)
        ]

    def load_base(self) -> None:
        """Fill :attr:`table`, :attr:`source` and :attr:`scenario_hash` from the file."""
        from ftth.results import scenario_hash
        from ftth.sweep.spec import load_base

        if self.table is None or self.scenario_hash is None:
            sc, self.table, self.source = load_base(self.scenario, self.overrides)
            self.scenario_hash = scenario_hash(sc)

    @staticmethod
    def point(dba: str, load: float) -> dict[str, Any]:
        """The sweep point of a DBA × load: the scenario keys it sets."""
        name, params = dba_spec(dba)
        return {
            "dba.name": name,
            **{f"dba.params.{k}": v for k, v in params.items()},
            "traffic.upstream_load": load,
            "traffic.downstream_load": load,
        }

    def cell_overrides(self, cell: Cell) -> list[str]:
        from ftth.sweep.grid import point_overrides

        return [
            *self.overrides,
            *point_overrides(self.point(cell.dba, cell.load)),
            f"seed={cell.seed}",
        ]

    def tasks(self) -> list[RunTask]:
        """One :class:`ftth.sweep.runs.RunTask` per cell, in :meth:`cells` order."""
        from ftth.sweep.runs import RunTask

        self.load_base()
        assert self.table is not None and self.scenario_hash is not None
        return [
            RunTask(self.table, self.source, self.scenario_hash, self.point(c.dba, c.load), c.seed)
            for c in self.cells()
        ]

    def grid_description(self) -> dict[str, Any]:
        return {"dbas": self.dbas, "loads": self.loads, "seeds": list(range(1, self.seeds + 1))}


def run_cell(scenario: str | None, overrides: list[str], cell: Cell) -> dict[str, Any]:
    """Emulate one cell in this process and return its row (as in :attr:`CompareResult.runs`)."""
    from ftth.sweep.runs import RunTask, execute

    grid = Grid(scenario, list(overrides), [cell.dba], [cell.load], 1)
    grid.load_base()
    assert grid.table is not None and grid.scenario_hash is not None
    point = grid.point(cell.dba, cell.load)
    return compare_row(
        cell, execute(RunTask(grid.table, grid.source, grid.scenario_hash, point, cell.seed))
    )


class GridRunError(FtthError):
    """Runs of the grid failed for a reason that is not bad input (e.g. a DBA broke a rule).

    Names the first failed cell; the other cells' rows are kept.
    """

    def __init__(self, cell: Cell, error: str, failed: int = 1, total: int = 1) -> None:
        self.cell = cell
        self.error = error
        self.failed = failed
        self.total = total
        super().__init__(cell, error, failed, total)

    def __str__(self) -> str:
        c = self.cell
        text = f"run dba={c.dba} load={c.load:g} seed={c.seed}: {self.error}"
        if self.total > 1:
            text += f" ({self.failed} of {self.total} runs failed; the other rows are kept)"
        return text


#: Keys of a compare row taken from the headline metrics (:func:`ftth.sweep.runs.headline`).
ROW_METRICS = (
    "utilisation",
    "jain",
    "loss_ratio",
    "offered_bps",
    "throughput_bps",
    "capacity_bps",
    "downstream_loss_ratio",
    "grant_used_of_granted",
    "engine",
)


def compare_row(cell: Cell, row: dict[str, Any]) -> dict[str, Any]:
    """A store row (:class:`ftth.results.SweepRow`) as a row of :attr:`CompareResult.runs`.

    A failed run has ``verdict = "error"``, its ``error``, and ``None`` figures.
    """
    metrics = row["metrics"] or {}
    ok = row["status"] == "ok"
    return {
        "dba": cell.dba,
        "load": cell.load,
        "seed": cell.seed,
        "verdict": metrics["verdict"] if ok else "error",
        "reasons": list(metrics.get("reasons", [])) if ok else [str(row["error"])],
        "delay_us": dict(metrics.get("delay_us", {})) if ok else {},
        **{k: metrics.get(k) if ok else None for k in ROW_METRICS},
        "error": row["error"],
        "wall_s": row["wall_s"],
        # The worker's traceback of a failed run: for the crash file, not in the JSON.
        "traceback": row.get("traceback"),
    }


def run_grid(
    grid: Grid,
    jobs: int | None = None,
    on_done: Callable[[Cell, int, int], None] | None = None,
    *,
    dask: str | None = None,
    store: Store | None = None,
    ahead: ProcessExecutor | None = None,
) -> list[dict[str, Any]]:
    """Run every cell not yet in ``store`` and return one row per cell, in :meth:`Grid.cells`
    order (:func:`compare_row`; a failed cell is a row with its error).

    ``jobs`` local worker processes (default: the usable cores; 1 runs in this process), or
    ``dask`` (``"local"`` or a scheduler address): :func:`ftth.sweep.executors.make_executor`.
    ``store``: the results file to resume from and write to (default: one in memory).
    ``on_done(cell, done, total)`` is called as each cell finishes (any order).
    ``ahead``: a pool :func:`ftth.sweep.executors.start_ahead` started (used, then closed).
    """
    from ftth.sweep.executors import make_executor
    from ftth.sweep.runs import run_tasks
    from ftth.sweep.store import Store

    cells = grid.cells()
    tasks = grid.tasks()
    assert grid.scenario_hash is not None
    own = store is None
    st = Store(":memory:") if store is None else store
    try:
        assert grid.table is not None
        st.record_scenario(
            grid.scenario_hash, str(grid.table.get("name", "")),
            str(grid.table.get("technology", "")), grid.source, grid.overrides,
            grid.grid_description(),
        )  # fmt: skip
        cell_of = {t.key: c for t, c in zip(tasks, cells, strict=True)}
        left = len(tasks) - len(st.finished(grid.scenario_hash) & set(cell_of))

        def progress(task: RunTask, _row: dict[str, Any], done: int, total: int) -> None:
            if on_done is not None:
                on_done(cell_of[task.key], done, total)

        with make_executor(jobs, dask, left, ahead) as executor:
            run_tasks(tasks, st, executor, progress)
        rows = {(point_key(r["point"]), r["seed"]): r for r in st.rows(grid.scenario_hash)}
        return [compare_row(c, rows[t.key]) for t, c in zip(tasks, cells, strict=True)]
    finally:
        if own:
            st.close()


# ============================================================================ summary
def delay_types(runs: Sequence[dict[str, Any]]) -> list[str]:
    """T-CONT types present in the runs, ascending (``"1"``, ``"2"``, …)."""
    return sorted({t for r in runs for t in r["delay_us"]}, key=int)


def metric_keys(types: Sequence[str]) -> list[str]:
    keys = []
    for t in types:
        keys += [f"type{t}_mean_us", f"type{t}_p99_us"]
    return keys + [k for k, _ in SCALARS] + list(EXTRA_SCALARS)


def _metric(row: dict[str, Any], key: str) -> float | None:
    if key.startswith("type") and key.endswith("_us"):
        t, _, stat = key[4:-3].partition("_")
        d = row["delay_us"].get(t)
        return None if d is None else float(d[stat])
    value = row[key]
    return None if value is None else float(value)


def verdict_counts(runs: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many runs passed, failed and were inconclusive (:mod:`ftth.verdict`)."""
    return {s: sum(1 for r in runs if r["verdict"] == s) for s in VERDICTS}


def verdict_text(counts: dict[str, int]) -> str:
    """``PASS`` when every run passed, else each status with its count (``FAIL 2/3``)."""
    total = sum(counts.values())
    if total and counts["pass"] == total:
        return "PASS"
    return ", ".join(
        f"{s.upper()} {n}/{total}" if total > 1 else s.upper()
        for s, n in counts.items()
        if n and s != "pass"
    )


def summarise(grid: Grid, runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per DBA × load: every metric as ``{"mean", "ci95", "n"}`` over the seeds."""
    types = delay_types(runs)
    keys = metric_keys(types)
    out = []
    for d in grid.dbas:
        for load in grid.loads:
            cell_runs = [r for r in runs if r["dba"] == d and r["load"] == load]
            metrics: dict[str, dict[str, float | int | None]] = {}
            for key in keys:
                values = [v for v in (_metric(r, key) for r in cell_runs) if v is not None]
                mean, hw = mean_ci(values)
                metrics[key] = {
                    "mean": None if math.isnan(mean) else mean,
                    "ci95": hw,
                    "n": len(values),
                }
            counts = verdict_counts(cell_runs)
            out.append(
                {
                    "dba": d,
                    "load": load,
                    "seeds": len(cell_runs),
                    "verdict": verdict_text(counts),
                    "verdicts": counts,
                    "metrics": metrics,
                }
            )
    return out


@dataclass
class CompareResult:
    """The outcome of a comparison: the grid, one row per run, one summary row per DBA × load."""

    grid: Grid
    name: str
    technology: str
    duration_s: float
    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def types(self) -> list[str]:
        return delay_types(self.runs)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The runs that failed (``verdict == "error"``, with their ``error``)."""
        return [r for r in self.runs if r["verdict"] == "error"]

    def error(self) -> GridRunError | None:
        """The error naming the first failed run (``None`` when none failed)."""
        failed = self.failed
        if not failed:
            return None
        first = failed[0]
        error = GridRunError(
            Cell(first["dba"], first["load"], first["seed"]),
            str(first["error"]),
            len(failed),
            len(self.runs),
        )
        if first.get("traceback"):
            error.add_note("in the run's process:\n" + str(first["traceback"]))
        return error

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (:class:`ftth.results.CompareResult`)."""
        doc = {
            **results.header(self.grid.scenario_hash),
            "scenario": {
                "name": self.name,
                "technology": self.technology,
                "path": self.grid.scenario,
            },
            "overrides": self.grid.overrides,
            "duration_s": self.duration_s,
            "dbas": self.grid.dbas,
            "loads": self.grid.loads,
            "seeds": list(range(1, self.grid.seeds + 1)),
            "confidence": CONFIDENCE,
            "runs": [{k: v for k, v in r.items() if k != "traceback"} for r in self.runs],
            "summary": self.summary,
            "wall_s": round(self.wall_s, 3),
        }
        return results.check(doc, results.CompareResult)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"


def prepare(
    scenario: str | Path | None,
    *,
    dbas: str | None,
    loads: str,
    seeds: int,
    duration_s: float | None = None,
    overrides: Sequence[str] = (),
) -> tuple[Grid, str, str, float]:
    """Validate the whole grid before anything runs.

    Returns the grid, the scenario name, the technology and the emulated duration.  Every
    DBA × load scenario is checked (each DBA with its parameters built as ``ftth validate``
    builds it), so a bad ``--set``, a DBA/technology mismatch or a bad DBA parameter is one
    :class:`InputError` before any worker starts.
    """
    from ftth.results import scenario_hash
    from ftth.sweep.spec import check_point, load_base

    if seeds < 1:
        raise InputError("--seeds", f"must be ≥ 1, got {seeds}")
    base = list(overrides)
    if duration_s is not None:
        base.append(f"duration_s={duration_s!r}")
    path = None if scenario is None else str(scenario)
    sc, table, source = load_base(path, base)
    profile = sc.profile
    names = parse_dbas(dbas, profile.framed, profile.name)
    grid = Grid(path, base, names, parse_loads(loads), seeds, table, source, scenario_hash(sc))
    for d in grid.dbas:
        for j, load in enumerate(grid.loads):
            try:  # the build (DBA parameters) once per DBA, the scenario rules per load
                check_point(table, source, grid.point(d, load), build=j == 0)
            except InputError as exc:
                if exc.where.startswith("dba.") and ":" in d:
                    raise InputError(f"--dba {d}", str(exc)) from None
                raise
    return grid, sc.name, profile.name, float(sc.duration_s)


def compare(
    scenario: str | Path | None,
    *,
    dbas: str | None,
    loads: str,
    seeds: int,
    duration_s: float | None = None,
    overrides: Sequence[str] = (),
    jobs: int | None = None,
    on_done: Callable[[Cell, int, int], None] | None = None,
    dask: str | None = None,
    store: Store | None = None,
) -> CompareResult:
    """Validate, run the grid and summarise (the Python side of ``ftth compare-dba``).

    A run that fails is a row with ``verdict == "error"`` and its ``error``; the other runs
    are summarised (:attr:`CompareResult.failed`, :meth:`CompareResult.error`).
    """
    grid, name, technology, duration = prepare(
        scenario, dbas=dbas, loads=loads, seeds=seeds, duration_s=duration_s, overrides=overrides
    )
    return run_prepared(
        grid, name, technology, duration, jobs=jobs, on_done=on_done, dask=dask, store=store
    )


def run_prepared(
    grid: Grid,
    name: str,
    technology: str,
    duration: float,
    *,
    jobs: int | None = None,
    on_done: Callable[[Cell, int, int], None] | None = None,
    dask: str | None = None,
    store: Store | None = None,
    ahead: ProcessExecutor | None = None,
) -> CompareResult:
    """Run a prepared grid (:func:`prepare`, :func:`run_grid`) and summarise it."""
    start = time.perf_counter()
    runs = run_grid(grid, jobs, on_done, dask=dask, store=store, ahead=ahead)
    res = CompareResult(grid, name, technology, duration, runs)
    res.summary = summarise(grid, runs)
    res.wall_s = time.perf_counter() - start
    return res


# ============================================================================ reports
def _fmt_delay(v: float, hw: float | None) -> str:
    digits = 0 if v >= 100 else 1 if v >= 10 else 2
    text = f"{v:,.{digits}f}"
    return text if hw is None else f"{text} ± {hw:,.{digits}f}"


def _fmt_scaled(v: float, hw: float | None, scale: float, digits: int) -> str:
    text = f"{v * scale:.{digits}f}"
    return text if hw is None else f"{text} ± {hw * scale:.{digits}f}"


def format_metric(key: str, m: dict[str, Any]) -> str:
    """A summary cell as text: ``mean ± half-width`` (the mean alone with one seed)."""
    v, hw = m["mean"], m["ci95"]
    if v is None:
        return "—"
    if key.endswith("_us"):
        return _fmt_delay(v, hw)
    if key == "jain":
        return _fmt_scaled(v, hw, 1.0, 4)
    if key == "utilisation":
        return _fmt_scaled(v, hw, 100.0, 1)
    if key.endswith("ratio"):
        return _fmt_scaled(v, hw, 100.0, 3)
    return f"{v:.6g}" if hw is None else f"{v:.6g} ± {hw:.3g}"


def _title(res: CompareResult) -> str:
    seeds = res.grid.seeds
    spread = f"mean ± 95 % CI over {seeds} seeds (Student t)" if seeds > 1 else "one seed"
    return (
        f"{res.name} — {res.technology}, {res.duration_s:g} s emulated per run, {spread}\n"
        "upstream delay in µs per T-CONT type (all its packets), utilisation = throughput / "
        "capacity"
    )


def _columns(res: CompareResult) -> list[tuple[str, str]]:
    """(metric key, column label) of the table, in order."""
    cols = []
    for t in res.types:
        cols += [(f"type{t}_mean_us", f"T{t} mean"), (f"type{t}_p99_us", f"T{t} p99")]
    return cols + [("utilisation", "util %"), ("jain", "Jain"), ("loss_ratio", "loss %")]


def _verdict_markup(text: str) -> str:
    colour = "green" if text == "PASS" else "yellow" if text.startswith("INCONCLUSIVE") else "red"
    return f"[{colour}]{text}[/]"


def summary_table(res: CompareResult) -> Any:
    """The rich table: one row per DBA × load, one column per metric."""
    from rich.table import Table

    table = Table(title=_title(res), title_justify="left")
    table.add_column("DBA")
    table.add_column("load", justify="right")
    cols = _columns(res)
    for _, label in cols:
        table.add_column(label, justify="right")
    table.add_column("verdict")
    n_loads = len(res.grid.loads)
    for i, row in enumerate(res.summary):
        table.add_row(
            row["dba"] if i % n_loads == 0 else "",
            f"{row['load']:g}",
            *(format_metric(k, row["metrics"][k]) for k, _ in cols),
            _verdict_markup(row["verdict"]),
            end_section=(i % n_loads == n_loads - 1),
        )
    return table


def summary_tables_narrow(res: CompareResult) -> Any:
    """The same numbers for a narrow terminal: one table per DBA, a row per metric and a
    column per load (the wide table would be cut to ellipses)."""
    from rich.console import Group
    from rich.table import Table

    tables: list[Any] = []
    for i, d in enumerate(res.grid.dbas):
        table = Table(title=_title(res) if i == 0 else None, title_justify="left")
        table.add_column(f"[bold]{d}[/] / load")
        rows = [s for s in res.summary if s["dba"] == d]
        for s in rows:
            table.add_column(f"{s['load']:g}", justify="right")
        for key, label in _columns(res):
            table.add_row(label, *(format_metric(key, s["metrics"][key]) for s in rows))
        table.add_row("verdict", *(_verdict_markup(s["verdict"]) for s in rows))
        tables.append(table)
    return Group(*tables)


def _csv_rows_runs(res: CompareResult) -> list[dict[str, Any]]:
    types = res.types
    rows = []
    for r in res.runs:
        row: dict[str, Any] = {
            "dba": r["dba"],
            "load": r["load"],
            "seed": r["seed"],
            "verdict": r["verdict"],
            "reasons": " | ".join(r["reasons"]),
        }
        for t in types:
            d = r["delay_us"].get(t)
            for stat in ("mean", "p99", "packets"):
                suffix = "" if stat == "packets" else "_us"
                row[f"type{t}_{stat}{suffix}"] = "" if d is None else d[stat]
        for k in ROW_METRICS:
            row[k] = "" if r[k] is None else r[k]
        rows.append(row)
    return rows


def _csv_rows_summary(res: CompareResult) -> list[dict[str, Any]]:
    rows = []
    for s in res.summary:
        row: dict[str, Any] = {
            "dba": s["dba"],
            "load": s["load"],
            "seeds": s["seeds"],
            "verdict": s["verdict"],
            **{f"runs_{k}": n for k, n in s["verdicts"].items()},
        }
        for key, m in s["metrics"].items():
            row[key] = "" if m["mean"] is None else m["mean"]
            row[f"{key}_ci95"] = "" if m["ci95"] is None else m["ci95"]
        rows.append(row)
    return rows


def write_compare_csv(res: CompareResult, directory: str | Path) -> list[Path]:
    """``compare-runs.csv`` (one row per DBA × load × seed) and ``compare-summary.csv`` (one
    row per DBA × load, each metric and its 95 % half-width ``<metric>_ci95``).  Wall-clock
    time is left out so the files are byte-identical across invocations."""
    import csv

    out = output_dir(directory)
    paths = []
    for name, rows in (
        ("compare-runs.csv", _csv_rows_runs(res)),
        ("compare-summary.csv", _csv_rows_summary(res)),
    ):
        path = out / name
        try:
            with open_atomic(path, newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["dba"])
                writer.writeheader()
                writer.writerows(rows)
        except OSError as exc:
            raise InputError(str(path), f"cannot write CSV: {exc.strerror or exc}") from None
        paths.append(path)
    return paths


def _plain_log_labels(ax: Any) -> None:
    """Label a log axis with plain numbers (``0.5``, ``2``, ``10``), minor ticks too when the
    data span less than a decade (no major tick would be left to read)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    lo, hi = ax.get_ylim()
    if lo > 0 and math.floor(math.log10(hi)) - math.ceil(math.log10(lo)) < 1:
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def write_compare_plots(res: CompareResult, directory: str | Path) -> list[Path]:
    """``dba-delay-vs-load.png`` / ``.svg``: upstream delay against load, one column per
    T-CONT type (mean on top, p99 below), one line per DBA, 95 % error bars over seeds (a bar
    that reaches the bottom of the log axis is an interval that includes 0).  The DBAs' points
    are spread a little around each load so their bars stay visible.

    matplotlib (Agg) is imported here only.  The bytes are the same on every run: fixed
    ``svg.hashsalt``, no date or software version in the metadata.
    """
    import matplotlib

    plt = plots.pyplot()
    out = output_dir(directory)
    types = res.types
    loads = res.grid.loads
    seeds = res.grid.seeds
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    span = (max(loads) - min(loads)) or 1.0
    dodge = 0.04 * span / max(1, len(res.grid.dbas))
    paths: list[Path] = []
    with matplotlib.rc_context({"svg.hashsalt": "ftth", "font.size": 8}):
        ncols = max(1, len(types))
        fig, axes = plt.subplots(
            2, ncols, figsize=(3.0 * ncols + 1.0, 6.0), layout="constrained", squeeze=False
        )
        for col, t in enumerate(types):
            for row, stat in enumerate(("mean", "p99")):
                ax = axes[row][col]
                key = f"type{t}_{stat}_us"
                for i, d in enumerate(res.grid.dbas):
                    # Lines side by side around each load, so error bars do not hide each other.
                    dx = dodge * (i - (len(res.grid.dbas) - 1) / 2)
                    cells = [s for s in res.summary if s["dba"] == d]
                    y = [
                        math.nan if c["metrics"][key]["mean"] is None else c["metrics"][key]["mean"]
                        for c in cells
                    ]
                    err = [c["metrics"][key]["ci95"] or 0.0 for c in cells]
                    ax.errorbar(
                        [x + dx for x in loads],
                        [v / 1000 for v in y],
                        yerr=[e / 1000 for e in err],
                        label=d,
                        color=f"C{i % 10}",
                        linestyle=styles[(i // 10) % len(styles)],
                        marker=markers[i % len(markers)],
                        markersize=4,
                        capsize=3,
                        linewidth=1.2,
                    )
                ax.set_yscale("log")
                _plain_log_labels(ax)
                ax.set_title(f"T-CONT type {t}: {stat} delay")
                ax.set_xlabel("offered load (fraction of capacity)")
                ax.set_ylabel(f"{stat} upstream delay (ms)")
                ax.grid(True, which="both", alpha=0.3)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 10))
        spread = f"mean ± 95 % CI over {seeds} seeds" if seeds > 1 else "one seed"
        fig.suptitle(
            f"{res.name} ({res.technology}): upstream delay vs load, "
            f"{res.duration_s:g} s per run, {spread}"
        )
        try:
            paths += plots.save(fig, out / PLOT_STEM, "ftth compare-dba")
        finally:
            plt.close(fig)
    return paths


__all__ = [
    "CONFIDENCE",
    "Cell",
    "GridRunError",
    "compare_row",
    "dba_label",
    "dba_spec",
    "CompareResult",
    "Grid",
    "compare",
    "fitting_dbas",
    "mean_ci",
    "parse_dbas",
    "parse_loads",
    "prepare",
    "run_cell",
    "run_grid",
    "run_prepared",
    "student_t_quantile",
    "summarise",
    "summary_table",
    "summary_tables_narrow",
    "write_compare_csv",
    "write_compare_plots",
]
