"""Traffic generation cost: the 384 ``pareto-onoff`` sources of the standard scenario.

Each source is asked for 1 s of traffic in 10 ms windows, as the engine does; the figures are
CPU nanoseconds per packet and microseconds per ``batch`` call, with and without the numba
kernels.  Run as a script to compare with the traffic models of an earlier commit in the same
process (the machine's load then affects both alike)::

    python bench/test_traffic_bench.py HEAD~1      # or any git revision

Under pytest it records the numbers in the benchmark's ``extra_info`` (no timed assertion).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ftth.emulator.build import _rng, build_spec
from ftth.scenario import load_scenario
from ftth.traffic import pareto
from ftth.units import PS_PER_MS, PS_PER_S

STANDARD = Path(__file__).parent / "standard.toml"
ROOT = Path(__file__).parent.parent
WINDOW_PS = 10 * PS_PER_MS


def standard_sources() -> list[tuple[str, dict[str, Any], Any]]:
    """(model, scaled params, plan) of every traffic source of the standard scenario."""
    spec = build_spec(load_scenario(STANDARD))
    out = []
    for queue in spec.upstream + spec.downstream:
        for factory in queue.sources:
            # A factory is ``lambda: plan.build(params)`` (ftth.emulator.build).
            params, plan = (cell.cell_contents for cell in factory.__closure__ or ())
            out.append((plan.model, dict(params), plan))
    return out


def measure(traffic: Any, sources: list[tuple[str, dict[str, Any], Any]]) -> dict[str, float]:
    """Build the sources with ``traffic.make_source`` and ask each for 1 s in 10 ms windows."""
    started = time.process_time()
    built = [
        traffic.make_source(
            model, params, _rng(plan.seed, plan.direction, plan.onu_id, plan.position),
            line_rate_bps=plan.line_rate_bps,
        )
        for model, params, plan in sources
    ]  # fmt: skip
    construction_s = time.process_time() - started
    packets = calls = 0
    started = time.process_time()
    for start in range(0, PS_PER_S, WINDOW_PS):
        for source in built:
            packets += source.batch(start, start + WINDOW_PS)[0].size
            calls += 1
    elapsed_s = time.process_time() - started
    return {
        "construction_ms": construction_s * 1e3,
        "packets": packets,
        "ns_per_packet": elapsed_s / packets * 1e9,
        "us_per_call": elapsed_s / calls * 1e6,
    }


def with_kernels(on: bool) -> None:
    """Use (``on``) or bypass the numba kernels of ``pareto-onoff`` (same packets); the
    kernels are compiled (or loaded from numba's cache) here, outside the measurements."""
    pareto._ACCELERATOR.clear()
    if not on:
        pareto._ACCELERATOR.append(None)
        return
    if pareto._kernels() is None:
        raise RuntimeError("numba is not available")
    from ftth.traffic import make_source

    warm_up = make_source(
        "pareto-onoff", {"rate_bps": 1e9}, _rng(0, "upstream", 0, 0), line_rate_bps=1e10
    )
    warm_up.batch(0, PS_PER_S // 100)


def test_traffic_generation(benchmark: Any) -> None:
    """ns/packet of the standard scenario's sources, numpy and (if installed) numba."""
    import ftth.traffic as traffic
    from ftth.jit import ACCELERATED

    sources = standard_sources()
    with_kernels(False)
    numpy_figures = benchmark.pedantic(measure, args=(traffic, sources), rounds=1, iterations=1)
    benchmark.extra_info["numpy"] = numpy_figures
    if ACCELERATED:
        with_kernels(True)
        benchmark.extra_info["numba"] = measure(traffic, sources)
    pareto._ACCELERATOR.clear()


def _traffic_at(revision: str, into: Path) -> Any:
    """Import ``ftth/traffic`` as it was at ``revision`` under another package name."""
    package = into / "ftth_traffic_before"
    package.mkdir()
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", revision, "ftth/traffic/"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    for name in names:
        if name.endswith(".py"):
            text = subprocess.run(
                ["git", "show", f"{revision}:{name}"],
                cwd=ROOT, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            text = text.replace("ftth.traffic.", "ftth_traffic_before.")
            (package / Path(name).name).write_text(text)
    sys.path.insert(0, str(into))
    return importlib.import_module("ftth_traffic_before")


def main(revision: str | None) -> None:
    import ftth.traffic as traffic
    from ftth.jit import ACCELERATED

    sources = standard_sources()
    print(f"{len(sources)} sources, 1 s each in 10 ms windows (CPU time)")
    with tempfile.TemporaryDirectory() as tmp:
        before = _traffic_at(revision, Path(tmp)) if revision else None
        for _ in range(3):
            runs: list[tuple[str, Any, bool | None]] = []
            if before is not None:
                runs.append((f"{revision}", before, None))
            runs.append(("numpy", traffic, False))
            if ACCELERATED:
                runs.append(("numba", traffic, True))
            for label, module, kernels in runs:
                if kernels is not None:
                    with_kernels(kernels)
                f = measure(module, sources)
                print(
                    f"  {label:>10}: {f['ns_per_packet']:6.1f} ns/packet, "
                    f"{f['us_per_call']:5.2f} us/call, construction {f['construction_ms']:5.1f} "
                    f"ms, {f['packets']:.0f} packets"
                )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
