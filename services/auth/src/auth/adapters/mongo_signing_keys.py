"""`MongoSigningKeys`: the ES256 key ring (previous, current, next) kept in MongoDB.

Each rotation inserts the ring's next version under `_id = version`; two rotations racing both
try the same `_id` and one loses with a duplicate key, so no ring is ever half-rotated or
rotated twice by accident. Older versions are then deleted (they hold private keys).

The private keys sit in the database unencrypted: fine for development and tests, not for
production, where they belong in a KMS or secret store (see the service's README).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from auth.domain.signing import KeyRing, SigningKey

Doc = dict[str, Any]


class ConcurrentRotationError(Exception):
    """Another process rotated the keys at the same moment; its rotation stands."""


class MongoSigningKeys:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.rings: AsyncCollection[Doc] = db["signing_keys"]

    async def load(self) -> KeyRing | None:
        doc = await self.rings.find_one({}, sort=[("_id", DESCENDING)])
        return None if doc is None else _ring(doc)

    async def ensure(self, *, now: datetime) -> KeyRing:
        """The ring, created with a current and a next key on first use."""
        ring = await self.load()
        if ring is not None:
            return ring
        # Another process may create it first; then theirs is the one to use.
        with contextlib.suppress(ConcurrentRotationError):
            await self._insert(KeyRing(1, None, SigningKey.generate(), SigningKey.generate()), now)
        ring = await self.load()
        assert ring is not None
        return ring

    async def rotate(self, *, now: datetime) -> KeyRing:
        """previous ← current ← next, and a new next."""
        ring = (await self.ensure(now=now)).rotated()
        await self._insert(ring, now)
        await self.rings.delete_many({"_id": {"$lt": ring.version}})
        return ring

    async def _insert(self, ring: KeyRing, now: datetime) -> None:
        doc = {
            "_id": ring.version,
            "created_at": now,
            "previous": ring.previous.pem() if ring.previous else None,
            "current": ring.current.pem(),
            "next": ring.next.pem(),
        }
        try:
            await self.rings.insert_one(doc)
        except DuplicateKeyError:
            raise ConcurrentRotationError(f"key ring version {ring.version} exists") from None


def _ring(doc: Doc) -> KeyRing:
    return KeyRing(
        version=int(doc["_id"]),
        previous=SigningKey.from_pem(doc["previous"]) if doc.get("previous") else None,
        current=SigningKey.from_pem(doc["current"]),
        next=SigningKey.from_pem(doc["next"]),
    )
