"""The verdict rules of ``ftth run``, ``ftth plan`` and ``ftth compare-dba``, in one place.

This module is the reference for what PASS, FAIL and INCONCLUSIVE mean.  It holds pure
functions over numbers the results assembler (:mod:`ftth.emulator.result`) and the planner
(:mod:`ftth.plan`) measured; it imports nothing from the emulator.

Verdict of a run
----------------
Every rule of :data:`RULES` is evaluated and reported (``verdict.rules`` in the JSON, one
entry per rule with its status and figures).  The run's status is

* ``fail`` when the conservation ledger does not balance (a bug, whatever else holds);
* otherwise ``inconclusive`` when the *sufficiency* rule says the run is too short to judge
  (exit status 1, the reason names the shortest ``--duration`` that is long enough);
* otherwise ``fail`` when any other rule fails (each failing rule adds one reason);
* otherwise ``pass``.

``verdict.pass`` (and ``Result.passed``) is true exactly when the status is ``pass``.

The rules
---------
``ledger``
    offered = delivered + queued + dropped + lost, in bytes and packets, for every queue of
    both directions (lost: bytes a fault or a bit error destroyed; 0 without faults).
``sufficiency``
    The measuring window ``[warmup, end)`` holds at least :data:`MIN_DBA_CYCLES` DBA cycles
    (framed PONs: ``dba.cycle_frames`` frames; EPON: the measured mean polling cycle), is at
    least as long as the delay budget (a packet must be able to be late inside it), and
    every traffic class (direction × class name, all ONUs together) that carries traffic in
    the run has at least :data:`MIN_CLASS_PACKETS` packets arriving in the window.  Otherwise
    INCONCLUSIVE with the shortest duration meeting all three (:func:`minimum_duration_s`).
``capacity``
    Per direction, bytes carried in the window ≥ :data:`CAPACITY_TOLERANCE` × bytes offered
    in the window.  The offered bytes are first capped by what the design lets each unit
    take, so that a household asking more than its tier is not a shortfall of the PON: each
    upstream T-CONT at its ceiling (``max(R_M, R_F + R_A)``), each ONU's downstream at its
    tier shaper (``olt.shaping``).  An unbounded (greedy) source offers what it is given.
    A burst that arrived just before the end is not a shortfall either: the end backlog of
    the units within their limits counts as carried when each unit drains its own within
    :data:`IN_FLIGHT_S` at its limit — but only as far as the direction's spare capacity
    (analytic capacity − carried rate) drains it in that time, so an overloaded direction
    gets no such credit.
    Reason: ``"upstream capacity: carried 0.60 of offered (tolerance 0.98)"``.
``backlog``
    Per direction, the bytes queued at the end of the run minus the bytes queued when
    warm-up ends must not exceed :data:`BACKLOG_TOLERANCE` × the (capped) bytes offered in
    the window, plus :data:`BACKLOG_ALLOWANCE_MTUS` frames per queue (packets in service at
    the two instants).  Only queues fed by bounded sources of units within their limits
    count (a greedy queue is always full; a household above its tier fills its own queue).
    The backlog a burst leaves that the spare capacity drains is credited as in ``capacity``.
    The warm-up backlog is taken as bytes arrived − bytes received before warm-up ends,
    an upper bound when packets were dropped during warm-up (so the growth is never
    over-stated).
``loss``
    No packet is tail-dropped in either direction.
``household``
    Every class of every household gets its share and meets its delay budget
    (:func:`judge_class`, the one household rule ``ftth run`` and ``ftth plan`` use):

    * **share** — a household's classes share its tier in priority order
      (:func:`class_targets`: upstream T-CONT types 1, 2, 3, then 4/5; downstream class
      priority), each class capped by what it offers and by its ceiling; its target is what
      that water-filling gives it.  It passes when carried ≥ ``households.pass_ratio`` ×
      target − an allowance (two 1518-byte frames per queue over the window: packets in
      flight at the window's edges), where its backlog at the end counts as carried when
      the class drains it within :data:`IN_FLIGHT_S` at the rate it may be served at
      (its ceiling, limited by the tier and the line rate): a burst that arrived just before
      the end is not a shortfall — as far as the direction's spare capacity drains the
      backlog of every unit (``capacity`` rule), the drain rate scaled by that share;
    * **no loss** — a class with tail drops fails (``ftth plan``: a probe's own drops only
      matter when it falls short);
    * **delay** — the delay-sensitive classes (upstream T-CONT types in
      :data:`DELAY_SENSITIVE_TYPES`, downstream priority 0) keep p99 ≤ the delay budget
      (:data:`DEFAULT_DELAY_BUDGET_MS`, ``ftth plan --delay-budget-ms``), per ONU; more
      than 1 % of their packets arriving after warm-up but over a budget before the end and
      never delivered counts as p99 above the budget (no histogram sees them).

    Behind an FTTB ONU (``households.per_onu`` > 1) the households share its queues: the
    tier cap is ``per_onu`` × the tier and each household gets ``1 / per_onu`` of each figure.

    ``ftth plan`` judges each speed-test probe with the same function (target = the tier,
    allowance = one probe frame) and adds its columns to the same households table.

Classes without packets in the window report no delay (``null`` in JSON, empty in CSV, "—"
in tables); every class reports its ``packets``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Status = Literal["pass", "fail", "inconclusive"]

#: A direction passes ``capacity`` when it carries at least this share of its offered load.
CAPACITY_TOLERANCE = 0.98
#: Backlog growth over the window allowed, as a share of the bytes offered in it.
BACKLOG_TOLERANCE = 0.02
#: Frames (1518 B) per queue allowed on top of :data:`BACKLOG_TOLERANCE` (packets in service).
BACKLOG_ALLOWANCE_MTUS = 2
#: Fewest DBA cycles in the measuring window for a verdict.
MIN_DBA_CYCLES = 20
#: Fewest packets arriving in the measuring window per traffic class that has traffic.
MIN_CLASS_PACKETS = 10
#: A class's end-of-run backlog counts as carried when it drains within this time.
IN_FLIGHT_S = 0.05
#: p99 budget of the delay-sensitive classes (pon-reference §5: low-delay class ≤ 10 ms).
DEFAULT_DELAY_BUDGET_MS = 10.0
#: Upstream T-CONT types that carry delay-sensitive traffic (fixed and assured).
DELAY_SENSITIVE_TYPES = (1, 2)
#: Ethernet MTU frame: the unit of the in-flight allowances.
MTU_BYTES = 1518


@dataclass(frozen=True)
class Rule:
    """One verdict rule: what it checks, its threshold and where the threshold comes from."""

    name: str
    checks: str
    threshold: str
    source: str
    reason: str  #: template of the reason a FAIL (or INCONCLUSIVE) adds

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "checks": self.checks,
            "threshold": self.threshold,
            "source": self.source,
            "reason": self.reason,
        }


#: The rules, in the order they are evaluated and reported.
RULES: tuple[Rule, ...] = (
    Rule(
        "ledger",
        "offered = delivered + queued + dropped, bytes and packets, both directions",
        "exact",
        "conservation law",
        "conservation ledger does not balance (a bug: please report)",
    ),
    Rule(
        "sufficiency",
        "DBA cycles in the measuring window; its length; packets arriving in it per class",
        f"≥ {MIN_DBA_CYCLES} cycles, ≥ the delay budget, ≥ {MIN_CLASS_PACKETS} packets per class",
        "ftth.verdict.MIN_DBA_CYCLES, ftth.verdict.MIN_CLASS_PACKETS",
        "inconclusive: {what}; run at least --duration {duration}",
    ),
    Rule(
        "capacity",
        "per direction: bytes carried / bytes offered in the window (offered capped at "
        "T-CONT ceilings and tier shapers)",
        f"≥ {CAPACITY_TOLERANCE}",
        "ftth.verdict.CAPACITY_TOLERANCE",
        "{direction} capacity: carried {ratio:.2f} of offered (tolerance {tolerance:.2f})",
    ),
    Rule(
        "backlog",
        "per direction: bytes queued at the end − bytes queued at warm-up end",
        f"≤ {BACKLOG_TOLERANCE} × offered in the window + {BACKLOG_ALLOWANCE_MTUS} frames "
        "per queue",
        "ftth.verdict.BACKLOG_TOLERANCE, ftth.verdict.BACKLOG_ALLOWANCE_MTUS",
        "{direction} backlog grows: +{growth} B through the window ({share:.1%} of offered, "
        "tolerance {tolerance:.0%})",
    ),
    Rule(
        "loss",
        "packets tail-dropped, both directions",
        "0",
        "no loss allowed",
        "{packets} packets ({bytes} bytes) dropped: upstream {up} B, downstream {down} B",
    ),
    Rule(
        "household",
        "every class of every household: carried ≥ pass_ratio × its share of the tier, no "
        "tail drop, delay-sensitive p99 ≤ budget",
        "households.pass_ratio; delay budget",
        "households.pass_ratio, ftth.verdict.DEFAULT_DELAY_BUDGET_MS",
        "{failing} of {total} households: a class below {ratio:.0%} of its share or over "
        "its delay budget ({example})",
    ),
)

RULE_NAMES = tuple(r.name for r in RULES)


def rule(name: str) -> Rule:
    """The rule called ``name``."""
    for r in RULES:
        if r.name == name:
            return r
    raise KeyError(name)


# ======================================================================== outcomes
@dataclass
class Outcome:
    """What one rule found: ``pass``, ``fail``, ``inconclusive`` or ``skipped``."""

    name: str
    status: Literal["pass", "fail", "inconclusive", "skipped"]
    reasons: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        r = rule(self.name) if self.name in RULE_NAMES else None
        return {
            "name": self.name,
            "status": self.status,
            "threshold": None if r is None else r.threshold,
            "source": None if r is None else r.source,
            "reasons": list(self.reasons),
            **self.detail,
        }


def combine(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The ``verdict`` object of a run from its rule outcomes (module docstring: precedence).

    Returns ``{"status", "pass", "reasons", "rules"}``.
    """
    by_status = {o.status for o in outcomes}
    ledger_bad = any(o.name == "ledger" and o.status == "fail" for o in outcomes)
    status: Status
    if ledger_bad:
        status = "fail"
    elif "inconclusive" in by_status:
        status = "inconclusive"
    elif "fail" in by_status:
        status = "fail"
    else:
        status = "pass"
    if status == "inconclusive" and not ledger_bad:
        reasons = [r for o in outcomes if o.status == "inconclusive" for r in o.reasons]
    else:
        reasons = [r for o in outcomes if o.status == "fail" for r in o.reasons]
    return {
        "status": status,
        "pass": status == "pass",
        "reasons": reasons,
        "rules": [o.as_dict() for o in outcomes],
    }


