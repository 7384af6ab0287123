"""Every event type changes the board through `evolve`, and every command type reaches its handler
in `decide`, at run time as well as for mypy.

The samples are the contracts' golden documents: one per type, so a type added to `contracts` comes
with its sample (`contracts/tests/test_golden.py` sees to that) and is checked here at once. The
golden events tell one story of a board in version order; it takes a few things for granted
(columns, a second card, a member) that `TAKEN_FOR_GRANTED` supplies right after the board is
created.
"""

from __future__ import annotations

import re
from dataclasses import replace
from importlib import import_module
from pathlib import Path
from uuid import UUID

import pytest
from boards.domain import Board, Context, DomainError, decide
from contracts.commands import COMMAND_TYPES
from contracts.envelope import command_adapter, event_adapter
from contracts.events import (
    EVENT_TYPES,
    CardAdded,
    ColumnAdded,
    ColumnsRebalanced,
    Event,
    MemberAdded,
)
from contracts.fields import Role

# `boards.domain` exports the function `decide` under the module's name: ask for the module itself.
HANDLERS = import_module("boards.domain.decide")
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
# ColumnRestored gave another: fine for evolve, but decide needs a board it could have made.
CONSISTENT_STORY = tuple(p for p in STORY if not isinstance(p, ColumnsRebalanced))


def _name(t: type) -> str:
    return t.__name__


class TestEvolve:
    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=_name)
    def test_changes_the_board_with_every_event_type(self, given, event_type):
        assert event_type.__name__ in GOLDEN_EVENTS, "every event type has a golden sample"
        sample = GOLDEN_EVENTS[event_type.__name__]
        before = given(*STORY[: STORY.index(sample)])

        after = before.given(sample).board

        assert after.version == before.board.version + 1
        assert replace(after, version=before.board.version) != before.board, "it changed nothing"


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _answer(decider, board: Board, command, ctx: Context) -> object:
    try:
        return decider(board, command, ctx)
    except DomainError as error:
        return type(error), error.code, error.message


class TestDecide:
    @pytest.mark.parametrize("command_type", COMMAND_TYPES, ids=_name)
    def test_takes_every_command_type_to_the_handler_named_after_it(self, given, command_type):
        path = GOLDEN / "commands" / f"{command_type.__name__}.json"
        envelope = command_adapter.validate_json(path.read_bytes())
        handler = getattr(HANDLERS, _snake_case(command_type.__name__), None)
        assert callable(handler), f"no handler {_snake_case(command_type.__name__)} in decide"
        # The owner on an active board: nothing stops the command before its handler.
        board, ctx = given(*CONSISTENT_STORY).board, Context("alice", envelope.command_id)

        answer = _answer(decide, board, envelope.payload, ctx)

        assert answer == _answer(handler, board, envelope.payload, ctx)
