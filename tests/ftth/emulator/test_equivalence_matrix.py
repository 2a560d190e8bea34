"""Engine equivalence over a matrix (issue 10 item 7): every DBA × technology × traffic model.

Tolerance: none.  For every cell the reference engine (one simpy event per packet) and the
fast engine run the same scenario, and every packet must leave at the same integer
picosecond in both directions, with the same ledger counters, grants and line use
(:func:`tests.ftth.emulator.helpers.assert_identical`).  When the fast engine takes its
compiled frame loop for a cell, its stepped per-frame path is checked as well, so all three
paths of the ITU engines meet here.

EPON has one engine (both ``--engine`` values run :mod:`ftth.emulator.epon`); its cells check
that both names give the same packets, the second run sharing the downstream through the
numpy DRR instead of its compiled twin.

The cells are short (a few ms, four ONUs) but built so that things happen: overload with
small buffers (queues build, tail drop, fragments cut at grant ends), four T-CONT types,
two downstream priorities, a household tier (the downstream shaper), DBA cycles of two and
three frames, and the standard benchmark scenario shrunk to a few frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftth.emulator import RawRun, run_spec
from ftth.emulator import fast as fast_engine
from ftth.emulator.build import build_spec
from ftth.emulator.result import WALL_CLOCK_KEYS, assemble
from ftth.engines import FAST, REFERENCE
from ftth.errors import InputError
from ftth.jit import ACCELERATED
from ftth.phy import get_profile
from ftth.scenario import Scenario, load_scenario, scenario_from_dict
from olt import downstream as olt_downstream
from olt.dba.ipact import SERVICES as IPACT_SERVICES
from olt.dba.registry import get_dba, list_dbas
from tests.ftth.emulator.helpers import (
    FragmentSpy,
    assert_identical,
    is_compiled_loop,
    total,
    use_fast_variant,
)

REPO = Path(__file__).resolve().parents[3]

FRAMED = ("gpon", "xg-pon", "xgs-pon")
EPON = ("epon-1g", "epon-10g")
TRAFFIC = ("pareto", "cbr", "greedy", "household")


def _epon_dba(name: str) -> bool:
    return bool(getattr(get_dba(name), "epon", False))


#: EPON DBA variants: (DBA name, params).
EPON_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    *(("ipact", {"service": s}) for s in IPACT_SERVICES),
    *(("polling", {"service": s, "zero_rtt": False}) for s in ("gated", "exhaustive")),
]

FRAME_DBAS = [name for name in list_dbas() if not _epon_dba(name)]

#: DBA cycle per traffic model, so that multi-frame cycles appear in every DBA's row.
CYCLE_FRAMES = {"pareto": 1, "cbr": 2, "greedy": 1, "household": 3}
N_ONUS = 4
DURATION_S = 0.004  # 32 frames


def _traffic(model: str, direction: str, weight: float, size_bytes: int) -> dict[str, Any]:
    """One queue's source; rates are relative (``[traffic]`` loads scale them)."""
    if model == "pareto":
        return {"model": "pareto-onoff", "rate_bps": 1e6 * weight, "sizes": "trimodal"}
    if model == "cbr":
        return {"model": "cbr", "rate_bps": 1e6 * weight, "size_bytes": size_bytes}
    if model == "greedy":
        return {"model": "greedy", "size_bytes": size_bytes}
    return {"model": "household", "direction": direction, "mean_bps": 1e6 * weight}


