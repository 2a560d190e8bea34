"""Tests of ftth.metrics: every assertion states its tolerance and why it is that tolerance."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.errors import InputError, InvariantError
from ftth.metrics import (
    _BUCKET_HIGH_PS,
    _BUCKET_LOW_PS,
    BUCKET_COUNT,
    TRACE_COLUMNS,
    DelayHistogram,
    PacketTrace,
    _bucket_index,
    jain_index,
)

INT64_MAX = 2**63 - 1
#: The bound proved in DelayHistogram's docstring (half a sub-bucket over its lowest value).
#: The 1e-9 slack covers only the float rounding of the midpoint above 2**53 ps.
PROVEN_RELATIVE_ERROR = (1 / 256) * (1 + 1e-9)
#: What the results contract promises; the proven bound is tighter, so tests use that one.
PROMISED_RELATIVE_ERROR = 0.01
QS = (0.0, 0.1, 1.0, 5.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0)

delay_lists = st.lists(st.integers(min_value=0, max_value=10**15), min_size=1, max_size=300)
wide_delay_lists = st.lists(st.integers(min_value=0, max_value=INT64_MAX), min_size=1, max_size=50)


def relative_error(estimate: float, exact: float) -> float:
    """|estimate - exact| / exact, and 0 only when both are 0 (values below 256 are exact)."""
    if exact == 0:
        return 0.0 if estimate == 0 else math.inf
    return abs(estimate - exact) / exact


def exact_percentile(values: np.ndarray, q: float) -> int:
    return int(np.percentile(values, q, method="inverted_cdf"))


def histogram_of(values: np.ndarray | list[int]) -> DelayHistogram:
    histogram = DelayHistogram()
    histogram.add(np.asarray(values, dtype=np.int64))
    return histogram


# ---------------------------------------------------------------------------------------------
# Bucket layout: the premises of the error-bound proof, checked on every one of the buckets
# ---------------------------------------------------------------------------------------------


def test_buckets_tile_the_whole_non_negative_int64_range() -> None:
    """No gap, no overlap, 0 to 2**63 - 1: exact integer comparison (a layout is exact)."""
    assert _BUCKET_LOW_PS.size == BUCKET_COUNT == 7296
    assert _BUCKET_LOW_PS[0] == 0
    assert int(_BUCKET_HIGH_PS[-1]) == INT64_MAX
    assert np.array_equal(_BUCKET_LOW_PS[1:], _BUCKET_HIGH_PS[:-1] + 1)


def test_every_bucket_half_width_is_within_1_over_256_of_its_lowest_value() -> None:
    """The proof's key inequality, checked exhaustively in exact integers: 256*(w-1)/2 <= low."""
    low = [int(v) for v in _BUCKET_LOW_PS]
    high = [int(v) for v in _BUCKET_HIGH_PS]
    for lowest, highest in zip(low, high, strict=True):
        # (highest - lowest) / 2 is the largest distance from the midpoint to a member.
        assert 256 * (highest - lowest) <= 2 * lowest or highest == lowest


def test_bucket_index_maps_every_bucket_edge_to_its_own_bucket() -> None:
    """Exact: the index function and the bounds must be inverse on every edge."""
    expected = np.arange(BUCKET_COUNT)
    assert np.array_equal(_bucket_index(_BUCKET_LOW_PS), expected)
    assert np.array_equal(_bucket_index(_BUCKET_HIGH_PS), expected)


def test_bucket_index_is_exact_around_powers_of_two_beyond_float_precision() -> None:
    """Values 2**k - 1 round up to 2**k as float64 once k > 53: they must not change band."""
    values = sorted({v for k in range(64) for v in (2**k - 2, 2**k - 1, 2**k, 2**k + 1)})
    array = np.array([v for v in values if 0 <= v <= INT64_MAX], dtype=np.int64)
    index = _bucket_index(array)
    assert np.all(_BUCKET_LOW_PS[index] <= array)
    assert np.all(array <= _BUCKET_HIGH_PS[index])


