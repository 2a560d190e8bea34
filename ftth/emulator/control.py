"""The control plane of a run: when each ONU is up, why it is down, what the OLT keeps quiet.

Issue 12 splits a run in two phases (``briefs/control-plan.md``):

1. the **control plane** — activation, ranging, discovery windows, faults, alarms and
   timers — is simulated first, from the scenario alone (it does not depend on data
   traffic), and summarised as a :class:`ControlPlan`;
2. the **data plane** (every engine) consumes the plan and obeys it frame by frame, so the
   engines cannot disagree about when an ONU is up.

Conventions of the plan's span tables: ONU ``i`` is an *index into the spec's ONUs* (not
the ONU-ID); a span ``[start, end)`` counts frames; rows are sorted by ``(onu, start)``.
Without activation or faults a plan has one operating row per ONU, ``[0, n_frames)``
(:func:`steady_plan`), which is the behaviour of every engine before issue 12.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# ---------------------------------------------------------------- why an ONU is not operating
#: The ONU has no power: its buffers are lost when it goes, arrivals meanwhile are lost.
POWER_OFF: Final[int] = 0
#: Fibre cut, out of optical budget, or isolated by the OLT (a rogue ONU it disabled): the
#: ONU is powered, its queues keep filling (tail drop); what cannot be held is lost.
LINK_DOWN: Final[int] = 1
#: Before the ONU's ``join_at_s``: no traffic offered, nothing lost.
NOT_YET_JOINED: Final[int] = 2
#: Powered and joining (O1–O4 after power-up or after a fault cleared): queues fill, no grants.
ACTIVATING: Final[int] = 3

#: Cause code → name (results, CSV, the ``--events`` table).
DOWN_CAUSES: Final[dict[int, str]] = {
    POWER_OFF: "power-off",
    LINK_DOWN: "link-down",
    NOT_YET_JOINED: "not-yet-joined",
    ACTIVATING: "activating",
}


@dataclass(frozen=True)
class ControlEvent:
    """One line of the control-plane timeline: an alarm, a state change, a fault.

    Attributes
    ----------
    time_ps
        Simulated time of the event.
    onu_id
        ONU-ID it concerns; ``None`` for a PON-wide event (a feeder cut, a discovery window).
    kind
        Short machine name: ``"state"`` (ONU state change, detail ``"O1->O2"``), ``"LOS"``,
        ``"LOBi"``, ``"LODS"``, ``"dying-gasp"``, ``"fault"``, ``"rogue-detected"`` …
    detail
        Human-readable detail.
    """

    time_ps: int
    onu_id: int | None
    kind: str
    detail: str


def _empty_i64() -> I64:
    return np.zeros(0, dtype=np.int64)


def _empty_f64() -> F64:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class ControlPlan:
    """What the control plane decided, in frames, for the data plane to obey.

    Attributes
    ----------
    frame_ps
        Frame period the frame numbers count (125 µs for the ITU profiles).
    op_onu, op_start_frame, op_end_frame
        Operating spans: ONU ``op_onu[j]`` carries traffic in frames
        ``[op_start_frame[j], op_end_frame[j])``; rows sorted by ``(onu, start)``.  An ONU
        with no row never operates.
    down_onu, down_start_frame, down_end_frame, down_cause
        Non-operating spans with their cause (:data:`DOWN_CAUSES`), same conventions.
    quiet_frame, quiet_ps
        Upstream quiet windows (serial-number acquisition, ranging): in frame
        ``quiet_frame[j]`` the BWmap leaves ``quiet_ps[j]`` picoseconds unallocated.  Sorted
        by frame; a frame appears at most once.
    corrupt_start_frame, corrupt_end_frame, corrupt_rogue_onu
        Rogue-ONU corruption: bursts starting in ``[start, end)`` that overlap the rogue's
        transmission are corrupted (continuous-mode rogue: every burst).
    margin_onu, margin_start_frame, margin_end_frame, margin_db
        Optical margin of each ONU over time (dB; ≥ 0 inside the budget), same span
        conventions: it drives the bit-error model.
    events
        Alarms, faults and state changes in time order.
    activated_ps
        Per ONU index: the first time it reached operation (O5), ``-1`` never.
    """

    frame_ps: int
    op_onu: I64
    op_start_frame: I64
    op_end_frame: I64
    down_onu: I64 = field(default_factory=_empty_i64)
    down_start_frame: I64 = field(default_factory=_empty_i64)
    down_end_frame: I64 = field(default_factory=_empty_i64)
    down_cause: I64 = field(default_factory=_empty_i64)
    quiet_frame: I64 = field(default_factory=_empty_i64)
    quiet_ps: I64 = field(default_factory=_empty_i64)
    corrupt_start_frame: I64 = field(default_factory=_empty_i64)
    corrupt_end_frame: I64 = field(default_factory=_empty_i64)
    corrupt_rogue_onu: I64 = field(default_factory=_empty_i64)
    margin_onu: I64 = field(default_factory=_empty_i64)
    margin_start_frame: I64 = field(default_factory=_empty_i64)
    margin_end_frame: I64 = field(default_factory=_empty_i64)
    margin_db: F64 = field(default_factory=_empty_f64)
    events: tuple[ControlEvent, ...] = ()
    activated_ps: I64 = field(default_factory=_empty_i64)

    @property
    def is_steady(self) -> bool:
        """True when nothing ever interrupts any ONU: no down span, quiet window or corruption.

        Engines may take their pre-issue-12 path for such a plan.
        """
        return (
            self.down_onu.size == 0
            and self.quiet_frame.size == 0
            and self.corrupt_start_frame.size == 0
            and bool(np.all(self.op_start_frame == 0))
        )

    def operating(self, n_onus: int, n_frames: int) -> npt.NDArray[np.bool_]:
        """Dense ``(n_frames, n_onus)`` mask: True where the ONU operates (convenience).

        Memory is ``n_frames · n_onus`` bytes; engines that care should walk the spans.
        """
        mask = np.zeros((n_frames, n_onus), dtype=np.bool_)
        for onu, start, end in zip(
            self.op_onu.tolist(),
            self.op_start_frame.tolist(),
            self.op_end_frame.tolist(),
            strict=True,
        ):
            mask[max(start, 0) : min(end, n_frames), onu] = True
        return mask

    def quiet_ps_per_frame(self, n_frames: int) -> I64:
        """Dense ``(n_frames,)`` quiet time per frame in picoseconds (0 where none)."""
        out = np.zeros(n_frames, dtype=np.int64)
        keep = self.quiet_frame < n_frames
        np.add.at(out, self.quiet_frame[keep], self.quiet_ps[keep])
        return out


def steady_plan(n_onus: int, n_frames: int, frame_ps: int) -> ControlPlan:
    """The plan of a run without activation or faults: every ONU operates in every frame.

    Parameters
    ----------
    n_onus
        Number of ONUs in the spec.
    n_frames
        Frames in the run.
    frame_ps
        Frame period.

    Returns
    -------
    ControlPlan
        One operating row ``[0, n_frames)`` per ONU, nothing else; every ONU counts as
        activated at time 0 (pre-activated).
    """
    onus = np.arange(n_onus, dtype=np.int64)
    return ControlPlan(
        frame_ps=frame_ps,
        op_onu=onus,
        op_start_frame=np.zeros(n_onus, dtype=np.int64),
        op_end_frame=np.full(n_onus, n_frames, dtype=np.int64),
        activated_ps=np.zeros(n_onus, dtype=np.int64),
    )
