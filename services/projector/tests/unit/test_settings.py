"""ProjectorSettings: the event log's Redis URL."""

from __future__ import annotations

import pytest
from projector.settings import ProjectorSettings
from pydantic import ValidationError

KEYS = {"jwks_url": "http://auth.example/.well-known/jwks.json"}


def test_the_event_logs_redis_may_be_one_server_or_a_cluster() -> None:
    for url in ("redis://10.0.0.1:6379/0", "redis+cluster://10.0.0.1:6379,10.0.0.2:6379"):
        assert ProjectorSettings(**KEYS, redis_url=url).redis_url == url


def test_a_malformed_cluster_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValidationError, match="each node of a cluster URL") as refused:
        ProjectorSettings(**KEYS, redis_url="redis+cluster://user:hunter2@nohost")
    assert "hunter2" not in str(refused.value)
