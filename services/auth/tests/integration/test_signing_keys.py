"""Private signing keys at rest (issue 12, hole 1): sealed under a key-encryption key that never
lives in the database, so a key read from there signs nothing any service accepts, a key planted
there is never used, and the key-encryption key can be rotated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from auth.adapters.aesgcm_key_encryption import AesGcmKeyEncryption
from auth.adapters.mongo_signing_keys import MongoSigningKeys, UnsealedKeysError
from auth.domain.kek import new_key, parse_keys
from auth.domain.signing import SigningKey
from auth.ports import KeyDecryptionError
from bson import Binary
from cardstream_runtime.jwt import InvalidTokenError
from cryptography.hazmat.primitives import serialization

SLOTS = ("previous", "current", "next")


def _store(db, kek: str, *, discard_unsealed: bool = False) -> MongoSigningKeys:
    return MongoSigningKeys(
        db, AesGcmKeyEncryption(parse_keys(kek)), discard_unsealed=discard_unsealed
    )


def _kids(ring) -> tuple:
    assert ring is not None
    previous = ring.previous.kid if ring.previous else None
    return (ring.version, previous, ring.current.kid, ring.next.kid)


class TestAtRest:
    async def test_no_stored_field_is_a_private_key(self, auth, mongo, mongo_db_name):
        doc = await mongo[mongo_db_name]["signing_keys"].find_one({})

        assert doc is not None
        assert doc["kek"] == "test-kek"
        for slot in ("current", "next"):
            blob = bytes(doc[slot])
            assert b"PRIVATE KEY" not in blob
            with pytest.raises(ValueError, match="deserialize"):
                serialization.load_der_private_key(blob, password=None)

    async def test_a_key_planted_in_the_database_signs_nothing_accepted(
        self, auth, browser, http, helpers, mongo, mongo_db_name
    ):
        _, tokens, _ = await browser.login()
        planted = SigningKey.generate()
        rings = mongo[mongo_db_name]["signing_keys"]
        await rings.insert_one(
            {
                "_id": 99,
                "created_at": datetime.now(UTC),
                "previous": None,
                "current": planted.pem(),
                "next": planted.pem(),
            }
        )
        forged = planted.sign(helpers.claims_of(tokens["access_token"]))
        verifier = helpers.verifier(auth, http)

        with pytest.raises(InvalidTokenError):
            await verifier.verify(forged)
        # In development the planted ring was deleted on sight; the real one still signs.
        assert await rings.count_documents({"_id": 99}) == 0
        await verifier.verify(tokens["access_token"])

    async def test_production_refuses_to_start_on_a_plain_ring(self, mongo, mongo_db_name, kek):
        planted = SigningKey.generate()
        db = mongo[mongo_db_name]
        await db["signing_keys"].insert_one(
            {
                "_id": 1,
                "created_at": datetime.now(UTC),
                "previous": None,
                "current": planted.pem(),
                "next": planted.pem(),
            }
        )

        with pytest.raises(UnsealedKeysError, match="rewrap-keys --seal-plain"):
            await _store(db, kek).load()

    async def test_a_sealed_key_moved_to_another_slot_does_not_open(
        self, mongo, mongo_db_name, kek
    ):
        db = mongo[mongo_db_name]
        store = _store(db, kek)
        await store.ensure(now=datetime.now(UTC))
        rings = db["signing_keys"]
        doc = await rings.find_one({"_id": 1})
        await rings.update_one({"_id": 1}, {"$set": {"next": Binary(bytes(doc["current"]))}})

        with pytest.raises(KeyDecryptionError, match="does not open"):
            await store.load()

    async def test_another_key_encryption_key_opens_nothing(self, mongo, mongo_db_name, kek):
        db = mongo[mongo_db_name]
        await _store(db, kek).ensure(now=datetime.now(UTC))

        with pytest.raises(KeyDecryptionError, match="not given"):
            await _store(db, f"other:{new_key()}").load()
        with pytest.raises(KeyDecryptionError, match="does not open"):
            await _store(db, f"test-kek:{new_key()}").load()


class TestRotatingTheKeyEncryptionKey:
    async def test_rewrap_seals_every_ring_under_the_new_key_and_keeps_the_signing_keys(
        self, helpers, mongo, mongo_url, mongo_db_name, kek
    ):
        db = mongo[mongo_db_name]
        before = await _store(db, kek).ensure(now=datetime.now(UTC))
        status, new_entry, _ = await helpers.auth_cli(
            mongo_url, mongo_db_name, kek, "new-kek", "second"
        )
        assert status == 0
        both = f"{new_entry.strip()},{kek}"

        # With both keys given, the ring still opens before it is rewrapped.
        assert _kids(await _store(db, both).load()) == _kids(before)
        status, out, err = await helpers.auth_cli(mongo_url, mongo_db_name, both, "rewrap-keys")

        assert status == 0, err
        assert '"rewrapped":1' in out
        doc = await db["signing_keys"].find_one({"_id": before.version})
        assert doc["kek"] == "second"
        # The old key-encryption key is no longer needed, and the signing keys are the same.
        assert _kids(await _store(db, new_entry.strip()).load()) == _kids(before)
        with pytest.raises(KeyDecryptionError):
            await _store(db, kek).load()

    async def test_plain_rings_are_sealed_only_when_asked(
        self, helpers, mongo, mongo_url, mongo_db_name, kek
    ):
        key, following = SigningKey.generate(), SigningKey.generate()
        db = mongo[mongo_db_name]
        await db["signing_keys"].insert_one(
            {
                "_id": 3,
                "created_at": datetime.now(UTC),
                "previous": None,
                "current": key.pem(),
                "next": following.pem(),
            }
        )

        status, _, err = await helpers.auth_cli(mongo_url, mongo_db_name, kek, "rewrap-keys")
        assert status != 0
        assert "--seal-plain" in err
        status, out, err = await helpers.auth_cli(
            mongo_url, mongo_db_name, kek, "rewrap-keys", "--seal-plain"
        )

        assert status == 0, err
        assert '"sealed_plain":1' in out
        ring = await _store(db, kek).load()
        assert ring is not None
        assert (ring.version, ring.current.kid, ring.next.kid) == (3, key.kid, following.kid)

    async def test_new_kek_prints_an_entry_settings_accept(
        self, helpers, mongo_url, mongo_db_name, kek
    ):
        status, out, _ = await helpers.auth_cli(mongo_url, mongo_db_name, kek, "new-kek", "2027-01")

        assert status == 0
        assert list(parse_keys(out)) == ["2027-01"]
