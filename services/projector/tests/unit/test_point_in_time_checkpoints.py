"""Point-in-time reads from in-memory checkpoints give exactly what a fold from version 0 gives,
read fewer events, and hold no more card documents than allowed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

import pytest
from cardstream_testing.feeds import ListedEvents, no_events
from cardstream_testing.golden import story_envelopes
from contracts.envelope import AnyEvent
from contracts.events import (
    BoardCreated,
    CardAdded,
    CardEdited,
    ChecklistItemAdded,
    ChecklistItemChecked,
    ColumnAdded,
    Event,
    FieldChange,
)
from projector.events import BoardEvents
from projector.read.audit.checkpoints import PointInTimeCheckpoints
from projector.read.audit.point_in_time import (
    VersionAheadError,
    board_at,
    fold_to_time,
    fold_to_version,
)
from projector.views import detail_of

BOARD = UUID("0b0a4d00-0000-4000-8000-0000000000d1")
TODO = UUID("00000000-0000-4000-8000-0000000000d1")
CARDS = [uuid.uuid5(BOARD, f"card {i}") for i in range(5)]


def _story() -> tuple[Event, ...]:
    story: list[Event] = [
        BoardCreated(title="Plans", owner_id="alice"),
        ColumnAdded(column_id=TODO, title="To do", position="a0"),
    ]
    story += [
        CardAdded(card_id=c, column_id=TODO, position=f"a{i}", title=f"card {i}")
        for i, c in enumerate(CARDS)
    ]
    item = uuid.uuid5(BOARD, "item")
    story.append(ChecklistItemAdded(card_id=CARDS[0], item_id=item, text="x", position="a0"))
    for n in range(40):
        card = CARDS[n % len(CARDS)]
        before = f"card {n % len(CARDS)}" if n < len(CARDS) else f"title {n - len(CARDS)}"
        change = FieldChange(field="title", before=before, after=f"title {n}")
        story.append(CardEdited(card_id=card, changes=[change]))
    story.append(ChecklistItemChecked(card_id=CARDS[0], item_id=item))
    return tuple(story)


EVENTS = story_envelopes(BOARD, _story())


class _Log(ListedEvents):
    def board_events(self) -> BoardEvents:
        return BoardEvents(no_events, self, page_size=7)


class TestCheckpointedReads:
    @pytest.mark.parametrize("every", [1, 5, 16])
    async def test_give_the_same_board_as_a_fold_from_version_0_at_every_version(
        self, every: int
    ) -> None:
        log = _Log(EVENTS)
        checkpoints = PointInTimeCheckpoints(every=every, max_cards=1_000)
        # Backwards and forwards, as a slider is dragged.
        versions = [*range(len(EVENTS), 0, -3), *range(1, len(EVENTS) + 1)]
        for version in versions:
            plain = await fold_to_version(log.board_events(), BOARD, version)
            stepped = await fold_to_version(log.board_events(), BOARD, version, checkpoints)

            assert detail_of(stepped) == detail_of(plain), f"at version {version}"
            assert detail_of(stepped, archived=True) == detail_of(plain, archived=True)

    async def test_read_only_the_events_after_the_nearest_checkpoint(self) -> None:
        log = _Log(EVENTS)
        checkpoints = PointInTimeCheckpoints(every=10, max_cards=1_000)
        await board_at(log.board_events(), BOARD, version=len(EVENTS), checkpoints=checkpoints)
        assert checkpoints.versions(BOARD) == [10, 20, 30, 40]
        log.served = 0

        await board_at(log.board_events(), BOARD, version=33, checkpoints=checkpoints)

        assert log.served == 3

    async def test_are_not_changed_by_the_folds_that_start_from_them(self) -> None:
        log = _Log(EVENTS)
        checkpoints = PointInTimeCheckpoints(every=10, max_cards=1_000)
        at_10 = await board_at(log.board_events(), BOARD, version=10, checkpoints=checkpoints)
        await board_at(log.board_events(), BOARD, version=len(EVENTS), checkpoints=checkpoints)

        again = await board_at(log.board_events(), BOARD, version=10, checkpoints=checkpoints)

        assert again == at_10

    async def test_still_refuse_a_version_the_board_has_not_reached(self) -> None:
        checkpoints = PointInTimeCheckpoints(every=10, max_cards=1_000)
        with pytest.raises(VersionAheadError):
            await fold_to_version(_Log(EVENTS).board_events(), BOARD, 999, checkpoints)


class TestTheMemoryCap:
    async def test_holds_no_more_card_documents_than_allowed(self) -> None:
        # Each checkpoint of this board holds up to 5 cards and the board: 6 documents.
        checkpoints = PointInTimeCheckpoints(every=5, max_cards=20)
        await board_at(
            _Log(EVENTS).board_events(), BOARD, version=len(EVENTS), checkpoints=checkpoints
        )

        assert 0 < checkpoints.held_cards <= 20
        kept = checkpoints.versions(BOARD)
        assert kept[-1] == 45, "the newest is kept"
        gaps = [b - a for a, b in zip([0, *kept], kept, strict=False)]
        assert max(gaps) <= 4 * 5, f"thinned out evenly, not cut at one end: {kept}"

    async def test_lets_the_least_recently_read_board_go_first(self) -> None:
        other = UUID("0b0a4d00-0000-4000-8000-0000000000d2")
        # Six documents a checkpoint: room for four.
        checkpoints = PointInTimeCheckpoints(every=10, max_cards=24)
        await board_at(_Log(EVENTS).board_events(), BOARD, version=20, checkpoints=checkpoints)
        others = story_envelopes(other, _story())
        await board_at(_Log(others).board_events(), other, version=30, checkpoints=checkpoints)

        assert checkpoints.versions(BOARD) == []
        assert checkpoints.versions(other) == [10, 20, 30]
        assert checkpoints.held_cards <= 24

    async def test_keeps_nothing_when_turned_off(self) -> None:
        checkpoints = PointInTimeCheckpoints(every=0, max_cards=1_000)
        await board_at(_Log(EVENTS).board_events(), BOARD, version=20, checkpoints=checkpoints)

        assert checkpoints.versions(BOARD) == []


def _with_clock_skew(events: list[AnyEvent]) -> list[AnyEvent]:
    """Every seventh event stamped 30 s behind its neighbours, as a writer with a slow clock
    would: a prefix ends at the first event after the time asked for, not at the last before."""
    return [
        e.model_copy(update={"occurred_at": e.occurred_at - timedelta(seconds=30)})
        if e.version % 7 == 0
        else e
        for e in events
    ]


class TestCheckpointedReadsAtATime:
    @pytest.mark.parametrize("skewed", [False, True], ids=["clocks in order", "clock skew"])
    @pytest.mark.parametrize("every", [1, 5, 16])
    async def test_give_the_same_board_as_a_fold_from_version_0_at_every_time(
        self, every: int, skewed: bool
    ) -> None:
        events = _with_clock_skew(EVENTS) if skewed else EVENTS
        log = _Log(events)
        checkpoints = PointInTimeCheckpoints(every=every, max_cards=1_000)
        start = min(e.occurred_at for e in events) - timedelta(seconds=1)
        times = [start + timedelta(seconds=s) for s in range(0, len(events) + 3)]
        # Some checkpoints from version reads first, then times backwards and forwards.
        await board_at(log.board_events(), BOARD, version=len(events), checkpoints=checkpoints)
        for at in [*reversed(times), *times]:
            plain = await fold_to_time(log.board_events(), BOARD, at)
            stepped = await fold_to_time(log.board_events(), BOARD, at, checkpoints)

            assert stepped.version == plain.version, f"at {at}"
            assert detail_of(stepped, archived=True) == detail_of(plain, archived=True)

    async def test_a_time_near_the_end_reads_from_a_checkpoint(self) -> None:
        log = _Log(EVENTS)
        checkpoints = PointInTimeCheckpoints(every=10, max_cards=1_000)
        await board_at(log.board_events(), BOARD, version=len(EVENTS), checkpoints=checkpoints)
        log.served = 0

        at = EVENTS[32].occurred_at  # version 33
        projection = await fold_to_time(log.board_events(), BOARD, at, checkpoints)

        assert projection.version == 33
        # From the checkpoint at 30: one page of 7 (31 to 37), where 34 is past `at`.
        assert log.served == 7
