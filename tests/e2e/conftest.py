"""Fixtures for end-to-end tests: the stack of real processes (cardstream_testing.stack)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cardstream_runtime.devtoken import load_signer
from cardstream_testing import FerretDBServer, RedisServer
from cardstream_testing.stack import AUDIENCE, ISSUER, Stack


@pytest.fixture
def stack(tmp_path: Path, mongo_server: FerretDBServer, mongo_db_name: str) -> Iterator[Stack]:
    key_dir = tmp_path / "jwt"
    signer = load_signer(key_dir, issuer=ISSUER, audience=AUDIENCE)
    with RedisServer(tmp_path / "redis") as redis:
        stack = Stack(
            tmp=tmp_path,
            redis=redis,
            mongo_url=mongo_server.url,
            mongo_db=mongo_db_name,
            signer=signer,
            key_file=key_dir / "public.pem",
        )
        try:
            yield stack
        finally:
            stack.stop()
