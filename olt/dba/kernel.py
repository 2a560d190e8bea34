"""The compiled form of a DBA: one kernel function over arrays that every engine calls.

A frame DBA written as a kernel runs at compiled speed inside the fast engine's frame loop
(:mod:`ftth.emulator.compiled`), and the very same function serves the stepped and the
reference engines through :meth:`olt.dba.base.KernelDba.allocate` — one implementation, so
the engines cannot drift apart.  Built-in DBAs and plugins use the same hook.

The kernel's signature (:func:`dba_kernel_signature`)::

    status = allocate(ctx, tcont_i, tcont_f, reports, state_i, state_f, grants)

``ctx`` : ``int64[::1]``
    Frame arithmetic and the current frame, indexed by the ``C_*`` constants below.
``tcont_i`` : ``int64[:, ::1]``, shape ``(TI_N, n)``
    Provisioned integers per T-CONT: ONU index, Alloc-ID, T-CONT type, priority.
``tcont_f`` : ``float64[:, ::1]``, shape ``(TF_N, n)``
    Provisioned R_F, R_A, R_M in payload bytes per frame, the weight, and the T-CONT's
    ceiling (:func:`ceiling_bytes_per_frame`: the type rules, one place).
``reports`` : ``int64[:, ::1]``, shape ``(R_N, n)``
    What the OLT knows (:class:`olt.dba.base.Reports`): last DBRu, its age (−1: never),
    payload granted since, unserved demand, idle and granted bytes of the last burst, and
    1 where the OLT polls the T-CONT this cycle.
``state_i``, ``state_f`` : ``int64[::1]``, ``float64[::1]``
    The DBA's own state, laid out as it likes; updated in place, kept between cycles.
``grants`` : ``int64[:, ::1]``, shape ``(cycle_frames, n)``
    Output, zeroed by the caller: payload bytes per frame of the cycle and T-CONT.
returns ``int64``
    0, or a DBA-defined error code (the run stops with a :class:`ftth.errors.DbaError`).

Helpers every kernel may call (:func:`payload_capacity`, :func:`limit_allocations`, …) are
``inline_kernel`` functions here, and :class:`olt.dba.base.DbaContext` calls the same ones,
so a capacity or a ceiling is computed in one place for Python and compiled DBAs alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ftth.jit import inline_kernel, kernel, typed_kernel
from onu.fifo import div_floor

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

# ``ctx`` vector.
(
    C_FRAME,  #: index of the upstream frame the grants are for (first frame of the cycle)
    C_NOW_PS,  #: when the DBA runs (t_k)
    C_FRAME_PS,
    C_CYCLE,  #: frames per DBA cycle
    C_UNIT,  #: grant unit, bytes (G.987.3 §8.1.1: 4-byte words; GPON 1 byte)
    C_US_BPF,  #: upstream line bytes per frame
    C_PSBU_SLOT,  #: burst preamble+delimiter slot, rounded up to the unit
    C_US_HDR,  #: TC header bytes per burst
    C_US_TRL,  #: TC trailer bytes per burst
    C_DBRU,  #: DBRu bytes per allocation (0 when the DBA reads no reports)
    C_MAX_ALLOCS,  #: allocation structures per frame
    C_FEC_N,  #: upstream FEC codeword bytes (0: no FEC)
    C_FEC_K,  #: upstream FEC data bytes per codeword
    C_N_ONUS,
    C_MIN_FRAME,  #: smallest GEM/XGEM frame (header + minimum payload)
    C_MIN_USEFUL,  #: smallest payload room that can carry anything
    C_MTU_GRANT,  #: payload room of one encapsulated 1518-byte frame plus DBRu, whole units
    C_MAX_GRANT_UNITS,  #: GrantSize field limit, units
    C_MAX_START_UNITS,  #: StartTime field limit, units
    C_N,
) = range(20)

# ``tcont_i`` rows.
TI_ONU, TI_ALLOC_ID, TI_TYPE, TI_PRIORITY, TI_N = range(5)
# ``tcont_f`` rows (payload bytes per frame, except the weight).
TF_FIXED, TF_ASSURED, TF_MAX, TF_WEIGHT, TF_CEILING, TF_N = range(6)
# ``reports`` rows.
R_REPORT, R_AGE_PS, R_SINCE, R_DEMAND, R_IDLE, R_GRANTED_LAST, R_POLL, R_N = range(8)


def dba_kernel_signature() -> Any:
    """The numba signature every DBA kernel has (built lazily: numba is optional)."""
    from numba import types

    i1, i2 = types.int64[::1], types.int64[:, ::1]
    return types.int64(i1, i2, types.float64[:, ::1], i2, i1, types.float64[::1], i2)


DbaKernelFn = Callable[[I64, I64, F64, I64, I64, F64, I64], int]


class DbaKernel:
    """A DBA's allocate function over arrays, compiled on first use.

    With numba it is compiled once, as a first-class function: the compiled frame loop
    takes it as an argument (and is itself compiled and cached once for every DBA), and
    Python calls it through :func:`call_dba_kernel`, a compiled trampoline of the same kind.
    Without numba it is the Python function itself.

    Use it as a decorator on a module-level function with the kernel signature, and set the
    result as the ``kernel`` class attribute of a :class:`olt.dba.base.KernelDba`.

    ``signature`` builds the numba signature; the default is the frame DBA's
    (:func:`dba_kernel_signature`).  Other kernel families (the EPON window kernels of
    :mod:`olt.dba.epon_kernel`) pass theirs and override :meth:`__call__` with a trampoline
    of their signature.
    """

    def __init__(
        self, func: Callable[..., int], signature: Callable[[], Any] | None = None
    ) -> None:
        self.func = func
        self.__name__ = getattr(func, "__name__", "dba_kernel")
        self.__doc__ = func.__doc__
        self._signature = signature if signature is not None else dba_kernel_signature
        self._c: Any = None

    @property
    def loop_callable(self) -> Any:
        """The kernel as a first-class function (the Python function without numba)."""
        if self._c is None:
            self._c = typed_kernel(self.func, self._signature, c_callable=True)
        return self._c

    def __call__(
        self, ctx: I64, tcont_i: I64, tcont_f: F64, reports: I64, state_i: I64, state_f: F64,
        grants: I64,
    ) -> int:  # fmt: skip
        return int(
            call_dba_kernel(
                self.loop_callable, ctx, tcont_i, tcont_f, reports, state_i, state_f, grants
            )
        )


@kernel
def call_dba_kernel(
    fn: Any, ctx: I64, tcont_i: I64, tcont_f: F64, reports: I64, state_i: I64, state_f: F64,
    grants: I64,
) -> int:  # fmt: skip
    """Call a DBA kernel from Python (compiled once for every kernel of the signature)."""
    return fn(ctx, tcont_i, tcont_f, reports, state_i, state_f, grants)


def dba_kernel(func: DbaKernelFn) -> DbaKernel:
    """Decorator: declare ``func`` a DBA kernel (see the module docstring for the signature)."""
    return DbaKernel(func)


# ------------------------------------------------------------------------ shared rules
@inline_kernel
def ceil_div(x: int, b: int) -> int:
    """``ceil(x / b)`` for ``b > 0`` and any sign of ``x``."""
    return -((-x) // b)


@inline_kernel
def payload_capacity(allocated: B, onu_of: I64, ctx: I64) -> int:
    """Payload bytes one frame can grant when the T-CONTs in ``allocated`` get allocations.

    Conservative by at most one grant unit per allocation and burst, so any grants that sum
    to this (per frame) always fit the BWmap: each burst is charged its PSBu slot, TC header
    and trailer, one unit of alignment slack and one FEC rounding byte, and each allocation
    a DBRu (if the DBA uses reports) and one unit of rounding.
    """
    seen = np.zeros(ctx[C_N_ONUS], dtype=np.bool_)
    n_allocs, n_bursts = count_allocations(allocated, onu_of, seen)
    return capacity_for(n_allocs, n_bursts, ctx)


@inline_kernel
def count_allocations(allocated: B, onu_of: I64, seen: B) -> tuple[int, int]:
    """Allocation structures and bursts (distinct ONUs) of the T-CONTs in ``allocated``;
    ``seen`` (one flag per ONU, all False on entry) is left marking the ONUs counted."""
    n_allocs = 0
    n_bursts = 0
    for j in range(allocated.shape[0]):
        if allocated[j]:
            n_allocs += 1
            if not seen[onu_of[j]]:
                seen[onu_of[j]] = True
                n_bursts += 1
    return n_allocs, n_bursts


@inline_kernel
def capacity_for(n_allocs: int, n_bursts: int, ctx: I64) -> int:
    """:func:`payload_capacity` for a count of allocations and bursts (0 if none)."""
    if n_allocs <= 0:
        return 0
    unit = ctx[C_UNIT]
    line = ctx[C_US_BPF] - n_bursts * (ctx[C_PSBU_SLOT] + unit + 1)
    data = line * ctx[C_FEC_K] // ctx[C_FEC_N] if ctx[C_FEC_N] > 0 else line
    data -= n_bursts * (ctx[C_US_HDR] + ctx[C_US_TRL])
    data -= n_allocs * (unit + ctx[C_DBRU])
    return data if data > 0 else 0


@inline_kernel
def limit_allocations(grants: I64, poll: I64, ctx: I64) -> None:
    """Drop the smallest grants (ties: the higher index first), in place, so that grants
    plus polls fit the frame's allocation structures (512 in XG(S)-PON, G.987.3 §8.1.1).
    Dropped T-CONTs keep their demand and are served in a later frame."""
    n = grants.shape[0]
    limit = ctx[C_MAX_ALLOCS]
    n_want = 0
    n_poll = 0
    n_c = 0
    for j in range(n):
        if grants[j] > 0 or poll[j] != 0:
            n_want += 1
        if poll[j] != 0:
            n_poll += 1
        elif grants[j] > 0:
            n_c += 1
    if n_want <= limit:
        return
    room = limit - n_poll
    if room <= 0:
        for j in range(n):
            if poll[j] == 0:
                grants[j] = 0
        return
    # Keep the ``room`` largest grants, ties to the lower index: the keys (-grant, index)
    # are unique, so the room-th smallest key (a linear-time selection) splits the set.
    keys = np.empty(n_c, dtype=np.int64)
    c = 0
    for j in range(n):
        if grants[j] > 0 and poll[j] == 0:
            keys[c] = -grants[j] * n + j
            c += 1
    kth = np.partition(keys, room - 1)[room - 1]
    for j in range(n):
        if grants[j] > 0 and poll[j] == 0 and -grants[j] * n + j > kth:
            grants[j] = 0


@inline_kernel
def fdiv(x: int, b: int, inv_b: float) -> int:
    """``x // b`` through the reciprocal of a run constant ``b > 0`` (exact; any sign)."""
    if x >= 0:
        return div_floor(x, b, inv_b)
    return x // b


@inline_kernel
def cdiv(x: int, b: int, inv_b: float) -> int:
    """``ceil(x / b)`` through the reciprocal of a run constant ``b > 0`` (exact; any sign)."""
    if x >= 0:
        return div_floor(x + b - 1, b, inv_b)
    return -div_floor(-x, b, inv_b)


def ceiling_bytes_per_frame(fixed: F64, assured: F64, maximum: F64) -> F64:
    """Most a T-CONT may be granted per frame, from the T-CONT type rules (G.984.3 §7.4.4,
    G.987.3 §7.4.4): R_M, which every type ≥ 3 has and which includes R_F + R_A; types 1
    and 2 have no R_M of their own, their ceiling is R_F + R_A.  One place for every DBA."""
    return np.maximum(np.asarray(maximum, dtype=np.float64), fixed + assured)


__all__ = [
    "DbaKernel",
    "dba_kernel",
    "dba_kernel_signature",
    "payload_capacity",
    "capacity_for",
    "limit_allocations",
    "ceiling_bytes_per_frame",
]
