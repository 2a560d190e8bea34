"""The ONU activation state machine: GPON O1–O7 (G.984.3 §10.2) and XG-PON / XGS-PON O1–O7
(G.987.3 §12, reused by G.9807.1 Annex C).

An ONU that powers up knows nothing about the PON.  It must, in order:

1. lock on the downstream frames (O1; XG sub-state O1.1 *off-sync*),
2. learn the upstream burst profile the OLT broadcasts (XG O1.2 *profile learning*; GPON:
   the Upstream_Overhead message moves it from O2 *standby* to O3),
3. answer a serial-number grant inside a quiet window, after a random delay, until the OLT
   hears it cleanly and assigns an ONU-ID (GPON O3, XG O2-3: Assign_ONU-ID → O4),
4. answer a ranging grant so the OLT can measure its round-trip time; the Ranging_Time
   message carries the equalisation delay (O4 → O5, *operation*).

In O5 a loss of downstream synchronisation (LODS, a cut fibre) moves it to O6 (GPON *POPUP*,
XG *intermittent LODS*) and starts TO2: if the downstream comes back in time it returns to
O5 (GPON: on a directed POPUP, or to O4 on a broadcast one); if TO2 expires it starts over
in O1.  A Disable_Serial_Number message sends it to O7 (*emergency stop*: the laser stays
off) from any state; the enable form returns it to the serial-number state.

This module is the machine alone — states, events and the transition function — with no
clock: :mod:`ftth.emulator.control` drives it and arms the timers (``ftth.phy.TO1_PS``,
``TO2_PS``).  Power off is modelled as a pseudo-state ``OFF`` (the standards' machine has no
state for an unpowered ONU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from ftth.phy import TO1_PS, TO2_PS


class State(StrEnum):
    """ONU activation states (values are the standards' names)."""

    OFF = "off"  #: not powered (no standard state)
    O1 = "O1"  #: GPON initial
    O1_1 = "O1.1"  #: XG initial, off-sync
    O1_2 = "O1.2"  #: XG initial, profile learning
    O2 = "O2"  #: GPON standby
    O3 = "O3"  #: GPON serial number
    O2_3 = "O2-3"  #: XG serial number
    O4 = "O4"  #: ranging
    O5 = "O5"  #: operation
    O6 = "O6"  #: GPON POPUP / XG intermittent LODS
    O7 = "O7"  #: emergency stop


class Event(StrEnum):
    """What the ONU sees or is told (PLOAM message names of G.984.3 / G.987.3)."""

    POWER_ON = "power-on"
    POWER_OFF = "power-off"
    DS_SYNC = "downstream-sync"  #: downstream frames delineated (LOS/LOF cleared)
    LODS = "lods"  #: loss of downstream synchronisation
    PROFILE = "burst-profile"  #: XG Burst_Profile / GPON Upstream_Overhead received
    ASSIGN_ONU_ID = "assign-onu-id"
    RANGING_TIME = "ranging-time"  #: carries the EqD
    POPUP_BROADCAST = "popup-broadcast"  #: GPON only
    POPUP_DIRECTED = "popup-directed"  #: GPON only
    TO1_EXPIRED = "to1-expired"
    TO2_EXPIRED = "to2-expired"
    DISABLE = "disable-serial-number"
    ENABLE = "enable-serial-number"


#: States in which the ONU may send user traffic.
OPERATING: Final = frozenset({State.O5})


class TransitionError(ValueError):
    """An event the state machine does not accept in the current state."""


def _gpon_table() -> dict[tuple[State, Event], State]:
    """G.984.3 §10.2.3 (Figure 10-2), plus power."""
    t = {
        (State.O1, Event.DS_SYNC): State.O2,
        (State.O2, Event.PROFILE): State.O3,
        (State.O3, Event.ASSIGN_ONU_ID): State.O4,
        (State.O4, Event.RANGING_TIME): State.O5,
        (State.O4, Event.TO1_EXPIRED): State.O2,
        (State.O3, Event.TO1_EXPIRED): State.O2,
        (State.O5, Event.LODS): State.O6,
        (State.O6, Event.POPUP_BROADCAST): State.O4,
        (State.O6, Event.POPUP_DIRECTED): State.O5,
        (State.O6, Event.TO2_EXPIRED): State.O1,
        (State.O7, Event.ENABLE): State.O2,
    }
    for s in (State.O2, State.O3, State.O4):
        t[(s, Event.LODS)] = State.O1
    return t


def _xg_table() -> dict[tuple[State, Event], State]:
    """G.987.3 §12.1 (Figure 12-1) / G.9807.1 §C.12.1, plus power."""
    t = {
        (State.O1_1, Event.DS_SYNC): State.O1_2,
        (State.O1_2, Event.PROFILE): State.O2_3,
        (State.O1_2, Event.LODS): State.O1_1,
        (State.O2_3, Event.ASSIGN_ONU_ID): State.O4,
        (State.O4, Event.RANGING_TIME): State.O5,
        (State.O4, Event.TO1_EXPIRED): State.O2_3,
        (State.O5, Event.LODS): State.O6,
        # Downstream regained within TO2: back to operation with the same ONU-ID and EqD.
        (State.O6, Event.DS_SYNC): State.O5,
        (State.O6, Event.TO2_EXPIRED): State.O1_1,
        (State.O7, Event.ENABLE): State.O2_3,
    }
    for s in (State.O2_3, State.O4):
        t[(s, Event.LODS)] = State.O1_1
    return t


_TABLES: Final = {"gpon": _gpon_table(), "xg": _xg_table()}


def family_of(technology: str) -> str:
    """``"gpon"`` for GPON, ``"xg"`` for XG-PON and XGS-PON (which share G.987.3's machine).

    Raises
    ------
    ValueError
        For a technology without an ITU activation machine (EPON uses MPCP discovery).
    """
    if technology == "gpon":
        return "gpon"
    if technology in ("xg-pon", "xgs-pon"):
        return "xg"
    raise ValueError(f"no ITU activation state machine for {technology!r}")


def initial_state(family: str) -> State:
    """The state an ONU enters at power-on: GPON O1, XG O1.1 (off-sync)."""
    return State.O1 if family == "gpon" else State.O1_1


def serial_number_state(family: str) -> State:
    """The state in which an ONU answers serial-number grants: GPON O3, XG O2-3."""
    return State.O3 if family == "gpon" else State.O2_3


def next_state(family: str, state: State, event: Event) -> State:
    """The state after ``event`` in ``state``.

    Parameters
    ----------
    family
        ``"gpon"`` or ``"xg"`` (:func:`family_of`).
    state, event
        Current state and what happened.

    Returns
    -------
    State
        The new state.  Power off leads to ``OFF`` from any state, power on from ``OFF`` to
        the initial state; Disable_Serial_Number leads to O7 from any powered state.

    Raises
    ------
    TransitionError
        The machine does not accept ``event`` in ``state``.
    """
    if event is Event.POWER_OFF:
        return State.OFF
    if state is State.OFF:
        if event is Event.POWER_ON:
            return initial_state(family)
        raise TransitionError(f"an unpowered ONU ignores {event.value}")
    if event is Event.DISABLE:
        return State.O7
    try:
        return _TABLES[family][(state, event)]
    except KeyError:
        raise TransitionError(
            f"{family} ONU in {state.value} does not accept {event.value}"
        ) from None


def accepts(family: str, state: State, event: Event) -> bool:
    """True when :func:`next_state` accepts ``event`` in ``state``."""
    try:
        next_state(family, state, event)
    except TransitionError:
        return False
    return True


@dataclass
class OnuMachine:
    """One ONU's activation machine with its history and timers (no clock of its own).

    The driver calls :meth:`fire` with the simulated time; the machine records every state
    change and arms/clears TO1 and TO2 as the standards say (TO1 on entering the
    serial-number state (GPON O3) / ranging (XG O4), cleared in O5; TO2 on entering O6).

    Attributes
    ----------
    family
        ``"gpon"`` or ``"xg"``.
    state
        Current state.
    history
        ``(time_ps, from, to, event)`` for every change, in order.
    to1_deadline_ps, to2_deadline_ps
        When TO1 / TO2 expire, ``None`` when not running.
    """

    family: str
    state: State = State.OFF
    history: list[tuple[int, State, State, Event]] = field(default_factory=list)
    to1_deadline_ps: int | None = None
    to2_deadline_ps: int | None = None

    def fire(self, time_ps: int, event: Event) -> State:
        """Apply ``event`` at ``time_ps``; return the new state (TransitionError if refused)."""
        new = next_state(self.family, self.state, event)
        old = self.state
        self.state = new
        if new is not old:
            self.history.append((time_ps, old, new, event))
        # TO1 runs while the ONU waits to be ranged (G.984.3: from O3; G.987.3: in O4).
        to1_states = (State.O3, State.O4) if self.family == "gpon" else (State.O4,)
        if new in to1_states:
            if old not in to1_states:
                self.to1_deadline_ps = time_ps + TO1_PS
        else:
            self.to1_deadline_ps = None
        if new is State.O6:
            if old is not State.O6:
                self.to2_deadline_ps = time_ps + TO2_PS
        else:
            self.to2_deadline_ps = None
        return new

    def try_fire(self, time_ps: int, event: Event) -> bool:
        """Apply ``event`` if the current state accepts it; True when it did."""
        if not accepts(self.family, self.state, event):
            return False
        self.fire(time_ps, event)
        return True

    def expire_timers(self, now_ps: int) -> None:
        """Fire TO1 / TO2 if their deadline is at or before ``now_ps`` (at the deadline)."""
        if self.to2_deadline_ps is not None and self.to2_deadline_ps <= now_ps:
            self.fire(self.to2_deadline_ps, Event.TO2_EXPIRED)
        if self.to1_deadline_ps is not None and self.to1_deadline_ps <= now_ps:
            self.fire(self.to1_deadline_ps, Event.TO1_EXPIRED)

    @property
    def operating(self) -> bool:
        """True in O5."""
        return self.state in OPERATING
