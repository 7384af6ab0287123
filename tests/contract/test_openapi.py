"""The API documents under docs/ are what the contracts generate, and name every route each
service serves, no more and no fewer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web
from auth.app import create_app as create_auth
from auth.settings import AuthSettings
from boards.app import create_app as create_boards
from boards.settings import BoardsSettings
from contracts.http_spec import SERVICES, Service
from projector.app import create_app as create_projector
from projector.settings import ProjectorSettings

from contracts import openapi

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_checked_in_documents_are_generated_from_the_contracts() -> None:
    assert openapi.check(DOCS) == [], "regenerate with `make schemas`"


def test_check_names_a_stale_and_a_missing_document(tmp_path: Path) -> None:
    assert openapi.main(["--dir", str(tmp_path)]) == 0
    (tmp_path / "openapi/boards.json").write_text("{}\n")
    (tmp_path / "asyncapi/websocket.json").unlink()
    assert openapi.check(tmp_path) == [
        "openapi/boards.json: stale",
        "asyncapi/websocket.json: missing",
    ]
    assert openapi.main(["--check", "--dir", str(tmp_path)]) == 1


def _apps(tmp_path: Path) -> dict[Service, web.Application]:
    public = tmp_path / "public.pem"
    public.write_text("unused: the routes are read, no token is checked")
    return {
        "auth": create_auth(AuthSettings(oidc_client_id="client", oidc_client_secret="secret")),
        "boards": create_boards(BoardsSettings(jwt_public_key_file=public)),
        "projector": create_projector(ProjectorSettings(jwt_public_key_file=public)),
    }


def _routes(app: web.Application) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        if route.method in {"HEAD", "OPTIONS"}:
            continue
        info = route.get_info()
        routes.add((route.method, info.get("path") or info["formatter"]))
    return routes


def _documented(service: Service) -> set[tuple[str, str]]:
    document = json.loads((DOCS / f"openapi/{service}.json").read_text())
    return {(m.upper(), path) for path, ops in document["paths"].items() for m in ops}


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_of_a_service_is_in_its_document_and_nothing_else(
    service: Service, tmp_path: Path
) -> None:
    assert _routes(_apps(tmp_path)[service]) == _documented(service)


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_but_readiness_errs_in_the_one_shape(service: Service) -> None:
    document = openapi.openapi(service)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path != "/readyz":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
            if operation["security"] == [{"bearer": []}]:
                assert "401" in operation["responses"], (method, path)
