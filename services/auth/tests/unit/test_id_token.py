"""The ID token validator: signature, iss spellings, aud, azp, exp/iat leeway, nonce,
email_verified, hd and email allowlists. Pure: keys are made here, the clock is a number."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from auth.domain.errors import IdTokenRejectedError, NotAllowedError
from auth.domain.id_token import IdTokenPolicy, check_claims, key_id, verify_id_token
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

NOW = 1_900_000_000
CLIENT = "client-123.apps.googleusercontent.com"
GOOGLE = "https://accounts.google.com"

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
KEYS = KeySet([RSAKey.import_key(KEY.as_dict(private=False))])


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": GOOGLE,
        "azp": CLIENT,
        "aud": CLIENT,
        "sub": "110169484474386276334",
        "email": "ann@corp.example",
        "email_verified": True,
        "hd": "corp.example",
        "name": "Ann Example",
        "nonce": "n-1",
        "iat": NOW - 10,
        "exp": NOW + 3590,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: RSAKey = KEY, header: dict[str, Any] | None = None) -> str:
    return jwt.encode(header or {"alg": "RS256", "kid": "k1", "typ": "JWT"}, payload, key)


def policy(**changes: Any) -> IdTokenPolicy:
    values: dict[str, Any] = {"issuer": GOOGLE, "client_id": CLIENT, "leeway_s": 60}
    values.update(changes)
    return IdTokenPolicy(**values)


def check(payload: dict[str, Any], *, nonce: str | None = "n-1", **policy_changes: Any):
    return check_claims(
        payload, {"alg": "RS256", "kid": "k1"}, policy(**policy_changes), nonce=nonce, now=NOW
    )


def rejected_claim(payload: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(IdTokenRejectedError) as caught:
        check(payload, **kwargs)
    assert caught.value.code == "id_token_rejected"
    return str((caught.value.details or {}).get("claim"))


class TestSignature:
    def test_a_token_signed_by_the_provider_is_accepted(self):
        identity = verify_id_token(sign(claims()), KEYS, policy(), nonce="n-1", now=NOW)

        assert identity.subject == "110169484474386276334"
        assert identity.email == "ann@corp.example"
        assert identity.issuer == GOOGLE
        assert identity.hosted_domain == "corp.example"

    def test_a_tampered_payload_is_refused(self):
        header, _, signature = sign(claims()).split(".")
        forged = _segment(claims(sub="someone-else"))

        with pytest.raises(IdTokenRejectedError):
            verify_id_token(f"{header}.{forged}.{signature}", KEYS, policy(), nonce="n-1", now=NOW)

    def test_a_token_signed_by_another_key_with_the_same_kid_is_refused(self):
        with pytest.raises(IdTokenRejectedError):
            verify_id_token(sign(claims(), OTHER_KEY), KEYS, policy(), nonce="n-1", now=NOW)

    def test_an_unknown_kid_is_refused(self):
        token = sign(claims(), header={"alg": "RS256", "kid": "k9"})

        with pytest.raises(IdTokenRejectedError):
            verify_id_token(token, KEYS, policy(), nonce="n-1", now=NOW)

    def test_alg_none_is_refused(self):
        token = f"{_segment({'alg': 'none', 'kid': 'k1'})}.{_segment(claims())}."

        with pytest.raises(IdTokenRejectedError):
            verify_id_token(token, KEYS, policy(), nonce="n-1", now=NOW)

    def test_hs256_signed_with_the_public_key_is_refused(self):
        public_pem = KEY.as_pem(private=False)
        signing_input = f"{_segment({'alg': 'HS256', 'kid': 'k1'})}.{_segment(claims())}"
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

        with pytest.raises(IdTokenRejectedError):
            verify_id_token(f"{signing_input}.{_b64(mac)}", KEYS, policy(), nonce="n-1", now=NOW)

    @pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "x" * 20_000, "é.é.é"])
    def test_garbage_is_refused(self, token):
        with pytest.raises(IdTokenRejectedError):
            verify_id_token(token, KEYS, policy(), nonce=None, now=NOW)

    def test_a_token_without_kid_is_refused(self):
        with pytest.raises(IdTokenRejectedError):
            key_id(sign(claims(), header={"alg": "RS256"}))


class TestIssuer:
    @pytest.mark.parametrize("spelling", ["https://accounts.google.com", "accounts.google.com"])
    @pytest.mark.parametrize("configured", ["https://accounts.google.com", "accounts.google.com"])
    def test_both_of_googles_spellings_are_accepted(self, spelling, configured):
        assert check(claims(iss=spelling), issuer=configured).issuer == configured

    @pytest.mark.parametrize(
        "iss",
        ["https://accounts.google.com/", "http://accounts.google.com", "https://evil.example"],
    )
    def test_other_spellings_are_refused_for_google(self, iss):
        assert rejected_claim(claims(iss=iss)) == "iss"

    def test_any_other_issuer_must_match_exactly(self):
        idp = "https://idp.example"

        assert check(claims(iss=idp), issuer=idp).issuer == idp
        assert rejected_claim(claims(iss=idp + "/"), issuer=idp) == "iss"
        assert rejected_claim(claims(iss="idp.example"), issuer=idp) == "iss"
        assert rejected_claim(claims(iss=GOOGLE), issuer=idp) == "iss"

    def test_a_missing_issuer_is_refused(self):
        assert rejected_claim(claims(iss=None)) == "iss"


class TestAudience:
    def test_a_token_for_another_client_is_refused(self):
        assert rejected_claim(claims(aud="another-client", azp="another-client")) in (
            "aud",
            "azp",
        )

    def test_our_client_among_others_is_refused(self):
        # authlib would accept it (the list contains us); we accept tokens issued to us alone.
        assert rejected_claim(claims(aud=[CLIENT, "another-client"])) == "aud"

    def test_a_single_element_list_of_our_client_is_accepted(self):
        assert check(claims(aud=[CLIENT])).subject

    def test_a_missing_audience_is_refused(self):
        assert rejected_claim(claims(aud=None)) == "aud"

    def test_another_authorized_party_is_refused(self):
        assert rejected_claim(claims(azp="another-client")) == "azp"

    def test_no_authorized_party_is_fine(self):
        assert check(claims(azp=None)).subject


class TestTimes:
    def test_expired_beyond_the_leeway_is_refused(self):
        assert rejected_claim(claims(exp=NOW - 61)) == "exp"

    def test_expired_within_the_leeway_is_accepted(self):
        assert check(claims(exp=NOW - 59)).subject

    def test_issued_in_the_future_beyond_the_leeway_is_refused(self):
        assert rejected_claim(claims(iat=NOW + 61)) == "iat"

    def test_issued_in_the_future_within_the_leeway_is_accepted(self):
        assert check(claims(iat=NOW + 59)).subject

    @pytest.mark.parametrize("name", ["exp", "iat"])
    def test_missing_times_are_refused(self, name):
        assert rejected_claim(claims(**{name: None})) == name

    def test_a_non_numeric_expiry_is_refused(self):
        assert rejected_claim(claims(exp="tomorrow")) == "exp"


class TestNonce:
    def test_another_nonce_is_refused(self):
        assert rejected_claim(claims(nonce="n-2")) == "nonce"

    def test_a_missing_nonce_is_refused_when_we_sent_one(self):
        assert rejected_claim(claims(nonce=None)) == "nonce"

    def test_no_nonce_is_required_when_we_sent_none(self):
        assert check(claims(nonce=None), nonce=None).subject
        assert check(claims(nonce="whatever"), nonce=None).subject


class TestEmail:
    def test_an_unverified_email_is_not_allowed(self):
        with pytest.raises(NotAllowedError) as caught:
            check(claims(email_verified=False))
        assert caught.value.code == "email_not_verified"

    @pytest.mark.parametrize("value", [None, "false", 1, "yes"])
    def test_anything_but_true_is_unverified(self, value):
        with pytest.raises(NotAllowedError):
            check(claims(email_verified=value))

    def test_the_string_true_of_older_tokens_is_verified(self):
        assert check(claims(email_verified="true")).email == "ann@corp.example"

    def test_no_email_is_not_allowed(self):
        with pytest.raises(NotAllowedError):
            check(claims(email=None))

    def test_the_subject_must_be_a_string(self):
        assert rejected_claim(claims(sub=12345)) == "sub"


class TestPicture:
    def test_a_signed_https_picture_comes_with_the_identity(self):
        picture = "https://lh3.googleusercontent.com/a/ACg8oc=s96-c"

        identity = verify_id_token(
            sign(claims(picture=picture)), KEYS, policy(), nonce="n-1", now=NOW
        )

        assert identity.picture == picture

    @pytest.mark.parametrize(
        "picture", [None, "javascript:alert(1)", "http://a.example/p.png", 7, "data:text/html,x"]
    )
    def test_a_missing_or_unsafe_picture_is_dropped_and_the_token_still_accepted(self, picture):
        identity = check(claims(picture=picture))

        assert identity.picture is None
        assert identity.email == "ann@corp.example"


class TestAllowlists:
    def test_without_lists_everyone_verified_is_admitted(self):
        assert check(claims(hd=None, email="x@gmail.com")).email == "x@gmail.com"

    def test_a_listed_hosted_domain_is_admitted(self):
        assert check(claims(), allowed_domains=frozenset({"corp.example"})).subject

    def test_hd_is_compared_without_case(self):
        assert check(claims(hd="Corp.Example"), allowed_domains=frozenset({"corp.example"}))

    def test_another_hosted_domain_is_not_allowed(self):
        with pytest.raises(NotAllowedError) as caught:
            check(claims(hd="other.example"), allowed_domains=frozenset({"corp.example"}))
        assert caught.value.code == "not_allowed"

    def test_the_email_domain_does_not_stand_in_for_hd(self):
        # A consumer account at a Workspace domain's address has no hd: not a member.
        with pytest.raises(NotAllowedError):
            check(claims(hd=None), allowed_domains=frozenset({"corp.example"}))

    def test_a_listed_email_is_admitted_without_the_domain(self):
        found = check(
            claims(hd=None, email="Guest@Gmail.com"),
            allowed_domains=frozenset({"corp.example"}),
            allowed_emails=frozenset({"guest@gmail.com"}),
        )
        assert found.email == "Guest@Gmail.com"

    def test_an_unlisted_email_is_not_allowed(self):
        with pytest.raises(NotAllowedError):
            check(claims(hd=None, email="x@gmail.com"), allowed_emails=frozenset({"y@gmail.com"}))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())
