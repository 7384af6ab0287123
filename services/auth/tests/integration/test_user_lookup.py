"""`GET /auth/users?email=`: who an address belongs to, for a board owner inviting by email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth.domain.id_token import Identity
from cardstream_testing.answers import read_answer


async def _lookup(http, auth, email: str | None, token: str | None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"email": email} if email is not None else {}
    async with http.get(f"{auth.url}/auth/users", params=params, headers=headers) as response:
        if response.status == 200:
            assert response.headers["Cache-Control"] == "no-store"
        return response.status, await read_answer(response)


class TestFindUserByEmail:
    async def test_someone_who_signed_in_is_found_whatever_the_case_of_the_address(
        self, new_browser, auth, http
    ):
        _, owner, _ = await new_browser().login("owner@example.com")
        _, invitee, _ = await new_browser().login("Bea.Invited@Example.com")

        status, body = await _lookup(http, auth, "bea.invited@EXAMPLE.com", owner["access_token"])

        assert status == 200
        assert body == {
            "user_id": invitee["user"]["id"],
            "name": invitee["user"]["name"],
            "email": invitee["user"]["email"],
            "picture": invitee["user"]["picture"],
        }

    async def test_an_address_nobody_signed_in_with_is_not_found(self, browser, auth, http):
        _, owner, _ = await browser.login("owner@example.com")

        status, body = await _lookup(http, auth, "never@example.com", owner["access_token"])

        assert status == 404
        assert body["error"]["code"] == "user_not_found"

    async def test_the_match_is_exact_not_a_prefix_or_a_pattern(self, new_browser, auth, http):
        _, owner, _ = await new_browser().login("owner@example.com")
        await new_browser().login("carol@example.com")

        for probe in ("carol@example.co", "arol@example.com", "c.*@example.com", "carol@"):
            status, body = await _lookup(http, auth, probe, owner["access_token"])
            assert (status, body["error"]["code"]) == (404, "user_not_found"), probe

    async def test_without_a_valid_access_token_nothing_is_said(self, browser, auth, http):
        _, owner, _ = await browser.login("owner@example.com")

        for token in (None, "not-a-jwt", owner["access_token"][:-4] + "AAAA"):
            status, body = await _lookup(http, auth, "owner@example.com", token)
            assert (status, body["error"]["code"]) == (401, "unauthorized")

    async def test_a_token_whose_session_ended_can_look_up_no_more(self, browser, auth, http):
        _, owner, _ = await browser.login("owner@example.com")
        async with http.post(
            f"{auth.url}/auth/logout", json={"refresh_token": owner["refresh_token"]}
        ) as response:
            assert response.status == 204

        status, body = await _lookup(http, auth, "owner@example.com", owner["access_token"])

        assert (status, body["error"]["code"]) == (401, "session_ended")

    async def test_a_missing_or_malformed_address_is_a_bad_request(self, browser, auth, http):
        _, owner, _ = await browser.login("owner@example.com")

        for email in (None, "", "   ", "no-at-sign", "a@" + "x" * 400):
            status, body = await _lookup(http, auth, email, owner["access_token"])
            assert (status, body["error"]["code"]) == (400, "invalid_request"), email


def _identity(subject: str, email: str) -> Identity:
    return Identity(
        issuer="https://accounts.google.com",
        subject=subject,
        email=email,
        name=f"User {subject}",
        hosted_domain=None,
    )


class TestMongoAccountsByEmail:
    async def test_an_address_that_changed_hands_names_whoever_signed_in_with_it_last(
        self, accounts
    ):
        earlier = datetime(2030, 1, 1, tzinfo=UTC)
        old = await accounts.sign_in(_identity("111", "shared@example.com"), now=earlier)
        new = await accounts.sign_in(
            _identity("222", "Shared@example.com"), now=earlier + timedelta(days=1)
        )

        found = await accounts.user_by_email("SHARED@example.com")

        assert found is not None
        assert found.user_id == new.user_id != old.user_id

    async def test_an_address_someone_moved_away_from_no_longer_finds_them(self, accounts):
        now = datetime(2030, 1, 1, tzinfo=UTC)
        user = await accounts.sign_in(_identity("333", "before@example.com"), now=now)
        await accounts.sign_in(_identity("333", "after@example.com"), now=now)

        assert await accounts.user_by_email("before@example.com") is None
        found = await accounts.user_by_email("after@example.com")
        assert found is not None
        assert found.user_id == user.user_id
