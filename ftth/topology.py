"""The fibre tree: split ratio, per-ONU distance, round-trip time and equalisation delay.

A PON is a tree of passive optical splitters: one feeder fibre leaves the OLT, one or more
splitter stages fan it out (a 1:4 then a 1:8 stage give 1:32), and a drop fibre reaches each
ONU.  Three numbers follow from the distances, and every one of them matters to the emulator:

Round-trip time (RTT)
    Light needs about 5 µs per km of fibre one way (pon-reference §3).  When the OLT sends a
    downstream frame, an ONU ``d`` km away sees it ``5·d`` µs later, waits its fixed response
    time (35 µs, G.984.3 §10.3.4) and its reply needs another ``5·d`` µs back:
    ``RTT = 2 · one_way + response time``.  20 km gives 200 µs + 35 µs = 235 µs.

Equalisation delay (EqD)
    Upstream is time-division: the OLT tells each ONU *when* to send (the BWmap StartTime).
    If each ONU obeyed it literally, a near ONU's burst would arrive earlier than a far one's,
    and bursts would collide or leave holes.  So during ranging the OLT measures each ONU's
    RTT and gives it an extra delay ``EqD = Teqd − RTT`` (G.984.3 §10.4.2; G.987.3 and
    G.9807.1 range the same way).  With it every ONU appears at the *same logical distance*
    ``Teqd``: a burst scheduled at StartTime ``t`` reaches the OLT at ``t + Teqd`` whatever
    the ONU's fibre length.  Teqd must be at least the largest RTT (EqD cannot be negative);
    here it is fixed by the technology's reach, so adding an ONU never re-ranges the others.

Differential distance
    The gap between the nearest and the farthest ONU.  The OLT must open a quiet window (no
    upstream grants) long enough for an unranged ONU anywhere in that span to answer, so the
    standards cap it (20 km for GPON, G.984.1 §8.2; 40 km for XG(S)-PON, G.987.1 §7) and the
    quiet window grows with it (``ftth.phy.SN_QUIET_WINDOW_PS``).

1G/10G-EPON has no EqD on the wire (MPCP timestamps let the OLT measure each RTT and offset
each GATE itself, IEEE 802.3 §64.3.3); ``eqd_ps`` is still computed so that both families
share one timing model: the equalised arrival time is the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ftth.errors import InputError
from ftth.phy import ONU_RESPONSE_TIME_PS, SPLITTER_LOSS_DB, Profile
from ftth.units import km_to_one_way_ps

#: Largest single splitter stage with a loss figure in :data:`ftth.phy.SPLITTER_LOSS_DB`.
MAX_STAGE_RATIO = max(SPLITTER_LOSS_DB)


def split_ratio(splitters: Sequence[int], where: str = "tree.splitters") -> int:
    """Overall split ratio of cascaded splitter stages (their product).

    Parameters
    ----------
    splitters
        Fan-out of each stage from the OLT towards the ONUs, e.g. ``[4, 8]`` for a 1:4
        splitter feeding 1:8 splitters.
    where
        Key path named in the error message.

    Returns
    -------
    int
        The product of the stages, e.g. 32 for ``[4, 8]``.

    Raises
    ------
    InputError
        If there is no stage, or a stage is not a power of two in 2..256 (the passive
        splitters of ITU-T G.671 / pon-reference §3, for which a loss figure exists).
    """
    if len(splitters) == 0:
        raise InputError(where, "at least one splitter stage is needed, e.g. [32] or [4, 8]")
    ratio = 1
    for index, stage in enumerate(splitters):
        # bool is an int subclass; `true` in a TOML file is not a splitter.
        if isinstance(stage, bool) or not isinstance(stage, int) or stage not in SPLITTER_LOSS_DB:
            raise InputError(
                f"{where}[{index}]",
                f"a splitter stage must be a power of two in 2..{MAX_STAGE_RATIO}, got {stage!r}",
            )
        ratio *= stage
    return ratio


@dataclass(frozen=True)
class OnuPlace:
    """Where one ONU sits on the tree and the timing that follows from it.

    Attributes
    ----------
    onu_id
        ONU identifier.
    distance_km
        Fibre length OLT → ONU (feeder + drop).
    one_way_ps
        One-way propagation delay (5 µs/km).
    rtt_ps
        Round-trip time: ``2 · one_way_ps + ONU response time``.
    eqd_ps
        Equalisation delay the OLT assigns: ``Teqd − rtt_ps`` (≥ 0).
    """

    onu_id: int
    distance_km: float
    one_way_ps: int
    rtt_ps: int
    eqd_ps: int

    @property
    def equalised_rtt_ps(self) -> int:
        """``rtt_ps + eqd_ps``: the same (Teqd) for every ONU of a tree."""
        return self.rtt_ps + self.eqd_ps


@dataclass(frozen=True)
class Topology:
    """A ranged PON tree.

    Attributes
    ----------
    profile
        Technology profile.
    split_ratio
        Product of the splitter stages.
    places
        One :class:`OnuPlace` per ONU, sorted by ONU-ID.
    teqd_ps
        Equalised round-trip time shared by every ONU (G.984.3 §10.4.2).
    differential_km
        Farthest minus nearest ONU distance.
    splitters
        The splitter stages, OLT side first (the optical budget needs each stage's loss).
    feeder_km
        Shared fibre from the OLT to the first splitter.
    """

    profile: Profile
    split_ratio: int
    places: tuple[OnuPlace, ...]
    teqd_ps: int
    differential_km: float
    splitters: tuple[int, ...]
    feeder_km: float

    def place(self, onu_id: int) -> OnuPlace:
        """The :class:`OnuPlace` of ``onu_id`` (``KeyError`` if absent)."""
        for place in self.places:
            if place.onu_id == onu_id:
                return place
        raise KeyError(onu_id)


def rtt_ps(distance_km: float) -> int:
    """Round-trip time of an ONU ``distance_km`` away: there, response time, back."""
    return 2 * km_to_one_way_ps(distance_km) + ONU_RESPONSE_TIME_PS


def default_teqd_ps(profile: Profile) -> int:
    """Teqd for ``profile``: the RTT of an ONU at the technology's reach.

    Choosing it from the reach rather than from the farthest ONU present means an ONU
    added later never changes the EqD of the others (no re-ranging of a live PON).
    """
    return rtt_ps(profile.reach_km)


def build_topology(
    profile: Profile,
    feeder_km: float,
    drop_km_by_onu: Mapping[int, float],
    splitters: Sequence[int],
    teqd_ps: int | None = None,
    *,
    max_differential_km: float | None = None,
) -> Topology:
    """Place every ONU on the tree and compute its RTT and EqD.

    Parameters
    ----------
    profile
        Technology profile (reach, maximum split and differential distance come from it).
    feeder_km
        Fibre from the OLT to the first splitter, shared by every ONU.
    drop_km_by_onu
        ONU-ID → fibre from the splitter to that ONU (all fibre after the feeder).
    splitters
        Splitter stages, e.g. ``[4, 8]``.
    teqd_ps
        Equalised round-trip time; ``None`` takes :func:`default_teqd_ps` (the RTT at the
        profile's reach).  Must be at least the largest RTT.
    max_differential_km
        Largest allowed farthest − nearest distance; ``None`` takes the profile's.

    Returns
    -------
    Topology
        Places sorted by ONU-ID, every ``rtt_ps + eqd_ps == teqd_ps``.

    Raises
    ------
    InputError
        Bad split (see :func:`split_ratio`), split beyond the technology's maximum, more ONUs
        than splitter ports, a negative length, an ONU-ID out of range, an ONU beyond
        ``teqd_ps`` (it could not be ranged), or a differential distance beyond the limit.
    """
    ratio = split_ratio(splitters)
    if ratio > profile.max_split:
        raise InputError(
            "tree.splitters",
            f"split 1:{ratio} exceeds the {profile.title} maximum of 1:{profile.max_split}",
        )
    if not drop_km_by_onu:
        raise InputError("onus", "a PON needs at least one ONU")
    if len(drop_km_by_onu) > ratio:
        raise InputError(
            "onus", f"{len(drop_km_by_onu)} ONUs do not fit the {ratio} ports of a 1:{ratio} split"
        )
    if feeder_km < 0:
        raise InputError("tree.feeder_km", f"must be ≥ 0 km, got {feeder_km}")
    if teqd_ps is None:
        teqd_ps = default_teqd_ps(profile)
    limit_km = profile.max_differential_km if max_differential_km is None else max_differential_km

    places: list[OnuPlace] = []
    for onu_id in sorted(drop_km_by_onu):
        drop_km = drop_km_by_onu[onu_id]
        if not 0 <= onu_id <= profile.max_onu_id:
            raise InputError(
                f"onus[{onu_id}]",
                f"{profile.title} ONU-ID must be in 0..{profile.max_onu_id}, got {onu_id}",
            )
        if drop_km < 0:
            raise InputError(f"onus[{onu_id}].drop_km", f"must be ≥ 0 km, got {drop_km}")
        distance_km = feeder_km + drop_km
        one_way = km_to_one_way_ps(distance_km)
        rtt = rtt_ps(distance_km)
        if rtt > teqd_ps:
            # EqD would be negative: the ONU answers after the equalised time, so the OLT's
            # ranging window cannot place it (G.984.3 §10.4.2).
            raise InputError(
                f"onus[{onu_id}].drop_km",
                f"ONU at {distance_km:g} km is beyond reach: RTT {rtt / 1e6:g} µs exceeds "
                f"Teqd {teqd_ps / 1e6:g} µs ({profile.title} reach {profile.reach_km:g} km)",
            )
        places.append(OnuPlace(onu_id, distance_km, one_way, rtt, teqd_ps - rtt))

    distances = [p.distance_km for p in places]
    differential_km = max(distances) - min(distances)
    if differential_km > limit_km:
        raise InputError(
            "tree.max_differential_km",
            f"ONUs span {differential_km:g} km (nearest {min(distances):g} km, farthest "
            f"{max(distances):g} km), more than the {limit_km:g} km differential distance "
            "one ranging quiet window covers",
        )
    return Topology(
        profile=profile,
        split_ratio=ratio,
        places=tuple(places),
        teqd_ps=teqd_ps,
        differential_km=differential_km,
        splitters=tuple(splitters),
        feeder_km=feeder_km,
    )
