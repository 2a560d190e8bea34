"""The compiled form of an EPON polling DBA: one window-sizing kernel every engine calls.

An EPON OLT (IEEE 802.3ah/av MPCP) has no 125 µs frame: when ONU *i*'s REPORT reaches it,
the OLT decides how many bytes the ONU's next window carries.  A polling DBA written as a
kernel here runs inside the compiled EPON upstream loop (:func:`ftth.emulator.epon.run_windows`)
and, through :meth:`KernelEponDba.window_bytes`, in the reference path too — one
implementation, so the two cannot drift apart.  It mirrors the frame-DBA hook of
:mod:`olt.dba.kernel` (same :class:`~olt.dba.kernel.DbaKernel` machinery, another signature).

The kernel's signature (:func:`window_kernel_signature`)::

    window_bytes = window(ctx, onu, reported, state_i, state_f)

``ctx`` : ``int64[::1]``
    Run constants and the current time, indexed by the ``E_*`` constants below.
``onu`` : ``int64``
    The ONU (0-based) whose window is sized.
``reported`` : ``int64``
    Its last REPORT: bytes queued (Ethernet frames with preamble and IFG), rounded up to
    the report unit; 0 before its first REPORT.
``state_i``, ``state_f`` : ``int64[::1]``, ``float64[::1]``
    The DBA's own parameters and state, laid out as it likes; updated in place.
returns ``int64``
    Bytes (on the wire) the ONU may send in the window, ≥ 0; :data:`UNLIMITED_BYTES` for
    "until its queues are empty" (exhaustive service).  A negative value is an error code
    (the run stops with a :class:`ftth.errors.DbaError` worded by
    :meth:`KernelEponDba.error_text`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ftth.jit import kernel
from ftth.phy import UNLIMITED_BYTES
from olt.dba.base import DbaContext, EponDba
from olt.dba.kernel import DbaKernel

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# A window with no byte limit (the ONU sends until its queues are empty) is
# ftth.phy.UNLIMITED_BYTES, re-exported here for the polling kernels.

# ``ctx`` vector.
(
    E_NOW_PS,  #: when the OLT sizes the window (the REPORT's arrival, or the window start
    #: when the REPORT opens the window)
    E_N_ONUS,
    E_REPORT_UNIT,  #: granularity of a REPORT value, bytes
    E_BYTE_PS,  #: upstream line time of one byte
    E_REPORT_BYTES,  #: REPORT on the wire (MPCPDU + preamble + IFG)
    E_GUARD_PS,  #: guard time between two windows
    E_N,
) = range(7)


def window_kernel_signature() -> Any:
    """The numba signature every EPON window kernel has (built lazily: numba is optional)."""
    from numba import types

    i1 = types.int64[::1]
    return types.int64(i1, types.int64, types.int64, i1, types.float64[::1])


WindowKernelFn = Callable[[I64, int, int, I64, F64], int]


class WindowKernel(DbaKernel):
    """An EPON DBA's window function, compiled on first use (see :class:`DbaKernel`)."""

    def __init__(self, func: WindowKernelFn) -> None:
        super().__init__(func, window_kernel_signature)

    def __call__(  # type: ignore[override]
        self, ctx: I64, onu: int, reported: int, state_i: I64, state_f: F64
    ) -> int:
        return int(call_window_kernel(self.loop_callable, ctx, onu, reported, state_i, state_f))


@kernel
def call_window_kernel(
    fn: Any, ctx: I64, onu: int, reported: int, state_i: I64, state_f: F64
) -> int:
    """Call a window kernel from Python (compiled once for every kernel of the signature)."""
    return fn(ctx, onu, reported, state_i, state_f)


def window_kernel(func: WindowKernelFn) -> WindowKernel:
    """Decorator: declare ``func`` an EPON window kernel (signature in the module docstring)."""
    return WindowKernel(func)


class KernelEponDba(EponDba):
    """Base of an EPON polling DBA written as a window kernel: runs at compiled speed inside
    the EPON engine's upstream loop, and the same function serves the reference path.

    Subclasses set :attr:`kernel` to a :func:`window_kernel` function and, in ``__init__``,
    fill :attr:`state_i` / :attr:`state_f` with the parameters and whatever the kernel keeps
    between windows.  :meth:`window_bytes` is implemented here.  The engine flags
    (:attr:`report_first`, :attr:`rtt_zero`, :attr:`exhaustive`, :attr:`guard_ps`) stay
    plain attributes: they shape the polling loop, not the window size.
    """

    #: The DBA's window function (a :class:`WindowKernel`).
    kernel: ClassVar[Any] = None

    def __init__(self, ctx: DbaContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx, params)
        self.state_i: I64 = np.zeros(1, dtype=np.int64)
        self.state_f: F64 = np.zeros(1, dtype=np.float64)

    def kernel_ctx(self) -> I64:
        """The ``ctx`` vector the kernel receives (:data:`E_NOW_PS` set per call)."""
        p = self.ctx.profile
        v = np.zeros(E_N, dtype=np.int64)
        v[E_N_ONUS] = self.ctx.n_onus
        v[E_REPORT_UNIT] = p.report_unit_bytes
        v[E_BYTE_PS] = 8 * 10**12 // p.upstream_bps
        v[E_REPORT_BYTES] = p.mpcp_report_bytes + p.ethernet_overhead_bytes
        v[E_GUARD_PS] = self.guard_ps
        return v

    def error_text(self, code: int) -> str:
        """Words for a negative value returned by the kernel (override to explain yours)."""
        return f"the EPON DBA kernel returned error code {code}"

    def window_bytes(self, onu: int, reported_bytes: int, now_ps: int = 0, window: int = 0) -> int:
        """Bytes ONU ``onu`` may send in its next window (the kernel's answer).

        ``now_ps`` is when the OLT sizes the window (the kernel sees it as
        ``ctx[E_NOW_PS]``), ``window`` its index in the run (for error messages).  A
        negative answer stops the run with a :class:`ftth.errors.DbaError`.
        """
        ctx = self._ctx_vector
        ctx[E_NOW_PS] = now_ps
        value = self.kernel(ctx, int(onu), int(reported_bytes), self.state_i, self.state_f)
        if value < 0:
            raise self.window_error(int(window), int(onu), int(now_ps), int(value))
        return int(value)

    def window_error(self, window: int, onu: int, now_ps: int, code: int) -> Exception:
        """The :class:`ftth.errors.DbaError` for a negative kernel answer (both engines)."""
        from ftth.errors import DbaError

        return DbaError(self.name, window, f"ONU {onu} at t = {now_ps} ps: {self.error_text(code)}")

    @property
    def _ctx_vector(self) -> I64:
        cached: I64 | None = self.__dict__.get("_ctx_cache")
        if cached is None:
            cached = self.kernel_ctx()
            self.__dict__["_ctx_cache"] = cached
        return cached


__all__ = [
    "UNLIMITED_BYTES",
    "KernelEponDba",
    "WindowKernel",
    "window_kernel",
    "window_kernel_signature",
]
