"""`MongoReadStore`: read models, the per-user index, the event archive and checkpoints in MongoDB.

No multi-document transactions: every write is idempotent on its own. A board document changes
only when it holds the version just before the one being written; card and membership documents
only when they hold an older version; events are inserted once under a (board, version) key. A
write that loses such a guard to a concurrent writer is dropped, and that writer's documents
stand: it applied the same events, so they are the same documents.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from contracts.envelope import AnyEvent
from contracts.read_models import BoardDetail, BoardSummary, BoardView, CardView
from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from projector.projections import BoardProjection, card_order_key

Doc = dict[str, Any]
DUPLICATE_KEY = 11000


class StaleProjectionError(Exception):
    """Another writer moved the board document on: reload it and apply again."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    partition: int
    # The feed entry id of the last entry applied, and the log epoch it belongs to.
    position: str
    epoch: str | None


def _stream_id(position: str) -> tuple[int, int]:
    ms, _, seq = position.partition("-")
    return int(ms), int(seq or 0)


# The read models are kept per generation (docs/operations.md): generation 0 in `boards`, `cards`,
# `memberships`, `checkpoints`; generation N in `boards_gN` and so on. A rebuild fills a new
# generation while the live one serves, then moves the pointer. The event archive is one
# collection for all generations: it is the log, not a read model.
GENERATIONS = "generations"
POINTER_ID = "read_models"
GENERATION_COLLECTIONS = ("boards", "cards", "memberships", "checkpoints")


def collection_name(base: str, generation: int) -> str:
    return base if generation == 0 else f"{base}_g{generation}"


@dataclass(frozen=True, slots=True)
class GenerationPointer:
    live: int
    # A rebuild under way fills this generation; compaction keeps what its appliers still need.
    building: int | None = None


async def generation_pointer(db: AsyncDatabase[Doc]) -> GenerationPointer:
    doc = await db[GENERATIONS].find_one({"_id": POINTER_ID})
    if doc is None:
        return GenerationPointer(live=0)
    building = doc.get("building")
    return GenerationPointer(int(doc.get("live", 0)), int(building) if building else None)


