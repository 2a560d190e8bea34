"""``static``: fixed, equal TDMA — every ONU the same slice of every upstream frame.

The baseline every DBA is compared with, and the saturation oracle's allocation: the frame's
grant units are dealt out equally among ONUs (:func:`ftth.phy.equal_share_bursts`, the same
arithmetic as :func:`ftth.phy.saturation_goodput_bps`), and an ONU's slice is split equally
among its T-CONTs.  It ignores reports, so the OLT asks for no DBRu.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ftth.errors import InputError
from ftth.phy import equal_share_bursts
from olt.dba import kernel as dk
from olt.dba.base import I64, DbaContext, KernelDba
from olt.dba.registry import register


@dk.dba_kernel
def static_kernel(
    ctx: I64, tcont_i: I64, tcont_f: dk.F64, reports: I64, state_i: I64, state_f: dk.F64,
    grants: I64,
) -> int:  # fmt: skip
    """The same precomputed grants (``state_i``) in every frame."""
    for f in range(grants.shape[0]):
        for j in range(grants.shape[1]):
            grants[f, j] = state_i[j]
    return 0


@register
class StaticDba(KernelDba):
    name = "static"
    uses_reports = False
    kernel = static_kernel
    summary = "fixed equal TDMA slices, no reports (baseline)"

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        if params:
            key = sorted(params)[0]
            raise InputError(f"dba.params.{key}", "'static' takes no parameters")
        unit = ctx.grant_unit_bytes
        per_onu = equal_share_bursts(ctx.profile, ctx.n_onus, ctx.fec)
        onu_of = ctx.tconts.onu_index
        grants = np.zeros(ctx.tconts.count, dtype=np.int64)
        for onu in range(ctx.n_onus):
            members = np.flatnonzero(onu_of == onu)
            if len(members) == 0:
                continue
            units = per_onu[onu] // unit
            share, extra = divmod(units, len(members))
            grants[members] = share * unit
            grants[members[:extra]] += unit
        self.state_i = grants
