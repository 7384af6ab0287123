"""Realistic board histories for the `catchup` benchmark, written where the boards service writes.

A history is what people do to a board: a board with four columns and three other members, then
cards added, moved (most often), edited, archived and restored, the odd rename, role change and
rebalance. Each history is valid (every event applies to the board its earlier events made) and
deterministic for its board id, so two runs rebuild the same read models.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from cardstream_testing.feeds import envelopes
from contracts.envelope import event_adapter
from contracts.events import (
    BoardCreated,
    BoardRenamed,
    CardAdded,
    CardArchived,
    CardEdited,
    CardMoved,
    CardRestored,
    CardsRebalanced,
    ColumnAdded,
    ColumnRenamed,
    Event,
    FieldChange,
    MemberAdded,
    MemberRoleChanged,
    Placement,
)
from contracts.fields import Role
from contracts.streams import BOARD_FIELD, EVENT_FIELD, VERSION_FIELD, StreamKeys, board_entry_id
from redis.asyncio import Redis

EPOCH = "bench-epoch"
OWNER = "owner"
COLUMNS = 4
MEMBERS = (("editor-1", Role.EDITOR), ("editor-2", Role.EDITOR), ("viewer-1", Role.VIEWER))
LABELS = ("bug", "feature", "design", "backend", "frontend", "urgent")
# Stream commands per pipeline round trip while writing histories.
PIPELINE_COMMANDS = 4_000
_WORDS = ("plan", "ship", "review", "fix", "draft", "test", "measure", "call", "deploy", "update")


def _key(n: int) -> str:
    return f"a{n:07d}"


@dataclass
class _Card:
    card_id: UUID
    column: int
    position: str
    title: str
    archived: bool = False


@dataclass
class _Board:
    board_id: UUID
    rng: random.Random
    columns: list[UUID]
    column_titles: list[str]
    title: str = "Board"
    cards: list[_Card] = field(default_factory=list)
    roles: dict[str, Role] = field(default_factory=dict)
    keys_used: int = 0

    def next_key(self) -> str:
        self.keys_used += 1
        return _key(self.keys_used)

    def open_cards(self) -> list[_Card]:
        return [c for c in self.cards if not c.archived]

    def sentence(self, words: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(words))


def _add(b: _Board) -> Event:
    column = b.rng.randrange(COLUMNS)
    card = _Card(uuid.UUID(int=b.rng.getrandbits(128)), column, b.next_key(), b.sentence(4))
    b.cards.append(card)
    return CardAdded(
        card_id=card.card_id,
        column_id=b.columns[column],
        position=card.position,
        title=card.title,
        description=b.sentence(b.rng.randrange(0, 30)),
        labels=b.rng.sample(LABELS, b.rng.randrange(0, 3)),
        assignees=b.rng.sample([OWNER, *(user for user, _ in MEMBERS)], b.rng.randrange(0, 2)),
    )


def _move(b: _Board) -> Event:
    card = b.rng.choice(b.open_cards())
    target = b.rng.choice([c for c in range(COLUMNS) if c != card.column])
    before, position = card.position, b.next_key()
    moved = CardMoved(
        card_id=card.card_id,
        from_column_id=b.columns[card.column],
        to_column_id=b.columns[target],
        position=position,
        previous_position=before,
    )
    card.column, card.position = target, position
    return moved


def _edit(b: _Board) -> Event:
    card = b.rng.choice(b.open_cards())
    if b.rng.random() < 0.5:
        title = b.sentence(4)
        change = FieldChange(field="title", before=card.title, after=title)
        card.title = title
    else:
        change = FieldChange(field="description", before="", after=b.sentence(20))
    return CardEdited(card_id=card.card_id, changes=[change])


def _archive(b: _Board) -> Event:
    card = b.rng.choice(b.open_cards())
    card.archived = True
    return CardArchived(card_id=card.card_id, column_id=b.columns[card.column])


def _restore(b: _Board) -> Event:
    archived = [c for c in b.cards if c.archived]
    if not archived:
        return _add(b)
    card = b.rng.choice(archived)
    card.archived, card.position = False, b.next_key()
    return CardRestored(
        card_id=card.card_id, column_id=b.columns[card.column], position=card.position
    )


def _rename_board(b: _Board) -> Event:
    before, b.title = b.title, b.sentence(3)
    return BoardRenamed(title=b.title, previous_title=before)


def _rename_column(b: _Board) -> Event:
    column = b.rng.randrange(COLUMNS)
    before = b.column_titles[column]
    b.column_titles[column] = b.sentence(2)
    return ColumnRenamed(
        column_id=b.columns[column], title=b.column_titles[column], previous_title=before
    )


def _change_role(b: _Board) -> Event:
    user = b.rng.choice([user for user, _ in MEMBERS])
    before = b.roles[user]
    b.roles[user] = Role.VIEWER if before is Role.EDITOR else Role.EDITOR
    return MemberRoleChanged(user_id=user, role=b.roles[user], previous_role=before)


def _rebalance(b: _Board) -> Event:
    column = b.rng.randrange(COLUMNS)
    cards = sorted(
        (c for c in b.open_cards() if c.column == column), key=lambda c: (c.position, c.card_id)
    )
    if not cards:
        return _add(b)
    for i, card in enumerate(cards):
        card.position = _key(i + 1)
    return CardsRebalanced(
        column_id=b.columns[column],
        positions=[Placement(id=c.card_id, position=c.position) for c in cards],
    )


# How often each thing happens once the board is set up; moves dominate, as on a real board.
_STEPS: Sequence[tuple[float, Callable[[_Board], Event]]] = (
    (0.25, _add),
    (0.40, _move),
    (0.20, _edit),
    (0.05, _archive),
    (0.03, _restore),
    (0.02, _rename_board),
    (0.02, _rename_column),
    (0.02, _change_role),
    (0.01, _rebalance),
)


def board_history(board_id: UUID, count: int) -> list[Event]:
    """`count` events of one board (at least the set-up: creation, columns, members)."""
    rng = random.Random(board_id.int)
    columns = [uuid.uuid5(board_id, f"column {i}") for i in range(COLUMNS)]
    board = _Board(board_id, rng, columns, [f"column {i}" for i in range(COLUMNS)])
    events: list[Event] = [BoardCreated(title=board.title, owner_id=OWNER)]
    events += [
        ColumnAdded(column_id=column, title=board.column_titles[i], position=_key(i + 1))
        for i, column in enumerate(columns)
    ]
    for user, role in MEMBERS:
        board.roles[user] = role
        events.append(MemberAdded(user_id=user, role=role, email=f"{user}@example.com", name=user))
    weights = [weight for weight, _ in _STEPS]
    steps = [step for _, step in _STEPS]
    while len(events) < count:
        step = rng.choices(steps, weights)[0]
        events.append(step(board) if board.open_cards() else _add(board))
    return events


def board_ids(count: int) -> list[UUID]:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "https://cardstream.invalid/bench/catchup")
    return [uuid.uuid5(namespace, f"board {i}") for i in range(count)]


async def write_histories(
    redis: Redis, keys: StreamKeys, boards: Sequence[UUID], per_board: int
) -> dict[int, list[str]]:
    """Writes every board's history to its log and its partition's feed, the boards interleaved
    version by version (as live traffic interleaves them); returns each partition's feed entry
    ids in order. Pipelined: this is set-up, not what is measured."""
    encoded = [
        [event_adapter.dump_json(e) for e in envelopes(b, board_history(b, per_board), epoch=EPOCH)]
        for b in boards
    ]
    fed: dict[int, list[str]] = {keys.partition_of(b): [] for b in boards}
    async with redis.pipeline(transaction=False) as pipe:
        for partition in fed:
            pipe.set(keys.epoch(partition), EPOCH, nx=True)
        await pipe.execute()
        for index in range(per_board):
            version = index + 1
            for board, events in zip(boards, encoded, strict=True):
                raw = events[index]
                pipe.xadd(keys.board_log(board), {EVENT_FIELD: raw}, id=board_entry_id(version))
                pipe.xadd(
                    keys.feed(keys.partition_of(board)),
                    {BOARD_FIELD: str(board), VERSION_FIELD: version, EVENT_FIELD: raw},
                )
            if len(pipe) >= PIPELINE_COMMANDS or index == per_board - 1:
                _collect_feed_ids(await pipe.execute(), keys, boards, fed)
        for board in boards:
            pipe.set(keys.board_head(board), per_board)
        await pipe.execute()
    return fed


def _collect_feed_ids(
    replies: list[Any], keys: StreamKeys, boards: Sequence[UUID], fed: dict[int, list[str]]
) -> None:
    # Replies come in pairs (log entry, feed entry), the boards in the order they were written.
    for i, feed_id in enumerate(replies[1::2]):
        board = boards[i % len(boards)]
        fed[keys.partition_of(board)].append(feed_id.decode())
