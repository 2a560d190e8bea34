"""The EPON engine's compiled polling loops against its per-window reference path.

Tolerance: none.  Both paths use integer picoseconds and the same serving kernel, and the
DBA's window size comes from the same kernel function, so every packet's departure time,
every ledger counter, every granted/used byte and every window must be the same integer.
Any difference is a divergence between :func:`ftth.emulator.epon.run_windows` /
:func:`~ftth.emulator.epon.run_slices` and the reference path they mirror.

Each scenario also checks that it exercises what it claims (drops, greedy queues, several
queues per ONU, shaping, loop suspensions), so a change that makes it trivial cannot keep
the test green.  With ``FTTH_NO_NUMBA=1`` the same loops run as plain Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ftth.emulator import RawRun, run_spec
from ftth.emulator.build import build_spec
from ftth.errors import DbaError
from ftth.jit import ACCELERATED
from ftth.scenario import scenario_from_dict
from olt.dba import epon_kernel as ek
from olt.dba.base import EponDba
from olt.dba.registry import _REGISTRY, register

COUNTER_KEYS = (
    "offered_bytes", "offered_packets", "delivered_bytes", "delivered_packets",
    "queued_bytes", "queued_packets", "dropped_bytes", "dropped_packets",
)  # fmt: skip


def _poisson(rate_bps: float) -> dict[str, Any]:
    return {"model": "poisson", "rate_bps": rate_bps, "sizes": "trimodal"}


def _scenario(
    technology: str,
    dba: dict[str, Any],
    tconts: list[dict[str, Any]],
    downstream: list[dict[str, Any]],
    *,
    onus: int = 8,
    duration_s: float = 0.02,
    window_ms: int = 1,
    tier: str | None = None,
) -> Any:
    data: dict[str, Any] = {
        "name": "epon-loop",
        "technology": technology,
        "duration_s": duration_s,
        "warmup_s": duration_s / 10,
        "seed": 7,
        "tree": {
            "feeder_km": 10.0,
            "splitters": [onus],
            "optical_class": "PX20" if technology == "epon-1g" else "PR30",
        },
        "onus": {"count": onus, "drop_km": [0.0, 3.0]},
        "tconts": tconts,
        "downstream": downstream,
        "dba": dba,
        # Small traffic windows: the compiled loop stops for traffic many times, inside
        # windows too (exhaustive rounds, REPORTs at the end), and must resume exactly.
        "traffic": {"window_ms": window_ms},
    }
    if tier is not None:
        data["households"] = {"tier": tier}
    return scenario_from_dict(data)


#: name -> (scenario, what it must exercise).
SCENARIOS: dict[str, Any] = {
    # 1G-EPON, two queues per ONU (priorities), small buffers (tail drop), downstream with
    # two classes and per-household shaping.
    "1g_limited_two_queues_drops_shaped": lambda: _scenario(
        "epon-1g",
        {"name": "ipact"},
        [
            {
                "name": "voice",
                "type": 2,
                "assured_bps": 20e6,
                "buffer_bytes": 20_000,
                "traffic": _poisson(20e6),
            },
            {
                "name": "data",
                "type": 4,
                "max_bps": 1e9,
                "buffer_bytes": 30_000,
                "traffic": _poisson(150e6),
            },
        ],  # fmt: skip
        [
            {"name": "video", "priority": 0, "traffic": _poisson(40e6)},
            {"name": "be", "priority": 1, "traffic": _poisson(100e6)},
        ],
        tier="100M/50M",
    ),
    # 10G-EPON (stream FEC), a greedy queue next to a Poisson one, gated windows.
    "10g_gated_greedy_fec": lambda: _scenario(
        "epon-10g",
        {"name": "ipact", "params": {"service": "gated"}},
        [
            {
                "name": "g",
                "type": 4,
                "max_bps": 1e9,
                "buffer_bytes": 50_000,
                "traffic": {"model": "greedy", "size_bytes": 1500},
            },
            {
                "name": "p",
                "type": 3,
                "assured_bps": 1e7,
                "max_bps": 1e9,
                "traffic": _poisson(300e6),
            },
        ],  # fmt: skip
        [{"name": "be", "priority": 0, "traffic": _poisson(1.5e9)}],
        onus=4,
    ),
    # Textbook polling with the REPORT first, exhaustive rounds, and a real round trip.
    "10g_polling_exhaustive_rtt": lambda: _scenario(
        "epon-10g",
        {"name": "polling", "params": {"service": "exhaustive", "zero_rtt": False}},
        [{"name": "p", "type": 4, "max_bps": 1e9, "traffic": _poisson(900e6)}],
        [{"name": "be", "priority": 0, "traffic": _poisson(500e6)}],
    ),
    "1g_polling_gated": lambda: _scenario(
        "epon-1g",
        {"name": "polling", "params": {"service": "gated", "guard_us": 5}},
        [{"name": "p", "type": 4, "max_bps": 1e9, "traffic": _poisson(80e6)}],
        [{"name": "be", "priority": 0, "traffic": {"model": "greedy", "size_bytes": 1000}}],
    ),
    # Overloaded 10G with credit windows and a small W_max.
    "10g_constant_credit_overload": lambda: _scenario(
        "epon-10g",
        {"name": "ipact", "params": {"service": "constant-credit", "w_max_bytes": 5000}},
        [
            {"name": "a", "type": 2, "assured_bps": 1e8, "traffic": _poisson(50e6)},
            {
                "name": "b",
                "type": 4,
                "max_bps": 5e9,
                "buffer_bytes": 100_000,
                "traffic": _poisson(1.4e9),
            },
        ],  # fmt: skip
        [{"name": "be", "priority": 0, "traffic": _poisson(800e6)}],
        tier="1G/1G",
    ),
    "1g_fixed": lambda: _scenario(
        "epon-1g",
        {"name": "ipact", "params": {"service": "fixed", "w_max_bytes": 3000}},
        [{"name": "p", "type": 4, "max_bps": 1e9, "traffic": _poisson(60e6)}],
        [{"name": "be", "priority": 0, "traffic": _poisson(100e6)}],
        onus=16,
    ),
    "1g_linear_credit_pareto": lambda: _scenario(
        "epon-1g",
        {
            "name": "ipact",
            "params": {"service": "linear-credit", "credit_ratio": 0.3, "guard_us": 2},
        },
        [
            {
                "name": "p",
                "type": 4,
                "max_bps": 1e9,
                "traffic": {"model": "pareto-onoff", "rate_bps": 100e6},
            }
        ],
        [{"name": "be", "priority": 0, "traffic": _poisson(100e6)}],
    ),  # fmt: skip
}


def _run(name: str, engine: str, record: bool = True) -> RawRun:
    return run_spec(build_spec(SCENARIOS[name](), record_packets=record), engine)


def _assert_same(fast: RawRun, ref: RawRun) -> None:
    for direction in ("upstream", "downstream"):
        a, b = getattr(fast, direction), getattr(ref, direction)
        for x, y in zip(a.packets(), b.packets(), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=direction)
        for key in COUNTER_KEYS:
            np.testing.assert_array_equal(a.counters[key], b.counters[key], err_msg=key)
        np.testing.assert_array_equal(a.granted_bytes, b.granted_bytes)
        np.testing.assert_array_equal(a.used_bytes, b.used_bytes)
        np.testing.assert_array_equal(a.delays.counts, b.delays.counts)
        np.testing.assert_array_equal(a.delays.acc, b.delays.acc)
        np.testing.assert_array_equal(a.window_delivered, b.window_delivered)
    assert fast.extra["epon"] == ref.extra["epon"]
    assert fast.frames == ref.frames and fast.allocations == ref.allocations


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_compiled_loop_matches_reference_path(name: str) -> None:
    fast = _run(name, "fast")
    ref = _run(name, "reference")
    expected = "numba-compiled-loop" if ACCELERATED else "python"
    assert fast.backend == expected and not ref.backend.endswith("compiled-loop")
    _assert_same(fast, ref)
    wf, wr = fast.extra["windows"], ref.extra["windows"]
    for field in ("onu", "start_ps", "end_ps"):
        np.testing.assert_array_equal(getattr(wf, field), getattr(wr, field), err_msg=field)
    # The scenario is not trivial: packets went both ways, windows followed one another.
    assert len(fast.upstream.packets()[0]) > 100 and len(fast.downstream.packets()[0]) > 100
    assert len(wf) > 50 and np.all(wf.start_ps[1:] > wf.end_ps[:-1])
    # ... and exercises what its name says.
    up = fast.upstream.counters
    if "drops" in name or "overload" in name:
        assert int(up["dropped_packets"].sum()) > 0
    if "greedy" in name:
        # Queue 0 of every ONU is greedy: it sent frames made at its grants.
        greedy = np.arange(0, len(up["delivered_packets"]), 2)
        assert np.all(up["delivered_packets"][greedy] > 0)
    # Frames that arrived after their window's first round had closed (the ONU starts
    # sending one-way delay before the window reaches the OLT; zero with zero_rtt).
    spec = build_spec(SCENARIOS[name]())
    one_way = (
        np.zeros_like(spec.one_way_ps)
        if "polling" in name and "rtt" not in name
        else (spec.one_way_ps)
    )
    q, arrival, _, depart = fast.upstream.packets()
    in_window = np.searchsorted(wf.start_ps, depart, side="right") - 1
    onu = np.array([spec.upstream[j].onu_index for j in range(len(spec.upstream))])[q]
    assert np.array_equal(wf.onu[in_window], onu)
    late = arrival > wf.start_ps[in_window] - one_way[onu]
    if "exhaustive" in name:
        # Exhaustive rounds: frames that arrived while the window was sending went too.
        assert np.any(late)
    else:
        assert not np.any(late)


@pytest.mark.parametrize(
    "name", ["10g_polling_exhaustive_rtt", "1g_limited_two_queues_drops_shaped"]
)
def test_statistics_folded_in_the_loop_match(name: str) -> None:
    """Without a packet record the loop folds departures itself (ftth.fold): the same
    histograms, sums and window counters as the reference path's collector."""
    fast = _run(name, "fast", record=False)
    ref = _run(name, "reference", record=False)
    assert "windows" not in fast.extra
    for direction in ("upstream", "downstream"):
        a, b = getattr(fast, direction), getattr(ref, direction)
        assert int(a.delays.acc[:, 0].sum()) > 0
        np.testing.assert_array_equal(a.delays.counts, b.delays.counts)
        np.testing.assert_array_equal(a.delays.acc, b.delays.acc)
        np.testing.assert_array_equal(a.window_delivered, b.window_delivered)
        for key in COUNTER_KEYS:
            np.testing.assert_array_equal(a.counters[key], b.counters[key], err_msg=key)
    assert fast.extra["epon"] == ref.extra["epon"]


