"""Where the runs of a sweep execute: in this process, a local process pool, or Dask.

Every executor takes a module-level function and a list of picklable items and yields
``(index, fn(item))`` as each finishes (any order).  The caller does the same thing with
each result whichever executor produced it, so a run's row does not depend on the executor.
``fn`` is expected to catch its own errors and return them as data (a failed run is a row);
an exception that escapes it ends the sweep.

Stopping (an exception in the caller, SIGINT/SIGTERM raised as
:class:`~ftth.errors.Interrupted`): leaving the ``with`` block with an exception aborts —
local workers are terminated (SIGTERM, then SIGKILL after :data:`KILL_AFTER_S`) and reaped,
Dask futures are cancelled and a ``LocalCluster`` is closed — so nothing keeps running.

* :class:`InlineExecutor`: the runs one after the other in this process (``--workers 1``).
* :class:`ProcessExecutor`: worker processes, one pipe each, one run in flight per worker,
  so at most ``workers`` runs are lost to a SIGKILL.  On Linux one process is spawned (no
  fork of this process, which may run threads), imports the emulator once and forks the
  workers (a *zygote*); elsewhere each worker is spawned.  The pool can be started ahead
  (:func:`start_ahead`), so the workers import while the caller checks the input.
  Workers ignore SIGINT (a Ctrl-C reaches the whole process group; the parent decides)
  and, on Linux, die with their parent (``PR_SET_PDEATHSIG``), the zygote with this
  process, even when it is killed with SIGKILL.  No queue or lock is used, so the pool
  holds no semaphore for the resource tracker to clean up.
* :class:`DaskExecutor`: ``dask.distributed`` (the ``cluster`` extra), imported only here;
  ``"local"`` starts a ``LocalCluster`` of ``workers`` single-threaded worker processes,
  anything else is a scheduler address (``tcp://host:8786``).
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any

from ftth.errors import InputError

#: Seconds a terminated worker has to exit before it is killed.
KILL_AFTER_S = 1.0
#: Seconds to wait for a Dask scheduler to answer, and for a cluster to close.
DASK_TIMEOUT_S = 10.0
DASK_CLOSE_S = 2.0

Fn = Callable[[Any], Any]


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (macOS, Windows)
        return max(1, os.cpu_count() or 1)


class Executor:
    """Base class: a context manager that maps a function over items as they finish."""

    #: Short description for messages (``"2 local processes"``).
    label = "this process"

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(abort=exc_type is not None)

    def map_unordered(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` for every item, as each finishes."""
        raise NotImplementedError

    def close(self, abort: bool = False) -> None:
        """Release the workers; ``abort``: stop runs in flight now."""


class InlineExecutor(Executor):
    """Every run in this process, in order (a signal interrupts the run in flight)."""

    label = "this process"

    def map_unordered(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)


# ================================================================== local process pool
def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (best effort elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os._exit(1)


def _quit() -> None:
    """End a worker now: the work is done and nothing of the interpreter needs tearing down
    (finalising numba and numpy takes ~0.3 s a process, the tail of every sweep)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


def _serve(conn: Connection) -> None:
    """A worker's loop: receive ``(index, fn, item)``, send ``(index, ok, value)``, until
    told to quit (``None``) or the parent's end closes; then end the process."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            _quit()
        if message is None:
            _quit()
        index, fn, item = message
        try:
            reply = (index, True, fn(item))
        except Exception as exc:  # fn should not raise; if it does, the parent re-raises
            reply = (index, False, "".join(traceback.format_exception(exc)))
        try:
            conn.send(reply)
        except (OSError, ValueError):
            _quit()


def _pin(cpu: int | None) -> None:
    """Run on ``cpu`` only.  With as many workers as CPUs each run gets one core of its
    own: it then generates traffic inline instead of on a second thread
    (``ftth.emulator.prefetch`` follows the affinity mask), so workers do not compete."""
    if cpu is not None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {cpu})


def _import_warm(warm: Sequence[str]) -> None:
    for name in warm:
        # A module that fails to import here fails again, with its error, in the run.
        with contextlib.suppress(Exception):
            importlib.import_module(name)


