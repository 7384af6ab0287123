"""Order keys: where `place` puts an item among its siblings, and the keys `key_between` makes."""

from __future__ import annotations

from uuid import UUID

import pytest
from boards.domain.ordering import Slot, key_between, place
from fractional_indexing import FIError
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

ONE, TWO, THREE, STRANGER = UUID(int=1), UUID(int=2), UUID(int=3), UUID(int=99)
SIBLINGS = [("a0", ONE), ("a1", TWO), ("a2", THREE)]


def entry(item_id: UUID) -> tuple[str, UUID]:
    """An anchor as decide() passes it: the sibling's entry, or a stranger's (not among them)."""
    return next((e for e in SIBLINGS if e[1] == item_id), ("zz", item_id))


def successive_keys(count: int) -> list[str]:
    result: list[str] = []
    for _ in range(count):
        result.append(key_between(result[-1] if result else None, None))
    return result


class TestKeyBetween:
    def test_starts_in_the_middle_of_an_empty_list(self):
        assert key_between(None, None) == "a0"

    def test_goes_after_the_last_key(self):
        assert key_between("a0", None) == "a1"

    def test_goes_before_the_first_key(self):
        assert key_between(None, "a0") == "Zz"

    def test_goes_strictly_between_two_keys(self):
        assert "a0" < key_between("a0", "a1") < "a1"

    def test_refuses_keys_out_of_order(self):
        with pytest.raises(FIError):
            key_between("a1", "a0")

    def test_refuses_equal_keys(self):
        with pytest.raises(FIError):
            key_between("a0", "a0")

    def test_keeps_finding_room_in_the_same_gap(self):
        low, high = "a0", "a1"
        for _ in range(200):
            middle = key_between(low, high)
            assert low < middle < high
            high = middle

    @settings(max_examples=150, deadline=None)
    @for_all(
        st.lists(st.sampled_from([0, 1, 2]), max_size=60),
    )
    def test_any_sequence_of_insertions_keeps_keys_distinct_and_ordered(self, choices):
        # 0: at the start, 1: after the first key, 2: at the end.
        ordered = ["a0"]
        for choice in choices:
            if choice == 0:
                ordered.insert(0, key_between(None, ordered[0]))
            elif choice == 1 and len(ordered) > 1:
                ordered.insert(1, key_between(ordered[0], ordered[1]))
            else:
                ordered.append(key_between(ordered[-1], None))
            assert ordered == sorted(set(ordered))


class TestPlace:
    def test_puts_the_first_item_in_the_middle(self):
        assert place([]) == Slot(key="a0", after=None, before=None)

    def test_puts_an_item_at_the_end_without_an_anchor(self):
        assert place(SIBLINGS) == Slot(key=key_between("a2", None), after=THREE, before=None)

    def test_puts_an_item_after_its_anchor(self):
        assert place(SIBLINGS, after=entry(ONE)) == Slot(
            key=key_between("a0", "a1"), after=ONE, before=TWO
        )

    def test_puts_an_item_after_the_last_sibling_at_the_end(self):
        assert place(SIBLINGS, after=entry(THREE)) == place(SIBLINGS)

    def test_puts_an_item_before_its_anchor(self):
        assert place(SIBLINGS, before=entry(TWO)) == Slot(
            key=key_between("a0", "a1"), after=ONE, before=TWO
        )

    def test_puts_an_item_before_the_first_sibling_at_the_start(self):
        assert place(SIBLINGS, before=entry(ONE)) == Slot(
            key=key_between(None, "a0"), after=None, before=ONE
        )

    def test_puts_an_item_at_the_end_when_the_after_anchor_is_not_a_sibling(self):
        assert place(SIBLINGS, after=entry(STRANGER)) == place(SIBLINGS)

    def test_puts_an_item_at_the_end_when_the_before_anchor_is_not_a_sibling(self):
        assert place(SIBLINGS, before=entry(STRANGER)) == place(SIBLINGS)

    def test_puts_an_item_at_the_end_of_an_empty_list_whatever_the_anchor(self):
        assert place([], after=entry(STRANGER)) == place([], before=entry(STRANGER)) == place([])

    def test_prefers_the_after_anchor_when_given_both(self):
        assert place(SIBLINGS, after=entry(TWO), before=entry(ONE)).after == TWO

    def test_falls_back_to_the_before_anchor_when_the_after_anchor_is_gone(self):
        assert place(SIBLINGS, after=entry(STRANGER), before=entry(TWO)).before == TWO

    @settings(max_examples=150, deadline=None)
    @for_all(
        count=st.integers(min_value=0, max_value=12),
        anchor=st.integers(min_value=0, max_value=13),
        side=st.sampled_from(["after", "before"]),
    )
    def test_lands_strictly_between_the_neighbours_it_names(self, count, anchor, side):
        siblings = [(key, UUID(int=i)) for i, key in enumerate(successive_keys(count))]
        lookup = dict((i, e) for e in siblings for i in [e[1]])
        slot = place(siblings, **{side: lookup.get(UUID(int=anchor), ("zz", UUID(int=anchor)))})
        placed = sorted([*siblings, (slot.key, STRANGER)])
        index = placed.index((slot.key, STRANGER))
        assert slot.key not in {key for key, _ in siblings}
        assert slot.after == (placed[index - 1][1] if index > 0 else None)
        assert slot.before == (placed[index + 1][1] if index + 1 < len(placed) else None)
        if anchor < count:
            assert UUID(int=anchor) == (slot.after if side == "after" else slot.before)
        else:
            assert slot.before is None