def test_traffic_window_does_not_change_the_loop() -> None:
    """The loop stops and resumes at traffic-window boundaries; where they fall must not
    matter (1 ms windows against the 50 ms default)."""

    def run(window_ms: int) -> RawRun:
        sc = _scenario(
            "epon-10g",
            {"name": "polling", "params": {"service": "exhaustive", "zero_rtt": False}},
            [{"name": "p", "type": 4, "max_bps": 1e9, "traffic": _poisson(900e6)}],
            [{"name": "be", "priority": 0, "traffic": _poisson(500e6)}],
            window_ms=window_ms,
        )
        return run_spec(build_spec(sc, record_packets=True), "fast")

    _assert_same(run(1), run(50))


@ek.window_kernel
def _broken_kernel(ctx: ek.I64, onu: int, reported: int, state_i: ek.I64, state_f: ek.F64) -> int:
    # A valid answer until the OLT has seen some traffic, then an error code.
    return -3 if reported > 0 else reported


class _BrokenEpon(ek.KernelEponDba):
    name = "test-broken-epon"
    kernel = _broken_kernel


class _PythonLimited(EponDba):
    """A plugin EPON DBA in plain Python (no kernel): IPACT's limited service."""

    name = "test-python-limited"

    def window_bytes(self, onu: int, reported_bytes: int) -> int:
        return min(reported_bytes, 15_000)


