"""The one colour legend of every view: a segment *kind* → label and colour.

The anatomy table, the timeline figure (matplotlib) and the terminal timeline (rich) all
colour a byte by its kind from this table, so a student sees the same colour for the same
overhead everywhere.  Colours are hex strings both matplotlib and rich accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Kind:
    """One kind of line byte."""

    key: str
    label: str
    colour: str
    #: One character standing for the kind where colours are not shown (a pipe, a log).
    char: str
    #: True when the byte carries user data (the goodput), False for every overhead.
    useful: bool = False


#: Every kind, in legend order (the order of a frame on the line, roughly).
KINDS: Final[tuple[Kind, ...]] = (
    Kind("psb", "PSBd / PSBu: guard, preamble, delimiter", "#9e9e9e", "P"),
    Kind("header", "TC header / trailer (PCBd, XGTC, burst header, BIP)", "#5c6bc0", "H"),
    Kind("bwmap", "BWmap allocation structures", "#26a69a", "B"),
    Kind("ploam", "PLOAM messages", "#ab47bc", "L"),
    Kind("dbru", "DBRu (status report)", "#ff7043", "D"),
    Kind("encap", "GEM / XGEM headers", "#fdd835", "X"),
    Kind("padding", "GEM / XGEM padding", "#d4e157", "p"),
    Kind("payload", "Ethernet frames (goodput)", "#43a047", "#", useful=True),
    Kind("idle", "idle / unused grant", "#eceff1", "i"),
    Kind("fec", "FEC parity", "#e53935", "F"),
    Kind("quiet", "quiet window (activation)", "#000000", "Q"),
    Kind("unallocated", "no burst (unallocated)", "#ffffff", "."),
)

KIND_BY_KEY: Final[dict[str, Kind]] = {kind.key: kind for kind in KINDS}


def colour(key: str) -> str:
    """The hex colour of kind ``key``."""
    return KIND_BY_KEY[key].colour


def char(key: str) -> str:
    """The one-character symbol of kind ``key`` (terminal timeline without colours)."""
    return KIND_BY_KEY[key].char


def label(key: str) -> str:
    """The legend label of kind ``key``."""
    return KIND_BY_KEY[key].label
