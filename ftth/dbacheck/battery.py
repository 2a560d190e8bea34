"""The DBA report card: a fixed battery of criteria run on any registered frame DBA.

Each criterion (:data:`CRITERIA`) is one number, compared with one threshold, giving PASS or
FAIL (or N/A where it does not apply), and names where its threshold comes from: the T-CONT
rules of G.983.4 / G.984.3 / G.987.3 / G.9807.1, the reference DBA model of
``shared/pon-reference.md`` §5, or "this project's criterion" where the standard is silent.

The numbers come from two kinds of task, run on a process pool and gathered in a fixed
order (so the card is the same on every run, wall-clock speed aside):

* scenarios (:mod:`ftth.dbacheck.scenarios`) run through :func:`ftth.api.run` — each
  criterion's number is a function of that run's ``--json`` document (:func:`measure`), so
  ``ftth run FILE --json`` on the file ``--save-scenarios`` writes gives the same number;
  the restoration time alone needs the packet trace (``output.trace_csv`` of the same run);
* direct drives of the DBA through ``olt/`` (:mod:`ftth.dbacheck.drive`).

Allowances
----------
A grant is padded to whole grant units and a rate bucket may start full, so a rate limit is
judged with an allowance of one grant unit per frame plus one encapsulated 1518-byte frame
over the run (the tolerance of ``tests/olt/dba/test_ceiling.py``).  Rates a T-CONT carries
are compared with its provisioned rates in GEM/XGEM bytes (the unit a DBA grants): the
delivered Ethernet rate × encapsulated / Ethernet size of the scenario's fixed-size frames.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ftth.dbacheck import scenarios as sc
from ftth.errors import DbaError, FtthError, InputError, InvariantError, describe_crash
from ftth.phy import ETH_MAX_FRAME_BYTES, encapsulated_bytes, get_profile

#: Technologies ``--tech`` accepts: the framed ones for frame DBAs, 10G-EPON for the polling
#: DBAs (no BWmap and no T-CONT types there: only the criteria marked ``epon`` apply).
TECHNOLOGIES = ("gpon", "xg-pon", "xgs-pon", "epon-10g")
FRAMED = ("gpon", "xg-pon", "xgs-pon")
#: Statuses of a criterion.
PASS, FAIL, NA = "PASS", "FAIL", "N/A"

# Sources of the thresholds.
SRC_TCONT = "T-CONT rules: G.983.4 §7, G.984.3 §7.4 / App. VIII, G.987.3 §7.4, G.9807.1 (types 1-5)"
SRC_BWMAP = "BWmap rules: G.984.3 §8.1.3.6, G.987.3 §8.1.1, G.9807.1 §C.8.1.1"
SRC_REF = "reference DBA model (pon-reference.md §5)"
SRC_OWN = "this project's criterion"

#: Reference model targets (pon-reference §5): R_A restored within 2 ms; low-delay class ≤ 10 ms.
RESTORE_MS = 2.0
LOW_DELAY_MS = 10.0
#: This project's thresholds.
JAIN_MIN = 0.99
WEIGHT_ERROR_MAX = 0.05
CARRIED_MIN = 0.99
GRANT_USE_MIN = 0.90
BE_P99_MS = 10.0
SLOW_RATE_MIN = 0.9
ASSURED_MIN = 0.99
#: A real OLT decides every 125 µs: a DBA slower than 8000 frames/s cannot run in real time.
SPEED_MIN = 8000.0
#: Bin of the restoration step response (s) and the window its rate is judged over.
STEP_BIN_S = 125e-6
RESTORE_WINDOW_S = 1e-3
RESTORE_SHARE = 0.9


@dataclass(frozen=True)
class Criterion:
    """One line of the card."""

    id: str
    title: str
    source: str
    unit: str
    op: str  #: ``">="``, ``"<="`` or ``"=="``
    #: What it measures and how, one paragraph (the Markdown report's criteria section).
    method: str
    #: Scenario labels it reads (``"drive"``: a direct drive of the DBA).
    needs: tuple[str, ...]
    #: Criterion applies only to DBAs that claim weights (``Dba.weighted``).
    weighted_only: bool = False
    #: Machine-dependent number (the speed): left out of determinism checks.
    wall_clock: bool = False
    #: Applies to EPON polling DBAs too (no BWmap, no T-CONT types: the rest is N/A there).
    epon: bool = False


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "bwmap",
        "BWmap validity, fuzzed reports and provisioning",
        SRC_BWMAP,
        "frames refused",
        "==",
        "120 random PONs (1-32 ONUs, 1-3 T-CONTs each, types 1-5, admission control kept, DBA "
        "cycles of 1, 2 or 4 frames, FEC on or off) × 40 rounds of random DBRu values, polls, "
        "report ages and idle bytes (quick: 30 × 20); every frame of every cycle goes to the "
        "BWmap builder, which refuses negative grants, more than 512 allocation structures, a "
        "GrantSize or StartTime beyond its field and a frame overflow.",
        ("drive",),
    ),
    Criterion(
        "fixed",
        "fixed bandwidth: type 1 gets exactly R_F, idle or loaded",
        SRC_TCONT,
        "max |granted/R_F − 1|",
        "<=",
        "Two type-1 T-CONTs with R_F = 5 % of C, one idle, one offered 150 % of R_F, beside best "
        "effort at 150 % of C; the payload granted over the whole run against R_F. Allowance: "
        "one grant unit per frame and one encapsulated 1518-byte frame over the run.",
        ("fixed",),
    ),
    Criterion(
        "assured",
        "assured bandwidth: type 2/3 get R_A at 150 % load",
        SRC_TCONT,
        "min carried/R_A",
        ">=",
        "A type-2 and a type-3 T-CONT (R_A = 10 % of C) offered 150 % of R_A while best "
        "effort makes 150 % of C; the lower of their carried rates (GEM/XGEM bytes) over R_A.",
        ("assured",),
    ),
    Criterion(
        "restore",
        "time to restore R_A after a step from idle",
        SRC_REF,
        "ms",
        "<=",
        "In the assured scenario a third T-CONT (type 2, R_A = 10 % of C) is idle until half-way "
        "through the measuring window, then offered 150 % of R_A: the time from the step to "
        f"the start of the first {RESTORE_WINDOW_S * 1e3:g} ms window in which it carries "
        f"{RESTORE_SHARE:.0%} of R_A (from the packet trace, 125 µs bins; the report loop "
        "alone takes Teqd plus a frame or two).",
        ("assured",),
    ),
    Criterion(
        "ceiling-run",
        "ceilings: no T-CONT above R_M over the run",
        SRC_TCONT,
        "max granted/ceiling",
        "<=",
        "Greedy T-CONTs of types 2-5 capped at 5 % of C (type 2 at R_A, the others at R_M) while "
        "the PON has room to spare; the payload granted over the run against the ceiling of "
        "the type rules (R_M, or R_F + R_A for types 1 and 2 — never their sum), with the "
        "allowance above.",
        ("ceilings",),
    ),
    Criterion(
        "ceiling-grant",
        "ceilings: per grant, within one grant unit",
        SRC_TCONT,
        "excess / allowance",
        "<=",
        "The same T-CONTs driven directly with greedy reports (the uncapped ones asking for "
        "one 1518-byte frame, so the frame has room) for 800 frames (quick: 200): at "
        "every frame, the bytes granted so far minus ceiling × frames, as a multiple of one "
        "grant unit per frame plus one encapsulated 1518-byte frame.",
        ("drive",),
    ),
    Criterion(
        "fairness",
        "fairness: Jain index, equal best effort at 150 %",
        SRC_OWN,
        "Jain",
        ">=",
        "Eight equal type-4 T-CONTs offered 150 % of C in all; Jain's index of their carried "
        "rates (1 = equal).",
        ("fairness",),
        epon=True,
    ),
    Criterion(
        "weights",
        "shares ∝ weights (DBAs that claim weights)",
        SRC_REF,
        "max |share/expected − 1|",
        "<=",
        "Eight type-4 T-CONTs with weights 1,1,2,2,3,3,4,4 offered 200 % of C; each one's "
        "carried rate against its weight's share of the total carried. N/A for DBAs that do "
        "not claim weights (class attribute `weighted`).",
        ("weights",),
        weighted_only=True,
    ),
    Criterion(
        "carried-95",
        "work conservation: carried / offered at 95 % load",
        SRC_OWN,
        "ratio",
        ">=",
        "The load sweep's 95 % point (every ONU: type 1 and type 2 CBR at 80 % of their "
        "guarantees, best effort with trimodal Poisson traffic); upstream throughput over "
        "offered rate. Below capacity a work-conserving DBA carries everything.",
        ("load-95",),
        epon=True,
    ),
    Criterion(
        "grant-use-95",
        "work conservation: grant utilisation at 95 % load",
        SRC_OWN,
        "used/granted",
        ">=",
        "The same run: payload bytes used of payload bytes granted (`grant_utilisation."
        "payload_used_of_granted`). Idle grants are capacity no one else could use.",
        ("load-95",),
    ),
    Criterion(
        "delay-guaranteed",
        "delay: p99 of type 1/2 traffic at 95 % load",
        SRC_REF,
        "ms",
        "<=",
        "The same run: the larger p99 upstream delay of the type-1 and type-2 classes "
        "(reference model: ≤ 10 ms for the low-delay class, well below 1 ms expected).",
        ("load-95",),
    ),
    Criterion(
        "delay-be",
        "delay: p99 of best effort at 95 % load",
        SRC_OWN,
        "ms",
        "<=",
        "The same run: p99 upstream delay of the best-effort class (the mean and p99 over the "
        "whole sweep, 10 … 95 % of C, are in the report's curves).",
        ("load-95",),
        epon=True,
    ),
    Criterion(
        "slow-rate",
        "slow T-CONTs get their rate",
        SRC_TCONT,
        "min carried/offered",
        ">=",
        "T-CONTs provisioned below one minimum GEM/XGEM frame per frame (type 2 and type 3 at "
        "R_A = half that rate, 64-byte frames at 80 % of R_A; a G.711 call, 218 bytes every 20 "
        "ms, on a type 2 with R_A = 100 kb/s) beside best effort at 100 % of C, 1 s (quick: "
        "0.25 s); the lowest carried / offered.",
        ("slow",),
    ),
    Criterion(
        "voice-delay",
        "slow T-CONTs: p99 delay of a call at R_A = 100 kb/s",
        SRC_REF,
        "ms",
        "<=",
        "The same run: p99 upstream delay of the G.711 call (the low-delay class of the "
        "reference model).",
        ("slow",),
    ),
    Criterion(
        "overload-assured",
        "overload 200 %: assured classes do not collapse",
        SRC_TCONT,
        "min carried/R_A",
        ">=",
        "A type-2 and a type-3 T-CONT (R_A = 10 % of C) offered 120 % of R_A while best effort "
        "makes 200 % of C; the lower carried rate over R_A.",
        ("overload",),
    ),
    Criterion(
        "ledger",
        "overload 200 %: conservation ledger exact",
        SRC_OWN,
        "bytes unaccounted",
        "==",
        "The same run: |offered − delivered − queued − dropped| over both directions.",
        ("overload",),
        epon=True,
    ),
    Criterion(
        "speed",
        "speed: DBA frames per second",
        SRC_OWN,
        "frames/s",
        ">=",
        "`allocate` called directly on 64 ONUs × 2 T-CONTs (types 1-5) with random reports, "
        "2000 frames (quick: 500), no BWmap and no data plane, timed in CPU seconds of the "
        "process (on a shared machine the wall clock would time the others too; on an idle "
        "one the two agree): a real OLT decides every 125 µs, so below 8000 frames/s the DBA "
        "cannot run in real time. Machine-dependent.",
        ("drive",),
        wall_clock=True,
    ),
)

BY_ID = {c.id: c for c in CRITERIA}


# ============================================================================ input
def weighted(dba: str) -> bool:
    """Whether the DBA claims to share by the provisioned T-CONT weight."""
    from olt.dba.registry import get_dba

    return bool(getattr(get_dba(dba), "weighted", False))


def frame_dbas() -> list[str]:
    """Every registered frame (BWmap) DBA, sorted: what the card can check."""
    from olt.dba.registry import get_dba, list_dbas

    return [n for n in list_dbas() if not getattr(get_dba(n), "epon", False)]


def parse_dbas(text: str, tech: str) -> list[str]:
    """``"sr-dba,ebu"`` → names, each registered and fitting ``tech``.

    Raises
    ------
    ftth.errors.InputError
        Unknown DBA, a DBA of the wrong kind for the technology, an unknown technology.
    """
    from olt.dba.registry import get_dba

    if tech not in TECHNOLOGIES:
        raise InputError("--tech", f"expected one of {', '.join(TECHNOLOGIES)}, got {tech!r}")
    names: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            raise InputError("DBA", f"empty DBA name in {text!r}")
        cls = get_dba(name, where="DBA")
        epon = bool(getattr(cls, "epon", False))
        if epon and tech in FRAMED:
            raise InputError(
                "DBA", f"{name!r} is an EPON polling DBA; {tech} needs a frame (BWmap) DBA"
            )
        if not epon and tech not in FRAMED:
            raise InputError(
                "DBA", f"{name!r} is a frame (BWmap) DBA; {tech} needs an EPON polling DBA"
            )
        if name in names:
            raise InputError("DBA", f"DBA {name!r} is given twice")
        names.append(name)
    return names


# ============================================================================ tasks
@dataclass(frozen=True)
class Task:
    """One independent unit of the pool: a scenario run or a direct drive."""

    dba: str
    label: str  #: scenario label, or ``"drive"``
    scenario: dict[str, Any] | None = None
    quick: bool = False
    tech: str = ""


def step_series(result: Any, name: str, step_at_s: float) -> dict[str, Any]:
    """Carried bytes of T-CONT ``name`` per :data:`STEP_BIN_S` bin from 1 ms before the step
    to the end (its packet trace) and the restoration time (s, ``None``: never)."""
    import numpy as np

    spec, raw = result.spec, result.raw
    rows = [j for j, q in enumerate(spec.upstream) if q.name == name]
    q, _a, s, d = raw.upstream.packets()
    mask = np.isin(q, rows)
    dep, size = d[mask], s[mask]
    step_ps = int(round(step_at_s * 1e12))
    bin_ps = int(round(STEP_BIN_S * 1e12))
    start = step_ps - 8 * bin_ps
    nbins = (spec.duration_ps - start) // bin_ps
    idx = (dep - start) // bin_ps
    ok = (idx >= 0) & (idx < nbins)
    counts = np.bincount(idx[ok], weights=size[ok], minlength=nbins).astype(np.int64)
    # R_A in Ethernet bytes per bin (the source's frames are all one size).
    ra_bps = float(spec.tconts.assured_bps[rows[0]])
    p = spec.profile
    eth = ETH_MAX_FRAME_BYTES
    ra_eth_per_bin = ra_bps * STEP_BIN_S / 8 * eth / encapsulated_bytes(p, eth)
    w = int(round(RESTORE_WINDOW_S / STEP_BIN_S))
    restore_s: float | None = None
    csum = np.concatenate([[0], np.cumsum(counts)])
    for b in range(8, nbins):
        lo = max(8, b + 1 - w)
        got = csum[b + 1] - csum[lo]
        if got >= RESTORE_SHARE * ra_eth_per_bin * w:
            # R_A flows from the start of the first window that carries it.
            restore_s = max(0, lo - 8) * STEP_BIN_S
            break
    return {
        "bin_s": STEP_BIN_S,
        "t0_s": -8 * STEP_BIN_S,
        "rate_bps": [round(float(v) * 8 / STEP_BIN_S, 3) for v in counts],
        "assured_eth_bps": round(ra_eth_per_bin * 8 / STEP_BIN_S, 3),
        "restore_s": restore_s,
    }


def run_task(task: Task) -> dict[str, Any]:
    """Run one task; return what the criteria read (picklable, JSON-ready).

    A DBA that breaks a BWmap rule in an emulation gives ``{"error": …, "rules": True}``;
    any other failure of the DBA ``{"error": …, "rules": False}``.
    """
    from ftth.dbacheck import drive

    if task.label == "drive":
        f = 30 if task.quick else 120
        r = 20 if task.quick else 40
        return {
            "fuzz": drive.fuzz_bwmap(task.dba, task.tech, f, r),
            "ceiling": drive.grant_ceilings(task.dba, task.tech, 200 if task.quick else 800),
            "speed": drive.dba_speed(task.dba, task.tech, 500 if task.quick else 2000),
        }
    from ftth import api
    from ftth.scenario import scenario_from_dict

    assert task.scenario is not None
    scenario = scenario_from_dict(task.scenario, source=f"dba-check {task.label}")
    record = task.label == "assured"
    result = api.run(scenario, record_packets=record)
    out: dict[str, Any] = {"json": result.to_dict()}
    if record:
        d = sc.durations(task.quick)
        out["step"] = step_series(result, "step-2", d.step_at_s)
    return out


def _run_guarded(task: Task) -> dict[str, Any]:
    try:
        return run_task(task)
    except InputError:
        raise
    except DbaError as exc:
        return {"error": str(exc), "rules": True}
    except InvariantError as exc:
        return {"error": str(exc), "rules": False, "ledger": True}
    except FtthError as exc:
        return {"error": str(exc), "rules": False}
    except Exception as exc:  # a DBA may raise anything: the card names it and goes on
        text = describe_crash(exc)
        return {"error": text, "rules": False, "traceback": traceback.format_exc()}


def run_tasks(
    tasks: list[Task],
    jobs: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every task, results in task order; ``jobs`` worker processes (``spawn``), 1 = here."""
    total = len(tasks)
    jobs = max(1, min(jobs or os.cpu_count() or 1, total))
    out: list[dict[str, Any] | None] = [None] * total
    if jobs == 1:
        for i, t in enumerate(tasks):
            out[i] = _run_guarded(t)
            if on_done:
                on_done(i + 1, total)
        return [r for r in out if r is not None]
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    try:
        index: dict[Future[dict[str, Any]], int] = {
            pool.submit(_run_guarded, t): i for i, t in enumerate(tasks)
        }
        pending = set(index)
        done = 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=index.__getitem__):
                out[index[fut]] = fut.result()
                done += 1
                if on_done:
                    on_done(done, total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [r for r in out if r is not None]


# ============================================================================ measures
def _tcont(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [t for t in data["tconts"] if t["name"] == name]


def _scenario_tcont(scen: dict[str, Any], name: str) -> dict[str, Any]:
    for onu in scen["onus"]:
        for t in onu["tconts"]:
            if t["name"] == name:
                return dict(t)
    raise KeyError(name)


def _eth_to_encap(tech: str, size: int) -> float:
    return encapsulated_bytes(get_profile(tech), size) / size


def allowance_bps(tech: str, duration_s: float) -> float:
    """One grant unit per frame plus one encapsulated 1518-byte frame over the run (bit/s)."""
    p = get_profile(tech)
    frames_per_s = 1e12 / p.frame_ps
    return (
        p.grant_unit_bytes * 8 * frames_per_s
        + encapsulated_bytes(p, ETH_MAX_FRAME_BYTES) * 8 / duration_s
    )


def ceiling_bps(t: dict[str, Any]) -> float:
    """The T-CONT ceiling of the type rules (``olt.dba.kernel.ceiling_bytes_per_frame``)."""
    f, a, m = t.get("fixed_bps", 0.0), t.get("assured_bps", 0.0), t.get("max_bps", 0.0)
    return float(m) if m > 0 else float(f + a)


def jain(values: list[float]) -> float:
    s, s2 = sum(values), sum(v * v for v in values)
    return (s * s) / (len(values) * s2) if s2 > 0 else 1.0


def _delay_ms(data: dict[str, Any], cls: str, stat: str) -> float | None:
    d = data["upstream"]["delay_us"].get(cls)
    if d is None or d.get(stat) is None:
        return None
    return float(d[stat]) / 1000


@dataclass
class Measure:
    value: float | None
    threshold: float
    detail: str = ""
    applies: bool = True


def _carried_over_ra(data: dict[str, Any], scen: dict[str, Any], names: tuple[str, ...]) -> Measure:
    tech = scen["technology"]
    worst: float | None = None
    parts = []
    for name in names:
        t = _scenario_tcont(scen, name)
        size = int(t["traffic"]["size_bytes"])
        carried = sum(x["delivered_bps"] for x in _tcont(data, name)) * _eth_to_encap(tech, size)
        ratio = carried / float(t["assured_bps"])
        parts.append(f"{name} {ratio:.4f}")
        worst = ratio if worst is None else min(worst, ratio)
    return Measure(worst, ASSURED_MIN, ", ".join(parts))


def measure(cid: str, runs: dict[str, dict[str, Any]], scens: dict[str, dict[str, Any]]) -> Measure:
    """The number of criterion ``cid`` from its runs' outputs (``runs[label]``: what
    :func:`run_task` returned) and scenarios (``scens[label]``)."""
    if cid in ("bwmap", "ceiling-grant", "speed"):
        drv = runs["drive"]
        if cid == "bwmap":
            f = drv["fuzz"]
            detail = f"{f['frames']} frames of {f['pons']} random PONs built"
            if f["first_error"]:
                detail += f"; first refused: {f['first_error']}"
            return Measure(float(f["rejected"]), 0.0, detail)
        if cid == "ceiling-grant":
            c = drv["ceiling"]
            return Measure(
                float(c["ratio"]), 1.0, f"worst: T-CONT {c['tcont']} at frame {c['frame']}"
            )
        return Measure(float(drv["speed"]["frames_per_s"]), SPEED_MIN)
    label = BY_ID[cid].needs[0]
    data = runs[label]["json"]
    scen = scens[label]
    tech = scen["technology"]
    dur = float(scen["duration_s"])
    if cid == "fixed":
        worst, parts, allow = 0.0, [], 1.0
        for name in ("fixed-idle", "fixed-loaded"):
            rf = float(_scenario_tcont(scen, name)["fixed_bps"])
            got = sum(x["granted_bps"] for x in _tcont(data, name))
            dev = abs(got / rf - 1)
            parts.append(f"{name} {got / 1e6:.3f} of {rf / 1e6:.3f} Mb/s")
            worst = max(worst, dev)
            allow = min(allow, allowance_bps(tech, dur) / rf)
        return Measure(worst, allow, "; ".join(parts))
    if cid == "assured":
        return _carried_over_ra(data, scen, ("assured-2", "assured-3"))
    if cid == "overload-assured":
        return _carried_over_ra(data, scen, ("assured-2", "assured-3"))
    if cid == "restore":
        step = runs[label]["step"]
        rs = step["restore_s"]
        return Measure(
            None if rs is None else rs * 1e3,
            RESTORE_MS,
            "never restored within the run" if rs is None else "",
        )
    if cid == "ceiling-run":
        worst, allow, parts = 0.0, 1.0, []
        for name, *_ in sc.CAPPED:
            t = _scenario_tcont(scen, name)
            cap = ceiling_bps(t)
            got = sum(x["granted_bps"] for x in _tcont(data, name))
            worst = max(worst, got / cap)
            allow = min(allow, allowance_bps(tech, dur) / cap)
            parts.append(f"{name} {got / cap:.4f}")
        return Measure(worst, 1.0 + allow, ", ".join(parts))
    if cid == "fairness":
        rates = [x["delivered_bps"] for x in _tcont(data, "be")]
        return Measure(jain(rates), JAIN_MIN, f"{len(rates)} T-CONTs")
    if cid == "weights":
        rates = [x["delivered_bps"] for x in _tcont(data, "be")]
        weights = [float(t.get("weight", 1.0)) for onu in scen["onus"] for t in onu["tconts"]]
        total, wsum = sum(rates), sum(weights)
        errs = [abs(r / (total * w / wsum) - 1) for r, w in zip(rates, weights, strict=True)]
        return Measure(max(errs), WEIGHT_ERROR_MAX, "weights 1,1,2,2,3,3,4,4")
    if cid == "carried-95":
        up = data["upstream"]
        ratio = up["throughput_bps"] / up["offered_bps"] if up["offered_bps"] else 0.0
        return Measure(
            ratio,
            CARRIED_MIN,
            f"throughput {up['throughput_bps'] / 1e9:.3f} Gb/s, "
            f"C = {up['capacity_bps'] / 1e9:.3f} Gb/s",
        )
    if cid == "grant-use-95":
        return Measure(float(data["grant_utilisation"]["payload_used_of_granted"]), GRANT_USE_MIN)
    if cid == "delay-guaranteed":
        vals = [_delay_ms(data, c, "p99") for c in ("t1", "t2")]
        value = None if any(v is None for v in vals) else max(v for v in vals if v is not None)
        return Measure(value, LOW_DELAY_MS, f"type 1 {_fmt(vals[0])}, type 2 {_fmt(vals[1])} ms")
    if cid == "delay-be":
        return Measure(_delay_ms(data, "be", "p99"), BE_P99_MS)
    if cid == "slow-rate":
        ratios, parts = [], []
        for name in ("slow-2", "slow-3", "voice"):
            for x in _tcont(data, name):
                r = x["delivered_bps"] / x["offered_bps"] if x["offered_bps"] else 0.0
                parts.append(f"{name} {r:.3f}")
                ratios.append(r)
        return Measure(min(ratios), SLOW_RATE_MIN, ", ".join(parts))
    if cid == "voice-delay":
        mean = _delay_ms(data, "voice", "mean")
        return Measure(_delay_ms(data, "voice", "p99"), LOW_DELAY_MS, f"mean {_fmt(mean)} ms")
    if cid == "ledger":
        c = data["conservation"]
        gap = c["offered_bytes"] - c["delivered_bytes"] - c["queued_bytes"] - c["dropped_bytes"]
        return Measure(float(abs(gap)), 0.0)
    raise KeyError(cid)


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def judge(c: Criterion, m: Measure) -> str:
    if not m.applies:
        return NA
    if m.value is None or not math.isfinite(m.value):
        return FAIL
    ok = {
        ">=": m.value >= m.threshold,
        "<=": m.value <= m.threshold,
        "==": m.value == m.threshold,
    }[c.op]
    return PASS if ok else FAIL


def curves(runs: dict[str, dict[str, Any]], loads: tuple[float, ...]) -> dict[str, list[Any]]:
    """Delay and throughput against load from the sweep (``None`` where a run failed)."""
    out: dict[str, list[Any]] = {
        k: []
        for k in (
            "load",
            "be_mean_ms",
            "be_p99_ms",
            "t1_p99_ms",
            "t2_p99_ms",
            "carried",
            "throughput_bps",
        )
    }
    for load in loads:
        r = runs.get(sc.load_key(load), {})
        data = r.get("json")
        out["load"].append(load)
        if data is None:
            for k in list(out)[1:]:
                out[k].append(None)
            continue
        up = data["upstream"]
        out["be_mean_ms"].append(_delay_ms(data, "be", "mean"))
        out["be_p99_ms"].append(_delay_ms(data, "be", "p99"))
        out["t1_p99_ms"].append(_delay_ms(data, "t1", "p99"))
        out["t2_p99_ms"].append(_delay_ms(data, "t2", "p99"))
        out["carried"].append(
            up["throughput_bps"] / up["offered_bps"] if up["offered_bps"] else None
        )
        out["throughput_bps"].append(up["throughput_bps"])
    return out


# ============================================================================ the card
@dataclass
class Card:
    """The report card of several DBAs on one technology."""

    tech: str
    quick: bool
    dbas: list[str]
    #: dba → list of {"id", "value", "threshold", "status", "detail"} in :data:`CRITERIA` order
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: dba → delay / throughput against load
    curves: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    #: dba → restoration step response
    steps: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: dba → errors of its runs (label → text); a rule broken in a run sets ``breaks_rules``
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    breaks_rules: dict[str, bool] = field(default_factory=dict)
    #: dba → a run raised something else than a BWmap rule (the DBA crashed)
    crashed: dict[str, bool] = field(default_factory=dict)
    #: dba → label → scenario table
    scenarios: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    wall_s: float = 0.0

    def status(self, dba: str) -> str:
        if self.breaks_rules.get(dba):
            return "BREAKS RULES"
        if self.crashed.get(dba):
            return "CRASHED"
        return FAIL if any(r["status"] == FAIL for r in self.results[dba]) else PASS

    @property
    def exit_code(self) -> int:
        """0 every criterion passes, 1 some fail, 3 a DBA breaks the standard's rules or
        crashes."""
        if any(self.breaks_rules.values()) or any(self.crashed.values()):
            return 3
        return 1 if any(self.status(d) == FAIL for d in self.dbas) else 0

    def to_dict(self, include_wall_clock: bool = True) -> dict[str, Any]:
        cards = {}
        for d in self.dbas:
            rows = [
                r for r in self.results[d] if include_wall_clock or not BY_ID[r["id"]].wall_clock
            ]
            cards[d] = {
                "status": self.status(d),
                "breaks_rules": self.breaks_rules[d],
                "crashed": self.crashed[d],
                "criteria": rows,
                "errors": self.errors[d],
                "curves": self.curves[d],
                "step_response": self.steps[d],
            }
        out: dict[str, Any] = {
            "technology": self.tech,
            "quick": self.quick,
            "capacity_bps": round(sc.capacity_bps(self.tech), 3),
            "dbas": self.dbas,
            "criteria": [
                {
                    "id": c.id,
                    "title": c.title,
                    "source": c.source,
                    "unit": c.unit,
                    "op": c.op,
                    "method": c.method,
                    "scenarios": list(c.needs),
                }
                for c in CRITERIA
                if include_wall_clock or not c.wall_clock
            ],
            "cards": cards,
            "exit_status": self.exit_code,
        }
        if include_wall_clock:
            out["wall_s"] = round(self.wall_s, 3)
        return out


def tasks_for(
    dbas: list[str], tech: str, quick: bool
) -> tuple[list[Task], dict[str, dict[str, dict[str, Any]]]]:
    """Every task of the card (direct drives first: they are the slowest) and the scenarios."""
    tasks: list[Task] = []
    scens: dict[str, dict[str, dict[str, Any]]] = {}
    for d in dbas:
        tasks.append(Task(d, "drive", None, quick, tech))
        scens[d] = sc.build_all(tech, d, quick, weighted(d))
    for d in dbas:
        for label, s in scens[d].items():
            tasks.append(Task(d, label, s, quick, tech))
    return tasks, scens


def check(
    dbas: list[str],
    tech: str,
    *,
    quick: bool = False,
    jobs: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
    only: tuple[str, ...] | None = None,
) -> Card:
    """Run the battery on ``dbas`` (already checked by :func:`parse_dbas`).

    ``only`` restricts the card to some criteria (tests): only their scenarios run.
    """
    start = time.perf_counter()
    tasks, scens = tasks_for(dbas, tech, quick)
    wanted = CRITERIA if only is None else tuple(BY_ID[c] for c in only)
    framed = tech in FRAMED
    needed = {label for c in wanted if framed or c.epon for label in c.needs}
    if only is None:  # the whole sweep feeds the report's curves
        needed |= {sc.load_key(x) for x in sc.sweep_loads(quick)}
    tasks = [t for t in tasks if t.label in needed]
    outs = run_tasks(tasks, jobs, on_done)
    card = Card(tech, quick, list(dbas), scenarios=scens)
    for d in dbas:
        runs = {t.label: o for t, o in zip(tasks, outs, strict=True) if t.dba == d}
        errors = {label: str(o["error"]) for label, o in runs.items() if "error" in o}
        card.errors[d] = errors
        card.breaks_rules[d] = any(o.get("rules") for o in runs.values())
        card.crashed[d] = any("error" in o and not o.get("rules") for o in runs.values())
        rows = []
        claims = weighted(d)
        for c in wanted:
            failed = [label for label in c.needs if label in errors]
            if not framed and not c.epon:
                m = Measure(None, 0.0, "EPON: no BWmap and no T-CONT types", applies=False)
            elif c.weighted_only and not claims:
                m = Measure(None, 0.0, "the DBA does not claim weights", applies=False)
            elif failed:
                m = Measure(None, 0.0, f"run failed: {errors[failed[0]]}")
            else:
                m = measure(c.id, runs, scens[d])
            rows.append(
                {
                    "id": c.id,
                    "value": m.value,
                    "threshold": m.threshold if m.applies else None,
                    "op": c.op,
                    "status": judge(c, m),
                    "detail": m.detail,
                }
            )
        card.results[d] = rows
        loads = sc.sweep_loads(quick)
        card.curves[d] = curves(runs, loads) if any(sc.load_key(x) in runs for x in loads) else {}
        card.steps[d] = runs.get("assured", {}).get("step")
    card.wall_s = time.perf_counter() - start
    return card
