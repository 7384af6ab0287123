"""The local OpenID provider over HTTP, driven like a relying party would: authorize, token,
verify the ID token against the JWKS with an independent JWT library (PyJWT)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote_plus

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from auth.devprovider.app import ProductionModeError, create_app
from auth.devprovider.settings import DevClient, DevProviderSettings
from auth.devprovider.signing import IdTokenSigner
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from yarl import URL

ISSUER = "http://idp.test:8093"
CLIENT_ID, SECRET = "cardstream-local", "local-secret"
REDIRECT = "http://127.0.0.1:8080/auth/callback"
OTHER_REDIRECT = "http://localhost:8080/auth/callback"
OTHER_CLIENT, OTHER_SECRET = "other-app", "other:secret/with+specials"
OTHER_APP_REDIRECT = "http://127.0.0.1:9000/cb"

Client = TestClient[web.Request, web.Application]


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class FormFields(HTMLParser):
    """Every form on a page, as its list of (name, value) inputs and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": attributes, "hidden": {}, "fields": []})
        elif tag in ("input", "button") and self.forms:
            if attributes.get("type") == "hidden":
                self.forms[-1]["hidden"][attributes["name"]] = attributes["value"]
            elif attributes.get("name"):
                self.forms[-1]["fields"].append((attributes["name"], attributes.get("value")))


@pytest.fixture(scope="module")
def signer() -> IdTokenSigner:
    return IdTokenSigner.generate()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> DevProviderSettings:
    return DevProviderSettings(
        issuer=ISSUER,
        clients=[
            DevClient(
                client_id=CLIENT_ID, client_secret=SECRET, redirect_uris=[REDIRECT, OTHER_REDIRECT]
            ),
            DevClient(
                client_id=OTHER_CLIENT,
                client_secret=OTHER_SECRET,
                redirect_uris=[OTHER_APP_REDIRECT],
            ),
        ],
    )


@pytest.fixture
async def client(
    aiohttp_client: Any, settings: DevProviderSettings, signer: IdTokenSigner, clock: FakeClock
) -> Client:
    return await aiohttp_client(create_app(settings, signer=signer, clock=clock))


def basic(client_id: str, secret: str) -> dict[str, str]:
    # RFC 6749 section 2.3.1: each half form-urlencoded, then joined and base64-encoded.
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def request_params(challenge: str, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email profile",
        "state": "state-1",
        "nonce": "nonce-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": "alice@example.com",
        **overrides,
    }
    return {k: v for k, v in params.items() if v is not None}


async def authorize(client: Client, params: dict[str, str]) -> dict[str, str]:
    response = await client.get("/authorize", params=params, allow_redirects=False)
    assert response.status == 302, await response.text()
    location = URL(response.headers["Location"])
    assert str(location.with_query(None)) == params["redirect_uri"]
    return dict(location.query)


async def code_for(client: Client, challenge: str, **overrides: str | None) -> str:
    query = await authorize(client, request_params(challenge, **overrides))
    assert query["state"] == "state-1"
    return query["code"]


async def exchange(
    client: Client, code: str, verifier: str | None, *, redirect_uri: str = REDIRECT, **extra: str
) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    form = {"client_id": CLIENT_ID, "client_secret": SECRET, **form, **extra}
    return await client.post("/token", data=form)


async def jwks_of(client: Client) -> jwt.PyJWKSet:
    response = await client.get("/jwks")
    return jwt.PyJWKSet.from_dict(await response.json())


async def id_token_claims(client: Client, id_token: str, audience: str = CLIENT_ID) -> Any:
    keys = await jwks_of(client)
    key = keys[jwt.get_unverified_header(id_token)["kid"]]
    return jwt.decode(
        id_token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "sub", "iat", "exp"]},
    )


async def sign_in(client: Client, **overrides: str | None) -> Any:
    verifier, challenge = pkce()
    code = await code_for(client, challenge, **overrides)
    response = await exchange(client, code, verifier)
    assert response.status == 200, await response.text()
    return await response.json()


