"""The control plan: the steady plan reproduces the pre-activation behaviour."""

from __future__ import annotations

import numpy as np

from ftth.emulator.control import DOWN_CAUSES, ControlPlan, steady_plan
from ftth.units import FRAME_PS


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
