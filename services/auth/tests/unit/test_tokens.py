"""Our signing keys and token contents."""

from __future__ import annotations

import time
import uuid

from auth.domain.signing import KeyRing, SigningKey
from auth.domain.tokens import (
    User,
    access_token_claims,
    new_refresh_token,
    new_user_id,
    refresh_token_hash,
)
from cardstream_runtime.jwt import StaticKeys, TokenVerifier
from cardstream_runtime.kid import key_id
from cardstream_runtime.nextauth import nextauth_user_id


class TestSigningKeys:
    def test_the_kid_is_the_runtimes(self):
        key = SigningKey.generate()

        assert key.kid == key_id(key.public_key)

    def test_a_key_survives_its_pem(self):
        key = SigningKey.generate()

        assert SigningKey.from_pem(key.pem()).kid == key.kid

    def test_the_public_jwk_has_no_private_part(self):
        jwk = SigningKey.generate().public_jwk()

        assert {"kty", "crv", "x", "y", "kid", "use", "alg"} <= set(jwk)
        assert "d" not in jwk

    def test_rotation_moves_each_key_along(self):
        ring = KeyRing(1, None, SigningKey.generate(), SigningKey.generate())

        rotated = ring.rotated()

        assert rotated.version == 2
        assert rotated.previous == ring.current
        assert rotated.current == ring.next
        assert rotated.next not in (ring.current, ring.next)
        assert len(rotated.published()) == 3
        assert len(ring.published()) == 2

    async def test_a_signed_token_verifies_with_the_shared_verifier(self):
        key = SigningKey.generate()
        user = User(user_id="7b0f4c1e-0000-4000-8000-000000000000", email="a@b.c", name="A")
        claims = access_token_claims(
            user,
            sid="s1",
            issuer="https://cards.example",
            audience="cardstream-projector",
            now=int(time.time()),
            ttl_s=600,
        )
        verifier = TokenVerifier(
            StaticKeys({key.kid: key.public_key}),
            issuer="https://cards.example",
            audience="cardstream-projector",
        )

        verified = await verifier.verify(key.sign(claims))

        assert (verified.sub, verified.sid, verified.email) == (user.user_id, "s1", "a@b.c")


class TestAccessTokenClaims:
    def test_the_picture_stays_out_of_the_access_token(self):
        user = User(
            user_id="7b0f4c1e-0000-4000-8000-000000000000",
            email="a@b.c",
            name="A",
            picture="data:image/png;base64," + "A" * 16_000,
        )

        claims = access_token_claims(
            user, sid="s1", issuer="https://cards.example", audience="x", now=0, ttl_s=600
        )

        assert "picture" not in claims
        assert user.picture is not None
        assert user.picture not in str(claims)


class TestRefreshTokens:
    def test_256_random_bits_stored_as_sha256(self):
        token = new_refresh_token()

        assert len(token) == 43
        assert new_refresh_token() != token
        assert len(refresh_token_hash(token)) == 64
        assert token not in refresh_token_hash(token)


class TestUserIds:
    def test_ours_are_random_uuids_a_nextauth_user_id_never_equals(self):
        # docs/nextauth.md: NextAuth users get version 5 UUIDs, disjoint from these by version.
        user_id = new_user_id()

        assert str(uuid.UUID(user_id)) == user_id
        assert uuid.UUID(user_id).version == 4
        assert uuid.UUID(nextauth_user_id("https://app.example.com", user_id)).version == 5
