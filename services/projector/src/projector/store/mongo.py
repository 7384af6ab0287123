"""`MongoReadStore`: read models, the per-user index, checkpoints and the event archive in MongoDB
(or FerretDB), under the rules of `projector.store.port`.

No multi-document transactions (FerretDB has none): every write is idempotent on its own, and its
guard is in its filter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import orjson
from contracts.envelope import AnyEvent
from contracts.read_models import BoardDetail, BoardSummary, BoardView, CardView
from contracts.upcasting import parse_event
from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from projector.projection import BoardProjection
from projector.store.port import (
    GENERATION_COLLECTIONS,
    Checkpoint,
    GenerationChangedError,
    GenerationPointer,
    canonical_documents,
    collection_name,
)
from projector.streams import UnreadableEventError, checked, parse_id
from projector.views import board_detail

Doc = dict[str, Any]
DUPLICATE_KEY = 11000
GENERATIONS = "generations"
POINTER_ID = "read_models"
# FerretDB 1.24 stops answering an update command of 100 or more statements, or a few large
# ones at once (measured): writes go in chunks of at most this many, one chunk at a time.
BULK_CHUNK = 50


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

    @property
    def generation(self) -> int:
        return self._generation

    def switch_to(self, generation: int) -> None:
        self._generation = generation
        self.boards: AsyncCollection[Doc] = self.db[collection_name("boards", generation)]
        self.cards: AsyncCollection[Doc] = self.db[collection_name("cards", generation)]
        self.memberships: AsyncCollection[Doc] = self.db[collection_name("memberships", generation)]
        self.checkpoints: AsyncCollection[Doc] = self.db[collection_name("checkpoints", generation)]

    def at(self, generation: int) -> MongoReadStore:
        return MongoReadStore(self.db, generation=generation, bulk_writes=self._bulk_writes)

    async def ensure_indexes(self) -> None:
        await self.cards.create_index([("board_id", ASCENDING)])
        await self.memberships.create_index([("user_id", ASCENDING), ("active", ASCENDING)])
        await self.events.create_index(
            [("board_id", ASCENDING), ("version", ASCENDING)], unique=True
        )

    async def ping(self) -> None:
        await self.db.client.admin.command("ping")

    # -- applying ------------------------------------------------------------------------------

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
        # An older position (a slower writer's) matches nothing, and its upsert then collides
        # with the existing document, which is the answer "already further".
        ms, seq = parse_id(checkpoint.position)
        newer_or_missing = {
            "_id": checkpoint.partition,
            "$or": [{"ms": {"$lt": ms}}, {"ms": ms, "seq": {"$lte": seq}}],
        }
        fields = {"position": checkpoint.position, "ms": ms, "seq": seq, "epoch": checkpoint.epoch}
        with contextlib.suppress(DuplicateKeyError):
            await self.checkpoints.update_one(newer_or_missing, {"$set": fields}, upsert=True)

    # -- reading -------------------------------------------------------------------------------

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
        board = await self.boards.find_one({"_id": str(board_id)})
        if board is None:
            return None
        query: Doc = {"board_id": str(board_id)}
        if not archived:
            query["archived"] = False
        cards = [card async for card in self.cards.find(query)]
        return board_detail(board, cards, archived=archived)

    async def card(self, board_id: UUID, card_id: UUID) -> CardView | None:
        doc = await self.cards.find_one({"_id": str(card_id), "board_id": str(board_id)})
        if doc is None:
            return None
        doc.pop("_id")
        return CardView.model_validate(doc)

    async def boards_of(self, user_id: str) -> list[BoardSummary]:
        roles = {
            m["board_id"]: m["role"]
            async for m in self.memberships.find({"user_id": user_id, "active": True})
        }
        if not roles:
            return []
        summaries = [
            BoardSummary(
                board_id=board["board_id"],
                title=board["title"],
                archived=board["archived"],
                role=roles[board["board_id"]],
                version=board["version"],
            )
            async for board in self.boards.find({"_id": {"$in": list(roles)}})
        ]
        return sorted(summaries, key=lambda s: (s.title.lower(), str(s.board_id)))

    # -- the event archive ---------------------------------------------------------------------

    async def archived_events(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        versions: dict[str, int] = {"$gte": first}
        if last is not None:
            versions["$lte"] = last
        cursor = (
            self.events.find({"board_id": str(board_id), "version": versions})
            .sort("version", ASCENDING)
            .limit(count)
        )
        return [_archived_event(doc, board_id) async for doc in cursor]

    async def archived_documents(self, board_id: UUID) -> list[tuple[int, Doc | None]]:
        cursor = self.events.find({"board_id": str(board_id)}).sort("version", ASCENDING)
        return [
            (int(doc["version"]), doc["event"] if isinstance(doc.get("event"), dict) else None)
            async for doc in cursor
        ]

    async def archived_boards(self) -> list[str]:
        return sorted(str(b) for b in await self.events.distinct("board_id"))

    async def archived_prefix(self, board_id: UUID, up_to: int) -> int:
        if up_to <= 0:
            return 0
        query = {"board_id": str(board_id), "version": {"$lte": up_to}}
        if await self.events.count_documents(query) == up_to:
            return up_to  # (board, version) is unique, so `up_to` documents are 1..up_to
        expected = 1
        async for doc in self.events.find(query, {"version": 1}).sort("version", ASCENDING):
            if int(doc["version"]) != expected:
                break
            expected += 1
        return expected - 1

    # -- verifying a generation ----------------------------------------------------------------

    async def stored_boards(self) -> list[str]:
        return sorted([str(b["_id"]) async for b in self.boards.find({}, {"_id": 1})])

    async def stored_documents(self, board_id: str) -> Doc | None:
        board = await self.boards.find_one({"_id": board_id})
        if board is None:
            return None
        cards = [card async for card in self.cards.find({"board_id": board_id})]
        members = [m async for m in self.memberships.find({"board_id": board_id})]
        return canonical_documents(board, cards, members)

    # -- generations ---------------------------------------------------------------------------

    async def generation_pointer(self) -> GenerationPointer:
        doc = await self.db[GENERATIONS].find_one({"_id": POINTER_ID})
        if doc is None:
            return GenerationPointer(live=0)
        building = doc.get("building")
        return GenerationPointer(int(doc.get("live", 0)), int(building) if building else None)

    async def begin_generation(self) -> tuple[int, int]:
        pointer = await self.generation_pointer()
        new = pointer.building or pointer.live + 1
        await self._drop_collections(new)
        await self.db[GENERATIONS].update_one(
            {"_id": POINTER_ID},
            {"$set": {"building": new}, "$setOnInsert": {"live": pointer.live}},
            upsert=True,
        )
        return pointer.live, new

    async def switch_generation(self, live: int, new: int) -> None:
        switched = await self.db[GENERATIONS].update_one(
            {"_id": POINTER_ID, "live": live, "building": new},
            {"$set": {"live": new, "building": None, "previous": live}},
        )
        if switched.matched_count != 1:
            raise GenerationChangedError("the generation pointer changed under the rebuild")

    async def abandon_generation(self, generation: int) -> None:
        await self.db[GENERATIONS].update_one(
            {"_id": POINTER_ID, "building": generation}, {"$set": {"building": None}}
        )

    async def drop_generation(self, generation: int) -> list[str]:
        return await self._drop_collections(generation)

    async def _drop_collections(self, generation: int) -> list[str]:
        existing = set(await self.db.list_collection_names())
        dropped = []
        for base in GENERATION_COLLECTIONS:
            name = collection_name(base, generation)
            if name in existing:
                await self.db.drop_collection(name)
                dropped.append(name)
        return dropped


def _archived_event(doc: Doc, board_id: UUID) -> AnyEvent:
    try:
        event = parse_event(doc["event"])
    except (KeyError, ValueError) as exc:
        raise UnreadableEventError(f"archived event {doc.get('_id')} is unreadable") from exc
    return checked(event, board_id, int(doc["version"]))


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


async def _bulk_chunk(collection: AsyncCollection[Doc], batch: list[Any]) -> None:
    try:
        await collection.bulk_write(batch, ordered=False)
    except BulkWriteError as exc:
        # A duplicate key is a guard saying "already written by someone": that is success.
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