class TestDiscovery:
    async def test_describes_the_endpoints_under_the_issuer(self, client: Client) -> None:
        response = await client.get("/.well-known/openid-configuration")
        document = await response.json()
        assert response.status == 200
        assert document["issuer"] == ISSUER
        assert document["authorization_endpoint"] == f"{ISSUER}/authorize"
        assert document["token_endpoint"] == f"{ISSUER}/token"
        assert document["jwks_uri"] == f"{ISSUER}/jwks"

    async def test_advertises_code_flow_with_s256_rs256_and_both_client_auth_methods(
        self, client: Client
    ) -> None:
        document = await (await client.get("/.well-known/openid-configuration")).json()
        assert document["response_types_supported"] == ["code"]
        assert document["subject_types_supported"] == ["public"]
        assert document["id_token_signing_alg_values_supported"] == ["RS256"]
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert document["scopes_supported"] == ["openid", "email", "profile"]
        assert set(document["token_endpoint_auth_methods_supported"]) == {
            "client_secret_post",
            "client_secret_basic",
        }
        assert {"sub", "email", "email_verified", "nonce", "hd"} <= set(
            document["claims_supported"]
        )


class TestJwks:
    async def test_publishes_one_public_rs256_signing_key_with_a_kid(
        self, client: Client, signer: IdTokenSigner
    ) -> None:
        [key] = (await (await client.get("/jwks")).json())["keys"]
        assert key["kty"] == "RSA"
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert key["kid"] == signer.kid
        assert {"n", "e"} <= key.keys()
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()

    async def test_may_be_cached_for_five_minutes(self, client: Client) -> None:
        response = await client.get("/jwks")
        assert response.headers["Cache-Control"] == "public, max-age=300"


