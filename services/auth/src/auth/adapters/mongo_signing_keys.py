"""`MongoSigningKeys`: the ES256 key ring (previous, current, next) kept in MongoDB, each
private key sealed by the `KeyEncryption` port before it is written.

Each rotation inserts the ring's next version under `_id = version`; two rotations racing both
try the same `_id` and one loses with a duplicate key, so no ring is ever half-rotated or
rotated twice by accident. Older versions are then deleted.

A document holds, per slot, the key's PKCS#8 DER sealed with the context
`cardstream-auth:signing-key:<version>:<slot>`, and `kek`, the key-encryption key it was sealed
under. Someone who can read (or write) the database cannot use or plant a key: a sealed key
does not open without the key-encryption key, which never lives in the database, and a ring
without `kek` (plain PEM, as before issue 12) is never used. In production such a ring stops
the service with the command that seals it; in development it is deleted and a new ring made
(development tokens signed with it stop working; people sign in again).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from bson import Binary
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from auth.domain.signing import KeyRing, SigningKey
from auth.ports import KeyEncryption, Sealed

Doc = dict[str, Any]
SLOTS = ("previous", "current", "next")
log = logging.getLogger(__name__)


class ConcurrentRotationError(Exception):
    """Another process rotated the keys at the same moment; its rotation stands."""


class UnsealedKeysError(Exception):
    """The database holds a key ring in plain PEM, which production does not use."""


def _context(version: int, slot: str) -> str:
    return f"cardstream-auth:signing-key:{version}:{slot}"


class MongoSigningKeys:
    def __init__(
        self, db: AsyncDatabase[Doc], encryption: KeyEncryption, *, discard_unsealed: bool = False
    ) -> None:
        self.rings: AsyncCollection[Doc] = db["signing_keys"]
        self._encryption = encryption
        self._discard_unsealed = discard_unsealed

    async def load(self) -> KeyRing | None:
        doc = await self.rings.find_one({}, sort=[("_id", DESCENDING)])
        if doc is not None and "kek" not in doc:
            if not self._discard_unsealed:
                raise UnsealedKeysError(
                    f"signing_keys holds ring version {doc['_id']} in plain PEM; seal it with "
                    "`python -m auth rewrap-keys --seal-plain` (auth/README.md) or delete it"
                )
            log.warning(
                "deleting the unsealed signing key ring(s) (development): tokens they signed "
                "stop working"
            )
            await self.rings.delete_many({"kek": {"$exists": False}})
            doc = await self.rings.find_one({}, sort=[("_id", DESCENDING)])
        return None if doc is None else await self._open(doc)

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

    async def rewrap(self, *, seal_plain: bool = False) -> dict[str, int]:
        """Seals every stored ring again under the current key-encryption key (after a new one
        was put first), and, with `seal_plain`, seals rings stored in plain PEM. Each ring is
        replaced only if it is still as it was read, so a concurrent rotation is not undone."""
        counts = {"rewrapped": 0, "sealed_plain": 0, "already_current": 0}
        async for doc in self.rings.find({}):
            if "kek" not in doc:
                if not seal_plain:
                    raise UnsealedKeysError(
                        f"ring version {doc['_id']} is plain PEM; pass --seal-plain to seal it"
                    )
                ring = _plain_ring(doc)
                counts["sealed_plain"] += 1
            elif doc["kek"] == self._encryption.current:
                counts["already_current"] += 1
                continue
            else:
                ring = await self._open(doc)
                counts["rewrapped"] += 1
            sealed = await self._document(ring, doc["created_at"])
            await self.rings.replace_one(
                {"_id": doc["_id"], "kek": doc.get("kek", {"$exists": False})}, sealed
            )
        return counts

    async def _insert(self, ring: KeyRing, now: datetime) -> None:
        try:
            await self.rings.insert_one(await self._document(ring, now))
        except DuplicateKeyError:
            raise ConcurrentRotationError(f"key ring version {ring.version} exists") from None

    async def _document(self, ring: KeyRing, created_at: datetime) -> Doc:
        doc: Doc = {"_id": ring.version, "created_at": created_at}
        doc["kek"] = self._encryption.current
        for slot in SLOTS:
            key: SigningKey | None = getattr(ring, slot)
            if key is None:
                doc[slot] = None
                continue
            sealed = await self._encryption.encrypt(key.der(), context=_context(ring.version, slot))
            assert sealed.key_id == doc["kek"]
            doc[slot] = Binary(sealed.blob)
        return doc

    async def _open(self, doc: Doc) -> KeyRing:
        version = int(doc["_id"])
        keys: dict[str, SigningKey | None] = {}
        for slot in SLOTS:
            blob = doc.get(slot)
            if blob is None:
                keys[slot] = None
                continue
            der = await self._encryption.decrypt(
                Sealed(doc["kek"], bytes(blob)), context=_context(version, slot)
            )
            keys[slot] = SigningKey.from_der(der)
        current, following = keys["current"], keys["next"]
        if current is None or following is None:
            raise UnsealedKeysError(f"ring version {version} lacks its current or next key")
        return KeyRing(version=version, previous=keys["previous"], current=current, next=following)


def _plain_ring(doc: Doc) -> KeyRing:
    return KeyRing(
        version=int(doc["_id"]),
        previous=SigningKey.from_pem(doc["previous"]) if doc.get("previous") else None,
        current=SigningKey.from_pem(doc["current"]),
        next=SigningKey.from_pem(doc["next"]),
    )
