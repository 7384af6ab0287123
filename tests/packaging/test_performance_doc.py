"""docs/performance.md shows the budgets of one stored run of `python -m bench`, rendered by
`python -m bench.report` from `docs/performance-run.json`: a figure edited by hand, or a run
stored without its page rendered again, fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BEGIN = "<!-- budgets: rendered by python -m bench.report docs/performance-run.json -->"
END = "<!-- /budgets -->"


def test_the_page_holds_the_stored_runs_budget_table() -> None:
    # bench is a folder of the repository, not an installed package: run it as make bench does.
    rendered = subprocess.run(
        [sys.executable, "-m", "bench.report", "docs/performance-run.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    page = (DOCS / "performance.md").read_text()
    start, stop = page.index(BEGIN), page.index(END) + len(END)

    assert rendered.startswith(BEGIN)
    assert page[start:stop] + "\n" == rendered


def test_the_stored_run_measured_every_benchmark_that_has_budgets() -> None:
    document = json.loads((DOCS / "performance-run.json").read_text())
    measured = {line["benchmark"] for line in document["budgets"]}

    assert measured == {"append", "e2e", "catchup", "bigboard", "fanout", "readstore"}
    assert all(document[name].get("ok") for name in measured)