# ======================================================================== run rules
def ledger_balanced(counters: Mapping[str, Any]) -> bool:
    """offered = delivered + queued + dropped + lost for every queue, in bytes and packets
    (per-queue counter arrays; a missing ``lost_*`` column counts as zero)."""
    for unit in ("bytes", "packets"):
        offered = np.asarray(counters.get(f"offered_{unit}", 0), dtype=np.int64)
        rest = sum(
            np.asarray(counters.get(f"{what}_{unit}", 0), dtype=np.int64)
            for what in ("delivered", "queued", "dropped", "lost")
        )
        if not np.array_equal(np.broadcast_to(offered, np.shape(rest)), rest):
            return False
    return True


def ledger_rule(balanced: bool) -> Outcome:
    """``ledger``: the conservation ledger balances."""
    if balanced:
        return Outcome("ledger", "pass")
    return Outcome("ledger", "fail", [rule("ledger").reason])


@dataclass(frozen=True)
class ClassTraffic:
    """One traffic class for the sufficiency rule (all ONUs together)."""

    direction: str
    name: str
    window_packets: int  #: packets arriving in the measuring window
    run_packets: int  #: packets arriving in the whole run (0: the class has no traffic)
    greedy: bool = False  #: fed by an unbounded source (always has traffic)


def minimum_duration_s(
    *,
    window_s: float,
    duration_s: float,
    cycle_s: float,
    classes: Iterable[ClassTraffic],
    min_window_s: float = 0.0,
) -> float:
    """Shortest duration giving :data:`MIN_DBA_CYCLES` cycles, ``min_window_s`` and
    :data:`MIN_CLASS_PACKETS` packets per class in the window, rounded up to 2 digits.

    The warm-up is assumed to keep its share of the run (the default, 10 %); with a fixed
    ``warmup_s`` the duration it names is longer than needed, never too short.

    Packet rates are those of the run (``run_packets / duration_s``); a class with traffic
    but no packet in the whole run needs at least twice the run (a lower bound).
    """
    warm_share = 1.0 - window_s / duration_s if duration_s > 0 else 0.1
    need_window = max(MIN_DBA_CYCLES * cycle_s, min_window_s)
    for c in classes:
        if c.greedy or c.window_packets >= MIN_CLASS_PACKETS:
            continue
        if c.run_packets > 0 and duration_s > 0:
            rate = c.run_packets / duration_s
            need_window = max(need_window, MIN_CLASS_PACKETS / rate)
        else:
            need_window = max(need_window, 2 * window_s)
    return _round_up(need_window / max(1e-9, 1.0 - warm_share))