class TestCodeFlowWithLoginHint:
    async def test_approves_at_once_with_a_code_and_the_state(self, client: Client) -> None:
        _, challenge = pkce()
        query = await authorize(client, request_params(challenge))
        assert query.keys() == {"code", "state"}
        assert query["state"] == "state-1"

    async def test_token_response_is_a_bearer_token_with_an_id_token_never_cached(
        self, client: Client
    ) -> None:
        verifier, challenge = pkce()
        response = await exchange(client, await code_for(client, challenge), verifier)
        body = await response.json()
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert body["scope"] == "openid email profile"
        assert len(body["access_token"]) >= 32
        assert body["id_token"].count(".") == 2

    async def test_id_token_verifies_against_the_jwks_with_googles_claims(
        self, client: Client, clock: FakeClock, signer: IdTokenSigner
    ) -> None:
        clock.now = time.time()
        body = await sign_in(client)
        header = jwt.get_unverified_header(body["id_token"])
        claims = await id_token_claims(client, body["id_token"])
        assert header == {"alg": "RS256", "kid": signer.kid, "typ": "JWT"}
        assert claims["iss"] == ISSUER
        assert claims["aud"] == claims["azp"] == CLIENT_ID
        assert claims["email"] == "alice@example.com"
        assert claims["email_verified"] is True
        assert claims["name"] == "Alice Example"
        assert claims["nonce"] == "nonce-1"
        assert claims["hd"] == "example.com"
        assert claims["iat"] == int(clock.now)
        assert claims["exp"] == claims["iat"] + 300
        assert claims["picture"].startswith("data:image/svg+xml;base64,")

    async def test_at_hash_is_the_left_half_of_the_access_tokens_sha256(
        self, client: Client
    ) -> None:
        body = await sign_in(client)
        claims = await id_token_claims(client, body["id_token"])
        digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
        assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    async def test_subject_is_stable_per_email_and_is_not_the_email(self, client: Client) -> None:
        first = await id_token_claims(client, (await sign_in(client))["id_token"])
        again = await id_token_claims(client, (await sign_in(client))["id_token"])
        bob = await id_token_claims(
            client, (await sign_in(client, login_hint="bob@example.com"))["id_token"]
        )
        assert first["sub"] == again["sub"] != bob["sub"]
        assert first["sub"].isdigit()
        assert "alice" not in first["sub"]

    async def test_login_hint_is_case_insensitive(self, client: Client) -> None:
        lower = await id_token_claims(client, (await sign_in(client))["id_token"])
        upper = await id_token_claims(
            client, (await sign_in(client, login_hint="Alice@Example.COM"))["id_token"]
        )
        assert upper["sub"] == lower["sub"]
        assert upper["email"] == "alice@example.com"

    async def test_consumer_gmail_accounts_carry_no_hd(self, client: Client) -> None:
        body = await sign_in(client, login_hint="someone.else@gmail.com")
        claims = await id_token_claims(client, body["id_token"])
        assert "hd" not in claims
        assert claims["name"] == "Someone Else"

    async def test_client_may_authenticate_with_http_basic(self, client: Client) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
        response = await client.post("/token", data=form, headers=basic(CLIENT_ID, SECRET))
        assert response.status == 200
        assert "id_token" in await response.json()

    async def test_basic_credentials_are_form_urlencoded_halves(self, client: Client) -> None:
        verifier, challenge = pkce()
        code = await code_for(
            client, challenge, client_id=OTHER_CLIENT, redirect_uri=OTHER_APP_REDIRECT
        )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": OTHER_APP_REDIRECT,
            "code_verifier": verifier,
        }
        response = await client.post("/token", data=form, headers=basic(OTHER_CLIENT, OTHER_SECRET))
        assert response.status == 200
        body = await response.json()
        claims = await id_token_claims(client, body["id_token"], audience=OTHER_CLIENT)
        assert claims["azp"] == OTHER_CLIENT

    async def test_an_invalid_login_hint_is_returned_as_invalid_request(
        self, client: Client
    ) -> None:
        _, challenge = pkce()
        query = await authorize(client, request_params(challenge, login_hint="not-an-email"))
        assert query["error"] == "invalid_request"
        assert query["state"] == "state-1"


