"""How a process works out its share of the partitions and which ones it asks for first."""

from __future__ import annotations

import pytest
from projector.apply.members import preference, share, to_release


@pytest.mark.parametrize("members", range(1, 40))
@pytest.mark.parametrize("partitions", [1, 4, 16, 100])
def test_the_shares_cover_every_partition_and_differ_by_at_most_what_rounding_needs(
    partitions: int, members: int
) -> None:
    each = share(partitions, members)
    assert each * members >= partitions
    assert (each - 1) * members < partitions


def test_a_process_that_saw_no_members_asks_for_everything() -> None:
    assert share(16, 0) == 16


def test_preference_is_an_order_of_every_partition_fixed_by_the_name() -> None:
    order = preference("projector-1", range(16))
    assert sorted(order) == list(range(16))
    assert preference("projector-1", range(16)) == order
    assert preference("projector-2", range(16)) != order


def test_preferences_of_two_processes_split_the_partitions_about_evenly() -> None:
    # Each one's first half: two processes with different names mostly want different ones.
    firsts = [set(preference(name, range(16))[:8]) for name in ("host-a-1", "host-b-1")]
    assert len(firsts[0] & firsts[1]) < 8


def test_releases_the_least_preferred_beyond_the_limit() -> None:
    held = list(range(16))
    released = to_release(held, "p", 10)
    assert released == preference("p", held)[::-1][:6]
    assert to_release(held, "p", 16) == []
    assert to_release(held, "p", 20) == []
