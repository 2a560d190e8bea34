"""``ftth.city`` and ``ftth plan --city``: the districts file, the split into PON trees, the
share table against the bounds the tiers set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftth.city import TARGETS_BPS, District, read_districts, shares, tier_households, trees
from ftth.cli import main
from ftth.errors import InputError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "seeds" / "city-example.csv"
SCENARIO = str(REPO / "seeds" / "urban-2020-100mbps.toml")
HEADER = "district,households,drop_km_min,drop_km_max,tiers\n"


def test_the_example_reads() -> None:
    districts = read_districts(EXAMPLE)
    assert [d.name for d in districts] == ["Old town", "New district", "Suburbs"]
    assert sum(d.households for d in districts) == 230
    assert districts[0].tiers == (("50M/20M", 0.3), ("100M/50M", 0.7))


@pytest.mark.parametrize(
    "row,where,why",
    [
        ("a,10,0,1,100M/50M:0.5", ":2: tiers", "sum to 1"),
        ("a,0,0,1,100M/50M:1", ":2: households", "must be in 1.."),
        ("a,x,0,1,100M/50M:1", ":2: households", "not a whole number"),
        ("a,10,2,1,100M/50M:1", ":2: drop_km_max", "below drop_km_min"),
        ("a,10,0,1,100Q/50M:1", ":2: tiers", "bad tier"),
        ("a,10,0,1,100M/50M", ":2: tiers", "TIER:SHARE"),
        ("a,10,0,1", ":2", "4 fields"),
    ],
)
def test_bad_rows_name_line_and_column(tmp_path: Path, row: str, where: str, why: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(InputError) as exc:
        read_districts(path)
    assert exc.value.where == f"{path}{where}" and why in exc.value.why


def test_households_split_exactly_into_trees() -> None:
    d = District("x", 101, (0.0, 1.0), (("a", 1 / 3), ("b", 1 / 3), ("c", 1 / 3)))
    split = tier_households(d)
    assert sum(n for _, n in split) == 101 and sorted(n for _, n in split) == [33, 34, 34]
    d = District("y", 150, (0.0, 1.0), (("100M/50M", 0.8), ("1G/500M", 0.2)))
    assert trees(d, 64) == [("100M/50M", 64, 1), ("100M/50M", 56, 1), ("1G/500M", 30, 1)]
    d = District("z", 256, (0.0, 1.0), (("100M/50M", 1.0),))
    assert trees(d, 64) == [("100M/50M", 64, 4)]


def test_shares_use_the_plans_tolerance() -> None:
    """A 100M tier measures 99.85 Mb/s through its shaper: it reaches 100 Mb/s at 0.95."""
    assert shares([99.85e6, 40e6], 2.0, 0.95) == [4.0, 2.0, 2.0, 0.0]
    assert shares([99.85e6], 1.0, 1.0) == [1.0, 1.0, 0.0, 0.0]


def test_city_plan_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "city.json"
    with pytest.raises(SystemExit) as exc:
        main(["plan", SCENARIO, "--city", str(EXAMPLE), "--duration", "0.05", "--workers", "2",
              "--json", str(out)])  # fmt: skip
    text, err = capsys.readouterr()
    assert exc.value.code in (0, None), err
    for word in ("Old town", "Suburbs", "total", "≥ 20 Mb/s", "≥ 1000 Mb/s"):
        assert word in text
    data = json.loads(out.read_text())
    assert data["targets_bps"] == list(TARGETS_BPS)
    assert data["total"]["households"] == 230 and data["total"]["trees"] == 7
    assert data["total"]["errors"] == []
    by = {d["district"]: d for d in data["districts"]}
    for d in data["districts"]:
        assert all(0 <= s <= 1 for s in d["share"])
        assert d["share"] == sorted(d["share"], reverse=True)  # a higher target, fewer homes
    # The tier shapers bound what a household can get (households.pass_ratio 0.95): no
    # 20M or 50M household reaches 100 Mb/s, no 100M one reaches 1000 Mb/s.
    assert by["Suburbs"]["share"][2] == 0.0 and by["Suburbs"]["share"][1] <= 0.6 + 1e-9
    assert by["Old town"]["share"][2] <= 0.7 + 1e-9 and by["Old town"]["share"][3] == 0.0
    assert by["New district"]["share"][3] <= 0.5 + 1e-9


def test_city_refuses_tree_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["plan", SCENARIO, "--city", str(EXAMPLE), "--tier", "100M/50M"])
    _, err = capsys.readouterr()
    assert exc.value.code == 2 and err.startswith("error: --city: cannot be combined with --tier")
    with pytest.raises(SystemExit) as exc:
        main(["plan", SCENARIO, "--workers", "2"])
    _, err = capsys.readouterr()
    assert exc.value.code == 2 and err.startswith("error: --workers: only with --city")
