"""Key-encryption keys as settings give them, and AES-GCM sealing with a context."""

from __future__ import annotations

import base64

import pytest
from auth.adapters.aesgcm_key_encryption import AesGcmKeyEncryption
from auth.domain.kek import DEVELOPMENT_KEY_ID, DEVELOPMENT_KEYS, new_key, parse_keys
from auth.ports import KeyDecryptionError, Sealed

# Fixed keys where a test's parameters name them: parameters (and so test ids) must be the same
# in every collection, or pytest-xdist's workers disagree on which tests there are.
KEY_A = base64.urlsafe_b64encode(bytes(range(32))).decode()
KEY_B = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()


class TestParseKeys:
    def test_the_first_entry_is_current_and_order_is_kept(self):
        first, second = new_key(), new_key()
        keys = parse_keys(f"b:{first},\n a : {second} ")

        assert list(keys) == ["b", "a"]
        assert keys["b"] == base64.urlsafe_b64decode(first)

    def test_comments_and_blank_lines_are_skipped(self):
        assert list(parse_keys(f"# a comment\n\nk:{new_key()}\n")) == ["k"]

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("", "no key-encryption key"),
            ("# only a comment", "no key-encryption key"),
            ("no-colon", "id:key"),
            (f"bad id:{KEY_A}", "id:key"),
            (f"{'x' * 65}:{KEY_A}", "id:key"),
            ("k:not base64!", "not base64"),
            ("k:c2hvcnQ=", "32 bytes"),
            (f"k:{KEY_A},k:{KEY_B}", "given twice"),
        ],
    )
    def test_malformed_entries_are_refused(self, text, says):
        with pytest.raises(ValueError, match=says):
            parse_keys(text)

    def test_the_development_key_parses(self):
        assert list(parse_keys(DEVELOPMENT_KEYS)) == [DEVELOPMENT_KEY_ID]


class TestAesGcm:
    async def test_a_sealed_secret_opens_with_its_context(self):
        sealing = AesGcmKeyEncryption(parse_keys(f"k:{new_key()}"))
        sealed = await sealing.encrypt(b"secret", context="ring:1:current")

        assert sealed.key_id == "k" == sealing.current
        assert b"secret" not in sealed.blob
        assert await sealing.decrypt(sealed, context="ring:1:current") == b"secret"

    async def test_each_sealing_uses_a_fresh_nonce(self):
        sealing = AesGcmKeyEncryption(parse_keys(f"k:{new_key()}"))
        one = await sealing.encrypt(b"secret", context="c")
        two = await sealing.encrypt(b"secret", context="c")

        assert one.blob != two.blob

    async def test_another_context_or_an_altered_blob_does_not_open(self):
        sealing = AesGcmKeyEncryption(parse_keys(f"k:{new_key()}"))
        sealed = await sealing.encrypt(b"secret", context="ring:1:current")
        altered = Sealed("k", sealed.blob[:-1] + bytes([sealed.blob[-1] ^ 1]))

        with pytest.raises(KeyDecryptionError, match="does not open"):
            await sealing.decrypt(sealed, context="ring:1:next")
        with pytest.raises(KeyDecryptionError, match="does not open"):
            await sealing.decrypt(altered, context="ring:1:current")

    async def test_an_older_key_opens_what_it_sealed_and_new_secrets_use_the_first(self):
        old = f"old:{new_key()}"
        sealed = await AesGcmKeyEncryption(parse_keys(old)).encrypt(b"secret", context="c")
        both = AesGcmKeyEncryption(parse_keys(f"new:{new_key()},{old}"))

        assert await both.decrypt(sealed, context="c") == b"secret"
        assert (await both.encrypt(b"x", context="c")).key_id == "new"

    async def test_a_key_not_given_is_named(self):
        sealing = AesGcmKeyEncryption(parse_keys(f"k:{new_key()}"))

        with pytest.raises(KeyDecryptionError, match="'gone'"):
            await sealing.decrypt(Sealed("gone", b"\0" * 40), context="c")
