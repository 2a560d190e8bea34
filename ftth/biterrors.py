"""Bit errors from optical margin, Reed-Solomon FEC, and deterministic codeword sampling.

The model (docs/faults.md, docs/architecture.md "Faults and bit errors"):

1. **BER from margin.**  A receiver's sensitivity is specified at a reference BER
   (:data:`ftth.phy.REFERENCE_BER`), i.e. at zero optical margin the BER is the reference.
   With Gaussian noise the BER of an on-off keyed signal is ``BER = ½·erfc(Q/√2)`` (Agrawal,
   *Fiber-Optic Communication Systems*, 4th ed., §5.4.1, eq. 5.4.10).  For a receiver limited
   by thermal noise, the noise does not depend on the signal and ``Q`` grows linearly with the
   received optical power (ibid. §5.4.2, eq. 5.4.11), so a margin of ``m`` dB scales ``Q``
   by ``10^(m/10)``: ``Q = Q_ref · 10^(m/10)``.  (A shot-noise-limited APD grows more slowly;
   the thermal model is the usual first-order planning rule and is what is computed here.)
2. **RS codeword failure.**  A symbol (byte) is wrong when any of its 8 bits is:
   ``p_s = 1 − (1 − BER)^8`` (independent bit errors).  A bounded-distance RS(n, k) decoder
   corrects up to ``t = (n − k)/2`` symbol errors (RS(248,216): 16, RS(255,223): 16,
   RS(255,239): 8) and fails beyond, so ``P_fail = Σ_{i>t} C(n,i) p_s^i (1−p_s)^{n−i}``
   and ``P_corrected = Σ_{1≤i≤t} …`` (Lin & Costello, *Error Control Coding*, 2nd ed.,
   §7.5).  Miscorrection (a decoder "correcting" to a wrong codeword) is counted as failure.
   Shortened last codewords of a burst are counted as full ones.
3. **Without FEC** every bit error is uncorrectable.  The line is cut into blocks of
   :data:`NO_FEC_BLOCK_BYTES` and a block with any error (``1 − (1 − BER)^(8·bytes)``) is
   failed: a GEM/XGEM frame that overlaps a failed block is lost.  (This overstates the
   loss of a frame of ``L`` bytes by at most a factor ``(L + block)/L``.)
4. **Sampling.**  Whether codeword ``c`` of the burst (upstream) or of the frame as ONU
   ``onu`` receives it (downstream) failed is decided by a counter-based hash of
   ``(seed, direction, onu, frame, c)`` mapped to a 62-bit integer and compared with the
   probabilities scaled to 2^62 (:func:`threshold_62`).  No generator state: every engine
   draws the same failures in any order, and a probability below 2^-62 is exactly zero
   (nothing is sampled, so healthy links cost nothing).

The hash is two lanes of a 32-bit integer mixer (the "lowbias32" finaliser constants); every
product stays below 2^63, so numba's int64 and Python's integers give the same bits.  It is a
statistical hash, not a cryptographic one (odd multipliers below 2^31, so every
product stays below 2^63).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ftth.jit import inline_kernel, kernel
from ftth.phy import REFERENCE_BER, FecCode, Profile

I64 = npt.NDArray[np.int64]

#: Directions in the sampling key.
DIR_UPSTREAM = 0
DIR_DOWNSTREAM = 1

#: Without FEC: bytes per error block (see the module docstring, item 3).
NO_FEC_BLOCK_BYTES = 32

#: Probabilities are compared in units of 2^-62.
ONE_62 = 1 << 62

_M32 = 0xFFFFFFFF


def q_from_ber(ber: float) -> float:
    """The Q factor whose Gaussian BER ``½·erfc(Q/√2)`` is ``ber`` (0 < ber < ½)."""
    if not 0.0 < ber < 0.5:
        raise ValueError(f"a reference BER must lie in (0, 0.5), got {ber}")
    lo, hi = 0.0, 40.0
    for _ in range(200):  # bisection: erfc is monotone, 200 halvings reach float precision
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > ber:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ber_from_margin(margin_db: float, reference_ber: float) -> float:
    """Pre-FEC bit-error ratio at ``margin_db`` dB above (or below, < 0) the sensitivity.

    ``Q = Q_ref · 10^(margin/10)``, ``BER = ½·erfc(Q/√2)`` (module docstring, item 1).
    """
    q = q_from_ber(reference_ber) * 10.0 ** (margin_db / 10.0)
    return 0.5 * math.erfc(q / math.sqrt(2.0))


def symbol_error_probability(ber: float, bits: int = 8) -> float:
    """Probability that a ``bits``-bit symbol holds at least one bit error."""
    return -math.expm1(bits * math.log1p(-ber)) if ber < 1.0 else 1.0


def _log_binom_pmf(n: int, i: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if i == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if i == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )


def codeword_probabilities(n: int, k: int, ber: float) -> tuple[float, float]:
    """``(P_corrected, P_uncorrectable)`` of one RS(n, k) codeword at pre-FEC ``ber``.

    A codeword with 1..t symbol errors (``t = (n − k) // 2``) is corrected; more fail
    (binomial tail, module docstring item 2).
    """
    t = (n - k) // 2
    ps = symbol_error_probability(ber)
    pmf = [math.exp(_log_binom_pmf(n, i, ps)) for i in range(n + 1)]
    corrected = math.fsum(pmf[1 : t + 1])
    failed = math.fsum(pmf[t + 1 :])
    return min(1.0, corrected), min(1.0, failed)


def block_failure_probability(ber: float, block_bytes: int = NO_FEC_BLOCK_BYTES) -> float:
    """Probability that an unprotected block of ``block_bytes`` holds any bit error."""
    return symbol_error_probability(ber, 8 * block_bytes)


def threshold_62(probability: float) -> int:
    """``probability`` in units of 2^-62 (a sample ``u`` in [0, 2^62) hits when ``u < thr``)."""
    if probability <= 0.0:
        return 0
    if probability >= 1.0:
        return ONE_62
    return int(probability * ONE_62)


@dataclass(frozen=True)
class CodewordModel:
    """Codeword size and thresholds of one direction's line code."""

    data_bytes: int  #: data bytes per codeword (FEC k), or the no-FEC block
    corrects: int  #: symbols a codeword corrects (0 without FEC)

    def thresholds(self, ber: float, fec: FecCode | None) -> tuple[int, int]:
        """``(corrected, uncorrectable)`` thresholds (units of 2^-62) at ``ber``."""
        if fec is None:
            return 0, threshold_62(block_failure_probability(ber, self.data_bytes))
        corr, fail = codeword_probabilities(fec.n, fec.k, ber)
        return threshold_62(corr), threshold_62(fail)


def codeword_model(fec: FecCode | None) -> CodewordModel:
    """How a direction's payload is cut into codewords (FEC k bytes, or no-FEC blocks)."""
    if fec is None:
        return CodewordModel(NO_FEC_BLOCK_BYTES, 0)
    return CodewordModel(fec.k, (fec.n - fec.k) // 2)


def reference_ber(profile: Profile, direction: int) -> float:
    """The reference BER of ``profile``'s receivers in ``direction`` (0 up, 1 down)."""
    try:
        down, up = REFERENCE_BER[profile.name]
    except KeyError:
        raise ValueError(f"no reference BER for {profile.name}") from None
    return down if direction == DIR_DOWNSTREAM else up


def margin_thresholds(
    profile: Profile, fec: FecCode | None, direction: int, margin_db: float
) -> tuple[int, int]:
    """``(corrected, uncorrectable)`` codeword thresholds at ``margin_db`` in ``direction``."""
    ber = ber_from_margin(margin_db, reference_ber(profile, direction))
    return codeword_model(fec).thresholds(ber, fec)


# ----------------------------------------------------------------------- sampling kernels
@inline_kernel
def _mix32(h: int) -> int:
    # Products of a 32-bit value and a 31-bit constant stay below 2^63.
    h ^= h >> 16
    h = (h * 0x7FEB352D) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x446F6B3B) & 0xFFFFFFFF
    h ^= h >> 16
    return h


@inline_kernel
def _lane(salt: int, seed: int, direction: int, onu: int, frame: int, cw: int) -> int:
    h = _mix32(salt ^ (seed & 0xFFFFFFFF))
    h = _mix32(h ^ ((seed >> 32) & 0xFFFFFFFF))
    h = _mix32(h ^ (direction & 0xFFFFFFFF))
    h = _mix32(h ^ (onu & 0xFFFFFFFF))
    h = _mix32(h ^ (frame & 0xFFFFFFFF))
    h = _mix32(h ^ ((frame >> 32) & 0xFFFFFFFF))
    h = _mix32(h ^ (cw & 0xFFFFFFFF))
    return h


@inline_kernel
def uniform62(seed: int, direction: int, onu: int, frame: int, cw: int) -> int:
    """A uniform integer in [0, 2^62) from the key ``(seed, direction, onu, frame, cw)``."""
    a = _lane(0x3C6EF372, seed, direction, onu, frame, cw)
    b = _lane(0x1B873593, seed, direction, onu, frame, cw)
    return ((a >> 1) << 31) | (b >> 1)


@kernel
def sample_codewords(
    seed: int, direction: int, onu: int, frame: int, first_cw: int, n_cw: int,
    thr_corrected: int, thr_failed: int, flags: I64, base: int, pm: I64,
) -> None:  # fmt: skip
    """Decide codewords ``first_cw .. first_cw + n_cw − 1`` of one burst / frame.

    Writes ``flags[base + c] = 1`` for a failed codeword (0 otherwise) and adds the corrected
    and failed counts to ``pm[0]`` and ``pm[1]``.  Nothing is hashed when both thresholds
    are 0.
    """
    if thr_failed == 0 and thr_corrected == 0:
        for c in range(n_cw):
            flags[base + c] = 0
        return
    n_corr = 0
    n_fail = 0
    for c in range(n_cw):
        u = uniform62(seed, direction, onu, frame, first_cw + c)
        if u < thr_failed:
            flags[base + c] = 1
            n_fail += 1
        else:
            flags[base + c] = 0
            if u < thr_failed + thr_corrected:
                n_corr += 1
    pm[0] += n_corr
    pm[1] += n_fail


__all__ = [
    "DIR_DOWNSTREAM",
    "DIR_UPSTREAM",
    "NO_FEC_BLOCK_BYTES",
    "CodewordModel",
    "ber_from_margin",
    "block_failure_probability",
    "codeword_model",
    "codeword_probabilities",
    "margin_thresholds",
    "q_from_ber",
    "reference_ber",
    "sample_codewords",
    "symbol_error_probability",
    "threshold_62",
    "uniform62",
]
