"""Read models: what the projector builds from the log and serves, over HTTP and in WebSocket
snapshots. Each carries the board version it reflects."""

from __future__ import annotations

from pydantic import AwareDatetime

from contracts.base import Contract
from contracts.fields import (
    Assignees,
    BoardId,
    CardId,
    ChecklistItemId,
    ChecklistText,
    ColumnId,
    Count,
    Description,
    Email,
    Labels,
    OrderKey,
    PersonName,
    Role,
    Title,
    UserId,
    Version,
    WipLimit,
    WipPolicy,
)


class ColumnView(Contract):
    column_id: ColumnId
    title: Title
    position: OrderKey
    archived: bool = False
    wip_limit: WipLimit | None = None


class MemberView(Contract):
    user_id: UserId
    role: Role
    email: Email | None = None
    name: PersonName | None = None


class BoardCounts(Contract):
    columns: Count = 0
    open_cards: Count = 0
    archived_cards: Count = 0


class BoardView(Contract):
    """Columns are in board order (position, then id); archived ones are flagged, not dropped."""

    board_id: BoardId
    version: Version
    title: Title
    archived: bool = False
    owner_id: UserId
    columns: list[ColumnView] = []
    members: list[MemberView] = []
    counts: BoardCounts = BoardCounts()
    created_at: AwareDatetime
    updated_at: AwareDatetime
    wip_policy: WipPolicy = "enforce"


class ChecklistItemView(Contract):
    item_id: ChecklistItemId
    text: ChecklistText
    position: OrderKey
    checked: bool = False


class ChecklistProgress(Contract):
    done: Count = 0
    total: Count = 0


class CardView(Contract):
    card_id: CardId
    board_id: BoardId
    column_id: ColumnId
    position: OrderKey
    title: Title
    description: Description = ""
    labels: Labels = []
    assignees: Assignees = []
    due_date: AwareDatetime | None = None
    archived: bool = False
    # In checklist order (position, then id); `progress` is what a card face shows ("3/5").
    checklist: list[ChecklistItemView] = []
    progress: ChecklistProgress = ChecklistProgress()
    # The board version of the last event that changed this card.
    version: Version
    created_at: AwareDatetime
    updated_at: AwareDatetime
    # Comments not deleted: what the card's face shows; the comments are read apart.
    comments: Count = 0


class BoardDetail(Contract):
    """A board with its cards, in column order then card order (position, then id)."""

    board: BoardView
    cards: list[CardView]


class BoardSummary(Contract):
    """One line of a user's board list."""

    board_id: BoardId
    title: Title
    archived: bool
    role: Role
    version: Version
