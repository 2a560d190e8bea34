"""``ftth.sweep.executors``: the same results in process and on the pool, an abort that
leaves no worker, the Dask extra refused clearly when missing."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from ftth.errors import InputError
from ftth.sweep.executors import (
    CAN_FORK,
    InlineExecutor,
    ProcessExecutor,
    WorkerError,
    make_executor,
    start_ahead,
    usable_cores,
)
from tests.ftth.sweep.helpers import boom, imported, sleepy, sleepy_square, square

psutil = pytest.importorskip("psutil")

#: Both ways of starting the pool's workers where this machine can fork (Linux).
METHODS = ["zygote", "spawn"] if CAN_FORK else ["spawn"]


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _processes(method: str, workers: int) -> int:
    """The processes a pool of ``workers`` runs in: a zygote and its forks, or the workers."""
    return workers + (method == "zygote")


def test_the_default_on_linux_is_the_zygote() -> None:
    assert ProcessExecutor(2).start_method == ("zygote" if CAN_FORK else "spawn")
    with pytest.raises(ValueError):
        ProcessExecutor(2, start_method="fork")


def test_pool_and_inline_give_the_same_results(method: str) -> None:
    items = list(range(12))
    with InlineExecutor() as ex:
        inline = dict(ex.map_unordered(square, items))
    with ProcessExecutor(2, start_method=method) as ex:
        pooled = dict(ex.map_unordered(square, items))
    assert {i: v for i, (v, _) in inline.items()} == {i: v for i, (v, _) in pooled.items()}
    assert {i: v for i, (v, _) in pooled.items()} == {i: i * i for i in items}
    pids = {pid for _, pid in pooled.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2  # the work left this process
    assert {pid for _, pid in inline.values()} == {os.getpid()}


def _workers() -> list[int]:
    """This process's children except multiprocessing's resource tracker (which lives as
    long as this process: it exits when its last holder does, tested with the CLI)."""
    pids = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                pids.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return pids


def _wait_for(count: int, within_s: float = 30.0) -> list[int]:
    """The pool's processes once there are ``count`` (a zygote forks after importing)."""
    deadline = time.monotonic() + within_s
    while len(found := _workers()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(found) == count, found
    return found


def test_a_normal_close_reaps_the_workers(method: str) -> None:
    ex = ProcessExecutor(2, start_method=method)
    with ex:
        list(ex.map_unordered(square, [1, 2, 3]))
        workers = _wait_for(_processes(method, 2))
    assert not ex._procs
    _gone(workers)


def test_zygote_workers_are_forks_of_one_process() -> None:
    if not CAN_FORK:
        pytest.skip("no fork here")
    with ProcessExecutor(2, start_method="zygote") as ex:
        pids = {pid for _, pid in dict(ex.map_unordered(sleepy_square, [0.3] * 4)).values()}
        (zygote,) = ex._procs
        assert len(pids) == 2  # both workers ran (each run lasts 0.3 s)
        assert {psutil.Process(pid).ppid() for pid in pids} == {zygote.pid}


def _gone(pids: list[int], within_s: float = 5.0) -> None:
    """Every pid has exited (a zombie not yet reaped by init counts as gone)."""
    deadline = time.monotonic() + within_s
    alive = pids
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"still running: {alive}")


class _StopError(Exception):
    pass


def test_abort_stops_runs_in_flight(method: str) -> None:
    """An exception raised while the caller waits (as SIGINT/SIGTERM raise one) terminates
    workers whose runs would last 60 s, and reaps them."""
    seen: list[int] = []

    def stop(_signum: int, _frame: object) -> None:
        seen.extend(_workers())
        raise _StopError

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with pytest.raises(_StopError), ProcessExecutor(2, start_method=method) as ex:
            for _ in ex.map_unordered(sleepy, [60.0, 60.0, 60.0]):
                pass
        stopped = time.monotonic()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(seen) == _processes(method, 2)
    _gone(seen)
    assert time.monotonic() - stopped < 5.0  # a functional bound (2 s in the brief), not a bench


def test_an_escaping_exception_is_reraised_with_the_workers_traceback(method: str) -> None:
    with pytest.raises(WorkerError) as exc, ProcessExecutor(1, start_method=method) as ex:
        list(ex.map_unordered(boom, [1]))
    assert "ValueError: boom in a worker" in str(exc.value)


