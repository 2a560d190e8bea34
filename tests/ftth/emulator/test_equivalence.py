"""The fast engine against the per-packet reference engine, and numba against pure Python.

Tolerance: none.  Both engines use integer picoseconds and integer byte arithmetic, and
share only the OLT's decisions (DBA, BWmap, downstream shares), so every packet's departure
time must be the same int64, and every per-queue ledger counter the same integer.  Any
difference is a divergence of the two data planes (admission, fragmentation, padding,
timing), which is exactly what this file is for.

Each scenario also checks that it exercises what it claims (drops, fragment cuts, idle
grants, ...) so a change that makes a scenario trivial cannot keep the test green.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ftth.emulator import EmulationSpec, RawRun, run_spec
from tests.ftth.emulator.helpers import (
    FAST_VARIANTS,
    FragmentSpy,
    assert_identical,
    assert_variant,
    make_spec,
    total,
    use_fast_variant,
)

REPO = Path(__file__).resolve().parents[3]

# --------------------------------------------------------------------------- scenarios
#: name -> make_spec keyword arguments.  Small on purpose: the reference engine is slow.
SCENARIOS: dict[str, dict[str, Any]] = {
    # (a) GPON, trimodal Poisson at ~2x the upstream capacity, 12 kB buffers: tail drop,
    # fragments cut at the end of every busy grant, downstream overloaded too.
    "a_gpon_overload_taildrop": dict(
        technology="gpon",
        onus=4,
        frames=48,
        up=("poisson", {"rate_bps": 600e6, "sizes": "trimodal"}),
        down=("poisson", {"rate_bps": 800e6, "sizes": "trimodal"}),
        buffer_bytes=12_000,
        dba="proportional",
        seed=3,
    ),
    # (b) XG-PON, fixed 1518 B (not a multiple of 4: XGEM padding) with R_M = 40 Mb/s per
    # T-CONT, i.e. 625 B of grant per frame: every frame is fragmented.
    "b_xgpon_small_grants": dict(
        technology="xg-pon",
        onus=3,
        frames=48,
        up=("poisson", {"rate_bps": 80e6, "sizes": "fixed", "size_bytes": 1518}),
        down=("poisson", {"rate_bps": 300e6, "sizes": "fixed", "size_bytes": 1518}),
        dba="proportional",
        max_bps=40e6,
        seed=5,
    ),
    # (c) XGS-PON, sizes that are not word multiples (65, 67, 1001: 3, 1, 3 padding bytes;
    # 65 and 67 also hit the 16-byte minimum XGEM frame rule only through padding), low
    # load, and min_grant_bytes far above demand: most grants are partly idle.
    "c_xgspon_alignment_idle": dict(
        technology="xgs-pon",
        onus=4,
        frames=48,
        up=(
            "poisson",
            {
                "rate_bps": 30e6,
                "sizes": "empirical",
                "size_values": [65, 67, 1001],
                "size_weights": [0.4, 0.3, 0.3],
            },
        ),
        down=(
            "poisson",
            {
                "rate_bps": 40e6,
                "sizes": "empirical",
                "size_values": [65, 67, 1001],
                "size_weights": [0.4, 0.3, 0.3],
            },
        ),
        dba="proportional",
        dba_params={"min_grant_bytes": 2000},
        seed=7,
    ),
    # (d) Unbounded greedy sources both ways, static DBA (no DBRu): saturation data plane.
    "d_xgpon_greedy_static": dict(
        technology="xg-pon",
        onus=4,
        frames=24,
        up=("greedy", {"size_bytes": 1518}),
        down=("greedy", {"size_bytes": 1001}),
        dba="static",
        seed=11,
    ),
    # (e) GPON jumbo frames (9000 B > 4095 B max GEM fragment), FEC on both directions.
    "e_gpon_jumbo_fec": dict(
        technology="gpon",
        onus=3,
        frames=48,
        up=("poisson", {"rate_bps": 250e6, "sizes": "fixed", "size_bytes": 9000}),
        down=("poisson", {"rate_bps": 600e6, "sizes": "fixed", "size_bytes": 9000}),
        fec=True,
        dba="proportional",
        seed=13,
    ),
    # (f) Two T-CONTs per ONU and a two-frame DBA cycle (per-frame grants = ceil(cycle / 2)).
    "f_xgspon_two_tconts_cycle2": dict(
        technology="xgs-pon",
        onus=3,
        frames=48,
        tconts_per_onu=2,
        cycle_frames=2,
        up=("poisson", {"rate_bps": 400e6, "sizes": "trimodal"}),
        down=("poisson", {"rate_bps": 400e6, "sizes": "trimodal"}),
        dba="proportional",
        seed=17,
    ),
    # (g) The tail-drop boundary: fixed 1518 B frames and a buffer of exactly three, at
    # overload, so packets arrive when the queue holds exactly two (admitted: the buffer is
    # then exactly full) or three (dropped).
    "g_gpon_buffer_exact_fit": dict(
        technology="gpon",
        onus=3,
        frames=40,
        up=("poisson", {"rate_bps": 700e6, "sizes": "fixed", "size_bytes": 1518}),
        down=("poisson", {"rate_bps": 1200e6, "sizes": "fixed", "size_bytes": 1518}),
        buffer_bytes=3 * 1518,
        dba="proportional",
        seed=19,
    ),
}


def run_both(spec_kwargs: dict[str, Any]) -> tuple[EmulationSpec, RawRun, RawRun]:
    # One spec object per engine: sources are factories, so each run draws the same traffic.
    fast = run_spec(make_spec(**spec_kwargs), "fast")
    spec = make_spec(**spec_kwargs)
    ref = run_spec(spec, "reference")
    return spec, fast, ref


# --------------------------------------------------------------------------- claims
def claim_a(spec: EmulationSpec, run: RawRun, spy: FragmentSpy) -> None:
    assert total(run, "upstream", "dropped_packets") > 0, "no upstream tail drop"
    assert total(run, "downstream", "dropped_packets") > 0, "no downstream tail drop"
    assert spy.cuts > 10, f"only {spy.cuts} fragment cuts"
    assert spec.us_fec is None


def claim_b(spec: EmulationSpec, run: RawRun, spy: FragmentSpy) -> None:
    p = spec.profile
    assert 1518 % p.encap_align_bytes != 0, "1518 B needs XGEM padding"
    # Every grant is smaller than one encapsulated packet, so every packet is cut.
    room_per_frame = run.upstream.granted_bytes.sum() / max(1, run.allocations)
    assert room_per_frame < 1518 + p.encap_header_bytes
    assert total(run, "upstream", "delivered_packets") > 20
    assert spy.cuts >= total(run, "upstream", "delivered_packets")


def claim_c(spec: EmulationSpec, run: RawRun, spy: FragmentSpy) -> None:
    up = run.upstream
    assert int(up.granted_bytes.sum()) > int(up.used_bytes.sum()), "no idle grant bytes"
    # Idle bytes in every T-CONT, not one accident.
    assert np.count_nonzero(up.granted_bytes > up.used_bytes) == len(spec.upstream)
    sizes = np.concatenate([up.packets()[2], run.downstream.packets()[2]])
    assert {65, 67, 1001} <= set(sizes.tolist())
    assert all(s % 4 for s in (65, 67, 1001))
    assert total(run, "upstream", "dropped_packets") == 0


def claim_d(spec: EmulationSpec, run: RawRun, spy: FragmentSpy) -> None:
    assert all(q.greedy_size_bytes > 0 and not q.sources for q in spec.upstream + spec.downstream)
    for st in (run.upstream, run.downstream):
        # Greedy queues never leave a grant idle beyond a sub-minimum-frame tail.
        n_grants_bound = spec.n_frames * len(st.granted_bytes)
        assert 0 <= int(st.granted_bytes.sum() - st.used_bytes.sum()) < 16 * n_grants_bound
        assert int(st.used_bytes.sum()) > 0.99 * int(st.granted_bytes.sum())
    assert total(run, "upstream", "dropped_packets") == 0


def claim_e(spec: EmulationSpec, run: RawRun, spy: FragmentSpy) -> None:
    assert spec.us_fec is not None and spec.ds_fec is not None
    for st in (run.upstream, run.downstream):
        sizes = st.packets()[2]
        assert len(sizes) > 5 and np.all(sizes == 9000)
        assert spec.profile.encap_max_fragment_bytes < 9000


def claim_f(spec: EmulationSpec, run: RawRun, spy: FragmentSpy) -> None:
    assert len(spec.upstream) == 2 * spec.n_onus
    delivered = run.upstream.counters["delivered_packets"]
    assert np.all(delivered > 0), "a T-CONT never sent"
    assert spec.cycle_frames == 2


def claim_g(spec: EmulationSpec, run: RawRun, spy: FragmentSpy) -> None:
    assert spec.upstream[0].buffer_bytes % 1518 == 0
    for direction in ("upstream", "downstream"):
        assert total(run, direction, "dropped_packets") > 10, f"{direction}: no tail drop"
        assert total(run, direction, "delivered_packets") > 10


CLAIMS: dict[str, Callable[[EmulationSpec, RawRun, FragmentSpy], None]] = {
    "a_gpon_overload_taildrop": claim_a,
    "b_xgpon_small_grants": claim_b,
    "c_xgspon_alignment_idle": claim_c,
    "d_xgpon_greedy_static": claim_d,
    "e_gpon_jumbo_fec": claim_e,
    "f_xgspon_two_tconts_cycle2": claim_f,
    "g_gpon_buffer_exact_fit": claim_g,
}


@pytest.mark.parametrize("variant", FAST_VARIANTS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fast_and_reference_identical(
    name: str, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fast_variant(variant, monkeypatch)
    spy = FragmentSpy(monkeypatch)
    spec, fast, ref = run_both(SCENARIOS[name])
    assert_variant(fast, variant)
    assert ref.engine == "reference"
    assert total(fast, "upstream", "delivered_packets") > 0
    assert total(fast, "downstream", "delivered_packets") > 0
    assert_identical(fast, ref)
    CLAIMS[name](spec, ref, spy)


# --------------------------------------------------------------------------- numba vs Python
_DUMP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from ftth.emulator import run_spec
    from tests.ftth.emulator.helpers import make_spec

    scenarios = json.loads(sys.argv[2])
    out = {}
    backends = set()
    for name, kwargs in scenarios.items():
        run = run_spec(make_spec(**kwargs), "fast")
        backends.add(run.backend)
        for direction in ("upstream", "downstream"):
            st = getattr(run, direction)
            for label, arr in zip(("q", "a", "s", "d"), st.packets()):
                out[f"{name}.{direction}.{label}"] = arr
            for key, arr in st.counters.items():
                out[f"{name}.{direction}.{key}"] = arr
            out[f"{name}.{direction}.granted"] = st.granted_bytes
            out[f"{name}.{direction}.used"] = st.used_bytes
        out[f"{name}.us_used_line"] = run.us_used_line_bytes
        out[f"{name}.us_payload_used"] = run.us_payload_used_bytes
    (backend,) = backends
    np.savez(sys.argv[1], backend=np.array(backend), **out)
    """
)

