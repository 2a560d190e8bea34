"""ftth.memory: pinning glibc's mmap threshold is safe to repeat."""

from __future__ import annotations

from ftth.memory import pin_mmap_threshold


def test_mmap_threshold_pin_is_idempotent() -> None:
    first = pin_mmap_threshold()
    assert pin_mmap_threshold() == first
