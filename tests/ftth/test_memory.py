"""ftth.memory: the run-time memory policy is applied during a run and undone after it."""

from __future__ import annotations

import pytest

import ftth
from ftth.memory import _hugepage_switch, pin_mmap_threshold, run_memory_policy


def test_huge_page_hint_off_during_a_run_and_restored() -> None:
    switch = _hugepage_switch()
    if switch is None:
        pytest.skip("this numpy has no huge-page hint")
    get, put = switch
    for before in (True, False):
        put(before)
        with run_memory_policy():
            assert get() is False
        assert get() is before


def test_a_run_leaves_numpys_setting_as_it_found_it() -> None:
    switch = _hugepage_switch()
    if switch is None:
        pytest.skip("this numpy has no huge-page hint")
    get, put = switch
    put(True)
    ftth.run(None, overrides=["duration_s=0.002"])
    assert get() is True


def test_mmap_threshold_pin_is_idempotent() -> None:
    first = pin_mmap_threshold()
    assert pin_mmap_threshold() == first
