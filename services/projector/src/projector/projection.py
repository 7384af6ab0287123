"""The board projection: a board document and its cards' documents, advanced event by event.

A `BoardProjection` is a working copy: `apply_event` changes it in place and remembers which
documents it touched, so the writer sends only those. Every value comes from the events alone
(times are the events' `occurred_at`), so any process applying the same events builds the same
documents, byte for byte; that is what makes redelivery and rebuilds safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, assert_never

from contracts.envelope import AnyEvent

from contracts import events as ev
from projector.checklists import ChecklistEvent, apply_checklist_event
from projector.comments import count_comment

Doc = dict[str, Any]


class ProjectionError(Exception):
    """The event cannot be applied to this board (a poison event, or a board we never saw)."""


@dataclass
class BoardProjection:
    board_id: str
    board: Doc | None = None
    cards: dict[str, Doc] = field(default_factory=dict)
    # The version the stored board document holds: the guard of the next write.
    stored_version: int = 0
    # Cards that have a stored document (the writer inserts the others before updating them).
    stored_cards: set[str] = field(default_factory=set)
    dirty_cards: set[str] = field(default_factory=set)
    # user id -> membership document (role, active), for the per-user index.
    dirty_members: dict[str, Doc] = field(default_factory=dict)
    applied: list[AnyEvent] = field(default_factory=list)
    # The stored JSON of applied events, by version, where the caller had it: the archive keeps
    # that document, not a re-dump of the (possibly upcast) model, since the hash chain is over it.
    sources: dict[int, bytes] = field(default_factory=dict)
    # (version, event id, hash) of the last event applied, once known: what a redelivery of
    # that version, and the next event's `prev_hash`, must agree with (consumer.py).
    last: tuple[int, str, str | None] | None = None
    # The latest `occurred_at` of the events applied: a prefix of the log lies wholly at or
    # before a time only if this does (writers' clocks promise order only within a command).
    latest_at: datetime | None = None

    @property
    def version(self) -> int:
        return int(self.board["version"]) if self.board else 0

    def written(self) -> None:
        """The writer stored everything: the stored version catches up, nothing is dirty."""
        self.stored_version = self.version
        self.stored_cards |= self.dirty_cards
        self.dirty_cards.clear()
        self.dirty_members.clear()
        self.applied.clear()
        self.sources.clear()

    @property
    def torn(self) -> bool:
        """Cards stored ahead of the board document: a writer stopped between the two writes
        (cards go first). Such a projection must be folded again from the log."""
        return any(card["version"] > self.stored_version for card in self.cards.values())

    @property
    def dirty(self) -> bool:
        return self.version != self.stored_version


def card_order_key(card: Doc) -> tuple[str, str]:
    return (card["position"], card["card_id"])


def _sort_columns(board: Doc) -> None:
    board["columns"].sort(key=lambda c: (c["position"], c["column_id"]))


def _column(board: Doc, column_id: str) -> Doc:
    for column in board["columns"]:
        if column["column_id"] == column_id:
            return column  # type: ignore[no-any-return]
    raise ProjectionError(f"column {column_id} is not on board {board['board_id']}")


def _card(p: BoardProjection, card_id: str) -> Doc:
    try:
        card = p.cards[card_id]
    except KeyError:
        raise ProjectionError(f"card {card_id} is not on board {p.board_id}") from None
    p.dirty_cards.add(card_id)
    return card


def _count(p: BoardProjection, **deltas: int) -> None:
    assert p.board is not None
    counts = p.board["counts"]
    for name, delta in deltas.items():
        counts[name] += delta


def _member(p: BoardProjection, user_id: str, role: str | None) -> None:
    assert p.board is not None
    members = [m for m in p.board["members"] if m["user_id"] != user_id]
    if role is not None:
        previous: Doc = next((m for m in p.board["members"] if m["user_id"] == user_id), {})
        members.append({**previous, "user_id": user_id, "role": role})
    p.board["members"] = sorted(members, key=lambda m: m["user_id"])
    p.dirty_members[user_id] = {"role": role, "active": role is not None}


def apply_board_created(p: BoardProjection, e: ev.BoardCreated, at: datetime) -> None:
    if p.board is not None:
        raise ProjectionError(f"board {p.board_id} was created twice")
    p.board = {
        "board_id": p.board_id,
        "version": 0,
        "title": e.title,
        "archived": False,
        "owner_id": e.owner_id,
        "columns": [],
        "members": [],
        "counts": {"columns": 0, "open_cards": 0, "archived_cards": 0},
        "created_at": at,
        "updated_at": at,
    }
    _member(p, e.owner_id, "owner")
    if e.owner is not None:
        owner = next(m for m in p.board["members"] if m["user_id"] == e.owner_id)
        owner.update({"email": e.owner.email, "name": e.owner.name})


def apply_board_renamed(p: BoardProjection, e: ev.BoardRenamed, at: datetime) -> None:
    assert p.board is not None
    p.board["title"] = e.title


def apply_board_archived(p: BoardProjection, e: ev.BoardArchived, at: datetime) -> None:
    assert p.board is not None
    p.board["archived"] = True


def apply_board_restored(p: BoardProjection, e: ev.BoardRestored, at: datetime) -> None:
    assert p.board is not None
    p.board["archived"] = False


def apply_column_added(p: BoardProjection, e: ev.ColumnAdded, at: datetime) -> None:
    assert p.board is not None
    p.board["columns"].append(
        {"column_id": str(e.column_id), "title": e.title, "position": e.position, "archived": False}
    )
    _sort_columns(p.board)
    _count(p, columns=1)


def apply_column_renamed(p: BoardProjection, e: ev.ColumnRenamed, at: datetime) -> None:
    assert p.board is not None
    _column(p.board, str(e.column_id))["title"] = e.title


def apply_column_moved(p: BoardProjection, e: ev.ColumnMoved, at: datetime) -> None:
    assert p.board is not None
    _column(p.board, str(e.column_id))["position"] = e.position
    _sort_columns(p.board)


def apply_column_archived(p: BoardProjection, e: ev.ColumnArchived, at: datetime) -> None:
    assert p.board is not None
    column = _column(p.board, str(e.column_id))
    if not column["archived"]:
        column["archived"] = True
        _count(p, columns=-1)


def apply_column_restored(p: BoardProjection, e: ev.ColumnRestored, at: datetime) -> None:
    # Its cards stayed in it, open, while it was archived: they show again with it.
    assert p.board is not None
    column = _column(p.board, str(e.column_id))
    if column["archived"]:
        column["archived"] = False
        _count(p, columns=1)
    column["position"] = e.position
    _sort_columns(p.board)


def apply_columns_rebalanced(p: BoardProjection, e: ev.ColumnsRebalanced, at: datetime) -> None:
    assert p.board is not None
    for placement in e.positions:
        _column(p.board, str(placement.id))["position"] = placement.position
    _sort_columns(p.board)


def apply_card_added(p: BoardProjection, e: ev.CardAdded, at: datetime) -> None:
    card_id = str(e.card_id)
    if card_id in p.cards:
        raise ProjectionError(f"card {card_id} was added twice")
    p.cards[card_id] = {
        "card_id": card_id,
        "board_id": p.board_id,
        "column_id": str(e.column_id),
        "position": e.position,
        "title": e.title,
        "description": e.description,
        "labels": list(e.labels),
        "assignees": list(e.assignees),
        "due_date": e.due_date,
        "archived": False,
        "version": 0,
        "created_at": at,
        "updated_at": at,
    }
    p.dirty_cards.add(card_id)
    _count(p, open_cards=1)


def apply_card_edited(p: BoardProjection, e: ev.CardEdited, at: datetime) -> None:
    card = _card(p, str(e.card_id))
    for change in e.changes:
        value: Any = change.after
        if change.field == "due_date" and value is not None:
            value = datetime.fromisoformat(str(value))
        card[change.field] = value


def apply_card_moved(p: BoardProjection, e: ev.CardMoved, at: datetime) -> None:
    card = _card(p, str(e.card_id))
    card["column_id"] = str(e.to_column_id)
    card["position"] = e.position


def apply_cards_rebalanced(p: BoardProjection, e: ev.CardsRebalanced, at: datetime) -> None:
    for placement in e.positions:
        _card(p, str(placement.id))["position"] = placement.position


def apply_card_archived(p: BoardProjection, e: ev.CardArchived, at: datetime) -> None:
    card = _card(p, str(e.card_id))
    if not card["archived"]:
        card["archived"] = True
        _count(p, open_cards=-1, archived_cards=1)


def apply_card_restored(p: BoardProjection, e: ev.CardRestored, at: datetime) -> None:
    card = _card(p, str(e.card_id))
    if card["archived"]:
        _count(p, open_cards=1, archived_cards=-1)
    card["archived"] = False
    card["column_id"] = str(e.column_id)
    card["position"] = e.position


def apply_member_added(p: BoardProjection, e: ev.MemberAdded, at: datetime) -> None:
    _member(p, e.user_id, e.role.value)
    assert p.board is not None
    member = next(m for m in p.board["members"] if m["user_id"] == e.user_id)
    member.update({"email": e.email, "name": e.name})


def apply_member_role_changed(p: BoardProjection, e: ev.MemberRoleChanged, at: datetime) -> None:
    _member(p, e.user_id, e.role.value)


def apply_member_removed(p: BoardProjection, e: ev.MemberRemoved, at: datetime) -> None:
    _member(p, e.user_id, None)


def apply_column_wip_limit_changed(
    p: BoardProjection, e: ev.ColumnWipLimitChanged, at: datetime
) -> None:
    assert p.board is not None
    _column(p.board, str(e.column_id))["wip_limit"] = e.limit


def apply_wip_policy_changed(p: BoardProjection, e: ev.WipPolicyChanged, at: datetime) -> None:
    # Boards projected before the policy existed have no key: the read model's default (enforce).
    assert p.board is not None
    p.board["wip_policy"] = e.policy


def apply_checklist_changed(p: BoardProjection, e: ChecklistEvent, at: datetime) -> None:
    card = _card(p, str(e.card_id))
    try:
        apply_checklist_event(card, e)
    except KeyError as error:
        raise ProjectionError(f"{error.args[0]} {e.card_id} of board {p.board_id}") from None


def _apply_payload(p: BoardProjection, payload: ev.Event, at: datetime) -> None:  # noqa: C901
    # A match, not a table: an event type added to `contracts.events` and forgotten here is a
    # type error (assert_never), not a KeyError in production.
    match payload:
        case ev.BoardCreated():
            apply_board_created(p, payload, at)
        case ev.BoardRenamed():
            apply_board_renamed(p, payload, at)
        case ev.BoardArchived():
            apply_board_archived(p, payload, at)
        case ev.BoardRestored():
            apply_board_restored(p, payload, at)
        case ev.ColumnAdded():
            apply_column_added(p, payload, at)
        case ev.ColumnRenamed():
            apply_column_renamed(p, payload, at)
        case ev.ColumnMoved():
            apply_column_moved(p, payload, at)
        case ev.ColumnArchived():
            apply_column_archived(p, payload, at)
        case ev.ColumnRestored():
            apply_column_restored(p, payload, at)
        case ev.ColumnsRebalanced():
            apply_columns_rebalanced(p, payload, at)
        case ev.CardAdded():
            apply_card_added(p, payload, at)
        case ev.CardEdited():
            apply_card_edited(p, payload, at)
        case ev.CardMoved():
            apply_card_moved(p, payload, at)
        case ev.CardsRebalanced():
            apply_cards_rebalanced(p, payload, at)
        case ev.CardArchived():
            apply_card_archived(p, payload, at)
        case ev.CardRestored():
            apply_card_restored(p, payload, at)
        case ev.MemberAdded():
            apply_member_added(p, payload, at)
        case ev.MemberRoleChanged():
            apply_member_role_changed(p, payload, at)
        case ev.MemberRemoved():
            apply_member_removed(p, payload, at)
        case ev.CommentAdded() | ev.CommentEdited() | ev.CommentDeleted():
            # The comments themselves are documents of their own, written from `applied`
            # (projector.comments); the card keeps their count.
            count_comment(_card(p, str(payload.card_id)), payload)
        case ev.ColumnWipLimitChanged():
            apply_column_wip_limit_changed(p, payload, at)
        case ev.WipPolicyChanged():
            apply_wip_policy_changed(p, payload, at)
        case (
            ev.ChecklistItemAdded()
            | ev.ChecklistItemRenamed()
            | ev.ChecklistItemChecked()
            | ev.ChecklistItemUnchecked()
            | ev.ChecklistItemMoved()
            | ev.ChecklistItemRemoved()
        ):
            apply_checklist_changed(p, payload, at)
        case _:
            assert_never(payload)


def apply_event(p: BoardProjection, event: AnyEvent, *, source: bytes | None = None) -> None:
    """Applies the event that follows the projection's version; the caller checks the order.
    `source`: the event's JSON as stored, for the archive (see `BoardProjection.sources`)."""
    if event.version != p.version + 1:
        raise ProjectionError(f"event {event.version} does not follow version {p.version}")
    if p.board is None and not isinstance(event.payload, ev.BoardCreated):
        raise ProjectionError(f"board {p.board_id} has no BoardCreated before {event.version}")
    _apply_payload(p, event.payload, event.occurred_at)
    assert p.board is not None
    for card_id in _cards_named(event):
        if card_id in p.cards:
            p.cards[card_id]["version"] = event.version
            p.cards[card_id]["updated_at"] = event.occurred_at
    for user_id in _members_named(event):
        # The membership document reflects the event that last changed it, whatever the batch.
        p.dirty_members[user_id]["version"] = event.version
    p.board["version"] = event.version
    p.board["updated_at"] = event.occurred_at
    if p.latest_at is None or event.occurred_at > p.latest_at:
        p.latest_at = event.occurred_at
    p.applied.append(event)
    if source is not None:
        p.sources[event.version] = source


def _members_named(event: AnyEvent) -> list[str]:
    payload = event.payload
    if isinstance(payload, ev.BoardCreated):
        return [payload.owner_id]
    if isinstance(payload, ev.MemberAdded | ev.MemberRoleChanged | ev.MemberRemoved):
        return [payload.user_id]
    return []


def _cards_named(event: AnyEvent) -> list[str]:
    payload = event.payload
    if isinstance(payload, ev.CardsRebalanced):
        return [str(placement.id) for placement in payload.positions]
    card_id = getattr(payload, "card_id", None)
    return [str(card_id)] if card_id is not None else []
