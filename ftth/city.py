"""City-scale planning (``ftth plan SCENARIO --city districts.csv``).

A city is a list of districts, each with a number of households, the range of their drop
distances and the mix of service tiers they bought.  Each district is split into PON trees
of the scenario's design (split ratio × households per ONU households each, the last one
partial), one tier per tree; every distinct tree (district, tier, household count) is
planned once (:func:`ftth.plan.plan`: optical budget, analytic capacity, the busy-hour
emulation with a share of households running a speed test) and counts as many times as the
district has such trees.  The trees run on the sweep's executors (a local process pool or
Dask, :mod:`ftth.sweep.executors`).

The report is stated as the Broadband China targets are: the share of households that get at
least 20, 50, 100 and 1000 Mb/s downstream at the busy hour, per district and in total.  A
household's rate is its speed-test rate in its tree's emulation (``speed_test_down_bps``);
the households that ran the test (``households.concurrency`` of them, ``--concurrency``)
stand for their tree, and a household reaches a target when its rate is at least
``households.pass_ratio`` × the target (the tolerance the plan judges tiers with).  A tree
whose optical budget fails gives its households 0 b/s.

CSV columns (header row required; ``#`` starts a comment line):

``district``
    Name (unique).
``households``
    Households in the district (≥ 1).
``drop_km_min``, ``drop_km_max``
    Range of the ONUs' drop distances, km (the scenario's ``onus.drop_km``).
``tiers``
    ``TIER:SHARE`` pairs separated by spaces, e.g. ``100M/50M:0.8 1G/500M:0.2``; shares in
    (0, 1] summing to 1.  Households are given to tiers by largest remainder, so the
    district's total is exact.
"""

from __future__ import annotations

import copy
import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftth.errors import InputError, describe_crash

#: Downstream rates of the Broadband China targets (State Council, "Broadband China"
#: strategy, 2013: 20 Mb/s urban and 4 Mb/s rural by 2015, 50 Mb/s urban by 2020, 100 Mb/s and
#: gigabit "dual gigabit" targets after): the report's columns, bit/s.
TARGETS_BPS = (20e6, 50e6, 100e6, 1000e6)
COLUMNS = ("district", "households", "drop_km_min", "drop_km_max", "tiers")
#: Households per district at most (a typo must not plan a billion trees).
MAX_HOUSEHOLDS = 10_000_000


@dataclass(frozen=True)
class District:
    """One row of the districts file."""

    name: str
    households: int
    drop_km: tuple[float, float]
    tiers: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class TreeTask:
    """One distinct PON tree to plan (picklable; carries the scenario's table)."""

    table: dict[str, Any]
    source: str
    district: str
    tier: str
    households: int
    drop_km: tuple[float, float]
    concurrency: float | None
    count: int  #: trees of the district like this one


@dataclass
class CityResult:
    """Per district and in total: households, trees, and the share reaching each target."""

    scenario: str
    districts: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "targets_bps": list(TARGETS_BPS),
            "districts": self.districts,
            "total": self.total,
        }


def _where(path: Path, line: int, column: str = "") -> str:
    return f"{path}:{line}" + (f": {column}" if column else "")


def parse_tiers(text: str, where: str) -> tuple[tuple[str, float], ...]:
    """``"100M/50M:0.8 1G/500M:0.2"`` → ``(("100M/50M", 0.8), ("1G/500M", 0.2))``."""
    from ftth.scenario.models import parse_tier

    pairs: list[tuple[str, float]] = []
    for item in text.replace(";", " ").split():
        tier, sep, share_text = item.rpartition(":")
        if not sep or not tier:
            raise InputError(where, f"expected TIER:SHARE pairs, got {item!r}")
        try:
            parse_tier(tier)
        except (InputError, ValueError) as exc:
            raise InputError(where, f"bad tier {tier!r}: {exc}") from None
        try:
            share = float(share_text)
        except ValueError:
            raise InputError(where, f"share {share_text!r} is not a number") from None
        if not 0 < share <= 1:
            raise InputError(where, f"share of {tier} must be in (0, 1], got {share_text}")
        if any(t == tier for t, _ in pairs):
            raise InputError(where, f"tier {tier} is given twice")
        pairs.append((tier, share))
    if not pairs:
        raise InputError(where, "no tier given")
    total = math.fsum(s for _, s in pairs)
    if abs(total - 1) > 1e-6:
        raise InputError(where, f"shares must sum to 1, got {total:g}")
    return tuple(pairs)


