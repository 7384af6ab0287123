"""A board's state as plain data, so a big board can be loaded without folding its whole log.

Only what cannot be derived is kept: lanes, column order and the open-card count are rebuilt
from the cards and columns on the way back in. `SNAPSHOT_SCHEMA` changes whenever `Board`
does; a snapshot of another schema is ignored and the log is folded instead, except schema 1
(before comments, WIP limits and checklists), which reads as the same board without them: no
comments, columns without a limit, the default policy, empty checklists.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.fields import DEFAULT_WIP_POLICY, Role

from boards.domain.model import Board, Card, ChecklistItem, Column, Comment, Lane

# 2: comments (author and card per comment id), columns' WIP limits and the board's WIP policy,
# cards' checklist items.
SNAPSHOT_SCHEMA = 2
READABLE_SCHEMAS = (1, SNAPSHOT_SCHEMA)


def to_snapshot(board: Board) -> dict[str, Any]:
    return {
        "schema": SNAPSHOT_SCHEMA,
        "board_id": str(board.board_id),
        "version": board.version,
        "title": board.title,
        "archived": board.archived,
        "members": {user: role.value for user, role in board.members.items()},
        "wip_policy": board.wip_policy,
        "columns": [
            [str(c.column_id), c.title, c.position, c.archived, c.wip_limit]
            for c in board.columns.values()
        ],
        "cards": [
            [
                str(c.card_id),
                str(c.column_id),
                c.position,
                c.title,
                c.description,
                list(c.labels),
                list(c.assignees),
                c.due_date.isoformat() if c.due_date else None,
                c.archived,
                [[str(i.item_id), i.text, i.position, i.checked] for i in c.checklist.values()],
            ]
            for c in board.cards.values()
        ],
        "comments": [
            [str(comment_id), str(m.card_id), m.author_id, m.edited, m.deleted]
            for comment_id, m in board.comments.items()
        ],
    }


def from_snapshot(data: dict[str, Any]) -> Board | None:
    """The board, or None when the snapshot is of another schema."""
    if data.get("schema") not in READABLE_SCHEMAS:
        return None
    columns = {}
    for cid, title, position, archived, *wip_limit in data["columns"]:
        # A schema-1 row has no limit at its end.
        columns[UUID(cid)] = Column(UUID(cid), title, position, archived, *wip_limit)
    cards = {}
    lanes: defaultdict[UUID, list[tuple[str, UUID]]] = defaultdict(list)
    for row in data["cards"]:
        cid, column_id, position, title, description, labels, assignees, due, archived = row[:9]
        items = row[9] if len(row) > 9 else []
        card = Card(
            UUID(cid),
            UUID(column_id),
            position,
            title,
            description,
            tuple(labels),
            tuple(assignees),
            datetime.fromisoformat(due) if due else None,
            archived,
            {UUID(i): ChecklistItem(UUID(i), text, key, done) for i, text, key, done in items},
        )
        cards[card.card_id] = card
        if not archived:
            lanes[card.column_id].append((position, card.card_id))
    order: Lane = tuple(
        sorted((c.position, c.column_id) for c in columns.values() if not c.archived)
    )
    return Board(
        board_id=UUID(data["board_id"]),
        version=data["version"],
        title=data["title"],
        archived=data["archived"],
        members={user: Role(role) for user, role in data["members"].items()},
        columns=columns,
        cards=cards,
        column_order=order,
        lanes={column_id: tuple(sorted(lane)) for column_id, lane in lanes.items()},
        open_cards=sum(len(lane) for lane in lanes.values()),
        comments={
            UUID(comment_id): Comment(UUID(card_id), author_id, edited, deleted)
            for comment_id, card_id, author_id, edited, deleted in data.get("comments", ())
        },
        wip_policy=data.get("wip_policy", DEFAULT_WIP_POLICY),
    )
