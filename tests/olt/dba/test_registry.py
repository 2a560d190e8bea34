"""DBA plugins are isolated: a broken one is one warning and a ``broken`` entry, never a crash.

Entry points are faked (``olt.dba.registry.entry_points`` monkeypatched) with real
:class:`importlib.metadata.EntryPoint` objects whose targets live in this module, so the
registry's own loading code runs unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ftth.errors import InputError
from olt.dba import registry
from olt.dba.base import Dba, Reports

HERE = __name__


class NamelessDba(Dba):
    """A plugin class that forgot its ``name``."""

    def allocate(self, now_ps: int, reports: Reports) -> np.ndarray:
        return np.zeros(len(reports.demand_bytes), dtype=np.int64)


class ClashingDba(NamelessDba):
    name = "proportional"


class NamedDba(NamelessDba):
    name = "test-registry-named"


class NotADba:
    name = "not-a-dba"


def _ep(name: str, value: str) -> registry.EntryPoint:
    return registry.EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[registry.EntryPoint]]:
    """A list of entry points the registry will see; the registry is reloaded around it."""
    plugins: list[registry.EntryPoint] = []

    def fake_entry_points(*, group: str) -> list[registry.EntryPoint]:
        assert group == registry.ENTRY_POINT_GROUP
        return plugins

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    monkeypatch.delenv("FTTH_DBA_PLUGIN_WARNINGS_SHOWN", raising=False)
    registry._reset_for_tests()
    yield plugins
    registry._reset_for_tests()
    monkeypatch.undo()
    NamelessDba.name = ""  # the registry names a nameless class after its entry point


def test_a_plugin_whose_import_fails_is_one_warning_and_listed_broken(
    fake_plugins: list[registry.EntryPoint], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_plugins.append(_ep("vendor-x", "no_such_module_for_ftth_tests:VendorDba"))
    names = registry.list_dbas()
    err = capsys.readouterr().err
    assert "proportional" in names and "vendor-x" not in names  # the rest still works
    assert err.count("\n") == 1
    assert err.startswith("warning: DBA plugin 'vendor-x' not loaded: cannot import")
    assert "ModuleNotFoundError" in err
    broken = registry.broken_dbas()
    assert list(broken) == ["vendor-x"] and "no_such_module_for_ftth_tests" in broken["vendor-x"]
    assert registry.get_dba("proportional").name == "proportional"


def test_selecting_a_broken_plugin_names_the_reason(
    fake_plugins: list[registry.EntryPoint],
) -> None:
    fake_plugins.append(_ep("vendor-x", "no_such_module_for_ftth_tests:VendorDba"))
    with pytest.raises(InputError) as caught:
        registry.get_dba("vendor-x")
    assert caught.value.where == "dba.name"
    assert "broken" in caught.value.why and "ModuleNotFoundError" in caught.value.why


def test_a_plugin_without_name_takes_its_entry_point_name(
    fake_plugins: list[registry.EntryPoint],
) -> None:
    fake_plugins.append(_ep("nameless-vendor", f"{HERE}:NamelessDba"))
    assert "nameless-vendor" in registry.list_dbas()
    assert "" not in registry.list_dbas()
    cls = registry.get_dba("nameless-vendor")
    assert cls is NamelessDba and cls.name == "nameless-vendor"


def test_a_plugin_named_like_a_builtin_is_an_error_naming_both(
    fake_plugins: list[registry.EntryPoint], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_plugins.append(_ep("my-proportional", f"{HERE}:ClashingDba"))
    registry.list_dbas()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    # Both sides named: the plugin's entry point and the built-in's class.
    assert f"my-proportional = {HERE}:ClashingDba" in err
    assert "built-in olt.dba.proportional." in err
    assert registry.get_dba("proportional") is not ClashingDba  # the built-in keeps its name
    assert "my-proportional" in registry.broken_dbas()


def test_two_plugins_with_one_name_the_second_is_broken(
    fake_plugins: list[registry.EntryPoint], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_plugins += [_ep("a-named", f"{HERE}:NamedDba"), _ep("b-named", f"{HERE}:NamedDba")]
    assert registry.get_dba("test-registry-named") is NamedDba
    assert "plugin entry point a-named" in registry.broken_dbas()["b-named"]
    capsys.readouterr()


def test_an_entry_point_that_is_not_a_dba_class_is_broken(
    fake_plugins: list[registry.EntryPoint], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_plugins.append(_ep("not-a-dba", f"{HERE}:NotADba"))
    assert "not-a-dba" not in registry.list_dbas()
    assert "neither a frame DBA (olt.dba.base.Dba)" in registry.broken_dbas()["not-a-dba"]
    capsys.readouterr()


def test_a_good_plugin_next_to_a_broken_one_registers(
    fake_plugins: list[registry.EntryPoint], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_plugins += [
        _ep("vendor-x", "no_such_module_for_ftth_tests:VendorDba"),
        _ep("good", f"{HERE}:NamedDba"),
    ]
    assert registry.get_dba("test-registry-named") is NamedDba
    assert list(registry.broken_dbas()) == ["vendor-x"]
    capsys.readouterr()


def test_a_new_file_in_olt_dba_is_a_registered_dba(
    fake_plugins: list[registry.EntryPoint], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Adding a DBA is one new file in olt/dba/: nothing else names it."""
    import sys

    import olt.dba

    (tmp_path / "one_file_dba.py").write_text(
        "from olt.dba.registry import register\n"
        "from tests.olt.dba.test_registry import NamelessDba\n\n"
        "@register\n"
        "class OneFileDba(NamelessDba):\n"
        "    name = 'one-file-dba'\n"
    )
    monkeypatch.setattr(olt.dba, "__path__", [*olt.dba.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "olt.dba.one_file_dba", raising=False)
    registry._reset_for_tests()
    assert "one-file-dba" in registry.list_dbas()
    assert registry.get_dba("one-file-dba").__name__ == "OneFileDba"
    registry._REGISTRY.pop("one-file-dba", None)
    sys.modules.pop("olt.dba.one_file_dba", None)
