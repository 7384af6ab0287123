"""`MongoAccounts`: users and the provider accounts linked to them.

An account is keyed by (issuer, subject), the only pair a provider promises is stable and
unique; an email address can change hands, so it never identifies anyone here. Without
multi-document transactions, a first sign-in inserts the account first (the unique index picks
one winner if two race) and the user second; a user document missing after a crash between the
two is created on the next sign-in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from auth.domain.id_token import Identity
from auth.domain.tokens import User, new_user_id

Doc = dict[str, Any]


class MongoAccounts:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.users: AsyncCollection[Doc] = db["users"]
        self.accounts: AsyncCollection[Doc] = db["accounts"]

    async def ensure_indexes(self) -> None:
        await self.accounts.create_index(
            [("issuer", ASCENDING), ("subject", ASCENDING)], unique=True
        )
        await self.accounts.create_index([("user_id", ASCENDING)])

    async def sign_in(self, identity: Identity, *, now: datetime) -> User:
        """The user the identity belongs to, created on first sign-in; name and email follow
        what the provider says now."""
        key = {"issuer": identity.issuer, "subject": identity.subject}
        profile = {
            "email": identity.email,
            "name": identity.name,
            "hosted_domain": identity.hosted_domain,
        }
        account = await self.accounts.find_one_and_update(
            key, {"$set": {**profile, "last_login_at": now}}
        )
        if account is None:
            account = await self._link(key, profile, now)
        user = User(user_id=account["user_id"], email=identity.email, name=identity.name)
        await self._save_user(user, now)
        return user

    async def _link(self, key: Doc, profile: Doc, now: datetime) -> Doc:
        account = {
            **key,
            **profile,
            "user_id": new_user_id(),
            "created_at": now,
            "last_login_at": now,
        }
        try:
            await self.accounts.insert_one(account)
        except DuplicateKeyError:
            existing = await self.accounts.find_one(key)
            if existing is None:  # pragma: no cover - the winner's insert is durable
                raise
            return existing
        return account

    async def _save_user(self, user: User, now: datetime) -> None:
        fields = {"email": user.email, "name": user.name, "updated_at": now}
        result = await self.users.update_one({"_id": user.user_id}, {"$set": fields})
        if result.matched_count:
            return
        try:
            await self.users.insert_one({"_id": user.user_id, **fields, "created_at": now})
        except DuplicateKeyError:
            await self.users.update_one({"_id": user.user_id}, {"$set": fields})

    async def user(self, user_id: str) -> User | None:
        doc = await self.users.find_one({"_id": user_id})
        if doc is None:
            return None
        return User(user_id=doc["_id"], email=doc["email"], name=doc.get("name"))
