"""``ftth validate``: one line naming the key path and exit status 2 for each bad input.

Each bad-input test runs the real entry point :func:`ftth.cli.main` (which holds the
InputError handler) on a small scenario file with one mistake and checks the exit status,
that stderr is exactly one ``error: <key path>: …`` line, and that there is no traceback.
One test runs the installed console script in a subprocess to prove the same end to end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ftth.cli import main

REPO = Path(__file__).resolve().parents[3]
SEEDS = sorted((REPO / "seeds").glob("*.toml"))

GOOD = """\
name = "cli-test"
technology = "xgs-pon"
duration_s = 0.5

[tree]
feeder_km = 2.0
splitters = [4, 8]

[onus]
count = 8
drop_km = [0.5, 1.5]

[[tconts]]
name = "video"
type = 2
assured_bps = 1e7

[[tconts]]
name = "internet"
type = 4
max_bps = 1e9
buffer_bytes = 100000
traffic = { model = "poisson", rate_bps = 1e7 }

[households]
tier = "100M/50M"
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``ftth ARGS`` in-process; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


def write(folder: Path, text: str, name: str = "scenario.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str) -> str:
    """GOOD with one exact substring replaced (fails loudly if the anchor is gone)."""
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def assert_bad(err: str, code: int, where: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {where}: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ============================================================================ good paths
def test_good_file_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    code, out, err = run(capsys, "validate", str(path))
    assert (code, err) == (0, "")
    assert "valid" in out
    for fragment in (
        "XGS-PON",
        "1:32 (4 × 8)",
        "8 (ids 1..8)",
        "2.5–3.5 km",
        "video (type 2",
        "internet (type 4",
        "proportional",
    ):
        assert fragment in out, fragment


def test_default_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate")
    assert (code, err) == (0, "")
    assert "urban-2020-100mbps" in out and "1:64 (4 × 16)" in out and "64 (ids 1..64)" in out


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_every_seed_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", str(path))
    assert (code, err) == (0, "")


def test_overrides_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    code, out, err = run(
        capsys, "validate", str(path), "--set", "tree.splitters=[4,16]", "--set", "onus.count=40"
    )
    assert (code, err) == (0, "")
    assert "1:64 (4 × 16)" in out and "40 (ids 1..40)" in out


# ============================================================================ bad inputs
def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.toml"
    code, _, err = run(capsys, "validate", str(missing))
    assert_bad(err, code, str(missing), "no such file")


def test_toml_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit("duration_s = 0.5", "duration_s = 0.5 s"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, str(path), "TOML syntax error at line 3, column 18")


def test_unknown_key_with_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit("splitters = [4, 8]", "spliters = [4, 8]"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "tree.spliters", "unknown key 'spliters'; did you mean 'splitters'?")


def test_unknown_technology(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit('"xgs-pon"', '"25gs-pon"'))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "technology", "'25gs-pon'", "valid: gpon, xg-pon, xgs-pon, epon-1g")


def test_unknown_dba(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD + '\n[dba]\nname = "magic"\n')
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "dba.name", "unknown DBA 'magic'; valid:", "proportional")


def test_split_not_power_of_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit("splitters = [4, 8]", "splitters = [4, 6]"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, r"tree.splitters[1]", "power of two in 2..256, got 6")


def test_split_above_profile_max(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit('"xgs-pon"', '"gpon"').replace("[4, 8]", "[4, 64]"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "tree.splitters", "1:256", "GPON maximum 1:128")


def test_more_onus_than_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit("count = 8", "count = 33"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "onus.count", "33 ONUs", "only 32 outputs")


def test_duplicate_onu_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    explicit = (
        "[[onus]]\nid = 1\ndrop_km = 0.5\n\n[[onus]]\nid = 2\ndrop_km = 0.6\n\n"
        "[[onus]]\nid = 1\ndrop_km = 0.7\n"
    )
    path = write(tmp_path, edit("[onus]\ncount = 8\ndrop_km = [0.5, 1.5]\n", explicit))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, r"onus[2].id", "duplicate ONU-ID 1 (also onus[0].id)")


