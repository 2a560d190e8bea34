"""Every command in README.md runs (style.md: README examples are checked like tests)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FTTH = [sys.executable, "-m", "ftth"]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _ftth_commands() -> list[str]:
    return [
        line.strip()
        for block in _blocks("sh")
        for line in block.splitlines()
        if line.strip().startswith("ftth ")
    ]


def test_readme_opens_with_exactly_two_setup_commands() -> None:
    """The first two code blocks are the run and test set-up commands, marked for .ci/run."""
    head = README.split("---", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", head, flags=re.S)
    assert len(blocks) == 2, blocks
    run_cmd, test_cmd = (b.strip() for b in blocks)
    assert "<!-- run-command -->" in head and "<!-- test-command -->" in head
    assert run_cmd.endswith("ftth run"), run_cmd
    assert "pytest" in test_cmd and "[test" in test_cmd, test_cmd


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci and "README.md" in ci


@pytest.mark.parametrize("command", _ftth_commands())
def test_readme_command_runs(command: str, tmp_path: Path) -> None:
    """Each `ftth ...` line exits 0 (or 1 = a FAIL verdict, a legitimate answer), no traceback."""
    args = shlex.split(command)[1:]
    args = [a.replace("out/", f"{tmp_path}/") for a in args]
    proc = subprocess.run([*FTTH, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "120"})  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr


def test_readme_python_example_runs() -> None:
    for block in _blocks("python"):
        code = block.replace("import ftth", "import ftth", 1)
        namespace: dict[str, object] = {}
        cwd = os.getcwd()
        try:
            os.chdir(ROOT)
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
        finally:
            os.chdir(cwd)
        assert "result" in namespace
