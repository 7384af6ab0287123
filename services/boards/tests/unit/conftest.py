"""Given-when-then in events for the boards domain.

    given(BoardCreated(title="Plans", owner_id="alice"), ColumnAdded(...))
        .when(AddCard(column_id=todo, title="Write"), actor="alice")
        .then(CardAdded(...))

`given` folds a history of event payloads (versions 1..n) into a board; `when` decides one command
against it; the outcome is then checked for exactly these events (`then`), for some events the
board takes (`then_accepted`), for no events (`then_nothing`), or for a refusal of one error class
and code (`then_rejects`). Only a `DomainError` counts as a refusal: anything else escapes `when`
and fails the test where it happened.

Tests import nothing from here (pytest runs with `--import-mode=importlib`); they ask for the
`given` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import pytest
from boards.domain import Board, Context, DomainError, decide, fold
from contracts.commands import Command
from contracts.envelope import AnyEvent, event_envelope
from contracts.events import Event, MemberProfile

BOARD_ID = UUID("b0a2d000-0000-4000-8000-000000000001")
DEFAULT_COMMAND_ID = UUID("c0de0000-0000-4000-8000-000000000001")
_EPOCH_START = datetime(2024, 1, 1, tzinfo=UTC)


def _envelope(
    payload: Event, *, board_id: UUID, version: int, actor: str, command_id: UUID
) -> AnyEvent:
    return event_envelope(
        payload,
        event_id=uuid5(board_id, f"event-{version}"),
        board_id=board_id,
        version=version,
        occurred_at=_EPOCH_START + timedelta(seconds=version),
        actor=actor,
        command_id=command_id,
        correlation_id="test",
        causation_id="test",
        epoch="0",
    )


@dataclass(frozen=True, slots=True)
class Scenario:
    """A board as folded from its history, ready to decide a command or to take more history."""

    board: Board
    history: tuple[AnyEvent, ...] = ()

    def given(
        self, *payloads: Event, actor: str = "alice", command_id: UUID = DEFAULT_COMMAND_ID
    ) -> Scenario:
        board_id, start = self.board.board_id, self.board.version + 1
        envelopes = tuple(
            _envelope(p, board_id=board_id, version=v, actor=actor, command_id=command_id)
            for v, p in enumerate(payloads, start=start)
        )
        return Scenario(fold(self.board, envelopes), self.history + envelopes)

    def when(
        self,
        command: Command,
        *,
        actor: str = "alice",
        command_id: UUID = DEFAULT_COMMAND_ID,
        profile: MemberProfile | None = None,
    ) -> Outcome:
        try:
            events = decide(self.board, command, Context(actor, command_id, profile))
        except DomainError as error:
            return Outcome(self, actor, command_id, error=error)
        return Outcome(self, actor, command_id, events=tuple(events))


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: Scenario
    actor: str
    command_id: UUID
    events: tuple[Event, ...] = ()
    error: DomainError | None = None

    def then(self, *expected: Event) -> Outcome:
        self._raise_if_refused(f"expected {list(expected)}")
        assert list(self.events) == list(expected)
        return self

    def then_accepted(self) -> tuple[Event, ...]:
        """The command changed the board: it caused events, whichever they are, and the board
        takes them. For a command that is accepted and changes nothing, see `then_nothing`."""
        assert self.after.board.version > self.scenario.board.version, (
            "expected the command to change the board, but it caused no event"
        )
        return self.events

    def then_nothing(self) -> Outcome:
        """The board already is as asked: the command is accepted and causes no event."""
        return self.then()

    def then_rejects(self, error_class: type[DomainError], code: str | None = None) -> DomainError:
        """Exactly this class (not a subclass); the code defaults to the class's own."""
        expected_code = error_class.code if code is None else code
        assert self.error is not None, (
            f"expected {error_class.__name__}({expected_code!r}), but got events {self.events}"
        )
        assert (type(self.error), self.error.code) == (error_class, expected_code), (
            f"refused with {type(self.error).__name__}({self.error.code!r}): {self.error.message}"
        )
        return self.error

    @property
    def after(self) -> Scenario:
        """The scenario with the decided events folded in, to check what the board became."""
        self._raise_if_refused("expected events")
        return self.scenario.given(*self.events, actor=self.actor, command_id=self.command_id)

    def _raise_if_refused(self, expected: str) -> None:
        if self.error is not None:
            raise AssertionError(
                f"{expected}, but the command was refused: "
                f"{type(self.error).__name__}(code={self.error.code!r}) {self.error.message}"
            ) from self.error

    @property
    def event(self) -> Event:
        self.then_accepted()
        assert len(self.events) == 1, self.events
        return self.events[0]


def given_history(*payloads: Event, board_id: UUID = BOARD_ID) -> Scenario:
    return Scenario(Board(board_id)).given(*payloads)


@pytest.fixture(scope="session")
def given() -> Callable[..., Scenario]:
    return given_history
