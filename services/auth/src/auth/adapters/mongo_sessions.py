"""`MongoSessions`: sessions and their refresh tokens (one family per session).

Refresh tokens are stored only as SHA-256 hashes. Spending one is an insert of its hash into
`refresh_spends`: a unique `_id` lets exactly one of any number of concurrent spends win, on
MongoDB and on FerretDB alike. (A `find_one_and_update` on `{hash, spent: false}` would be
atomic on MongoDB, but FerretDB 1.x on SQLite lets several concurrent callers match the same
unspent document; an insert is the one write both servers make atomic.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from auth.domain.sessions import RefreshRecord, SessionRecord, SpentRecord

Doc = dict[str, Any]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class MongoSessions:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.sessions: AsyncCollection[Doc] = db["sessions"]
        self.refresh_tokens: AsyncCollection[Doc] = db["refresh_tokens"]
        self.refresh_spends: AsyncCollection[Doc] = db["refresh_spends"]

    async def ensure_indexes(self) -> None:
        await self.sessions.create_index([("user_id", ASCENDING)])
        await self.refresh_tokens.create_index([("sid", ASCENDING)])
        # Expired documents are garbage; correctness never depends on when they go.
        for collection in (self.sessions, self.refresh_tokens, self.refresh_spends):
            try:
                await collection.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
            except OperationFailure:  # pragma: no cover - a server without TTL indexes
                await collection.create_index([("expires_at", ASCENDING)])

    async def start(self, *, sid: str, user_id: str, now: datetime, expires_at: datetime) -> None:
        await self.sessions.insert_one(
            {
                "_id": sid,
                "user_id": user_id,
                "created_at": now,
                "expires_at": expires_at,
                "revoked_at": None,
                "revoked_reason": None,
            }
        )

    async def add_refresh_token(
        self,
        token_hash: str,
        *,
        sid: str,
        user_id: str,
        now: datetime,
        expires_at: datetime,
        parent: str | None,
    ) -> None:
        await self.refresh_tokens.insert_one(
            {
                "_id": token_hash,
                "sid": sid,
                "user_id": user_id,
                "created_at": now,
                "expires_at": expires_at,
                "parent": parent,
            }
        )
        # The session lives as long as its newest refresh token.
        await self.sessions.update_one(
            {"_id": sid, "expires_at": {"$lt": expires_at}}, {"$set": {"expires_at": expires_at}}
        )

    async def refresh_token(self, token_hash: str) -> RefreshRecord | None:
        doc = await self.refresh_tokens.find_one({"_id": token_hash})
        if doc is None:
            return None
        return RefreshRecord(
            token_hash=token_hash,
            sid=doc["sid"],
            user_id=doc["user_id"],
            expires_at=_utc(doc["expires_at"]),
        )

    async def spend(self, record: RefreshRecord, *, now: datetime) -> bool:
        """True for the one caller that spends the token; False for everyone after (reuse)."""
        try:
            await self.refresh_spends.insert_one(
                {
                    "_id": record.token_hash,
                    "sid": record.sid,
                    "at": now,
                    "expires_at": record.expires_at,
                    "successor": None,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def spent(self, token_hash: str) -> SpentRecord | None:
        doc = await self.refresh_spends.find_one({"_id": token_hash})
        if doc is None:
            return None
        return SpentRecord(
            token_hash=token_hash, at=_utc(doc["at"]), successor=doc.get("successor")
        )

    async def replaced(self, token_hash: str, *, successor: str) -> None:
        await self.refresh_spends.update_one(
            {"_id": token_hash}, {"$set": {"successor": successor}}
        )

    async def session(self, sid: str) -> SessionRecord | None:
        doc = await self.sessions.find_one({"_id": sid})
        if doc is None:
            return None
        revoked_at = doc.get("revoked_at")
        return SessionRecord(
            sid=sid,
            user_id=doc["user_id"],
            created_at=_utc(doc["created_at"]),
            revoked_at=_utc(revoked_at) if revoked_at else None,
            revoked_reason=doc.get("revoked_reason"),
        )

    async def revoke(self, sid: str, *, reason: str, now: datetime) -> None:
        # Idempotent: the first reason stays. Refresh tokens of the family stay stored so that
        # their reuse is still recognised; the session's state is what refuses them.
        await self.sessions.update_one(
            {"_id": sid, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_reason": reason}},
        )
