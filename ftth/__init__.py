"""ftth: a GPON / XG-PON / XGS-PON / EPON access-network emulator.

>>> import ftth
>>> result = ftth.run()                 # the embedded default scenario
>>> result.to_dict()["verdict"]

Heavy modules load on first use, so ``import ftth`` (and ``ftth --help``) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ftth.api import run as run


def __getattr__(name: str) -> Any:
    if name == "run":
        from ftth.api import run

        return run
    raise AttributeError(name)
