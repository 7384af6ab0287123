"""What every test in the repository shares: its level by directory, the fixtures, randomness.

Levels are markers given here by path, the one place that says which directory is which
(`make test-unit` is `pytest -m unit`, and so on). A test file in a directory not listed fails
collection, so a new directory is placed on purpose. `unit` tests start no server: the fixtures
(cardstream_testing.fixtures) refuse them Redis and FerretDB.

Randomness: Hypothesis runs derandomized under CI (CI=true), so every run draws the same
examples; elsewhere it draws new ones and keeps failures in .hypothesis/. Tests that use `random`
seed it themselves. The header says which is in force.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

pytest_plugins = ["cardstream_testing.fixtures", "pytester"]

ROOT = Path(__file__).resolve().parent

# Directory (relative to the root) -> level; the longest matching prefix wins.
LEVELS = {
    "contracts/tests": "unit",
    "libs/devstack/tests/unit": "unit",
    "libs/runtime/tests": "unit",
    "libs/testing/tests": "unit",
    "services/auth/tests/unit": "unit",
    "services/boards/tests/unit": "unit",
    "services/projector/tests/unit": "unit",
    "tests/contract": "unit",
    "tests/packaging": "unit",
    "services/auth/tests/integration": "integration",
    "services/boards/tests/integration": "integration",
    "services/projector/tests/integration": "integration",
    "libs/devstack/tests/integration": "integration",
    "libs/runtime/tests/integration": "integration",
    "tests/e2e": "e2e",
    "tests/chaos": "e2e",
    "tests/browser": "browser",
}

IN_CI = os.environ.get("CI") == "true"
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if IN_CI else "dev")


def level_of(path: Path) -> str | None:
    relative = path.resolve().relative_to(ROOT).as_posix()
    matches = [d for d in LEVELS if relative.startswith(f"{d}/")]
    return LEVELS[max(matches, key=len)] if matches else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unplaced = set()
    for item in items:
        level = level_of(item.path)
        if level is None:
            unplaced.add(item.path.relative_to(ROOT).as_posix())
        else:
            item.add_marker(level)
    if unplaced:
        raise pytest.UsageError(
            f"no test level for {sorted(unplaced)}: add its directory to LEVELS in conftest.py"
        )


RANDOMNESS = (
    "randomness: CI=true, so Hypothesis is derandomized (profile 'ci'): each test's seed is "
    "fixed, derived from the test itself"
    if IN_CI
    else "randomness: Hypothesis draws new examples each run (profile 'dev'; CI=true fixes them)"
)


def pytest_report_header(config: pytest.Config) -> str:
    return RANDOMNESS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The header is not shown under -q, which CI uses; the log must still say it.
    if IN_CI:
        terminalreporter.write_line(RANDOMNESS)