def _round_up(x: float) -> float:
    """``x`` rounded up to two significant digits (a duration the user can type)."""
    if x <= 0 or not math.isfinite(x):
        return x
    scale = 10.0 ** (math.floor(math.log10(x)) - 1)
    return math.ceil(x / scale - 1e-9) * scale


def sufficiency_rule(
    *,
    window_s: float,
    duration_s: float,
    cycle_s: float,
    classes: Sequence[ClassTraffic],
    min_window_s: float = 0.0,
) -> Outcome:
    """``sufficiency``: enough DBA cycles and packets per class to judge.

    Parameters
    ----------
    window_s, duration_s
        Measuring window and run length (s).
    cycle_s
        One DBA cycle (s); 0 or less when unknown (no cycle completed: 0 cycles).
    classes
        Every traffic class with its packet counts.
    min_window_s
        Shortest measuring window that can judge: the delay budget.
    """
    cycles = window_s / cycle_s if cycle_s > 0 else 0.0
    short = [
        c
        for c in classes
        if not c.greedy and c.run_packets > 0 and c.window_packets < MIN_CLASS_PACKETS
    ]
    detail = {
        "dba_cycles_in_window": round(cycles, 3),
        "min_dba_cycles": MIN_DBA_CYCLES,
        "min_class_packets": MIN_CLASS_PACKETS,
        "classes_short_of_packets": [
            {"direction": c.direction, "class": c.name, "packets": c.window_packets} for c in short
        ],
    }
    detail["min_window_s"] = min_window_s
    too_brief = window_s < min_window_s
    if cycles >= MIN_DBA_CYCLES and not short and not too_brief:
        return Outcome("sufficiency", "pass", detail=detail)
    what = []
    if cycles < MIN_DBA_CYCLES:
        what.append(f"{cycles:.1f} DBA cycles in the measuring window (< {MIN_DBA_CYCLES})")
    if too_brief:
        what.append(
            f"the {window_s * 1e3:.3g} ms measuring window is shorter than the "
            f"{min_window_s * 1e3:g} ms delay budget"
        )
    if short:
        worst = min(short, key=lambda c: (c.window_packets, c.direction, c.name))
        what.append(
            f"{len(short)} traffic class(es) with < {MIN_CLASS_PACKETS} packets in the window"
            f" ({worst.direction} {worst.name}: {worst.window_packets})"
        )
    need = minimum_duration_s(
        window_s=window_s,
        duration_s=duration_s,
        cycle_s=cycle_s if cycle_s > 0 else duration_s,
        classes=classes,
        min_window_s=min_window_s,
    )
    detail["minimum_duration_s"] = need
    text = rule("sufficiency").reason.format(what="; ".join(what), duration=f"{need:g}")
    return Outcome("sufficiency", "inconclusive", [text], detail)