class MongoReadStore:
    def __init__(
        self,
        db: AsyncDatabase[Doc],
        *,
        generation: int = 0,
        bulk_writes: asyncio.Lock | None = None,
    ) -> None:
        self.db = db
        self.events: AsyncCollection[Doc] = db["events"]
        # One bulk write at a time through this store and every store made from it by `at`
        # (see BULK_CHUNK): the partitions of a process, and a rebuild beside them, share it.
        self._bulk_writes = bulk_writes or asyncio.Lock()
        self.switch_to(generation)

    def switch_to(self, generation: int) -> None:
        """Reads and writes go to another generation's collections from now on. Readers share
        one store, so a switch-over moves every reader at once."""
        self.generation = generation
        self.boards: AsyncCollection[Doc] = self.db[collection_name("boards", generation)]
        self.cards: AsyncCollection[Doc] = self.db[collection_name("cards", generation)]
        self.memberships: AsyncCollection[Doc] = self.db[collection_name("memberships", generation)]
        self.checkpoints: AsyncCollection[Doc] = self.db[collection_name("checkpoints", generation)]

    def at(self, generation: int) -> MongoReadStore:
        """Another store over the same database, at `generation`."""
        return MongoReadStore(self.db, generation=generation, bulk_writes=self._bulk_writes)

    async def ensure_indexes(self) -> None:
        await self.cards.create_index([("board_id", ASCENDING)])
        await self.memberships.create_index([("user_id", ASCENDING), ("active", ASCENDING)])
        await self.events.create_index(
            [("board_id", ASCENDING), ("version", ASCENDING)], unique=True
        )

    # -- the write side ------------------------------------------------------------------------

    async def load(self, board_id: str) -> BoardProjection:
        board = await self.boards.find_one({"_id": board_id})
        if board is None:
            return BoardProjection(board_id=board_id)
        board.pop("_id")
        cards = {}
        async for card in self.cards.find({"board_id": board_id}):
            card.pop("_id")
            cards[card["card_id"]] = card
        return BoardProjection(
            board_id=board_id,
            board=board,
            cards=cards,
            stored_version=int(board["version"]),
            stored_cards=set(cards),
        )

    async def write(self, projections: Sequence[BoardProjection]) -> list[BoardProjection]:
        """Stores what the projections applied since they were last written. Returns the ones
        whose board document had been moved on by another writer (reload those)."""
        dirty = [p for p in projections if p.dirty]
        if not dirty:
            return []
        await self._bulk(
            self.events,
            [InsertOne(_event_doc(e, p.sources.get(e.version))) for p in dirty for e in p.applied],
        )
        # Inserts first, then guarded updates without upsert: an upsert that loses its guard
        # is a duplicate-key error, which FerretDB reports in a shape PyMongo cannot read.
        await self._bulk(
            self.cards,
            [
                InsertOne({"_id": c, **p.cards[c]})
                for p in dirty
                for c in p.dirty_cards - p.stored_cards
            ],
        )
        # Cards just inserted need no guarded update on top.
        await self._bulk(
            self.cards,
            [_card_write(p.cards[c]) for p in dirty for c in p.dirty_cards & p.stored_cards],
        )
        members = [(p, user, m) for p in dirty for user, m in p.dirty_members.items()]
        await self._bulk(
            self.memberships,
            [InsertOne({"_id": f"{user}|{p.board_id}", "version": 0}) for p, user, _ in members],
        )
        await self._bulk(
            self.memberships, [_membership_write(p, user, m) for p, user, m in members]
        )
        stale = []
        for p in dirty:
            assert p.board is not None
            if await self._write_board(p):
                p.written()
            else:
                stale.append(p)
        return stale

    async def _bulk(self, collection: AsyncCollection[Doc], requests: Iterable[Any]) -> None:
        batch = list(requests)
        for start in range(0, len(batch), BULK_CHUNK):
            async with self._bulk_writes:
                await _bulk_chunk(collection, batch[start : start + BULK_CHUNK])

    async def _write_board(self, p: BoardProjection) -> bool:
        assert p.board is not None
        doc = {"_id": p.board_id, **p.board}
        if p.stored_version == 0:
            try:
                await self.boards.insert_one(doc)
            except DuplicateKeyError:
                return False  # created meanwhile by another writer
            return True
        result = await self.boards.replace_one(
            {"_id": p.board_id, "version": p.stored_version}, doc
        )
        return result.matched_count == 1

    async def checkpoint(self, partition: int) -> Checkpoint | None:
        doc = await self.checkpoints.find_one({"_id": partition})
        if doc is None:
            return None
        return Checkpoint(partition, doc["position"], doc.get("epoch"))

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        # Forward only: an older position (a slower writer's) matches nothing, and its upsert
        # then collides with the existing document, which is the answer "already further".
        ms, seq = _stream_id(checkpoint.position)
        newer_or_missing = {
            "_id": checkpoint.partition,
            "$or": [{"ms": {"$lt": ms}}, {"ms": ms, "seq": {"$lte": seq}}],
        }
        fields = {"position": checkpoint.position, "ms": ms, "seq": seq, "epoch": checkpoint.epoch}
        with contextlib.suppress(DuplicateKeyError):
            await self.checkpoints.update_one(newer_or_missing, {"$set": fields}, upsert=True)

    # -- the read side -------------------------------------------------------------------------

    async def board_version(self, board_id: UUID) -> int | None:
        doc = await self.boards.find_one({"_id": str(board_id)}, {"version": 1})
        return int(doc["version"]) if doc else None

    async def board_view(self, board_id: UUID) -> BoardView | None:
        doc = await self.boards.find_one({"_id": str(board_id)})
        if doc is None:
            return None
        doc.pop("_id")
        return BoardView.model_validate(doc)

    async def board_detail(self, board_id: UUID, *, archived: bool = False) -> BoardDetail | None:
        view = await self.board_view(board_id)
        if view is None:
            return None
        query: Doc = {"board_id": str(board_id)}
        if not archived:
            query["archived"] = False
        cards = [_without_id(c) async for c in self.cards.find(query)]
        columns = [c.column_id for c in view.columns if archived or not c.archived]
        rank = {str(column_id): i for i, column_id in enumerate(columns)}
        cards = [c for c in cards if c["column_id"] in rank]
        cards.sort(key=lambda c: (rank[c["column_id"]], *card_order_key(c)))
        if not archived:
            view = view.model_copy(update={"columns": [c for c in view.columns if not c.archived]})
        return BoardDetail(board=view, cards=[CardView.model_validate(c) for c in cards])

    async def card(self, board_id: UUID, card_id: UUID) -> CardView | None:
        doc = await self.cards.find_one({"_id": str(card_id), "board_id": str(board_id)})
        return CardView.model_validate(_without_id(doc)) if doc else None

    async def boards_of(self, user_id: str) -> list[BoardSummary]:
        roles = {
            m["board_id"]: m["role"]
            async for m in self.memberships.find({"user_id": user_id, "active": True})
        }
        if not roles:
            return []
        summaries = []
        async for board in self.boards.find({"_id": {"$in": list(roles)}}):
            summaries.append(
                BoardSummary(
                    board_id=board["board_id"],
                    title=board["title"],
                    archived=board["archived"],
                    role=roles[board["board_id"]],
                    version=board["version"],
                )
            )
        return sorted(summaries, key=lambda s: (s.title.lower(), str(s.board_id)))


def _without_id(doc: Doc) -> Doc:
    doc.pop("_id", None)
    return doc


def _event_doc(event: AnyEvent, source: bytes | None) -> Doc:
    # The document as stored when we have it: an upcast model dumps differently, and the hash
    # chain (docs/event-chain.md) is over the stored document.
    stored = orjson.loads(source) if source is not None else event.model_dump(mode="json")
    return {
        "_id": f"{event.board_id}:{event.version}",
        "board_id": str(event.board_id),
        "version": event.version,
        "event": stored,
    }


def _card_write(card: Doc) -> UpdateOne:
    return UpdateOne({"_id": card["card_id"], "version": {"$lt": card["version"]}}, {"$set": card})


def _membership_write(p: BoardProjection, user_id: str, change: Doc) -> UpdateOne:
    version = change["version"]
    return UpdateOne(
        {"_id": f"{user_id}|{p.board_id}", "version": {"$lt": version}},
        {
            "$set": {
                "user_id": user_id,
                "board_id": p.board_id,
                "role": change["role"],
                "active": change["active"],
                "version": version,
            }
        },
    )


# FerretDB 1.24 stops answering an update command of 100 or more statements, or a few large
# ones at once (measured): writes go in chunks of at most this many, one chunk at a time.
BULK_CHUNK = 50


async def _bulk_chunk(collection: AsyncCollection[Doc], batch: list[Any]) -> None:
    try:
        await collection.bulk_write(batch, ordered=False)
    except BulkWriteError as exc:
        # A duplicate key is a guard saying "already written by someone": that is success.
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
