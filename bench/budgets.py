"""Issue 11's budgets as lines: each benchmark returns `budgets`, a list of `line(...)`, and
`python -m bench` gathers every line of the run under the document's top-level `budgets`, so one
run says which budgets it met, with each figure beside the baseline measured in the same run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.runtime import log


def line(
    budget: str, figure: Any, *, within: bool, baseline: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "budget": budget,
        "figure": figure,
        "baseline": dict(baseline) if baseline is not None else None,
        "within_budget": within,
    }


def gather(report: Mapping[str, Any], names: Iterable[str]) -> list[dict[str, Any]]:
    """Every benchmark's lines, named by benchmark; logged as well, one line each."""
    lines = [
        {"benchmark": name, **budget_line}
        for name in names
        for budget_line in report[name].get("budgets", [])
    ]
    for each in lines:
        verdict = "met" if each["within_budget"] else "NOT met"
        log.info(
            "budget %s: %s: %s (%s)", each["benchmark"], each["budget"], each["figure"], verdict
        )
    return lines
