"""``ipact``: Interleaved Polling with Adaptive Cycle Time (Kramer, Mukherjee, Pesavento 2002).

The OLT polls ONUs in a round-robin that adapts to load: when ONU *i*'s REPORT arrives, the
OLT grants its next window at once and schedules it right after the last window already
granted (plus the guard time), but never earlier than one round trip after the GATE leaves —
so windows of different ONUs interleave and the upstream is idle only for guards (or when the
round trip dominates at light load).  The ONU sends whole frames, then its REPORT.

Services (``service``), with R the reported bytes and W the maximum window:

=================== ==========================================
``fixed``           W every poll, whatever was reported
``limited``         min(R, W) — the usual choice
``gated``           R (no limit: a heavy ONU lengthens the cycle)
``constant-credit`` min(R + credit_bytes, W)
``linear-credit``   min(R × (1 + credit_ratio), W)
=================== ==========================================

Parameters (``[dba.params]``): ``service`` (default ``limited``), ``w_max_bytes`` (default
15 000, the paper's value for 16 ONUs at 1 Gb/s: a 2 ms maximum cycle), ``credit_bytes``
(default 1 538, one maximum frame on the wire), ``credit_ratio`` (default 0.1), ``guard_us``.
Credits anticipate frames that arrive between the REPORT and the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ftth.errors import InputError
from olt.dba.base import DbaContext, EponDba
from olt.dba.params import read_param
from olt.dba.registry import register

SERVICES = ("fixed", "limited", "gated", "constant-credit", "linear-credit")


@register
class IpactDba(EponDba):
    name = "ipact"
    summary = "EPON interleaved polling (fixed / limited / gated / constant- / linear-credit)"
    param_names: ClassVar[tuple[str, ...]] = (
        "service",
        "w_max_bytes",
        "credit_bytes",
        "credit_ratio",
    )

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        self.service = str(params.get("service", "limited"))
        if self.service not in SERVICES:
            raise InputError(
                "dba.params.service",
                f"unknown IPACT service {self.service!r}; valid: {', '.join(SERVICES)}",
            )
        self.w_max_bytes: int = read_param(
            "w_max_bytes", params.get("w_max_bytes", 15_000), "int", 84, 10_000_000
        )
        self.credit_bytes: int = read_param(
            "credit_bytes", params.get("credit_bytes", 1_538), "int", 0, 10_000_000
        )
        self.credit_ratio: float = read_param(
            "credit_ratio", params.get("credit_ratio", 0.1), "float", 0, 10
        )

    def window_bytes(self, onu: int, reported_bytes: int) -> int:
        r, w = reported_bytes, self.w_max_bytes
        if self.service == "fixed":
            return w
        if self.service == "limited":
            return min(r, w)
        if self.service == "gated":
            return r
        if self.service == "constant-credit":
            return min(r + self.credit_bytes, w) if r > 0 else 0
        return min(int(r * (1 + self.credit_ratio)), w)