def reference_bucket_index(value: int) -> int:
    """The bucket map of the docstring, in exact Python integers."""
    shift = max(0, value.bit_length() - 8)
    return 128 * shift + (value >> shift)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.integers(0, INT64_MAX)
        # Where float64 rounds v up to the next power of two: the top 54 bits all ones.
        | st.integers(54, 63).flatmap(lambda k: st.integers(2**k - 2 ** (k - 54), 2**k - 1)),
        min_size=1,
        max_size=50,
    )
)
def test_bucket_index_matches_integer_reference(values: list[int]) -> None:
    """Exact: the float-assisted vectorised map equals the pure-integer definition."""
    index = _bucket_index(np.array(values, dtype=np.int64))
    assert index.tolist() == [reference_bucket_index(v) for v in values]


# ---------------------------------------------------------------------------------------------
# Percentile accuracy against numpy's exact percentile
# ---------------------------------------------------------------------------------------------

_rng = np.random.default_rng(20240611)
DISTRIBUTIONS = {
    # A queueing delay around 100 µs.
    "exponential": _rng.exponential(100e6, 100_000).astype(np.int64),
    # Heavy tail: sigma 2.5 spreads the sample over ~10 decades.
    "lognormal_heavy_tail": np.minimum(_rng.lognormal(np.log(1e8), 2.5, 100_000), 1e15).astype(
        np.int64
    ),
    "constant": np.full(10_000, 123_456_789, dtype=np.int64),
    # Log-uniform from 1 ps to 1000 s: every band of the histogram gets used.
    "ps_to_1000_s": np.exp(_rng.uniform(0, np.log(1e15), 100_000)).astype(np.int64),
    # Below 256 ps every value has its own bucket: percentiles must be exact.
    "small_exact": _rng.integers(0, 256, 5_000),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_percentiles_within_proven_bound_of_numpy(name: str) -> None:
    """Relative error <= 1/256 (proved bound, implies the promised 1 %) at 13 percentiles."""
    data = DISTRIBUTIONS[name]
    histogram = histogram_of(data)
    for q in QS:
        exact = exact_percentile(data, q)
        error = relative_error(histogram.percentile_ps(q), exact)
        assert error <= PROVEN_RELATIVE_ERROR, (name, q, exact, histogram.percentile_ps(q))
        assert error <= PROMISED_RELATIVE_ERROR


def test_small_values_are_exact() -> None:
    """Tolerance 0: below 256 ps each value has its own bucket."""
    data = DISTRIBUTIONS["small_exact"]
    histogram = histogram_of(data)
    for q in QS:
        assert histogram.percentile_ps(q) == exact_percentile(data, q)


def test_extreme_percentiles_are_the_exact_min_and_max() -> None:
    """Tolerance 0: min and max are kept exactly, so q=0 and q=100 need no estimate."""
    data = DISTRIBUTIONS["lognormal_heavy_tail"]
    histogram = histogram_of(data)
    assert histogram.percentile_ps(0) == int(data.min())
    assert histogram.percentile_ps(100) == int(data.max())


@settings(max_examples=300, deadline=None)
@given(values=delay_lists, q=st.floats(min_value=0, max_value=100))
def test_percentile_within_bound_for_any_data(values: list[int], q: float) -> None:
    """Any sample up to 1000 s, any q: relative error <= 1/256 (same rank rule as numpy)."""
    data = np.array(values, dtype=np.int64)
    exact = exact_percentile(data, q)
    assert relative_error(histogram_of(data).percentile_ps(q), exact) <= PROVEN_RELATIVE_ERROR


@settings(max_examples=200, deadline=None)
@given(values=wide_delay_lists, q=st.floats(min_value=0, max_value=100))
def test_percentile_within_bound_over_full_int64_range(values: list[int], q: float) -> None:
    """Up to 2**63 - 1 ps, where float64 cannot hold the values: same 1/256 bound."""
    data = np.array(values, dtype=np.int64)
    exact = exact_percentile(data, q)
    assert relative_error(histogram_of(data).percentile_ps(q), exact) <= PROVEN_RELATIVE_ERROR


def test_percentile_rejects_q_outside_0_to_100() -> None:
    histogram = histogram_of([1, 2, 3])
    for q in (-0.1, 100.1):
        with pytest.raises(InvariantError, match="0..100"):
            histogram.percentile_ps(q)


def test_percentiles_us_keys_and_values() -> None:
    """Keys follow f"p{q:g}"; values are percentile_ps / 1e6 exactly (one float division)."""
    histogram = histogram_of(DISTRIBUTIONS["exponential"])
    result = histogram.percentiles_us((50, 99.9))
    assert list(result) == ["p50", "p99.9"]
    assert result["p50"] == histogram.percentile_ps(50) / 1e6
    assert result["p99.9"] == histogram.percentile_ps(99.9) / 1e6
    assert list(histogram.percentiles_us()) == ["p50", "p95", "p99"]


# ---------------------------------------------------------------------------------------------
# Exact statistics, determinism, merge, memory
# ---------------------------------------------------------------------------------------------


def test_sum_mean_min_max_exact_beyond_int64_and_float_precision() -> None:
    """Tolerance 0: these values sum past 2**63 and differ below float64's resolution."""
    values = [2**62 + 1, 2**62 + 3, 2**62 + 7, 5]
    histogram = histogram_of(values)
    assert histogram.sum_ps == sum(values)  # 3 * 2**62 + 16 > int64 max
    assert histogram.mean_ps == sum(values) / len(values)  # Python's correctly rounded division
    assert histogram.min_ps == 5
    assert histogram.max_ps == 2**62 + 7
    assert histogram.count == 4


@settings(max_examples=100, deadline=None)
@given(values=wide_delay_lists)
def test_sum_is_exact_for_any_int64_values(values: list[int]) -> None:
    """Tolerance 0: the sum is an exact Python int whatever the magnitudes."""
    histogram = histogram_of(values)
    assert histogram.sum_ps == sum(values)
    assert histogram.mean_ps == sum(values) / len(values)
    assert (histogram.min_ps, histogram.max_ps) == (min(values), max(values))


@settings(max_examples=200, deadline=None)
@given(values=delay_lists, cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_state_independent_of_batch_split(values: list[int], cuts: list[int]) -> None:
    """Identical state (all integers, compared exactly) whatever the batch boundaries."""
    data = np.array(values, dtype=np.int64)
    whole = histogram_of(data)
    split = DelayHistogram()
    for batch in np.split(data, sorted(c for c in cuts if c <= data.size)):
        split.add(batch)
    assert split == whole
    assert np.array_equal(split.bucket_counts, whole.bucket_counts)
    assert split.summary_us() == whole.summary_us()


@settings(max_examples=200, deadline=None)
@given(first=delay_lists, second=delay_lists)
def test_merge_equals_single_histogram(first: list[int], second: list[int]) -> None:
    """Exact equality: merging is adding integer counters."""
    merged = histogram_of(first)
    merged.merge(histogram_of(second))
    assert merged == histogram_of(first + second)
    other_way = histogram_of(second)
    other_way.merge(histogram_of(first))
    assert other_way == merged


def test_merge_with_empty_histograms() -> None:
    """Exact: an empty side must not reset min/max to 0."""
    filled = histogram_of([700, 900])
    empty = DelayHistogram()
    empty.merge(filled)
    assert empty == filled
    filled.merge(DelayHistogram())
    assert (filled.min_ps, filled.max_ps, filled.count) == (700, 900, 2)


def test_memory_does_not_grow_with_count() -> None:
    """The bucket array keeps its 7296 counters after a million values."""
    histogram = DelayHistogram()
    before = histogram.bucket_counts.nbytes
    rng = np.random.default_rng(1)
    for _ in range(10):
        histogram.add(rng.integers(0, 10**15, 100_000))
    assert histogram.count == 1_000_000
    assert histogram.bucket_counts.nbytes == before == BUCKET_COUNT * 8
    assert int(histogram.bucket_counts.sum()) == histogram.count


def test_negative_delay_raises_and_leaves_state_unchanged() -> None:
    """A negative delay is a bug upstream; the batch is refused whole, not half-added."""
    histogram = histogram_of([10, 20])
    snapshot = histogram_of([10, 20])
    with pytest.raises(InvariantError, match="negative delay -1 ps"):
        histogram.add(np.array([5, -1, 7], dtype=np.int64))
    assert histogram == snapshot


def test_non_integer_delays_raise() -> None:
    """Time is integer ps; a float array means a unit slipped somewhere."""
    with pytest.raises(InvariantError, match="must be integers"):
        DelayHistogram().add(np.array([1.5, 2.0]))
    with pytest.raises(InvariantError, match="int64 range"):
        DelayHistogram().add(np.array([2**64 - 1], dtype=np.uint64))


def test_empty_histogram_reports_zeros() -> None:
    """Documented choice: 0.0 everywhere and count 0, never None or NaN."""
    histogram = DelayHistogram()
    histogram.add(np.zeros(0, dtype=np.int64))
    assert histogram.summary_us() == {
        "mean": 0.0,
        "p50": 0.0,
        "p95": 0.0,
        "p99": 0.0,
        "max": 0.0,
        "count": 0,
    }
    assert histogram.percentile_ps(50) == 0.0
    values, fractions = histogram.cdf()
    assert values.size == fractions.size == 0


def test_summary_us_matches_accessors() -> None:
    """Exact: summary is the accessors divided by 1e6 ps/µs."""
    data = DISTRIBUTIONS["exponential"]
    histogram = histogram_of(data)
    summary = histogram.summary_us()
    assert summary["mean"] == histogram.mean_ps / 1e6
    assert summary["max"] == int(data.max()) / 1e6
    assert summary["count"] == data.size
    assert summary["p99"] == histogram.percentile_ps(99) / 1e6
    # And the mean itself against numpy (float64 sum of < 2**53-sized ints: 1e-12 is ample).
    assert summary["mean"] == pytest.approx(data.mean() / 1e6, rel=1e-12)


def test_constant_delay_summary_is_exact() -> None:
    """Tolerance 0: with min == max the clamp pins every percentile to the value."""
    summary = histogram_of([1_234_567] * 50).summary_us()
    assert summary == {
        "mean": 1.234567,
        "p50": 1.234567,
        "p95": 1.234567,
        "p99": 1.234567,
        "max": 1.234567,
        "count": 50,
    }


def test_cdf_fraction_is_exact_at_returned_values() -> None:
    """Exact equality: at a bucket's upper edge the fraction of samples <= it is known exactly."""
    data = DISTRIBUTIONS["lognormal_heavy_tail"]
    values, fractions = histogram_of(data).cdf()
    assert np.all(np.diff(values) > 0)
    assert fractions[-1] == 1.0
    assert values[-1] == data.max()
    for value, fraction in zip(values[::97], fractions[::97], strict=True):
        assert fraction == np.count_nonzero(data <= value) / data.size


# ---------------------------------------------------------------------------------------------
# Jain's fairness index
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5, 5, 5, 5], 1.0),  # equal shares
        ([8, 0, 0, 0], 0.25),  # one takes all: 1/n
        ([1, 2], 0.9),  # 9 / (2 * 5)
        ([1, 2, 3], 6 / 7),  # 36 / (3 * 14)
        ([0, 0, 0], 1.0),  # documented: nobody is favoured
        ([], 1.0),  # documented: no users, nobody is favoured
        ([1e300, 1e300], 1.0),  # squares would overflow without scaling
        ([7.0], 1.0),
    ],
)
def test_jain_index_known_values(values: list[float], expected: float) -> None:
    """Tolerance 1e-12 relative: a few float operations on small exact inputs."""
    assert jain_index(values) == pytest.approx(expected, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e15), min_size=1, max_size=50))
