"""``ftth.sweep.store``: one row per (scenario, point, seed), never two; a failure replaced by
its rerun; WAL; a newer schema refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ftth import __version__
from ftth.errors import InputError
from ftth.results import SCHEMA_VERSION
from ftth.sweep.store import COLUMNS, Store

HASH = "sha256:" + "ab" * 32


def row(seed: int, status: str = "ok", **point: Any) -> dict[str, Any]:
    ok = status == "ok"
    return {
        "schema_version": SCHEMA_VERSION,
        "ftth_version": __version__,
        "scenario_hash": HASH,
        "point": point,
        "seed": seed,
        "status": status,
        "verdict": "pass" if ok else None,
        "error": None if ok else "DBA 'x', frame 3: too big",
        "traceback": None,
        "metrics": {"throughput_bps": 1e9 * seed, "jain": 0.5} if ok else {},
        "result": None,
        "wall_s": 0.25,
    }


def test_rows_round_trip_and_metric_columns(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as st:
        st.insert(row(1, a=0.5, b="x"))
        st.insert(row(2, b="x", a=0.5))
        assert st.finished(HASH) == {('{"a":0.5,"b":"x"}', 1), ('{"a":0.5,"b":"x"}', 2)}
        got = list(st.rows())
        assert [r["seed"] for r in got] == [1, 2]
        assert got[1]["point"] == {"a": 0.5, "b": "x"} and got[1]["metrics"]["jain"] == 0.5
        raw = st.raw_rows()[0]
        assert raw[COLUMNS.index("throughput_bps")] == 1e9
        assert raw[COLUMNS.index("type1_mean_us")] is None
        mode = st.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_a_finished_run_is_never_written_twice(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as st:
        assert st.insert(row(1, a=1))
        again = row(1, a=1)
        again["metrics"] = {"throughput_bps": 7.0}
        assert not st.insert(again)  # e.g. a second sweep on the same file: the first kept
        assert st.count() == 1 and next(st.rows())["metrics"]["throughput_bps"] == 1e9
        with pytest.raises(sqlite3.IntegrityError):  # the constraint itself
            st.conn.execute("INSERT INTO runs SELECT NULL, " + ", ".join(COLUMNS) + " FROM runs")


def test_a_failed_run_is_replaced_by_its_rerun(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as st:
        st.insert(row(1, "error", a=1))
        assert st.finished(HASH) == set()
        st.insert(row(1, a=1))
        assert st.count() == 1 and next(st.rows())["status"] == "ok"


def test_a_row_that_breaks_its_schema_is_not_written(tmp_path: Path) -> None:
    from pydantic import ValidationError

    bad = row(1, a=1)
    bad["status"] = "maybe"
    with Store(tmp_path / "r.sqlite") as st:
        with pytest.raises(ValidationError):
            st.insert(bad)
        assert st.count() == 0


def test_newer_schema_and_non_sqlite_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    newer = str(SCHEMA_VERSION + 1)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (newer,))
    conn.commit()
    conn.close()
    with pytest.raises(InputError) as exc:
        Store(path)
    assert exc.value.where == "--out" and "schema" in exc.value.why
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    with pytest.raises(InputError) as exc:
        Store(text)
    assert "cannot open as a results store" in exc.value.why
