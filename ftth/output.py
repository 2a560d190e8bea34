"""Output files and streams, in one place for every command.

* :func:`check_outputs` checks every output path *before* an emulation starts: its parent can
  be written, a file is not a directory (and the reverse), ``-`` (stdout) only where a command
  allows it, and no output is one of the command's inputs (``ftth run X.toml --json X.toml``).
* :func:`open_atomic` / :func:`write_text` / :func:`atomic_path` write to a temporary file in
  the destination's directory and rename it into place (:func:`os.replace`).  Inside
  :func:`transaction` (which every command wraps around its writes) the renames are deferred
  to the end and done under one machine-wide lock, so two concurrent runs writing the same
  paths leave the complete outputs of one run or the other, never a mix, and an interrupted
  run leaves the old files untouched.
* :func:`safe_streams` makes stdout/stderr survive a closed pipe (``ftth run | head -1``), a
  full device and an ASCII-only terminal (characters such as ``—`` or ``µ`` are spelled in
  ASCII).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TextIO

from ftth.errors import InputError

STDOUT = "-"

OutputKind = Literal["file", "dir"]


# ======================================================================== checks before a run
@dataclass(frozen=True)
class Output:
    """One output a command will write.

    Parameters
    ----------
    option
        The option or scenario key naming it (``"--json"``, ``"output.csv_dir"``), for errors.
    path
        Where it goes.
    kind
        ``"file"`` or ``"dir"`` (a directory of files).
    stdout_ok
        ``-`` means standard output (``--json`` only).
    names
        For a directory: the file names written into it (checked against the inputs).
    """

    option: str
    path: Path
    kind: OutputKind = "file"
    stdout_ok: bool = False
    names: tuple[str, ...] = ()

    @property
    def to_stdout(self) -> bool:
        """True when this output goes to standard output (``-``)."""
        return str(self.path) == STDOUT


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the directory that will hold it)."""
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _check_creatable(out: Output) -> None:
    """The directory that will hold ``out`` exists or can be created, and can be written."""
    parent = out.path.absolute().parent if out.kind == "file" else out.path.absolute()
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise InputError(out.option, f"{out.path}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(out.option, f"{out.path}: cannot write into {base}: permission denied")


def check_outputs(
    outputs: Iterable[Output | None], inputs: Iterable[Path | str | None] = ()
) -> None:
    """Refuse any output that cannot be written, before any work is done.

    Parameters
    ----------
    outputs
        What the command will write (``None`` entries are skipped).
    inputs
        Files the command reads (the scenario file): no output may overwrite one.

    Raises
    ------
    ftth.errors.InputError
        Naming the option and the path: ``-`` where stdout is not allowed, a directory where
        a file is expected (or the reverse), a parent that cannot be written, an output equal
        to an input, or two outputs naming the same path.
    """
    wanted = [o for o in outputs if o is not None]
    sources = [Path(p) for p in inputs if p is not None and str(p) != STDOUT]
    _PROTECTED[:] = [p for p in sources if p.exists()]
    _PLANNED[:] = wanted
    stdout_users: list[str] = []
    for out in wanted:
        if out.to_stdout:
            if not out.stdout_ok:
                raise InputError(
                    out.option, "'-' (standard output) is only for --json; name a directory"
                )
            stdout_users.append(out.option)
            continue
        path = out.path
        if out.kind == "file" and path.is_dir():
            raise InputError(out.option, f"{path} is a directory; name a file")
        if out.kind == "dir" and path.exists() and not path.is_dir():
            raise InputError(out.option, f"{path} is a file; name a directory")
        targets = [path] if out.kind == "file" else [path / name for name in out.names]
        if out.kind == "dir":
            for target in targets:
                if target.is_dir():  # a directory where one of its files goes
                    raise InputError(out.option, f"{target} is a directory; it would be a file")
        for target in targets:
            for src in sources:
                if target.exists() and _same(target, src):
                    raise InputError(
                        out.option, f"{target} is the input {src}; refusing to overwrite an input"
                    )
        _check_creatable(out)
    if len(stdout_users) > 1:
        raise InputError(stdout_users[1], f"only one output can go to stdout ({stdout_users[0]})")
    files = [o for o in wanted if not o.to_stdout]
    for i, a in enumerate(files):
        for b in files[i + 1 :]:
            if a.path.absolute() == b.path.absolute():
                raise InputError(b.option, f"{b.path} is also the output of {a.option}")


#: Inputs of the running command (from :func:`check_outputs`): no atomic write replaces one.
_PROTECTED: list[Path] = []
#: Outputs the running command announced (from :func:`check_outputs`).
_PLANNED: list[Output] = []


def reset() -> None:
    """Forget the previous command's inputs, outputs and written files (one per process)."""
    global _TRANSACTION
    _PROTECTED.clear()
    _PLANNED.clear()
    WRITTEN.clear()
    _TRANSACTION = None


def _refuse_input(path: Path) -> None:
    if not path.exists():
        return
    for src in _PROTECTED:
        if _same(path, src):
            raise InputError(str(path), f"is the input {src}; refusing to overwrite an input")


# ======================================================================== atomic writes
@dataclass
class _Transaction:
    """Temporary files waiting to be renamed into place, in the order they were written."""

    pending: list[tuple[Path, Path]] = field(default_factory=list)


#: The open transaction of this process (commands run one at a time), or ``None``.
_TRANSACTION: _Transaction | None = None
#: Final paths written by this process (for the "what was kept" line on an interrupt).
WRITTEN: list[Path] = []


def _temp_for(path: Path) -> Path:
    """A unique hidden name in ``path``'s directory, so the final rename stays on one device."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def _fail(path: Path, exc: OSError) -> InputError:
    return InputError(str(path), f"cannot write: {exc.strerror or exc}")


def _commit_one(temp: Path, final: Path) -> None:
    try:
        os.replace(temp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise _fail(final, exc) from None
    WRITTEN.append(final)


def temp_path_for(path: Path | str) -> Path:
    """A fresh temporary name next to ``path`` (its directory created), for a writer that
    takes a path (the packet trace); hand it to :func:`adopt` once complete."""
    final = Path(path)
    _refuse_input(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(str(final), f"cannot create directory: {exc.strerror or exc}") from None
    return _temp_for(final)


def adopt(temp: Path, final: Path | str) -> None:
    """Rename the complete file ``temp`` to ``final`` (now, or when the transaction commits)."""
    _finish(temp, Path(final))


def _finish(temp: Path, final: Path) -> None:
    """Rename now, or at the end of the open transaction."""
    if _TRANSACTION is not None:
        _TRANSACTION.pending.append((temp, final))
    else:
        with _commit_lock():
            _commit_one(temp, final)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path to write ``path`` through (e.g. for matplotlib's ``savefig``).

    The parent directory is created.  When the block ends normally the temporary file
    replaces ``path`` (now, or when the enclosing :func:`transaction` commits); on any
    exception — an interrupt included — it is removed and ``path`` is left as it was.
    """
    final = Path(path)
    _refuse_input(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            str(final), f"cannot create directory {final.parent}: {exc.strerror or exc}"
        ) from None
    temp = _temp_for(final)
    try:
        yield temp
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _finish(temp, final)


@contextlib.contextmanager
def open_atomic(
    path: Path | str, mode: str = "w", *, newline: str | None = None, encoding: str | None = None
) -> Iterator[IO[Any]]:
    """``open(path, mode)`` through a temporary file renamed into place (see :func:`atomic_path`).

    Text files are UTF-8 unless ``encoding`` says otherwise.  A write error (full disk,
    permissions) is an :class:`~ftth.errors.InputError` naming ``path``.
    """
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as temp:
        try:
            handle = open(temp, mode, newline=newline, encoding=encoding)  # noqa: SIM115
        except OSError as exc:
            raise _fail(Path(path), exc) from None
        try:
            with handle:
                yield handle
        except OSError as exc:
            raise _fail(Path(path), exc) from None


def write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` atomically; ``-`` writes it to standard output."""
    if str(path) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with open_atomic(path) as handle:
        handle.write(text)


def output_dir(directory: str | Path) -> Path:
    """``directory``, created if needed (InputError naming it if it cannot be)."""
    out = Path(directory)
    if str(out) == STDOUT:
        raise InputError(str(out), "'-' (standard output) is only for --json; name a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(str(out), "is a file; name a directory") from None
    except OSError as exc:
        raise InputError(str(out), f"cannot create directory: {exc.strerror or exc}") from None
    return out


def _lock_file() -> Path:
    base = os.environ.get("FTTH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ftth"
    )
    return Path(base) / "outputs.lock"


@contextlib.contextmanager
def _commit_lock() -> Iterator[None]:
    """A machine-wide lock around the renames, so two commands' outputs never interleave.

    Best effort: without ``fcntl`` (Windows) or a writable cache/temp directory the renames
    are still atomic one by one.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        yield
        return
    handle = None
    for candidate in (_lock_file(), Path(tempfile.gettempdir()) / f"ftth-{os.getuid()}.lock"):
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            handle = open(candidate, "a")  # noqa: SIM115
            break
        except OSError:
            continue
    if handle is None:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # releases the lock


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """Defer every atomic write of the block to its end, then rename them all under one lock.

    If the block raises (bad input, a crash, an interrupt) every temporary file is removed
    and no output changes.  Nested transactions join the outer one.
    """
    global _TRANSACTION
    if _TRANSACTION is not None:
        yield
        return
    txn = _TRANSACTION = _Transaction()
    try:
        yield
    except BaseException:
        _TRANSACTION = None
        for temp, _final in txn.pending:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise
    _TRANSACTION = None
    with _commit_lock():
        for i, (temp, final) in enumerate(txn.pending):
            try:
                _commit_one(temp, final)
            except BaseException:
                for later, _ in txn.pending[i + 1 :]:
                    with contextlib.suppress(OSError):
                        later.unlink()
                raise


def kept_summary() -> str:
    """What an interrupted command leaves behind, for its one-line message."""
    written = [str(p) for p in WRITTEN]
    outs = [o for o in _PLANNED if not o.to_stdout]
    if not written:
        names = ", ".join(str(o.path) for o in outs)
        verb = "left as it was" if len(outs) == 1 else "left as they were"
        return "nothing written" + (f" ({names} {verb})" if outs else "")
    return f"complete outputs kept: {', '.join(written)}"


# ======================================================================== stdout / stderr
#: ASCII spellings of the non-ASCII characters ftth prints.
ASCII_SPELLING = str.maketrans(
    {
        "—": "-", "–": "-", "µ": "u", "×": "x", "✓": "ok", "✗": "X", "≥": ">=", "≤": "<=",
        "±": "+/-", "…": "...", "→": "->", "←": "<-", "·": ".", "²": "^2", "≈": "~",
        "−": "-", "Δ": "d", "α": "a", "λ": "lambda", "“": '"', "”": '"', "’": "'", "‘": "'",
        "━": "-", "─": "-", "│": "|", "┃": "|", "╸": "-", "╺": "-", "•": "*",
    }
)  # fmt: skip


class StdoutError(InputError):
    """Standard output cannot be written (e.g. a full device)."""


class SafeStream(io.TextIOBase):
    """A text stream wrapper: ASCII spellings on a non-UTF terminal, quiet on a closed pipe.

    * On an encoding that cannot hold ``—`` or ``µ`` (``PYTHONIOENCODING=ascii``), text is
      spelled in ASCII (:data:`ASCII_SPELLING`, then ``?``) instead of raising
      :class:`UnicodeEncodeError`.
    * A closed pipe (``ftth run | head -1``) drops the rest of the output silently: the
      reader chose to stop, the command still ends with its verdict's exit status.
    * Any other write error (``ENOSPC`` on a full device) is remembered and raised as one
      :class:`StdoutError` from :meth:`flush`; the command's own outputs are not affected.
    """

    def __init__(self, inner: TextIO, name: str) -> None:
        super().__init__()
        self.inner = inner
        self.stream_name = name
        self.broken = False
        self.error: OSError | None = None
        encoding = getattr(inner, "encoding", None) or "utf-8"
        try:
            "—µ×✓≥±…".encode(encoding)
            self.ascii = False
        except (UnicodeEncodeError, LookupError):
            self.ascii = True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return bool(self.inner.isatty())
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self.inner.fileno()

    def _failed(self, exc: OSError) -> None:
        if exc.errno == errno.EPIPE or isinstance(exc, BrokenPipeError):
            self.broken = True
            # Later flushes (at interpreter exit too) must not complain about the pipe.
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.inner.fileno())
                os.close(devnull)
        elif self.error is None:
            self.error = exc

    def write(self, text: str) -> int:
        if self.broken or self.error is not None:
            return len(text)
        if self.ascii:
            out = text.translate(ASCII_SPELLING)
            out = out.encode(self.encoding, errors="replace").decode(self.encoding)
        else:
            out = text
        try:
            self.inner.write(out)
        except OSError as exc:
            self._failed(exc)
        return len(text)

    def flush(self) -> None:
        if not self.broken and self.error is None:
            try:
                self.inner.flush()
            except OSError as exc:
                self._failed(exc)
            except ValueError:
                pass
        if self.error is not None:
            failure, self.error = self.error, None
            self.broken = True  # report once, then stay quiet
            raise StdoutError(self.stream_name, f"cannot write: {failure.strerror or failure}")

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            # Hidden so that click/typer's echo writes through this wrapper (its ASCII
            # spellings and pipe handling) instead of re-wrapping the raw bytes.
            raise AttributeError(name)
        return getattr(self.inner, name)


@contextlib.contextmanager
def safe_streams() -> Iterator[tuple[SafeStream, SafeStream]]:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in :class:`SafeStream` for the block."""
    old_out, old_err = sys.stdout, sys.stderr
    out = SafeStream(old_out, "stdout")
    err = SafeStream(old_err, "stderr")
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = old_out, old_err
