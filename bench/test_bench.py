"""The benchmark suite of issue 4: see bench/conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ftth
from ftth.jit import ACCELERATED
from ftth.scenario import load_scenario

STANDARD = Path(__file__).parent / "standard.toml"
SECONDS = float(os.environ.get("BENCH_SECONDS", "1.0"))
#: Rounds per measurement, the figure being their median (as bench/conftest.py records).
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))


def _run(overrides: list[str], engine: str = "fast") -> dict[str, Any]:
    result = ftth.run(load_scenario(STANDARD, [*overrides, f'engine="{engine}"']))
    return result.to_dict()


def _median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median real-time factor, with every round's factor beside it."""
    rtfs = [r["realtime_factor"] for r in rounds]
    middle = sorted(rounds, key=lambda r: r["realtime_factor"])[(len(rounds) - 1) // 2]
    return {**middle, "realtime_factor_rounds": rtfs, "rounds": len(rounds)}


def _rounds(run: Callable[[], dict[str, Any]], benchmark: Any = None) -> list[dict[str, Any]]:
    """``ROUNDS`` results of ``run`` (timed by pytest-benchmark when given)."""
    results: list[dict[str, Any]] = []

    def one() -> None:
        results.append(run())

    if benchmark is not None:
        benchmark.pedantic(one, rounds=ROUNDS, iterations=1)
    else:
        for _ in range(ROUNDS):
            one()
    return results


def _child_run(
    seconds: float, env: dict[str, str], one_core: bool, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The standard scenario in a fresh process (warm-up run first, then ``ROUNDS`` runs:
    the median), optionally pinned to one CPU (then traffic is generated inline and the two
    directions run one after the other, see ftth.emulator.prefetch)."""
    more = "".join(f", {o!r}" for o in extra)
    code = (
        "import json, os, ftth\n"
        + ("os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n" if one_core else "")
        + f"ftth.run({str(STANDARD)!r}, overrides=['duration_s=0.01'{more}])\n"
        + f"for _ in range({ROUNDS}):\n"
        + f"    r = ftth.run({str(STANDARD)!r}, overrides=['duration_s={seconds}'{more}])\n"
        + "    r = r.to_dict()\n"
        + "    print(json.dumps({k: r[k] for k in ('wall_s', 'realtime_factor', 'backend')}"
        + " | {'packets': r['conservation']['delivered_packets']}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    lines = out.stdout.strip().splitlines()[-ROUNDS:]
    return _median_of([json.loads(line) for line in lines])


def test_standard_realtime_factor(benchmark: Any, record: Any) -> None:
    """XGS-PON 64 ONUs × 4 T-CONTs at 90 % load: emulated seconds per wall second, on one
    core (the target's measure), on every core (traffic generated ahead on a worker
    thread) and without numba (plain-Python kernels, a short run), in the same session."""
    one_core = _child_run(SECONDS, {}, one_core=True)
    _run(["duration_s=0.01"])  # compile / warm caches outside the measurement
    data = _median_of(_rounds(lambda: _run([f"duration_s={SECONDS}"]), benchmark))
    numpy_s = float(os.environ.get("BENCH_NUMPY_SECONDS", "0.02"))
    numpy_only = _child_run(numpy_s, {"FTTH_NO_NUMBA": "1"}, one_core=True)
    rtf = one_core["realtime_factor"]
    packets = one_core["packets"]
    benchmark.extra_info.update(
        {
            "realtime_factor_one_core": rtf,
            "realtime_factor_all_cores": data["realtime_factor"],
            "realtime_factor_one_core_rounds": one_core["realtime_factor_rounds"],
            "realtime_factor_numpy_only": numpy_only["realtime_factor"],
            "packets": packets,
        }
    )
    record(
        "standard",
        {
            "emulated_s": SECONDS,
            "wall_s": one_core["wall_s"],
            "realtime_factor": rtf,
            "packets_delivered": packets,
            "packets_per_wall_s": packets / one_core["wall_s"],
            "backend": one_core["backend"],
            "cores": 1,
            "realtime_factor_rounds": one_core["realtime_factor_rounds"],
        },
    )
    record(
        "standard_all_cores",
        {
            "emulated_s": SECONDS,
            "wall_s": data["wall_s"],
            "realtime_factor": data["realtime_factor"],
            "cores": os.cpu_count(),
            "realtime_factor_rounds": data["realtime_factor_rounds"],
        },
    )
    record(
        "standard_numpy_only",
        {
            "emulated_s": numpy_s,
            "wall_s": numpy_only["wall_s"],
            "realtime_factor": numpy_only["realtime_factor"],
            "backend": numpy_only["backend"],
            "cores": 1,
        },
    )
    assert data["conservation"]["balanced"]
    assert data["conservation"]["delivered_packets"] == packets  # same run, any core count
    assert numpy_only["rounds"] == one_core["rounds"] == ROUNDS


def _frame_dbas() -> list[str]:
    from olt.dba.base import EponDba
    from olt.dba.registry import get_dba, list_dbas

    return [n for n in list_dbas() if not issubclass(get_dba(n), EponDba)]


PLUGIN = Path(__file__).resolve().parent.parent / "tests" / "plugins" / "ftth-example-dba"


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example plugin installed into a temporary directory (as tests/olt/dba does)."""
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PLUGIN)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    root = str(Path(__file__).resolve().parent.parent)
    return {"PYTHONPATH": os.pathsep.join([str(target), root])}


@pytest.mark.parametrize("dba", [*_frame_dbas(), "equal-share-kernel"])
def test_dba_realtime_factor(record: Any, plugin_env: dict[str, str], dba: str) -> None:
    """Every frame DBA (and the example plugin in its kernel form) on the standard scenario,
    one core, BENCH_SECONDS emulated after a warm-up run in the same process."""
    env = plugin_env if dba == "equal-share-kernel" else {}
    data = _child_run(SECONDS, env, one_core=True, extra=(f'dba.name="{dba}"',))
    record(f"dba_{dba}", {"emulated_s": SECONDS, "cores": 1, **data})
    assert data["packets"] > 0


@pytest.mark.parametrize("one_core", [True, False])
def test_cli_realtime_factor(record: Any, one_core: bool) -> None:
    """What a user sees: ``ftth run bench/standard.toml --duration BENCH_SECONDS --json`` in a
    fresh process, start-up included (the run's own JSON; the process's wall time beside it),
    one core and all cores, ``ROUNDS`` processes: the median."""
    pin = ["taskset", "-c", "0"] if one_core else []

    def one() -> dict[str, Any]:
        start = time.perf_counter()
        out = subprocess.run(
            [*pin, sys.executable, "-m", "ftth", "run", str(STANDARD), "-q", "--duration",
             str(SECONDS), "--json", "-"],
            capture_output=True, text=True,
        )  # fmt: skip
        process_s = time.perf_counter() - start
        assert out.returncode in (0, 1), out.stderr
        data = json.loads(out.stdout)
        return {k: data[k] for k in ("wall_s", "realtime_factor", "backend")} | {
            "process_wall_s": round(process_s, 3)
        }

    name = "cli_one_core" if one_core else "cli_all_cores"
    record(name, _median_of(_rounds(one)))


def test_fast_vs_reference(benchmark: Any, record: Any) -> None:
    """Same scenario, short run, both engines: the speed ratio measured in one run (one
    round each: the reference engine is about a hundred times slower)."""
    seconds = float(os.environ.get("BENCH_REF_SECONDS", "0.2"))
    fast = _run([f"duration_s={seconds}"])
    ref = benchmark.pedantic(
        _run, args=([f"duration_s={seconds}"], "reference"), rounds=1, iterations=1
    )
    ratio = ref["wall_s"] / fast["wall_s"]
    benchmark.extra_info["fast_over_reference"] = ratio
    record(
        "fast_vs_reference",
        {
            "emulated_s": seconds,
            "fast_wall_s": fast["wall_s"],
            "reference_wall_s": ref["wall_s"],
            "speedup": ratio,
        },
    )
    assert fast["conservation"] == ref["conservation"]


@pytest.mark.parametrize("tconts_per_onu,onus", [(1, 16), (1, 64), (4, 64), (4, 256)])
def test_scaling_tconts(benchmark: Any, record: Any, tconts_per_onu: int, onus: int) -> None:
    """16, 64, 256, 1024 T-CONTs at equal total load (90 %)."""
    seconds = min(SECONDS, 0.2)
    keep = ["type1-fixed", "type2-assured", "type3-assured-plus", "type4-best-effort"][
        -tconts_per_onu:
    ]
    # Guarantees scale with 64/onus so admission control holds at every size.
    g = 64 / onus
    sc = load_scenario(
        STANDARD,
        [
            f"duration_s={seconds}",
            f"onus.count={onus}",
            "tree.splitters=[16, 16]",
            f"tconts.0.fixed_bps={2e6 * g}",
            f"tconts.1.assured_bps={10e6 * g}",
            f"tconts.2.assured_bps={10e6 * g}",
        ],
    )
    sc = sc.model_copy(update={"tconts": [t for t in (sc.tconts or []) if t.name in keep]})
    data = _median_of(_rounds(lambda: ftth.run(sc).to_dict(), benchmark))
    n = onus * tconts_per_onu
    benchmark.extra_info.update({"tconts": n, "realtime_factor": data["realtime_factor"]})
    record(
        f"scaling_{n}_tconts",
        {
            "tconts": n,
            "realtime_factor": data["realtime_factor"],
            "wall_s": data["wall_s"],
            "packets": data["conservation"]["delivered_packets"],
        },
    )


@pytest.mark.parametrize("load", [0.1, 0.3, 0.5, 0.7, 0.9, 0.95])
def test_scaling_load(benchmark: Any, record: Any, load: float) -> None:
    """Wall time against load: it should grow no faster than the packets emulated."""
    seconds = min(SECONDS, 0.2)
    overrides = [
        f"duration_s={seconds}",
        f"traffic.upstream_load={load}",
        f"traffic.downstream_load={load}",
    ]
    data = _median_of(_rounds(lambda: _run(overrides), benchmark))
    packets = data["conservation"]["delivered_packets"]
    benchmark.extra_info.update(
        {"load": load, "packets": packets, "realtime_factor": data["realtime_factor"]}
    )
    record(
        f"load_{load}",
        {
            "load": load,
            "wall_s": data["wall_s"],
            "packets": packets,
            "us_per_packet": data["wall_s"] / max(packets, 1) * 1e6,
            "realtime_factor": data["realtime_factor"],
        },
    )


def test_peak_rss_60s(record: Any) -> None:
    """Peak resident memory of a 60 s standard run, measured in a child process.

    The child reads its own high-water mark, VmHWM.  ``getrusage().ru_maxrss`` would not
    do: Linux carries the peak of the address space replaced by ``exec`` into it, so a
    child of this (large) pytest process reported the parent's size (571 MB here against
    282 MB measured with VmHWM, or with ru_maxrss from a small parent).
    """
    seconds = float(os.environ.get("BENCH_RSS_SECONDS", "60"))
    code = (
        "import json, re, ftth\n"
        f"r = ftth.run({str(STANDARD)!r}, overrides=['duration_s={seconds}'])\n"
        "try:\n"
        "    status = open('/proc/self/status').read()\n"
        "    hwm_kb = int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
        "except OSError:  # not Linux: ru_maxrss (kB on Linux, bytes on macOS)\n"
        "    import resource\n"
        "    hwm_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'rss_mb': hwm_kb / 1024, 'wall_s': r.to_dict()['wall_s']}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    record("peak_rss", {"emulated_s": seconds, **data, "numba": ACCELERATED})
    assert data["rss_mb"] > 0
