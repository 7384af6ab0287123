"""The contracts' golden documents as one story of a board, for tests that must see every event
type: one sample per type (`contracts/tests/test_golden.py` sees to that), so a type added to
`contracts` is checked wherever this story is played.

The golden events tell one story in version order; it takes a few things for granted (a member,
columns, a second card) that `TAKEN_FOR_GRANTED` supplies right after the board is created.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from contracts.envelope import AnyEvent, event_adapter, event_envelope
from contracts.events import CardAdded, ColumnAdded, ColumnsRebalanced, Event, MemberAdded
from contracts.fields import Role

GOLDEN = Path(__file__).resolve().parents[4] / "contracts" / "tests" / "golden"

TO_DO = UUID("c2152d85-c695-5c5a-bf1b-623b707c7df6")
DOING = UUID("5edd24fa-cb77-57b7-9831-4c5f0e6dd32a")
DONE = UUID("5cc50d0d-0829-569e-a1c8-defab8f67835")
NEIGHBOUR = UUID("b8247b05-aa58-5f8e-bee8-29acb57e5628")

TAKEN_FOR_GRANTED: tuple[Event, ...] = (
    MemberAdded(user_id="bob", role=Role.EDITOR),
    ColumnAdded(column_id=TO_DO, title="To do", position="a0"),
    ColumnAdded(column_id=DOING, title="Doing", position="a2"),
    ColumnAdded(column_id=DONE, title="Done", position="a3"),
    CardAdded(card_id=NEIGHBOUR, column_id=DOING, position="a0", title="Announce it"),
)


def _golden_events() -> dict[str, Event]:
    envelopes = [event_adapter.validate_json(p.read_bytes()) for p in GOLDEN.glob("events/*.json")]
    envelopes.sort(key=lambda envelope: (envelope.version, envelope.type))
    return {envelope.type: envelope.payload for envelope in envelopes}


GOLDEN_EVENTS = _golden_events()
CREATED, *LATER = GOLDEN_EVENTS.values()
STORY: tuple[Event, ...] = (CREATED, *TAKEN_FOR_GRANTED, *LATER)
# The golden ColumnsRebalanced names two of the four active columns and gives one of them the key
# ColumnRestored gave another: fine for a fold, but decide needs a board it could have made.
CONSISTENT_STORY = tuple(p for p in STORY if not isinstance(p, ColumnsRebalanced))

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def story_envelopes(board_id: UUID, story: tuple[Event, ...] = STORY) -> list[AnyEvent]:
    """The story as the events of one board, versions 1.. in order, a second apart."""
    return [
        event_envelope(
            payload,
            event_id=uuid.uuid5(board_id, str(version)),
            board_id=board_id,
            version=version,
            occurred_at=T0 + timedelta(seconds=version),
            actor="alice",
            command_id=uuid.uuid5(board_id, f"command {version}"),
            correlation_id="golden",
            causation_id="golden",
            epoch="golden",
        )
        for version, payload in enumerate(story, start=1)
    ]
