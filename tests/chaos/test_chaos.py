"""Issue 12's chaos, short: the whole stack under writers and subscribers while each of boards,
projector, auth, FerretDB and Redis is killed at least once and comes back; the invariants are
the report's (cardstream_testing.chaos, docs/chaos.md). `make chaos` is the long run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cardstream_testing.chaos import ChaosOptions, run_chaos
from cardstream_testing.chaos.faults import COMPONENTS

SEED = 12


@pytest.mark.timeout(420)
def test_acknowledged_commands_read_models_and_subscribers_survive_every_component_killed(
    tmp_path: Path,
) -> None:
    # Gaps short enough that all five kills (each component once, in a seeded order) fit.
    options = ChaosOptions(seconds=35, seed=SEED, gap_s=(2.0, 5.0), min_kills=5)
    report = run_chaos(options, tmp_path)
    shown = json.dumps(report, indent=2)
    assert all(report["kills"][name] >= 1 for name in COMPONENTS), shown
    assert report["commands"]["acknowledged"] > 0, shown
    for invariant in (
        "lost",
        "duplicated",
        "never_sent",
        "refused_but_written",
        "version_gaps",
        "divergent_read_models",
        "subscriber_mismatches",
    ):
        assert report[invariant] == 0, f"{invariant}: {shown}"
    assert report["subscribers"]["events"] > 0, shown
    assert report["ok"], shown
