"""Technology profiles: every standard constant, with the clause it comes from.

One frozen :class:`Profile` per technology.  Everything else in ftth asks the profile; no
other module repeats a constant of the standard.  Pure functions below derive framing
overheads and the analytic saturation goodput (pon-reference §2) from these constants.

Modelling choices that are approximations are stated where they are made:

* **FEC parity** is charged as the average code rate: a span of ``B`` protected line bytes
  carries ``floor(B·k/n)`` data bytes.  The standards shorten the last codeword of an upstream
  burst instead, which costs up to ``n − k`` bytes more per burst (≤ 32 bytes of a ~4.8 kB
  XGS-PON burst at 32 ONUs, ≤ 0.7 %).  The reference ceilings of pon-reference §2 use the same
  average-rate convention.
* **Downstream FEC position**: payload bytes are assumed spread evenly over the frame, so the
  time of a downstream byte is proportional to its offset in the payload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

from ftth.errors import InputError
from ftth.units import FRAME_PS

Direction = Literal["upstream", "downstream"]
DIRECTIONS: Final[tuple[Direction, Direction]] = ("upstream", "downstream")

#: Largest untagged Ethernet frame, destination address to FCS (IEEE 802.3 §3.2.7,
#: maxUntaggedFrameSize): the reference packet of the ceilings, the DRR quantum and the
#: DBAs' minimum useful grant.
ETH_MAX_FRAME_BYTES: Final = 1518


@dataclass(frozen=True)
class FecCode:
    """A Reed-Solomon code RS(n, k): ``n`` line bytes carry ``k`` data bytes."""

    n: int
    k: int

    @property
    def parity_bytes(self) -> int:
        return self.n - self.k

    def data_bytes(self, line_bytes: int) -> int:
        """Data bytes carried by ``line_bytes`` of FEC-coded line (average code rate)."""
        return (line_bytes * self.k) // self.n

    def line_bytes(self, data_bytes: int) -> int:
        """Line bytes needed to carry ``data_bytes`` (smallest L with data_bytes(L) ≥ data)."""
        return -((-data_bytes * self.n) // self.k)


#: G.984.3 §13 (GPON FEC, both directions): RS(255,239).
RS_255_239: Final = FecCode(255, 239)
#: G.987.3 §10.1.2 / G.9807.1 §C.10.1.2: downstream and 10G upstream RS(248,216).
RS_248_216: Final = FecCode(248, 216)
#: G.987.3 §10.3.2: XG-PON 2.5G upstream RS(248,232).
RS_248_232: Final = FecCode(248, 232)
#: IEEE 802.3av §76.3.2.4: 10G-EPON stream FEC RS(255,223).
RS_255_223: Final = FecCode(255, 223)

#: Reference BER at which a receiver's sensitivity is specified (the BER at zero optical
#: margin), per profile and direction (downstream, upstream), measured before FEC where the
#: class assumes FEC.  GPON: G.984.2 §8.2 / Table 2 ("BER 10^-10", classes B+ and C+ as
#: specified without FEC).  XG-PON: G.987.2 §9.2.4 / Tables 9 and 10 (BER reference level
#: 10^-3 downstream, 10^-4 upstream at the FEC decoder input).  XGS-PON: G.9807.1 Annex B,
#: Tables B.9-1 and B.9-2 (10^-3 downstream; 10^-3 at 10G upstream with RS(248,216)).
REFERENCE_BER: Final[dict[str, tuple[float, float]]] = {
    "gpon": (1e-10, 1e-10),
    "xg-pon": (1e-3, 1e-4),
    "xgs-pon": (1e-3, 1e-3),
}


@dataclass(frozen=True)
class BurstProfile:
    """Physical upstream burst overhead (line bytes before the first data byte).

    The guard time separates bursts of different ONUs; preamble and delimiter let the OLT's
    burst-mode receiver lock and find the start.  Every part is a parameter because public
    sources disagree (e.g. the XGS-PON delimiter is quoted as 4 or 8 bytes).
    """

    guard_bytes: int
    preamble_bytes: int
    delimiter_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.guard_bytes + self.preamble_bytes + self.delimiter_bytes


@dataclass(frozen=True)
class Profile:
    """All constants of one PON technology.  Units are in the field names.

    ``framed`` profiles (the ITU family) have a 125 µs frame and a BWmap; EPON profiles
    are polled with MPCP GATE/REPORT and have no frame.
    """

    name: str
    title: str
    standard: str
    framed: bool
    downstream_bps: int
    upstream_bps: int
    # --- framing (ITU) ---------------------------------------------------------------
    frame_ps: int
    ds_bytes_per_frame: int
    us_bytes_per_frame: int
    #: Upstream allocation granularity (StartTime / GrantSize unit).
    grant_unit_bytes: int
    #: Unit in which a DBRu reports buffer occupancy.
    report_unit_bytes: int
    #: Largest StartTime value and largest GrantSize, in grant units.
    max_start_units: int
    max_grant_units: int
    max_allocations_per_frame: int
    # downstream header: fixed part, per BWmap allocation, per PLOAM message, trailer
    ds_header_fixed_bytes: int
    ds_bytes_per_allocation: int
    ds_ploam_bytes: int
    ds_trailer_bytes: int
    #: Bytes before the FEC-protected part of the downstream frame (XG PSBd) — not coded.
    ds_sync_bytes: int
    # upstream burst
    burst: BurstProfile
    us_burst_header_bytes: int
    us_burst_trailer_bytes: int
    us_ploam_bytes: int
    #: DBRu bytes added to an allocation when the OLT asks for a report.
    dbru_bytes: int
    # encapsulation
    encap: Literal["gem", "xgem", "ethernet"]
    encap_header_bytes: int
    encap_align_bytes: int
    encap_min_frame_bytes: int
    encap_max_fragment_bytes: int
    # FEC
    ds_fec: FecCode | None
    us_fec: FecCode | None
    ds_fec_default: bool
    us_fec_default: bool
    ds_fec_mandatory: bool
    # identifiers
    max_onu_id: int
    broadcast_onu_id: int
    min_assignable_alloc_id: int
    max_alloc_id: int
    max_port_id: int
    # physical layer
    max_split: int
    reach_km: float
    max_differential_km: float
    ds_wavelength_nm: int
    us_wavelength_nm: int
    ds_attenuation_db_per_km: float
    us_attenuation_db_per_km: float
    optical_classes: dict[str, tuple[float, float]] = field(default_factory=dict)
    default_optical_class: str = ""
    # EPON / MPCP
    ethernet_overhead_bytes: int = 0
    mpcp_report_bytes: int = 0
    mpcp_time_quantum_ps: int = 0
    default_guard_ps: int = 0

    # ------------------------------------------------------------------ derived values
    @property
    def us_units_per_frame(self) -> int:
        return self.us_bytes_per_frame // self.grant_unit_bytes if self.framed else 0

    def fec(self, direction: Direction, enabled: bool | None) -> FecCode | None:
        """The FEC code in force for ``direction`` (``None`` = the profile's default)."""
        if direction == "downstream":
            on = self.ds_fec_default if enabled is None else enabled
            return self.ds_fec if on else None
        on = self.us_fec_default if enabled is None else enabled
        return self.us_fec if on else None

    def line_rate_bps(self, direction: Direction) -> int:
        return self.downstream_bps if direction == "downstream" else self.upstream_bps


# Optical budget classes, minimum and maximum path loss in dB.
# G.984.2 Amd.1 Table 2a (B+), G.984.2 Amd.2 (C+); G.987.2 §8 Table 8-1 / G.9807.1 Table 9-?
_GPON_CLASSES: Final = {"B+": (13.0, 28.0), "C+": (17.0, 32.0)}
_XG_CLASSES: Final = {
    "N1": (14.0, 29.0),
    "N2": (16.0, 31.0),
    "E1": (18.0, 33.0),
    "E2": (20.0, 35.0),
}
# IEEE 802.3ah §60 PX20 / 802.3av §75 PR30: channel insertion loss classes.
_EPON_1G_CLASSES: Final = {"PX10": (5.0, 20.0), "PX20": (10.0, 24.0), "PX30": (15.0, 29.0)}
_EPON_10G_CLASSES: Final = {"PR10": (5.0, 20.0), "PR20": (10.0, 24.0), "PR30": (15.0, 29.0)}

GPON: Final = Profile(
    name="gpon",
    title="GPON",
    standard="ITU-T G.984.2/.3",
    framed=True,
    downstream_bps=2_488_320_000,  # G.984.2 §8.2.1
    upstream_bps=1_244_160_000,  # G.984.2 §8.2.2
    frame_ps=FRAME_PS,  # G.984.3 §8.1.1
    ds_bytes_per_frame=38_880,  # G.984.3 §8.1.1: 2.48832 Gb/s × 125 µs / 8
    us_bytes_per_frame=19_440,  # G.984.3 §8.1.2
    grant_unit_bytes=1,  # G.984.3 §8.1.3.6: StartTime/StopTime in bytes
    report_unit_bytes=48,  # G.984.3 §8.4.3.1: DBRu in 48-byte blocks (default block size)
    max_start_units=19_439,
    max_grant_units=19_440,
    max_allocations_per_frame=512,
    # G.984.3 §8.1.3: PCBd = Psync 4 + Ident 4 + PLOAMd 13 + BIP 1 + PLend 4 + 4
    ds_header_fixed_bytes=30,
    ds_bytes_per_allocation=8,  # G.984.3 §8.1.3.6: US BW map entry 8 bytes
    ds_ploam_bytes=0,  # the PLOAMd is part of the fixed 30 bytes
    ds_trailer_bytes=0,
    ds_sync_bytes=0,
    burst=BurstProfile(
        guard_bytes=4, preamble_bytes=5, delimiter_bytes=3
    ),  # G.984.2 Table I.1: 32+44+20 bits
    us_burst_header_bytes=3,  # G.984.3 §8.2.2: PLOu = BIP 1 + ONU-ID 1 + Ind 1
    us_burst_trailer_bytes=0,
    us_ploam_bytes=13,  # G.984.3 §8.2.3: PLOAMu
    dbru_bytes=2,  # G.984.3 §8.2.5: DBRu mode 0 = DBA 1 + CRC 1
    encap="gem",
    encap_header_bytes=5,  # G.984.3 §8.3.1: PLI 12 + Port-ID 12 + PTI 3 + HEC 13 bits
    encap_align_bytes=1,
    encap_min_frame_bytes=5,
    encap_max_fragment_bytes=4095,  # G.984.3 §8.3.1: PLI is 12 bits
    ds_fec=RS_255_239,
    us_fec=RS_255_239,
    ds_fec_default=False,
    us_fec_default=False,
    ds_fec_mandatory=False,
    max_onu_id=253,  # G.984.3 §5.5: ONU-ID 0..253, 255 broadcast
    broadcast_onu_id=255,
    min_assignable_alloc_id=256,  # G.984.3 §5.5: 0..253 default Alloc-IDs, 254 SN broadcast
    max_alloc_id=4095,
    max_port_id=4095,
    max_split=128,  # G.984.1 §8: logical split up to 1:128
    reach_km=20.0,
    max_differential_km=20.0,  # G.984.1 §8.2
    ds_wavelength_nm=1490,
    us_wavelength_nm=1310,
    ds_attenuation_db_per_km=0.25,
    us_attenuation_db_per_km=0.35,
    optical_classes=_GPON_CLASSES,
    default_optical_class="B+",
)

XG_PON: Final = Profile(
    name="xg-pon",
    title="XG-PON",
    standard="ITU-T G.987.2/.3",
    framed=True,
    downstream_bps=9_953_280_000,  # G.987.2 §8.1
    upstream_bps=2_488_320_000,  # G.987.2 §8.1
    frame_ps=FRAME_PS,  # G.987.3 §10.1
    ds_bytes_per_frame=155_520,  # G.987.3 §10.1: PHY frame 155 520 bytes
    us_bytes_per_frame=38_880,  # G.987.3 §10.1.3: 9 720 words of 4 bytes
    grant_unit_bytes=4,  # G.987.3 §8.1.1: word granularity at 2.5G
    report_unit_bytes=4,  # G.987.3 §8.2.3.5: BufOcc in words
    max_start_units=9_719,  # G.987.3 §8.1.1.3
    max_grant_units=9_718,
    max_allocations_per_frame=512,  # G.987.3 §8.1.1
    ds_header_fixed_bytes=4,  # G.987.3 §8.1.1: HLend
    ds_bytes_per_allocation=8,  # G.987.3 §8.1.1.2: allocation structure
    ds_ploam_bytes=48,  # G.987.3 §11.2
    ds_trailer_bytes=0,
    ds_sync_bytes=24,  # G.987.3 §10.1.1: PSBd
    burst=BurstProfile(
        guard_bytes=8, preamble_bytes=20, delimiter_bytes=4
    ),  # G.987.2 burst profile
    us_burst_header_bytes=4,  # G.987.3 §8.2.1: XGTC burst header
    us_burst_trailer_bytes=4,  # G.987.3 §8.2.4: XGTC trailer (BIP)
    us_ploam_bytes=48,
    dbru_bytes=4,  # G.987.3 §8.2.3: DBRu
    encap="xgem",
    encap_header_bytes=8,  # G.987.3 §9.1.1: XGEM header
    encap_align_bytes=4,  # G.987.3 §9.1.2: payload padded to a word
    encap_min_frame_bytes=16,  # G.987.3 §9.1.2: 8-byte header + ≥ 8-byte payload
    encap_max_fragment_bytes=16_383,  # PLI 14 bits
    ds_fec=RS_248_216,
    us_fec=RS_248_232,
    ds_fec_default=True,
    us_fec_default=True,
    ds_fec_mandatory=True,  # G.987.3 §10.1.2
    max_onu_id=1022,  # G.987.3 §6.4.2
    broadcast_onu_id=1023,
    min_assignable_alloc_id=1024,
    max_alloc_id=16_383,
    max_port_id=65_534,
    max_split=256,  # G.987.1 §7: 1:256 logical
    reach_km=20.0,
    max_differential_km=40.0,  # G.987.1 §7: 40 km differential fibre distance
    ds_wavelength_nm=1577,
    us_wavelength_nm=1270,
    ds_attenuation_db_per_km=0.22,
    us_attenuation_db_per_km=0.40,
    optical_classes=_XG_CLASSES,
    default_optical_class="N1",
)

XGS_PON: Final = Profile(
    name="xgs-pon",
    title="XGS-PON",
    standard="ITU-T G.9807.1",
    framed=True,
    downstream_bps=9_953_280_000,  # G.9807.1 §8.1
    upstream_bps=9_953_280_000,
    frame_ps=FRAME_PS,
    ds_bytes_per_frame=155_520,
    us_bytes_per_frame=155_520,  # 9 720 blocks of 16 bytes
    grant_unit_bytes=16,  # G.9807.1 §C.8.1.1: 16-byte blocks at 9.95 Gb/s upstream
    report_unit_bytes=4,  # G.9807.1 §C.8.2.3.5: BufOcc in words
    max_start_units=9_719,
    max_grant_units=9_718,
    max_allocations_per_frame=512,
    ds_header_fixed_bytes=4,  # HLend
    ds_bytes_per_allocation=8,
    ds_ploam_bytes=48,
    ds_trailer_bytes=4,  # G.9807.1 §C.8.1.3: FS trailer
    ds_sync_bytes=24,  # PSBd
    burst=BurstProfile(guard_bytes=64, preamble_bytes=160, delimiter_bytes=8),
    us_burst_header_bytes=4,
    us_burst_trailer_bytes=4,
    us_ploam_bytes=48,
    dbru_bytes=4,
    encap="xgem",
    encap_header_bytes=8,
    encap_align_bytes=4,
    encap_min_frame_bytes=16,
    encap_max_fragment_bytes=16_383,
    ds_fec=RS_248_216,
    us_fec=RS_248_216,
    ds_fec_default=True,
    us_fec_default=True,
    ds_fec_mandatory=True,  # G.9807.1 §C.10.1.2
    max_onu_id=1020,  # G.9807.1 §C.6.1.5.2: 1021..1023 reserved
    broadcast_onu_id=1023,
    min_assignable_alloc_id=1024,
    max_alloc_id=16_383,
    max_port_id=65_534,
    max_split=256,
    reach_km=20.0,
    max_differential_km=40.0,
    ds_wavelength_nm=1577,
    us_wavelength_nm=1270,
    ds_attenuation_db_per_km=0.22,
    us_attenuation_db_per_km=0.40,
    optical_classes=_XG_CLASSES,
    default_optical_class="N1",
)

EPON_1G: Final = Profile(
    name="epon-1g",
    title="1G-EPON",
    standard="IEEE 802.3ah",
    framed=False,
    downstream_bps=1_000_000_000,  # 802.3 §65: 1.25 GBd 8b/10b
    upstream_bps=1_000_000_000,
    frame_ps=0,
    ds_bytes_per_frame=0,
    us_bytes_per_frame=0,
    grant_unit_bytes=2,  # 802.3 §64.2.2.4: one 16 ns time quantum = 2 bytes at 1 Gb/s
    report_unit_bytes=2,
    max_start_units=0,
    max_grant_units=65_535,  # 16-bit grant length in time quanta
    max_allocations_per_frame=4,  # up to 4 grants per GATE (802.3 §64.3.6.1)
    ds_header_fixed_bytes=0,
    ds_bytes_per_allocation=0,
    ds_ploam_bytes=0,
    ds_trailer_bytes=0,
    ds_sync_bytes=0,
    burst=BurstProfile(guard_bytes=0, preamble_bytes=0, delimiter_bytes=0),
    us_burst_header_bytes=0,
    us_burst_trailer_bytes=0,
    us_ploam_bytes=0,
    dbru_bytes=64,  # 802.3 §64.3.6.2: REPORT is a 64-byte MPCPDU
    encap="ethernet",
    encap_header_bytes=20,  # preamble/SFD 8 + inter-frame gap 12 per frame
    encap_align_bytes=1,
    encap_min_frame_bytes=84,
    encap_max_fragment_bytes=0,  # Ethernet frames are never fragmented
    ds_fec=None,
    us_fec=None,
    ds_fec_default=False,
    us_fec_default=False,
    ds_fec_mandatory=False,
    max_onu_id=32_767,  # LLID 15 bits
    broadcast_onu_id=32_767,
    min_assignable_alloc_id=0,
    max_alloc_id=32_766,
    max_port_id=32_766,
    max_split=64,
    reach_km=20.0,
    max_differential_km=20.0,
    ds_wavelength_nm=1490,
    us_wavelength_nm=1310,
    ds_attenuation_db_per_km=0.25,
    us_attenuation_db_per_km=0.35,
    optical_classes=_EPON_1G_CLASSES,
    default_optical_class="PX20",
    ethernet_overhead_bytes=20,
    mpcp_report_bytes=64,  # + 20 bytes preamble/IFG = 84 on the wire
    mpcp_time_quantum_ps=16_000,  # 802.3 §64.2.2.1: 16 ns
    default_guard_ps=1_000_000,  # 1 µs: laser on/off + AGC + CDR (pon-reference issue 5)
)

EPON_10G: Final = Profile(
    name="epon-10g",
    title="10G-EPON",
    standard="IEEE 802.3av",
    framed=False,
    downstream_bps=10_000_000_000,  # 802.3av §75: 10.3125 GBd 64b/66b
    upstream_bps=10_000_000_000,
    frame_ps=0,
    ds_bytes_per_frame=0,
    us_bytes_per_frame=0,
    grant_unit_bytes=20,  # 16 ns at 10 Gb/s
    report_unit_bytes=20,
    max_start_units=0,
    max_grant_units=65_535,
    max_allocations_per_frame=4,
    ds_header_fixed_bytes=0,
    ds_bytes_per_allocation=0,
    ds_ploam_bytes=0,
    ds_trailer_bytes=0,
    ds_sync_bytes=0,
    burst=BurstProfile(guard_bytes=0, preamble_bytes=0, delimiter_bytes=0),
    us_burst_header_bytes=0,
    us_burst_trailer_bytes=0,
    us_ploam_bytes=0,
    dbru_bytes=64,
    encap="ethernet",
    encap_header_bytes=20,
    encap_align_bytes=1,
    encap_min_frame_bytes=84,
    encap_max_fragment_bytes=0,
    ds_fec=RS_255_223,  # 802.3av §76.3.2.4: mandatory stream FEC
    us_fec=RS_255_223,
    ds_fec_default=True,
    us_fec_default=True,
    ds_fec_mandatory=True,
    max_onu_id=32_767,
    broadcast_onu_id=32_767,
    min_assignable_alloc_id=0,
    max_alloc_id=32_766,
    max_port_id=32_766,
    max_split=256,
    reach_km=20.0,
    max_differential_km=20.0,
    ds_wavelength_nm=1577,
    us_wavelength_nm=1270,
    ds_attenuation_db_per_km=0.22,
    us_attenuation_db_per_km=0.40,
    optical_classes=_EPON_10G_CLASSES,
    default_optical_class="PR30",
    ethernet_overhead_bytes=20,
    mpcp_report_bytes=64,
    mpcp_time_quantum_ps=16_000,
    default_guard_ps=1_000_000,
)

PROFILES: Final[dict[str, Profile]] = {
    p.name: p for p in (GPON, XG_PON, XGS_PON, EPON_1G, EPON_10G)
}


def get_profile(name: str, where: str = "technology") -> Profile:
    """Look up a profile by name; an unknown name raises :class:`InputError` listing valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        valid = ", ".join(PROFILES)
        raise InputError(where, f"unknown technology {name!r}; valid: {valid}") from None


# --------------------------------------------------------------------------- splitters
#: Splitter insertion loss (typical, max) in dB by ratio (pon-reference §3; ITU-T G.671
#: Table 6 planning values).
SPLITTER_LOSS_DB: Final[dict[int, tuple[float, float]]] = {
    2: (3.6, 4.0),
    4: (7.0, 7.5),
    8: (10.3, 10.8),
    16: (13.5, 14.1),
    32: (16.5, 17.2),
    64: (20.0, 21.0),
    128: (23.5, 24.5),
    256: (27.0, 28.0),  # extrapolated: +3.5 dB per doubling, as from 64 to 128
}
#: Connector and fusion-splice loss, typical / max dB (pon-reference §3).
CONNECTOR_LOSS_DB: Final = (0.3, 0.5)
SPLICE_LOSS_DB: Final = (0.05, 0.1)
#: Planner's default safety margin (pon-reference §3).
DEFAULT_MARGIN_DB: Final = 3.0
#: ONU response time 35 ± 1 µs (G.984.3 §10.3.4, G.987.3 §12.3).
ONU_RESPONSE_TIME_PS: Final = 35_000_000
#: Serial-number / ranging quiet windows for 20 km (40 km) differential distance (pon-reference §4).
SN_QUIET_WINDOW_PS: Final = {20: 250_000_000, 40: 450_000_000}
RANGING_QUIET_WINDOW_PS: Final = {20: 202_000_000, 40: 402_000_000}

# --------------------------------------------------------------------------- activation (issue 12)
# The numbers of the activation cycle: ONU timers, synchronisation counts, the serial-number
# response delay and the alarm rules at the OLT.  G.987.3 (XG-PON) and G.9807.1 Annex C
# (XGS-PON, which reuses the G.987.3 TC layer) share them; GPON (G.984.3) uses the same
# values under different state names.  ``onu/activation.py`` and ``olt/activation.py`` read them.
#: TO1, the serial-number and ranging timer: an ONU that is not ranged within TO1 of entering
#: O3 (GPON) / O4 (XG) gives up and returns to the serial-number state (G.984.3 §10.2.3,
#: G.987.3 §12.1.3).
TO1_PS: Final = 10 * 10**12
#: TO2, the POPUP (GPON O6) / intermittent-LODS (XG O6) timer: an ONU in O6 that has not
#: regained downstream synchronisation within TO2 returns to O1 (G.984.3 §10.2.3,
#: G.987.3 §12.1.3).
TO2_PS: Final = 100 * 10**9
#: Downstream frames with a bad PSync/PSBd after which an ONU declares loss of downstream
#: synchronisation (LODS) and leaves O5 (pon-reference §4: 4 frames).
LODS_FRAMES: Final = 4
#: Consecutive good PSync/PSBd an ONU needs to reach the Sync state from Hunt (M1 = 2,
#: G.987.3 §10.1.1.4 downstream synchronisation; G.984.3 §8.1.3.1).
DS_SYNC_FRAMES: Final = 2
#: Frames from downstream sync to the burst profile (XG Burst_Profile PLOAM, GPON
#: Upstream_Overhead): the OLT broadcasts it in every downstream frame (G.987.3 §11.3.3.1
#: recommends a periodic broadcast; one frame is the emulator's choice).
PROFILE_LEARNING_FRAMES: Final = 1
#: Upper bound of the random delay an unranged ONU waits before its serial-number response,
#: drawn uniformly in [0, 48 µs) afresh for every SN grant, so colliding ONUs separate on a
#: retry (G.984.3 §10.3.4.2, G.987.3 §12.2.4; pon-reference §4).
SN_RANDOM_DELAY_MAX_PS: Final = 48 * 10**6
#: Missed bursts (consecutive allocations without a delineated burst) after which the OLT
#: raises LOBi (XG, G.987.3 §11.1.2) / LOSi (GPON, G.984.3 §11.1.1) for that ONU.
LOBI_MISSED_BURSTS: Final = 4
#: Frames without any upstream light after which the OLT raises LOS for the whole PON (a
#: feeder cut; G.984.3 §11.1.1 counts the same 4 as LOSi).
OLT_LOS_FRAMES: Final = 4
#: Consecutive upstream frames with corrupted bursts after which the OLT suspects a rogue ONU
#: and starts isolating it.  ITU-T G.Sup49 (rogue ONU considerations) leaves detection to the
#: OLT; 8 frames (1 ms) is the emulator's default.
ROGUE_DETECT_FRAMES: Final = 8
#: Frames one isolation probe takes (the OLT silences a half of the suspects and watches
#: whether corruption stops; G.Sup49 §8 describes such a search).  Identification takes
#: ceil(log2(active ONUs)) probes, then Disable_Serial_Number sends the rogue to O7.
ROGUE_PROBE_FRAMES: Final = 2
#: Where an ONU receiver loses the signal (LOS asserts), in dB of optical margin: margin is
#: the class maximum loss minus the path loss, so margin 0 is the receiver's sensitivity and
#: LOS asserts 3 dB further down (typical optical-module LOS-assert level, a few dB under the
#: sensitivity; a documented default, not a standard number).  Between this and 0 dB the ONU
#: stays up with bit errors.
LOS_MARGIN_DB: Final = -3.0
#: Default period of the OLT's serial-number (discovery) windows (the standards leave it to
#: the OLT; vendors use 0.1–1 s).  Scenario key ``activation.discovery_period_ms``.
DEFAULT_DISCOVERY_PERIOD_PS: Final = 100 * 10**9


# --------------------------------------------------------------------------- framing functions
def ds_overhead_bytes(profile: Profile, n_allocations: int, n_ploam: int = 0) -> int:
    """Header bytes of one downstream frame inside its FEC-protected payload.

    GPON: PCBd = 30 + 8·N (G.984.3 §8.1.3).  XG/XGS: HLend 4 + 8·N BWmap + 48·P PLOAM
    (+ 4-byte FS trailer for XGS-PON, G.9807.1 §C.8.1).
    """
    return (
        profile.ds_header_fixed_bytes
        + profile.ds_bytes_per_allocation * n_allocations
        + profile.ds_ploam_bytes * n_ploam
        + profile.ds_trailer_bytes
    )


def ds_payload_bytes(
    profile: Profile, n_allocations: int, fec: bool | None = None, n_ploam: int = 0
) -> int:
    """Bytes of one 125 µs downstream frame left for GEM/XGEM frames.

    Parameters
    ----------
    profile
        A framed (ITU) profile.
    n_allocations
        Allocation structures in the frame's BWmap (each costs 8 bytes).
    fec
        Downstream FEC on/off; ``None`` takes the profile default.  XG-PON and XGS-PON
        downstream FEC is mandatory, so ``False`` is refused for them.
    n_ploam
        PLOAM messages carried in the header (XG/XGS only; GPON's PLOAMd is fixed).
    """
    _require_framed(profile)
    if fec is False and profile.ds_fec_mandatory:
        raise InputError(
            "fec.downstream", f"{profile.title} downstream FEC is mandatory; it cannot be off"
        )
    code = profile.fec("downstream", fec)
    coded_bytes = profile.ds_bytes_per_frame - profile.ds_sync_bytes
    data_bytes = code.data_bytes(coded_bytes) if code else coded_bytes
    return data_bytes - ds_overhead_bytes(profile, n_allocations, n_ploam)


def psbu_slot_bytes(profile: Profile) -> int:
    """Line bytes reserved ahead of a burst's first allocation: the PSBu rounded up to the
    grant unit, because StartTime (the first byte after the PSBu) counts whole grant units
    (G.9807.1 §C.8.1.1.3: 16-byte blocks at 10G upstream, so a 232-byte PSBu takes 240)."""
    unit = profile.grant_unit_bytes
    return -(-profile.burst.total_bytes // unit) * unit


def burst_line_bytes(
    profile: Profile, data_bytes: int, fec: FecCode | None, ploam: bool = False
) -> int:
    """Line bytes one burst occupies on the upstream, carrying ``data_bytes`` of allocations.

    ``data_bytes`` is the sum of the burst's allocation sizes (payload plus DBRu) — what the
    BWmap's GrantSize fields count.  The PSBu (in its unit-aligned slot, see
    :func:`psbu_slot_bytes`) is never FEC-coded; header, allocations, PLOAMu and trailer are
    (G.987.3 §10.3).
    """
    protected = (
        profile.us_burst_header_bytes
        + profile.us_burst_trailer_bytes
        + (profile.us_ploam_bytes if ploam else 0)
        + data_bytes
    )
    coded = fec.line_bytes(protected) if fec else protected
    return psbu_slot_bytes(profile) + coded


def burst_data_bytes(
    profile: Profile, line_bytes: int, fec: FecCode | None, ploam: bool = False
) -> int:
    """Inverse of :func:`burst_line_bytes`: allocation bytes a burst of ``line_bytes`` holds."""
    coded = line_bytes - psbu_slot_bytes(profile)
    protected = fec.data_bytes(coded) if fec else coded
    return (
        protected
        - profile.us_burst_header_bytes
        - profile.us_burst_trailer_bytes
        - (profile.us_ploam_bytes if ploam else 0)
    )


def padded_payload_bytes(profile: Profile, payload_bytes: int) -> int:
    """Payload bytes after padding to the encapsulation's alignment and minimum frame."""
    align = profile.encap_align_bytes
    padded = -(-payload_bytes // align) * align
    return max(padded, profile.encap_min_frame_bytes - profile.encap_header_bytes)


def encapsulated_bytes(profile: Profile, packet_bytes: int, room_bytes: int | None = None) -> int:
    """Bytes a packet occupies after GEM/XGEM encapsulation, whole or fragmented.

    Parameters
    ----------
    profile
        Technology profile (GEM: 5-byte header, no padding, 4095-byte max fragment;
        XGEM: 8-byte header, payload padded to 4 bytes, 16-byte minimum frame).
    packet_bytes
        Ethernet frame length (0 is allowed: an empty SDU still costs a header).
    room_bytes
        Space available in the first grant/frame.  ``None`` means unlimited room, so
        fragmentation happens only at the maximum fragment size.  When ``room_bytes`` is
        given, the first fragment fills as much of it as the alignment allows and the rest
        continues in later fragments of maximum size, each paying its own header.

    Returns
    -------
    int
        Total bytes over all fragments.
    """
    if packet_bytes < 0:
        raise ValueError("packet_bytes must be ≥ 0")
    if profile.encap == "ethernet":
        return packet_bytes + profile.encap_header_bytes
    sizes = fragment_sizes(profile, packet_bytes, room_bytes)
    return sum(profile.encap_header_bytes + padded_payload_bytes(profile, f) for f in sizes)


#: "No limit" for a byte count (the piece size of an encapsulation that never fragments, an
#: exhaustive EPON window): far above anything a run moves, far below int64 overflow.
UNLIMITED_BYTES: Final = 1 << 40


def max_piece_payload(profile: Profile) -> int:
    """Most payload bytes one GEM/XGEM frame carries: the maximum fragment rounded down to the
    alignment, or :data:`UNLIMITED_BYTES` when frames are never fragmented (Ethernet)."""
    align = profile.encap_align_bytes
    return (profile.encap_max_fragment_bytes // align) * align or UNLIMITED_BYTES


def max_fragment_payload(profile: Profile, room_bytes: int) -> int:
    """Largest fragment payload that fits in ``room_bytes`` (0 if not even a minimum frame fits)."""
    if room_bytes < profile.encap_min_frame_bytes:
        return 0
    room = min(room_bytes - profile.encap_header_bytes, profile.encap_max_fragment_bytes)
    return (room // profile.encap_align_bytes) * profile.encap_align_bytes


def fragment_sizes(profile: Profile, packet_bytes: int, room_bytes: int | None = None) -> list[int]:
    """Payload sizes of the fragments a packet is cut into (see :func:`encapsulated_bytes`)."""
    cap = profile.encap_max_fragment_bytes
    sizes: list[int] = []
    remaining = packet_bytes
    if room_bytes is not None:
        whole = profile.encap_header_bytes + padded_payload_bytes(profile, remaining)
        if whole > room_bytes or remaining > cap:
            first = min(max_fragment_payload(profile, room_bytes), remaining)
            if first > 0:
                sizes.append(first)
                remaining -= first
    while remaining > cap:
        sizes.append(cap)
        remaining -= cap
    if remaining > 0 or not sizes:
        sizes.append(remaining)
    return sizes


# --------------------------------------------------------------------------- saturation oracle
def equal_share_bursts(
    profile: Profile, onus: int, fec: FecCode | None, dbru: bool = False
) -> list[int]:
    """Allocation data bytes per ONU when ``onus`` bursts share one upstream frame equally.

    Each burst occupies a whole number of grant units (StartTime alignment); the frame's units
    are dealt out as evenly as integers allow, earlier ONUs taking the remainder.  Returns the
    ``data_bytes`` (payload + DBRu) of each ONU's single allocation.
    """
    _require_framed(profile)
    unit = profile.grant_unit_bytes
    units = profile.us_units_per_frame
    base, extra = divmod(units, onus)
    out = []
    for i in range(onus):
        line_bytes = (base + (1 if i < extra else 0)) * unit
        data = burst_data_bytes(profile, line_bytes, fec)
        # GrantSize counts whole units of data bytes (payload + DBRu).
        out.append(max(0, (data // unit) * unit))
    del dbru  # the DBRu sits inside the grant: the caller subtracts it from the payload
    return out


def stream_goodput_bytes(
    profile: Profile, room_bytes: float, packet_bytes: int, fragment_headers: bool = True
) -> float:
    """Packet bytes carried by ``room_bytes`` of a continuous, fragmenting packet stream.

    At saturation each grant (or downstream frame) begins with the tail of the packet cut at
    the end of the previous one, so one extra header is paid per grant
    (``fragment_headers=True``, what the emulator does); every whole packet costs its header
    and padding.  Idle bytes at the end of a grant (room too small for even a minimum frame)
    average half a minimum frame and are ignored (< 0.2 % at 16-byte XGEM).
    """
    header = profile.encap_header_bytes
    per_packet = header + padded_payload_bytes(profile, packet_bytes)
    if profile.encap == "ethernet" or not fragment_headers:
        return room_bytes * packet_bytes / per_packet
    return max(0.0, room_bytes - header) * packet_bytes / per_packet


def saturation_goodput_bps(
    profile: Profile | str,
    direction: Direction,
    onus: int = 32,
    frame_bytes: int = ETH_MAX_FRAME_BYTES,
    fec: bool | None = None,
    *,
    dbru: bool = False,
    fragment_headers: bool = True,
) -> float:
    """Analytic net Ethernet goodput at saturation (pon-reference §2).

    Every ONU has one T-CONT (upstream) or one queue (downstream), always backlogged with
    ``frame_bytes`` Ethernet frames.  Upstream: each ONU sends one burst per frame, the frame
    shared equally in whole grant units.  Downstream: one allocation structure per ONU in the
    BWmap and the payload shared equally among the ONUs' queues.  The emulator's saturation
    runs (static DBA, which asks for no DBRu) must land within 0.5 % of this value.

    The rounded table of pon-reference §2 leaves out two real costs: the DBRu (``dbru``) and
    the extra fragment header each grant starts with at saturation (``fragment_headers``).
    With both off this function reproduces that table within 0.5 %; with the defaults it is
    what the emulator actually achieves (e.g. GPON upstream 1.20 instead of 1.21 Gb/s).

    Parameters
    ----------
    profile
        Profile or its name (framed ITU profiles only).
    direction
        ``"upstream"`` or ``"downstream"``.
    onus
        Number of ONUs sharing the PON.
    frame_bytes
        Ethernet frame length (no preamble / IFG).
    fec
        FEC on/off in that direction; ``None`` takes the profile default.

    Returns
    -------
    float
        Goodput in bit/s (Ethernet frame bytes × 8 per second).
    """
    prof = get_profile(profile) if isinstance(profile, str) else profile
    if not prof.framed:
        return epon_saturation_goodput_bps(prof, direction, onus, frame_bytes)
    frames_per_s = 1e12 / prof.frame_ps
    if direction == "downstream":
        room = ds_payload_bytes(prof, onus, fec)
        if fragment_headers:
            # The frame is shared equally among the ONUs' queues, so each queue's share ends
            # in a cut packet: one extra header per ONU per frame, not one per frame.
            room -= (onus - 1) * prof.encap_header_bytes
        return stream_goodput_bytes(prof, room, frame_bytes, fragment_headers) * 8 * frames_per_s
    code = prof.fec("upstream", fec)
    dbru_bytes = prof.dbru_bytes if dbru else 0
    total = 0.0
    for data in equal_share_bursts(prof, onus, code, dbru):
        total += stream_goodput_bytes(prof, data - dbru_bytes, frame_bytes, fragment_headers)
    return total * 8 * frames_per_s


def epon_saturation_goodput_bps(
    profile: Profile,
    direction: Direction,
    onus: int = 16,
    frame_bytes: int = ETH_MAX_FRAME_BYTES,
    window_bytes: int = 15_000,
    guard_ps: int | None = None,
) -> float:
    """Analytic EPON goodput at saturation (IPACT limited service, every ONU at ``window_bytes``).

    Downstream is a continuous Ethernet stream (preamble + IFG per frame; MPCP GATEs ignored).
    Upstream, per ONU per cycle: guard time + 84-byte REPORT + ``window_bytes`` of whole frames
    (each frame + 20 bytes preamble/IFG), at the line rate after FEC.
    """
    rate = profile.line_rate_bps(direction)
    code = profile.fec(direction, None)
    data_rate = rate * (code.k / code.n if code else 1.0)
    wire = frame_bytes + profile.ethernet_overhead_bytes
    if direction == "downstream":
        return data_rate * frame_bytes / wire
    guard = profile.default_guard_ps if guard_ps is None else guard_ps
    frames = window_bytes // wire
    data_bytes = frames * wire + profile.mpcp_report_bytes + profile.ethernet_overhead_bytes
    cycle_s = onus * (guard / 1e12 + data_bytes * 8 / data_rate)
    return onus * frames * frame_bytes * 8 / cycle_s


def _require_framed(profile: Profile) -> None:
    if not profile.framed:
        raise ValueError(f"{profile.title} has no 125 µs frame (MPCP polling instead)")


def fmt_rate(rate_bps: float) -> str:
    """Human-readable rate: ``9.95 Gb/s``, ``100 Mb/s``."""
    for scale, unit in ((1e9, "Gb/s"), (1e6, "Mb/s"), (1e3, "kb/s")):
        if abs(rate_bps) >= scale:
            value = rate_bps / scale
            digits = 0 if math.isclose(value, round(value)) else 2
            return f"{value:.{digits}f} {unit}"
    return f"{rate_bps:.0f} b/s"


# ------------------------------------------------------------------ TC-layer header fields
# Field widths and fixed values of the headers the captures write (ftth.capture.layers);
# the byte sizes above already count these headers, these are their insides.
#: G.984.3 §8.1.3.1: GPON downstream Psync pattern.
GPON_PSYNC: Final = 0xB6AB31E0
#: G.987.3 §10.1.1.1 / G.9807.1 §C.10.1.1.1: XG(S)-PON downstream PSync pattern (64 bits).
XG_PSYNC: Final = 0xC5E51840FD59BB49
#: G.984.3 §8.1.3.5: PLOAMd ONU-ID for broadcast and message ID "No message".
GPON_PLOAM_BROADCAST: Final = 0xFF
GPON_PLOAM_NO_MESSAGE: Final = 0x0B
#: G.984.3 §8.1.3.6 US BW map entry: Alloc-ID 12, Flags 12, SStart 16, SStop 16, CRC 8 bits.
GPON_ALLOC_ID_BITS: Final = 12
GPON_FLAGS_BITS: Final = 12
#: G.984.3 §8.1.3.6: Flags bits 8-7 = 01 ask for a mode-0 DBRu (2 bytes).
GPON_DBRU_MODE0: Final = 1
#: G.984.3 §8.3.1: GEM header PLI 12, Port-ID 12, PTI 3, HEC 13 bits; PTI of a user data
#: fragment that ends an SDU.
GEM_PLI_BITS: Final = 12
GEM_PORT_ID_BITS: Final = 12
GEM_PTI_END: Final = 0b001
#: G.984.3 §8.3.1 idle GEM frame (here its Port-ID all ones marks the idle filler).
GEM_IDLE_PORT_ID: Final = 0xFFF
#: G.987.3 §8.1.1.2 allocation structure: Alloc-ID 14, Flags 2 (DBRu, PLOAMu), StartTime 16,
#: GrantSize 16, FWI 1, BurstProfile 2, HEC 13 bits.
XG_ALLOC_ID_BITS: Final = 14
#: G.987.3 §8.1.1.2: StartTime of an allocation chained to the previous one in its burst.
XG_START_CHAINED: Final = 0xFFFF
#: G.987.3 §8.1.1.1 HLend: BWmap length 11, PLOAM count 8, HEC 13 bits.
XG_BWMAP_LENGTH_BITS: Final = 11
#: G.987.3 §9.1.1 XGEM header: PLI 14, Key index 2, XGEM Port-ID 16, Options 18, LF 1, HEC 13.
XGEM_PLI_BITS: Final = 14
#: G.987.3 §9.1.3 idle XGEM frame: XGEM Port-ID 0xFFFF.
XGEM_IDLE_PORT_ID: Final = 0xFFFF
#: G.987.3 §8.2.1 upstream XGTC header: ONU-ID 10, Ind 9, HEC 13 bits; §8.2.3 DBRu:
#: BufOcc 24 bits + CRC-8.
XG_ONU_ID_BITS: Final = 10
#: HEC of the XG(S)-PON headers (G.987.3 §9.1.1.1): BCH(63,12,2) with generator
#: x^12+x^10+x^8+x^5+x^4+x^3+1, plus one even-parity bit; GPON's GEM HEC uses the same
#: generator over 27 bits (G.984.3 §8.3.1.4).
HEC_BCH_GENERATOR: Final = 0x1539
#: CRC-8 of the GPON BWmap entries, Plend and DBRu and the XG DBRu (G.984.3 §8.1.3.6,
#: G.987.3 §8.2.3): x^8+x^2+x+1.
CRC8_GENERATOR: Final = 0x07
#: IEEE 802.3 §31.4.1.3 / §64.3.6: MAC Control EtherType and the MPCP opcodes.
ETHERTYPE_MAC_CONTROL: Final = 0x8808
MPCP_OPCODE_GATE: Final = 0x0002
MPCP_OPCODE_REPORT: Final = 0x0003
#: IEEE 802.3 §64.3.6.1: at most 4 grants per GATE; §64.3.6.2: 8 queue reports per set.
MPCP_MAX_GRANTS: Final = 4
MPCP_QUEUES_PER_SET: Final = 8
#: IEEE 802.3 §31.4.1.3 / §64.3.6: MPCP destination MAC (the MAC Control multicast address).
MPCP_DESTINATION_MAC: Final = "01:80:c2:00:00:01"
#: IEEE 802.3 §3.2.8: the FCS a capture at a NIC strips (4 bytes).
ETH_FCS_BYTES: Final = 4
#: IEEE 802.3 §3.2.9 / RFC 791 / RFC 768: Ethernet, IPv4 and UDP header bytes.
ETH_HEADER_BYTES: Final = 14
IPV4_HEADER_BYTES: Final = 20
UDP_HEADER_BYTES: Final = 8
#: tcpdump.org link-layer types: Ethernet (LINKTYPE_ETHERNET) and the first user DLT
#: (LINKTYPE_USER0 = 147), which the TC-layer capture uses.
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_USER0: Final = 147
