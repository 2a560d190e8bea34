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
* :class:`ProcessExecutor`: worker processes started with ``spawn`` (no fork of a process
  that may run threads), one pipe each, one run in flight per worker, so at most
  ``workers`` runs are lost to a SIGKILL.  Workers ignore SIGINT (a Ctrl-C reaches the whole
  process group; the parent decides) and, on Linux, die with the parent
  (``PR_SET_PDEATHSIG``) even when it is killed with SIGKILL.  No queue or lock is used, so
  the pool holds no semaphore for the resource tracker to clean up.
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


def _worker_main(
    conn: Connection, parent_pid: int, cpu: int | None = None, warm: tuple[str, ...] = ()
) -> None:
    """A pool worker: receive ``(index, fn, item)``, send ``(index, ok, value)``, until EOF.

    ``cpu``: pin the worker to that CPU.  With as many workers as CPUs each run gets one
    core of its own: it then generates traffic inline instead of on a second thread
    (``ftth.emulator.prefetch`` follows the affinity mask), so workers do not compete.
    ``warm``: modules imported before the first message, so a pool started ahead
    (:meth:`ProcessExecutor.start`) imports them while the parent still checks the input.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    if cpu is not None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {cpu})
    for name in warm:
        # A module that fails to import here fails again, with its error, in the run.
        with contextlib.suppress(Exception):
            importlib.import_module(name)
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
            return


def _affinity() -> list[int]:
    """The CPUs this process may run on, in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


class WorkerError(RuntimeError):
    """A function raised in a worker process (its traceback is the message)."""


class ProcessExecutor(Executor):
    """``workers`` spawned processes, one run in flight each.

    Parameters
    ----------
    workers
        Number of processes (at least 1).
    """

    def __init__(self, workers: int, warm: Sequence[str] = ()) -> None:
        self.workers = max(1, workers)
        self.warm = tuple(warm)
        self.label = f"{self.workers} local process{'es' if self.workers > 1 else ''}"
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        self._used: set[int] = set()  # indices of the workers that were sent a run

    def start(self) -> ProcessExecutor:
        """Start every worker now (their start-up, ~1 s each, then overlaps whatever the
        caller does before :meth:`map_unordered`); idempotent.  Returns ``self``."""
        if not self._procs:
            self._start(self.workers)
        return self

    def _start(self, count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        cpus = _affinity()
        # One CPU per worker when the workers fill the CPUs (see _worker_main).
        pin = len(cpus) > 1 and count >= len(cpus)
        for i in range(count):
            parent_end, child_end = ctx.Pipe(duplex=True)
            cpu = cpus[i % len(cpus)] if pin else None
            proc = ctx.Process(
                target=_worker_main, args=(child_end, os.getpid(), cpu, self.warm), daemon=True,
                name="ftth-sweep-worker",
            )  # fmt: skip
            # The worker is born with SIGINT blocked: a Ctrl-C reaches the whole process
            # group, and one that comes while the worker's interpreter starts (before it
            # ignores SIGINT) would otherwise kill it with a traceback; the parent decides.
            blocked = _block_sigint()
            try:
                proc.start()
            finally:
                _restore_mask(blocked)
            child_end.close()
            self._procs.append(proc)
            self._conns.append(parent_end)

    def map_unordered(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if not items:
            return
        if not self._procs:
            self._start(min(self.workers, len(items)))
        queue = list(enumerate(items))
        queue.reverse()  # pop() from the end hands out items in order
        busy: dict[Connection, Any] = {}
        for w, (conn, proc) in enumerate(zip(self._conns, self._procs, strict=True)):
            if not queue:
                break
            i, item = queue.pop()
            conn.send((i, fn, item))
            busy[conn] = proc
            self._used.add(w)
        while busy:
            for ready in wait(list(busy)):
                conn = ready  # type: ignore[assignment]
                try:
                    index, ok, value = conn.recv()
                except (EOFError, OSError):
                    proc = busy[conn]
                    proc.join(KILL_AFTER_S)
                    raise WorkerError(
                        f"a worker process died (exit status {proc.exitcode})"
                    ) from None
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
        for w, (conn, proc) in enumerate(zip(conns, procs, strict=True)):
            if abort or w not in used:
                # Stop now (a worker never sent a run may still be importing: do not wait).
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    proc.terminate()
            else:
                with contextlib.suppress(OSError, ValueError):
                    conn.send(None)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
        for proc in procs:
            proc.join(KILL_AFTER_S if abort else None)
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
    "ProcessExecutor",
    "WorkerError",
    "make_executor",
    "start_ahead",
    "usable_cores",
]