@dataclass(frozen=True)
class DirectionFacts:
    """What the capacity and backlog rules need of one direction (bytes in the window)."""

    direction: str
    offered_bytes: float  #: arrivals in the window (greedy: what it was given)
    capped_offered_bytes: float  #: the same, each unit capped at its ceiling / tier shaper
    carried_bytes: float  #: received in the window
    backlog_start_bytes: float  #: queued when warm-up ends (upper bound; counted queues)
    backlog_end_bytes: float  #: queued at the end (counted queues)
    counted_queues: int  #: queues the backlog counts
    dropped_bytes: int = 0
    dropped_packets: int = 0
    #: End backlog of the units within their limits that each drains in IN_FLIGHT_S.
    drainable_backlog_bytes: float = 0.0
    capacity_bps: float = 0.0  #: analytic capacity (saturation goodput)
    window_s: float = 1.0

    @property
    def credit_share(self) -> float:
        """Share of the drainable backlog the spare capacity drains (1: all of it)."""
        if self.drainable_backlog_bytes <= 0:
            return 1.0
        return self.credit_bytes / self.drainable_backlog_bytes

    @property
    def credit_bytes(self) -> float:
        """The drainable backlog, as far as the spare capacity drains it in IN_FLIGHT_S."""
        carried_bps = self.carried_bytes * 8 / self.window_s if self.window_s > 0 else 0.0
        spare = max(0.0, self.capacity_bps - carried_bps) * IN_FLIGHT_S / 8
        return min(self.drainable_backlog_bytes, spare)


