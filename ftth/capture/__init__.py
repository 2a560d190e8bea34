"""Packet captures of a run: the TC layer (GPON GTC, XG(S)-PON XGTC, linktype 147) and the
user ports (Ethernet), written and read with one set of scapy layers (:mod:`.layers`), and
the Wireshark dissector for the TC capture (``ftth_tc.lua``, :func:`dissector_path`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def dissector_path() -> Path:
    """Path of the shipped Wireshark Lua dissector (package data)."""
    return Path(str(resources.files("ftth.capture").joinpath("ftth_tc.lua")))
