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

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from ftth.errors import InputError
from ftth.phy import (
    DS_SYNC_FRAMES,
    LOBI_MISSED_BURSTS,
    LODS_FRAMES,
    LOS_MARGIN_DB,
    OLT_LOS_FRAMES,
    PROFILE_LEARNING_FRAMES,
)
from ftth.scenario.branches import behind, branch_name, onu_ports
from ftth.units import PS_PER_MS, PS_PER_S, PS_PER_US
from olt.activation import (
    BurstWatch,
    LosWatch,
    assign_eqd_ps,
    measured_rtt_ps,
    next_window,
    quiet_spans,
    random_delays_ps,
    ranging_window_ps,
    resolve_sn_window,
    rogue_isolation_frames,
    sn_response_ps,
    sn_window_ps,
    window_frames,
)
from onu.activation import Event, OnuMachine, State, family_of, serial_number_state

if TYPE_CHECKING:
    from ftth.scenario import Fault, Scenario

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
        Optical margin of each ONU over time, same span conventions; it drives the
        bit-error model.  Margin = the optical class's maximum loss minus the ONU's path
        loss in its worse direction (maximum component losses, the numbers ``ftth budget``
        prints) minus any ``splitter-loss`` on its path.  ≥ 0: at or above the receiver's
        sensitivity; between ``ftth.phy.LOS_MARGIN_DB`` (−3 dB) and 0: the ONU stays in
        operation with bit errors; below: LOS, the ONU is ``LINK_DOWN``.  A steady plan has
        no margin rows (no bit errors modelled).
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


# ====================================================================== the simulation
#: SeedSequence spawn key of the control plane's random stream (traffic sources use (1|2, …)).
CONTROL_SEED_KEY: Final = 12

#: Status code of an operating ONU in a frame (the causes are ≥ 0).
_OPERATING: Final = -1


@dataclass
class _Onu:
    """One ONU's physical and protocol state while the control plane runs."""

    index: int
    onu_id: int
    one_way_ps: int
    rtt_ps: int
    eqd_ps: int
    port: tuple[int, ...]
    base_margin_db: float
    join_frame: int
    machine: OnuMachine
    powered: bool = False
    joined: bool = False
    good_frames: int = 0
    bad_frames: int = 0
    synced_at: int = -1  #: frame of downstream sync (profile learning counts from it)
    rogue: bool = False
    isolated: bool = False
    registered: bool = False  #: the OLT has ranged it and polls it
    watch: BurstWatch = field(default_factory=BurstWatch)  #: the OLT's LOBi / DGi books
    op_from: int = 0  #: first frame it may carry traffic after (re)entering O5
    assign_at: int = -1  #: frame of its Assign_ONU-ID
    ranged_at: int = -1  #: frame of its Ranging_Time
    margin_db: float = 0.0
    status: int = NOT_YET_JOINED
    span_start: int = 0
    margin_start: int = 0


@dataclass
class ControlRun:
    """A control plan with what produced it: per-ONU state histories and window counts.

    Attributes
    ----------
    plan
        The :class:`ControlPlan` the data plane obeys.
    onu_ids
        ONU-ID of each ONU index.
    histories
        Per ONU index: ``(time_ps, from, to)`` state names, in order.
    sn_windows, ranging_windows
        Quiet windows opened (serial number; ranging).
    collisions
        Serial-number answers lost to collisions.
    eqd_ps
        Per ONU index: the EqD the OLT assigned at its last ranging (``-1`` never ranged).
    """

    plan: ControlPlan
    onu_ids: list[int]
    histories: list[list[tuple[int, str, str]]]
    sn_windows: int
    ranging_windows: int
    collisions: int
    eqd_ps: I64


