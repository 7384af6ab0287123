"""JwksKeys: a key withdrawn from the set stops being trusted once the set's max-age has passed,
and a set that could not be fetched yet is fetched again on the next token."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cardstream_runtime.devtoken import DevSigner
from cardstream_runtime.jwt import InvalidTokenError, JwksKeys
from jwt.algorithms import ECAlgorithm


def _jwk(signer: DevSigner) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(signer.private_key.public_key()))
    return {**jwk, "kid": signer.kid, "alg": "ES256", "use": "sig"}


HITS = web.AppKey("hits", list[int])


async def _serve(published: list[dict[str, Any]], max_age: int, *, failures: int = 0) -> TestServer:
    """The JWKS at /jwks; its first `failures` answers are 503s."""
    hits: list[int] = []

    async def jwks(request: web.Request) -> web.Response:
        hits.append(1)
        if len(hits) <= failures:
            return web.Response(status=503, text="starting")
        return web.json_response(
            {"keys": published}, headers={"Cache-Control": f"public, max-age={max_age}"}
        )

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    app[HITS] = hits
    server = TestServer(app)
    await server.start_server()
    return server


class TestJwksKeys:
    async def test_a_withdrawn_key_is_refused_after_max_age(self) -> None:
        old, new = (
            DevSigner.generate(issuer="i", audience="a"),
            DevSigner.generate(issuer="i", audience="a"),
        )
        published = [_jwk(old), _jwk(new)]
        server = await _serve(published, max_age=0)
        try:
            async with aiohttp.ClientSession() as session:
                keys = JwksKeys(str(server.make_url("/jwks")), session, min_refetch_seconds=0)
                assert await keys.key(old.kid) is not None
                published.remove(_jwk(old))
                with pytest.raises(InvalidTokenError):
                    await keys.key(old.kid)
                assert await keys.key(new.kid) is not None
        finally:
            await server.close()

    async def test_within_max_age_the_set_is_not_fetched_again(self) -> None:
        signer = DevSigner.generate(issuer="i", audience="a")
        server = await _serve([_jwk(signer)], max_age=300)
        try:
            async with aiohttp.ClientSession() as session:
                keys = JwksKeys(str(server.make_url("/jwks")), session)
                for _ in range(5):
                    await keys.key(signer.kid)
                assert len(server.app[HITS]) == 1
        finally:
            await server.close()

    async def test_a_first_fetch_that_failed_does_not_refuse_the_next_token(self) -> None:
        signer = DevSigner.generate(issuer="i", audience="a")
        server = await _serve([_jwk(signer)], max_age=300, failures=1)
        try:
            async with aiohttp.ClientSession() as session:
                keys = JwksKeys(str(server.make_url("/jwks")), session, min_refetch_seconds=60)
                with pytest.raises(InvalidTokenError):
                    await keys.key(signer.kid)
                # Well within the refetch interval: the failure must not stand for the whole set.
                assert await keys.key(signer.kid) is not None
                assert len(server.app[HITS]) == 2
        finally:
            await server.close()
