"""The ONU's status report: the DBRu value (GPON DBRu, XG(S)-PON BufOcc, EPON REPORT).

One rule, used by every engine: the value is the encapsulated bytes still queued in the
T-CONT after its burst (what the T-CONT would need to empty its queue, XGEM/GEM headers and
padding included), rounded **up** to the report unit of the technology (G.984.3 §8.4.2: GPON
reports in 48-byte blocks in mode 0 here; G.987.3 §8.2.3 and G.9807.1: XG(S)-PON BufOcc counts
4-byte words; 802.3 §64.3.6.4: EPON reports in 16-bit time quanta, modelled as bytes).
A greedy source (one that always has more to send) reports at least its buffer size.
The OLT stores what it receives as it is; it never rounds again.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ftth.jit import inline_kernel, kernel

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@inline_kernel
def dbru_value_bytes(
    queued_encap_bytes: int, greedy: bool, buffer_bytes: int, report_unit_bytes: int
) -> int:
    """The reported value of one T-CONT (see the module docstring)."""
    value = queued_encap_bytes
    if greedy and buffer_bytes > value:
        value = buffer_bytes
    return -((-value) // report_unit_bytes) * report_unit_bytes


@kernel
def dbru_values(
    queued_encap_bytes: I64, greedy: B, buffer_bytes: I64, report_unit_bytes: int
) -> I64:
    """:func:`dbru_value_bytes` of several T-CONTs at once."""
    out = np.empty(queued_encap_bytes.shape[0], dtype=np.int64)
    for i in range(out.shape[0]):
        out[i] = dbru_value_bytes(
            queued_encap_bytes[i], greedy[i], buffer_bytes[i], report_unit_bytes
        )
    return out
