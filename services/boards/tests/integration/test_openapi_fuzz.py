"""schemathesis against the live command API, from docs/openapi/boards.json, under a valid, an
invalid and a stranger's token: never a 5xx, never an answer the document does not declare, and
nothing of a board to someone who is not its member."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from boards.app import create_app
from boards.settings import BoardsSettings
from cardstream_runtime.devtoken import DevSigner
from cardstream_testing import RedisServer
from cardstream_testing.apifuzz import (
    FUZZ,
    ThreadedApp,
    call,
    on_board,
    operations,
    reveals_nothing,
    validate,
    with_modes,
)
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation

ISSUER, AUDIENCE = "cardstream-openapi", "cardstream"
OPERATIONS = operations("boards")


@dataclass
class Live:
    base_url: str
    signer: DevSigner
    board: str
    # What only alice's board holds: no answer to anyone else may contain any of it.
    secrets: tuple[str, ...]


async def _send(base_url: str, token: str, path: str, command: dict[str, Any]) -> Any:
    body = {"command_id": str(uuid.uuid4()), **command}
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + path, json=body, headers=headers) as response,
    ):
        assert response.status in (200, 201), await response.text()
        return await response.json()


async def _alices_board(base_url: str, token: str) -> tuple[str, str, str, str]:
    title = f"alice-only-{uuid.uuid4().hex}"
    created = await _send(
        base_url, token, "/api/boards", {"type": "CreateBoard", "payload": {"title": title}}
    )
    board = created["board_id"]
    path = f"/api/boards/{board}/commands"
    added = await _send(base_url, token, path, {"type": "AddColumn", "payload": {"title": "c"}})
    column = added["events"][0]["payload"]["column_id"]
    card = await _send(
        base_url, token, path, {"type": "AddCard", "payload": {"column_id": column, "title": "t"}}
    )
    return board, title, column, card["events"][-1]["payload"]["card_id"]


@pytest.fixture(scope="module")
def live(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    signer = DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)
    public: Path = tmp_path_factory.mktemp("keys") / "public.pem"
    public.write_bytes(signer.public_pem())
    settings = BoardsSettings(
        redis_url=redis_server.url,
        key_prefix=f"oa{uuid.uuid4().hex[:6]}:",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=public,
    )
    with ThreadedApp(create_app(settings)) as served:
        board, *secrets = served.run(_alices_board(served.base_url, signer.token("alice")))
        yield Live(served.base_url, signer, board, tuple(secrets))


@pytest.mark.parametrize(
    ("operation", "mode"), with_modes(OPERATIONS), ids=lambda v: getattr(v, "label", str(v))
)
def test_a_member_gets_only_answers_the_document_declares(
    live: Live, operation: APIOperation, mode: GenerationMode
) -> None:
    @FUZZ
    @given(
        case=operation.as_strategy(generation_mode=mode), board=st.sampled_from([live.board, None])
    )
    def fuzz(case: Case, board: str | None) -> None:
        case = on_board(case, board if mode is GenerationMode.POSITIVE else None)
        validate(case, call(live.base_url, case, live.signer.token("alice")), mode)

    fuzz()


def _invalid_tokens(live: Live) -> st.SearchStrategy[str | None]:
    stranger = DevSigner.generate(issuer=ISSUER, audience=AUDIENCE)
    return st.sampled_from(
        [
            None,
            "not-a-jwt",
            stranger.token("alice"),  # signed by a key nobody trusts
            live.signer.token("alice", ttl=-60),  # expired
            DevSigner(live.signer.private_key, issuer="elsewhere", audience=AUDIENCE).token(
                "alice"
            ),
        ]
    )


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_an_invalid_token_is_refused_and_learns_nothing(
    live: Live, operation: APIOperation
) -> None:
    @FUZZ
    @given(case=operation.as_strategy(), token=_invalid_tokens(live))
    def fuzz(case: Case, token: str | None) -> None:
        case = on_board(case, live.board)
        response = call(live.base_url, case, token)
        validate(case, response, GenerationMode.POSITIVE)
        if _secured(operation):
            assert response.status_code >= 400, response.text
        reveals_nothing(live.secrets, response.text)

    fuzz()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_a_stranger_learns_nothing_of_a_board(live: Live, operation: APIOperation) -> None:
    @FUZZ
    @given(case=operation.as_strategy())
    def fuzz(case: Case) -> None:
        case = on_board(case, live.board)
        response = call(live.base_url, case, live.signer.token("mallory"))
        validate(case, response, GenerationMode.POSITIVE)
        if "{board_id}" in operation.path:
            assert response.status_code >= 400, response.text
        reveals_nothing(live.secrets, response.text)

    fuzz()


def _secured(operation: APIOperation) -> bool:
    return bool(operation.definition.raw.get("security"))


def test_the_service_serves_its_checked_in_document(live: Live) -> None:
    document = Path(__file__).resolve().parents[4] / "docs/openapi/boards.json"
    with urllib.request.urlopen(f"{live.base_url}/openapi.json", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        assert json.loads(response.read()) == json.loads(document.read_text())
