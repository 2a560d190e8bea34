"""Criteria that drive a frame DBA directly through ``olt/``, without an emulation.

* :func:`fuzz_bwmap`: random provisioning (T-CONT types 1-5 with valid rates, admission
  control respected) and random OLT views (DBRu values, polls, ages, idle bytes), every
  frame of every cycle handed to :class:`olt.bwmap.BwmapBuilder`, which applies the BWmap
  rules of G.984.3 / G.987.3 / G.9807.1 (allocation structures, GrantSize and StartTime
  fields, frame overflow) and raises :class:`ftth.errors.DbaError` on a broken one.
* :func:`grant_ceilings`: greedy T-CONTs of types 2-5 capped far below the line; the grants of
  every frame, accumulated, against the ceiling of the type rules.
* :func:`dba_speed`: ``allocate`` calls per CPU second on a 64-ONU PON (the only
  machine-dependent number of the card).

The random draws come from one ``numpy`` generator with a fixed seed, so the card is the
same on every run.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ftth.errors import DbaError
from ftth.phy import ETH_MAX_FRAME_BYTES, Profile, get_profile, saturation_goodput_bps
from olt.bwmap import BwmapBuilder
from olt.dba import kernel as dk
from olt.dba.base import DbaContext, Reports, TcontTable
from olt.dba.registry import get_dba

#: Rates the fuzzer provisions (bit/s), capped at half the line.
FUZZ_RATES_BPS = (64e3, 1e6, 10e6, 50e6, 200e6, 1e9)
#: Seed of the fuzzer's generator.
FUZZ_SEED = 20240915


def make_table(
    profile: Profile,
    types: list[int],
    fixed: list[float],
    assured: list[float],
    maximum: list[float],
    onu_index: list[int],
    priority: list[int] | None = None,
    weight: list[float] | None = None,
) -> TcontTable:
    n = len(types)
    return TcontTable(
        onu_index=np.asarray(onu_index, dtype=np.int64),
        alloc_id=(profile.min_assignable_alloc_id + np.arange(n)).astype(np.int64),
        tcont_type=np.asarray(types, dtype=np.int64),
        fixed_bps=np.asarray(fixed, dtype=np.float64),
        assured_bps=np.asarray(assured, dtype=np.float64),
        max_bps=np.asarray(maximum, dtype=np.float64),
        priority=np.asarray(priority if priority is not None else [0] * n, dtype=np.int64),
        weight=np.asarray(weight if weight is not None else [1.0] * n, dtype=np.float64),
    )


def random_table(rng: np.random.Generator, profile: Profile) -> TcontTable:
    """A random PON: 1-32 ONUs, 1-3 T-CONTs each, types 1-5 with rates the scenario rules
    accept, Σ R_F + R_A within the upstream goodput (admission control)."""
    line = float(profile.upstream_bps)
    onus = int(rng.integers(1, 33))
    per = rng.integers(1, 4, size=onus)
    budget = 0.9 * saturation_goodput_bps(profile, "upstream", onus)
    types: list[int] = []
    fixed: list[float] = []
    assured: list[float] = []
    maximum: list[float] = []
    owner: list[int] = []
    for i in range(onus):
        for _ in range(int(per[i])):
            t = int(rng.integers(1, 6))
            r = min(float(rng.choice(FUZZ_RATES_BPS)), line / 2)
            f = a = m = 0.0
            if t == 1:
                f = r
            elif t == 2:
                a = r
                m = float(rng.choice([0.0, a]))
            elif t == 3:
                a = r
                m = min(a * float(rng.choice([1.0, 2.0, 10.0])), line)
            elif t == 4:
                m = float(rng.choice([*FUZZ_RATES_BPS, line]))
            else:
                f, a = r / 2, r / 2
                m = min(float(rng.choice([r, 3 * r, line])), line)
            if sum(fixed) + sum(assured) + f + a > budget:  # admission control
                t, f, a, m = 4, 0.0, 0.0, line
            types.append(t)
            fixed.append(f)
            assured.append(a)
            maximum.append(m)
            owner.append(i)
    n = len(types)
    prio = [int(x) for x in rng.integers(0, 4, size=n)]
    weight = [float(x) for x in rng.choice([0.5, 1.0, 3.0], size=n)]
    return make_table(profile, types, fixed, assured, maximum, owner, prio, weight)


def _reports(rng: np.random.Generator, n: int, frame_bytes: int, frame: int) -> Reports:
    demand = rng.choice(np.array([0, 0, 1, 47, 1518, 20_000, 3 * frame_bytes, 10**9]), size=n)
    granted = rng.choice(np.array([0, 16, 1520, 9000]), size=n)
    idle = (rng.random(n) * (granted + 1)).astype(np.int64)
    age = rng.choice(np.array([-1, 0, 125_000_000, 250_000_000]), size=n)
    poll = rng.random(n) < 0.2
    d = demand.astype(np.int64)
    return Reports(
        report_bytes=d.copy(),
        report_age_ps=age.astype(np.int64),
        granted_since_bytes=np.zeros(n, dtype=np.int64),
        demand_bytes=d,
        idle_bytes=idle,
        granted_last_bytes=granted.astype(np.int64),
        poll_mask=poll,
        frame=frame,
    )


def check_frames(
    builder: BwmapBuilder, grants: Any, frame: int, cycle: int, poll: Any, uses_reports: bool
) -> int:
    """Hand every frame of one DBA cycle to the BWmap builder; return the frames built.

    Raises
    ------
    ftth.errors.DbaError
        The first frame the BWmap rules refuse.
    """
    rows = builder.check_grants(frame, grants, cycle)
    n = rows.shape[1]
    for k, row in enumerate(rows):
        allocated = (row > 0) | np.asarray(poll, dtype=bool)
        dbru = allocated if uses_reports else np.zeros(n, dtype=bool)
        builder.build(frame + k, row, dbru)
    return int(rows.shape[0])


def fuzz_bwmap(dba: str, tech: str, pons: int, rounds: int) -> dict[str, Any]:
    """Random provisioning × random reports; every frame through the BWmap rules.

    Returns ``{"frames": built, "rejected": frames refused, "first_error": text or None}``;
    a PON stops at its first refused frame (the DBA's state is suspect after it).
    """
    profile = get_profile(tech)
    cls = get_dba(dba)
    rng = np.random.default_rng(FUZZ_SEED)
    frames = rejected = 0
    first: str | None = None
    for _ in range(pons):
        table = random_table(rng, profile)
        cycle = int(rng.choice([1, 1, 2, 4]))
        fec = profile.fec("upstream", bool(rng.integers(0, 2)) if profile.us_fec else None)
        uses = bool(cls.uses_reports)
        ctx = DbaContext(profile, fec, table, int(table.onu_index.max()) + 1, cycle, uses)
        inst = cls(ctx, {})
        builder = BwmapBuilder(profile, fec, table, dba)
        for r in range(rounds):
            frame = r * cycle
            rep = _reports(rng, table.count, ctx.frame_line_bytes, frame)
            try:
                grants = inst.allocate(frame * profile.frame_ps, rep)
                frames += check_frames(builder, grants, frame, cycle, rep.poll_mask, uses)
            except DbaError as exc:
                rejected += 1
                first = first or str(exc)
                break
    return {"frames": frames, "rejected": rejected, "first_error": first, "pons": pons}


def ceiling_table(profile: Profile, capacity_bps: float) -> TcontTable:
    """The capped T-CONTs of :data:`ftth.dbacheck.scenarios.CAPPED`, one per ONU, plus four
    uncapped best-effort T-CONTs."""
    from ftth.dbacheck.scenarios import CAPPED

    line = float(profile.upstream_bps)
    types = [t for _, t, _, _, _ in CAPPED] + [4] * 4
    fixed = [f * capacity_bps for _, _, f, _, _ in CAPPED] + [0.0] * 4
    assured = [a * capacity_bps for _, _, _, a, _ in CAPPED] + [0.0] * 4
    maximum = [m * capacity_bps for _, _, _, _, m in CAPPED] + [line] * 4
    return make_table(profile, types, fixed, assured, maximum, list(range(len(types))))


def grant_ceilings(dba: str, tech: str, frames: int) -> dict[str, Any]:
    """Greedy reports to the capped T-CONTs of :func:`ceiling_table` (one 1518-byte frame
    to the others, so the frame has room to spare); the worst running excess of
    the granted bytes over ``ceiling × frames``, as a multiple of the allowance ``one grant
    unit per frame + one encapsulated 1518-byte frame`` (a rate bucket may start full).

    Returns ``{"ratio": worst excess / allowance (≤ 1 passes), "tcont": its index,
    "frame": when}``.
    """
    from ftth.dbacheck.scenarios import capacity_bps

    profile = get_profile(tech)
    table = ceiling_table(profile, capacity_bps(tech))
    cls = get_dba(dba)
    n = table.count
    ctx = DbaContext(profile, profile.fec("upstream", None), table, n, 1, bool(cls.uses_reports))
    inst = cls(ctx, {})
    builder = BwmapBuilder(profile, ctx.fec, table, dba)
    unit = ctx.grant_unit_bytes
    mtu = int(ctx.kernel_ctx[dk.C_MTU_GRANT])
    ceiling = ctx.ceiling_bytes_per_frame
    capped = table.max_bps < profile.upstream_bps
    # Capped T-CONTs greedy, the others a 1518-byte frame each: the frame has room to spare,
    # so only the ceiling can hold a capped T-CONT back.
    greedy = np.where(capped, 10**9, ETH_MAX_FRAME_BYTES).astype(np.int64)
    zero = np.zeros(n, dtype=np.int64)
    cum = np.zeros(n, dtype=np.int64)
    worst, where, when = -np.inf, 0, 0
    for k in range(frames):
        rep = Reports(greedy, zero, zero, greedy, zero, zero, np.zeros(n, dtype=bool), k)
        g = inst.allocate(k * profile.frame_ps, rep)
        rows = builder.check_grants(k, g, 1)
        cum += rows[0]
        excess = (cum - ceiling * (k + 1)) / (unit * (k + 1) + mtu)
        excess = np.where(capped, excess, -np.inf)
        j = int(np.argmax(excess))
        if excess[j] > worst:
            worst, where, when = float(excess[j]), j, k
    return {"ratio": max(worst, 0.0), "tcont": where, "frame": when}


def dba_speed(dba: str, tech: str, frames: int) -> dict[str, Any]:
    """``allocate`` calls per CPU second on 64 ONUs × 2 T-CONTs (types 1-5 in turn),
    every T-CONT with a random report: the DBA alone, no BWmap, no data plane.  The first
    call (compilation) is not timed."""
    profile = get_profile(tech)
    cls = get_dba(dba)
    onus = 64
    c = saturation_goodput_bps(profile, "upstream", onus)
    line = float(profile.upstream_bps)
    n = 2 * onus
    types = [(1, 2, 3, 4, 5)[j % 5] for j in range(n)]
    g = 0.5 * c / n
    fixed = [g if t == 1 else g / 2 if t == 5 else 0.0 for t in types]
    assured = [g if t in (2, 3) else g / 2 if t == 5 else 0.0 for t in types]
    maximum = [0.0 if t in (1, 2) else 0.5 * line for t in types]
    table = make_table(profile, types, fixed, assured, maximum, [j // 2 for j in range(n)])
    ctx = DbaContext(profile, profile.fec("upstream", None), table, onus, 1, bool(cls.uses_reports))
    inst = cls(ctx, {})
    rng = np.random.default_rng(FUZZ_SEED)
    views = [_reports(rng, n, ctx.frame_line_bytes, k) for k in range(16)]
    inst.allocate(0, views[0])
    # CPU time of this process, not wall time: on a machine shared with other work the wall
    # clock measures the others too; for this single-threaded loop the two agree when idle.
    start = time.process_time()
    for k in range(1, frames + 1):
        rep = views[k % 16]
        rep.frame = k
        inst.allocate(k * profile.frame_ps, rep)
    cpu = time.process_time() - start
    return {"frames_per_s": frames / cpu if cpu > 0 else 1e12, "frames": frames}
