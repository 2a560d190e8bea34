"""``x-giant``: GIANT refined for XG-PON — shorter service intervals and immediate allocation.

Algorithm (Arokkiam, Brown & Sreenan, "Refining the GIANT dynamic bandwidth allocation
mechanism for XG-PON", IEEE ICC 2015, pp. 1006-1011)
------------------------------------------------------------------------------------------
X-GIANT keeps GIANT's structure (:mod:`olt.dba.giant`: per-service timers, AB_min with
SI_max for the guaranteed services, AB_sur with SI_min for the surplus services, classes
served fixed → assured → non-assured → best effort) and retunes it for low delay:

* **shorter service timers** (defaults below are half of GIANT's), so AB is smaller and
  handed out more often;
* **immediate allocation**: after the due services are served, the spare room of the frame
  goes to T-CONTs with reported demand whose timers have *not* expired, class by class
  (assured, non-assured, best effort; longest since its last service first).  A service
  served early gets what its rate earned since its last service (``rate × elapsed frames``,
  at most AB) and its timer moves on by the part of that entitlement it used.  At light load
  every T-CONT is then served the frame after its report instead of up to SI frames later,
  while R_M still holds on average and the timer schedule still protects the guarantees
  when the frame is full.

Parameters (``[dba.params]``)
-----------------------------
si_max_frames : int, frames, default 4, range 1..64
    Service interval of the guaranteed services (fixed, assured).
si_min_frames : int, frames, default 2, range 1..64
    Service interval of the surplus services (non-assured, best effort).
immediate_allocation : bool, default true
    Serve reported demand from the frame's spare room without waiting for the timer.
    ``false`` gives GIANT with X-GIANT's timers.

Implementation
--------------
One kernel for both DBAs: :func:`olt.dba.giant.giant_kernel`, whose immediate-allocation
step runs when ``state_i[S_IMMEDIATE]`` is set (this class sets it from
``immediate_allocation``); nothing of GIANT is written twice.

Simplifications
---------------
Those of :mod:`olt.dba.giant`, plus: the paper's tuned split of a type-3 T-CONT's
allocation between its assured and non-assured rounds (a GIR:PIR ratio) is not modelled —
the assured part is R_A and the non-assured part R_M − R_A, as provisioned.
"""

from __future__ import annotations

from typing import ClassVar

from olt.dba.giant import GiantDba
from olt.dba.registry import register
from olt.dba.shares import ParamSpec


@register
class XGiantDba(GiantDba):
    name = "x-giant"
    summary = "X-GIANT: GIANT with shorter timers and immediate allocation of spare room"
    PARAMS: ClassVar[dict[str, ParamSpec]] = {
        "si_max_frames": ("int", 4, 1, 64),
        "si_min_frames": ("int", 2, 1, 64),
        "immediate_allocation": ("bool", True, None, None),
    }
