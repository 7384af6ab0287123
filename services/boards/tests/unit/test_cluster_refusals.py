"""What a Redis Cluster's refusals mean to the client, and which cluster URLs the settings take."""

from __future__ import annotations

from pathlib import Path

import pytest
from boards.entrypoints.http import command_errors
from boards.settings import BoardsSettings
from pydantic import ValidationError
from redis.exceptions import ClusterDownError, ClusterError, SlotNotCoveredError, TryAgainError


@pytest.mark.parametrize(
    "refusal",
    [
        ClusterDownError("CLUSTERDOWN The cluster is down"),
        TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
        ClusterError("TTL exhausted."),
        SlotNotCoveredError('Slot "12" not covered by the cluster.'),
    ],
    ids=["cluster down", "try again", "out of redirections", "slot not covered"],
)
def test_a_refusal_of_the_cluster_is_a_retryable_503(refusal: Exception) -> None:
    # Each comes before Redis ran the append: nothing was written, the retry is safe.
    error = command_errors(refusal)

    assert error is not None
    assert (error.status, error.code) == (503, "store_unavailable")


def test_the_settings_take_a_cluster_url(tmp_path: Path) -> None:
    settings = BoardsSettings(
        redis_url="redis+cluster://10.0.0.1:7000,10.0.0.2:7000",
        jwt_public_key_file=tmp_path / "key.pem",
    )

    assert settings.redis_url.startswith("redis+cluster://")


def test_the_settings_refuse_a_broken_cluster_url_without_repeating_it(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="host:port") as refused:
        BoardsSettings(
            redis_url="redis+cluster://app:hunter2@10.0.0.1",
            jwt_public_key_file=tmp_path / "key.pem",
        )

    assert "hunter2" not in str(refused.value)
