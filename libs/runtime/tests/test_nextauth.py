"""SharedSecretVerifier (the NextAuth option) and the user ids it maps NextAuth users to."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cardstream_runtime.jwt import InvalidTokenError, SharedSecretVerifier
from cardstream_runtime.nextauth import NEXTAUTH_USER_NAMESPACE, main, nextauth_user_id

SECRET = b"a-shared-secret-of-at-least-sixty-four-bytes-as-rfc-7518-asks-for!"
ISSUER = "https://app.example.com"
AUDIENCE = "cardstream-boards"
MINUTE = 60


def _verifier(**options: Any) -> SharedSecretVerifier:
    return SharedSecretVerifier(SECRET, issuers=[ISSUER], audience=AUDIENCE, **options)


def _token(*, lifetime: int = 10 * MINUTE, iat_offset: int = 0, **override: Any) -> str:
    iat = int(time.time()) + iat_offset
    claims: dict[str, Any] = {
        "sub": "user-42",
        "email": "ada@example.com",
        "name": "Ada",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": iat,
        "exp": iat + lifetime,
    }
    claims.update(override)
    present = {k: v for k, v in claims.items() if v is not None}
    # Signed as bytes: jwt.encode itself refuses some of the malformed claims tested here.
    return jwt.api_jws.encode(json.dumps(present).encode(), SECRET, algorithm="HS512")


class TestLifetime:
    async def test_accepts_a_fifteen_minute_token_by_default(self) -> None:
        claims = await _verifier().verify(_token(lifetime=15 * MINUTE))
        assert claims.sub == nextauth_user_id(ISSUER, "user-42")

    async def test_refuses_a_sixteen_minute_token_by_default(self) -> None:
        with pytest.raises(InvalidTokenError, match="longer than the 900 s allowed"):
            await _verifier().verify(_token(lifetime=16 * MINUTE))

    async def test_refuses_a_one_year_token(self) -> None:
        with pytest.raises(InvalidTokenError, match="longer than"):
            await _verifier().verify(_token(lifetime=365 * 24 * 3600))

    async def test_the_longest_lifetime_is_a_setting(self) -> None:
        hour = _token(lifetime=60 * MINUTE)
        assert (await _verifier(max_lifetime_s=3600).verify(hour)).exp > time.time()
        with pytest.raises(InvalidTokenError):
            await _verifier(max_lifetime_s=1800).verify(hour)

    async def test_refuses_a_token_issued_in_the_future(self) -> None:
        # A future `iat` would otherwise stretch the lifetime the cap allows.
        with pytest.raises(InvalidTokenError, match="iat"):
            await _verifier().verify(_token(iat_offset=5 * MINUTE))

    async def test_tolerates_clock_skew_within_the_leeway(self) -> None:
        assert await _verifier().verify(_token(iat_offset=10))

    async def test_refuses_an_expired_token(self) -> None:
        with pytest.raises(InvalidTokenError, match="expired"):
            await _verifier().verify(_token(iat_offset=-20 * MINUTE))


class TestIssuerAndAudience:
    @pytest.mark.parametrize(
        ("override", "reason"),
        [
            ({"iss": None}, "iss"),
            ({"iss": "https://evil.example.com"}, "issuer"),
            ({"iss": ISSUER + "/"}, "issuer"),
            ({"iss": 7}, "iss"),
            ({"aud": None}, "aud"),
            ({"aud": "cardstream-projector"}, "audience"),
            ({"aud": [AUDIENCE, "someone-else"]}, "claim format"),
        ],
        ids=[
            "no iss",
            "another iss",
            "iss spelled otherwise",
            "iss not a string",
            "no aud",
            "another aud",
            "aud a list",
        ],
    )
    async def test_refuses_a_token_without_our_issuer_and_audience(
        self, override: dict[str, Any], reason: str
    ) -> None:
        with pytest.raises(InvalidTokenError, match=f"(?i){reason}"):
            await _verifier().verify(_token(**override))

    async def test_accepts_any_of_several_issuers(self) -> None:
        verifier = SharedSecretVerifier(
            SECRET, issuers=[ISSUER, "https://other.example.com"], audience=AUDIENCE
        )
        claims = await verifier.verify(_token(iss="https://other.example.com"))
        assert claims.sub == nextauth_user_id("https://other.example.com", "user-42")

    @pytest.mark.parametrize(
        ("options", "complaint"),
        [
            ({"issuers": []}, "issuer"),
            ({"issuers": [""]}, "issuer"),
            ({"audience": ""}, "audience"),
            ({"max_lifetime_s": 0}, "lifetime"),
        ],
        ids=["no issuer", "empty issuer", "no audience", "no lifetime"],
    )
    def test_cannot_be_built_without_what_it_checks(
        self, options: dict[str, Any], complaint: str
    ) -> None:
        arguments: dict[str, Any] = {"issuers": [ISSUER], "audience": AUDIENCE, **options}
        with pytest.raises(ValueError, match=complaint):
            SharedSecretVerifier(SECRET, **arguments)


class TestUserIds:
    async def test_a_sub_equal_to_one_of_our_user_ids_maps_to_another_id(self) -> None:
        ours = str(uuid.uuid4())  # what the auth service mints

        claims = await _verifier().verify(_token(sub=ours))

        assert claims.sub != ours
        assert uuid.UUID(claims.sub).version == 5  # ours are version 4: the sets never meet

    async def test_one_sub_from_two_issuers_is_two_users(self) -> None:
        assert nextauth_user_id(ISSUER, "u") != nextauth_user_id("https://other.example.com", "u")

    def test_the_separator_cannot_be_forged(self) -> None:
        with pytest.raises(ValueError, match="NUL"):
            nextauth_user_id("https://a", "b\0c")

    async def test_a_sub_holding_nul_is_refused(self) -> None:
        with pytest.raises(InvalidTokenError, match="subject"):
            await _verifier().verify(_token(sub="x\0y"))

    async def test_the_front_ends_session_id_is_not_taken_as_ours(self) -> None:
        claims = await _verifier().verify(_token(sid="our-session", jti="j"))
        assert claims.sid is None
        assert claims.jti is None
        assert (claims.name, claims.email) == ("Ada", "ada@example.com")

    def test_the_namespace_is_the_one_docs_nextauth_md_names(self) -> None:
        derived = uuid.uuid5(uuid.NAMESPACE_URL, "urn:cardstream:nextauth-user")
        assert derived == NEXTAUTH_USER_NAMESPACE
        # The worked example in docs/nextauth.md, which a front end can check its code against.
        assert nextauth_user_id(ISSUER, "user-42") == "92fcc091-178c-53fa-aa7b-0ea6199a8da6"

    def test_the_command_line_prints_the_id(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main([ISSUER, "user-42"]) == 0
        assert capsys.readouterr().out.strip() == nextauth_user_id(ISSUER, "user-42")
        assert main([ISSUER]) == 2