def read_districts(path: str | Path) -> list[District]:
    """Read and check the districts CSV (module docstring).

    Raises
    ------
    ftth.errors.InputError
        Naming the file, the line and the column.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(str(file), f"cannot read: {exc.strerror or exc}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)]
    content = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        raise InputError(str(file), "no header row")
    reader = csv.reader([line for _, line in content], skipinitialspace=True)
    rows = list(reader)
    header = [h.strip() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(_where(file, content[0][0]), f"missing column(s): {', '.join(missing)}")
    districts: list[District] = []
    for (n, _), row in zip(content[1:], rows[1:], strict=True):
        if len(row) != len(header):
            raise InputError(_where(file, n), f"{len(row)} fields, the header has {len(header)}")
        cell = dict(zip(header, (v.strip() for v in row), strict=True))
        name = cell["district"]
        if not name:
            raise InputError(_where(file, n, "district"), "empty name")
        if any(d.name == name for d in districts):
            raise InputError(_where(file, n, "district"), f"{name!r} is given twice")
        try:
            households = int(cell["households"])
        except ValueError:
            raise InputError(
                _where(file, n, "households"), f"not a whole number: {cell['households']!r}"
            ) from None
        if not 1 <= households <= MAX_HOUSEHOLDS:
            raise InputError(
                _where(file, n, "households"), f"must be in 1..{MAX_HOUSEHOLDS}, got {households}"
            )
        km = []
        for column in ("drop_km_min", "drop_km_max"):
            try:
                value = float(cell[column])
            except ValueError:
                raise InputError(
                    _where(file, n, column), f"not a number: {cell[column]!r}"
                ) from None
            if not (math.isfinite(value) and value >= 0):
                raise InputError(_where(file, n, column), f"must be ≥ 0 km, got {cell[column]}")
            km.append(value)
        if km[1] < km[0]:
            raise InputError(_where(file, n, "drop_km_max"), "below drop_km_min")
        tiers = parse_tiers(cell["tiers"], _where(file, n, "tiers"))
        districts.append(District(name, households, (km[0], km[1]), tiers))
    if not districts:
        raise InputError(str(file), "no district")
    return districts


def tier_households(district: District) -> list[tuple[str, int]]:
    """Households per tier, by largest remainder (they add up to the district's total)."""
    exact = [(t, district.households * s) for t, s in district.tiers]
    counts = [math.floor(x) for _, x in exact]
    left = district.households - sum(counts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return [(t, c) for (t, _), c in zip(exact, counts, strict=True) if c > 0]


def trees(district: District, per_tree: int) -> list[tuple[str, int, int]]:
    """``(tier, households, how many trees)`` of a district: full trees, then a partial one."""
    out = []
    for tier, households in tier_households(district):
        full, rest = divmod(households, per_tree)
        if full:
            out.append((tier, per_tree, full))
        if rest:
            out.append((tier, rest, 1))
    return out


def prepare(
    scenario: str | Path | None,
    districts_csv: str | Path,
    overrides: list[str],
    concurrency: float | None,
) -> tuple[Any, list[District], list[TreeTask]]:
    """Check the districts and every tree's scenario before anything runs."""
    from ftth.plan import resolve_scenario
    from ftth.scenario import apply_overrides, scenario_from_dict
    from ftth.sweep.spec import load_base

    sc, table, source = load_base(scenario, overrides)
    districts = read_districts(districts_csv)
    per_tree = sc.tree.split_ratio * sc.households.per_onu
    tasks: list[TreeTask] = []
    for d in districts:
        for tier, households, count in trees(d, per_tree):
            task = TreeTask(table, source, d.name, tier, households, d.drop_km, concurrency, count)
            try:  # the tree's scenario, as the worker will build it
                tree_sc = scenario_from_dict(apply_overrides(table, _overrides(task)), source)
                resolve_scenario(tree_sc, tier=tier, households=households)
            except InputError as exc:
                raise InputError(f"{districts_csv}: district {d.name!r}", str(exc)) from None
            tasks.append(task)
    return sc, districts, tasks


def _overrides(task: TreeTask) -> list[str]:
    lo, hi = task.drop_km
    return [f"onus.drop_km=[{lo!r}, {hi!r}]"]


def plan_tree(task: TreeTask) -> dict[str, Any]:
    """Plan one tree (any executor); the downstream speed-test rates of its probed
    households, or the error."""
    from ftth.plan import plan, resolve_scenario
    from ftth.scenario import apply_overrides, scenario_from_dict

    out: dict[str, Any] = {"status": "ok", "error": None, "rates_bps": [], "verdict": None}
    try:
        sc = scenario_from_dict(
            apply_overrides(copy.deepcopy(task.table), _overrides(task)), task.source
        )
        sc = resolve_scenario(sc, tier=task.tier, households=task.households)
        result = plan(sc, concurrency=task.concurrency)
        out["verdict"] = result.status
        if not result.emulated:  # the optical budget failed: nothing reaches these homes
            out["rates_bps"] = [0.0] * task.households
        else:
            out["rates_bps"] = [
                float(h["speed_test_down_bps"] or 0.0)
                for h in result.household_rows()
                if h.get("probed_down")
            ]
    except Exception as exc:
        out["status"] = "error"
        out["error"] = str(exc) if isinstance(exc, InputError) else describe_crash(exc)
    return out


def shares(rates: list[float], weight: float, pass_ratio: float) -> list[float]:
    """Weighted count of households reaching each target (``weight`` per rate): a rate of at
    least ``pass_ratio`` × the target, as the plan judges a tier (a 100M tier measures
    99.85 Mb/s of goodput through its shaper)."""
    return [weight * sum(1 for r in rates if r >= pass_ratio * t) for t in TARGETS_BPS]


def city(
    scenario: str | Path | None,
    districts_csv: str | Path,
    *,
    overrides: list[str] | None = None,
    concurrency: float | None = None,
    workers: int | None = None,
    dask: str | None = None,
    on_done: Any = None,
) -> CityResult:
    """Plan every district's trees and report the shares (module docstring)."""
    from ftth.sweep.executors import make_executor, pool_ahead
    from ftth.sweep.runs import WARM_MODULES

    # The workers start now, importing the planner while the districts are checked.
    with pool_ahead(workers, dask, (*WARM_MODULES, __name__)) as ahead:
        sc, districts, tasks = prepare(scenario, districts_csv, list(overrides or []), concurrency)
        outcomes: list[dict[str, Any] | None] = [None] * len(tasks)
        with make_executor(workers, dask, len(tasks), ahead) as executor:
            for done, (i, outcome) in enumerate(executor.map_unordered(plan_tree, tasks), 1):
                outcomes[i] = outcome
                if on_done is not None:
                    on_done(done, len(tasks))
    res = CityResult(scenario=sc.name)
    grand = [0.0] * len(TARGETS_BPS)
    grand_households = 0
    errors: list[str] = []
    for d in districts:
        reached = [0.0] * len(TARGETS_BPS)
        n_trees = 0
        verdicts: dict[str, int] = {}
        for task, outcome in zip(tasks, outcomes, strict=True):
            if task.district != d.name or outcome is None:
                continue
            n_trees += task.count
            if outcome["status"] != "ok":
                errors.append(f"{d.name} {task.tier} ×{task.households}: {outcome['error']}")
                continue
            verdicts[outcome["verdict"]] = verdicts.get(outcome["verdict"], 0) + task.count
            rates = outcome["rates_bps"]
            if rates:  # the probed households stand for the tree's households
                weight = task.households * task.count / len(rates)
                got = shares(rates, weight, sc.households.pass_ratio)
                reached = [a + b for a, b in zip(reached, got, strict=True)]
        res.districts.append(
            {
                "district": d.name,
                "households": d.households,
                "trees": n_trees,
                "tree_verdicts": verdicts,
                "share": [r / d.households for r in reached],
            }
        )
        grand = [a + b for a, b in zip(grand, reached, strict=True)]
        grand_households += d.households
    res.total = {
        "households": grand_households,
        "trees": sum(d["trees"] for d in res.districts),
        "share": [g / grand_households for g in grand],
        "errors": errors,
    }
    return res


def share_table(res: CityResult) -> Any:
    """The rich table: a row per district and the total; a column per target."""
    from rich.table import Table

    table = Table(
        title=f"{res.scenario}: share of households reaching each downstream rate at the busy hour",
        title_justify="left",
    )
    table.add_column("district")
    table.add_column("households", justify="right")
    table.add_column("PON trees", justify="right")
    for t in TARGETS_BPS:
        table.add_column(f"≥ {t / 1e6:g} Mb/s", justify="right")
    for i, d in enumerate(res.districts):
        table.add_row(
            d["district"],
            f"{d['households']:,}",
            str(d["trees"]),
            *(f"{s:.1%}" for s in d["share"]),
            end_section=i == len(res.districts) - 1,
        )
    total = res.total
    table.add_row(
        "[bold]total[/]",
        f"{total['households']:,}",
        str(total["trees"]),
        *(f"[bold]{s:.1%}[/]" for s in total["share"]),
    )
    return table


__all__ = [
    "TARGETS_BPS",
    "CityResult",
    "District",
    "TreeTask",
    "city",
    "plan_tree",
    "read_districts",
    "share_table",
    "tier_households",
    "trees",
]
