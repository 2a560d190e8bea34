"""Kernel arithmetic of ftth.fifo: the reciprocal division is the exact integer division."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftth.fifo import div_floor, encap_vector
from ftth.phy import PROFILES


@given(st.integers(0, 2**62), st.integers(1, 2**40))
def test_div_floor_is_exact(x: int, b: int) -> None:
    assert div_floor(x, b, 1.0 / b) == x // b


@given(st.integers(0, 2**20), st.sampled_from([1, 3, 7, 8000, 155520, 125_000_000, 216]))
def test_div_floor_exact_at_multiples(k: int, b: int) -> None:
    # Exact multiples and their neighbours are where a float estimate is most likely off.
    for x in (k * b - 1, k * b, k * b + 1):
        if x >= 0:
            assert div_floor(x, b, 1.0 / b) == x // b


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_alignment_is_a_power_of_two(name: str) -> None:
    enc = encap_vector(PROFILES[name])
    align = int(enc[1])
    assert align >= 1 and align & (align - 1) == 0
