"""The owner is a member like any other on the read side, named from the profile their board was
created with."""

from __future__ import annotations

import uuid

from cardstream_testing.feeds import envelopes
from contracts.events import BoardCreated, MemberProfile
from projector.projection import BoardProjection, apply_event

BOARD = uuid.uuid5(uuid.NAMESPACE_URL, "owner profile")


def _members(created: BoardCreated) -> list[dict[str, object]]:
    projection = BoardProjection(board_id=str(BOARD))
    for event in envelopes(BOARD, [created]):
        apply_event(projection, event)
    assert projection.board is not None
    members: list[dict[str, object]] = projection.board["members"]
    return members


def test_the_owner_member_has_the_name_and_email_of_the_profile() -> None:
    owner = MemberProfile(name="Ada Lovelace", email="ada@example.com")
    members = _members(BoardCreated(title="Plans", owner_id="ada", owner=owner))
    assert members == [
        {"user_id": "ada", "role": "owner", "email": "ada@example.com", "name": "Ada Lovelace"}
    ]


def test_an_owner_without_a_profile_is_known_by_id_and_role_only() -> None:
    members = _members(BoardCreated(title="Plans", owner_id="ada"))
    assert members == [{"user_id": "ada", "role": "owner"}]