def capacity_rule(directions: Sequence[DirectionFacts]) -> Outcome:
    """``capacity``: each direction carries ≥ :data:`CAPACITY_TOLERANCE` of its (capped)
    offered load in the window."""
    reasons = []
    detail: dict[str, Any] = {"tolerance": CAPACITY_TOLERANCE}
    for d in directions:
        credited = d.carried_bytes + d.credit_bytes
        ratio = credited / d.capped_offered_bytes if d.capped_offered_bytes > 0 else 1.0
        raw = d.carried_bytes / d.offered_bytes if d.offered_bytes > 0 else 1.0
        detail[d.direction] = {
            "carried_of_offered": round(ratio, 6),
            "backlog_credit_bytes": int(d.credit_bytes),
            "carried_of_all_offered": round(raw, 6),
            "offered_above_limits_share": round(1.0 - d.capped_offered_bytes / d.offered_bytes, 6)
            if d.offered_bytes > 0
            else 0.0,
        }
        if ratio < CAPACITY_TOLERANCE:
            text = rule("capacity").reason.format(
                direction=d.direction, ratio=ratio, tolerance=CAPACITY_TOLERANCE
            )
            if d.capped_offered_bytes < d.offered_bytes:
                above = 1 - d.capped_offered_bytes / d.offered_bytes
                text += (
                    f"; {raw:.2f} of all offered, {above:.0%} of which is above T-CONT"
                    " ceilings or tier shapers"
                )
            reasons.append(text)
    return Outcome("capacity", "fail" if reasons else "pass", reasons, detail)


