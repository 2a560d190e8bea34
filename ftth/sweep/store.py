"""The results store of sweeps and comparisons: one SQLite file (standard library ``sqlite3``).

Table ``runs``: one row per run of (scenario, point, seed), UNIQUE on ``(scenario_hash,
point, seed)``; each row is written in its own transaction, so a process killed at any moment
(SIGKILL included) leaves complete rows only, and a rerun skips the runs already finished.
The database runs in WAL mode (readers do not block the writer; a commit is one append).

Columns (:data:`COLUMNS`): the header (``schema_version``, ``ftth_version``,
``scenario_hash``), ``point`` (canonical JSON, :func:`ftth.sweep.grid.point_key`), ``seed``,
``status`` (``ok`` or ``error``), ``verdict``, ``error`` and ``traceback`` (a failed run),
the headline metrics (:data:`ftth.sweep.runs.METRIC_COLUMNS`), ``metrics`` (every headline
metric as JSON), ``result`` (the run's JSON document without its wall-clock keys) and
``wall_s`` (wall-clock seconds of the run: the one column that depends on the machine).
Table ``scenarios`` records each swept scenario (hash, name, technology, source, ``--set``
overrides, the grid) and table ``meta`` the schema version.

A failed run is retried by the next invocation (its row is replaced when the rerun
finishes); a finished run (``status = 'ok'``) is never run again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftth.errors import InputError
from ftth.results import SCHEMA_VERSION, SweepRow, check
from ftth.sweep.grid import point_key
from ftth.sweep.runs import METRIC_COLUMNS

#: Every column of ``runs`` after its rowid, in order.
COLUMNS: tuple[str, ...] = (
    "schema_version",
    "ftth_version",
    "scenario_hash",
    "point",
    "seed",
    "status",
    "verdict",
    "error",
    "traceback",
    *METRIC_COLUMNS,
    "metrics",
    "result",
    "wall_s",
)
#: Columns that depend on the machine and the moment, not on the run.
WALL_CLOCK_COLUMNS = ("wall_s",)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scenarios (
    scenario_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    technology TEXT NOT NULL,
    source TEXT,
    overrides TEXT NOT NULL,
    grid TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    schema_version INTEGER NOT NULL,
    ftth_version TEXT NOT NULL,
    scenario_hash TEXT NOT NULL,
    point TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    verdict TEXT,
    error TEXT,
    traceback TEXT,
    {", ".join(f"{c} REAL" for c in METRIC_COLUMNS)},
    metrics TEXT NOT NULL,
    result TEXT,
    wall_s REAL,
    UNIQUE (scenario_hash, point, seed)
);
"""


