"""Optional numba kernels of the ``pareto-onoff`` generator.

Each kernel computes exactly what the numpy code of
:class:`ftth.traffic.pareto.ParetoOnOffSource` computes — the same integers, and the same
IEEE multiplications, additions and roundings where it scales the durations that numpy drew —
so a source gives the same packets with or without numba (``tests/ftth/test_traffic.py``
compares the two).  They replace the few dozen numpy calls of a generation round and the
packing of its sort keys by four loops, which is most of the cost at the rates of a PON's
traffic classes.  They run only when :data:`ftth.jit.ACCELERATED`: run as plain Python they
would be far slower than numpy, so without numba the numpy code runs instead."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ftth.jit import ACCELERATED, kernel

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
F64 = npt.NDArray[np.float64]

__all__ = ["ACCELERATED", "lay_out_round", "pack_keys", "prepare_round", "unpack_keys"]


@kernel
def prepare_round(
    draws: F64,
    uniforms: F64,
    scale: F64,
    rows: I64,
    next_on_ps: I64,
    pending_frames: I64,
    pending_off_ps: I64,
    horizon_ps: int,
    min_serialisation_ps: int,
) -> tuple[I64, I64, int]:
    """The integer cycles ``[frames, OFF ps]`` of a round, their rows' starts and the number
    of frames, as ``ParetoOnOffSource._round`` computes them with numpy.

    ``draws[0] · scale[0] + uniforms`` floored is a cycle's frame count and ``draws[1] ·
    scale[1]`` rounded its OFF period.  A row with a pending ON period (``pending_frames``)
    sends as much of it first as may start before ``horizon_ps`` (the rest, and the OFF
    period after it, stay pending); then every cycle that starts at or after ``horizon_ps``
    even if all frames before it had the smallest serialisation time is dropped (zeroed).
    """
    n_rows = draws.shape[1]
    per_row = draws.shape[2]
    cycles = np.empty((2, n_rows, per_row), dtype=np.int64)
    start_ps = np.empty(n_rows, dtype=np.int64)
    total = 0
    for i in range(n_rows):
        row = rows[i]
        start = next_on_ps[row]
        start_ps[i] = start
        for k in range(per_row):
            cycles[0, i, k] = np.int64(draws[0, i, k] * scale[0] + uniforms[i, k])
            cycles[1, i, k] = np.int64(np.rint(draws[1, i, k] * scale[1]))
        frames = pending_frames[row]
        if frames > 0:
            may_start = -((start - horizon_ps) // min_serialisation_ps)
            sent = min(frames, may_start)
            left = frames - sent
            cycles[0, i, 0] = sent
            cycles[1, i, 0] = 0 if left > 0 else pending_off_ps[row]
            pending_frames[row] = left
            if left == 0:
                pending_off_ps[row] = 0
        time_ps = start
        kept = True
        for k in range(per_row):
            if kept:
                frames = cycles[0, i, k]
                total += frames
                time_ps += frames * min_serialisation_ps + cycles[1, i, k]
                kept = time_ps < horizon_ps
            else:
                cycles[0, i, k] = 0
                cycles[1, i, k] = 0
    return cycles, start_ps, total


@kernel
def lay_out_round(
    cycles: I64,
    start_ps: I64,
    base_ps: int,
    total: int,
    uniforms: U32,
    thresholds: U32,
    serialisation_ps: I64,
    rows: I64,
    next_on_ps: I64,
    far_ps: int,
) -> tuple[I64, I64, int]:
    """Frames of the cycles ``cycles[:, i, :]`` (``[frames, OFF ps]``) of each row ``i``,
    which starts at ``start_ps[i]``: each cycle's frames back to back, then its OFF period.

    Frame ``j`` (rows one after the other) has the size class ``#{k: thresholds[k] <=
    uniforms[j]}`` (``uniforms`` unused without thresholds) and lasts ``serialisation_ps`` of
    its class.  Returns the frames' arrival times relative to ``base_ps``, their size classes
    and the latest row end (relative too); sets ``next_on_ps[rows[i]]`` to row ``i``'s end,
    at most ``far_ps``.
    """
    arrival_ps = np.empty(total, dtype=np.int64)
    size_class = np.zeros(total, dtype=np.int64)
    n_thresholds = thresholds.size
    reach_ps = 0
    frame = 0
    for row in range(cycles.shape[1]):
        time_ps = start_ps[row] - base_ps
        for cycle in range(cycles.shape[2]):
            for _ in range(cycles[0, row, cycle]):
                klass = 0
                if n_thresholds:
                    draw = uniforms[frame]
                    for k in range(n_thresholds):
                        if thresholds[k] <= draw:
                            klass += 1
                    size_class[frame] = klass
                arrival_ps[frame] = time_ps
                time_ps += serialisation_ps[klass]
                frame += 1
            time_ps += cycles[1, row, cycle]
        reach_ps = max(reach_ps, time_ps)
        next_on_ps[rows[row]] = base_ps + min(time_ps, far_ps - base_ps)
    return arrival_ps, size_class, reach_ps


@kernel
def pack_keys(relative_ps: I64, size_class: I64, bits: int) -> None:
    """``relative_ps = relative_ps << bits | size_class``, in place (a sort key)."""
    for j in range(relative_ps.size):
        relative_ps[j] = (relative_ps[j] << bits) | size_class[j]


@kernel
def unpack_keys(
    keys: I64, bits: int, base_ps: int, values_bytes: I64, ready: int
) -> tuple[I64, I64, I64]:
    """From sorted keys ``time << bits | size class``: every packet's arrival (``base_ps`` +
    time), the sizes of the first ``ready`` packets and the size classes of the others."""
    arrival_ps = np.empty(keys.size, dtype=np.int64)
    size_bytes = np.empty(ready, dtype=np.int64)
    later_class = np.empty(keys.size - ready, dtype=np.int64)
    mask = (1 << bits) - 1
    for j in range(keys.size):
        key = keys[j]
        arrival_ps[j] = (key >> bits) + base_ps
        if j < ready:
            size_bytes[j] = values_bytes[key & mask]
        else:
            later_class[j - ready] = key & mask
    return arrival_ps, size_bytes, later_class
