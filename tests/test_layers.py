"""Layers point down: a module imports only from its own layer or the layers below.

phy/units ← traffic, topology, optics ← scenario ← onu, olt ← emulator ← plan, compare, dbacheck,
api ← cli (docs/architecture.md).  Imports are read from the source (module level, inside
functions, and ``import_module("literal")``), so a lazy upward import fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ftth", "olt", "onu")

#: Module prefix → layer (the longest matching prefix wins).  Same-layer imports are allowed.
LAYERS: dict[str, int] = {
    "ftth.units": 0,
    "ftth.errors": 0,
    "ftth.jit": 0,
    "ftth.memory": 0,
    "ftth.phy": 0,
    "ftth.engines": 0,  # engine names (imports nothing)
    "ftth.output": 0,
    "ftth.plots": 0,
    "ftth.results": 0,  # the results schema: pydantic models only (the emulator stamps with it)
    "ftth.traffic": 1,
    "ftth.topology": 1,
    "ftth.optics": 1,
    "ftth.fold": 1,
    "ftth.biterrors": 1,
    "ftth.metrics": 1,
    "ftth.scenario": 2,
    "ftth.scenario.branches": 2,  # fibre names of the tree, for faults
    "onu": 3,
    "onu.activation": 3,  # the ONU activation state machine (issue 12)
    "olt": 3,
    "olt.activation": 3,  # discovery, ranging, alarms at the OLT (issue 12)
    "ftth.emulator": 4,
    "ftth.emulator.control": 4,  # the control plane: simpy run → ControlPlan (issue 12)
    "ftth.verdict": 1,  # pure rules over result numbers; the emulator's results use them
    "ftth.report": 5,
    "ftth.views": 5,  # frame anatomy, timeline, their terminal rendering
    "ftth.plan": 5,
    "ftth.compare": 5,
    "ftth.api": 5,
    "ftth.capture": 5,  # captures drawn from the frame trace (ftth.emulator.trace)
    "ftth.sweep": 5,
    "ftth.city": 5,
    "ftth.dbacheck": 5,  # the DBA report card: scenarios through ftth.api, drives olt/ directly
    "ftth.cli": 6,
    "ftth.__main__": 6,
}


def layer_of(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        matches = module == prefix or module.startswith(prefix + ".")
        if matches and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return None if best is None else best[1]


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def imported(path: Path, module: str) -> set[str]:
    """Project modules ``path`` imports (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            # ``from ftth import plots`` imports the module ftth.plots.
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {name for name in found if name.split(".")[0] in PACKAGES and name not in PACKAGES}


ALL = modules()


@pytest.mark.parametrize("module", sorted(m for m in ALL if m not in PACKAGES))
def test_imports_point_down(module: str) -> None:
    own = layer_of(module)
    assert own is not None, f"{module} has no layer in tests/test_layers.py LAYERS"
    upward = []
    for name in sorted(imported(ALL[module], module)):
        if name not in ALL:
            continue  # an attribute imported from a module, not a module
        target = layer_of(name)
        if target is not None and target > own:
            upward.append(f"{name} (layer {target})")
    assert not upward, f"{module} (layer {own}) imports upward: {', '.join(upward)}"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The test above can fail: a lazy import of the emulator from phy is caught."""
    fake = tmp_path / "phy.py"
    fake.write_text("def f():\n    from ftth.emulator import fast\n    return fast\n")
    names = imported(fake, "ftth.phy")
    assert "ftth.emulator" in names and layer_of("ftth.emulator.fast") == 4 > layer_of("ftth.phy")
