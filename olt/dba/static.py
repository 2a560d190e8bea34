"""``static``: fixed, equal TDMA — every ONU the same slice of every upstream frame.

The baseline every DBA is compared with, and the saturation oracle's allocation: the frame's
grant units are dealt out equally among ONUs (:func:`ftth.phy.equal_share_bursts`, the same
arithmetic as :func:`ftth.phy.saturation_goodput_bps`), and an ONU's slice is split equally
among its T-CONTs.  It ignores reports, so the OLT asks for no DBRu.  A T-CONT whose type
ceiling (R_M, or R_F + R_A) is below its slice gets its ceiling instead, in whole grant units
from a credit it earns every frame: static TDMA never grants beyond what was provisioned.
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
    """The precomputed slice (``state_i``) every frame, within the T-CONT's ceiling.

    A T-CONT whose ceiling is below its slice earns its ceiling in credit every frame
    (``state_f``, bytes, banking at most one slice plus one unit) and is granted the whole
    grant units the credit holds; a T-CONT with a higher ceiling gets its slice every frame.
    """
    unit = ctx[dk.C_UNIT]
    for f in range(grants.shape[0]):
        for j in range(grants.shape[1]):
            ceiling = tcont_f[dk.TF_CEILING, j]
            if ceiling >= state_i[j]:
                grants[f, j] = state_i[j]
                continue
            credit = state_f[j] + ceiling
            cap = float(state_i[j] + unit)
            credit = credit if credit < cap else cap
            g = int(credit // unit) * unit
            if g > state_i[j]:
                g = state_i[j]
            grants[f, j] = g
            state_f[j] = credit - g
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
        self.state_f = np.zeros(ctx.tconts.count, dtype=np.float64)