def test_jain_index_lies_between_1_over_n_and_1(values: list[float]) -> None:
    """The definition's bounds, with 1e-12 slack for float rounding."""
    index = jain_index(values)
    assert 1 / len(values) - 1e-12 <= index <= 1 + 1e-12


def test_jain_index_rejects_negative_and_nan() -> None:
    with pytest.raises(InvariantError, match=">= 0"):
        jain_index([1.0, -1.0])
    with pytest.raises(InvariantError, match="finite"):
        jain_index([1.0, float("nan")])


# ---------------------------------------------------------------------------------------------
# PacketTrace
# ---------------------------------------------------------------------------------------------


def test_packet_trace_writes_expected_csv(tmp_path: Path) -> None:
    """Byte-for-byte: the file is read by other tools, its format is a contract."""
    path = tmp_path / "trace.csv"
    with PacketTrace(path) as trace:
        trace.write(
            "upstream",
            3,
            arrival_ps=np.array([0, 10]),
            departure_ps=np.array([125_000_000, -1]),
            size_bytes=np.array([64, 1_500]),
            dropped=np.array([False, True]),
        )
        trace.write("downstream", np.array([1, 2]), [5, 6], [105, 306], [1_518, 9_000])
        assert trace.rows_written == 4
    assert path.read_text() == (
        "direction,tcont_or_queue,arrival_ps,departure_ps,size_bytes,delay_ps,dropped\n"
        "upstream,3,0,125000000,64,125000000,0\n"
        "upstream,3,10,,1500,,1\n"
        "downstream,1,5,105,1518,100,0\n"
        "downstream,2,6,306,9000,300,0\n"
    )


