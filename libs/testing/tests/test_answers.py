"""`checked` lets through only answers `contracts.wire` describes."""

from __future__ import annotations

import uuid

import orjson
import pytest
from cardstream_testing.answers import AnswerOutsideContractError, checked

ERROR = {"error": {"code": "not_found", "message": "no such board", "details": None}}
RESULT = {"board_id": str(uuid.uuid4()), "version": 3, "events": []}


class TestChecked:
    def test_an_error_in_the_shape_is_its_json(self) -> None:
        assert checked(404, orjson.dumps(ERROR)) == ERROR

    @pytest.mark.parametrize(
        "raw",
        [
            b"Server got itself in trouble",
            orjson.dumps({"error": "not_found"}),
            orjson.dumps({**ERROR, "trace": "..."}),
            orjson.dumps({"error": {**ERROR["error"], "code": 404}}),
        ],
        ids=["text", "a bare code", "an extra field", "a numeric code"],
    )
    def test_an_error_outside_the_shape_fails(self, raw: bytes) -> None:
        with pytest.raises(AnswerOutsideContractError):
            checked(500, raw)

    def test_a_command_result_is_its_json(self) -> None:
        assert checked(201, orjson.dumps(RESULT), command=True) == RESULT

    def test_a_command_answer_that_is_no_command_result_fails(self) -> None:
        with pytest.raises(AnswerOutsideContractError):
            checked(200, orjson.dumps({**RESULT, "version": "3"}), command=True)

    def test_other_successes_are_not_held_to_a_command_result(self) -> None:
        assert checked(200, b'{"status": "ready"}') == {"status": "ready"}