def backlog_rule(directions: Sequence[DirectionFacts]) -> Outcome:
    """``backlog``: each direction's backlog grows by at most :data:`BACKLOG_TOLERANCE` of
    its offered bytes (plus :data:`BACKLOG_ALLOWANCE_MTUS` frames per counted queue)."""
    reasons = []
    detail: dict[str, Any] = {"tolerance": BACKLOG_TOLERANCE}
    for d in directions:
        # A burst the spare capacity drains within IN_FLIGHT_S is not growth (the same
        # credit as the capacity rule: none when the direction is saturated).
        raw_growth = d.backlog_end_bytes - d.backlog_start_bytes
        growth = raw_growth - min(d.credit_bytes, max(0.0, raw_growth))
        allowed = (
            BACKLOG_TOLERANCE * d.capped_offered_bytes
            + BACKLOG_ALLOWANCE_MTUS * MTU_BYTES * d.counted_queues
        )
        detail[d.direction] = {
            "backlog_warmup_end_bytes": int(d.backlog_start_bytes),
            "backlog_end_bytes": int(d.backlog_end_bytes),
            "growth_bytes": int(raw_growth),
            "burst_credit_bytes": int(raw_growth - growth),
            "allowed_bytes": int(allowed),
        }
        if growth > allowed:
            share = growth / d.capped_offered_bytes if d.capped_offered_bytes > 0 else math.inf
            reasons.append(
                rule("backlog").reason.format(
                    direction=d.direction,
                    growth=f"{int(growth):,}",
                    share=share,
                    tolerance=BACKLOG_TOLERANCE,
                )
            )
    return Outcome("backlog", "fail" if reasons else "pass", reasons, detail)


def loss_rule(directions: Sequence[DirectionFacts]) -> Outcome:
    """``loss``: nothing tail-dropped."""
    by = {d.direction: d for d in directions}
    packets = sum(d.dropped_packets for d in directions)
    n_bytes = sum(d.dropped_bytes for d in directions)
    detail = {"dropped_packets": packets, "dropped_bytes": n_bytes}
    if not n_bytes and not packets:
        return Outcome("loss", "pass", detail=detail)
    text = rule("loss").reason.format(
        packets=packets,
        bytes=n_bytes,
        up=by["upstream"].dropped_bytes if "upstream" in by else 0,
        down=by["downstream"].dropped_bytes if "downstream" in by else 0,
    )
    return Outcome("loss", "fail", [text], detail)


def household_rule(households: Sequence[dict[str, Any]], pass_ratio: float) -> Outcome:
    """``household``: every household row (``pass`` key) passes; the reason quotes the
    first failing household's ``why`` (which says what faults did to its ONU, when they
    did); ``detail.failing_fault_hit`` counts the failing households a fault or late
    activation hit, when the run emulated them."""
    failing = [h for h in households if not h["pass"]]
    detail = {"households": len(households), "failing": len(failing)}
    if any("fault_hit" in h for h in households):  # the run emulated faults or activation
        detail["failing_fault_hit"] = sum(1 for h in failing if h.get("fault_hit"))
    if not failing:
        return Outcome("household", "pass", detail=detail)
    first = failing[0]
    example = f"household {first['id']}: {first.get('why') or 'below its share'}"
    text = rule("household").reason.format(
        failing=len(failing), total=len(households), ratio=pass_ratio, example=example
    )
    return Outcome("household", "fail", [text], detail)


# ======================================================================== household rule
@dataclass(frozen=True)
class ClassVerdict:
    """The household rule's answer for one class (or probe) of one household."""

    rate_ok: bool
    delay_ok: bool
    loss_ok: bool
    why: str

    @property
    def passed(self) -> bool:
        return self.rate_ok and self.delay_ok and self.loss_ok