#: Thread pools of the numerical libraries, held to one thread in the zygote: a worker is
#: one core, and the zygote forks, which it should do with no thread but its own.
_ONE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _zygote_main(
    conns: list[Connection], parent_pid: int, cpus: list[int | None], warm: tuple[str, ...]
) -> None:
    """Import ``warm`` once, then fork one worker per connection, and wait for them.

    The zygote and its workers ignore SIGINT (a Ctrl-C reaches the whole process group;
    the parent decides); each dies with its parent (``PR_SET_PDEATHSIG``), so killing the
    zygote — or the sweep, even with SIGKILL — kills every worker.  The zygote exits once
    its workers have.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    for name in _ONE_THREAD_ENV:
        os.environ.setdefault(name, "1")
    _import_warm(warm)
    zygote = os.getpid()
    children = []
    for i, (conn, cpu) in enumerate(zip(conns, cpus, strict=True)):
        pid = os.fork()
        if pid == 0:  # a worker
            try:
                for j, other in enumerate(conns):
                    if j != i:
                        other.close()
                _die_with_parent(zygote)
                _pin(cpu)
                _serve(conn)
            finally:
                os._exit(1)  # _serve ends the process itself; this is a crash's exit
        children.append(pid)
    for conn in conns:
        conn.close()
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    _quit()


def _worker_main(
    conn: Connection, parent_pid: int, cpu: int | None = None, warm: tuple[str, ...] = ()
) -> None:
    """A spawned pool worker (where there is no ``fork``): :func:`_serve` on ``conn``.

    ``warm``: modules imported before the first message, so a pool started ahead
    (:meth:`ProcessExecutor.start`) imports them while the parent still checks the input.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    _pin(cpu)
    _import_warm(warm)
    _serve(conn)


