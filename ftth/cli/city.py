"""``ftth plan SCENARIO --city districts.csv``: the city-scale plan (:mod:`ftth.city`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ftth.errors import Interrupted
from ftth.output import Output, check_outputs, transaction, write_text


def run_city(
    scenario: Path | None,
    districts: Path,
    *,
    overrides: list[str],
    concurrency: float | None,
    workers: int | None,
    dask: str | None,
    json_path: Path | None,
    quiet: bool,
) -> None:
    """Plan every district's PON trees on the sweep's executors and print the share table."""
    from rich.console import Console

    from ftth.city import city, share_table
    from ftth.cli.common import scenario_inputs
    from ftth.cli.sweep import progress_bar

    check_outputs(
        [Output("--json", json_path, stdout_ok=True) if json_path is not None else None],
        inputs=[districts, *scenario_inputs(str(scenario or ""))],
    )
    console = Console(stderr=json_path is not None and str(json_path) == "-")
    done = [0]
    try:
        if not quiet and console.is_terminal:
            with progress_bar(console, "city plan") as bar:
                task = bar.add_task("trees", total=None)

                def advance(n: int, total: int) -> None:
                    done[0] = n
                    bar.update(task, completed=n, total=total)

                res = city(scenario, districts, overrides=overrides, concurrency=concurrency,
                           workers=workers, dask=dask, on_done=advance)  # fmt: skip
        else:

            def count(n: int, _total: int) -> None:
                done[0] = n

            res = city(scenario, districts, overrides=overrides, concurrency=concurrency,
                       workers=workers, dask=dask, on_done=count)  # fmt: skip
    except Interrupted as exc:
        print(
            f"interrupted ({exc.signal_name}): {done[0]} PON tree(s) planned, nothing written",
            file=sys.stderr,
        )
        raise SystemExit(exc.exit_status) from None
    data: dict[str, Any] = res.to_dict()
    with transaction():
        if json_path is not None:
            write_text(json_path, json.dumps(data, indent=2, allow_nan=False) + "\n")
    if not quiet:
        table = share_table(res)
        if not console.is_terminal:
            wide = console.options.update(max_width=10_000)
            console.width = max(console.width, console.measure(table, options=wide).maximum)
        console.print(table)
    for error in res.total["errors"]:
        print(f"warning: tree not planned: {error}", file=sys.stderr)