def test_distance_beyond_reach(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit("drop_km = [0.5, 1.5]", "drop_km = [0.5, 19.0]"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "onus.drop_km", "ONU 8 is 2 + 19 = 21 km", "beyond the reach of 20 km")


@pytest.mark.parametrize(("limit_km", "drop_km"), [(20, 22.0), (40, 42.0)])
def test_differential_distance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], limit_km: int, drop_km: float
) -> None:
    # A differential beyond 20 km needs a logical reach above the 20 km physical one.
    text = edit(
        "splitters = [4, 8]", f"splitters = [4, 8]\nreach_km = 60\nmax_differential_km = {limit_km}"
    )
    text = text.replace("drop_km = [0.5, 1.5]", f"drop_km = [0.5, {drop_km}]")
    path = write(tmp_path, text)
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(
        err,
        code,
        "onus.drop_km",
        f"differential distance {drop_km - 0.5:g} km",
        f"tree.max_differential_km = {limit_km} km",
    )


@pytest.mark.parametrize("rate", ["0", "-1e6"])
def test_zero_or_negative_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: str
) -> None:
    path = write(tmp_path, edit("rate_bps = 1e7", f"rate_bps = {rate}"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, r"tconts[1].traffic.rate_bps", "must be ≥ 1 and ≤ 1e+12")


def test_negative_tcont_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit("assured_bps = 1e7", "assured_bps = -1e7"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, r"tconts[0].assured_bps", "must be ≥ 0, got -1e+07")


@pytest.mark.parametrize("duration", ["0", "-2"])
def test_zero_or_negative_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], duration: str
) -> None:
    path = write(tmp_path, edit("duration_s = 0.5", f"duration_s = {duration}"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "duration_s", f"must be > 0 and ≤ 3600, got {duration}")


def test_tier_above_line_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit('"xgs-pon"', '"gpon"').replace('"100M/50M"', '"1G/2G"'))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "households.tier", "upstream 2 Gb/s", "GPON upstream line rate 1.24 Gb/s")


def test_guaranteed_bandwidth_above_capacity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 8 ONUs × 1.2 Gb/s assured = 9.6 Gb/s > the XGS-PON upstream goodput (≈ 8.4 Gb/s).
    path = write(tmp_path, edit("assured_bps = 1e7", "assured_bps = 1.2e9"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, "tconts", "9600.00 Mb/s", "upstream capacity", "Mb/s")


def test_buffer_zero_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, edit("buffer_bytes = 100000", "buffer_bytes = 0"))
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, r"tconts[1].buffer_bytes", "must be in 1..1099511627776, got 0")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("tree.splitters", "expected KEY=VALUE"), ("tconts.7.max_bps=1e9", "no such element")],
)
def test_bad_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, fragment: str
) -> None:
    path = write(tmp_path, GOOD)
    code, _, err = run(capsys, "validate", str(path), "--set", override)
    assert_bad(err, code, "--set", fragment)


