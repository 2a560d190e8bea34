"""docs/tour.md stays true: its anatomy tables are what ``ftth frame`` computes, its picture
exists, its ``ftth frame`` / ``profiles`` / ``timeline`` commands run, its glossary is whole."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ftth.cli import main
from ftth.phy import PROFILES
from ftth.views.anatomy import downstream_anatomy, markdown_table, upstream_anatomy

ROOT = Path(__file__).resolve().parents[3]
TOUR = (ROOT / "docs" / "tour.md").read_text(encoding="utf-8")

BLOCK = re.compile(r"<!-- anatomy:([\w-]+):(\d+):(\w+) -->\n(.*?)\n<!-- /anatomy -->", re.S)


def test_quoted_anatomy_tables_are_current() -> None:
    blocks = BLOCK.findall(TOUR)
    assert len(blocks) == 2
    for name, onus, direction, table in blocks:
        build = downstream_anatomy if direction == "downstream" else upstream_anatomy
        expected = markdown_table(build(PROFILES[name], int(onus)))
        assert table == expected, f"regenerate the {direction} table of docs/tour.md"


def test_pictures_exist() -> None:
    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", TOUR):
        assert (ROOT / "docs" / target).is_file(), target


def _commands() -> list[str]:
    out = []
    for block in re.findall(r"```sh\n(.*?)```", TOUR, flags=re.S):
        for line in block.splitlines():
            words = line.split()
            if words[:2] in (["ftth", "frame"], ["ftth", "profiles"], ["ftth", "timeline"]):
                out.append(line)
    return out


@pytest.mark.parametrize("command", _commands())
def test_tour_command_runs(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.replace("docs/img/", f"{tmp_path}/") for a in shlex.split(command)[1:]]
    with pytest.raises(SystemExit) as exc:
        main(args)
    _, err = capsys.readouterr()
    assert exc.value.code in (0, None), err


@pytest.mark.parametrize(
    "term",
    ["T-CONT", "Alloc-ID", "DBRu", "BWmap", "EqD", "Teqd", "PSBd / PSBu", "XGTC", "XGEM", "GEM",
     "PLOAM", "FEC", "RS(n,k)", "DBA", "SR-DBA", "grant unit", "R_F / R_A / R_M", "ONU", "OLT",
     "ODN", "split", "StartTime", "GrantSize", "guard time", "preamble", "delimiter"],
)  # fmt: skip
def test_glossary_has_the_term(term: str) -> None:
    glossary = TOUR.split("## Glossary", 1)[1]
    assert re.search(rf"\*\*[^*]*{re.escape(term)}[^*]*\*\*", glossary), term


def test_the_capture_excerpts_are_what_tshark_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Section 5: the `ftth run --pcap-tc` command runs, and every line of its ```text
    excerpts is a line tshark prints with the shipped dissector (whitespace aside)."""
    import shutil
    import subprocess

    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed (.ci/run installs it)")
    section = TOUR.split("## 5.", 1)[1].split("## 6.", 1)[0]
    (command,) = re.findall(r"^ftth run .*$", section, flags=re.M)
    args = [a.replace("out/", f"{tmp_path}/") for a in shlex.split(command)[1:]]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code in (0, 1, None), capsys.readouterr().err
    from ftth.capture import __file__ as capture_init

    lua = Path(capture_init).parent / "ftth_tc.lua"
    printed = ""
    for extra in ([], ["-V"]):
        proc = subprocess.run(
            [tshark, "-X", f"lua_script:{lua}", "-r", str(tmp_path / "tc.pcap"), *extra],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        printed += proc.stdout
    lines = {" ".join(line.replace("→", "").split()) for line in printed.splitlines()}
    excerpts = re.findall(r"```text\n(.*?)```", section, flags=re.S)
    assert excerpts
    for block in excerpts:
        for line in block.splitlines():
            assert " ".join(line.split()) in lines, line
