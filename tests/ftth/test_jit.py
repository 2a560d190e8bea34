"""ftth.jit's numba cache: corrupt files discarded, an unwritable directory replaced, the
first compilation announced.

Each case runs ``import ftth.jit`` (where the cache is chosen and checked) in a child
process whose ``FTTH_CACHE_DIR`` and ``TMPDIR`` point into the test's temporary directory.
One case runs a real emulation on a copy of the machine's compiled cache with one file
truncated, which numba would otherwise fail to unpickle in the middle of the run.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftth import jit

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not jit.ACCELERATED, reason="numba is not in use")


def _key() -> str:
    assert jit.CACHE_DIR is not None
    return Path(jit.CACHE_DIR).name


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )


def _env(tmp_path: Path, cache: Path) -> dict[str, str]:
    env = {**os.environ, "FTTH_CACHE_DIR": str(cache), "TMPDIR": str(tmp_path / "tmp")}
    env.pop("FTTH_COMPILE_ANNOUNCED", None)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return env


def test_an_unwritable_cache_falls_back_to_a_temporary_one_with_one_warning(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = _env(tmp_path, blocker / "cache")  # below a file: cannot be created, even as root
    proc = _python("import ftth.jit as j; print(j.CACHE_DIR)", env)
    assert proc.returncode == 0, proc.stderr
    fallback = Path(proc.stdout.strip())
    assert fallback.parent.parent.parent == tmp_path / "tmp"  # $TMPDIR/ftth-cache-<uid>/numba
    assert fallback.is_dir() and fallback.name == _key()
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"warning: the numba cache {blocker / 'cache'}")
    assert f"using {fallback} instead" in line


def test_truncated_cache_files_are_discarded_with_one_warning(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "numba" / _key() / "ftth_x"
    folder.mkdir(parents=True)
    whole = pickle.dumps({"index": 1})
    (folder / "fifo.k-1.py311.nbi").write_bytes(pickle.dumps("0.68") + whole)
    (folder / "fifo.k-1.py311.1.nbc").write_bytes(whole[:-3])  # truncated data
    (folder / "fold.g-2.py311.nbi").write_bytes(pickle.dumps("0.68") + whole)  # whole
    (folder / "fold.g-2.py311.1.nbc").write_bytes(whole)
    proc = _python("import ftth.jit", _env(tmp_path, tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("warning: the numba cache") and "fifo.k-1.py311.1.nbc" in line
    # The corrupt file goes with its index; the healthy family stays.
    assert sorted(p.name for p in folder.iterdir()) == [
        "fold.g-2.py311.1.nbc",
        "fold.g-2.py311.nbi",
    ]
    again = _python("import ftth.jit", _env(tmp_path, tmp_path / "cache"))
    assert again.stderr == ""  # clean now: no warning the second time


def test_a_run_on_a_corrupt_real_cache_rebuilds_it(tmp_path: Path) -> None:
    """A compiled cache with one data file cut in half: numba would raise UnpicklingError."""
    assert jit.CACHE_DIR is not None
    source = Path(jit.CACHE_DIR)
    data = sorted(source.rglob("fold.*.nbc"))
    if not data:
        pytest.skip("the machine's kernel cache is not built yet")
    cache = tmp_path / "cache" / "numba" / source.name
    shutil.copytree(source, cache)
    victim = cache / data[0].relative_to(source)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    env = _env(tmp_path, tmp_path / "cache")
    proc = subprocess.run(
        [sys.executable, "-m", "ftth", "run", "--duration", "0.02", "-q"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and victim.name in warnings[0]
    # Gone, or rebuilt whole if this run needed that kernel on its own.
    assert not victim.exists() or jit._complete_pickles(victim.read_bytes())
    again = subprocess.run(
        [sys.executable, "-m", "ftth", "run", "--duration", "0.02", "-q"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert again.returncode == proc.returncode and again.stderr == ""


def test_the_first_compilation_is_announced_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FTTH_COMPILE_ANNOUNCED", raising=False)
    monkeypatch.setattr(jit, "will_compile", lambda: True)
    jit.announce_compilation()
    jit.announce_compilation()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"compiling the data-plane kernels once ({jit.COMPILE_ESTIMATE})")


def test_nothing_is_announced_when_the_cache_holds_the_kernels(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ftth

    ftth.run(None, overrides=["duration_s=0.005"])  # compiles (if needed) and caches
    monkeypatch.delenv("FTTH_COMPILE_ANNOUNCED", raising=False)
    capsys.readouterr()
    assert not jit.will_compile()
    jit.announce_compilation()
    assert capsys.readouterr().err == ""


def test_an_empty_cache_means_a_compilation(tmp_path: Path) -> None:
    code = "import ftth.emulator, ftth.jit as j; print(j.will_compile())"
    proc = _python(code, _env(tmp_path, tmp_path / "empty"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"