def cell_scenario(technology: str, dba: str, params: dict[str, Any], traffic: str) -> Scenario:
    """One cell: four ONUs with T-CONTs of types 1-4 and two downstream priorities, all fed
    by ``traffic``, 20 % above the line's capacity except for greedy sources."""
    p = get_profile(technology)
    up_bps, down_bps = float(p.upstream_bps), float(p.downstream_bps)
    # CBR and greedy sizes that need XGEM padding (594, 1001 and 1518 are not word multiples).
    tconts = [
        {"name": "fixed", "type": 1, "fixed_bps": 0.02 * up_bps,
         "traffic": _traffic(traffic, "upstream", 1, 594)},
        {"name": "assured", "type": 2, "assured_bps": 0.04 * up_bps,
         "traffic": _traffic(traffic, "upstream", 2, 1001)},
        {"name": "surplus", "type": 3, "assured_bps": 0.03 * up_bps, "max_bps": 0.3 * up_bps,
         "traffic": _traffic(traffic, "upstream", 3, 1518)},
        {"name": "best-effort", "type": 4, "max_bps": up_bps,
         "traffic": _traffic(traffic, "upstream", 4, 1518)},
    ]  # fmt: skip
    for tc in tconts:
        tc["buffer_bytes"] = 24_000
    downstream = [
        {"name": "priority", "priority": 0, "buffer_bytes": 40_000,
         "traffic": _traffic(traffic, "downstream", 1, 594)},
        {"name": "best-effort", "priority": 1, "buffer_bytes": 40_000,
         "traffic": _traffic(traffic, "downstream", 4, 1518)},
    ]  # fmt: skip
    data: dict[str, Any] = {
        "name": f"matrix-{technology}-{dba}-{traffic}",
        "technology": technology,
        "duration_s": DURATION_S,
        "warmup_s": 0.0,
        "seed": 7,
        "tree": {"feeder_km": 2.0, "splitters": [32]},
        "onus": {"count": N_ONUS, "drop_km": [0.5, 12.0]},
        "tconts": tconts,
        "downstream": downstream,
        "dba": {"name": dba, "params": params},
    }
    if p.framed:
        data["dba"]["cycle_frames"] = CYCLE_FRAMES[traffic]
    if traffic != "greedy":
        data["traffic"] = {"upstream_load": 1.2, "downstream_load": 1.2}
    if traffic in ("household", "greedy"):
        # A tier below each ONU's share of the line: the downstream shaper limits.
        tier_down = int(down_bps / N_ONUS / 2 / 1e6)
        tier_up = int(up_bps / N_ONUS / 2 / 1e6)
        data["households"] = {"tier": f"{tier_down}M/{tier_up}M"}
    return scenario_from_dict(data)


def run_engine(sc: Scenario, engine: str) -> RawRun:
    return run_spec(build_spec(sc, record_packets=True), engine)


def check_cell(sc: Scenario, monkeypatch: pytest.MonkeyPatch) -> tuple[RawRun, RawRun, FragmentSpy]:
    """Reference against every fast path the cell can take; returns the reference run, the
    fast run (default path) and the spy on the reference's fragment cuts."""
    spy = FragmentSpy(monkeypatch)
    ref = run_engine(sc, REFERENCE)
    fast = run_engine(sc, FAST)
    assert_identical(fast, ref)
    if is_compiled_loop(fast):
        use_fast_variant("stepped", monkeypatch)
        stepped = run_engine(sc, FAST)
        assert not is_compiled_loop(stepped)
        assert_identical(stepped, ref, ("fast stepped", "reference"))
    return ref, fast, spy


def claim(sc: Scenario, traffic: str, ref: RawRun, spy: FragmentSpy) -> None:
    """What the cell must exercise, so that a change making it trivial fails here."""
    for direction in ("upstream", "downstream"):
        assert total(ref, direction, "delivered_packets") > 0, f"{direction}: nothing delivered"
    if sc.profile.framed:
        # Fragments cut at the end of grants (GEM/XGEM); EPON sends whole frames.
        assert spy.cuts > 0, "no fragment cut"
    if traffic == "greedy":
        assert all(q.greedy_size_bytes > 0 for q in build_spec(sc).upstream)
    else:
        # Overload into small buffers: queues build (and, on the ITU PONs, the OLT drops).
        for direction in ("upstream", "downstream"):
            assert total(ref, direction, "queued_bytes") > 0, f"{direction}: no backlog"
        if sc.profile.framed:
            assert total(ref, "downstream", "dropped_packets") > 0, "no downstream tail drop"
    if traffic in ("greedy", "household"):
        assert build_spec(sc).shaper_rate_bps is not None, "the downstream shaper is off"


FRAMED_CELLS = [
    pytest.param(t, d, m, id=f"{t}-{d}-{m}") for t in FRAMED for d in FRAME_DBAS for m in TRAFFIC
]


