"""Stored events of older schema versions read as current ones; stored bytes stay as they were.

`golden/events/v1/` holds every event type as it was written before schema changes and before
the hash chain: each must still be readable for as long as such events are stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from contracts.upcasting import CURRENT_VERSIONS, UpcastError, parse_event, upcast
from pydantic import ValidationError

from contracts import EVENT_TYPES, BoardCreated, MemberAdded, MemberProfile, event_adapter

GOLDEN = Path(__file__).parent / "golden" / "events"
V1 = sorted((GOLDEN / "v1").glob("*.json"))
UNCHANGED = [p for p in V1 if CURRENT_VERSIONS[p.stem] == 1]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class TestGoldenV1:
    def test_exist_for_every_event_type(self) -> None:
        assert {p.stem for p in V1} == {t.__name__ for t in EVENT_TYPES}

    @pytest.mark.parametrize("path", V1, ids=lambda p: p.stem)
    def test_are_stored_at_schema_version_1_without_a_chain(self, path: Path) -> None:
        document = _load(path)

        assert document["schema_version"] == 1
        assert "hash" not in document
        assert "prev_hash" not in document

    @pytest.mark.parametrize("path", V1, ids=lambda p: p.stem)
    def test_parse_into_the_current_schema_version(self, path: Path) -> None:
        event = parse_event(path.read_bytes())

        assert event.schema_version == CURRENT_VERSIONS[path.stem]
        assert (event.prev_hash, event.hash) == (None, None)

    @pytest.mark.parametrize("path", UNCHANGED, ids=lambda p: p.stem)
    def test_of_unchanged_types_dump_back_to_exactly_themselves(self, path: Path) -> None:
        event = parse_event(path.read_bytes())

        assert event_adapter.dump_python(event, mode="json") == _load(path)

    def test_parse_from_bytes_text_and_documents_alike(self) -> None:
        path = GOLDEN / "v1" / "MemberAdded.json"

        parsed = {
            parse_event(path.read_bytes()),
            parse_event(path.read_text()),
            parse_event(_load(path)),
        }

        assert len(parsed) == 1


class TestMemberAddedV2:
    def test_v1_email_and_name_move_into_the_profile(self) -> None:
        event = parse_event((GOLDEN / "v1" / "MemberAdded.json").read_bytes())

        assert isinstance(event.payload, MemberAdded)
        assert event.payload.profile == MemberProfile(
            email="carol@example.com", name="Carol Nguyen", avatar_url=None
        )
        assert (event.payload.email, event.payload.name) == ("carol@example.com", "Carol Nguyen")

    def test_a_v1_member_without_email_or_name_has_no_profile(self) -> None:
        document = _load(GOLDEN / "v1" / "MemberAdded.json")
        document["payload"] = {"user_id": "dan", "role": "viewer"}

        event = parse_event(document)

        assert isinstance(event.payload, MemberAdded)
        assert event.payload.profile is None

    def test_a_v1_document_is_refused_without_the_upcaster(self) -> None:
        with pytest.raises(ValidationError):
            event_adapter.validate_json((GOLDEN / "v1" / "MemberAdded.json").read_bytes())

    def test_upcasting_leaves_the_stored_document_as_it_was(self) -> None:
        document = _load(GOLDEN / "v1" / "MemberAdded.json")
        before = json.dumps(document, sort_keys=True)

        upcast(document)

        assert json.dumps(document, sort_keys=True) == before

    def test_new_events_are_written_at_v2(self) -> None:
        event = parse_event((GOLDEN / "MemberAdded.json").read_bytes())

        assert event.schema_version == 2
        assert event_adapter.dump_python(event, mode="json") == _load(GOLDEN / "MemberAdded.json")

    def test_the_v1_keywords_still_build_a_v2_payload_in_python(self) -> None:
        assert MemberAdded(user_id="bob", role="editor", name="Bob") == MemberAdded(
            user_id="bob", role="editor", profile=MemberProfile(name="Bob")
        )

    def test_a_profile_and_v1_keywords_together_are_refused(self) -> None:
        with pytest.raises(TypeError):
            MemberAdded(user_id="bob", role="editor", name="Bob", profile=MemberProfile())

    def test_an_avatar_must_be_an_https_url(self) -> None:
        with pytest.raises(ValidationError):
            MemberProfile(avatar_url="javascript:alert(1)")


class TestUnknownVersions:
    def test_a_version_with_no_upcaster_is_refused(self) -> None:
        document = {**_load(GOLDEN / "v1" / "MemberAdded.json"), "schema_version": 0}

        with pytest.raises(UpcastError):
            parse_event(document)

    def test_a_version_from_the_future_is_refused(self) -> None:
        document = {**_load(GOLDEN / "MemberAdded.json"), "schema_version": 3}

        with pytest.raises(UpcastError):
            parse_event(document)


class TestBoardCreatedV2:
    def test_a_v1_board_has_an_owner_without_a_profile(self) -> None:
        event = parse_event((GOLDEN / "v1" / "BoardCreated.json").read_bytes())

        assert isinstance(event.payload, BoardCreated)
        assert (event.payload.owner_id, event.payload.owner) == ("alice", None)
        assert event.schema_version == 2

    def test_new_events_are_written_at_v2_with_the_owner_profile(self) -> None:
        event = parse_event((GOLDEN / "BoardCreated.json").read_bytes())

        assert isinstance(event.payload, BoardCreated)
        assert event.payload.owner == MemberProfile(
            email="alice@example.com", name="Alice Example", avatar_url=None
        )
        assert event_adapter.dump_python(event, mode="json") == _load(GOLDEN / "BoardCreated.json")
