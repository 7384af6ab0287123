"""The API documents, generated from the contracts: OpenAPI 3.1 for each service's HTTP endpoints
(`contracts.http_api`) and AsyncAPI 3.0 for the live board's WebSocket (`contracts.wire`).

`python -m contracts.openapi` rewrites `docs/openapi/<service>.json` and
`docs/asyncapi/websocket.json`; with `--check` it writes nothing and exits 1 naming every file
that is stale or missing. Schemas are in validation mode, as in `contracts.schema_gen`: what
the contracts accept, which is what the services answer with too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from contracts.envelope import TaggedCommand
from contracts.http_api import endpoints_of
from contracts.http_spec import COMMON, SERVICES, Answer, Endpoint, Param, Service
from contracts.schema_gen import _defs_by_title
from contracts.wire import (
    AuthMessage,
    ErrorBody,
    ErrorMessage,
    EventsMessage,
    NotificationMessage,
    NotificationsSubscribeMessage,
    PingMessage,
    PongMessage,
    PresenceMessage,
    SnapshotMessage,
    SubscribeMessage,
    UnsubscribeMessage,
)

# Meaningful only in a source checkout, where the package sits in contracts/src/contracts.
DOCS_DIR = Path(__file__).resolve().parents[3] / "docs"
API_VERSION = "1"

Schema = dict[str, Any]

_TITLES: dict[Service, str] = {
    "auth": "cardstream auth: sign-in and our tokens",
    "boards": "cardstream boards: the command API",
    "projector": "cardstream projector: reads, audit and the live board",
}
_READMES: dict[Service, str] = {s: f"services/{s}/README.md" for s in SERVICES}


def openapi(service: Service) -> Schema:
    """The OpenAPI 3.1 document of one service."""
    endpoints = endpoints_of(service)
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, components)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": _TITLES[service],
            "version": API_VERSION,
            "description": f"Generated from `contracts` by `python -m contracts.openapi`; "
            f"prose in {_READMES[service]}. Every error is "
            '`{"error": {"code", "message", "details"}}`.',
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components.render(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def asyncapi() -> Schema:
    """The AsyncAPI 3.0 document of the WebSocket at `/ws` (docs/websocket.md)."""
    client: list[type[BaseModel]] = [
        AuthMessage,
        SubscribeMessage,
        UnsubscribeMessage,
        PingMessage,
        NotificationsSubscribeMessage,
    ]
    server: list[type[BaseModel]] = [
        SnapshotMessage,
        EventsMessage,
        PresenceMessage,
        ErrorMessage,
        PongMessage,
        NotificationMessage,
    ]
    components = _Components()
    messages = {
        model.__name__: {
            "name": model.__name__,
            "contentType": "application/json",
            "payload": components.ref(model),
        }
        for model in (*client, *server)
    }

    def refs(models: list[type[BaseModel]]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/board/messages/{m.__name__}"} for m in models]

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "cardstream live board (WebSocket)",
            "version": API_VERSION,
            "description": "JSON text frames, one message per frame. The first client message "
            "is `auth`; close codes: 4401 (not authenticated, token expired or session "
            "ended), 4429 (too many WebSockets for this user), 1009 (a message over 64 KiB), "
            "1013 (fell behind twice within 10 s), "
            "1001 (server shutting down), 1000 (normal). Prose: docs/websocket.md.",
        },
        "channels": {
            "board": {
                "address": "/ws",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            }
        },
        "operations": {
            "send": {
                "action": "receive",
                "channel": {"$ref": "#/channels/board"},
                "summary": "what clients send",
                "messages": refs(client),
            },
            "receive": {
                "action": "send",
                "channel": {"$ref": "#/channels/board"},
                "summary": "what the server sends",
                "messages": refs(server),
            },
        },
        "components": {"messages": messages, "schemas": components.render()},
    }


def generate() -> dict[str, str]:
    """Path under docs/ to file text, for every document."""
    files = {f"openapi/{s}.json": render(openapi(s)) for s in SERVICES}
    files["asyncapi/websocket.json"] = render(asyncapi())
    return files


def render(document: Schema) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@cache
def served(service: Service) -> bytes:
    """What `GET /openapi.json` answers."""
    return render(openapi(service)).encode()


def check(directory: Path) -> list[str]:
    """The files under `directory` that are stale or missing."""
    problems = []
    for name, text in generate().items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: stale")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    parser.add_argument("--dir", type=Path, default=DOCS_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.dir)
        for problem in problems:
            print(f"{args.dir}/{problem}", file=sys.stderr)
        if problems:
            print("regenerate with `make schemas`", file=sys.stderr)
        return 1 if problems else 0
    for name, text in generate().items():
        path = args.dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
            print(f"{path}: written")
    return 0


class _Components:
    """Collects the schemas an API document refers to; renders them once, with `$defs` shared
    under `components/schemas` and named by title (as `contracts.schema_gen` names them)."""

    def __init__(self) -> None:
        self._types: dict[str, Any] = {}

    def ref(self, annotation: Any) -> Schema:
        if annotation is str:
            return {"type": "string"}
        # The command union is named as in contracts/schemas/command.schema.json.
        name = "Command" if annotation is TaggedCommand else getattr(annotation, "__name__", None)
        if not isinstance(name, str) or not name.isidentifier() or name in {"dict", "list"}:
            return _inline(annotation)
        self._types[name] = annotation
        return {"$ref": f"#/components/schemas/{name}"}

    def render(self) -> Schema:
        if not self._types:
            return {}
        mode: JsonSchemaMode = "validation"
        inputs = [(name, mode, TypeAdapter(t)) for name, t in self._types.items()]
        keyed, defs = TypeAdapter.json_schemas(inputs, ref_template="#/$defs/{model}")
        schemas: Schema = dict(defs.get("$defs", {}))
        for (name, _), schema in keyed.items():
            if schema.get("$ref") != f"#/$defs/{name}":
                schemas[name] = schema
        renamed = _defs_by_title({"$defs": schemas})["$defs"]
        text = json.dumps(dict(sorted(renamed.items())))
        result: Schema = json.loads(text.replace('"#/$defs/', '"#/components/schemas/'))
        return result


def _inline(annotation: Any) -> Schema:
    schema: Schema = TypeAdapter(annotation).json_schema(mode="validation")
    schema.pop("title", None)
    return schema


def _operation(endpoint: Endpoint, components: _Components) -> Schema:
    operation: Schema = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.service],
    }
    if endpoint.params:
        operation["parameters"] = [_parameter(p) for p in endpoint.params]
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": components.ref(endpoint.body)}},
        }
    answers = dict(endpoint.answers)
    if endpoint.secured:
        answers = {401: _unauthorized(answers.get(401)), **answers}
    for status, common in COMMON.items():
        answers.setdefault(status, common)
    operation["responses"] = {
        str(status): _response(answers[status], components) for status in sorted(answers)
    }
    operation["security"] = [{"bearer": []}] if endpoint.secured else []
    return operation


def _unauthorized(declared: Answer | None) -> Answer:
    codes = "`unauthorized` (missing, malformed, expired or foreign token, or an ended session)"
    if declared is not None and "unauthorized" not in declared.description:
        codes = f"{declared.description}; {codes}"
    elif declared is not None:
        codes = declared.description
    return Answer(codes, body=ErrorBody)


def _parameter(param: Param) -> Schema:
    return {
        "name": param.name,
        "in": param.where,
        "required": param.required,
        "description": param.description,
        "schema": _inline(param.schema),
    }


def _response(answer: Answer, components: _Components) -> Schema:
    response: Schema = {"description": answer.description}
    if answer.headers:
        response["headers"] = {h: {"schema": {"type": "string"}} for h in answer.headers}
    if answer.body is not None:
        response["content"] = {answer.media: {"schema": components.ref(answer.body)}}
    return response


if __name__ == "__main__":
    sys.exit(main())
