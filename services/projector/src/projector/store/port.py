"""The read store port: what the projector needs from wherever its read models live.

Three kinds of data, with one rule each:
- read models (boards, their cards, the per-user index; laid out as `store.layout` says), kept
  per *generation*: a board document changes only when it holds the version just before the one
  written, a card or a user's entry for a board only when it holds an older version; a
  write that loses such a guard is dropped, and the winner's documents stand (it applied the
  same events, so they are the same documents);
- checkpoints, per generation and partition, that only move forward;
- the event archive, one for all generations (it is the log, not a read model): each event
  inserted once under its (board, version), as the JSON it was stored as.

`MongoReadStore` is the adapter; `InMemoryReadStore` a fake for unit tests. One contract suite
(tests/integration/test_read_store_contract.py) runs against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from contracts.envelope import AnyEvent
from contracts.read_models import BoardDetail, BoardSummary, BoardView, CardView

from projector.projection import BoardProjection

Doc = dict[str, Any]
# The read models of generation 0 live in `boards`, `cards`, `memberships`, `checkpoints`,
# `comments`; generation N in `boards_gN` and so on (docs/operations.md, `store.layout`).
GENERATION_COLLECTIONS = ("boards", "cards", "memberships", "checkpoints", "comments")


def collection_name(base: str, generation: int) -> str:
    return base if generation == 0 else f"{base}_g{generation}"


def _strip(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k != "_id"}


def canonical_documents(board: Doc, cards: Iterable[Doc]) -> Doc:
    """A board's stored documents in one shape, whatever store held them: what a rebuild
    compares (every store answers `stored_documents` through this)."""
    return {
        "board": _strip(board),
        "cards": sorted((_strip(c) for c in cards), key=lambda c: str(c["card_id"])),
    }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    partition: int
    # The feed entry id of the last entry applied, and the log epoch it belongs to.
    position: str
    epoch: str | None


@dataclass(frozen=True, slots=True)
class GenerationPointer:
    live: int
    # A rebuild under way fills this generation; compaction keeps what its appliers still need.
    building: int | None = None


class GenerationChangedError(Exception):
    """The generation pointer is not where the caller left it: another rebuild, or a drop."""


class ReadStore(Protocol):
    @property
    def generation(self) -> int:
        """The generation this store reads and writes."""
        ...

    def at(self, generation: int) -> ReadStore:
        """Another store over the same data, at `generation`."""
        ...

    def switch_to(self, generation: int) -> None:
        """Reads and writes go to `generation` from now on (every reader sharing the store)."""
        ...

    async def ensure_indexes(self) -> None: ...

    async def ping(self) -> None:
        """Raises when the store cannot be reached."""
        ...

    # -- applying ------------------------------------------------------------------------------

    async def load(self, board_id: str) -> BoardProjection:
        """The board's documents as stored (an empty projection for an unknown board)."""
        ...

    async def write(
        self, projections: Sequence[BoardProjection], *, archive: bool = True
    ) -> list[BoardProjection]:
        """Stores what the projections applied since they were last written: archive first (unless
        `archive` is off: a rebuild's events are archived already), then cards, memberships,
        comments and notifications, then the board document under its guard. Returns the
        projections whose board document another writer had moved on (reload those)."""
        ...

    async def checkpoint(self, partition: int) -> Checkpoint | None: ...

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Forward only: an older position than the stored one changes nothing."""
        ...

    # -- reading -------------------------------------------------------------------------------

    async def board_version(self, board_id: UUID) -> int | None: ...

    async def board_view(self, board_id: UUID) -> BoardView | None: ...

    async def board_detail(
        self, board_id: UUID, *, archived: bool = False
    ) -> BoardDetail | None: ...

    async def card(self, board_id: UUID, card_id: UUID) -> CardView | None: ...

    async def boards_of(self, user_id: str) -> list[BoardSummary]:
        """The boards the user is an active member of, by title (case-insensitive), then id."""
        ...

    # -- comments and notifications (projector.comments, projector.notifications) ----------------

    async def card_comments(self, board_id: UUID, card_id: UUID) -> list[Doc]:
        """The card's comments that stand, in the order they were made."""
        ...

    async def notifications(self, user_id: str) -> list[Doc]:
        """The user's notifications, newest first."""
        ...

    async def mark_read(self, user_id: str, ids: Sequence[str] | None) -> None:
        """Marks the user's notifications of these ids read (None: all of them)."""
        ...

    # -- the event archive ---------------------------------------------------------------------

    async def archived_events(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        """Versions `first`..`last` (inclusive; None: no bound) the archive holds, in version
        order, at most `count`, parsed (upcast) and checked against board and version."""
        ...

    async def archived_documents(self, board_id: UUID) -> list[tuple[int, Doc | None]]:
        """Every archived event of the board as stored (None where it is not a JSON object), in
        version order: for checking the hash chain without parsing."""
        ...

    async def archived_boards(self) -> list[str]: ...

    async def archived_prefix(self, board_id: UUID, up_to: int) -> int:
        """The highest v <= `up_to` such that the archive holds every version 1..v."""
        ...

    # -- verifying a generation ----------------------------------------------------------------

    async def stored_boards(self) -> list[str]:
        """The ids of the boards this generation has a document of, sorted."""
        ...

    async def board_versions(self) -> dict[str, int]:
        """Every board this generation has a document of, with its version, in one read: for
        finding boards whose log ends below them (`projector.fences`)."""
        ...

    async def stored_documents(self, board_id: str) -> Doc | None:
        """A board's document and its cards in this generation, in a canonical shape (None: no
        board)."""
        ...

    async def user_index(self) -> dict[str, dict[str, Doc]]:
        """The whole per-user index of this generation: user -> board -> `{role, active,
        version}` (for verification: it reads every user)."""
        ...

    # -- generations ---------------------------------------------------------------------------

    async def generation_pointer(self) -> GenerationPointer: ...

    async def begin_generation(self) -> tuple[int, int]:
        """Names a new (or the unfinished) generation as `building`, emptied; (live, new)."""
        ...

    async def switch_generation(self, live: int, new: int) -> None:
        """Makes `new` live if the pointer still says live `live`, building `new`; otherwise
        `GenerationChangedError`."""
        ...

    async def abandon_generation(self, generation: int) -> None:
        """`generation` is no longer being built (its documents stay until dropped)."""
        ...

    async def drop_generation(self, generation: int) -> list[str]:
        """Removes the generation's read models and checkpoints; what it removed (names)."""
        ...
