"""Name registry of DBA plugins.

Built-in DBAs live one per file in ``olt/dba/`` and register with :func:`register`;
third-party DBAs are found through the ``ftth.dba`` entry-point group, so a vendor's
package adds a DBA without touching this repository.

Plugins are isolated: a plugin that cannot be loaded (its import raises, it is not a class,
its name clashes with a built-in or another plugin) costs one line on stderr and is listed
as broken by :func:`broken_dbas` (``ftth list dbas``); every other DBA keeps working.  A
plugin class without a ``name`` is registered under its entry point's name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from ftth.errors import InputError

#: The entry-point group third-party DBAs declare.
ENTRY_POINT_GROUP = "ftth.dba"
#: Set once this process printed the plugin warnings, so worker processes stay quiet.
_WARNED_ENV = "FTTH_DBA_PLUGIN_WARNINGS_SHOWN"

_REGISTRY: dict[str, type[Any]] = {}
#: Entry-point name → why that plugin is not available.
_BROKEN: dict[str, str] = {}
#: DBA name → where it came from (``built-in olt.dba.static.StaticDba`` or the entry point).
_ORIGIN: dict[str, str] = {}
#: Modules of ``olt/dba/`` that hold shared machinery, not a DBA.
_NOT_DBAS = frozenset({"base", "kernel", "epon_kernel", "params", "registry", "shares"})


def _builtin_modules() -> list[str]:
    """Every DBA module of ``olt/dba/``: adding a DBA is adding one file there."""
    import pkgutil

    import olt.dba

    return sorted(
        m.name
        for m in pkgutil.iter_modules(olt.dba.__path__)
        if m.name not in _NOT_DBAS and not m.name.startswith("_")
    )


_loaded = False

T = TypeVar("T", bound=type[Any])


def register(cls: T) -> T:
    """Class decorator: register a DBA under its ``name`` class attribute."""
    _REGISTRY[cls.name] = cls
    _ORIGIN[cls.name] = f"built-in {cls.__module__}.{cls.__qualname__}"
    return cls


def _describe(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    package = f" from package {dist.name}" if dist is not None and dist.name else ""
    return f"entry point {ep.name} = {ep.value}{package}"


def _broken(ep: EntryPoint, reason: str) -> None:
    _BROKEN[ep.name] = reason
    if not os.environ.get(_WARNED_ENV):
        print(f"warning: DBA plugin {ep.name!r} not loaded: {reason}", file=sys.stderr)


def _load_plugin(ep: EntryPoint) -> None:
    from olt.dba.base import Dba, EponDba

    try:
        cls = ep.load()
    except Exception as exc:  # a plugin's import may raise anything; it must not stop ftth
        _broken(ep, f"cannot import {ep.value}: {type(exc).__name__}: {exc}")
        return
    if not (isinstance(cls, type) and issubclass(cls, Dba | EponDba)):
        _broken(
            ep,
            f"{ep.value} is neither a frame DBA (olt.dba.base.Dba) nor a polling DBA"
            " (olt.dba.base.EponDba)",
        )
        return
    name = cls.__dict__.get("name") or getattr(cls, "name", "") or ep.name
    if not isinstance(name, str):
        _broken(ep, f"{ep.value}: name must be a string, got {name!r}")
        return
    if name in _REGISTRY:
        _broken(
            ep,
            f"its name {name!r} ({_describe(ep)}) clashes with the {_ORIGIN[name]}; "
            "rename the plugin",
        )
        return
    if not getattr(cls, "name", ""):
        cls.name = name  # reports and DbaError messages name the DBA by its entry point
    _REGISTRY[name] = cls
    _ORIGIN[name] = f"plugin {_describe(ep)}"


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _builtin_modules():
        import_module(f"olt.dba.{module}")
    try:
        plugins = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # a broken distribution's metadata
        print(f"warning: DBA plugins not searched: {type(exc).__name__}: {exc}", file=sys.stderr)
        plugins = []
    for ep in sorted(plugins, key=lambda e: (e.name, e.value)):
        _load_plugin(ep)
    if _BROKEN:
        os.environ[_WARNED_ENV] = "1"  # inherited by worker processes (compare-dba)


def list_dbas() -> list[str]:
    """Names of every registered DBA, sorted."""
    _load()
    return sorted(_REGISTRY)


def broken_dbas() -> dict[str, str]:
    """Plugins that could not be registered: entry-point name → the reason, sorted."""
    _load()
    return dict(sorted(_BROKEN.items()))


def dba_origin(name: str) -> str:
    """Where the DBA ``name`` comes from (built-in module or plugin entry point)."""
    _load()
    return _ORIGIN.get(name, "")


def get_dba(name: str, where: str = "dba.name") -> type[Any]:
    """The DBA class registered as ``name``; unknown names raise :class:`InputError`."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        broken = f" (plugin {name!r} is broken: {_BROKEN[name]})" if name in _BROKEN else ""
        raise InputError(
            where, f"unknown DBA {name!r}{broken}; valid: {', '.join(sorted(_REGISTRY))}"
        ) from None


def _reset_for_tests() -> None:
    """Forget every plugin (tests that fake entry points); built-ins re-register on load."""
    global _loaded
    for name in [n for n, origin in _ORIGIN.items() if origin.startswith("plugin")]:
        _REGISTRY.pop(name, None)
        _ORIGIN.pop(name, None)
    _BROKEN.clear()
    _loaded = False


Factory = Callable[..., Any]
