"""Every integer a contract carries has one range, 0 (or 1) to 2^63-1, the largest integer Redis,
BSON and orjson all hold: what is outside it is refused by the contract, where it comes in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts import (
    MAX_INT64,
    BoardDetail,
    BoardSummary,
    CommandResult,
    ErrorBody,
    SubscribeMessage,
    client_message_adapter,
    command_adapter,
    event_adapter,
    server_message_adapter,
)

GOLDEN = Path(__file__).parent / "golden"
BOARD = uuid5(UUID(int=0), "board")
# Out of range both ways, and the value that once reached orjson and answered a 500.
OUT_OF_RANGE = [-1, 2**63, 2**64, 10**30]


def _command(**envelope: Any) -> str:
    return json.dumps(
        {
            "command_id": str(uuid5(UUID(int=0), "command")),
            "type": "RenameBoard",
            "payload": {"title": "Plans"},
            **envelope,
        }
    )


def _event(**envelope: Any) -> str:
    golden = json.loads((GOLDEN / "events" / "BoardRenamed.json").read_text(encoding="utf-8"))
    return json.dumps({**golden, **envelope})


def test_the_largest_integer_is_that_of_a_signed_64_bit_integer() -> None:
    assert MAX_INT64 == 9_223_372_036_854_775_807


class TestExpectedVersion:
    @pytest.mark.parametrize("version", [0, 1, MAX_INT64])
    def test_accepts_zero_to_the_largest_integer(self, version: int) -> None:
        assert command_adapter.validate_json(
            _command(expected_version=version)
        ).expected_version == (version)

    @pytest.mark.parametrize("version", OUT_OF_RANGE)
    def test_rejects_what_is_out_of_range(self, version: int) -> None:
        with pytest.raises(ValidationError) as caught:
            command_adapter.validate_json(_command(expected_version=version))
        assert caught.value.errors()[0]["loc"][-1] == "expected_version"

    @pytest.mark.parametrize("literal", ["1e30", "1e400", "NaN", "1.5", '"9223372036854775808"'])
    def test_rejects_what_is_no_integer_in_range_however_it_is_written(self, literal: str) -> None:
        document = _command()[:-1] + f', "expected_version": {literal}}}'
        with pytest.raises(ValidationError) as caught:
            command_adapter.validate_json(document)
        assert caught.value.errors()[0]["loc"][-1] == "expected_version"


class TestEventVersion:
    @pytest.mark.parametrize("version", [1, MAX_INT64])
    def test_accepts_one_to_the_largest_integer(self, version: int) -> None:
        assert event_adapter.validate_json(_event(version=version)).version == version

    @pytest.mark.parametrize("version", [0, *OUT_OF_RANGE])
    def test_rejects_what_is_out_of_range(self, version: int) -> None:
        with pytest.raises(ValidationError):
            event_adapter.validate_json(_event(version=version))

    @pytest.mark.parametrize("schema_version", [0, 2**63])
    def test_bounds_the_schema_version_too(self, schema_version: int) -> None:
        with pytest.raises(ValidationError):
            event_adapter.validate_json(_event(schema_version=schema_version))


class TestSinceVersion:
    def _subscribe(self, since: int) -> str:
        return json.dumps({"type": "subscribe", "board_id": str(BOARD), "since_version": since})

    @pytest.mark.parametrize("version", [0, MAX_INT64])
    def test_accepts_zero_to_the_largest_integer(self, version: int) -> None:
        message = client_message_adapter.validate_json(self._subscribe(version))
        assert isinstance(message, SubscribeMessage)
        assert message.since_version == version

    @pytest.mark.parametrize("version", OUT_OF_RANGE)
    def test_rejects_what_is_out_of_range(self, version: int) -> None:
        with pytest.raises(ValidationError):
            client_message_adapter.validate_json(self._subscribe(version))


# Every schema a contract has: a new integer field without the range fails below.
SCHEMAS: dict[str, TypeAdapter[Any] | type[BaseModel]] = {
    "command": command_adapter,
    "event": event_adapter,
    "client message": client_message_adapter,
    "server message": server_message_adapter,
    "CommandResult": CommandResult,
    "ErrorBody": ErrorBody,
    "BoardDetail": BoardDetail,
    "BoardSummary": BoardSummary,
}


def _integers(node: object, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield path, node
        for key, value in node.items():
            yield from _integers(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _integers(value, f"{path}/{index}")


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_integer_of_every_contract_has_the_one_range(name: str) -> None:
    model = SCHEMAS[name]
    schema = model.json_schema() if isinstance(model, TypeAdapter) else model.model_json_schema()
    integers = dict(_integers(schema))
    for path, integer in integers.items():
        assert integer.get("maximum") == MAX_INT64, path
        assert integer.get("minimum") == 0 or integer.get("exclusiveMinimum") == 0, path
    assert integers or name == "ErrorBody"
