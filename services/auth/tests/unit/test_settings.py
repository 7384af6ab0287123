"""AuthSettings: derived defaults, and what production refuses."""

from __future__ import annotations

import pytest
from auth.domain.kek import new_key
from auth.settings import AuthSettings
from pydantic import ValidationError

BASE = {"oidc_client_id": "c", "oidc_client_secret": "s"}
KEK = f"k1:{new_key()}"
# Production's Redis for auth's state, another than the event log's (the default redis_url).
STATE_REDIS = {"state_redis_url": "redis://auth-state:6379/0"}


class TestAuthSettings:
    def test_defaults_derive_from_the_public_url(self):
        settings = AuthSettings(**BASE, public_url="https://cards.example/")

        assert settings.issuer == "https://cards.example"
        assert settings.redirect_uri == "https://cards.example/auth/callback"
        assert (settings.boards_audience, settings.projector_audience) == (
            "cardstream-boards",
            "cardstream-projector",
        )
        assert settings.oidc_issuer == "https://accounts.google.com"
        assert settings.port == 8083
        assert settings.access_ttl_s == 600
        assert settings.state_ttl_s == 600
        assert settings.cookie_secure is True
        assert settings.session_max_s == 30 * 24 * 3600
        assert settings.header_timeout_s == 10

    @pytest.mark.parametrize("seconds", [59, 366 * 24 * 3600 + 1])
    def test_the_longest_session_is_bounded(self, seconds):
        with pytest.raises(ValidationError, match="session_max_s"):
            AuthSettings(**BASE, session_max_s=seconds)

    @pytest.mark.parametrize("seconds", [0, 0.09, 60.5])
    def test_the_header_timeout_is_bounded(self, seconds):
        with pytest.raises(ValidationError, match="header_timeout_s"):
            AuthSettings(**BASE, header_timeout_s=seconds)

    def test_the_sessions_channel_carries_the_key_prefix(self):
        assert AuthSettings(**BASE, key_prefix="t1:").sessions_channel == "t1:cs:sessions:ended"

    def test_the_two_audiences_differ(self):
        with pytest.raises(ValidationError, match="must differ"):
            AuthSettings(**BASE, boards_audience="cardstream", projector_audience="cardstream")

    def test_insecure_cookies_only_in_development_on_loopback(self):
        assert AuthSettings(**BASE, cookie_secure=False).cookie_secure is False
        with pytest.raises(ValidationError):
            AuthSettings(**BASE, cookie_secure=False, public_url="http://cards.example")
        with pytest.raises(ValidationError):
            AuthSettings(**BASE, cookie_secure=False, mode="production")

    def test_production_wants_https_and_a_client(self):
        production = {
            "mode": "production",
            "public_url": "https://cards.example",
            "key_encryption_keys": KEK,
            **STATE_REDIS,
        }
        assert AuthSettings(**BASE, **production).production
        with pytest.raises(ValidationError):
            AuthSettings(**production)
        with pytest.raises(ValidationError):
            AuthSettings(**BASE, mode="production", public_url="http://127.0.0.1:8080")

    def test_production_wants_its_own_key_encryption_key(self):
        production = {"mode": "production", "public_url": "https://cards.example", **STATE_REDIS}
        with pytest.raises(ValidationError, match="development key is public"):
            AuthSettings(**BASE, **production)
        assert AuthSettings(**BASE, **production, key_encryption_keys=KEK).kek_keys().keys() == {
            "k1"
        }

    def test_production_wants_a_state_redis_apart_from_the_event_logs(self):
        production = {
            "mode": "production",
            "public_url": "https://cards.example",
            "key_encryption_keys": KEK,
            "redis_url": "redis://events:6379/0",
        }
        with pytest.raises(ValidationError, match="state_redis_url"):
            AuthSettings(**BASE, **production)
        with pytest.raises(ValidationError, match="not the event log's"):
            AuthSettings(**BASE, **production, state_redis_url="redis://events:6379/0")
        settings = AuthSettings(**BASE, **production, **STATE_REDIS)
        assert settings.state_redis_url == "redis://auth-state:6379/0"

    def test_development_may_leave_the_state_in_the_event_logs_redis(self):
        # app.py then uses the event log's client for both, and logs that it does.
        assert AuthSettings(**BASE).state_redis_url == ""

    def test_key_encryption_keys_from_a_file(self, tmp_path):
        path = tmp_path / "kek"
        path.write_text(f"# rotated 2026-12\n{KEK}\nk0:{new_key()}\n")
        assert list(AuthSettings(**BASE, key_encryption_keys_file=path).kek_keys()) == ["k1", "k0"]
        with pytest.raises(ValidationError, match="not both"):
            AuthSettings(**BASE, key_encryption_keys_file=path, key_encryption_keys=KEK)
        with pytest.raises(ValidationError, match="key_encryption_keys_file"):
            AuthSettings(**BASE, key_encryption_keys_file=tmp_path / "missing")

    def test_a_malformed_key_encryption_key_is_refused_without_echoing_it(self):
        with pytest.raises(ValidationError, match="32 bytes") as refused:
            AuthSettings(**BASE, key_encryption_keys="k1:c2hvcnQ=")
        assert "c2hvcnQ" not in str(refused.value)

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

    def test_the_event_logs_redis_may_be_a_cluster_and_the_states_may_not(self):
        cluster = "redis+cluster://10.0.0.1:6379,10.0.0.2:6379"
        assert AuthSettings(**BASE, redis_url=cluster).redis_url == cluster
        with pytest.raises(ValidationError, match="each node of a cluster URL"):
            AuthSettings(**BASE, redis_url="redis+cluster://nohost")
        with pytest.raises(ValidationError, match="one Redis server, not a cluster"):
            AuthSettings(**BASE, state_redis_url=cluster)
