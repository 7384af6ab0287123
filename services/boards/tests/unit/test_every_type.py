"""Every event type changes the board through `evolve`, and every command type reaches its handler
in `decide`, at run time as well as for mypy.

The samples are the contracts' golden documents told as one story (`cardstream_testing.golden`):
one per type, so a type added to `contracts` is checked here at once.
"""

from __future__ import annotations

import re
from dataclasses import replace
from importlib import import_module

import pytest
from boards.domain import Board, Context, DomainError, decide
from cardstream_testing.golden import CONSISTENT_STORY, GOLDEN, GOLDEN_EVENTS, STORY
from contracts.commands import COMMAND_TYPES
from contracts.envelope import command_adapter
from contracts.events import EVENT_TYPES

# `boards.domain` exports the function `decide` under the module's name: ask for the module itself.
HANDLERS = import_module("boards.domain.decide")


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
