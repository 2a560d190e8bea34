"""EPON (MPCP polling) engine: the textbook polling oracle and IPACT's services.

The oracle (pon-reference §6): 16 ONUs on 1G-EPON, 5 µs guard, 84-byte REPORT, zero round
trip, Poisson arrivals of fixed 1518-byte frames (1538 bytes on the wire).  Takagi's mean
waiting time (arrival to start of transmission) for symmetric gated and exhaustive polling:

    W = δ²/(2R) + [N·λ·b⁽²⁾ + R·(1 ± ρ/N)] / (2·(1 − ρ)),   C = R / (1 − ρ)

with R the total walk time per cycle, b the frame's service time and δ² = 0 (fixed walk).
The expected values are computed here from the formula, never pasted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ftth.emulator import run_spec
from ftth.emulator.build import build_spec
from ftth.errors import InputError
from ftth.phy import EPON_1G
from ftth.scenario import scenario_from_dict

N_ONUS = 16
GUARD_S = 5e-6
BYTE_S = 8 / EPON_1G.upstream_bps
FRAME_WIRE_BYTES = 1518 + EPON_1G.ethernet_overhead_bytes
REPORT_WIRE_BYTES = EPON_1G.mpcp_report_bytes + EPON_1G.ethernet_overhead_bytes
SERVICE_S = FRAME_WIRE_BYTES * BYTE_S  # b: one frame's transmission time
WALK_S = N_ONUS * (GUARD_S + REPORT_WIRE_BYTES * BYTE_S)  # R = 90.75 µs


def scenario(dba: dict[str, Any], rate_bps: float, duration_s: float, **extra: Any) -> Any:
    data = {
        "name": "epon-oracle",
        "technology": "epon-1g",
        "duration_s": duration_s,
        "warmup_s": duration_s * 0.05,
        "seed": 1,
        "tree": {"feeder_km": 1.0, "splitters": [16], "optical_class": "PX20"},
        "onus": {"count": N_ONUS, "drop_km": [0.0, 0.5]},
        "tconts": [
            {
                "name": "data",
                "type": 4,
                "max_bps": 1e9,
                "buffer_bytes": 100_000_000,
                "traffic": {
                    "model": "poisson",
                    "rate_bps": rate_bps,
                    "sizes": "fixed",
                    "size_bytes": 1518,
                },
            }
        ],
        "downstream": [{"name": "data", "priority": 0}],
        "dba": dba,
    }
    data.update(extra)
    return scenario_from_dict(data)


def takagi(rho: float, service: str) -> tuple[float, float]:
    """(mean waiting time, mean cycle time) in seconds from Takagi's formulas."""
    lam = rho / (N_ONUS * SERVICE_S)
    sign = 1.0 if service == "gated" else -1.0
    wait = (N_ONUS * lam * SERVICE_S**2 + WALK_S * (1 + sign * rho / N_ONUS)) / (2 * (1 - rho))
    return wait, WALK_S / (1 - rho)


@pytest.mark.parametrize(
    "rho,duration_s,tolerance",
    # Tolerances from the issue; the run length grows with load because the waiting time's
    # autocorrelation (and so the estimate's variance) does.
    [(0.5, 2.0, 0.05), (0.8, 4.0, 0.05), (0.95, 10.0, 0.08)],
)
@pytest.mark.parametrize("service", ["gated", "exhaustive"])
def test_polling_matches_takagi(
    rho: float, duration_s: float, tolerance: float, service: str
) -> None:
    rate_bps = rho / (N_ONUS * SERVICE_S) * 1518 * 8
    sc = scenario(
        {"name": "polling", "params": {"service": service, "guard_us": GUARD_S * 1e6}},
        rate_bps,
        duration_s,
    )
    spec = build_spec(sc)
    raw = run_spec(spec)
    delays = raw.upstream.delays.merged(range(N_ONUS))
    # Departure is the last byte at the OLT; with zero RTT, waiting = delay − own service time.
    waiting_s = delays.mean_ps / 1e12 - SERVICE_S
    cycle_s = raw.extra["epon"]["mean_cycle_us"] / 1e6
    expected_wait, expected_cycle = takagi(rho, service)
    assert waiting_s == pytest.approx(expected_wait, rel=tolerance)
    assert cycle_s == pytest.approx(expected_cycle, rel=tolerance)


def test_exhaustive_waits_less_than_gated() -> None:
    """Same arrivals: exhaustive service never waits longer on average than gated (Takagi)."""
    rate = 0.7 / (N_ONUS * SERVICE_S) * 1518 * 8
    means = {}
    for service in ("gated", "exhaustive"):
        raw = run_spec(
            build_spec(
                scenario(
                    {"name": "polling", "params": {"service": service, "guard_us": 5}}, rate, 1.0
                )
            )
        )
        means[service] = raw.upstream.delays.merged(range(N_ONUS)).mean_ps
    assert means["exhaustive"] < means["gated"]


@pytest.mark.parametrize(
    "service", ["fixed", "limited", "gated", "constant-credit", "linear-credit"]
)
def test_ipact_services_conserve_and_respect_w_max(service: str) -> None:
    w_max = 15_000
    sc = scenario(
        {"name": "ipact", "params": {"service": service, "w_max_bytes": w_max}}, 40e6, 0.1
    )
    spec = build_spec(sc)
    raw = run_spec(spec)
    c = raw.upstream.counters
    for key in ("bytes", "packets"):
        assert int(c[f"offered_{key}"].sum()) == int(
            c[f"delivered_{key}"].sum() + c[f"queued_{key}"].sum() + c[f"dropped_{key}"].sum()
        )
    windows = raw.extra["windows"]
    report_s = REPORT_WIRE_BYTES * BYTE_S
    longest_s = max(w.end_ps - w.start_ps for w in windows) / 1e12
    if service != "gated":
        # A limited window carries at most W_max bytes plus the REPORT (one byte time of slack).
        assert longest_s <= (w_max + REPORT_WIRE_BYTES) * BYTE_S + 1e-12
    assert longest_s >= report_s
    # Windows never overlap and are separated by at least the guard time.
    starts = np.array([w.start_ps for w in windows])
    ends = np.array([w.end_ps for w in windows])
    assert np.all(starts[1:] - ends[:-1] >= int(EPON_1G.default_guard_ps))


def test_ipact_cycle_bounded_by_rtt_at_light_load() -> None:
    """At light load IPACT's cycle is bounded below by the round trip of the ONU."""
    sc = scenario(
        {"name": "ipact"},
        1e6,
        0.05,
        tree={"feeder_km": 19.0, "splitters": [16], "optical_class": "PX20"},
    )
    raw = run_spec(build_spec(sc))
    cycle_us = raw.extra["epon"]["mean_cycle_us"]
    rtt_us = 2 * 19.0 * 5  # 5 µs per km each way
    assert cycle_us >= rtt_us


def test_frame_dba_on_epon_is_refused() -> None:
    # The DBA's kind is checked where DBAs are known: building the run (ftth.emulator.build).
    with pytest.raises(InputError) as exc:
        build_spec(scenario({"name": "proportional"}, 10e6, 0.01))
    assert exc.value.where == "dba.name" and "ipact" in exc.value.why


def test_epon_dba_on_xgs_pon_is_refused() -> None:
    from ftth.scenario import load_scenario

    with pytest.raises(InputError) as exc:
        build_spec(load_scenario(None, ['dba.name="ipact"']))
    assert exc.value.where == "dba.name" and "proportional" in exc.value.why
