"""Names of the emulation engines, in one place.

The scenario's ``engine`` key, ``ftth run --engine``, :func:`ftth.emulator.run_spec` and the
results' ``engine`` field all use these.  This module imports nothing from the project, so
every layer may use it (the scenario validates ``engine`` before any engine is imported).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: An engine name as the scenario and the command line accept it.
Engine = Literal["fast", "reference"]

#: The fast engine (simpy frame clock, array data plane; ftth.emulator.fast).
FAST: Final[Engine] = "fast"
#: The per-packet reference engine (one simpy event per packet; ftth.emulator.reference).
REFERENCE: Final[Engine] = "reference"
#: Every engine name, in the order help texts list them.
ENGINES: Final[tuple[Engine, ...]] = get_args(Engine)