def test_set_value_is_validated_like_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD)
    code, _, err = run(capsys, "validate", str(path), "--set", "dba.cycle_frames=0")
    assert_bad(err, code, "dba.cycle_frames", "must be in 1..64, got 0")


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, edit("splitters = [4, 8]", "splitters = [4, 6]"))
    script = Path(sys.executable).with_name("ftth")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ftth"]
    proc = subprocess.run(
        [*command, "validate", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "error: tree.splitters[1]: a splitter stage must be a power of two in 2..256, got 6"
    )


# ============================================================================ validate = run
#: Inputs `validate` used to accept and `run` then refused or crashed on (issue 11): each is
#: now one line and exit status 2 from both, with the same text.
REFUSED = [
    ("olt.teqd_us=inf", "olt.teqd_us", "must be a finite number > 0 and ≤ 10000, got inf"),
    ("olt.teqd_us=1e30", "olt.teqd_us", "must be > 0 and ≤ 10000, got 1e+30"),
    ("olt.teqd_us=nan", "olt.teqd_us", "must be a finite number"),
    ("tconts.0.weight=inf", "tconts[0].weight", "must be a finite number > 0 and ≤ 1000000"),
    ("downstream.0.weight=inf", "downstream[0].weight", "must be a finite number > 0"),
    (f"tconts.1.buffer_bytes={2**64}", "tconts[1].buffer_bytes", "in 1..1099511627776"),
    (f"olt.downstream_buffer_bytes={2**63}", "olt.downstream_buffer_bytes", "in 1..1099511627776"),
    (f"dba.params.min_grant_bytes={2**64}", "dba.params.min_grant_bytes", "must be in 0.."),
    ("dba.params.bogus=1", "dba.params.bogus", "unknown parameter for 'proportional'"),
    (f"seed={2**64}", "seed", "must be in 0..9223372036854775807"),
    ("warmup_s=nan", "warmup_s", "must be a finite number ≥ 0, got nan"),
    ('output.plot_dir="plots"', "output.plot_dir", "draws no plots"),
    ("tconts.1.traffic.rate_bps=nan", "tconts[1].traffic.rate_bps", "got nan"),
    ('dba.name="ipact"', "dba.name", "'ipact' is an EPON polling DBA"),
]


@pytest.mark.parametrize(
    ("override", "where", "fragment"), REFUSED, ids=[r[0][:40] for r in REFUSED]
)
def test_validate_refuses_what_run_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, where: str, fragment: str
) -> None:
    path = write(tmp_path, GOOD + '\n[[downstream]]\nname = "internet"\n')
    code, out, err = run(capsys, "validate", str(path), "--set", override)
    assert_bad(err, code, where, fragment)
    assert "valid" not in out
    run_code, _, run_err = run(capsys, "run", str(path), "-q", "--set", override)
    assert (run_code, run_err) == (code, err)


FAULT = """
[[faults]]
at_s = 0.1
kind = "onu-power"
onu = 1
power = "off"
"""


def test_faults_are_validated_and_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`validate` checks `[[faults]]` and `run` emulates them (issue 12; the end-to-end
    checks are in test_run_faults.py), and the generated docs say so."""
    path = write(tmp_path, GOOD + FAULT)
    code, _, err = run(capsys, "validate", str(path))
    assert code == 0, err
    code, _, err = run(capsys, "run", str(path), "-q", "--duration", "0.12")
    assert code in (0, 1), err
    docs = (REPO / "docs" / "scenario.md").read_text(encoding="utf-8")
    assert "`ftth run` emulates faults" in docs
    assert "**Not supported yet**" in docs.split("| `output.plot_dir` |")[1].split("\n")[0]


def test_every_dba_parameter_is_checked_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DBA's own parameter rules run in `validate` (the DBA is built, not emulated)."""
    path = write(tmp_path, GOOD)
    code, _, err = run(
        capsys,
        "validate",
        str(path),
        "--set",
        'dba.name="giant"',
        "--set",
        "dba.params.si_max_frames=0",
    )
    assert_bad(err, code, "dba.params.si_max_frames", "in 1..64, got 0")
    code, _, err = run(
        capsys,
        "validate",
        str(path),
        "--set",
        'dba.name="giant"',
        "--set",
        "dba.params.si_max_frames=16",
    )
    assert (code, err) == (0, "")


def test_huge_integer_in_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python refuses to parse integers of more than 4300 digits; that is bad input too."""
    path = write(
        tmp_path,
        GOOD + "\n[olt]\ndownstream_buffer_bytes = " + "9" * 5000 + "\n",
    )
    code, _, err = run(capsys, "validate", str(path))
    assert_bad(err, code, str(path), "TOML value out of range", "4300 digits")
