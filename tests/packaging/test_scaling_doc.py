"""docs/scaling.md's capacity tables are `python -m bench.capacity` run on the stored benchmark
run (docs/performance-run.json): a figure edited by hand, or a new run stored without the page
rendered again, fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- capacity: rendered by python -m bench.capacity docs/performance-run.json -->"
END = "<!-- /capacity -->"


def test_the_page_holds_the_capacity_tables_of_the_stored_run() -> None:
    rendered = subprocess.run(
        [sys.executable, "-m", "bench.capacity", "docs/performance-run.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    page = (ROOT / "docs" / "scaling.md").read_text()
    start, stop = page.index(BEGIN), page.index(END) + len(END)

    assert rendered.startswith(BEGIN)
    assert page[start:stop] + "\n" == rendered


def test_every_scale_needs_at_least_what_the_one_before_it_needs() -> None:
    # bench is a folder of the repository, not an installed package: import it from there.
    sys.path.insert(0, str(ROOT))
    try:
        from bench.capacity import scale_table
    finally:
        sys.path.remove(str(ROOT))
    import json

    run = json.loads((ROOT / "docs" / "performance-run.json").read_text())
    for line in scale_table(run).splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")][2:]
        counts = [int(cell.replace(",", "")) for cell in cells]
        assert counts == sorted(counts), line
