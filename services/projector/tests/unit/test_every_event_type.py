"""Every event type is applied by the projection, told by the audit history, and shaped into the
same board by every path that serves one, at run time as well as for mypy.

The samples are the contracts' golden documents told as one story (`cardstream_testing.golden`):
one per type, so a type added to `contracts` is checked here at once.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from cardstream_testing.golden import GOLDEN_EVENTS, STORY, story_envelopes
from contracts.events import EVENT_TYPES
from projector.projection import BoardProjection, apply_event
from projector.read.audit import entries_of
from projector.read.ws.snapshots import fold_detail
from projector.store.memory import InMemoryReadStore
from projector.views import detail_of

BOARD = uuid.UUID("0b0a4d00-0000-4000-8000-000000000001")
EVENTS = story_envelopes(BOARD)


def _name(t: type) -> str:
    return t.__name__


def _projection_before(version: int) -> BoardProjection:
    projection = BoardProjection(board_id=str(BOARD))
    for event in EVENTS[: version - 1]:
        apply_event(projection, event)
    return projection


class TestTheProjection:
    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=_name)
    def test_changes_the_documents_with_every_event_type(self, event_type: type) -> None:
        assert event_type.__name__ in GOLDEN_EVENTS, "every event type has a golden sample"
        event = EVENTS[STORY.index(GOLDEN_EVENTS[event_type.__name__])]
        projection = _projection_before(event.version)
        board, cards = copy.deepcopy(projection.board), copy.deepcopy(projection.cards)

        apply_event(projection, event)

        assert projection.version == event.version
        assert projection.board is not None
        changed_board = {
            k: v for k, v in projection.board.items() if k not in ("version", "updated_at")
        }
        before_board = {
            k: v for k, v in (board or {}).items() if k not in ("version", "updated_at")
        }
        assert (changed_board, projection.cards) != (before_board, cards), "it changed nothing"


class TestTheHistory:
    def test_tells_every_event_of_the_story_once_in_its_own_words(self) -> None:
        entries = entries_of(BOARD, EVENTS)

        assert [(e.version, e.type) for e in entries] == [(e.version, e.type) for e in EVENTS]
        # alice, named by the profile her board was created with (the golden BoardCreated's).
        assert all(e.summary.startswith("Alice Example ") for e in entries)
        assert len({e.summary for e in entries}) == len(entries)
        assert {e.type for e in entries} >= {t.__name__ for t in EVENT_TYPES}


class TestEveryPathShapesTheSameBoard:
    async def test_the_read_store_a_point_in_time_fold_and_a_snapshot_agree(self) -> None:
        projection = _projection_before(len(EVENTS) + 1)
        store = InMemoryReadStore()
        assert await store.write([projection]) == []
        raws = [(e.version, e.model_dump_json().encode()) for e in EVENTS]

        stored = await store.board_detail(BOARD)

        assert stored is not None
        assert stored == detail_of(projection) == fold_detail(str(BOARD), raws)
        assert await store.board_detail(BOARD, archived=True) == detail_of(
            projection, archived=True
        )
