"""Kernel arithmetic of onu.fifo: the reciprocal division is the exact integer division."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftth.phy import PROFILES, padded_payload_bytes
from onu import fifo
from onu.fifo import ADMIT, HEAD, LO, QueueStore, div_floor, encap_vector, flatten_batches


# No deadline: the first example loads the compiled kernel (seconds on a busy machine).
@settings(deadline=None)
@given(st.integers(0, 2**62), st.integers(1, 2**40))
def test_div_floor_is_exact(x: int, b: int) -> None:
    assert div_floor(x, b, 1.0 / b) == x // b


@settings(deadline=None)
@given(st.integers(0, 2**20), st.sampled_from([1, 3, 7, 8000, 155520, 125_000_000, 216]))
def test_div_floor_exact_at_multiples(k: int, b: int) -> None:
    # Exact multiples and their neighbours are where a float estimate is most likely off.
    for x in (k * b - 1, k * b, k * b + 1):
        if x >= 0:
            assert div_floor(x, b, 1.0 / b) == x // b


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_alignment_is_a_power_of_two(name: str) -> None:
    enc = encap_vector(PROFILES[name])
    align = int(enc[1])
    assert align >= 1 and align & (align - 1) == 0


def _random_store(seed: int) -> tuple[object, list[tuple[np.ndarray, np.ndarray]]]:
    from onu.fifo import QueueStore

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    store = QueueStore(PROFILES["xgs-pon"], [int(b) for b in rng.integers(0, 20_000, n)], [0] * n)

    def batches() -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for _ in range(n):
            m = int(rng.integers(0, 30))
            out.append(
                (
                    np.sort(rng.integers(0, 10**6, m)).astype(np.int64),
                    rng.integers(64, 1519, m).astype(np.int64),
                )
            )
        return out

    store.append_flat(*flatten_batches(batches()))
    # Admit part of the arrivals (some dropped), serve a few grants, then append again.
    store.admit_all(int(rng.integers(0, 10**6)))
    for q in range(n):
        store.qs[q, HEAD] = store.qs[q, LO] + int(
            rng.integers(0, store.qs[q, ADMIT] - store.qs[q, LO] + 1)
        )
    return store, batches()


@settings(deadline=None)  # the first example may compile the kernel
@given(st.integers(0, 2**32 - 1))
def test_compiled_append_equals_numpy_append(seed: int) -> None:
    from onu import fifo

    results = []
    for accelerated in (True, False):
        store, new = _random_store(seed)
        with pytest.MonkeyPatch.context() as monkey:
            monkey.setattr(fifo, "ACCELERATED", accelerated)
            store.append_flat(*flatten_batches(new))
        results.append(store)
    a, b = results
    assert np.array_equal(a.qs, b.qs)
    assert np.array_equal(a.arrival_ps, b.arrival_ps)
    assert np.array_equal(a.size_bytes, b.size_bytes)
    assert np.array_equal(a.state, b.state)


# --- the piece log (serve_grants_logged) --------------------------------------------------

#: Profiles and service modes the piece log is checked in: GEM and XGEM fragmenting, Ethernet
#: whole frames (EPON upstream window) and overrunning shares (EPON downstream stream).
_LOG_CASES = [
    ("gpon", None),
    ("xg-pon", None),
    ("xgs-pon", None),
    ("epon-1g", None),  # MODE_WHOLE, from encap_vector
    ("epon-10g", 2),  # MODE_OVERRUN, as the EPON downstream engine sets it
]


def _random_service(
    seed: int, profile_name: str, mode: int | None
) -> tuple[QueueStore, list[tuple[np.ndarray, ...]]]:
    """A fresh store (some tiny buffers: drops; some unbounded queues, jumbo frames on GPON:
    fragments at the 4095-byte GEM limit) and a few frames of random grants to serve."""
    rng = np.random.default_rng(seed)
    profile = PROFILES[profile_name]
    n = int(rng.integers(1, 6))
    buffers = [int(b) for b in rng.choice([2_000, 5_000, 50_000, 1_000_000], n)]
    greedy = [int(s) if rng.random() < 0.3 else 0 for s in rng.integers(64, 9_001, n)]
    store = QueueStore(profile, buffers, greedy)
    if mode is not None:
        store.enc[fifo.ENC_MODE] = mode
    batches = []
    for q in range(n):
        m = 0 if greedy[q] else int(rng.integers(0, 60))
        batches.append(
            (
                np.sort(rng.integers(0, 8 * 10**6, m)).astype(np.int64),
                rng.choice([64, 594, 1518, 4000, 9000], m).astype(np.int64),
            )
        )
    store.append_flat(*flatten_batches(batches))
    frames = []
    for k in range(int(rng.integers(1, 8))):
        g = int(rng.integers(1, 10))
        frames.append(
            (
                rng.integers(0, n, g).astype(np.int64),  # queue
                rng.integers(0, 6_000, g).astype(np.int64),  # room
                np.full(g, (k + 1) * 10**6, dtype=np.int64),  # cut-off
                rng.integers(0, 10**9, g).astype(np.int64),  # time base
                rng.integers(0, 1_000, g).astype(np.int64),  # line start
                np.sort(rng.integers(0, 10_000, g)).astype(np.int64),  # data start
                rng.integers(0, 10**6, g).astype(np.int64),  # extra
            )
        )
    return store, frames


def _copy(store: QueueStore) -> QueueStore:
    return copy.deepcopy(store)


@settings(max_examples=40, deadline=None)  # the first example may compile the kernels
@given(st.integers(0, 2**32 - 1), st.sampled_from(_LOG_CASES))
def test_piece_log_reconstructs_the_kernels_grants_and_packets(
    seed: int, case: tuple[str, int | None]
) -> None:
    """The logged kernel serves exactly as serve_grants (same queues, departures and bytes per
    grant, whatever the timing inputs) and its log accounts for them exactly: per grant the
    pieces' header + payload + pad bytes are the bytes used; per queue the k-th delivered
    packet is packet k, its pieces' payloads add up to its size, the last flag is on its
    last piece only; a packet still in service has sent the head's bytes so far."""
    profile_name, mode = case
    store, frames = _random_service(seed, profile_name, mode)
    plain, logged, untimed = store, _copy(store), _copy(store)
    enc = plain.enc
    header = int(enc[fifo.ENC_HEADER])
    align = int(enc[fifo.ENC_ALIGN])
    min_payload = int(enc[fifo.ENC_MIN_PAYLOAD])
    fec_n, fec_k, frame_bytes, frame_ps = 255, 223, 19_440, 125_000_000
    delivered: dict[int, list[int]] = {q: [] for q in range(plain.n_queues)}
    pieces: list[list[int]] = []
    n_grants_before = 0
    for queue, room, cutoff, time_base, line_start, data_start, extra in frames:
        g = len(queue)
        cap = int(fifo.piece_log_rows(enc, room))
        outs = {}
        for name, st_, timing in (
            ("plain", plain, (time_base, line_start, data_start, extra, fec_n, fec_k)),
            ("logged", logged, (time_base, line_start, data_start, extra, fec_n, fec_k)),
            ("untimed", untimed, (*(np.zeros(g, dtype=np.int64),) * 4, 0, 0)),
        ):
            out = [np.zeros(cap, dtype=np.int64) for _ in range(4)]
            used = np.zeros(g, dtype=np.int64)
            args = (st_.qs, st_.arrival_ps, st_.size_bytes, st_.state, st_.enc, queue, room,
                    cutoff, *timing, frame_bytes, frame_ps, *out, used)  # fmt: skip
            if name == "plain":
                n_out = fifo.serve_grants(*args)
                log = None
            else:
                log = np.full((cap, fifo.N_PIECE_FIELDS), -1, dtype=np.int64)
                n_log = fifo.serve_grants_logged(*args, log)
                n_out = None
                log = log[:n_log]
                assert np.all(log[:, fifo.P_FATE] == 0)  # no faults
            outs[name] = (out, used, log, n_out)
        # Logging changes nothing the engines see.
        for name in ("logged", "untimed"):
            st_ = logged if name == "logged" else untimed
            assert np.array_equal(st_.qs, plain.qs)
            assert np.array_equal(st_.state, plain.state)
            assert np.array_equal(outs[name][1], outs["plain"][1])
        assert np.array_equal(outs["logged"][2], outs["untimed"][2])  # timing-free log
        (oq, _oa, os_, od), used, _, n_out = outs["plain"]
        (lq, _la, ls, ld), _, log, _ = outs["logged"]
        assert np.array_equal(lq[:n_out], oq[:n_out]) and np.array_equal(ld[:n_out], od[:n_out])
        assert np.array_equal(ls[:n_out], os_[:n_out])
        # Bytes per grant; rows grant after grant, each on its grant's queue.
        assert np.all(np.diff(log[:, fifo.P_GRANT]) >= 0)
        assert np.array_equal(log[:, fifo.P_QUEUE], queue[log[:, fifo.P_GRANT]])
        cost = header + log[:, fifo.P_PAYLOAD] + log[:, fifo.P_PAD]
        assert np.array_equal(np.bincount(log[:, fifo.P_GRANT], cost, minlength=g), used)
        # Padding: a packet's last piece is padded to the alignment and minimum payload
        # (ftth.phy.padded_payload_bytes); any other piece is a whole number of units.
        for _g, _q, payload, pad, last, _pid, _fate in log.tolist():
            if last:
                assert payload + pad == padded_payload_bytes(PROFILES[profile_name], payload)
            else:
                assert pad == 0 and payload % align == 0 and payload >= min_payload
        for q, size in zip(oq[:n_out].tolist(), os_[:n_out].tolist(), strict=True):
            delivered[q].append(size)
        for row in log.tolist():
            row[fifo.P_GRANT] += n_grants_before
            pieces.append(row)
        n_grants_before += g
    # Per queue: packets in delivery order, their pieces adding up to their sizes.
    for q in range(plain.n_queues):
        mine = [r for r in pieces if r[fifo.P_QUEUE] == q]
        ids = [r[fifo.P_PACKET] for r in mine]
        assert ids == sorted(ids)
        sent = len(delivered[q])
        assert sent == int(plain.qs[q, fifo.DELIV_P])
        for k in range(sent):
            of_k = [r for r in mine if r[fifo.P_PACKET] == k]
            assert sum(r[fifo.P_PAYLOAD] for r in of_k) == delivered[q][k]
            assert [r[fifo.P_LAST] for r in of_k] == [0] * (len(of_k) - 1) + [1]
        rest = [r for r in mine if r[fifo.P_PACKET] >= sent]
        assert all(r[fifo.P_PACKET] == sent and r[fifo.P_LAST] == 0 for r in rest)
        assert sum(r[fifo.P_PAYLOAD] for r in rest) == int(plain.qs[q, fifo.HEAD_SENT])
        assert sum(delivered[q]) == int(plain.qs[q, fifo.DELIV_B])


def test_piece_log_too_small_is_refused() -> None:
    """The kernel writes the log without bounds checks: a log shorter than piece_log_rows is
    refused before anything is served."""
    store, frames = _random_service(1, "xgs-pon", None)
    queue, room, cutoff, *timing = frames[0]
    room = np.full(len(queue), 1_000, dtype=np.int64)
    rows = int(fifo.piece_log_rows(store.enc, room))
    # 1000 bytes hold at most 1000 // (8 + 8) pieces of XGEM (header + minimum payload).
    assert rows == len(queue) * (1_000 // 16 + 1)
    qs = store.qs.copy()
    out = [np.zeros(rows, dtype=np.int64) for _ in range(4)]
    log = np.zeros((rows - 1, fifo.N_PIECE_FIELDS), dtype=np.int64)
    with pytest.raises(ValueError, match="too small"):
        fifo.serve_grants_logged(
            store.qs, store.arrival_ps, store.size_bytes, store.state, store.enc, queue, room,
            cutoff, *timing, 0, 0, 1, 1, *out, np.zeros(len(queue), dtype=np.int64), log,
        )  # fmt: skip
    assert np.array_equal(store.qs, qs)
