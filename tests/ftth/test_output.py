"""ftth.output: output paths checked up front, atomic writes, safe stdout/stderr."""

from __future__ import annotations

import errno
import io
import multiprocessing
import os
from pathlib import Path

import pytest

from ftth import output
from ftth.errors import InputError
from ftth.output import Output, SafeStream, StdoutError, check_outputs


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    output.reset()


def _refused(outputs: list[Output | None], inputs: tuple[Path, ...] = ()) -> InputError:
    with pytest.raises(InputError) as caught:
        check_outputs(outputs, inputs=inputs)
    return caught.value


# ------------------------------------------------------------------ checks before a run
def test_dash_is_stdout_for_json_only(tmp_path: Path) -> None:
    check_outputs([Output("--json", Path("-"), stdout_ok=True)])
    err = _refused([Output("--csv", Path("-"), "dir")])
    assert err.where == "--csv" and "only for --json" in err.why
    assert not Path("-").exists()


def test_a_directory_where_a_file_is_expected_and_the_reverse(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    assert "is a directory" in _refused([Output("--json", tmp_path)]).why
    assert "is a file" in _refused([Output("--csv", tmp_path / "file.txt", "dir")]).why


def test_a_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    err = _refused([Output("--json", tmp_path / "file.txt" / "out.json")])
    assert err.where == "--json" and "is a file, not a directory" in err.why


def test_missing_parents_are_fine_when_the_nearest_existing_one_is_writable(
    tmp_path: Path,
) -> None:
    check_outputs([Output("--json", tmp_path / "a" / "b" / "out.json")])
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_an_output_equal_to_an_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text("name = 'x'\n")
    monkeypatch.chdir(tmp_path)
    # The same file spelled differently is still the same file.
    err = _refused([Output("--json", Path("./s.toml"))], inputs=(scenario,))
    assert err.where == "--json" and "refusing to overwrite an input" in err.why
    err = _refused(
        [Output("--csv", tmp_path, "dir", names=("s.toml", "other.csv"))], inputs=(scenario,)
    )
    assert err.where == "--csv"
    assert scenario.read_text() == "name = 'x'\n"


def test_two_outputs_on_one_path_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "x"
    err = _refused([Output("--json", target), Output("--csv", target, "dir")])
    assert err.where == "--csv" and "--json" in err.why


def test_an_atomic_write_never_replaces_a_checked_input(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text("keep")
    check_outputs([], inputs=(scenario,))
    with pytest.raises(InputError, match="refusing to overwrite an input"):
        output.write_text(scenario, "new")
    assert scenario.read_text() == "keep"


# ------------------------------------------------------------------ atomic writes
def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_text_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    output.write_text(target, "one")
    output.write_text(target, "two")
    assert target.read_text() == "two"
    assert _leftovers(target.parent) == []
    assert list(output.WRITTEN) == [target, target]


def test_a_failing_writer_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), output.open_atomic(target) as handle:
        handle.write("half a ")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_a_transaction_renames_everything_at_the_end_or_nothing(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "csv" / "b.csv"
    a.write_text("old a")
    with output.transaction():
        output.write_text(a, "new a")
        assert a.read_text() == "old a"  # not yet: renamed when the block ends
        output.write_text(b, "new b")
    assert (a.read_text(), b.read_text()) == ("new a", "new b")

    with pytest.raises(KeyboardInterrupt), output.transaction():
        output.write_text(a, "newer a")
        output.write_text(b, "newer b")
        raise KeyboardInterrupt
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert _leftovers(tmp_path) == [] and _leftovers(b.parent) == []


def _writer(folder: str, ident: int, rounds: int) -> None:
    os.environ["FTTH_CACHE_DIR"] = folder  # the commit lock lives there
    base = Path(folder)
    for _ in range(rounds):
        with output.transaction():
            output.write_text(base / "r.json", f"{ident}\n" * 2000)
            for name in ("summary.csv", "households.csv"):
                output.write_text(base / "csv" / name, f"{ident}," * 3000)


def test_concurrent_writers_never_mix(tmp_path: Path) -> None:
    """Two processes writing the same JSON and CSV files: every file is whole, and all of
    them come from the same process (the renames are serialised by a lock)."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), i, 40)) for i in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    json_text = (tmp_path / "r.json").read_text()
    owner = json_text.split("\n", 1)[0]
    assert json_text == f"{owner}\n" * 2000
    for name in ("summary.csv", "households.csv"):
        assert (tmp_path / "csv" / name).read_text() == f"{owner}," * 3000
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "csv") == []


# ------------------------------------------------------------------ safe streams
class _Ascii(io.StringIO):
    encoding = "ascii"

    def write(self, text: str) -> int:
        text.encode("ascii")  # raises like a real ASCII terminal
        return super().write(text)


def test_an_ascii_terminal_gets_ascii_spellings() -> None:
    inner = _Ascii()
    stream = SafeStream(inner, "stdout")  # type: ignore[arg-type]
    stream.write("p99 ≥ 10 ms — 5 µs × 2 ✓ 中")
    assert inner.getvalue() == "p99 >= 10 ms - 5 us x 2 ok ?"


class _Failing(io.StringIO):
    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code

    def write(self, text: str) -> int:
        raise OSError(self.code, os.strerror(self.code))

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "no descriptor")


def test_a_closed_pipe_is_silent() -> None:
    stream = SafeStream(_Failing(errno.EPIPE), "stdout")  # type: ignore[arg-type]
    stream.write("a table")
    stream.flush()  # no error: the reader chose to stop
    assert stream.broken


def test_a_full_device_is_one_error_at_flush() -> None:
    stream = SafeStream(_Failing(errno.ENOSPC), "stdout")  # type: ignore[arg-type]
    stream.write("a table")
    with pytest.raises(StdoutError) as caught:
        stream.flush()
    assert caught.value.where == "stdout" and "No space left" in caught.value.why
    stream.flush()  # reported once


def test_a_directory_where_a_file_of_an_output_directory_goes_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "csv" / "summary.csv").mkdir(parents=True)
    err = _refused([Output("--csv", tmp_path / "csv", "dir", names=("summary.csv",))])
    assert err.where == "--csv" and "summary.csv is a directory" in err.why
