"""The control plan: the steady plan, activation of 64 ONUs, and every fault's timeline
(against the standard's timers and the hand computation of docs/activation.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ftth.emulator.control import (
    ACTIVATING,
    DOWN_CAUSES,
    LINK_DOWN,
    NOT_YET_JOINED,
    POWER_OFF,
    ControlPlan,
    ControlRun,
    control_plan,
    simulate_control,
    steady_plan,
)
from ftth.phy import (
    DS_SYNC_FRAMES,
    LOBI_MISSED_BURSTS,
    LODS_FRAMES,
    PROFILE_LEARNING_FRAMES,
    RANGING_QUIET_WINDOW_PS,
    ROGUE_DETECT_FRAMES,
    SN_QUIET_WINDOW_PS,
    TO2_PS,
)
from ftth.scenario import Scenario, scenario_from_dict
from ftth.units import FRAME_PS, PS_PER_MS, PS_PER_S


def test_steady_plan_has_every_onu_up_in_every_frame() -> None:
    plan = steady_plan(5, 80, FRAME_PS)
    assert plan.frame_ps == FRAME_PS
    assert plan.op_onu.tolist() == [0, 1, 2, 3, 4]
    assert plan.op_start_frame.tolist() == [0] * 5
    assert plan.op_end_frame.tolist() == [80] * 5
    assert plan.operating(5, 80).all()
    assert plan.is_steady
    assert plan.down_onu.size == plan.quiet_frame.size == plan.corrupt_start_frame.size == 0
    assert plan.activated_ps.tolist() == [0] * 5
    assert plan.quiet_ps_per_frame(80).sum() == 0


def test_a_plan_with_a_down_span_is_not_steady() -> None:
    plan = ControlPlan(
        frame_ps=FRAME_PS,
        op_onu=np.array([0, 0], dtype=np.int64),
        op_start_frame=np.array([0, 20], dtype=np.int64),
        op_end_frame=np.array([10, 40], dtype=np.int64),
        down_onu=np.array([0], dtype=np.int64),
        down_start_frame=np.array([10], dtype=np.int64),
        down_end_frame=np.array([20], dtype=np.int64),
        down_cause=np.array([1], dtype=np.int64),
        quiet_frame=np.array([3], dtype=np.int64),
        quiet_ps=np.array([250_000_000], dtype=np.int64),
    )
    assert not plan.is_steady
    mask = plan.operating(1, 40)[:, 0]
    assert mask[:10].all() and not mask[10:20].any() and mask[20:].all()
    assert plan.quiet_ps_per_frame(40)[3] == 250_000_000
    assert DOWN_CAUSES[int(plan.down_cause[0])] == "link-down"


# ====================================================================== the simulated plan
def scenario(**top: Any) -> Scenario:
    """XGS-PON, 1:4 then 1:8, 8 ONUs (ids 1..8) spread over 0–20 km, 0.5 s."""
    data: dict[str, Any] = {
        "name": "c",
        "technology": "xgs-pon",
        "duration_s": 0.5,
        "tree": {"splitters": [4, 8]},
        "onus": {"count": 8, "drop_km": [0, 20]},
        "activation": {"discovery_period_ms": 10},
    }
    data.update(top)
    return scenario_from_dict(data)


def spans(plan: ControlPlan, onu: int) -> list[tuple[int, int, int]]:
    """``(start, end, cause)`` of one ONU, operating = -1, in order."""
    rows = [
        (int(s), int(e), -1)
        for o, s, e in zip(plan.op_onu, plan.op_start_frame, plan.op_end_frame, strict=True)
        if o == onu
    ]
    rows += [
        (int(s), int(e), int(c))
        for o, s, e, c in zip(
            plan.down_onu, plan.down_start_frame, plan.down_end_frame, plan.down_cause, strict=True
        )
        if o == onu
    ]
    return sorted(rows)


def assert_tiles(run: ControlRun, n_frames: int) -> None:
    """Every ONU's operating and down spans tile [0, n_frames) with no gap or overlap, and
    the rows are sorted by (onu, start) as the interface says."""
    plan = run.plan
    for onu in range(len(run.onu_ids)):
        rows = spans(plan, onu)
        assert rows[0][0] == 0 and rows[-1][1] == n_frames
        for (_, end, _), (start, _, _) in zip(rows, rows[1:], strict=False):
            assert end == start
    for a, b in ((plan.op_onu, plan.op_start_frame), (plan.down_onu, plan.down_start_frame)):
        keys = list(zip(a.tolist(), b.tolist(), strict=True))
        assert keys == sorted(keys)


def first(plan: ControlPlan, kind: str, onu_id: int | None = None) -> int:
    times = [e.time_ps for e in plan.events if e.kind == kind and e.onu_id == onu_id]
    assert times, (kind, onu_id)
    return min(times)


def test_without_activation_or_faults_the_plan_is_steady() -> None:
    sc = scenario(activation={})
    plan = control_plan(sc)
    assert plan.is_steady and plan.op_end_frame.tolist() == [4000] * 8


# ---------------------------------------------------------------- 64 ONUs activate (issue 12)
def hand_activation_ps(period_ps: int, n_onus: int, sn_windows: int) -> int:
    """docs/activation.md: the first discovery window after power-on opens at one period
    (the ONUs need DS_SYNC_FRAMES + PROFILE_LEARNING_FRAMES frames, far less); then
    ``sn_windows`` serial-number windows and one ranging window per ONU, each 2 frames
    (250 µs and 202 µs, rounded up to whole 125 µs frames)."""
    assert period_ps > (DS_SYNC_FRAMES + PROFILE_LEARNING_FRAMES) * FRAME_PS
    two_frames = 2 * FRAME_PS
    assert SN_QUIET_WINDOW_PS[20] <= two_frames and RANGING_QUIET_WINDOW_PS[20] <= two_frames
    return period_ps + (sn_windows + n_onus) * two_frames


def test_64_onus_activate_in_the_hand_computed_time() -> None:
    sc = scenario(
        duration_s=0.05,
        tree={"splitters": [64]},
        onus={"count": 64, "drop_km": [0, 20]},
        activation={"enabled": True, "discovery_period_ms": 10},
    )
    run = simulate_control(sc)
    plan = run.plan
    assert (plan.activated_ps > 0).all()
    assert all(h[-1][2] == "O5" for h in run.histories)
    assert run.ranging_windows == 64
    # Collisions happened (seed 1) and every collided ONU was read in a retry window.
    collided = {e.onu_id for e in plan.events if e.kind == "sn-collision"}
    assert run.collisions > 0 and collided
    assert all(plan.activated_ps[run.onu_ids.index(o)] > 0 for o in collided)
    # The docs' estimate assumes one retry window for the collisions (2 SN windows).
    hand = hand_activation_ps(10 * PS_PER_MS, 64, 2)
    emulated = int(plan.activated_ps.max())
    assert abs(emulated - hand) <= 0.10 * hand, (emulated, hand)
    # With the emulated count of SN windows in the activation burst the sum is exact up to
    # the last Ranging_Time's trip to its ONU (one way, ≤ 100 µs at 20 km).
    burst = [e for e in plan.events if e.kind == "sn-window"]
    exact = hand_activation_ps(10 * PS_PER_MS, 64, len(burst))
    assert 0 <= emulated - exact <= 100 * 10**6
    assert_tiles(run, 400)
    # The quiet windows cost upstream time: 2 frames for each window of the run.
    total_quiet = int(plan.quiet_ps.sum())
    assert total_quiet == run.sn_windows * SN_QUIET_WINDOW_PS[20] + 64 * RANGING_QUIET_WINDOW_PS[20]


def test_same_seed_same_plan_other_seed_other_collisions() -> None:
    sc = scenario(
        duration_s=0.03,
        tree={"splitters": [64]},
        onus={"count": 64, "drop_km": [0, 20]},
        activation={"enabled": True, "discovery_period_ms": 10},
    )
    a, b = simulate_control(sc, seed=5), simulate_control(sc, seed=5)
    assert a.plan.events == b.plan.events
    assert (a.plan.activated_ps == b.plan.activated_ps).all()
    collided = {
        seed: tuple(
            e.onu_id
            for e in simulate_control(sc, seed=seed).plan.events
            if e.kind == "sn-collision"
        )
        for seed in (1, 2, 3)
    }
    assert len(set(collided.values())) > 1  # the random delays depend on the seed


# ---------------------------------------------------------------- feeder cut and restore
def test_feeder_cut_and_restore() -> None:
    sc = scenario(faults=[{"at_s": 0.1, "kind": "fibre-cut"}, {"at_s": 0.3, "kind": "restore"}])
    run = simulate_control(sc)
    plan = run.plan
    cut_frame, restore_frame = 800, 2400
    teqd = sc.topology().teqd_ps
    assert_tiles(run, 4000)
    for onu, onu_id in enumerate(run.onu_ids):
        rows = spans(plan, onu)
        assert rows[0] == (0, cut_frame, -1)  # pre-activated, operating until the cut
        assert rows[1] == (cut_frame, restore_frame, LINK_DOWN)
        assert rows[2][0] == restore_frame and rows[2][2] == ACTIVATING
        assert rows[-1][2] == -1 and rows[-1][1] == 4000  # back in operation
        # O5 → O6 after LODS_FRAMES lost frames (plus the one-way trip), O6 → O1.1 at TO2.
        left = [t for t, a, b in run.histories[onu] if (a, b) == ("O5", "O6")][0]
        one_way = sc.topology().place(onu_id).one_way_ps
        assert left == (cut_frame + LODS_FRAMES - 1) * FRAME_PS + one_way
        back = [t for t, a, b in run.histories[onu] if (a, b) == ("O6", "O1.1")][0]
        assert back == left + TO2_PS
        lobi = first(plan, "LOBi", onu_id)
        assert lobi == (cut_frame + LOBI_MISSED_BURSTS - 1) * FRAME_PS + teqd
        assert first(plan, "LODS", onu_id) == left
    assert first(plan, "LOS") == lobi
    assert first(plan, "LOS-cleared") > 0.3 * PS_PER_S


def test_a_short_cut_does_not_need_re_activation() -> None:
    """Restored within TO2: the ONUs leave O6 for O5 once the downstream is back, with no
    new serial number or ranging."""
    sc = scenario(faults=[{"at_s": 0.1, "kind": "fibre-cut"}, {"at_s": 0.15, "kind": "restore"}])
    run = simulate_control(sc)
    assert not [e for e in run.plan.events if e.kind == "ranging"]
    for onu in range(8):
        rows = spans(run.plan, onu)
        assert rows[1] == (800, 1200, LINK_DOWN)
        # DS_SYNC_FRAMES good frames, operating from the next frame
        assert rows[2] == (1200, 1200 + DS_SYNC_FRAMES, ACTIVATING)
        assert rows[3][2] == -1


def test_branch_cut_hits_only_the_onus_behind_it() -> None:
    sc = scenario(
        onus={"count": 16, "drop_km": [0, 20]},
        faults=[{"at_s": 0.1, "kind": "fibre-cut", "branch": "2"}],
    )
    run = simulate_control(sc)
    down = {run.onu_ids[o] for o in set(run.plan.down_onu.tolist())}
    assert down == set(range(9, 17))  # the 9th..16th ONUs sit on outputs 2.1..2.8


# ---------------------------------------------------------------- power, rogue, margins, joins
def test_power_off_sends_a_dying_gasp_and_power_on_re_activates() -> None:
    sc = scenario(
        faults=[
            {"at_s": 0.05, "kind": "onu-power", "onu": 3, "power": "off"},
            {"at_s": 0.2, "kind": "onu-power", "onu": 3, "power": "on"},
        ]
    )
    run = simulate_control(sc)
    plan = run.plan
    assert first(plan, "dying-gasp", 3) == 50 * PS_PER_MS
    assert first(plan, "DGi", 3) > first(plan, "dying-gasp", 3)
    assert not [e for e in plan.events if e.kind == "LOBi"]  # a dying gasp is not a LOBi
    rows = spans(plan, 2)
    assert rows[:3] == [(0, 400, -1), (400, 1600, POWER_OFF), (1600, rows[2][1], ACTIVATING)]
    # the next discovery window after power-on (period 10 ms, at frame 1680) finds it:
    # SN window (2 frames), ranging window (2 frames), operating from the next frame
    assert rows[3][2] == -1 and rows[3][0] == 1680 + 2 + 2 + 1


def test_rogue_onu_is_detected_and_isolated() -> None:
    sc = scenario(faults=[{"at_s": 0.1, "kind": "rogue-onu", "onu": 4}])
    run = simulate_control(sc)
    plan = run.plan
    assert plan.corrupt_rogue_onu.tolist() == [3]
    start, end = int(plan.corrupt_start_frame[0]), int(plan.corrupt_end_frame[0])
    assert start == 800 and end == 800 + ROGUE_DETECT_FRAMES + 3 * 2  # 8 ONUs: 3 probes
    assert first(plan, "rogue-detected") == (800 + ROGUE_DETECT_FRAMES) * FRAME_PS
    assert spans(plan, 3)[-1] == (end, 4000, LINK_DOWN)
    assert run.histories[3][-1][2] == "O7"
    for onu in (0, 1, 2, 4, 5, 6, 7):  # the others never stop operating
        assert spans(plan, onu) == [(0, 4000, -1)]


def test_splitter_loss_margins() -> None:
    """ONU 8 (20 km) has 0.3 dB of margin: +2 dB makes it negative (bit errors, still up);
    +6 dB on branch 1 puts every ONU behind it below the LOS level (down)."""
    sc = scenario(
        faults=[
            {"at_s": 0.1, "kind": "splitter-loss", "branch": "1.8", "extra_db": 2},
            {"at_s": 0.2, "kind": "splitter-loss", "branch": "1", "extra_db": 6},
        ]
    )
    budget = {row.onu_id: row.margin_db for row in sc.optical_budget().onus}
    run = simulate_control(sc)
    plan = run.plan
    rows = [
        (int(o), int(s), int(e), float(m))
        for o, s, e, m in zip(
            plan.margin_onu,
            plan.margin_start_frame,
            plan.margin_end_frame,
            plan.margin_db,
            strict=True,
        )
    ]
    assert (7, 0, 800, budget[8]) in rows
    assert (7, 800, 1600, pytest.approx(budget[8] - 2)) in rows
    assert budget[8] - 2 < 0 and spans(plan, 7)[0] == (0, 1600, -1)  # marginal: stays up
    assert (7, 1600, 4000, pytest.approx(budget[8] - 8)) in rows
    for onu, onu_id in enumerate(run.onu_ids):
        below = budget[onu_id] - 6 - (2 if onu_id == 8 else 0) < -3.0
        assert (spans(plan, onu)[-1][2] == LINK_DOWN) == below, onu_id


def test_late_join_activates_at_the_next_discovery_window() -> None:
    sc = scenario(
        onus=[{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 5.0, "join_at_s": 0.2}],
        tree={"splitters": [32]},
    )
    run = simulate_control(sc)
    rows = spans(run.plan, 1)
    assert rows[0] == (0, 1600, NOT_YET_JOINED)
    assert rows[1][2] == ACTIVATING and rows[2][2] == -1
    assert 1600 + 80 <= rows[2][0] <= 1600 + 80 + 2 + 2 + 1  # window at 0.21 s, then ranging
    assert spans(run.plan, 0) == [(0, 4000, -1)]


def test_gpon_walks_its_own_states() -> None:
    sc = scenario(technology="gpon", activation={"enabled": True, "discovery_period_ms": 10})
    run = simulate_control(sc, n_frames=400)
    states = [b for _, _, b in run.histories[0]]
    assert states == ["O1", "O2", "O3", "O4", "O5"]


@pytest.mark.parametrize("technology", ["xgs-pon", "gpon"])
def test_skipping_quiet_frames_changes_nothing(technology: str) -> None:
    """The frame clock jumps over frames in which nothing can change; visiting every frame
    gives the same plan, event for event."""
    sc = scenario(
        technology=technology,
        onus=[{"id": i, "drop_km": 2.5 * i} for i in range(1, 8)]
        + [{"id": 8, "drop_km": 3.0, "join_at_s": 0.12}],
        activation={"enabled": True, "discovery_period_ms": 20},
        faults=[
            {"at_s": 0.05, "kind": "onu-power", "onu": 3, "power": "off"},
            {"at_s": 0.1, "kind": "fibre-cut", "branch": "1"},
            {"at_s": 0.15, "kind": "restore", "branch": "1"},
            {"at_s": 0.2, "kind": "onu-power", "onu": 3, "power": "on"},
            {"at_s": 0.25, "kind": "rogue-onu", "onu": 5},
            {"at_s": 0.3, "kind": "fibre-cut"},
            {"at_s": 0.45, "kind": "restore"},
            {"at_s": 0.46, "kind": "splitter-loss", "branch": "1.7", "extra_db": 20},
        ],
    )
    fast, slow = simulate_control(sc), simulate_control(sc, skip_quiet_frames=False)
    assert fast.plan.events == slow.plan.events
    for name in ControlPlan.__dataclass_fields__:
        a, b = getattr(fast.plan, name), getattr(slow.plan, name)
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, name
    assert fast.histories == slow.histories
    assert_tiles(fast, 4000)


def test_a_fault_at_the_instant_an_onu_joins_finds_it_joined() -> None:
    sc = scenario(
        onus=[{"id": 1, "drop_km": 1.0}, {"id": 2, "drop_km": 2.0, "join_at_s": 0.1}],
        tree={"splitters": [32]},
        faults=[
            {"at_s": 0.0, "kind": "onu-power", "onu": 1, "power": "off"},
            {"at_s": 0.1, "kind": "onu-power", "onu": 2, "power": "off"},
        ],
    )
    run = simulate_control(sc)
    assert spans(run.plan, 0) == [(0, 4000, POWER_OFF)]
    assert spans(run.plan, 1) == [(0, 800, NOT_YET_JOINED), (800, 4000, POWER_OFF)]
    assert run.histories[0][-1][2] == "off" and run.histories[1][-1][2] == "off"


def test_a_rogue_switched_off_stops_corrupting_and_starts_again_when_on() -> None:
    sc = scenario(
        faults=[
            {"at_s": 0.1, "kind": "rogue-onu", "onu": 4},
            {"at_s": 0.1005, "kind": "onu-power", "onu": 4, "power": "off"},  # frame 804
            {"at_s": 0.2, "kind": "onu-power", "onu": 4, "power": "on"},
        ]
    )
    fast, slow = simulate_control(sc), simulate_control(sc, skip_quiet_frames=False)
    assert fast.plan.events == slow.plan.events
    plan = fast.plan
    rows = list(
        zip(plan.corrupt_start_frame.tolist(), plan.corrupt_end_frame.tolist(), strict=True)
    )
    # off before detection: 4 frames; on again: detected and isolated from scratch
    assert rows == [(800, 804), (1600, 1600 + ROGUE_DETECT_FRAMES + 3 * 2)]
    assert len([e for e in plan.events if e.kind == "rogue-detected"]) == 1
    assert run_state(fast, 3) == "O7"


def run_state(run: ControlRun, onu: int) -> str:
    return run.histories[onu][-1][2]