class Store:
    """An open results file (``":memory:"`` for a store that lives only as long as this object).

    Raises
    ------
    ftth.errors.InputError
        The file cannot be opened or created, is not an SQLite database, or was written by a
        newer results schema.
    """

    def __init__(self, path: str | Path, *, where: str = "--out") -> None:
        self.path = str(path)
        self.where = where
        try:
            if self.path != ":memory:":
                Path(self.path).absolute().parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN … COMMIT per row).
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            # A commit survives the process being killed; NORMAL skips the fsync per commit
            # that only a power cut would need.
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            found = self.conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            if found is None:
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(found[0]) > SCHEMA_VERSION:
                raise InputError(
                    where,
                    f"{self.path} holds results schema {found[0]}; this ftth writes "
                    f"{SCHEMA_VERSION} (upgrade ftth or name another file)",
                )
        except (sqlite3.Error, OSError) as exc:
            raise InputError(where, f"{self.path}: cannot open as a results store: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def record_scenario(
        self,
        scenario_hash: str,
        name: str,
        technology: str,
        source: str | None,
        overrides: list[str],
        grid: dict[str, Any],
    ) -> None:
        """Remember a swept scenario (the first description of a hash is kept)."""
        with self._transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO scenarios VALUES (?, ?, ?, ?, ?, ?)",
                (scenario_hash, name, technology, source, json.dumps(overrides),
                 json.dumps(grid)),
            )  # fmt: skip

    def insert(self, row: dict[str, Any]) -> bool:
        """Write one run's row (:class:`ftth.results.SweepRow`) in its own transaction.

        A row of the same (scenario, point, seed) is replaced only if it was a failure; a
        finished one (written meanwhile by another sweep on the same file) is kept and
        ``False`` returned.
        """
        check(row, SweepRow)
        values = row_values(row)
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._transaction():
            self.conn.execute(
                "DELETE FROM runs WHERE scenario_hash = ? AND point = ? AND seed = ? "
                "AND status = 'error'",
                (values["scenario_hash"], values["point"], values["seed"]),
            )
            cursor = self.conn.execute(
                f"INSERT OR IGNORE INTO runs ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                [values[c] for c in COLUMNS],
            )
        return cursor.rowcount == 1

    class _Txn:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> None:
            self.conn.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: object, *_: object) -> None:
            if exc_type is None:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")

    def _transaction(self) -> Store._Txn:
        return Store._Txn(self.conn)

    # ------------------------------------------------------------------ reading
    def finished(self, scenario_hash: str) -> set[tuple[str, int]]:
        """``(point key, seed)`` of every finished (``ok``) run of a scenario."""
        rows = self.conn.execute(
            "SELECT point, seed FROM runs WHERE scenario_hash = ? AND status = 'ok'",
            (scenario_hash,),
        )
        return {(p, int(s)) for p, s in rows}

    def rows(self, scenario_hash: str | None = None) -> Iterator[dict[str, Any]]:
        """Every row (of one scenario, if given) as a dict of :data:`COLUMNS`, JSON decoded,
        ordered by scenario, point and seed."""
        where = "" if scenario_hash is None else "WHERE scenario_hash = ?"
        args: tuple[Any, ...] = () if scenario_hash is None else (scenario_hash,)
        cursor = self.conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM runs {where} ORDER BY scenario_hash, point, seed",
            args,
        )
        for values in cursor:
            yield decode_row(dict(zip(COLUMNS, values, strict=True)))

    def raw_rows(self) -> list[tuple[Any, ...]]:
        """Every row's columns as stored (tests compare files with it)."""
        return list(
            self.conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM runs ORDER BY scenario_hash, point, seed"
            )
        )

    def scenarios(self) -> list[dict[str, Any]]:
        """The swept scenarios recorded in the file."""
        cursor = self.conn.execute(
            "SELECT scenario_hash, name, technology, source, overrides, grid FROM scenarios "
            "ORDER BY rowid"
        )
        return [
            {
                "scenario_hash": h, "name": n, "technology": t, "source": s,
                "overrides": json.loads(o), "grid": json.loads(g),
            }
            for h, n, t, s, o, g in cursor
        ]  # fmt: skip

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def row_values(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the values stored in :data:`COLUMNS`."""
    metrics = row["metrics"]
    values = {c: row.get(c) for c in COLUMNS}
    values["point"] = point_key(row["point"])
    values["metrics"] = _json(metrics)
    values["result"] = _json(row["result"])
    for c in METRIC_COLUMNS:
        v = metrics.get(c)
        values[c] = None if v is None else float(v)
    return values


def decode_row(values: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`row_values` (JSON columns decoded)."""
    out = dict(values)
    out["point"] = json.loads(values["point"])
    out["metrics"] = json.loads(values["metrics"])
    out["result"] = None if values["result"] is None else json.loads(values["result"])
    return out


def open_existing(path: str | Path, where: str) -> Store:
    """Open a results file that must exist (``ftth sweep summary``)."""
    if not Path(path).is_file():
        raise InputError(where, f"{path}: no such results file")
    return Store(path, where=where)


__all__ = ["COLUMNS", "WALL_CLOCK_COLUMNS", "Store", "decode_row", "open_existing", "row_values"]
