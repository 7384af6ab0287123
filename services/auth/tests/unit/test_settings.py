"""AuthSettings: derived defaults, and what production refuses."""

from __future__ import annotations

import pytest
from auth.settings import AuthSettings
from pydantic import ValidationError

BASE = {"oidc_client_id": "c", "oidc_client_secret": "s"}


class TestAuthSettings:
    def test_defaults_derive_from_the_public_url(self):
        settings = AuthSettings(**BASE, public_url="https://cards.example/")

        assert settings.issuer == "https://cards.example"
        assert settings.redirect_uri == "https://cards.example/auth/callback"
        assert settings.audiences == ["cardstream-boards", "cardstream-projector"]
        assert settings.oidc_issuer == "https://accounts.google.com"
        assert settings.port == 8083
        assert settings.access_ttl_s == 600
        assert settings.state_ttl_s == 600
        assert settings.cookie_secure is True

    def test_the_sessions_channel_carries_the_key_prefix(self):
        assert AuthSettings(**BASE, key_prefix="t1:").sessions_channel == "t1:cs:sessions:ended"

    def test_insecure_cookies_only_in_development_on_loopback(self):
        assert AuthSettings(**BASE, cookie_secure=False).cookie_secure is False
        with pytest.raises(ValidationError):
            AuthSettings(**BASE, cookie_secure=False, public_url="http://cards.example")
        with pytest.raises(ValidationError):
            AuthSettings(**BASE, cookie_secure=False, mode="production")

    def test_production_wants_https_and_a_client(self):
        production = {"mode": "production", "public_url": "https://cards.example"}
        assert AuthSettings(**BASE, **production).production
        with pytest.raises(ValidationError):
            AuthSettings(**production)
        with pytest.raises(ValidationError):
            AuthSettings(**BASE, mode="production", public_url="http://127.0.0.1:8080")

    def test_a_state_lives_at_most_ten_minutes(self):
        with pytest.raises(ValidationError):
            AuthSettings(**BASE, state_ttl_s=601)

    def test_post_login_redirect_is_a_local_path(self):
        with pytest.raises(ValidationError):
            AuthSettings(**BASE, post_login_redirect="https://evil.example/")

    def test_allowlists_are_lowercased(self):
        settings = AuthSettings(
            **BASE, allowed_domains=[" Corp.Example "], allowed_emails=["A@B.C"]
        )

        assert settings.allowed_domains == ["corp.example"]
        assert settings.allowed_emails == ["a@b.c"]
