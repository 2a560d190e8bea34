"""Hand-built emulation specs for engine tests (no scenario file needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ftth.emulator.spec import EmulationSpec, QueueSpec
from ftth.phy import get_profile
from ftth.topology import default_teqd_ps
from ftth.traffic import make_source
from ftth.units import FRAME_PS, km_to_one_way_ps
from olt.dba.base import TcontTable


def source(model: str, params: Mapping[str, Any], seed: int, line_rate_bps: float) -> Any:
    def make() -> Any:
        rng = np.random.default_rng(seed)
        return make_source(model, dict(params), rng, line_rate_bps=line_rate_bps)

    return make


def make_spec(
    technology: str = "xgs-pon",
    onus: int = 4,
    frames: int = 80,
    up: tuple[str, Mapping[str, Any]] | None = (
        "poisson",
        {"rate_bps": 200e6, "sizes": "trimodal"},
    ),
    down: tuple[str, Mapping[str, Any]] | None = (
        "poisson",
        {"rate_bps": 200e6, "sizes": "trimodal"},
    ),
    dba: str = "proportional",
    dba_params: Mapping[str, Any] | None = None,
    buffer_bytes: int = 1_000_000,
    tconts_per_onu: int = 1,
    fec: bool | None = None,
    seed: int = 1,
    distance_km: tuple[float, float] = (1.0, 15.0),
    record: bool = True,
    cycle_frames: int = 1,
    dbru_every_frames: int = 1,
    max_bps: float | None = None,
    warmup_frames: int = 0,
) -> EmulationSpec:
    p = get_profile(technology)
    distances = list(np.linspace(distance_km[0], distance_km[1], onus))
    one_way = np.array([km_to_one_way_ps(d) for d in distances], dtype=np.int64)
    n_t = onus * tconts_per_onu
    onu_index = np.repeat(np.arange(onus), tconts_per_onu).astype(np.int64)
    m = p.upstream_bps if max_bps is None else max_bps
    table = TcontTable(
        onu_index=onu_index,
        alloc_id=(p.min_assignable_alloc_id + np.arange(n_t)).astype(np.int64),
        tcont_type=np.full(n_t, 4, dtype=np.int64),
        fixed_bps=np.zeros(n_t),
        assured_bps=np.zeros(n_t),
        max_bps=np.full(n_t, m, dtype=float),
        priority=np.zeros(n_t, dtype=np.int64),
        weight=np.ones(n_t),
    )
    upq = []
    for j in range(n_t):
        q = QueueSpec(
            onu_index=int(onu_index[j]),
            name=f"t{j % tconts_per_onu}",
            priority=0,
            buffer_bytes=buffer_bytes,
            tcont_type=4,
        )
        if up is not None:
            if up[0] == "greedy" and "rate_bps" not in up[1]:
                q.greedy_size_bytes = int(up[1].get("size_bytes", 1518))
            else:
                q.sources.append(source(up[0], up[1], seed * 1000 + j, p.upstream_bps))
        upq.append(q)
    downq = []
    for i in range(onus):
        q = QueueSpec(onu_index=i, name="internet", priority=0, buffer_bytes=buffer_bytes)
        if down is not None:
            if down[0] == "greedy" and "rate_bps" not in down[1]:
                q.greedy_size_bytes = int(down[1].get("size_bytes", 1518))
            else:
                q.sources.append(source(down[0], down[1], seed * 1000 + 500 + i, p.downstream_bps))
        downq.append(q)
    return EmulationSpec(
        name="test",
        profile=p,
        us_fec=p.fec("upstream", fec),
        ds_fec=p.fec("downstream", None if fec is False and p.ds_fec_mandatory else fec),
        duration_ps=frames * FRAME_PS,
        warmup_ps=warmup_frames * FRAME_PS,
        seed=seed,
        onu_ids=list(range(1, onus + 1)),
        one_way_ps=one_way,
        distance_km=distances,
        teqd_ps=default_teqd_ps(p),
        tconts=table,
        upstream=upq,
        downstream=downq,
        dba_name=dba,
        dba_params=dict(dba_params or {}),
        cycle_frames=cycle_frames,
        dbru_every_frames=dbru_every_frames,
        window_ps=10 * 10**9,
        record_packets=record,
    )