def judge_class(
    *,
    name: str,
    target_bps: float,
    carried_bps: float,
    pass_ratio: float,
    allowance_bps: float = 0.0,
    backlog_bits: float = 0.0,
    drain_bps: float = 0.0,
    window_s: float = 1.0,
    dropped_bytes: int = 0,
    delay_p99_us: float | None = None,
    delay_budget_us: float | None = None,
    fmt: Any = None,
) -> ClassVerdict:
    """The household rule for one class of one household (module docstring, ``household``).

    Parameters
    ----------
    name
        Class name used in the ``why`` text.
    target_bps
        The class's share (:func:`class_targets`; a probe: the tier).
    carried_bps
        Bytes received in the window × 8 / window.
    pass_ratio
        ``households.pass_ratio``.
    allowance_bps
        In-flight allowance (frames at the window's edges) over the window.
    backlog_bits, drain_bps, window_s
        End-of-run backlog; it counts as carried (over ``window_s``) when ``drain_bps``
        drains it within :data:`IN_FLIGHT_S`.
    dropped_bytes
        Tail drops of the class (any fails it).
    delay_p99_us, delay_budget_us
        p99 of the class's delay-sensitive traffic and its budget; ``None``: not judged.
        ``math.inf`` p99: delay-sensitive packets never delivered.
    fmt
        Rate formatter for the text (default: Mb/s).
    """
    fmt = fmt or (lambda v: f"{v / 1e6:.3g} Mb/s")
    credit = backlog_bits / window_s if backlog_bits <= drain_bps * IN_FLIGHT_S else 0.0
    rate_ok = carried_bps + credit >= pass_ratio * target_bps - allowance_bps
    loss_ok = dropped_bytes == 0
    delay_ok = delay_p99_us is None or delay_budget_us is None or delay_p99_us <= delay_budget_us
    why = []
    if not rate_ok:
        why.append(
            f"{name} achieved {fmt(carried_bps)} < {pass_ratio:.0%} of its {fmt(target_bps)} share"
        )
    if not loss_ok:
        why.append(f"{name} dropped {dropped_bytes:,} B")
    if not delay_ok:
        assert delay_p99_us is not None and delay_budget_us is not None
        why.append(
            f"{name} delay p99 {delay_p99_us / 1000:.2f} ms > {delay_budget_us / 1000:g} ms"
            if math.isfinite(delay_p99_us)
            else f"{name} packets undelivered after {delay_budget_us / 1000:g} ms"
        )
    return ClassVerdict(rate_ok, delay_ok, loss_ok, "; ".join(why))


def class_targets(
    offered_bps: Sequence[float],
    ceiling_bps: Sequence[float],
    priority: Sequence[int],
    cap_bps: float | None,
) -> list[float]:
    """Each class's share: water-filling ``cap_bps`` (the tier; ``None``: no cap) over the
    classes in priority order (0 first), each asking ``min(offered, ceiling)``; classes of
    equal priority share what is left in proportion to what they ask."""
    want = [max(0.0, min(o, c)) for o, c in zip(offered_bps, ceiling_bps, strict=True)]
    if cap_bps is None:
        return want
    left = float(cap_bps)
    out = [0.0] * len(want)
    for p in sorted(set(priority)):
        group = [i for i, q in enumerate(priority) if q == p]
        total = sum(want[i] for i in group)
        scale = 1.0 if total <= left or total == 0 else left / total
        for i in group:
            out[i] = want[i] * scale
        left = max(0.0, left - total * scale)
    return out


__all__ = [
    "BACKLOG_ALLOWANCE_MTUS",
    "BACKLOG_TOLERANCE",
    "CAPACITY_TOLERANCE",
    "DEFAULT_DELAY_BUDGET_MS",
    "DELAY_SENSITIVE_TYPES",
    "IN_FLIGHT_S",
    "MIN_CLASS_PACKETS",
    "MIN_DBA_CYCLES",
    "MTU_BYTES",
    "RULES",
    "ClassTraffic",
    "ClassVerdict",
    "DirectionFacts",
    "Outcome",
    "Rule",
    "backlog_rule",
    "capacity_rule",
    "class_targets",
    "combine",
    "household_rule",
    "judge_class",
    "ledger_balanced",
    "ledger_rule",
    "loss_rule",
    "minimum_duration_s",
    "sufficiency_rule",
]