class TestSignInPage:
    async def page(self, client: Client, **overrides: str | None) -> tuple[Any, FormFields]:
        _, challenge = pkce()
        params = request_params(challenge, login_hint=None, **overrides)
        response = await client.get("/authorize", params=params)
        parser = FormFields()
        parser.feed(await response.text())
        return response, parser

    async def post(
        self, client: Client, form: dict[str, Any], **fields: str
    ) -> tuple[int, dict[str, str]]:
        response = await client.post(
            "/authorize", data={**form["hidden"], **fields}, allow_redirects=False
        )
        if response.status != 302:
            return response.status, {}
        return 302, dict(URL(response.headers["Location"]).query)

    async def test_without_login_hint_shows_plain_forms_carrying_the_request(
        self, client: Client
    ) -> None:
        response, page = await self.page(client)
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "script" not in page.tags
        assert "style" not in page.tags
        assert "link" not in page.tags
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert len(page.forms) == 3
        for form in page.forms:
            assert form["attrs"]["method"] == "post"
            assert form["hidden"]["client_id"] == CLIENT_ID
            assert form["hidden"]["redirect_uri"] == REDIRECT
            assert form["hidden"]["nonce"] == "nonce-1"
            assert "login_hint" not in form["hidden"]
        accounts = [value for name, value in page.forms[0]["fields"] if name == "account"]
        assert "alice@example.com" in accounts

    async def test_choosing_a_demo_account_redirects_with_a_code_that_redeems(
        self, client: Client
    ) -> None:
        verifier, challenge = pkce()
        response = await client.get("/authorize", params=request_params(challenge, login_hint=None))
        page = FormFields()
        page.feed(await response.text())
        status, query = await self.post(client, page.forms[0], account="bob@example.com")
        assert status == 302
        assert query["state"] == "state-1"
        token = await exchange(client, query["code"], verifier)
        claims = await id_token_claims(client, (await token.json())["id_token"])
        assert claims["email"] == "bob@example.com"
        assert claims["name"] == "Bob Example"

    async def test_a_typed_email_and_name_end_up_in_the_id_token(self, client: Client) -> None:
        verifier, challenge = pkce()
        response = await client.get("/authorize", params=request_params(challenge, login_hint=None))
        page = FormFields()
        page.feed(await response.text())
        status, query = await self.post(
            client, page.forms[1], email="Dana@Corp.Example", name="Dana  Scully"
        )
        assert status == 302
        token = await exchange(client, query["code"], verifier)
        claims = await id_token_claims(client, (await token.json())["id_token"])
        assert claims["email"] == "dana@corp.example"
        assert claims["name"] == "Dana Scully"
        assert claims["given_name"] == "Dana"
        assert claims["family_name"] == "Scully"
        assert claims["hd"] == "corp.example"

    async def test_an_invalid_email_shows_the_page_again(self, client: Client) -> None:
        _, page = await self.page(client)
        status, _ = await self.post(client, page.forms[1], email="nope")
        assert status == 400

    async def test_cancel_redirects_with_access_denied(self, client: Client) -> None:
        _, page = await self.page(client)
        status, query = await self.post(client, page.forms[2], decision="deny")
        assert status == 302
        assert query["error"] == "access_denied"
        assert query["state"] == "state-1"

    async def test_a_tampered_redirect_uri_in_the_form_is_refused_without_redirect(
        self, client: Client
    ) -> None:
        _, page = await self.page(client)
        form = {"hidden": {**page.forms[0]["hidden"], "redirect_uri": "https://evil.example/cb"}}
        status, _ = await self.post(client, form, account="alice@example.com")
        assert status == 400

    async def test_hd_narrows_the_demo_accounts_to_that_domain(self, client: Client) -> None:
        _, page = await self.page(client, hd="example.com")
        accounts = [value for name, value in page.forms[0]["fields"] if name == "account"]
        assert accounts
        assert all(a.endswith("@example.com") for a in accounts)


class TestAuthorizeRefusals:
    async def refused_page(self, client: Client, params: dict[str, str]) -> Any:
        response = await client.get("/authorize", params=params, allow_redirects=False)
        assert response.status == 400
        assert "Location" not in response.headers
        assert response.content_type == "text/html"
        return response

    async def test_an_unknown_client_gets_a_page_never_a_redirect(self, client: Client) -> None:
        _, challenge = pkce()
        await self.refused_page(client, request_params(challenge, client_id="stranger"))

    @pytest.mark.parametrize(
        "redirect_uri",
        [
            "https://evil.example/auth/callback",
            REDIRECT + "/",
            REDIRECT + "?next=x",
            OTHER_APP_REDIRECT,  # registered, but for another client
        ],
    )
    async def test_an_unregistered_redirect_uri_gets_a_page_never_a_redirect(
        self, client: Client, redirect_uri: str
    ) -> None:
        _, challenge = pkce()
        await self.refused_page(client, request_params(challenge, redirect_uri=redirect_uri))

    async def test_a_missing_redirect_uri_gets_a_page(self, client: Client) -> None:
        _, challenge = pkce()
        await self.refused_page(client, request_params(challenge, redirect_uri=None))

    @pytest.mark.parametrize(
        "overrides",
        [
            {"code_challenge": None},
            {"code_challenge_method": None},
            {"code_challenge_method": "plain"},
            {"code_challenge": "too-short"},
        ],
    )
    async def test_without_s256_pkce_the_request_is_refused(
        self, client: Client, overrides: dict[str, str | None]
    ) -> None:
        _, challenge = pkce()
        query = await authorize(client, request_params(challenge, **overrides))
        assert query["error"] == "invalid_request"
        assert query["state"] == "state-1"
        assert "code" not in query

    @pytest.mark.parametrize(
        ("overrides", "error"),
        [
            ({"scope": "email profile"}, "invalid_scope"),
            ({"scope": "openid drive"}, "invalid_scope"),
            ({"response_type": "token"}, "unsupported_response_type"),
            ({"response_type": None}, "invalid_request"),
            ({"nonce": None}, "invalid_request"),
            ({"dev_email_verified": "maybe"}, "invalid_request"),
        ],
    )
    async def test_other_mistakes_go_back_to_the_client_with_the_state(
        self, client: Client, overrides: dict[str, str | None], error: str
    ) -> None:
        _, challenge = pkce()
        query = await authorize(client, request_params(challenge, **overrides))
        assert query["error"] == error
        assert query["state"] == "state-1"

    async def test_a_missing_state_is_refused_and_none_is_echoed(self, client: Client) -> None:
        _, challenge = pkce()
        query = await authorize(client, request_params(challenge, state=None))
        assert query["error"] == "invalid_request"
        assert "state" not in query

    async def test_a_repeated_parameter_is_refused(self, client: Client) -> None:
        _, challenge = pkce()
        params = [*request_params(challenge).items(), ("nonce", "second")]
        response = await client.get("/authorize", params=params, allow_redirects=False)
        assert response.status == 302
        assert URL(response.headers["Location"]).query["error"] == "invalid_request"


