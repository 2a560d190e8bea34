"""Name registry of DBA plugins.

Built-in DBAs live one per file in ``olt/dba/`` and register with :func:`register`;
third-party DBAs are found through the ``ftth.dba`` entry-point group, so a vendor's
package adds a DBA without touching this repository.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, TypeVar

from ftth.errors import InputError

_REGISTRY: dict[str, type[Any]] = {}
_BUILTIN_MODULES = (
    "static",
    "proportional",
    "ipact",
    "polling",
    "sr_dba",
    "giant",
    "x_giant",
    "ebu",
    "max_min",
    "tm_dba",
)
_loaded = False

T = TypeVar("T", bound=type[Any])


def register(cls: T) -> T:
    """Class decorator: register a DBA under its ``name`` class attribute."""
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        import_module(f"olt.dba.{module}")
    for ep in entry_points(group="ftth.dba"):
        cls = ep.load()
        _REGISTRY.setdefault(getattr(cls, "name", ep.name), cls)


def list_dbas() -> list[str]:
    """Names of every registered DBA, sorted."""
    _load()
    return sorted(_REGISTRY)


def get_dba(name: str, where: str = "dba.name") -> type[Any]:
    """The DBA class registered as ``name``; unknown names raise :class:`InputError`."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(
            where, f"unknown DBA {name!r}; valid: {', '.join(sorted(_REGISTRY))}"
        ) from None


Factory = Callable[..., Any]
