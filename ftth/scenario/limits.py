"""Numeric limits of a scenario: the upper bounds that keep every value physical and the
engine's int64 picosecond and byte arithmetic exact.

Kept apart so the models, the cross-key rules and the documentation generator read the
same numbers.
"""

from __future__ import annotations

from ftth.phy import PROFILES

#: Longest run a scenario may ask for (an hour of simulated time is already far beyond a
#: busy-hour sample; longer runs belong in a sweep of shorter ones).
MAX_DURATION_S = 3600.0
#: Logical reach: the farthest an OLT can range an ONU (G.984.1 §8.2 / G.987.1: 60 km), for
#: reach-extended designs.  Without ``tree.reach_km`` the profile's physical reach applies.
MAX_LOGICAL_REACH_KM = 60.0
#: Differential distances the standards define ranging windows for (pon-reference §3, §4).
DIFFERENTIAL_KM_CHOICES = (20.0, 40.0)
#: Largest integer the engine's int64 arrays hold (seeds, sums of bytes).
INT64_MAX = 2**63 - 1
#: Largest queue a scenario may ask for: 1 TiB, far above any real ONU or OLT queue (MB),
#: and small enough that the engine's int64 arithmetic on it stays exact — a greedy queue
#: reports its buffer as demand, DBAs scale demand by 8000 (millibits) and by the cycle (≤ 64
#: frames), and the ledger sums bytes over every queue (2^40 · 8000 · 64 < 2^63).
MAX_BUFFER_BYTES = 2**40
#: Largest Teqd: 10 ms, 16× the round trip at the 60 km logical reach (635 µs).  The OLT
#: holds one pending report slot per frame of Teqd, and upstream data arrives Teqd after its
#: grant, so a larger value describes no PON and only delays every upstream byte.
MAX_TEQD_US = 10_000.0
#: Most ONUs a scenario may hold: the largest split of any profile (1:256).
MAX_ONUS = max(profile.max_split for profile in PROFILES.values())
#: Weights are relative: a 10^6 : 1 ratio already gives the lighter queue nothing visible,
#: and larger values only risk overflow in the DBAs' float arithmetic.
MAX_WEIGHT = 1e6
#: Connector pairs and splices on one path: far beyond any real plant, bounded so the
#: optical budget stays a finite sum.
MAX_JOINTS = 1000
