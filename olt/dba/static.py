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
from olt.dba.base import I64, Dba, DbaContext, Reports
from olt.dba.registry import register


@register
class StaticDba(Dba):
    name = "static"
    uses_reports = False
    #: Compiled twin in :mod:`ftth.emulator.compiled`.
    compiled_kind = 1
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
        self._grants: I64 = grants

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        return self._grants.copy()