#: Environment of each kernel path: pure Python, numba stepped loop, numba compiled loop.
KERNEL_PATHS = {
    "python": {"FTTH_NO_NUMBA": "1"},
    "numba-stepped": {"FTTH_STEPPED": "1"},
    "numba-compiled": {},
}


def _dump(tmp_path: Path, path: str) -> dict[str, np.ndarray]:
    script = tmp_path / "dump.py"
    script.write_text(_DUMP_SCRIPT)
    out = tmp_path / f"{path}.npz"
    env = {k: v for k, v in os.environ.items() if k not in ("FTTH_NO_NUMBA", "FTTH_STEPPED")}
    env.update(KERNEL_PATHS[path])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, str(script), str(out), json.dumps(SCENARIOS)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
def test_numba_and_python_kernels_bit_identical(tmp_path: Path) -> None:
    """The same fast-engine runs with pure-Python kernels (``FTTH_NO_NUMBA=1``), with numba
    kernels in the stepped loop (``FTTH_STEPPED=1``) and with the numba compiled frame loop,
    each in its own process (the switches are read at import): every array must be equal.

    Tolerance: none (integer-only kernels, :mod:`ftth.jit`).  This also catches int64
    overflow that only the compiled kernels would wrap, and a stale numba cache: the compiled
    loop's cache is keyed on ``compiled.py`` only, so after an edit of ``onu/fifo.py`` it can
    keep running the old framing kernel while the pure-Python path runs the new one.
    """
    dumps = {path: _dump(tmp_path, path) for path in KERNEL_PATHS}
    backends = {path: str(d.pop("backend")) for path, d in dumps.items()}
    assert backends == {
        "python": "python", "numba-stepped": "numba", "numba-compiled": "numba-compiled-loop"
    }  # fmt: skip
    py = dumps["python"]
    assert sum(len(v) for k, v in py.items() if k.endswith(".upstream.q")) > 1000
    for path in ("numba-stepped", "numba-compiled"):
        other = dumps[path]
        assert set(other) == set(py)
        for key in sorted(py):
            assert py[key].dtype == other[key].dtype, (path, key)
            np.testing.assert_array_equal(py[key], other[key], err_msg=f"{path}: {key}")


def test_greedy_queue_with_tiny_buffer() -> None:
    """A greedy queue with a buffer smaller than one frame: both engines must still agree."""
    kwargs = dict(technology="gpon", onus=1, frames=8, buffer_bytes=1,
                  up=("greedy", {"size_bytes": 64}), down=("greedy", {"size_bytes": 64}),
                  dba="static")  # fmt: skip
    fast = run_spec(make_spec(**kwargs), "fast")
    assert total(fast, "upstream", "delivered_packets") > 0
    assert_identical(fast, run_spec(make_spec(**kwargs), "reference"))
