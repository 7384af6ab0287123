"""What a store's refusal means to the client: never a 500 for a store that will come back."""

from __future__ import annotations

import pytest
from auth.entrypoints.http import auth_errors
from pymongo.errors import ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError


@pytest.mark.parametrize(
    "exc",
    [
        RedisConnectionError("refused"),
        RedisTimeoutError("timed out"),
        ReadOnlyError("You can't write against a read only replica."),
        ServerSelectionTimeoutError("no primary"),
    ],
    ids=["connection", "timeout", "read-only replica", "mongo"],
)
def test_a_store_that_will_come_back_is_a_503_store_unavailable(exc: Exception) -> None:
    answer = auth_errors(exc)

    assert answer is not None
    assert (answer.status, answer.code) == (503, "store_unavailable")


def test_a_full_store_is_a_503_store_full() -> None:
    answer = auth_errors(OutOfMemoryError("command not allowed when used memory > 'maxmemory'"))

    assert answer is not None
    assert (answer.status, answer.code) == (503, "store_full")


def test_an_error_it_does_not_know_is_left_to_the_middleware() -> None:
    assert auth_errors(ValueError("not ours")) is None
