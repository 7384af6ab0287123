"""Events: what happened to a board. Past tense, no suffix; each carries enough to show what a
field was before and after, so history never has to re-fold the log to say "from X to Y"."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, JsonValue, StringConstraints

from contracts.base import Contract
from contracts.fields import (
    MAX_ASSIGNEES,
    Assignees,
    CardId,
    ChecklistItemId,
    ChecklistText,
    ColumnId,
    CommentBody,
    CommentId,
    Description,
    Email,
    Labels,
    OrderKey,
    PersonName,
    Role,
    Title,
    UserId,
    WipLimit,
    WipPolicy,
)

# Only https: a client renders it as an image source.
AvatarUrl = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https://[^\s]+$")]


class MemberProfile(Contract):
    """Who a member is, as the inviter knew them; every part optional."""

    email: Email | None = None
    name: PersonName | None = None
    avatar_url: AvatarUrl | None = None


class BoardCreated(Contract):
    """schema_version 2: `owner`, the owner's profile as their sign-in gave it (name and email),
    so the owner is named like any member. v1 events have none (upcast on read)."""

    SCHEMA_VERSION: ClassVar[int] = 2

    title: Title
    owner_id: UserId
    owner: MemberProfile | None = None


class BoardRenamed(Contract):
    title: Title
    previous_title: Title


class BoardArchived(Contract):
    pass


class BoardRestored(Contract):
    pass


class ColumnAdded(Contract):
    column_id: ColumnId
    title: Title
    position: OrderKey


class ColumnRenamed(Contract):
    column_id: ColumnId
    title: Title
    previous_title: Title


class ColumnMoved(Contract):
    column_id: ColumnId
    position: OrderKey
    previous_position: OrderKey


class ColumnArchived(Contract):
    column_id: ColumnId


class ColumnRestored(Contract):
    """Back among the active columns at `position`: a fresh key where its old one sorts now, as
    `CardRestored` does (the old key may since have been given to another column)."""

    column_id: ColumnId
    position: OrderKey


class CardAdded(Contract):
    card_id: CardId
    column_id: ColumnId
    position: OrderKey
    title: Title
    description: Description = ""
    labels: Labels = []
    assignees: Assignees = []
    due_date: AwareDatetime | None = None


CardField = Literal["title", "description", "labels", "assignees", "due_date"]


class FieldChange(Contract):
    field: CardField
    before: JsonValue
    after: JsonValue


class CardEdited(Contract):
    card_id: CardId
    changes: list[FieldChange]


class CardMoved(Contract):
    """`after_card_id`/`before_card_id` are the neighbours the card landed between, as resolved
    against the board at that version (not necessarily what the caller named)."""

    card_id: CardId
    from_column_id: ColumnId
    to_column_id: ColumnId
    position: OrderKey
    previous_position: OrderKey
    after_card_id: CardId | None = None
    before_card_id: CardId | None = None


class Placement(Contract):
    id: UUID
    position: OrderKey


class CardsRebalanced(Contract):
    """Fresh, short order keys for a column's open cards, in the same order. Emitted just before
    the move, add or restore that would otherwise have needed an overlong key; it changes no
    card's place, only how the places are written."""

    column_id: ColumnId
    positions: list[Placement]


class ColumnsRebalanced(Contract):
    """The same for the board's active columns."""

    positions: list[Placement]


class CardArchived(Contract):
    card_id: CardId
    column_id: ColumnId


class CardRestored(Contract):
    card_id: CardId
    column_id: ColumnId
    position: OrderKey


class MemberAdded(Contract):
    """schema_version 2: `profile` replaces v1's top-level `email` and `name` (upcast on read by
    `contracts.upcasting`). v1 documents are rejected by this model on purpose: read stored events
    through `contracts.upcasting.parse_event`."""

    SCHEMA_VERSION: ClassVar[int] = 2

    user_id: UserId
    role: Role
    profile: MemberProfile | None = None

    # Transition aid for Python producers still written against v1 (`MemberAdded(email=..)`):
    # only the constructor takes them; documents (JSON, dicts) are v2 or go through the upcaster.
    def __init__(self, *, email: str | None = None, name: str | None = None, **data: Any) -> None:
        if email is not None or name is not None:
            if data.get("profile") is not None:
                raise TypeError("pass either profile or email/name, not both")
            data["profile"] = MemberProfile(email=email, name=name)
        super().__init__(**data)

    # Tells pydantic this is not a custom validator: otherwise it would call it while validating
    # documents too, and v1 documents would parse without their upcaster.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @property
    def email(self) -> str | None:
        return self.profile.email if self.profile else None

    @property
    def name(self) -> str | None:
        return self.profile.name if self.profile else None


