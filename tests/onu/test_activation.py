"""The ONU activation state machine against G.984.3 §10.2 (GPON) and G.987.3 §12 (XG/XGS).

Each test walks the machine through the standard's sequence and checks the states and the
timers (TO1 = 10 s, TO2 = 100 ms) at the picosecond the standard puts them.
"""

from __future__ import annotations

import pytest

from ftth.phy import TO1_PS, TO2_PS
from ftth.units import PS_PER_MS, PS_PER_S
from onu.activation import (
    Event,
    OnuMachine,
    State,
    TransitionError,
    accepts,
    family_of,
    initial_state,
    next_state,
    serial_number_state,
)

XG_SEQUENCE = [
    (Event.POWER_ON, State.O1_1),
    (Event.DS_SYNC, State.O1_2),
    (Event.PROFILE, State.O2_3),
    (Event.ASSIGN_ONU_ID, State.O4),
    (Event.RANGING_TIME, State.O5),
]
GPON_SEQUENCE = [
    (Event.POWER_ON, State.O1),
    (Event.DS_SYNC, State.O2),
    (Event.PROFILE, State.O3),
    (Event.ASSIGN_ONU_ID, State.O4),
    (Event.RANGING_TIME, State.O5),
]


def test_timer_values_are_the_standards() -> None:
    # G.984.3 §10.2.3 / G.987.3 §12.1.3: TO1 = 10 s, TO2 = 100 ms.
    assert TO1_PS == 10 * PS_PER_S
    assert TO2_PS == 100 * PS_PER_MS


def test_families() -> None:
    assert family_of("gpon") == "gpon"
    assert family_of("xg-pon") == family_of("xgs-pon") == "xg"
    with pytest.raises(ValueError, match="no ITU activation"):
        family_of("epon-10g")
    assert initial_state("xg") is State.O1_1 and initial_state("gpon") is State.O1
    assert serial_number_state("xg") is State.O2_3 and serial_number_state("gpon") is State.O3


@pytest.mark.parametrize(("family", "sequence"), [("xg", XG_SEQUENCE), ("gpon", GPON_SEQUENCE)])
def test_activation_sequence(family: str, sequence: list[tuple[Event, State]]) -> None:
    m = OnuMachine(family)
    for step, (event, state) in enumerate(sequence):
        assert m.fire(step * 1000, event) is state
    assert m.operating
    assert [h[2] for h in m.history] == [s for _, s in sequence]
    assert [h[0] for h in m.history] == [i * 1000 for i in range(len(sequence))]


@pytest.mark.parametrize(
    ("family", "state", "event"),
    [
        ("xg", State.O2_3, Event.RANGING_TIME),  # ranging before an ONU-ID
        ("xg", State.O1_1, Event.ASSIGN_ONU_ID),  # not synchronised yet
        ("xg", State.O5, Event.PROFILE),
        ("gpon", State.O2, Event.ASSIGN_ONU_ID),  # GPON needs the Upstream_Overhead first
        ("gpon", State.O6, Event.DS_SYNC),  # GPON leaves POPUP on a POPUP message only
        ("xg", State.OFF, Event.DS_SYNC),  # an unpowered ONU sees nothing
    ],
)
def test_refused_transitions(family: str, state: State, event: Event) -> None:
    assert not accepts(family, state, event)
    with pytest.raises(TransitionError):
        next_state(family, state, event)


def _operating(family: str) -> OnuMachine:
    m = OnuMachine(family)
    for step, (event, _) in enumerate(XG_SEQUENCE if family == "xg" else GPON_SEQUENCE):
        m.fire(step, event)
    return m


@pytest.mark.parametrize("family", ["xg", "gpon"])
def test_lods_then_to2_expiry_returns_to_o1(family: str) -> None:
    m = _operating(family)
    lods_at = 5 * PS_PER_MS
    assert m.fire(lods_at, Event.LODS) is State.O6
    assert m.to2_deadline_ps == lods_at + TO2_PS
    m.expire_timers(lods_at + TO2_PS - 1)
    assert m.state is State.O6  # one picosecond early: still waiting
    m.expire_timers(lods_at + TO2_PS)
    assert m.state is initial_state(family)
    assert m.history[-1][0] == lods_at + TO2_PS  # recorded at the deadline, not later
    assert m.to2_deadline_ps is None


def test_xg_downstream_regained_within_to2_returns_to_operation() -> None:
    m = _operating("xg")
    m.fire(0, Event.LODS)
    assert m.fire(TO2_PS // 2, Event.DS_SYNC) is State.O5
    assert m.to2_deadline_ps is None
    m.expire_timers(2 * TO2_PS)
    assert m.state is State.O5


def test_gpon_popup() -> None:
    m = _operating("gpon")
    m.fire(0, Event.LODS)
    assert m.fire(1, Event.POPUP_DIRECTED) is State.O5
    m.fire(2, Event.LODS)
    assert m.fire(3, Event.POPUP_BROADCAST) is State.O4  # ranged again


def test_to1_in_ranging() -> None:
    """XG arms TO1 on entering O4; not ranged in time → back to O2-3.  GPON arms it in O3."""
    m = OnuMachine("xg")
    for step, (event, _) in enumerate(XG_SEQUENCE[:4]):
        m.fire(step, event)
    assert m.state is State.O4 and m.to1_deadline_ps == 3 + TO1_PS
    m.expire_timers(3 + TO1_PS)
    assert m.state is State.O2_3 and m.to1_deadline_ps is None
    g = OnuMachine("gpon")
    for step, (event, _) in enumerate(GPON_SEQUENCE[:3]):
        g.fire(step, event)
    assert g.state is State.O3 and g.to1_deadline_ps == 2 + TO1_PS
    g.fire(10, Event.ASSIGN_ONU_ID)
    assert g.to1_deadline_ps == 2 + TO1_PS  # O3 → O4 keeps the same TO1 running
    g.fire(20, Event.RANGING_TIME)
    assert g.to1_deadline_ps is None


@pytest.mark.parametrize("family", ["xg", "gpon"])
def test_disable_and_enable(family: str) -> None:
    m = _operating(family)
    assert m.fire(7, Event.DISABLE) is State.O7
    assert not accepts(family, State.O7, Event.DS_SYNC)
    assert m.fire(8, Event.ENABLE) is (State.O2_3 if family == "xg" else State.O2)


def test_lods_before_operation_restarts_from_o1() -> None:
    for state in (State.O2_3, State.O4):
        assert next_state("xg", state, Event.LODS) is State.O1_1
    for state in (State.O2, State.O3, State.O4):
        assert next_state("gpon", state, Event.LODS) is State.O1


def test_power() -> None:
    m = _operating("xg")
    assert m.fire(1, Event.POWER_OFF) is State.OFF
    assert not m.try_fire(2, Event.DS_SYNC)
    assert m.fire(3, Event.POWER_ON) is State.O1_1
