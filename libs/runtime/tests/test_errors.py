"""error_middleware: ApiError, aiohttp's HTTP errors and translated exceptions in the one shape;
anything else a logged 500. validation_details never echoes the input."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cardstream_runtime.errors import ApiError, Translate, error_middleware, validation_details
from pydantic import BaseModel, ValidationError

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


class OutOfCardsError(Exception):
    pass


class OutOfTimeError(Exception):
    pass


def _raising(exc: Exception) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        raise exc

    return handler


def _app(exc: Exception, *translators: Translate) -> web.Application:
    app = web.Application(middlewares=[error_middleware(*translators)])
    app.router.add_get("/", _raising(exc))
    app.router.add_post("/only-post", _raising(exc))
    return app


async def _answer(client: Client, method: str = "GET", path: str = "/") -> tuple[int, Any]:
    response = await client.request(method, path)
    assert response.content_type == "application/json"
    return response.status, await response.json()


def _cards(exc: Exception) -> ApiError | None:
    match exc:
        case OutOfCardsError():
            return ApiError(409, "out_of_cards", "no cards left", {"left": 0})
        case _:
            return None


def _anything(exc: Exception) -> ApiError | None:
    return ApiError(418, "anything", str(exc))


class TestErrorMiddleware:
    async def test_an_api_error_is_rendered_as_raised(self, aiohttp_client: MakeClient) -> None:
        client = await aiohttp_client(_app(ApiError(422, "bad", "bad input", [1])))

        assert await _answer(client) == (
            422,
            {"error": {"code": "bad", "message": "bad input", "details": [1]}},
        )

    async def test_aiohttp_http_errors_get_the_shape(self, aiohttp_client: MakeClient) -> None:
        client = await aiohttp_client(_app(ApiError(400, "x", "x")))

        status, body = await _answer(client, "GET", "/only-post")
        missing_status, missing = await _answer(client, "GET", "/nowhere")

        assert (status, body["error"]["code"]) == (405, "method_not_allowed")
        assert (missing_status, missing["error"]["code"]) == (404, "not_found")

    async def test_a_translated_exception_gets_the_translators_answer(
        self, aiohttp_client: MakeClient
    ) -> None:
        client = await aiohttp_client(_app(OutOfCardsError("none"), _cards))

        assert await _answer(client) == (
            409,
            {"error": {"code": "out_of_cards", "message": "no cards left", "details": {"left": 0}}},
        )

    async def test_the_first_translator_that_knows_the_exception_wins(
        self, aiohttp_client: MakeClient
    ) -> None:
        client = await aiohttp_client(_app(OutOfCardsError("none"), _cards, _anything))
        other = await aiohttp_client(_app(OutOfTimeError("late"), _cards, _anything))

        assert (await _answer(client))[0] == 409
        assert (await _answer(other))[1]["error"] == {
            "code": "anything",
            "message": "late",
            "details": None,
        }

    async def test_an_untranslated_exception_is_a_logged_500(
        self, aiohttp_client: MakeClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = await aiohttp_client(_app(OutOfTimeError("secret detail"), _cards))

        with caplog.at_level(logging.ERROR, logger="cardstream.http"):
            status, body = await _answer(client)

        assert (status, body["error"]["code"]) == (500, "internal")
        assert "secret detail" not in body["error"]["message"]
        [record] = [r for r in caplog.records if r.name == "cardstream.http"]
        assert record.getMessage() == "unhandled error"
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], OutOfTimeError)


class Card(BaseModel):
    title: str
    position: int


class TestValidationDetails:
    def test_says_where_what_and_which_rule_without_the_input(self) -> None:
        with pytest.raises(ValidationError) as caught:
            Card.model_validate({"title": "a secret title", "position": "first"})

        assert validation_details(caught.value) == [
            {
                "loc": ["position"],
                "message": "Input should be a valid integer, unable to parse string as an integer",
                "type": "int_parsing",
            }
        ]
