"""Kernel arithmetic of onu.fifo: the reciprocal division is the exact integer division."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.phy import PROFILES
from onu.fifo import ADMIT, HEAD, LO, div_floor, encap_vector, flatten_batches


# No deadline: the first example loads the compiled kernel (seconds on a busy machine).
@settings(deadline=None)
@given(st.integers(0, 2**62), st.integers(1, 2**40))
def test_div_floor_is_exact(x: int, b: int) -> None:
    assert div_floor(x, b, 1.0 / b) == x // b


@settings(deadline=None)
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


def _random_store(seed: int) -> tuple[object, list[tuple[np.ndarray, np.ndarray]]]:
    from onu.fifo import QueueStore

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    store = QueueStore(PROFILES["xgs-pon"], [int(b) for b in rng.integers(0, 20_000, n)], [0] * n)

    def batches() -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for _ in range(n):
            m = int(rng.integers(0, 30))
            out.append(
                (
                    np.sort(rng.integers(0, 10**6, m)).astype(np.int64),
                    rng.integers(64, 1519, m).astype(np.int64),
                )
            )
        return out

    store.append_flat(*flatten_batches(batches()))
    # Admit part of the arrivals (some dropped), serve a few grants, then append again.
    store.admit_all(int(rng.integers(0, 10**6)))
    for q in range(n):
        store.qs[q, HEAD] = store.qs[q, LO] + int(
            rng.integers(0, store.qs[q, ADMIT] - store.qs[q, LO] + 1)
        )
    return store, batches()


@settings(deadline=None)  # the first example may compile the kernel
@given(st.integers(0, 2**32 - 1))
def test_compiled_append_equals_numpy_append(seed: int) -> None:
    from onu import fifo

    results = []
    for accelerated in (True, False):
        store, new = _random_store(seed)
        with pytest.MonkeyPatch.context() as monkey:
            monkey.setattr(fifo, "ACCELERATED", accelerated)
            store.append_flat(*flatten_batches(new))
        results.append(store)
    a, b = results
    assert np.array_equal(a.qs, b.qs)
    assert np.array_equal(a.arrival_ps, b.arrival_ps)
    assert np.array_equal(a.size_bytes, b.size_bytes)
    assert np.array_equal(a.state, b.state)
