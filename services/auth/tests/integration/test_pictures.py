"""Profile pictures: the ID token's `picture` is kept on the user when it is safe to put in an
<img src>, replaced at every sign-in, answered by `/auth/me` and `/auth/users`, and never put in
our access token (docs/auth.md, "Profile pictures")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from auth.devprovider.accounts import account_for
from auth.domain.id_token import Identity
from cardstream_testing.answers import read_answer

GOOGLE_PICTURE = "https://lh3.googleusercontent.com/a/ACg8ocJ-first=s96-c"
NEW_GOOGLE_PICTURE = "https://lh3.googleusercontent.com/a/ACg8ocJ-second=s96-c"
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _identity(picture: str | None, subject: str = "111") -> Identity:
    return Identity(
        issuer="https://accounts.google.com",
        subject=subject,
        email=f"user{subject}@example.com",
        name="Ann",
        hosted_domain=None,
        picture=picture,
    )


async def _me(http, auth, access_token: str) -> dict:
    headers = {"Authorization": f"Bearer {access_token}"}
    async with http.get(f"{auth.url}/auth/me", headers=headers) as response:
        assert response.status == 200, await response.text()
        return (await read_answer(response))["user"]


async def _lookup(http, auth, email: str, access_token: str) -> dict:
    headers = {"Authorization": f"Bearer {access_token}"}
    params = {"email": email}
    async with http.get(f"{auth.url}/auth/users", params=params, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await read_answer(response)


class TestMongoAccountsPictures:
    async def test_the_picture_is_kept_on_the_user(self, accounts):
        user = await accounts.sign_in(_identity(GOOGLE_PICTURE), now=NOW)

        assert user.picture == GOOGLE_PICTURE
        stored = await accounts.user(user.user_id)
        assert stored is not None
        assert stored.picture == GOOGLE_PICTURE
        found = await accounts.user_by_email("USER111@example.com")
        assert found is not None
        assert found.picture == GOOGLE_PICTURE

    async def test_every_sign_in_replaces_the_picture(self, accounts):
        first = await accounts.sign_in(_identity(GOOGLE_PICTURE), now=NOW)
        again = await accounts.sign_in(_identity(NEW_GOOGLE_PICTURE), now=NOW + timedelta(hours=1))

        stored = await accounts.user(first.user_id)
        assert again.user_id == first.user_id
        assert stored is not None
        assert stored.picture == NEW_GOOGLE_PICTURE

    async def test_a_sign_in_without_a_picture_clears_the_old_one(self, accounts):
        first = await accounts.sign_in(_identity(GOOGLE_PICTURE), now=NOW)
        await accounts.sign_in(_identity(None), now=NOW + timedelta(hours=1))

        stored = await accounts.user(first.user_id)
        assert stored is not None
        assert stored.picture is None

    async def test_the_picture_lives_on_the_user_not_on_the_account(
        self, accounts, mongo, mongo_db_name
    ):
        user = await accounts.sign_in(_identity(GOOGLE_PICTURE), now=NOW)

        db = mongo[mongo_db_name]
        account = await db["accounts"].find_one({"user_id": user.user_id})
        document = await db["users"].find_one({"_id": user.user_id})
        assert account is not None
        assert document is not None
        assert "picture" not in account
        assert document["picture"] == GOOGLE_PICTURE

    async def test_a_user_stored_before_pictures_has_none(self, accounts, mongo, mongo_db_name):
        user = await accounts.sign_in(_identity(GOOGLE_PICTURE), now=NOW)
        users = mongo[mongo_db_name]["users"]
        await users.update_one({"_id": user.user_id}, {"$unset": {"picture": ""}})

        stored = await accounts.user(user.user_id)
        assert stored is not None
        assert stored.picture is None

    @pytest.mark.parametrize(
        "unsafe", ["javascript:alert(1)", "http://a.example/p.png", 42, "data:text/html,x"]
    )
    async def test_an_unsafe_picture_already_stored_is_never_served(
        self, accounts, mongo, mongo_db_name, unsafe
    ):
        user = await accounts.sign_in(_identity(GOOGLE_PICTURE), now=NOW)
        users = mongo[mongo_db_name]["users"]
        await users.update_one({"_id": user.user_id}, {"$set": {"picture": unsafe}})

        stored = await accounts.user(user.user_id)
        found = await accounts.user_by_email(user.email)
        assert stored is not None
        assert found is not None
        assert (stored.picture, found.picture) == (None, None)


class TestPicturesOverHttp:
    async def test_the_providers_picture_is_answered_by_the_callback_and_me(
        self, browser, auth, http, helpers
    ):
        status, body, _ = await browser.login("pia@example.com")

        expected = account_for("pia@example.com").picture
        assert status == 200, body
        assert expected.startswith("data:image/svg+xml;base64,")
        assert body["user"]["picture"] == expected
        me = await _me(http, auth, body["access_token"])
        assert me == {
            "id": body["user"]["id"],
            "email": "pia@example.com",
            "name": "Pia",
            "picture": expected,
        }

    async def test_the_access_token_carries_no_picture(self, browser, helpers):
        _, body, _ = await browser.login("pia@example.com")

        claims = helpers.claims_of(body["access_token"])
        assert "picture" not in claims
        assert "data:image" not in body["access_token"]
        assert len(body["access_token"]) < 1024

    async def test_a_new_picture_at_the_provider_shows_after_the_next_sign_in(
        self, new_browser, auth, http
    ):
        _, first, _ = await new_browser().login("pia@example.com", dev_picture=GOOGLE_PICTURE)
        assert (await _me(http, auth, first["access_token"]))["picture"] == GOOGLE_PICTURE

        _, second, _ = await new_browser().login("pia@example.com", dev_picture=NEW_GOOGLE_PICTURE)

        assert second["user"]["id"] == first["user"]["id"]
        assert second["user"]["picture"] == NEW_GOOGLE_PICTURE
        # The first session's token reads the same user record, so it sees the new one too.
        assert (await _me(http, auth, first["access_token"]))["picture"] == NEW_GOOGLE_PICTURE

    @pytest.mark.parametrize(
        "unsafe",
        [
            "javascript:alert(1)",
            "http://a.example/p.png",
            "data:text/html;base64,PHNjcmlwdD4=",
            'https://a.example/p.png" onerror="alert(1)',
        ],
    )
    async def test_an_unsafe_picture_signs_in_without_one_and_clears_the_old(
        self, new_browser, auth, http, unsafe
    ):
        _, before, _ = await new_browser().login("pia@example.com", dev_picture=GOOGLE_PICTURE)

        status, body, _ = await new_browser().login("pia@example.com", dev_picture=unsafe)

        assert status == 200, body
        assert body["user"]["id"] == before["user"]["id"]
        assert body["user"]["picture"] is None
        assert (await _me(http, auth, body["access_token"]))["picture"] is None

    async def test_the_lookup_by_email_answers_the_picture(self, new_browser, auth, http):
        _, owner, _ = await new_browser().login("owner@example.com")
        await new_browser().login("pia@example.com", dev_picture=GOOGLE_PICTURE)
        _, plain, _ = await new_browser().login("bo@example.com", dev_picture="ftp://x.example/p")

        pia = await _lookup(http, auth, "pia@example.com", owner["access_token"])
        bo = await _lookup(http, auth, "bo@example.com", owner["access_token"])

        assert pia["picture"] == GOOGLE_PICTURE
        assert bo == {
            "user_id": plain["user"]["id"],
            "name": "Bo",
            "email": "bo@example.com",
            "picture": None,
        }