class MemberRoleChanged(Contract):
    user_id: UserId
    role: Role
    previous_role: Role


class MemberRemoved(Contract):
    user_id: UserId
    previous_role: Role


# The board members the body mentions, decided when the comment was written (so a reader needs
# no membership list of that moment to know whom it notified).
Mentions = Annotated[list[UserId], Field(max_length=MAX_ASSIGNEES)]


class CommentAdded(Contract):
    """`author_id` is the actor; it is in the payload so the fold keeps it without the envelope."""

    card_id: CardId
    comment_id: CommentId
    author_id: UserId
    body: CommentBody
    mentions: Mentions = []


class CommentEdited(Contract):
    card_id: CardId
    comment_id: CommentId
    body: CommentBody
    mentions: Mentions = []


class CommentDeleted(Contract):
    card_id: CardId
    comment_id: CommentId


class ColumnWipLimitChanged(Contract):
    """`limit: null`: the column has no limit any more."""

    column_id: ColumnId
    limit: WipLimit | None
    previous_limit: WipLimit | None


class WipPolicyChanged(Contract):
    policy: WipPolicy
    previous_policy: WipPolicy


class ChecklistItemAdded(Contract):
    """`rebalanced`: fresh keys for the card's other items, in the same order, when the gap had
    become too narrow for a short key; carried here rather than in an event of its own so that
    adding (or moving) an item stays one event."""

    card_id: CardId
    item_id: ChecklistItemId
    text: ChecklistText
    position: OrderKey
    rebalanced: list[Placement] = []


class ChecklistItemRenamed(Contract):
    card_id: CardId
    item_id: ChecklistItemId
    text: ChecklistText
    previous_text: ChecklistText


class ChecklistItemChecked(Contract):
    card_id: CardId
    item_id: ChecklistItemId


class ChecklistItemUnchecked(Contract):
    card_id: CardId
    item_id: ChecklistItemId


class ChecklistItemMoved(Contract):
    card_id: CardId
    item_id: ChecklistItemId
    position: OrderKey
    previous_position: OrderKey
    rebalanced: list[Placement] = []


class ChecklistItemRemoved(Contract):
    """Carries what the item was, so history can say what went without folding the log."""

    card_id: CardId
    item_id: ChecklistItemId
    text: ChecklistText
    checked: bool


Event = (
    BoardCreated
    | BoardRenamed
    | BoardArchived
    | BoardRestored
    | ColumnAdded
    | ColumnRenamed
    | ColumnMoved
    | ColumnArchived
    | ColumnRestored
    | ColumnsRebalanced
    | CardAdded
    | CardEdited
    | CardMoved
    | CardArchived
    | CardRestored
    | CardsRebalanced
    | MemberAdded
    | MemberRoleChanged
    | MemberRemoved
    | CommentAdded
    | CommentEdited
    | CommentDeleted
    | ColumnWipLimitChanged
    | WipPolicyChanged
    | ChecklistItemAdded
    | ChecklistItemRenamed
    | ChecklistItemChecked
    | ChecklistItemUnchecked
    | ChecklistItemMoved
    | ChecklistItemRemoved
)


def schema_version_of(event_type: type[Contract]) -> int:
    """The schema version new events of this type are written in (1 unless the type says)."""
    version: int = getattr(event_type, "SCHEMA_VERSION", 1)
    return version


EVENT_TYPES: tuple[type[Contract], ...] = (
    BoardCreated,
    BoardRenamed,
    BoardArchived,
    BoardRestored,
    ColumnAdded,
    ColumnRenamed,
    ColumnMoved,
    ColumnArchived,
    ColumnRestored,
    ColumnsRebalanced,
    CardAdded,
    CardEdited,
    CardMoved,
    CardArchived,
    CardRestored,
    CardsRebalanced,
    MemberAdded,
    MemberRoleChanged,
    MemberRemoved,
    CommentAdded,
    CommentEdited,
    CommentDeleted,
    ColumnWipLimitChanged,
    WipPolicyChanged,
    ChecklistItemAdded,
    ChecklistItemRenamed,
    ChecklistItemChecked,
    ChecklistItemUnchecked,
    ChecklistItemMoved,
    ChecklistItemRemoved,
)