@pytest.mark.parametrize("technology,dba,traffic", FRAMED_CELLS)
def test_framed_cell(
    technology: str, dba: str, traffic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = cell_scenario(technology, dba, {}, traffic)
    assert sc.dba.cycle_frames == CYCLE_FRAMES[traffic]
    ref, _, spy = check_cell(sc, monkeypatch)
    claim(sc, traffic, ref, spy)


EPON_CELLS = [
    pytest.param(t, d, prm, m, id=f"{t}-{d}-{prm['service']}-{m}")
    for t in EPON
    for d, prm in EPON_VARIANTS
    for m in TRAFFIC
]


@pytest.mark.parametrize("technology,dba,params,traffic", EPON_CELLS)
def test_epon_cell(
    technology: str, dba: str, params: dict[str, Any], traffic: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sc = cell_scenario(technology, dba, params, traffic)
    if params["service"] == "exhaustive" and traffic == "greedy":
        # An exhaustive window of an unbounded source never ends: refused as bad input.
        for engine in (FAST, REFERENCE):
            with pytest.raises(InputError, match="exhaustive polling never ends"):
                run_engine(sc, engine)
        return
    spy = FragmentSpy(monkeypatch)
    fast = run_engine(sc, FAST)
    # The second run shares the downstream with the numpy DRR, not its compiled twin.
    monkeypatch.setattr(olt_downstream, "ACCELERATED", False)
    ref = run_engine(sc, REFERENCE)
    assert_identical(fast, ref, ("epon, --engine fast", "epon, --engine reference + numpy DRR"))
    claim(sc, traffic, ref, spy)


def test_epon_greedy_window_beyond_the_output_buffer() -> None:
    """An IPACT window of more greedy frames than the EPON engine's output buffer holds
    (2^16 rows at first, then the stored packets plus 4096): the engine must size the buffer
    by the window, as the kernel does not check bounds (with numba an overflow was a
    segmentation fault)."""
    data = cell_scenario("epon-10g", "ipact", {}, "greedy").model_dump(exclude_none=True)
    window = 8_000_000
    data["dba"]["params"] = {"service": "fixed", "w_max_bytes": window}
    for tc in data["tconts"]:
        tc["traffic"] = {"model": "greedy", "size_bytes": 64}
        tc["buffer_bytes"] = 64
    sc = scenario_from_dict(data)
    fast = run_engine(sc, FAST)
    assert_identical(fast, run_engine(sc, REFERENCE))
    # A window holds w_max / (64 + preamble + IFG) frames; at least one window was served.
    per_window = window // (64 + sc.profile.ethernet_overhead_bytes)
    assert per_window > 1 << 16
    assert total(fast, "upstream", "delivered_packets") >= per_window


# --------------------------------------------------------------------------- the benchmark
BENCH = REPO / "bench" / "standard.toml"
#: 16 frames: enough for the first frames' arrivals at 0 ps, DBRus and full downstream frames.
BENCH_DURATION_S = 0.002


def test_bench_standard_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench/standard.toml`` shrunk in duration: every packet identical on every path, and
    the results JSON identical apart from the engine's name and wall clock (the engines once
    gave 7.103 vs 7.436 Gb/s downstream here: the reference engine shared frame 0 before the
    Pareto sources' first arrivals at 0 ps)."""
    sc = load_scenario(BENCH, [f"duration_s={BENCH_DURATION_S}"])
    compiled = ACCELERATED and not fast_engine.FORCE_STEPPED  # before check_cell sets it
    ref, fast, spy = check_cell(sc, monkeypatch)
    assert is_compiled_loop(fast) == compiled
    assert spy.cuts > 0
    arrivals = ref.downstream.packets()[1]
    assert (arrivals == 0).sum() > 10, "no downstream arrival at 0 ps"
    spec = build_spec(sc)
    docs = {}
    for engine, raw in ((FAST, fast), (REFERENCE, ref)):
        doc = assemble(spec, raw).to_dict()
        assert doc.pop("engine") == engine
        doc.pop("backend")
        docs[engine] = {k: v for k, v in doc.items() if k not in WALL_CLOCK_KEYS}
    assert docs[FAST] == docs[REFERENCE]