class TestTokenRefusals:
    async def refused(self, response: Any, status: int, error: str) -> None:
        assert response.status == status, await response.text()
        assert (await response.json())["error"] == error
        assert response.headers["Cache-Control"] == "no-store"

    async def test_a_missing_code_verifier_is_invalid_grant(self, client: Client) -> None:
        _, challenge = pkce()
        code = await code_for(client, challenge)
        await self.refused(await exchange(client, code, None), 400, "invalid_grant")

    @pytest.mark.parametrize("wrong", ["another-verifier-" + "x" * 40, "short"])
    async def test_a_wrong_code_verifier_is_invalid_grant(self, client: Client, wrong: str) -> None:
        _, challenge = pkce()
        code = await code_for(client, challenge)
        await self.refused(await exchange(client, code, wrong), 400, "invalid_grant")

    async def test_the_challenge_itself_is_not_a_verifier(self, client: Client) -> None:
        _, challenge = pkce()
        code = await code_for(client, challenge)
        await self.refused(await exchange(client, code, challenge), 400, "invalid_grant")

    async def test_a_code_is_single_use(self, client: Client) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        assert (await exchange(client, code, verifier)).status == 200
        await self.refused(await exchange(client, code, verifier), 400, "invalid_grant")

    async def test_a_code_refused_once_is_spent(self, client: Client) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        await self.refused(await exchange(client, code, None), 400, "invalid_grant")
        await self.refused(await exchange(client, code, verifier), 400, "invalid_grant")

    async def test_a_code_expires_after_its_ttl(
        self, client: Client, clock: FakeClock, settings: DevProviderSettings
    ) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        clock.now += settings.code_ttl_s
        await self.refused(await exchange(client, code, verifier), 400, "invalid_grant")

    async def test_a_code_is_good_just_before_its_ttl(
        self, client: Client, clock: FakeClock, settings: DevProviderSettings
    ) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        clock.now += settings.code_ttl_s - 1
        assert (await exchange(client, code, verifier)).status == 200

    @pytest.mark.parametrize("redirect_uri", [OTHER_REDIRECT, ""])
    async def test_redirect_uri_must_equal_the_authorize_requests(
        self, client: Client, redirect_uri: str
    ) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        response = await exchange(client, code, verifier, redirect_uri=redirect_uri)
        await self.refused(response, 400, "invalid_grant")

    async def test_a_wrong_client_secret_is_invalid_client(self, client: Client) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        response = await exchange(client, code, verifier, client_secret="guess")
        await self.refused(response, 401, "invalid_client")

    async def test_wrong_basic_credentials_are_invalid_client(self, client: Client) -> None:
        form = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT}
        response = await client.post("/token", data=form, headers=basic(CLIENT_ID, "guess"))
        await self.refused(response, 401, "invalid_client")
        assert response.headers["WWW-Authenticate"].startswith("Basic")

    async def test_two_client_authentication_methods_at_once_are_refused(
        self, client: Client
    ) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_secret": SECRET,
        }
        response = await client.post("/token", data=form, headers=basic(CLIENT_ID, SECRET))
        await self.refused(response, 400, "invalid_request")

    async def test_a_code_issued_to_another_client_is_invalid_grant(self, client: Client) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        response = await exchange(
            client, code, verifier, client_id=OTHER_CLIENT, client_secret=OTHER_SECRET
        )
        await self.refused(response, 400, "invalid_grant")

    async def test_only_the_authorization_code_grant_is_supported(self, client: Client) -> None:
        verifier, challenge = pkce()
        code = await code_for(client, challenge)
        response = await exchange(client, code, verifier, grant_type="refresh_token")
        await self.refused(response, 400, "unsupported_grant_type")

    async def test_a_json_body_is_refused(self, client: Client) -> None:
        response = await client.post("/token", json={"grant_type": "authorization_code"})
        await self.refused(response, 400, "invalid_request")


