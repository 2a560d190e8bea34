"""``polling``: the textbook symmetric polling system — the queueing-theory oracle.

Each ONU's window **starts with its REPORT** and, with zero round trip, is sized on the spot:
``gated`` sends exactly what was queued at the REPORT instant; ``exhaustive`` keeps sending
until the queue is empty, including frames that arrive meanwhile.  ONUs are visited cyclically
with a fixed walk time per ONU (guard + REPORT).  This is the system Takagi (1986) solved, so
its mean waiting time and cycle time can be checked against closed formulas
(pon-reference §6); it exists to validate the polling core, not as a product DBA.

Parameters (``[dba.params]``): ``service`` (``gated`` default, or ``exhaustive``),
``guard_us`` (walk time part; the oracle uses 5 µs), ``zero_rtt`` (default true).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ftth.errors import InputError
from olt.dba.base import DbaContext, EponDba
from olt.dba.params import read_param
from olt.dba.registry import register


@register
class PollingDba(EponDba):
    name = "polling"
    summary = "textbook gated/exhaustive polling with zero RTT (validation oracle, EPON)"
    report_first: ClassVar[bool] = True
    param_names: ClassVar[tuple[str, ...]] = ("service", "zero_rtt")

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        service = str(params.get("service", "gated"))
        if service not in ("gated", "exhaustive"):
            raise InputError(
                "dba.params.service", f"must be 'gated' or 'exhaustive', got {service!r}"
            )
        self.exhaustive = service == "exhaustive"
        self.rtt_zero = read_param("zero_rtt", params.get("zero_rtt", True), "bool", None, None)

    def window_bytes(self, onu: int, reported_bytes: int) -> int:
        return reported_bytes
