"""The one-pass departure fold equals the numpy fold (and the bucket rule of ftth.metrics)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.emulator import collector
from ftth.emulator.collector import DirectionStats
from ftth.errors import InvariantError
from ftth.fold import bucket_of
from ftth.metrics import _bucket_index


@given(st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=50))
def test_bucket_of_matches_vectorised_rule(values: list[int]) -> None:
    expected = _bucket_index(np.array(values, dtype=np.int64))
    assert [bucket_of(v) for v in values] == expected.tolist()


def _batch(rng: np.random.Generator, n: int, n_queues: int) -> tuple[np.ndarray, ...]:
    queue = rng.integers(0, n_queues, n).astype(np.int64)
    arrival = rng.integers(0, 10**9, n).astype(np.int64)
    delay = (rng.pareto(1.3, n) * 1e6).astype(np.int64)
    size = rng.integers(64, 1519, n).astype(np.int64)
    return queue, arrival, size, arrival + delay


def _fold_all(accelerated: bool, batches: list[tuple[np.ndarray, ...]], monkey: pytest.MonkeyPatch
              ) -> DirectionStats:  # fmt: skip
    monkey.setattr(collector, "ACCELERATED", accelerated)
    stats = DirectionStats(n_queues=7, warmup_ps=2 * 10**8, end_ps=8 * 10**8)
    for b in batches:
        stats.departures(*b)
        stats.flush()
    return stats


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 3000), min_size=1, max_size=4))
def test_kernel_fold_equals_numpy_fold(seed: int, sizes: list[int]) -> None:
    rng = np.random.default_rng(seed)
    batches = [_batch(rng, n, 7) for n in sizes]
    with pytest.MonkeyPatch.context() as monkey:
        a = _fold_all(True, batches, monkey)
        b = _fold_all(False, batches, monkey)
    assert np.array_equal(a.delays.counts, b.delays.counts)
    assert np.array_equal(a.delays.acc, b.delays.acc)
    assert np.array_equal(a.window_delivered, b.window_delivered)
    for r in range(7):
        assert a.delays.row(r) == b.delays.row(r)
    # Nothing is lost: every packet arriving after warm-up is counted once.
    measured = sum(int((x[1] >= 2 * 10**8).sum()) for x in batches)
    assert int(a.delays.acc[:, 0].sum()) == measured


def test_kernel_fold_refuses_negative_delay() -> None:
    stats = DirectionStats(n_queues=1, warmup_ps=0, end_ps=10)
    one = np.ones(1, dtype=np.int64)
    with pytest.raises(InvariantError, match="negative delay"):
        stats.departures(one * 0, one * 5, one * 64, one * 4)
        stats.flush()


def test_large_sums_settle_exactly() -> None:
    stats = DirectionStats(n_queues=1, warmup_ps=0, end_ps=2**62)
    n = 4
    delay = np.full(n, 2**61, dtype=np.int64)
    zeros = np.zeros(n, dtype=np.int64)
    for _ in range(3):
        stats.departures(zeros, zeros, zeros + 64, delay)
        stats.flush()
    assert stats.delays.sum_ps(0) == 3 * n * 2**61
    assert stats.delays.row(0).sum_ps == 3 * n * 2**61


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_offered_kernel_equals_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 50, 5).astype(np.int64)
    arrival = rng.integers(0, 10**9, int(lengths.sum())).astype(np.int64)
    size = rng.integers(64, 1519, int(lengths.sum())).astype(np.int64)
    out = []
    for accelerated in (True, False):
        with pytest.MonkeyPatch.context() as monkey:
            monkey.setattr(collector, "ACCELERATED", accelerated)
            stats = DirectionStats(n_queues=5, warmup_ps=2 * 10**8, end_ps=8 * 10**8)
            stats.offered_flat(arrival, size, lengths)
            out.append(stats.window_offered_bytes.copy())
    assert np.array_equal(out[0], out[1])
    queue = np.repeat(np.arange(5), lengths)
    inside = (arrival >= 2 * 10**8) & (arrival < 8 * 10**8)
    assert out[0].tolist() == [int(size[inside & (queue == q)].sum()) for q in range(5)]
