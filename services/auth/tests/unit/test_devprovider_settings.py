"""The provider's settings and signing key: defaults, `DEVIDP_*` parsing, key files."""

from __future__ import annotations

import json

import pytest
from auth.devprovider.settings import DevClient, DevProviderSettings
from auth.devprovider.signing import IdTokenSigner, KeyFileError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError


@pytest.fixture(autouse=True)
def _no_devidp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "ISSUER", "MODE", "CLIENTS", "KEY_FILE"):
        monkeypatch.delenv(f"DEVIDP_{name}", raising=False)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class TestDevProviderSettings:
    def test_defaults_serve_the_local_client_in_development(self) -> None:
        settings = DevProviderSettings()
        assert (settings.host, settings.port, settings.mode) == ("127.0.0.1", 8093, "development")
        assert settings.issuer == "http://127.0.0.1:8093"
        assert settings.clients == [
            DevClient(
                client_id="cardstream-local",
                client_secret="local-secret",
                redirect_uris=["http://127.0.0.1:8080/auth/callback"],
            )
        ]
        assert (settings.id_token_ttl_s, settings.code_ttl_s) == (300, 60)
        assert settings.key_file is None

    def test_the_issuer_follows_host_and_port_when_not_given(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DEVIDP_HOST", "localhost")
        monkeypatch.setenv("DEVIDP_PORT", "9100")
        assert DevProviderSettings().issuer == "http://localhost:9100"

    def test_a_wildcard_host_gives_a_loopback_issuer(self) -> None:
        assert DevProviderSettings(host="0.0.0.0").issuer == "http://127.0.0.1:8093"

    def test_a_given_issuer_is_kept_without_its_trailing_slash(self) -> None:
        settings = DevProviderSettings(issuer="https://idp.example/dev/")
        assert settings.issuer == "https://idp.example/dev"

    @pytest.mark.parametrize("issuer", ["idp.example", "ftp://idp.example", "http://x/?a=1"])
    def test_an_issuer_that_is_not_a_plain_http_url_is_refused(self, issuer: str) -> None:
        with pytest.raises(ValidationError):
            DevProviderSettings(issuer=issuer)

    def test_clients_are_read_from_json(self, monkeypatch: pytest.MonkeyPatch) -> None:
        clients = [
            {"client_id": "a", "client_secret": "s", "redirect_uris": ["http://a/cb"]},
            {"client_id": "b", "client_secret": "t", "redirect_uris": ["http://b/cb"]},
        ]
        monkeypatch.setenv("DEVIDP_CLIENTS", json.dumps(clients))
        monkeypatch.setenv("DEVIDP_MODE", "production")
        settings = DevProviderSettings()
        assert [c.client_id for c in settings.clients] == ["a", "b"]
        assert settings.client("b") == DevClient(
            client_id="b", client_secret="t", redirect_uris=["http://b/cb"]
        )
        assert settings.client("c") is None
        assert settings.mode == "production"

    def test_client_ids_must_be_unique(self) -> None:
        client = DevClient(client_id="a", client_secret="s", redirect_uris=["http://a/cb"])
        with pytest.raises(ValidationError, match="unique"):
            DevProviderSettings(clients=[client, client])

    @pytest.mark.parametrize("uri", ["/auth/callback", "http://a/cb#top", "app://cb"])
    def test_redirect_uris_are_absolute_http_urls_without_fragment(self, uri: str) -> None:
        with pytest.raises(ValidationError, match="redirect URI"):
            DevClient(client_id="a", client_secret="s", redirect_uris=[uri])

    def test_settings_are_frozen(self) -> None:
        settings = DevProviderSettings()
        with pytest.raises(ValidationError):
            settings.port = 1  # type: ignore[misc]


class TestIdTokenSigner:
    def test_a_key_file_gives_the_same_kid_every_time(self) -> None:
        key = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        assert IdTokenSigner.from_pem(key).kid == IdTokenSigner.from_pem(key).kid

    def test_generated_keys_differ(self) -> None:
        assert IdTokenSigner.generate().kid != IdTokenSigner.generate().kid

    @pytest.mark.parametrize(
        "key",
        [
            pytest.param(b"not a key", id="garbage"),
            pytest.param(pem(ec.generate_private_key(ec.SECP256R1())), id="ec"),
            pytest.param(
                pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), id="rsa-1024"
            ),
        ],
    )
    def test_a_key_file_that_cannot_sign_rs256_is_refused(self, key: bytes) -> None:
        with pytest.raises(KeyFileError):
            IdTokenSigner.from_pem(key)

    def test_a_public_key_file_is_refused(self) -> None:
        public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        data = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with pytest.raises(KeyFileError):
            IdTokenSigner.from_pem(data)
