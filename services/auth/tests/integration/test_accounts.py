"""Users and linked accounts in MongoDB, keyed by (issuer, subject), never by email."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from auth.domain.id_token import Identity

ISSUER = "https://accounts.google.com"


def _identity(subject: str, email: str, name: str | None = "Ann") -> Identity:
    return Identity(issuer=ISSUER, subject=subject, email=email, name=name, hosted_domain=None)


NOW = datetime(2030, 1, 1, tzinfo=UTC)


class TestMongoAccounts:
    async def test_the_same_subject_is_the_same_user_whatever_its_email(self, accounts):
        first = await accounts.sign_in(_identity("111", "ann@example.com"), now=NOW)
        renamed = await accounts.sign_in(_identity("111", "ann@new.example", "Ann B"), now=NOW)

        assert renamed.user_id == first.user_id
        stored = await accounts.user(first.user_id)
        assert stored is not None
        assert (stored.email, stored.name) == ("ann@new.example", "Ann B")

    async def test_the_same_email_under_another_subject_is_another_user(self, accounts):
        # An address that changed hands (a recycled mailbox) must not open its old account.
        old = await accounts.sign_in(_identity("111", "shared@example.com"), now=NOW)
        new = await accounts.sign_in(_identity("222", "shared@example.com"), now=NOW)

        assert new.user_id != old.user_id

    async def test_the_same_subject_at_another_issuer_is_another_user(self, accounts):
        google = await accounts.sign_in(_identity("111", "a@example.com"), now=NOW)
        other = await accounts.sign_in(
            Identity(
                issuer="https://idp.example",
                subject="111",
                email="a@example.com",
                name=None,
                hosted_domain=None,
            ),
            now=NOW,
        )

        assert other.user_id != google.user_id

    async def test_concurrent_first_sign_ins_make_one_user(self, accounts, mongo, mongo_db_name):
        users = await asyncio.gather(
            *(accounts.sign_in(_identity("333", "race@example.com"), now=NOW) for _ in range(8))
        )

        assert len({u.user_id for u in users}) == 1
        assert await mongo[mongo_db_name]["accounts"].count_documents({"subject": "333"}) == 1
        assert await accounts.user(users[0].user_id) is not None
