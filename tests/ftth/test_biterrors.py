"""The bit-error model (ftth.biterrors) against its formulas, computed independently here.

Tolerances: the Q factor inverts ½·erfc(Q/√2) to 1e-9 relative; the binomial tails are
compared with a direct sum of math.comb terms to 1e-9 relative; sampled failure rates lie
within 5 standard deviations of the probability (a false alarm every ~3.5 million runs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ftth import biterrors as be
from ftth.phy import RS_248_216, RS_255_223, RS_255_239, get_profile


@pytest.mark.parametrize("ber", [1e-12, 1e-10, 1e-4, 1e-3, 0.1])
def test_q_inverts_the_gaussian_ber(ber: float) -> None:
    q = be.q_from_ber(ber)
    assert 0.5 * math.erfc(q / math.sqrt(2)) == pytest.approx(ber, rel=1e-9)


@pytest.mark.parametrize("ref", [1e-10, 1e-4, 1e-3])
def test_zero_margin_gives_the_reference_ber(ref: float) -> None:
    assert be.ber_from_margin(0.0, ref) == pytest.approx(ref, rel=1e-9)


def test_ber_scales_q_with_received_power() -> None:
    # Thermal-noise receiver: Q ∝ received power, so +3.0103 dB doubles Q.
    ref = 1e-3
    q_ref = be.q_from_ber(ref)
    doubled = be.ber_from_margin(10 * math.log10(2), ref)
    assert doubled == pytest.approx(0.5 * math.erfc(2 * q_ref / math.sqrt(2)), rel=1e-9)
    margins = [-3.0, -1.0, 0.0, 1.0, 3.0]
    bers = [be.ber_from_margin(m, ref) for m in margins]
    assert bers == sorted(bers, reverse=True)


@pytest.mark.parametrize(("code", "t"), [(RS_248_216, 16), (RS_255_223, 16), (RS_255_239, 8)])
def test_codes_correct_half_their_parity(code: object, t: int) -> None:
    assert be.codeword_model(code).corrects == t  # type: ignore[arg-type]


def _tail(n: int, t: int, ps: float) -> tuple[float, float]:
    pmf = [math.comb(n, i) * ps**i * (1 - ps) ** (n - i) for i in range(n + 1)]
    return math.fsum(pmf[1 : t + 1]), math.fsum(pmf[t + 1 :])


@pytest.mark.parametrize("ber", [1e-3, 5e-3, 1e-2, 3e-2])
@pytest.mark.parametrize("code", [RS_248_216, RS_255_223, RS_255_239])
def test_codeword_failure_is_the_binomial_tail(ber: float, code: object) -> None:
    n, k = code.n, code.k  # type: ignore[attr-defined]
    ps = 1 - (1 - ber) ** 8
    want_corr, want_fail = _tail(n, (n - k) // 2, ps)
    corr, fail = be.codeword_probabilities(n, k, ber)
    assert corr == pytest.approx(want_corr, rel=1e-9)
    assert fail == pytest.approx(want_fail, rel=1e-9, abs=1e-300)


def test_healthy_margin_never_fails_a_codeword() -> None:
    # 3 dB above sensitivity: the failure probability is below 2^-62, so no codeword can
    # fail (FEC may still correct a rare error); 10 dB above, not even a correction.  The
    # XG classes are specified at a pre-FEC BER (10^-3, 10^-4): only with their FEC.
    for name, fec_modes in (
        ("gpon", (None, True, False)),
        ("xg-pon", (None,)),
        ("xgs-pon", (None,)),
    ):
        p = get_profile(name)
        for direction in (be.DIR_UPSTREAM, be.DIR_DOWNSTREAM):
            for fec_on in fec_modes:
                fec = p.fec("upstream" if direction == 0 else "downstream", fec_on)
                assert be.margin_thresholds(p, fec, direction, 3.0)[1] == 0
                assert be.margin_thresholds(p, fec, direction, 10.0) == (0, 0)


def test_negative_margin_fails_codewords() -> None:
    p = get_profile("xgs-pon")
    corr, fail = be.margin_thresholds(p, RS_248_216, be.DIR_DOWNSTREAM, -2.0)
    assert fail > be.ONE_62 // 2


def test_sampled_failures_match_the_probability() -> None:
    n = 40_000
    probability = 0.1
    thr = be.threshold_62(probability)
    corr_thr = be.threshold_62(0.3)
    flags = np.zeros(n, dtype=np.int64)
    pm = np.zeros(2, dtype=np.int64)
    be.sample_codewords(7, 0, 3, 11, 0, n, corr_thr, thr, flags, 0, pm)
    sigma = math.sqrt(n * probability * (1 - probability))
    assert abs(int(flags.sum()) - n * probability) < 5 * sigma
    assert int(pm[1]) == int(flags.sum())
    sigma_c = math.sqrt(n * 0.3 * 0.7)
    assert abs(int(pm[0]) - n * 0.3) < 5 * sigma_c


def test_sampling_is_a_pure_function_of_the_key() -> None:
    a = [be.uniform62(1, 0, 2, 3, c) for c in range(50)]
    b = [be.uniform62(1, 0, 2, 3, c) for c in range(50)]
    assert a == b
    assert len(set(a)) == 50
    assert all(0 <= u < be.ONE_62 for u in a)
    # Every key field matters.
    base = be.uniform62(1, 0, 2, 3, 4)
    for other in (
        be.uniform62(2, 0, 2, 3, 4),
        be.uniform62(1, 1, 2, 3, 4),
        be.uniform62(1, 0, 3, 3, 4),
        be.uniform62(1, 0, 2, 4, 4),
        be.uniform62(1, 0, 2, 3 + (1 << 32), 4),
    ):
        assert other != base


def test_no_fec_block_failure() -> None:
    ber = 1e-5
    want = 1 - (1 - ber) ** (8 * be.NO_FEC_BLOCK_BYTES)
    assert be.block_failure_probability(ber) == pytest.approx(want, rel=1e-9)
