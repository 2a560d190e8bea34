"""Deliberately broken frame DBAs for the report card's tests: each wraps ``sr-dba`` (which
passes the whole battery) and breaks one rule, so the card must fail exactly the criteria
that rule governs.  Registered through the registry's test hook (:func:`registered`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from olt.dba import registry
from olt.dba.base import I64, Dba, DbaContext, Reports


class _WrapsSrDba(Dba):
    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        self.inner = registry.get_dba("sr-dba")(ctx, params)

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        g = np.asarray(self.inner.allocate(now_ps, reports), dtype=np.int64)
        rows = np.atleast_2d(g).copy()
        for k in range(rows.shape[0]):  # every frame of a multi-frame cycle
            rows[k] = self.alter(rows[k], reports)
        return rows[0] if g.ndim == 1 else rows

    def alter(self, g: I64, reports: Reports) -> I64:
        raise NotImplementedError

    def units_form(self, x: I64) -> I64:
        """Largest grants ≤ ``x`` whose payload + DBRu fill whole grant units."""
        unit, dbru = self.ctx.grant_unit_bytes, self.ctx.profile.dbru_bytes
        g = ((x + dbru) // unit) * unit - dbru
        return np.where((x > 0) & (g > 0), g, 0).astype(np.int64)


class OverMaxDba(_WrapsSrDba):
    """Gives capped T-CONTs (R_M below the line) half a ceiling more than sr-dba when the
    frame has room: exceeds R_M, breaks nothing else."""

    name = "test-over-max"

    def alter(self, g: I64, reports: Reports) -> I64:
        ctx = self.ctx
        capped = (ctx.tconts.max_bps > 0) & (ctx.tconts.max_bps < ctx.profile.upstream_bps)
        extra = np.floor(ctx.ceiling_bytes_per_frame / 2).astype(np.int64)
        for j in np.flatnonzero(capped & (reports.demand_bytes > g)):
            trial = g.copy()
            trial[j] = self.units_form(np.array([g[j] + extra[j]]))[0]
            if trial.sum() <= ctx.payload_capacity((trial > 0) | reports.poll_mask):
                g = trial
        return g


class StarveType2Dba(_WrapsSrDba):
    """Never grants a type-2 T-CONT anything: starves the assured class."""

    name = "test-starve-type2"

    def alter(self, g: I64, reports: Reports) -> I64:
        g[self.ctx.tconts.tcont_type == 2] = 0
        return g


class WastefulDba(_WrapsSrDba):
    """Serves best effort (type 4) from at most 60 % of the frame's payload, leaving the rest
    idle while there is demand: not work-conserving."""

    name = "test-wasteful"

    def alter(self, g: I64, reports: Reports) -> I64:
        ctx = self.ctx
        be = ctx.tconts.tcont_type == 4
        budget = int(0.6 * ctx.payload_capacity((g > 0) | reports.poll_mask))
        room = budget - int(g[~be].sum())
        total_be = int(g[be].sum())
        if total_be > max(room, 0):
            scaled = g[be] * max(room, 0) // max(total_be, 1)
            g[be] = self.units_form(scaled)
        return g


class RuleBreakerDba(Dba):
    """Grants every T-CONT a whole frame: the BWmap builder refuses the first frame."""

    name = "test-rule-breaker"

    def allocate(self, now_ps: int, reports: Reports) -> I64:
        return np.full(self.ctx.tconts.count, self.ctx.frame_line_bytes, dtype=np.int64)


BROKEN = (OverMaxDba, StarveType2Dba, WastefulDba, RuleBreakerDba)


@contextmanager
def registered(*classes: type[Any]) -> Iterator[None]:
    """Register test DBAs for the duration of a block (the registry's test hook)."""
    registry.list_dbas()  # load the built-ins and plugins first
    for cls in classes:
        registry._REGISTRY[cls.name] = cls
    try:
        yield
    finally:
        for cls in classes:
            registry._REGISTRY.pop(cls.name, None)