def test_packet_trace_round_trips_a_large_batch(tmp_path: Path) -> None:
    """Exact integers back from csv.DictReader for 20 000 random packets."""
    rng = np.random.default_rng(3)
    arrival = rng.integers(0, 10**12, 20_000)
    departure = arrival + rng.integers(0, 10**9, 20_000)
    sizes = rng.integers(64, 1_519, 20_000)
    queue = rng.integers(0, 64, 20_000)
    path = tmp_path / "trace.csv"
    with PacketTrace(path) as trace:
        trace.write("downstream", queue, arrival, departure, sizes)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == TRACE_COLUMNS
    assert [int(r["departure_ps"]) for r in rows] == departure.tolist()
    assert [int(r["delay_ps"]) for r in rows] == (departure - arrival).tolist()
    assert [int(r["tcont_or_queue"]) for r in rows] == queue.tolist()
    assert {r["dropped"] for r in rows} == {"0"}


def test_packet_trace_opens_lazily_and_leaves_header_if_unused(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    trace = PacketTrace(path)
    assert not path.exists()  # nothing opened before the first write
    with trace:
        assert not path.exists()
    assert path.read_text() == ",".join(TRACE_COLUMNS) + "\n"


def test_packet_trace_missing_directory_raises_input_error(tmp_path: Path) -> None:
    path = tmp_path / "no_such_dir" / "trace.csv"
    with pytest.raises(InputError) as caught, PacketTrace(path) as trace:
        trace.write("upstream", 1, [0], [1], [64])
    assert caught.value.where == str(path)
    assert "cannot write packet trace" in caught.value.why


def test_packet_trace_directory_path_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot write packet trace"):
        PacketTrace(tmp_path).close()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux /dev/full")
def test_packet_trace_disk_full_raises_input_error() -> None:
    """/dev/full fails every write with ENOSPC: the error may surface at write or at close."""
    with pytest.raises(InputError, match="No space left") as caught, PacketTrace("/dev/full") as t:
        t.write("upstream", 1, np.arange(50_000), np.arange(50_000) + 5, np.full(50_000, 64))
    assert caught.value.where == "/dev/full"


def test_packet_trace_rejects_misuse(tmp_path: Path) -> None:
    trace = PacketTrace(tmp_path / "trace.csv")
    with pytest.raises(InvariantError, match="direction"):
        trace.write("sideways", 1, [0], [1], [64])
    with pytest.raises(InvariantError, match="departs before it arrives"):
        trace.write("upstream", 1, [10], [5], [64])
    with pytest.raises(InvariantError, match="differ in length"):
        trace.write("upstream", 1, [0, 1], [5, 6, 7], [64, 64])
    trace.close()
    with pytest.raises(InvariantError, match="after close"):
        trace.write("upstream", 1, [0], [1], [64])
