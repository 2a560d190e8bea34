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
``constant-credit`` min(R + credit_bytes, W) (0 when R = 0)
``linear-credit``   min(⌊R × (1 + credit_ratio)⌋, W)
=================== ==========================================

Parameters (``[dba.params]``): ``service`` (default ``limited``), ``w_max_bytes`` (default
15 000, the paper's value for 16 ONUs at 1 Gb/s: a 2 ms maximum cycle), ``credit_bytes``
(default 1 538, one maximum frame on the wire), ``credit_ratio`` (default 0.1), ``guard_us``.
Credits anticipate frames that arrive between the REPORT and the window.

The window size is a kernel (:mod:`olt.dba.epon_kernel`) over this state:

``state_i``: ``[service, w_max_bytes, credit_bytes]`` (service = index in :data:`SERVICES`)
``state_f``: ``[credit_ratio]``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ftth.errors import InputError
from olt.dba import epon_kernel as ek
from olt.dba.base import DbaContext
from olt.dba.params import read_param
from olt.dba.registry import register

SERVICES = ("fixed", "limited", "gated", "constant-credit", "linear-credit")
FIXED, LIMITED, GATED, CONSTANT_CREDIT, LINEAR_CREDIT = range(5)
# ``state_i`` / ``state_f`` layout.
S_SERVICE, S_W_MAX, S_CREDIT, S_N = range(4)
SF_RATIO, SF_N = range(2)


@ek.window_kernel
def ipact_kernel(ctx: ek.I64, onu: int, reported: int, state_i: ek.I64, state_f: ek.F64) -> int:
    """IPACT's window for a REPORT of ``reported`` bytes (the services of the module doc)."""
    service = state_i[S_SERVICE]
    r = reported
    w = state_i[S_W_MAX]
    if service == FIXED:
        return w
    if service == LIMITED:
        return r if r < w else w
    if service == GATED:
        return r
    if service == CONSTANT_CREDIT:
        if r <= 0:
            return 0
        c = r + state_i[S_CREDIT]
        return c if c < w else w
    # Linear credit: int() truncates the non-negative float, in Python and in numba alike.
    c = int(r * (1.0 + state_f[SF_RATIO]))
    return c if c < w else w


@register
class IpactDba(ek.KernelEponDba):
    name = "ipact"
    summary = "EPON interleaved polling (fixed / limited / gated / constant- / linear-credit)"
    kernel = ipact_kernel
    param_names: ClassVar[tuple[str, ...]] = (
        "service",
        "w_max_bytes",
        "credit_bytes",
        "credit_ratio",
    )

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        service = str(params.get("service", "limited"))
        if service not in SERVICES:
            raise InputError(
                "dba.params.service",
                f"unknown IPACT service {service!r}; valid: {', '.join(SERVICES)}",
            )
        w_max_bytes: int = read_param(
            "w_max_bytes", params.get("w_max_bytes", 15_000), "int", 84, 10_000_000
        )
        credit_bytes: int = read_param(
            "credit_bytes", params.get("credit_bytes", 1_538), "int", 0, 10_000_000
        )
        credit_ratio: float = read_param(
            "credit_ratio", params.get("credit_ratio", 0.1), "float", 0, 10
        )
        self.state_i = np.zeros(S_N, dtype=np.int64)
        self.state_i[S_SERVICE] = SERVICES.index(service)
        self.state_i[S_W_MAX] = w_max_bytes
        self.state_i[S_CREDIT] = credit_bytes
        self.state_f = np.zeros(SF_N, dtype=np.float64)
        self.state_f[SF_RATIO] = credit_ratio

    @property
    def service(self) -> str:
        """The service discipline (read-only view of the kernel state)."""
        return SERVICES[int(self.state_i[S_SERVICE])]

    @property
    def w_max_bytes(self) -> int:
        """Maximum window W, bytes on the wire."""
        return int(self.state_i[S_W_MAX])

    @property
    def credit_bytes(self) -> int:
        """Constant credit added to the report (``constant-credit``)."""
        return int(self.state_i[S_CREDIT])

    @property
    def credit_ratio(self) -> float:
        """Linear credit ratio (``linear-credit``)."""
        return float(self.state_f[SF_RATIO])
