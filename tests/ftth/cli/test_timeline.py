"""``ftth timeline``: the picture's data matches the trace; figures; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftth.cli import main
from ftth.emulator.trace import FrameTrace, trace_frames
from ftth.scenario import load_scenario

#: A short, loaded XGS-PON run: 32 frames, bursts that fill a good part of the frame.
SMALL = ("gigabit-2020", "--set", "duration_s=0.004", "--set", "traffic.upstream_load=0.8")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``ftth ARGS``; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


@pytest.fixture(scope="module")
def small_trace() -> FrameTrace:
    sc = load_scenario("gigabit-2020", ["duration_s=0.004", "traffic.upstream_load=0.8"])
    return trace_frames(sc, first_frame=16, n_frames=2)


def test_json_segments_add_up_and_match_the_trace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, small_trace: FrameTrace
) -> None:
    svg, png = tmp_path / "t.svg", tmp_path / "t.png"
    code, out, err = run(
        capsys, "timeline", *SMALL, "--at-s", "0.002", "--frames", "2", "--onus", "1,2",
        "--json", "-", "--svg", str(svg), "--png", str(png), "--zoom", "5",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert [f["index"] for f in data["frames"]] == [16, 17]  # 0.002 s / 125 µs
    assert [r["key"] for r in data["rows"]] == ["onu 1", "onu 2", "others"]
    for frame, traced in zip(data["frames"], small_trace.upstream, strict=True):
        segs = [s for s in data["segments"] if s["frame"] == frame["index"]]
        assert sum(s["bytes"] for s in segs) == frame["bytes_per_frame"] == 155_520
        assert sum(frame["bytes_by_kind"].values()) == 155_520
        assert frame["bursts"] == len(traced.bursts) > 2
        # The BWmap as traced; every burst's allocations are in it.
        bwmap = {(a["alloc_id"], a["grant_size"], a["dbru"]) for a in frame["bwmap"]}
        assert len(frame["bwmap"]) == len(traced.bwmap)
        for burst in traced.bursts:
            for alloc in burst.allocations:
                assert (alloc.alloc_id, alloc.grant_units, alloc.dbru) in bwmap
        for burst in traced.bursts:
            mine = [s for s in segs if s["onu_id"] == burst.onu_id]
            assert sum(s["bytes"] for s in mine) == burst.line_bytes
            assert min(s["start_byte"] for s in mine) == burst.line_start_byte
            payload = sum(s["bytes"] for s in mine if s["kind"] == "payload")
            assert payload == sum(p.payload_bytes for p in burst.pieces)
            headers = [s for s in mine if s["kind"] == "encap"]
            assert len(headers) == len(burst.pieces)
            dbru = [s for s in mine if s["kind"] == "dbru"]
            assert len(dbru) == len(burst.dbru_bytes)
            idle = sum(s["bytes"] for s in mine if s["label"].startswith("idle in"))
            assert idle == burst.idle_bytes
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in svg.read_bytes()
    # Same scenario and seed: the same picture data, byte for byte.
    code, again, _ = run(
        capsys, "timeline", *SMALL, "--at-s", "0.002", "--frames", "2", "--onus", "1,2",
        "--json", "-",
    )  # fmt: skip
    assert code == 0 and json.loads(again) == data


def test_terminal_rendering(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "timeline", *SMALL, "--frames", "1", "--onus", "3", "--width", "60", "--bwmap"
    )
    assert code == 0
    lines = out.splitlines()
    bar = next(line for line in lines if line.startswith("ONU 3"))
    assert "#" in bar  # payload cells (the symbols stand in for colours off a terminal)
    assert any(line.startswith("other ONUs") for line in lines)
    assert "FEC parity" in out
    assert "BWmap of frame" in out and "GrantSize" in out


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("--at-s", "0.004"), "--at-s"),  # = duration: beyond the run
        (("--at-s", "-1"), "--at-s"),
        (("--frames", "0"), "--frames"),
        (("--at-s", "0.0039", "--frames", "4"), "--frames"),  # runs past the end
        (("--onus", "99"), "--onus"),
        (("--onus", "1,x"), "--onus"),
        (("--zoom", "99"), "--zoom"),
        (("--width", "0"), "--width"),
        (("--frames", "65"), "--frames"),
        (("--set", 'technology="epon-10g"'), "technology"),
        (("--svg", "{tmp}"), "--svg"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], where: str
) -> None:
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    code, out, err = run(capsys, "timeline", *SMALL, *argv)
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {where}"), err
