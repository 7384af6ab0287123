"""`MongoAccounts`: users and the provider accounts linked to them.

An account is keyed by (issuer, subject), the only pair a provider promises is stable and
unique; an email address can change hands, so it never identifies anyone here. Without
multi-document transactions, a first sign-in inserts the account first (the unique index picks
one winner if two race) and the user second; a user document missing after a crash between the
two is created on the next sign-in.

For inviting someone to a board, a user can also be looked up by email: the address they last
signed in with, matched exactly but case-insensitively (`email_key`, the lower-cased address).
Should two users hold the same address (it changed hands, or two providers), the one who signed
in most recently is meant, since the address is theirs now.

The user also keeps the provider's profile picture (already vetted by `auth.domain.picture`),
replaced at every sign-in like name and email, and cleared when a sign-in brings none. It lives
on the user only, not on the account: it may be 16 KiB, and only the user's is ever shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from auth.domain.id_token import Identity
from auth.domain.picture import safe_picture
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
        await self.users.create_index([("email_key", ASCENDING)])

    async def sign_in(self, identity: Identity, *, now: datetime) -> User:
        """The user the identity belongs to, created on first sign-in; name, email and picture
        follow what the provider says now."""
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
        user = User(
            user_id=account["user_id"],
            email=identity.email,
            name=identity.name,
            picture=identity.picture,
        )
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
        fields = {
            "email": user.email,
            "email_key": email_key(user.email),
            "name": user.name,
            "picture": user.picture,
            "updated_at": now,
        }
        result = await self.users.update_one({"_id": user.user_id}, {"$set": fields})
        if result.matched_count:
            return
        try:
            await self.users.insert_one({"_id": user.user_id, **fields, "created_at": now})
        except DuplicateKeyError:
            await self.users.update_one({"_id": user.user_id}, {"$set": fields})

    async def user(self, user_id: str) -> User | None:
        doc = await self.users.find_one({"_id": user_id})
        return None if doc is None else _user(doc)

    async def user_by_email(self, email: str) -> User | None:
        """The user who last signed in with this address, or None. Users whose last sign-in
        predates `email_key` are found again after their next sign-in."""
        doc = await self.users.find_one(
            {"email_key": email_key(email)}, sort=[("updated_at", DESCENDING)]
        )
        return None if doc is None else _user(doc)


def email_key(email: str) -> str:
    return email.strip().lower()


def _user(doc: Doc) -> User:
    # Vetted again on the way out: a record written under looser rules is never served.
    return User(
        user_id=doc["_id"],
        email=doc["email"],
        name=doc.get("name"),
        picture=safe_picture(doc.get("picture")),
    )
