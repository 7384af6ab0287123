"""Golden documents: one envelope per command and event type, as it travels on the wire.

Each must parse and dump back to exactly itself. A change that breaks that breaks stored events
and deployed clients, so it needs a new `schema_version` and an upcaster, not a new golden file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts import (
    COMMAND_TYPES,
    EVENT_TYPES,
    CommandResult,
    Contract,
    ErrorBody,
    command_adapter,
    event_adapter,
)

GOLDEN = Path(__file__).parent / "golden"
COMMANDS = sorted((GOLDEN / "commands").glob("*.json"))
EVENTS = sorted((GOLDEN / "events").glob("*.json"))
ENVELOPES: list[tuple[Path, TypeAdapter[Any]]] = [
    *((path, command_adapter) for path in COMMANDS),
    *((path, event_adapter) for path in EVENTS),
]
WIRE: dict[str, type[BaseModel]] = {"CommandResult": CommandResult, "ErrorBody": ErrorBody}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _ids(value: object) -> str:
    return value.stem if isinstance(value, Path) else ""


def _error_types(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {e["type"] for e in exc.value.errors()}


def _subclasses(cls: type[BaseModel]) -> set[type[BaseModel]]:
    return {cls} | {sub for direct in cls.__subclasses__() for sub in _subclasses(direct)}


class TestGoldenFiles:
    def test_exist_for_every_command_type(self) -> None:
        assert {p.stem for p in COMMANDS} == {t.__name__ for t in COMMAND_TYPES}

    def test_exist_for_every_event_type(self) -> None:
        assert {p.stem for p in EVENTS} == {t.__name__ for t in EVENT_TYPES}


class TestEnvelopes:
    @pytest.mark.parametrize(("path", "adapter"), ENVELOPES, ids=_ids)
    def test_round_trip_exactly(self, path: Path, adapter: TypeAdapter[Any]) -> None:
        golden = _load(path)

        parsed = adapter.validate_json(path.read_bytes())

        assert adapter.dump_python(parsed, mode="json") == golden
        assert json.loads(adapter.dump_json(parsed)) == golden

    @pytest.mark.parametrize(("path", "adapter"), ENVELOPES, ids=_ids)
    def test_carry_the_payload_named_by_their_type(
        self, path: Path, adapter: TypeAdapter[Any]
    ) -> None:
        parsed = adapter.validate_json(path.read_bytes())

        assert type(parsed.payload).__name__ == parsed.type == path.stem

    @pytest.mark.parametrize(("path", "adapter"), ENVELOPES, ids=_ids)
    def test_reject_an_unknown_envelope_field(self, path: Path, adapter: TypeAdapter[Any]) -> None:
        document = {**_load(path), "priority": "high"}

        with pytest.raises(ValidationError) as exc:
            adapter.validate_python(document)
        assert _error_types(exc) == {"extra_forbidden"}

    @pytest.mark.parametrize(("path", "adapter"), ENVELOPES, ids=_ids)
    def test_reject_an_unknown_payload_field(self, path: Path, adapter: TypeAdapter[Any]) -> None:
        golden = _load(path)
        document = {**golden, "payload": {**golden["payload"], "colour": "red"}}

        with pytest.raises(ValidationError) as exc:
            adapter.validate_python(document)
        assert _error_types(exc) == {"extra_forbidden"}

    @pytest.mark.parametrize(("path", "adapter"), ENVELOPES, ids=_ids)
    def test_are_frozen_with_their_payloads(self, path: Path, adapter: TypeAdapter[Any]) -> None:
        parsed = adapter.validate_json(path.read_bytes())

        with pytest.raises(ValidationError) as exc:
            parsed.type = "Something"
        assert _error_types(exc) == {"frozen_instance"}
        with pytest.raises(ValidationError):
            parsed.payload.anything = 1

    @pytest.mark.parametrize(
        ("path", "adapter"),
        [
            (GOLDEN / "commands" / "RenameBoard.json", command_adapter),
            (GOLDEN / "events" / "BoardRenamed.json", event_adapter),
        ],
        ids=_ids,
    )
    def test_reject_an_unknown_type(self, path: Path, adapter: TypeAdapter[Any]) -> None:
        document = {**_load(path), "type": "DeleteBoard"}

        with pytest.raises(ValidationError) as exc:
            adapter.validate_python(document)
        assert _error_types(exc) == {"union_tag_invalid"}


class TestWireShapes:
    @pytest.mark.parametrize("name", sorted(WIRE))
    def test_round_trip_exactly(self, name: str) -> None:
        path = GOLDEN / "wire" / f"{name}.json"

        parsed = WIRE[name].model_validate_json(path.read_bytes())

        assert parsed.model_dump(mode="json") == _load(path)


class TestEveryContract:
    @pytest.mark.parametrize(
        "model", sorted(_subclasses(Contract), key=str), ids=lambda m: m.__name__
    )
    def test_is_frozen_and_forbids_unknown_fields(self, model: type[BaseModel]) -> None:
        assert model.model_config.get("frozen") is True
        assert model.model_config.get("extra") == "forbid"
