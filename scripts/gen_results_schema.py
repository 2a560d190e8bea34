"""Generate ``docs/results-schema.json`` from the pydantic models of :mod:`ftth.results`.

The models are the single source of truth for the documents ftth writes (run, plan,
compare-dba JSON, sweep rows and summaries); ``tests/test_results_schema.py`` regenerates
the text in memory and fails when the file is stale.

Usage::

    python scripts/gen_results_schema.py          # rewrite docs/results-schema.json
    python scripts/gen_results_schema.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ftth.results import json_schema

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "results-schema.json"


def render() -> str:
    """The file's text: the schema with sorted keys, two-space indent, a final newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is stale: run python scripts/gen_results_schema.py")
            return 1
        return 0
    DOC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
