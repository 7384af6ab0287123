"""`InMemoryReadStore`: the read store port in dicts, for unit tests.

It keeps the documents of `store.layout` as MongoDB hands them back (`as_stored`: copies, times to
the millisecond) and applies the same guards, so what a test reads from it is what the MongoDB
adapter would answer. The shared contract suite (tests/integration/test_read_store_contract.py)
runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from contracts.envelope import AnyEvent
from contracts.read_models import BoardDetail, BoardSummary, BoardView, CardView
from contracts.upcasting import parse_event

from projector import notifications as notes
from projector.comments import comment_key, comment_writes
from projector.projection import BoardProjection
from projector.store.layout import (
    archived_document,
    archived_json,
    card_id,
    loaded_projection,
    membership_entries,
    membership_id,
)
from projector.store.port import (
    GENERATION_COLLECTIONS,
    Checkpoint,
    GenerationChangedError,
    GenerationPointer,
    canonical_documents,
    collection_name,
)
from projector.streams import UnreadableEventError, checked, parse_id
from projector.views import as_stored, board_detail

Doc = dict[str, Any]


@dataclass
class _Generation:
    boards: dict[str, Doc] = field(default_factory=dict)
    cards: dict[str, Doc] = field(default_factory=dict)
    memberships: dict[str, Doc] = field(default_factory=dict)
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    comments: dict[str, Doc] = field(default_factory=dict)


@dataclass
class _Data:
    generations: dict[int, _Generation] = field(default_factory=dict)
    events: dict[tuple[str, int], str] = field(default_factory=dict)
    notifications: dict[str, Doc] = field(default_factory=dict)
    pointer: GenerationPointer | None = None


class InMemoryReadStore:
    def __init__(self, *, generation: int = 0, data: _Data | None = None) -> None:
        self._data = data if data is not None else _Data()
        self._generation = generation

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def _gen(self) -> _Generation:
        return self._data.generations.setdefault(self._generation, _Generation())

    def at(self, generation: int) -> InMemoryReadStore:
        return InMemoryReadStore(generation=generation, data=self._data)

    def switch_to(self, generation: int) -> None:
        self._generation = generation

    async def ensure_indexes(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    def _cards_of(self, board_id: str) -> list[Doc]:
        prefix = card_id(board_id, "")
        return [as_stored(c) for i, c in sorted(self._gen.cards.items()) if i.startswith(prefix)]

    # -- applying ------------------------------------------------------------------------------

    async def load(self, board_id: str) -> BoardProjection:
        board = self._gen.boards.get(board_id)
        if board is None:
            return BoardProjection(board_id=board_id)
        return loaded_projection(board_id, as_stored(board), self._cards_of(board_id))

    async def write(
        self, projections: Sequence[BoardProjection], *, archive: bool = True
    ) -> list[BoardProjection]:
        dirty = [p for p in projections if p.dirty]
        for p in dirty:
            if archive:
                self._archive(p)
            self._write_cards(p)
            self._write_memberships(p)
            self._write_comments(p)
        stale = []
        for p in dirty:
            if self._write_board(p):
                p.written()
            else:
                stale.append(p)
        return stale

    def _archive(self, p: BoardProjection) -> None:
        for event in p.applied:
            stored = archived_json(event, p.sources.get(event.version))
            self._data.events.setdefault((p.board_id, event.version), stored)

    def _write_cards(self, p: BoardProjection) -> None:
        cards = self._gen.cards
        for card in sorted(p.dirty_cards):
            key, doc = card_id(p.board_id, card), p.cards[card]
            stored = cards.get(key)
            if card not in p.stored_cards:
                cards.setdefault(key, as_stored(doc))
            elif stored is not None and stored["version"] < doc["version"]:
                cards[key] = as_stored(doc)

    def _write_memberships(self, p: BoardProjection) -> None:
        for user, entry in membership_entries(p):
            key = membership_id(user, p.board_id)
            held = self._gen.memberships.setdefault(key, {"version": 0})
            if held["version"] < entry["version"]:
                self._gen.memberships[key] = {"user_id": user, "board_id": p.board_id, **entry}

    def _write_comments(self, p: BoardProjection) -> None:
        comments = self._gen.comments
        for write in comment_writes(p.board_id, p.applied):
            if write.insert is not None:
                comments.setdefault(write.key, as_stored(write.insert))
            held = comments.get(write.key)
            if held is not None and held["version"] < write.latest["version"]:
                comments[write.key] = as_stored({**held, **write.latest})
        for doc in notes.notifications_of(p.board_id, p.applied, *notes.names(p)):
            self._data.notifications.setdefault(doc["_id"], as_stored(doc))

    def _write_board(self, p: BoardProjection) -> bool:
        assert p.board is not None
        boards = self._gen.boards
        stored = boards.get(p.board_id)
        if (stored is None) != (p.stored_version == 0):
            return False
        if stored is not None and stored["version"] != p.stored_version:
            return False
        boards[p.board_id] = as_stored(p.board)
        return True

    async def checkpoint(self, partition: int) -> Checkpoint | None:
        return self._gen.checkpoints.get(partition)

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        stored = self._gen.checkpoints.get(checkpoint.partition)
        if stored is None or parse_id(stored.position) <= parse_id(checkpoint.position):
            self._gen.checkpoints[checkpoint.partition] = checkpoint

    # -- reading -------------------------------------------------------------------------------

    async def board_version(self, board_id: UUID) -> int | None:
        board = self._gen.boards.get(str(board_id))
        return int(board["version"]) if board is not None else None

    async def board_view(self, board_id: UUID) -> BoardView | None:
        board = self._gen.boards.get(str(board_id))
        return BoardView.model_validate(board) if board is not None else None

    async def board_detail(self, board_id: UUID, *, archived: bool = False) -> BoardDetail | None:
        board = self._gen.boards.get(str(board_id))
        if board is None:
            return None
        cards = [c for c in self._cards_of(str(board_id)) if archived or not c["archived"]]
        return board_detail(board, cards, archived=archived)

    async def card(self, board_id: UUID, card: UUID) -> CardView | None:
        doc = self._gen.cards.get(card_id(str(board_id), str(card)))
        return CardView.model_validate(doc) if doc is not None else None

    async def boards_of(self, user_id: str) -> list[BoardSummary]:
        prefix = membership_id(user_id, "")
        summaries = []
        for key, m in self._gen.memberships.items():
            board = self._gen.boards.get(m.get("board_id", ""))
            if not key.startswith(prefix) or not m.get("active") or board is None:
                continue
            summaries.append(
                BoardSummary(
                    board_id=board["board_id"],
                    title=board["title"],
                    archived=board["archived"],
                    role=m["role"],
                    version=board["version"],
                )
            )
        return sorted(summaries, key=lambda s: (s.title.lower(), str(s.board_id)))

    # -- comments and notifications ------------------------------------------------------------

    async def card_comments(self, board_id: UUID, card_id: UUID) -> list[Doc]:
        prefix = comment_key(str(board_id), str(card_id), "")
        found = [
            as_stored(c)
            for k, c in self._gen.comments.items()
            if k.startswith(prefix) and not c["deleted"]
        ]
        return sorted(found, key=lambda d: int(d["created_version"]))

    async def notifications(self, user_id: str) -> list[Doc]:
        prefix = notes.key(user_id, "")
        mine = [as_stored(d) for k, d in self._data.notifications.items() if k.startswith(prefix)]
        return notes.newest_first(mine)

    async def mark_read(self, user_id: str, ids: Sequence[str] | None) -> None:
        prefix = notes.key(user_id, "")
        keys = (
            [k for k in self._data.notifications if k.startswith(prefix)]
            if ids is None
            else [notes.key(user_id, i) for i in ids]
        )
        for k in keys:
            if k in self._data.notifications:
                self._data.notifications[k]["read"] = True

    # -- the event archive ---------------------------------------------------------------------

    def _archived(self, board_id: UUID) -> list[tuple[int, str]]:
        wanted = str(board_id)
        return sorted((v, doc) for (b, v), doc in self._data.events.items() if b == wanted)

    async def archived_events(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        end = first + count - 1 if last is None else min(last, first + count - 1)
        found = [(v, d) for v, d in self._archived(board_id) if first <= v <= end]
        return [_parsed(version, doc, board_id) for version, doc in found]

    async def archived_documents(self, board_id: UUID) -> list[tuple[int, Doc | None]]:
        return [(version, archived_document(doc)) for version, doc in self._archived(board_id)]

    async def archived_boards(self) -> list[str]:
        return sorted({board for board, _ in self._data.events})

    async def archived_prefix(self, board_id: UUID, up_to: int) -> int:
        versions = {version for version, _ in self._archived(board_id)}
        prefix = 0
        while prefix < up_to and prefix + 1 in versions:
            prefix += 1
        return prefix

    # -- verifying a generation ----------------------------------------------------------------

    async def stored_boards(self) -> list[str]:
        return sorted(self._gen.boards)

    async def board_versions(self) -> dict[str, int]:
        return {board_id: int(board["version"]) for board_id, board in self._gen.boards.items()}

    async def stored_documents(self, board_id: str) -> Doc | None:
        board = self._gen.boards.get(board_id)
        if board is None:
            return None
        return canonical_documents(as_stored(board), self._cards_of(board_id))

    async def user_index(self) -> dict[str, dict[str, Doc]]:
        index: dict[str, dict[str, Doc]] = {}
        for m in self._gen.memberships.values():
            if m["version"] > 0:
                entry = {"role": m["role"], "active": m["active"], "version": m["version"]}
                index.setdefault(m["user_id"], {})[m["board_id"]] = entry
        return index

    # -- generations ---------------------------------------------------------------------------

    async def generation_pointer(self) -> GenerationPointer:
        return self._data.pointer or GenerationPointer(live=0)

    async def begin_generation(self) -> tuple[int, int]:
        pointer = await self.generation_pointer()
        new = pointer.building or pointer.live + 1
        self._data.generations.pop(new, None)
        self._data.pointer = GenerationPointer(pointer.live, new)
        return pointer.live, new

    async def switch_generation(self, live: int, new: int) -> None:
        if await self.generation_pointer() != GenerationPointer(live, new):
            raise GenerationChangedError("the generation pointer changed under the rebuild")
        self._data.pointer = GenerationPointer(new)

    async def abandon_generation(self, generation: int) -> None:
        pointer = await self.generation_pointer()
        if pointer.building == generation:
            self._data.pointer = GenerationPointer(pointer.live)

    async def drop_generation(self, generation: int) -> list[str]:
        dropped = self._data.generations.pop(generation, None)
        if dropped is None:
            return []
        return [collection_name(base, generation) for base in GENERATION_COLLECTIONS]


def _parsed(version: int, doc: str, board_id: UUID) -> AnyEvent:
    try:
        event = parse_event(doc)
    except ValueError as exc:
        raise UnreadableEventError(f"archived event {board_id}:{version} is unreadable") from exc
    return checked(event, board_id, version)