class TestDevKnobs:
    async def claims_with(self, client: Client, audience: str = CLIENT_ID, **knobs: str) -> Any:
        body = await sign_in(client, **knobs)
        return await id_token_claims(client, body["id_token"], audience=audience)

    async def test_dev_email_verified_false_says_so_in_the_id_token(self, client: Client) -> None:
        claims = await self.claims_with(client, dev_email_verified="false")
        assert claims["email_verified"] is False

    async def test_dev_aud_signs_the_id_token_for_another_client(self, client: Client) -> None:
        body = await sign_in(client, dev_aud=OTHER_CLIENT)
        with pytest.raises(jwt.InvalidAudienceError):
            await id_token_claims(client, body["id_token"])
        claims = await id_token_claims(client, body["id_token"], audience=OTHER_CLIENT)
        assert claims["aud"] == claims["azp"] == OTHER_CLIENT

    async def test_dev_nonce_puts_another_nonce_in_the_id_token(self, client: Client) -> None:
        claims = await self.claims_with(client, dev_nonce="not-yours")
        assert claims["nonce"] == "not-yours"

    async def test_dev_hd_sets_the_hosted_domain(self, client: Client) -> None:
        claims = await self.claims_with(client, login_hint="carol@gmail.com", dev_hd="evil.example")
        assert claims["hd"] == "evil.example"

    async def test_dev_picture_puts_any_picture_in_the_id_token(self, client: Client) -> None:
        claims = await self.claims_with(client, dev_picture="javascript:alert(1)")
        assert claims["picture"] == "javascript:alert(1)"

    async def test_knobs_survive_the_sign_in_page(self, client: Client) -> None:
        verifier, challenge = pkce()
        params = request_params(challenge, login_hint=None, dev_email_verified="false")
        page = FormFields()
        page.feed(await (await client.get("/authorize", params=params)).text())
        data = {**page.forms[0]["hidden"], "account": "alice@example.com"}
        response = await client.post("/authorize", data=data, allow_redirects=False)
        code = URL(response.headers["Location"]).query["code"]
        token = await (await exchange(client, code, verifier)).json()
        claims = await id_token_claims(client, token["id_token"])
        assert claims["email_verified"] is False


class TestProductionMode:
    def test_create_app_refuses_to_build_the_provider(self, signer: IdTokenSigner) -> None:
        with pytest.raises(ProductionModeError, match="production"):
            create_app(DevProviderSettings(mode="production"), signer=signer)
