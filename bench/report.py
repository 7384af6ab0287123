"""`python -m bench.report RUN.json`: the budget lines of one `python -m bench` document as the
Markdown table `docs/performance.md` shows, so the page is rendered from a run, never retyped.

`tests/packaging/test_performance_doc.py` renders the run stored beside the page and checks that
the page holds exactly that table."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BEGIN = "<!-- budgets: rendered by python -m bench.report docs/performance-run.json -->"
END = "<!-- /budgets -->"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_value(each)}" for key, each in value.items())
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(document: Mapping[str, Any]) -> str:
    """One row per budget line, in the order the run measured them."""
    rows = [
        "| benchmark | budget | figure | baseline (same run) | met |",
        "|-----------|--------|--------|---------------------|-----|",
    ]
    for each in document["budgets"]:
        rows.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    each["benchmark"],
                    each["budget"],
                    _value(each["figure"]),
                    _value(each["baseline"]),
                    "met" if each["within_budget"] else "**not met**",
                )
            )
            + " |"
        )
    return "\n".join(rows)


def block(document: Mapping[str, Any]) -> str:
    """The table between the markers that `docs/performance.md` holds it in."""
    return f"{BEGIN}\n{table(document)}\n{END}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m bench.report RUN.json\n")
        return 2
    document = json.loads(Path(argv[0]).read_text())
    sys.stdout.write(block(document) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