@pytest.fixture
def test_dbas() -> Iterator[None]:
    """Register the two test DBAs for one test only (the registry is global)."""
    for cls in (_BrokenEpon, _PythonLimited):
        register(cls)
    yield
    for cls in (_BrokenEpon, _PythonLimited):
        _REGISTRY.pop(cls.name, None)


def _small(dba: dict[str, Any]) -> Any:
    return _scenario(
        "epon-1g",
        dba,
        [{"name": "p", "type": 4, "max_bps": 1e9, "traffic": _poisson(100e6)}],
        [{"name": "be", "priority": 0, "traffic": _poisson(100e6)}],
        duration_s=0.01,
    )


@pytest.mark.usefixtures("test_dbas")
def test_dba_error_is_the_same_in_both_paths() -> None:
    errors = []
    for engine in ("fast", "reference"):
        with pytest.raises(DbaError) as exc:
            run_spec(build_spec(_small({"name": "test-broken-epon"})), engine)
        errors.append(str(exc.value))
    assert errors[0] == errors[1] and "error code -3" in errors[0]


@pytest.mark.usefixtures("test_dbas")
def test_python_plugin_dba_runs_the_reference_path() -> None:
    """A plugin EponDba without a kernel runs (one event per window) and, being IPACT's
    limited service written in Python, gives IPACT's packets exactly."""
    plugin = run_spec(build_spec(_small({"name": "test-python-limited"}), record_packets=True))
    ipact = run_spec(build_spec(_small({"name": "ipact"}), record_packets=True))
    assert not plugin.backend.endswith("compiled-loop")
    _assert_same(plugin, ipact)
