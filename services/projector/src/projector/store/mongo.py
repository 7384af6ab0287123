"""`MongoReadStore`: read models, the per-user index, checkpoints and the event archive in MongoDB
(or FerretDB), under the rules of `projector.store.port` and the layout of `projector.store.layout`.

No multi-document transactions (FerretDB has none): every write is idempotent on its own, and its
guard is in its filter. Every read and write on the hot paths names its documents by `_id` (one
value, or `$in`), which MongoDB and the patched FerretDB answer from the `_id` index.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from contracts.envelope import AnyEvent
from contracts.read_models import BoardDetail, BoardSummary, BoardView, CardView
from contracts.upcasting import parse_event
from pymongo import ASCENDING, InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from projector import notifications as notes
from projector.comments import CommentWrite, comment_writes, comments_of
from projector.projection import BoardProjection
from projector.store.layout import (
    archive_id,
    archived_document,
    archived_json,
    card_id,
    cards_of,
    loaded_projection,
    membership_entries,
    membership_id,
    memberships_of,
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
from projector.views import board_detail

Doc = dict[str, Any]
DUPLICATE_KEY = 11000
GENERATIONS = "generations"
POINTER_ID = "read_models"
# Statements per write command: PyMongo would split larger ones anyway; this bounds what one
# command holds. (Stock FerretDB 1.24 never answered an update of 100 or more statements, or a few
# smaller ones at once; the build in deploy/ferretdb is patched, patch 0002.)
BULK_CHUNK = 1_000
# Archived events asked for by `_id` at a time.
ARCHIVE_PAGE = 1_000


class MongoReadStore:
    def __init__(self, db: AsyncDatabase[Doc], *, generation: int = 0) -> None:
        self.db = db
        self.events: AsyncCollection[Doc] = db["events"]
        # Outside the generations: whether one was read is the user's doing (notifications.py).
        self.notices: AsyncCollection[Doc] = db["notifications"]
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
        self.comments: AsyncCollection[Doc] = self.db[collection_name("comments", generation)]

    def at(self, generation: int) -> MongoReadStore:
        return MongoReadStore(self.db, generation=generation)

    async def ensure_indexes(self) -> None:
        # Hot paths go by `_id` only; this one serves operators (verify, rebuild, compaction).
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
        cards = [card async for card in self.cards.find({"_id": cards_of(board_id)})]
        return loaded_projection(board_id, board, cards)

    async def write(
        self, projections: Sequence[BoardProjection], *, archive: bool = True
    ) -> list[BoardProjection]:
        dirty = [p for p in projections if p.dirty]
        if not dirty:
            return []
        if archive:
            await self._bulk(
                self.events,
                [
                    InsertOne(_event_doc(e, p.sources.get(e.version)))
                    for p in dirty
                    for e in p.applied
                ],
            )
        # Inserts first, then guarded updates without upsert: an upsert that loses its guard
        # is a duplicate-key error, which FerretDB reports in a shape PyMongo cannot read.
        await self._bulk(
            self.cards,
            [
                InsertOne({"_id": card_id(p.board_id, c), **p.cards[c]})
                for p in dirty
                for c in sorted(p.dirty_cards - p.stored_cards)
            ],
        )
        # Cards just inserted need no guarded update on top.
        await self._bulk(
            self.cards,
            [
                _card_write(p.board_id, p.cards[c])
                for p in dirty
                for c in sorted(p.dirty_cards & p.stored_cards)
            ],
        )
        members = [(p, user, entry) for p in dirty for user, entry in membership_entries(p)]
        # Inserted first (a duplicate: it exists), then updated under its version guard.
        await self._bulk(
            self.memberships,
            [InsertOne({"_id": membership_id(u, p.board_id), "version": 0}) for p, u, _ in members],
        )
        await self._bulk(
            self.memberships, [_membership_write(p.board_id, u, e) for p, u, e in members]
        )
        await self._write_comments_and_notifications(dirty)
        stale = await self._write_boards(dirty)
        for p in dirty:
            if p not in stale:
                p.written()
        return stale

    async def _write_comments_and_notifications(self, dirty: list[BoardProjection]) -> None:
        # Before the board document, as cards: a board version read means its comments are there.
        writes = [w for p in dirty for w in comment_writes(p.board_id, p.applied)]
        await self._bulk(self.comments, [InsertOne(w.insert) for w in writes if w.insert])
        await self._bulk(self.comments, [_comment_write(w) for w in writes if w.latest])
        made = [
            d for p in dirty for d in notes.notifications_of(p.board_id, p.applied, *notes.names(p))
        ]
        await self._bulk(self.notices, [InsertOne(d) for d in made])

    async def _bulk(self, collection: AsyncCollection[Doc], requests: Iterable[Any]) -> None:
        batch = list(requests)
        for start in range(0, len(batch), BULK_CHUNK):
            await _bulk_chunk(collection, batch[start : start + BULK_CHUNK])

    async def _write_boards(self, dirty: list[BoardProjection]) -> list[BoardProjection]:
        """Board documents last, in bulk: new ones inserted (a duplicate was created meanwhile by
        another writer), the others replaced where they still hold the version this writer last
        stored. Returns those another writer moved on."""
        new = [p for p in dirty if p.stored_version == 0]
        old = [p for p in dirty if p.stored_version != 0]
        stale: list[BoardProjection] = []
        for start in range(0, len(new), BULK_CHUNK):
            chunk = new[start : start + BULK_CHUNK]
            inserts = [InsertOne({"_id": p.board_id, **(p.board or {})}) for p in chunk]
            refused = await _bulk_chunk(self.boards, inserts)
            stale += [chunk[i] for i in refused]
        for start in range(0, len(old), BULK_CHUNK):
            chunk = old[start : start + BULK_CHUNK]
            replaces = [
                ReplaceOne({"_id": p.board_id, "version": p.stored_version}, p.board or {})
                for p in chunk
            ]
            result = await self.boards.bulk_write(replaces, ordered=False)
            if result.matched_count < len(chunk):
                stale += await self._not_written(chunk)
        return stale

    async def _not_written(self, chunk: list[BoardProjection]) -> list[BoardProjection]:
        # Rare (a lease handover): which guards failed, by reading back what the boards hold.
        ids = [p.board_id for p in chunk]
        held = {
            d["_id"]: d["version"]
            async for d in self.boards.find({"_id": {"$in": ids}}, {"version": 1})
        }
        return [p for p in chunk if held.get(p.board_id) != p.version]

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
        query: Doc = {"_id": cards_of(str(board_id))}
        if not archived:
            query["archived"] = False
        cards = [card async for card in self.cards.find(query)]
        return board_detail(board, cards, archived=archived)

    async def card(self, board_id: UUID, card: UUID) -> CardView | None:
        doc = await self.cards.find_one({"_id": card_id(str(board_id), str(card))})
        if doc is None:
            return None
        doc.pop("_id")
        return CardView.model_validate(doc)

    async def boards_of(self, user_id: str) -> list[BoardSummary]:
        roles = {
            m["board_id"]: m["role"]
            async for m in self.memberships.find({"_id": memberships_of(user_id), "active": True})
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

    # -- comments and notifications ------------------------------------------------------------

    async def card_comments(self, board_id: UUID, card_id: UUID) -> list[Doc]:
        query = {"_id": comments_of(str(board_id), str(card_id)), "deleted": False}
        found = [doc async for doc in self.comments.find(query)]
        return sorted(found, key=lambda d: int(d["created_version"]))

    async def notifications(self, user_id: str) -> list[Doc]:
        found = [doc async for doc in self.notices.find({"_id": notes.of_user(user_id)})]
        return notes.newest_first(found)

    async def mark_read(self, user_id: str, ids: Sequence[str] | None) -> None:
        if ids is None:
            query = {"_id": notes.of_user(user_id), "read": False}
            keys = [d["_id"] async for d in self.notices.find(query, {"_id": 1})]
        else:
            keys = [notes.key(user_id, i) for i in ids]
        # One exact `_id` per statement: what FerretDB answers from its index.
        await self._bulk(
            self.notices, [UpdateOne({"_id": k}, {"$set": {"read": True}}) for k in keys]
        )

    # -- the event archive ---------------------------------------------------------------------

    async def archived_events(
        self, board_id: UUID, first: int, last: int | None, count: int
    ) -> list[AnyEvent]:
        end = first + count - 1 if last is None else min(last, first + count - 1)
        ids = [archive_id(board_id, v) for v in range(first, end + 1)]
        found = [doc async for doc in self.events.find({"_id": {"$in": ids}})]
        found.sort(key=lambda doc: int(doc["version"]))
        return [_archived_event(doc, board_id) for doc in found]

    async def archived_documents(self, board_id: UUID) -> list[tuple[int, Doc | None]]:
        cursor = self.events.find({"board_id": str(board_id)}).sort("version", ASCENDING)
        return [(int(doc["version"]), archived_document(doc.get("event"))) async for doc in cursor]

    async def archived_boards(self) -> list[str]:
        return sorted(str(b) for b in await self.events.distinct("board_id"))

    async def archived_prefix(self, board_id: UUID, up_to: int) -> int:
        for start in range(1, up_to + 1, ARCHIVE_PAGE):
            versions = range(start, min(start + ARCHIVE_PAGE, up_to + 1))
            ids = [archive_id(board_id, v) for v in versions]
            held = {
                int(d["version"])
                async for d in self.events.find({"_id": {"$in": ids}}, {"version": 1})
            }
            missing = next((v for v in versions if v not in held), None)
            if missing is not None:
                return missing - 1
        return max(up_to, 0)

    # -- verifying a generation ----------------------------------------------------------------

    async def stored_boards(self) -> list[str]:
        return sorted([str(b["_id"]) async for b in self.boards.find({}, {"_id": 1})])

    async def board_versions(self) -> dict[str, int]:
        return {
            str(b["_id"]): int(b["version"]) async for b in self.boards.find({}, {"version": 1})
        }

    async def stored_documents(self, board_id: str) -> Doc | None:
        board = await self.boards.find_one({"_id": board_id})
        if board is None:
            return None
        cards = [card async for card in self.cards.find({"_id": cards_of(board_id)})]
        return canonical_documents(board, cards)

    async def user_index(self) -> dict[str, dict[str, Doc]]:
        index: dict[str, dict[str, Doc]] = {}
        async for m in self.memberships.find({"version": {"$gt": 0}}):
            entry = {"role": m["role"], "active": m["active"], "version": m["version"]}
            index.setdefault(m["user_id"], {})[m["board_id"]] = entry
        return index

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
    return {
        "_id": archive_id(event.board_id, event.version),
        "board_id": str(event.board_id),
        "version": event.version,
        "event": archived_json(event, source),
    }


def _card_write(board_id: str, card: Doc) -> UpdateOne:
    return UpdateOne(
        {"_id": card_id(board_id, card["card_id"]), "version": {"$lt": card["version"]}},
        {"$set": card},
    )


def _comment_write(write: CommentWrite) -> UpdateOne:
    return UpdateOne(
        {"_id": write.key, "version": {"$lt": write.latest["version"]}}, {"$set": write.latest}
    )


def _membership_write(board_id: str, user_id: str, entry: Doc) -> UpdateOne:
    return UpdateOne(
        {"_id": membership_id(user_id, board_id), "version": {"$lt": entry["version"]}},
        {"$set": {"user_id": user_id, "board_id": board_id, **entry}},
    )


async def _bulk_chunk(collection: AsyncCollection[Doc], batch: list[Any]) -> list[int]:
    """Writes one chunk; returns the positions of the writes refused as duplicates."""
    if not batch:
        return []
    try:
        await collection.bulk_write(batch, ordered=False)
    except BulkWriteError as exc:
        # A duplicate key is a guard saying "already written by someone": that is success.
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return [int(e["index"]) for e in errors]
    return []
