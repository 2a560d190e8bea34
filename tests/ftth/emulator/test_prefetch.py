"""Traffic generated ahead on a worker thread gives exactly the inline run's results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ftth
from ftth.emulator.prefetch import Prefetcher, cpus_available, prefetch_enabled
from ftth.emulator.result import WALL_CLOCK_KEYS

BENCH = Path(__file__).resolve().parents[3] / "bench" / "standard.toml"


def _document(monkeypatch: pytest.MonkeyPatch, mode: str) -> str:
    monkeypatch.setenv("FTTH_PREFETCH", mode)
    monkeypatch.setattr("ftth.emulator.fast.prefetch_enabled", lambda: mode == "1")
    result = ftth.run(BENCH, overrides=["duration_s=0.03", "traffic.window_ms=5"])
    doc = {k: v for k, v in result.to_dict().items() if k not in WALL_CLOCK_KEYS}
    return json.dumps(doc, sort_keys=True)


def test_prefetched_run_equals_inline_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Six windows per direction generated on workers vs in the frame loop: same document
    (exact, minus wall-clock keys)."""
    assert _document(monkeypatch, "1") == _document(monkeypatch, "0")


def test_prefetch_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTTH_PREFETCH", "0")
    assert not prefetch_enabled()
    monkeypatch.delenv("FTTH_PREFETCH")
    assert prefetch_enabled() == (cpus_available() > 1)


def test_prefetcher_keeps_order_and_count() -> None:
    counter = iter(range(100))
    p: Prefetcher[int] = Prefetcher(lambda: next(counter), 7, "test")
    assert [p.get() for _ in range(7)] == list(range(7))
    with pytest.raises(IndexError):
        p.get()
    p.close()


def test_prefetcher_hands_over_the_producers_exception() -> None:
    calls = []

    def produce() -> int:
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("bad pcap")
        return len(calls)

    p: Prefetcher[int] = Prefetcher(produce, 10, "test")
    assert p.get() == 1
    assert p.get() == 2
    with pytest.raises(ValueError, match="bad pcap"):
        p.get()
    p.close()
    assert len(calls) == 3  # the worker stopped at the failure


def test_close_stops_a_worker_that_is_ahead() -> None:
    p: Prefetcher[int] = Prefetcher(lambda: 1, 1000, "test")
    assert p.get() == 1
    p.close()  # must not hang with the queue full