def _affinity() -> list[int]:
    """The CPUs this process may run on, in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


class WorkerError(RuntimeError):
    """A function raised in a worker process (its traceback is the message)."""


#: Whether workers can be forked from a zygote (Linux: ``fork`` and ``PR_SET_PDEATHSIG``).
CAN_FORK = sys.platform.startswith("linux") and hasattr(os, "fork")


class ProcessExecutor(Executor):
    """``workers`` processes, one run in flight each.

    Parameters
    ----------
    workers
        Number of processes (at least 1).
    warm
        Modules the workers import before their first run.
    start_method
        ``"zygote"`` (the default where :data:`CAN_FORK`): one spawned process imports
        ``warm`` once and forks the workers, so N workers cost one start-up (~0.7 s of
        imports), not N competing for the cores; ``"spawn"``: each worker is spawned and
        imports ``warm`` itself.
    """

    def __init__(
        self, workers: int, warm: Sequence[str] = (), start_method: str | None = None
    ) -> None:
        self.workers = max(1, workers)
        self.warm = tuple(warm)
        self.start_method = start_method or ("zygote" if CAN_FORK else "spawn")
        if self.start_method not in ("zygote", "spawn"):
            raise ValueError(f"start_method: 'zygote' or 'spawn', got {start_method!r}")
        self.label = f"{self.workers} local process{'es' if self.workers > 1 else ''}"
        #: Our children: the zygote, or every spawned worker.
        self._procs: list[Any] = []
        self._conns: list[Connection] = []  # one per worker
        self._used: set[int] = set()  # indices of the workers that were sent a run

    def start(self) -> ProcessExecutor:
        """Start every worker now (their start-up, ~1 s, then overlaps whatever the caller
        does before :meth:`map_unordered`); idempotent.  Returns ``self``."""
        if not self._procs:
            self._start(self.workers)
        return self

    def _start(self, count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        cpus = _affinity()
        # One CPU per worker when the workers fill the CPUs (see _pin).
        pin = len(cpus) > 1 and count >= len(cpus)
        placed: list[int | None] = [cpus[i % len(cpus)] if pin else None for i in range(count)]
        pipes = [ctx.Pipe(duplex=True) for _ in range(count)]
        if self.start_method == "zygote":
            procs = [
                ctx.Process(
                    target=_zygote_main,
                    args=([child for _, child in pipes], os.getpid(), placed, self.warm),
                    daemon=True, name="ftth-sweep-zygote",
                )  # fmt: skip
            ]
        else:
            procs = [
                ctx.Process(
                    target=_worker_main, args=(child, os.getpid(), cpu, self.warm),
                    daemon=True, name="ftth-sweep-worker",
                )  # fmt: skip
                for (_, child), cpu in zip(pipes, placed, strict=True)
            ]
        for proc in procs:
            # Born with SIGINT blocked: a Ctrl-C reaches the whole process group, and one
            # that comes while the child's interpreter starts (before it ignores SIGINT)
            # would otherwise kill it with a traceback; the parent decides.
            blocked = _block_sigint()
            try:
                proc.start()
            finally:
                _restore_mask(blocked)
        for _, child in pipes:
            child.close()
        self._procs = procs
        self._conns = [parent for parent, _ in pipes]

    def _died(self, w: int) -> WorkerError:
        proc = self._procs[0] if self.start_method == "zygote" else self._procs[w]
        proc.join(KILL_AFTER_S)
        if self.start_method == "zygote" and proc.exitcode is None:
            return WorkerError("a worker process died")
        return WorkerError(f"a worker process died (exit status {proc.exitcode})")

    def map_unordered(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if not items:
            return
        if not self._procs:
            self._start(min(self.workers, len(items)))
        queue = list(enumerate(items))
        queue.reverse()  # pop() from the end hands out items in order
        busy: dict[Connection, int] = {}
        for w, conn in enumerate(self._conns):
            if not queue:
                break
            i, item = queue.pop()
            conn.send((i, fn, item))
            busy[conn] = w
            self._used.add(w)
        while busy:
            for ready in wait(list(busy)):
                conn = ready  # type: ignore[assignment]
                try:
                    index, ok, value = conn.recv()
                except (EOFError, OSError):
                    raise self._died(busy[conn]) from None
                if queue:
                    i, item = queue.pop()
                    conn.send((i, fn, item))
                else:
                    del busy[conn]
                if not ok:
                    raise WorkerError(value)
                yield index, value

    def close(self, abort: bool = False) -> None:
        procs, conns, used = self._procs, self._conns, self._used
        self._procs, self._conns, self._used = [], [], set()
        if not procs:  # never started, or closed already
            return
        if self.start_method == "zygote":
            # Killing the zygote kills its workers (they die with it); a zygote none of
            # whose workers was sent a run may still be importing: do not wait for it.
            stop = [abort or not used]
        else:
            stop = [abort or w not in used for w in range(len(procs))]
        for proc, now in zip(procs, stop, strict=True):
            if now:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    proc.terminate()
        if not all(stop):
            for w, conn in enumerate(conns):
                if self.start_method == "zygote" or w in used:
                    with contextlib.suppress(OSError, ValueError):
                        conn.send(None)  # quit
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
        for proc, now in zip(procs, stop, strict=True):
            proc.join(KILL_AFTER_S if now else None)
            if proc.is_alive():
                proc.kill()
                proc.join()
            with contextlib.suppress(ValueError):
                proc.close()


# ================================================================== Dask
def _block_sigint() -> set[int | signal.Signals] | None:
    """Block SIGINT in this thread (children started meanwhile inherit it); the old mask."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover (Windows)
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _restore_mask(old: set[int | signal.Signals] | None) -> None:
    if old is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class DaskExecutor(Executor):
    """Runs on Dask distributed: ``address`` ``"local"`` (a ``LocalCluster`` of ``workers``
    processes, one thread each) or a scheduler address.

    Raises
    ------
    ftth.errors.InputError
        Dask distributed is not installed, or the scheduler cannot be reached.
    """

    def __init__(self, address: str, workers: int) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise InputError(
                "--dask",
                "dask distributed is not installed; install the cluster extra: "
                "pip install 'ftth[cluster]'",
            ) from None
        import logging

        self._futures: list[Any] = []
        self.cluster: Any = None
        if address == "local":
            # The worker processes inherit a blocked SIGINT: a Ctrl-C reaches the whole
            # process group, and this process decides (as the local pool's workers ignore it).
            blocked = _block_sigint()
            try:
                self.cluster = LocalCluster(
                    n_workers=max(1, workers),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            finally:
                _restore_mask(blocked)
            self.client: Any = Client(self.cluster)
            self.label = f"a Dask LocalCluster of {max(1, workers)} workers"
        else:
            try:
                self.client = Client(address, timeout=DASK_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                raise InputError(
                    "--dask", f"cannot reach the Dask scheduler at {address}: {exc}"
                ) from None
            self.label = f"the Dask scheduler at {address}"

    def map_unordered(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from dask.distributed import as_completed

        batch = uuid.uuid4().hex[:12]
        futures = [
            self.client.submit(fn, item, key=f"ftth-run-{batch}-{i}", pure=False)
            for i, item in enumerate(items)
        ]
        self._futures = futures
        index = {f.key: i for i, f in enumerate(futures)}
        for future, value in as_completed(futures, with_results=True):
            yield index[future.key], value

    def _kill_local_workers(self) -> None:
        """SIGKILL the LocalCluster's worker processes: a running task cannot be stopped
        otherwise, and closing the cluster would wait for it (then time out)."""
        for nanny in list(getattr(self.cluster, "workers", {}).values()):
            pid = getattr(getattr(nanny, "process", None), "pid", None)
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def close(self, abort: bool = False) -> None:
        if abort:
            import logging

            # Connections to killed workers and cancelled keys are expected now, not news.
            for name in ("distributed", "tornado", "asyncio"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        with contextlib.suppress(Exception):
            if abort and self._futures:
                self.client.cancel(self._futures, force=True)
        with contextlib.suppress(Exception):
            self.client.close(timeout=DASK_CLOSE_S)
        if abort and self.cluster is not None:  # after the client: nothing left to gather
            self._kill_local_workers()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=DASK_CLOSE_S)


def start_ahead(
    workers: int | None, dask: str | None, warm: Sequence[str] = ()
) -> ProcessExecutor | None:
    """Start the local pool now, if :func:`make_executor` would use one, so its workers
    import ``warm`` while the caller checks the input; hand the pool to
    :func:`make_executor` (``ahead=``) or close it.

    ``None`` when no pool would be used (``--dask``, one worker, a bad ``--workers``: that is
    reported by :func:`make_executor`).
    """
    count = usable_cores() if workers is None else workers
    if dask is not None or count < 2:
        return None
    return ProcessExecutor(count, warm).start()


@contextlib.contextmanager
def pool_ahead(
    workers: int | None, dask: str | None, warm: Sequence[str] = ()
) -> Iterator[ProcessExecutor | None]:
    """:func:`start_ahead` for a block: the pool (or ``None``) is handed to
    :func:`make_executor` inside it, and whatever the block leaves open — an error before the
    runs, e.g. a bad grid — is stopped at its end (closing a closed pool does nothing)."""
    ahead = start_ahead(workers, dask, warm)
    try:
        yield ahead
    finally:
        if ahead is not None:
            ahead.close(abort=True)


def make_executor(
    workers: int | None, dask: str | None, runs: int, ahead: ProcessExecutor | None = None
) -> Executor:
    """The executor for ``--workers`` / ``--dask``.

    ``dask`` given: :class:`DaskExecutor` (``workers`` sizes a ``LocalCluster``, default the
    usable cores).  Otherwise ``workers`` processes (default :func:`usable_cores`), never
    more than ``runs``; one worker runs in this process (:class:`InlineExecutor`).
    ``ahead``: the pool :func:`start_ahead` started; it is the executor whenever runs are
    left (its spare workers, if there are fewer runs, stop at once) and is closed otherwise.
    """
    count = usable_cores() if workers is None else workers
    if count < 1:
        raise InputError("--workers", f"must be ≥ 1, got {count}")
    if runs == 0:  # everything already finished: start no worker, no cluster
        if ahead is not None:
            ahead.close(abort=True)
        return InlineExecutor()
    if ahead is not None:
        return ahead
    if dask is not None:
        if not dask.strip():
            raise InputError("--dask", "expected 'local' or a scheduler address tcp://HOST:PORT")
        return DaskExecutor(dask.strip(), count)
    count = min(count, max(1, runs))
    return InlineExecutor() if count == 1 else ProcessExecutor(count)


__all__ = [
    "DaskExecutor",
    "Executor",
    "InlineExecutor",
    "CAN_FORK",
    "ProcessExecutor",
    "WorkerError",
    "make_executor",
    "pool_ahead",
    "start_ahead",
    "usable_cores",
]