class _Sim:
    """The control plane of one scenario, frame by frame (see :func:`simulate_control`)."""

    def __init__(self, scenario: Scenario, n_frames: int, seed: int) -> None:
        profile = scenario.profile
        self.profile = profile
        self.family = family_of(profile.name)
        self.frame_ps = profile.frame_ps
        self.n_frames = n_frames
        self.rng = np.random.default_rng(
            np.random.SeedSequence(seed, spawn_key=(CONTROL_SEED_KEY,))
        )
        topo = scenario.topology()
        self.teqd_ps = topo.teqd_ps
        onus = scenario.onu_list()
        ports = onu_ports(len(onus), scenario.tree.splitters)
        budget = {row.onu_id: row.margin_db for row in scenario.optical_budget().onus}
        self.fec = profile.fec("upstream", scenario.fec.upstream)
        diff_km = scenario.tree.max_differential_km
        self.sn_window_ps = sn_window_ps(diff_km)
        self.ranging_window_ps = ranging_window_ps(diff_km)
        self.response_ps = sn_response_ps(profile, self.fec)
        self.period_frames = max(
            1, round(scenario.activation.discovery_period_ms * PS_PER_MS / self.frame_ps)
        )
        self.pre_activated = not scenario.activation.enabled
        self.onus: list[_Onu] = []
        for index, onu in enumerate(onus):
            place = topo.place(onu.id)
            join_frame = -(-round(onu.join_at_s * PS_PER_S) // self.frame_ps)
            self.onus.append(
                _Onu(
                    index=index,
                    onu_id=onu.id,
                    one_way_ps=place.one_way_ps,
                    rtt_ps=place.rtt_ps,
                    eqd_ps=place.eqd_ps,
                    port=ports[index],
                    base_margin_db=budget[onu.id],
                    join_frame=join_frame,
                    machine=OnuMachine(self.family),
                    margin_db=budget[onu.id],
                )
            )
        self.nearest_rtt_ps = min(o.rtt_ps for o in self.onus)
        self.cuts: set[tuple[int, ...]] = set()
        self.extra_db: dict[tuple[int, ...], float] = {}
        self.faults = sorted(enumerate(scenario.faults), key=lambda item: (item[1].at_s, item[0]))
        self.fault_ports = [
            self._fault_port(f, ports, {o.id: i for i, o in enumerate(onus)})
            for f in scenario.faults
        ]
        # outputs
        self.events: list[tuple[int, int, ControlEvent]] = []
        self.op_rows: list[tuple[int, int, int]] = []
        self.down_rows: list[tuple[int, int, int, int]] = []
        self.margin_rows: list[tuple[int, int, int, float]] = []
        self.quiet: dict[int, int] = {}
        self.corrupt_rows: list[tuple[int, int, int]] = []
        self.activated_ps = np.full(len(self.onus), -1, dtype=np.int64)
        self.assigned_eqd = np.full(len(self.onus), -1, dtype=np.int64)
        # OLT
        self.busy_until = 0
        self.sn_due = False
        self.ranging_queue: list[int] = []
        self.los = LosWatch()
        self.rogue_since: dict[int, int] = {}  #: ONU index → frame it went rogue
        self.sn_windows = 0
        self.ranging_windows = 0
        self.collisions = 0
        self._seq = 0

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _fault_port(
        fault: Fault, ports: list[tuple[int, ...]], by_id: dict[int, int]
    ) -> tuple[int, ...]:
        if fault.onu is not None:
            return ports[by_id[fault.onu]]
        if fault.branch is None:
            return ()
        text = fault.branch.strip()
        return () if text == "feeder" else tuple(int(p) for p in text.split("."))

    def event(self, time_ps: int, onu: _Onu | None, kind: str, detail: str) -> None:
        self._seq += 1
        self.events.append(
            (
                time_ps,
                self._seq,
                ControlEvent(time_ps, None if onu is None else onu.onu_id, kind, detail),
            )
        )

    def fire(self, onu: _Onu, time_ps: int, ev: Event) -> bool:
        before = onu.machine.state
        if not onu.machine.try_fire(time_ps, ev):
            return False
        after = onu.machine.state
        if after is not before:
            self.event(time_ps, onu, "state", f"{before.value} → {after.value} ({ev.value})")
        return True

    def t(self, frame: int) -> int:
        return frame * self.frame_ps

    def link_ok(self, onu: _Onu) -> bool:
        return (
            not any(behind(cut, onu.port) for cut in self.cuts) and onu.margin_db >= LOS_MARGIN_DB
        )

    def margin_of(self, onu: _Onu) -> float:
        extra = sum(db for branch, db in self.extra_db.items() if behind(branch, onu.port))
        return round(onu.base_margin_db - extra, 6)

    # ------------------------------------------------------------------ faults
    def apply_fault(self, index: int, fault: Fault) -> None:
        port = self.fault_ports[index]
        at_ps = round(fault.at_s * PS_PER_S)
        where = branch_name(port)
        if fault.kind == "fibre-cut":
            self.cuts.add(port)
            self.event(at_ps, None, "fault", f"fibre-cut of {where}")
        elif fault.kind == "restore":
            self.cuts.discard(port)
            self.event(at_ps, None, "fault", f"restore of {where}")
        elif fault.kind == "splitter-loss":
            extra = float(fault.extra_db or 0.0)
            if extra:
                self.extra_db[port] = extra
            else:
                self.extra_db.pop(port, None)
            self.event(at_ps, None, "fault", f"splitter-loss {extra:g} dB on {where}")
        else:
            onu = next(o for o in self.onus if o.onu_id == fault.onu)
            if not onu.joined:
                # A fault on an ONU at the instant it joins (at_s ≥ join_at_s, checked by
                # the rules) finds it joined, whichever frame boundary comes first.
                self.join(onu, at_ps)
            if fault.kind == "rogue-onu":
                onu.rogue = True
                self.event(at_ps, onu, "fault", "rogue-onu: laser on outside its grants")
            elif fault.power == "off":
                self.event(at_ps, onu, "fault", "onu-power off")
                if onu.machine.state is State.O5 and self.link_ok(onu):
                    # G.984.3 §11.1 / G.987.3 §11.1: the dying-gasp indication goes out in the
                    # ONU's next burst, before the power is gone.
                    onu.watch.dying_gasp = True
                    self.event(at_ps, onu, "dying-gasp", "Dying_Gasp sent in the last burst")
                onu.powered = False
                self.fire(onu, at_ps, Event.POWER_OFF)
                since = self.rogue_since.pop(onu.index, None)
                if since is not None and not onu.isolated:
                    # An unpowered rogue corrupts nothing; powered again, its laser fault
                    # is back and the OLT's detection starts over.
                    self.corrupt_rows.append((since, -(-at_ps // self.frame_ps), onu.index))
            else:
                self.event(at_ps, onu, "fault", "onu-power on")
                self.power_on(onu, at_ps)

    def power_on(self, onu: _Onu, time_ps: int) -> None:
        onu.powered = True
        onu.good_frames = onu.bad_frames = 0
        onu.synced_at = -1
        onu.watch.dying_gasp = False
        self.fire(onu, time_ps, Event.POWER_ON)

    # ------------------------------------------------------------------ one frame
    def frame(self, k: int) -> None:
        t_k = self.t(k)
        for onu in self.onus:
            if not onu.joined and k >= onu.join_frame:
                self.join(onu, t_k)
            margin = self.margin_of(onu)
            if margin != onu.margin_db:
                self.margin_rows.append((onu.index, onu.margin_start, k, onu.margin_db))
                onu.margin_start = k
                onu.margin_db = margin
                verdict = (
                    "below LOS"
                    if margin < LOS_MARGIN_DB
                    else ("bit errors" if margin < 0 else "healthy")
                )
                self.event(t_k, onu, "margin", f"optical margin {margin:.2f} dB ({verdict})")
        self.deliver(k)
        for onu in self.onus:
            self.onu_frame(onu, k)
        self.olt_frame(k)
        for onu in self.onus:
            self.set_status(onu, k, self.status_of(onu, k))

    def join(self, onu: _Onu, time_ps: int) -> None:
        """The ONU is connected and powered: pre-activated at t = 0 when activation is not
        emulated, otherwise powered on into O1."""
        onu.joined = True
        if self.pre_activated and onu.join_frame == 0:
            self.pre_activate(onu)
        else:
            self.event(time_ps, onu, "join", "connected and powered")
            self.power_on(onu, time_ps)

    def pre_activate(self, onu: _Onu) -> None:
        onu.powered = True
        m = onu.machine
        m.state = State.O5
        m.history.append((0, State.OFF, State.O5, Event.RANGING_TIME))
        self.event(0, onu, "state", "off → O5 (pre-activated)")
        onu.registered = True
        onu.op_from = 0
        onu.good_frames = DS_SYNC_FRAMES
        self.activated_ps[onu.index] = 0
        self.assigned_eqd[onu.index] = assign_eqd_ps(
            self.teqd_ps, measured_rtt_ps(onu.rtt_ps, self.profile), self.profile
        )

    def deliver(self, k: int) -> None:
        """PLOAMs of the OLT that reach the ONUs in frame ``k``."""
        for onu in self.onus:
            arrive = self.t(k) + onu.one_way_ps
            if onu.assign_at == k:
                onu.assign_at = -1
                if self.link_ok(onu) and onu.powered:
                    self.fire(onu, arrive, Event.ASSIGN_ONU_ID)
            if onu.ranged_at == k:
                onu.ranged_at = -1
                if self.link_ok(onu) and onu.powered and self.fire(onu, arrive, Event.RANGING_TIME):
                    onu.registered = True
                    onu.op_from = k + 1
                    if self.activated_ps[onu.index] < 0:
                        self.activated_ps[onu.index] = arrive
                    self.event(arrive, onu, "activated", f"operation (O5) from frame {k + 1}")

    def onu_frame(self, onu: _Onu, k: int) -> None:
        """The ONU receives downstream frame ``k`` (or not) and runs its timers."""
        if not onu.powered:
            return
        now = self.t(k) + onu.one_way_ps
        m = onu.machine
        if self.link_ok(onu):
            onu.bad_frames = 0
            onu.good_frames += 1
            if onu.good_frames >= DS_SYNC_FRAMES:
                if m.state in (State.O1, State.O1_1) and self.fire(onu, now, Event.DS_SYNC):
                    onu.synced_at = k
                elif m.state is State.O6:
                    # XG: downstream regained within TO2 → O5; GPON: the OLT's directed POPUP.
                    ev = Event.DS_SYNC if self.family == "xg" else Event.POPUP_DIRECTED
                    if self.fire(onu, now, ev):
                        onu.op_from = k + 1
                        self.event(now, onu, "LODS-cleared", "downstream regained within TO2")
            if (
                m.state in (State.O1_2, State.O2)
                and onu.synced_at >= 0
                and k - onu.synced_at >= PROFILE_LEARNING_FRAMES
            ):
                self.fire(onu, now, Event.PROFILE)
        else:
            onu.good_frames = 0
            onu.bad_frames += 1
            if onu.bad_frames == LODS_FRAMES and m.state not in (State.O1, State.O1_1, State.O7):
                self.event(now, onu, "LODS", f"{LODS_FRAMES} downstream frames lost")
                self.fire(onu, now, Event.LODS)
        before = m.state
        m.expire_timers(now)
        if m.state is not before:
            last = m.history[-1]
            self.event(last[0], onu, "state", f"{before.value} → {m.state.value} ({last[3].value})")
            if m.state in (State.O1, State.O1_1):
                onu.good_frames = 0
                onu.synced_at = -1
                onu.registered = False

    def bursts(self, onu: _Onu, k: int) -> bool:
        """True when the OLT receives ``onu``'s burst in upstream frame ``k``."""
        return (
            onu.powered
            and onu.machine.state is State.O5
            and self.link_ok(onu)
            and not onu.isolated
            and k >= onu.op_from
        )

    def olt_frame(self, k: int) -> None:
        t_k = self.t(k)
        arrive = t_k + self.teqd_ps  # upstream frame k reaches the OLT
        any_burst = False
        names = {"LOBi": "LOSi" if self.family == "gpon" else "LOBi"}
        for onu in self.onus:
            if not onu.registered:
                continue
            burst = self.bursts(onu, k)
            any_burst |= burst
            alarm = onu.watch.frame(burst)
            if alarm == "LOBi":
                self.event(
                    arrive, onu, "LOBi", f"{names['LOBi']}: {LOBI_MISSED_BURSTS} bursts missed"
                )
            elif alarm == "DGi":
                self.event(arrive, onu, "DGi", "dying gasp received; ONU deactivated")
                onu.registered = False
            elif alarm == "LOBi-cleared":
                self.event(arrive, onu, "LOBi-cleared", "bursts received again")
        expecting = any(o.registered or o.watch.lobi for o in self.onus)
        alarm = self.los.frame(expecting, any_burst)
        if alarm == "LOS":
            self.event(arrive, None, "LOS", f"no upstream light for {OLT_LOS_FRAMES} frames")
        elif alarm == "LOS-cleared":
            self.event(arrive, None, "LOS-cleared", "upstream light again")
        self.rogue_frame(k)
        self.windows(k)

    def rogue_frame(self, k: int) -> None:
        for onu in self.onus:
            if onu.rogue and onu.powered and not onu.isolated and onu.index not in self.rogue_since:
                self.rogue_since[onu.index] = k
        for index, since in list(self.rogue_since.items()):
            onu = self.onus[index]
            if onu.isolated:
                continue
            active = sum(1 for o in self.onus if o.registered)
            detect, isolate = rogue_isolation_frames(max(active, 1))
            if k == since + detect:
                self.event(
                    self.t(k),
                    None,
                    "rogue-detected",
                    f"corrupted bursts for {detect} frames "
                    f"({detect * self.frame_ps / PS_PER_MS:g} ms after it started)",
                )
            if k == since + isolate:
                onu.isolated = True
                onu.registered = False
                self.corrupt_rows.append((since, k, index))
                at = self.t(k)
                self.event(
                    at,
                    onu,
                    "rogue-isolated",
                    f"Disable_Serial_Number after {isolate * self.frame_ps / PS_PER_MS:g} ms "
                    f"(detection {detect * self.frame_ps / PS_PER_MS:g} ms)",
                )
                self.fire(onu, at + onu.one_way_ps, Event.DISABLE)
                self.ranging_queue = [i for i in self.ranging_queue if i != index]

    def corrupting(self) -> bool:
        return any(self.onus[i].powered and not self.onus[i].isolated for i in self.rogue_since)

    def windows(self, k: int) -> None:
        """The OLT's quiet windows: ranging first, then serial-number acquisition."""
        if k % self.period_frames == 0:
            self.sn_due = True
        if k < self.busy_until:
            return
        choice = next_window(bool(self.ranging_queue), self.sn_due)
        if choice == "ranging":
            self.range_one(k, self.ranging_queue.pop(0))
        elif choice == "sn":
            self.serial_numbers(k)

    def open_window(self, k: int, window_ps: int) -> int:
        for frame, quiet in quiet_spans(k, window_ps, self.frame_ps):
            if frame < self.n_frames:
                self.quiet[frame] = self.quiet.get(frame, 0) + quiet
        end = k + window_frames(window_ps, self.frame_ps)
        self.busy_until = end
        return end

    def serial_numbers(self, k: int) -> None:
        self.sn_due = False
        sn_state = serial_number_state(self.family)
        answering = [
            o
            for o in self.onus
            if o.powered
            and self.link_ok(o)
            and o.machine.state is sn_state
            and o.assign_at < 0
            and not o.isolated  # the OLT disables a known rogue's serial number again
        ]
        end = self.open_window(k, self.sn_window_ps)
        self.sn_windows += 1
        if not answering:
            return
        delays = random_delays_ps(self.rng, len(answering))
        outcome = resolve_sn_window(
            [o.rtt_ps for o in answering],
            self.nearest_rtt_ps,
            delays.tolist(),
            self.response_ps,
            self.sn_window_ps,
        )
        heard = list(outcome.heard)
        collided = list(outcome.collided)
        if self.corrupting():  # a rogue laser garbles every answer
            collided = sorted(heard + collided)
            heard = []
        at = self.t(k) + self.teqd_ps
        for i in collided:
            self.event(
                at + outcome.arrival_ps[i],
                answering[i],
                "sn-collision",
                "serial-number answer lost in a collision; retried",
            )
        self.collisions += len(collided)
        for i in heard:
            onu = answering[i]
            onu.assign_at = end
            self.ranging_queue.append(onu.index)
        self.event(
            at, None, "sn-window", f"{len(heard)} serial numbers read, {len(collided)} collided"
        )
        if collided:
            self.sn_due = True  # repeat once no ranging is pending

    def range_one(self, k: int, index: int) -> None:
        onu = self.onus[index]
        if onu.assign_at >= k:  # Assign_ONU-ID not delivered yet: keep its place
            self.ranging_queue.insert(0, index)
            if self.sn_due:
                self.serial_numbers(k)
            return
        end = self.open_window(k, self.ranging_window_ps)
        self.ranging_windows += 1
        at = self.t(k) + onu.one_way_ps
        ok = (
            onu.powered
            and self.link_ok(onu)
            and onu.machine.state is State.O4
            and not self.corrupting()
        )
        if not ok:
            self.event(self.t(k) + self.teqd_ps, onu, "ranging-failed", "no ranging answer")
            return
        rtt = measured_rtt_ps(onu.rtt_ps, self.profile)
        eqd = assign_eqd_ps(self.teqd_ps, rtt, self.profile)
        self.assigned_eqd[index] = eqd
        onu.ranged_at = end
        self.event(
            at, onu, "ranging", f"RTT {rtt / PS_PER_US:.3f} µs, EqD {eqd / PS_PER_US:.3f} µs"
        )

    # ------------------------------------------------------------------ skipping quiet frames
    def next_frame(self, k: int) -> int:
        """The next frame that can change anything, after frame ``k``.

        ``k + 1`` unless the PON is *quiescent*: no window open or pending, no PLOAM in
        flight, every counter either at rest or past its threshold (they are compared with
        ``==``, so a saturated counter never fires again), no rogue being chased, and every
        ONU in a state that only a fault, a join, a discovery window or a timer can change.
        Then the next of those frames: skipping the frames in between changes nothing (a
        test runs both ways and compares the plans).
        """
        step = k + 1
        if (
            self.ranging_queue
            or self.sn_due
            or step < self.busy_until
            or any(not self.onus[i].isolated for i in self.rogue_since)
        ):
            return step
        any_burst = any(self.bursts(o, step) for o in self.onus if o.registered)
        expecting = any(o.registered or o.watch.lobi for o in self.onus)
        if not self.los.at_rest(expecting, any_burst):
            return step  # the PON-wide LOS is about to be raised or cleared
        wake = [self.n_frames, (k // self.period_frames + 1) * self.period_frames]
        waiting = (State.O2_3, State.O3, State.O7, State.O4)
        for onu in self.onus:
            if not onu.joined:
                wake.append(onu.join_frame)
                continue
            if onu.rogue and onu.powered and not onu.isolated:
                return step
            if onu.registered and not onu.watch.at_rest(self.bursts(onu, step)):
                return step  # the OLT's books on its bursts are about to change
            if not onu.powered:
                continue
            if onu.assign_at >= 0 or onu.ranged_at >= 0:
                return step
            state = onu.machine.state
            if self.link_ok(onu):
                settled = onu.good_frames >= DS_SYNC_FRAMES and (
                    (state is State.O5 and step >= onu.op_from) or state in waiting
                )
            else:
                settled = onu.bad_frames >= LODS_FRAMES
            if not settled:
                return step
            for deadline in (onu.machine.to1_deadline_ps, onu.machine.to2_deadline_ps):
                if deadline is not None:
                    wake.append(-(-(deadline - onu.one_way_ps) // self.frame_ps))
        for _, fault in self.faults:
            at = -(-round(fault.at_s * PS_PER_S) // self.frame_ps)
            if at > k:
                wake.append(at)
        return max(step, min(wake))

    # ------------------------------------------------------------------ spans
    def status_of(self, onu: _Onu, k: int) -> int:
        if not onu.joined:
            return NOT_YET_JOINED
        if not onu.powered:
            return POWER_OFF
        if not self.link_ok(onu) or onu.isolated or onu.machine.state is State.O7:
            return LINK_DOWN
        if onu.machine.state is State.O5 and k >= onu.op_from:
            return _OPERATING
        return ACTIVATING

    def set_status(self, onu: _Onu, k: int, status: int) -> None:
        if k == 0:
            onu.status = status
            onu.span_start = 0
            return
        if status != onu.status:
            self.close(onu, k)
            onu.status = status
            onu.span_start = k

    def close(self, onu: _Onu, end: int) -> None:
        if end <= onu.span_start:
            return
        if onu.status == _OPERATING:
            self.op_rows.append((onu.index, onu.span_start, end))
        else:
            self.down_rows.append((onu.index, onu.span_start, end, onu.status))

    def finish(self) -> ControlRun:
        n = self.n_frames
        for onu in self.onus:
            self.close(onu, n)
            self.margin_rows.append((onu.index, onu.margin_start, n, onu.margin_db))
        for index, since in self.rogue_since.items():
            if not self.onus[index].isolated:
                self.corrupt_rows.append((since, n, index))
        op = sorted(self.op_rows)
        down = sorted(self.down_rows)
        margins = sorted(r for r in self.margin_rows if r[2] > r[1])
        corrupt = sorted(r for r in self.corrupt_rows if r[1] > r[0])
        quiet = sorted(self.quiet.items())
        events = tuple(e for _, _, e in sorted(self.events, key=lambda x: (x[0], x[1])))

        def col(rows: list[Any], j: int) -> I64:
            return np.array([r[j] for r in rows], dtype=np.int64)

        plan = ControlPlan(
            frame_ps=self.frame_ps,
            op_onu=col(op, 0),
            op_start_frame=col(op, 1),
            op_end_frame=col(op, 2),
            down_onu=col(down, 0),
            down_start_frame=col(down, 1),
            down_end_frame=col(down, 2),
            down_cause=col(down, 3),
            quiet_frame=col(quiet, 0),
            quiet_ps=col(quiet, 1),
            corrupt_start_frame=col(corrupt, 0),
            corrupt_end_frame=col(corrupt, 1),
            corrupt_rogue_onu=col(corrupt, 2),
            margin_onu=col(margins, 0),
            margin_start_frame=col(margins, 1),
            margin_end_frame=col(margins, 2),
            margin_db=np.array([r[3] for r in margins], dtype=np.float64),
            events=events,
            activated_ps=self.activated_ps.copy(),
        )
        histories = [
            [(t, a.value, b.value) for t, a, b, _ in onu.machine.history] for onu in self.onus
        ]
        return ControlRun(
            plan=plan,
            onu_ids=[o.onu_id for o in self.onus],
            histories=histories,
            sn_windows=self.sn_windows,
            ranging_windows=self.ranging_windows,
            collisions=self.collisions,
            eqd_ps=self.assigned_eqd.copy(),
        )


def simulate_control(
    scenario: Scenario,
    n_frames: int | None = None,
    seed: int | None = None,
    *,
    skip_quiet_frames: bool = True,
) -> ControlRun:
    """Run the control plane of ``scenario`` as simpy processes and return what it decided.

    Two processes share one simpy clock in picoseconds: the *fault injector* applies each
    ``[[faults]]`` entry at its ``at_s``, and the *frame clock* runs every frame ``k`` at
    ``t_k`` — after a zero-delay step, so a fault due at ``t_k`` is seen by frame ``k`` (a
    fault takes effect from the first frame starting at or after its time).  Per frame: late
    ONUs join; PLOAMs due arrive (Assign_ONU-ID, Ranging_Time); every ONU receives the
    downstream frame or misses it (sync, profile learning, LODS, TO1/TO2 in
    :class:`onu.activation.OnuMachine`); the OLT counts bursts (LOBi, LOS, dying gasp),
    chases a rogue ONU, and opens the next quiet window (:mod:`olt.activation`).

    Parameters
    ----------
    scenario
        A validated ITU scenario (GPON, XG-PON, XGS-PON).
    n_frames
        Frames to run; ``None`` covers ``duration_s``.
    seed
        Root seed; ``None`` takes ``scenario.seed``.  The serial-number delays come from
        their own stream of it, so the same scenario and seed give the same plan.
    skip_quiet_frames
        Jump over frames in which nothing can change (:meth:`_Sim.next_frame`); ``False``
        visits every frame (the same plan, slower: tests compare the two).

    Returns
    -------
    ControlRun
        The plan with state histories and window counts.

    Raises
    ------
    InputError
        EPON (MPCP discovery is not modelled).
    """
    import simpy

    profile = scenario.profile
    if not profile.framed:
        raise InputError(
            "activation", f"{profile.title} discovery (MPCP) is not modelled: no control plane"
        )
    if n_frames is None:
        n_frames = -(-round(scenario.duration_s * PS_PER_S) // profile.frame_ps)
    sim = _Sim(scenario, n_frames, scenario.seed if seed is None else seed)
    env = simpy.Environment()

    def injector() -> Generator[simpy.Event, Any, None]:
        for index, fault in sim.faults:
            at_ps = round(fault.at_s * PS_PER_S)
            yield env.timeout(at_ps - int(env.now))
            sim.apply_fault(index, fault)

    def frame_clock() -> Generator[simpy.Event, Any, None]:
        k = 0
        while k < n_frames:
            yield env.timeout(k * sim.frame_ps - int(env.now))
            yield env.timeout(0)  # faults due at t_k first
            sim.frame(k)
            k = sim.next_frame(k) if skip_quiet_frames else k + 1

    env.process(injector())
    env.process(frame_clock())
    env.run()
    return sim.finish()


def control_plan(
    scenario: Scenario, n_frames: int | None = None, seed: int | None = None
) -> ControlPlan:
    """The :class:`ControlPlan` of ``scenario``: :func:`steady_plan` when it emulates no
    activation, late join or fault (``Scenario.emulates_control_plane``), else the plan of
    :func:`simulate_control`."""
    profile = scenario.profile
    if n_frames is None:
        frame_ps = profile.frame_ps or 1
        n_frames = -(-round(scenario.duration_s * PS_PER_S) // frame_ps)
    if not scenario.emulates_control_plane:
        return steady_plan(scenario.n_onus, n_frames, profile.frame_ps)
    return simulate_control(scenario, n_frames, seed).plan


# ====================================================================== results
_STATE_RE: Final = re.compile(r"^(?P<old>\S+) → (?P<new>\S+) \((?P<why>[^)]*)\)$")


def onu_summaries(plan: ControlPlan, onu_ids: Sequence[int], n_frames: int) -> list[dict[str, Any]]:
    """Per ONU: when it first operated, how long it was out afterwards, how long its last
    re-activation took.

    Returns
    -------
    list of dict
        ``onu_id``; ``activated_s`` (first time in O5, ``None`` never); ``outage_s``
        (frames not operating after the first operating frame, in seconds); ``outages``
        (how many such interruptions); ``reactivation_s`` (the last activation that followed
        a fault — from the fault clearing, i.e. the end of its power-off / link-down span, to
        operating again — ``None`` if none); ``down_s`` per cause over the whole run.
    """
    frame_s = plan.frame_ps / PS_PER_S
    out = []
    for index, onu_id in enumerate(onu_ids):
        rows = sorted(
            [
                (int(s), int(e), -1)
                for o, s, e in zip(plan.op_onu, plan.op_start_frame, plan.op_end_frame, strict=True)
                if o == index
            ]
            + [
                (int(s), int(e), int(c))
                for o, s, e, c in zip(
                    plan.down_onu,
                    plan.down_start_frame,
                    plan.down_end_frame,
                    plan.down_cause,
                    strict=True,
                )
                if o == index
            ]
        )
        first_op = next((s for s, _, c in rows if c == -1), None)
        outage_frames = 0
        outages = 0
        reactivation: int | None = None
        down_frames = dict.fromkeys(DOWN_CAUSES.values(), 0)
        for j, (start, end, cause) in enumerate(rows):
            if cause == -1:
                continue
            down_frames[DOWN_CAUSES[cause]] += end - start
            if first_op is not None and start >= first_op:
                outage_frames += end - start
                if j == 0 or rows[j - 1][2] == -1:
                    outages += 1
            if (
                cause == ACTIVATING
                and j > 0
                and rows[j - 1][2] in (POWER_OFF, LINK_DOWN)
                and j + 1 < len(rows)
                and rows[j + 1][2] == -1
            ):
                reactivation = end - start
        activated = int(plan.activated_ps[index]) if index < plan.activated_ps.size else -1
        out.append(
            {
                "onu_id": int(onu_id),
                "activated_s": None if activated < 0 else activated / PS_PER_S,
                "outage_s": round(outage_frames * frame_s, 9),
                "outages": outages,
                "reactivation_s": None
                if reactivation is None
                else round(reactivation * frame_s, 9),
                "down_s": {k: round(v * frame_s, 9) for k, v in down_frames.items()},
            }
        )
    return out


def state_changes(plan: ControlPlan) -> list[dict[str, Any]]:
    """The ``state`` events as rows: ``time_s``, ``onu_id``, ``from``, ``to``, ``trigger``."""
    rows = []
    for ev in plan.events:
        match = _STATE_RE.match(ev.detail) if ev.kind == "state" else None
        if match is None:
            continue
        rows.append(
            {
                "time_s": ev.time_ps / PS_PER_S,
                "onu_id": ev.onu_id,
                "from": match["old"],
                "to": match["new"],
                "trigger": match["why"],
            }
        )
    return rows


def rogue_summaries(plan: ControlPlan, onu_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Per rogue ONU: when it started, when the OLT detected it and isolated it (seconds).

    ``detection_s`` and ``isolation_s`` count from the start; ``None`` when the run ended
    first.
    """
    frame_s = plan.frame_ps / PS_PER_S
    detected = sorted(ev.time_ps for ev in plan.events if ev.kind == "rogue-detected")
    isolated = {ev.onu_id: ev.time_ps for ev in plan.events if ev.kind == "rogue-isolated"}
    out = []
    for start, end, index in zip(
        plan.corrupt_start_frame.tolist(),
        plan.corrupt_end_frame.tolist(),
        plan.corrupt_rogue_onu.tolist(),
        strict=True,
    ):
        onu_id = int(onu_ids[index])
        start_ps = start * plan.frame_ps
        seen = next((t for t in detected if start_ps <= t < end * plan.frame_ps + 1), None)
        done = isolated.get(onu_id)
        out.append(
            {
                "onu_id": onu_id,
                "started_s": start * frame_s,
                "detection_s": None if seen is None else (seen - start_ps) / PS_PER_S,
                "isolation_s": None if done is None else (done - start_ps) / PS_PER_S,
                "corrupted_frames": end - start,
            }
        )
    return out