def test_make_executor_choices() -> None:
    assert isinstance(make_executor(1, None, 10), InlineExecutor)
    assert isinstance(make_executor(4, None, 1), InlineExecutor)  # never more than the runs
    pool = make_executor(2, None, 10)
    assert isinstance(pool, ProcessExecutor) and pool.workers == 2
    assert isinstance(make_executor(None, None, 1000), ProcessExecutor if usable_cores() > 1
                      else InlineExecutor)  # fmt: skip
    with pytest.raises(InputError) as exc:
        make_executor(0, None, 10)
    assert exc.value.where == "--workers"


def test_a_pool_started_ahead_has_imported_its_warm_modules(method: str) -> None:
    """``warm`` modules are imported at start-up, before the first run (``colorsys``: a
    module nothing else in a fresh worker imports; ``wave`` is not warmed, the control)."""
    with ProcessExecutor(2, warm=("colorsys",), start_method=method).start() as ex:
        _wait_for(_processes(method, 2))  # running before any item was sent
        got = dict(ex.map_unordered(imported, ["colorsys", "wave"]))
    assert got == {0: True, 1: False}


SLOW_IMPORT = "tests.ftth.sweep.slow_import"  # takes 60 s to import


def test_workers_of_a_pool_started_ahead_that_never_ran_stop_at_once(method: str) -> None:
    """Workers still importing (60 s) when the pool closes with nothing sent to them are
    terminated, not told to quit and waited for."""
    ex = ProcessExecutor(2, warm=(SLOW_IMPORT,), start_method=method).start()
    with ex:
        workers = _wait_for(len(ex._procs))  # the zygote has not forked yet
        assert list(ex.map_unordered(square, [])) == []
        closing = time.monotonic()
    assert time.monotonic() - closing < 5.0  # a functional bound (the import takes 60 s)
    _gone(workers)


def test_a_ctrl_c_while_the_workers_start_does_not_kill_them(method: str) -> None:
    """SIGINT reaches the whole process group; the parent decides.  Sent to each process
    right after it was spawned (its interpreter still starting), it changes nothing."""
    with ProcessExecutor(2, start_method=method).start() as ex:
        for pid in [p.pid for p in ex._procs]:
            os.kill(pid, signal.SIGINT)
        got = dict(ex.map_unordered(square, [2, 3, 4]))
    assert {i: v for i, (v, _) in got.items()} == {0: 4, 1: 9, 2: 16}


def test_a_worker_that_ran_quits_when_told(method: str) -> None:
    """One item for two workers: the busy one is told to quit, and the idle one is told to
    quit (zygote) or terminated (spawned); none is left."""
    ex = ProcessExecutor(2, start_method=method).start()
    with ex:
        assert dict(ex.map_unordered(square, [3]))[0][0] == 9
        workers = _wait_for(_processes(method, 2))
    _gone(workers)


def test_make_executor_takes_or_closes_the_pool_started_ahead() -> None:
    assert start_ahead(1, None) is None  # one worker runs in this process
    assert start_ahead(2, "local") is None  # Dask starts its own workers
    ahead = start_ahead(2, None, (SLOW_IMPORT,))
    assert isinstance(ahead, ProcessExecutor) and ahead.workers == 2
    workers = _wait_for(len(ahead._procs))
    assert make_executor(2, None, 5, ahead) is ahead
    closing = time.monotonic()
    ex = make_executor(2, None, 0, ahead)  # nothing left to run: closed while importing
    assert time.monotonic() - closing < 5.0
    assert isinstance(ex, InlineExecutor) and not ahead._procs
    ahead.close(abort=True)  # closing twice is harmless (the CLI's finally does)
    _gone(workers)


def test_missing_dask_is_a_clear_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """dask is an optional extra: without it --dask is exit 2 naming the extra."""
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(InputError) as exc:
        make_executor(2, "local", 10)
    assert exc.value.where == "--dask" and "pip install 'ftth[cluster]'" in exc.value.why


def test_dask_is_not_imported_without_dask() -> None:
    import subprocess

    code = (
        "import sys; from ftth.cli import commands; from ftth.sweep import executors, runs, "
        "store; import ftth.compare; print('dask' in sys.modules or 'distributed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
