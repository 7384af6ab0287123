"""The rules the callback applies to a login in flight, and where a login may return to."""

from __future__ import annotations

import pytest
from auth.domain.errors import LoginStateError
from auth.domain.login import accept_callback, begin_login, code_challenge, safe_next_path
from authlib.oauth2.rfc7636 import create_s256_code_challenge

PROVIDER = "https://accounts.google.com"


def _login(now: float = 1000.0):
    return begin_login(provider=PROVIDER, browser="b-1", next_path=None, now=now, ttl_s=600)


class TestAcceptCallback:
    def test_the_browser_that_started_it_within_ten_minutes_goes_on(self):
        login = _login()

        assert accept_callback(login, browser="b-1", provider=PROVIDER, now=1599.0) is login

    @pytest.mark.parametrize(
        ("stored", "browser", "provider", "now", "code"),
        [
            (None, "b-1", PROVIDER, 1000.0, "invalid_state"),
            ("login", "b-1", PROVIDER, 1600.0, "state_expired"),
            ("login", "b-2", PROVIDER, 1000.0, "state_mismatch"),
            ("login", None, PROVIDER, 1000.0, "state_mismatch"),
            ("login", "b-1", "https://idp.example", 1000.0, "state_mismatch"),
        ],
    )
    def test_refuses(self, stored, browser, provider, now, code):
        login = _login() if stored else None

        with pytest.raises(LoginStateError) as caught:
            accept_callback(login, browser=browser, provider=provider, now=now)

        assert caught.value.code == code

    def test_each_login_has_its_own_random_values(self):
        first, second = _login(), _login()

        assert len({first.state, second.state, first.nonce, second.nonce}) == 4
        assert first.code_verifier != second.code_verifier
        assert len(first.code_verifier) == 43
        assert "b-1" not in first.browser_hash  # only its hash is stored

    def test_the_challenge_is_s256_of_the_verifier(self):
        verifier = _login().code_verifier

        assert code_challenge(verifier) == create_s256_code_challenge(verifier)


class TestNextPath:
    @pytest.mark.parametrize("value", ["/", "/boards/1", "/b?x=1#top"])
    def test_a_path_on_this_site_is_kept(self, value):
        assert safe_next_path(value) == value

    @pytest.mark.parametrize("value", [None, ""])
    def test_nothing_is_none(self, value):
        assert safe_next_path(value) is None

    @pytest.mark.parametrize(
        "value",
        [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "boards",
            "/a\\b",
            "/\u00e9",
            "/a\nb",
            "/" + "a" * 3000,
        ],
    )
    def test_anything_that_could_leave_the_site_is_refused(self, value):
        with pytest.raises(LoginStateError):
            safe_next_path(value)
