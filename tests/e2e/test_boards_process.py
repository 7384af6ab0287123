"""The boards service as a real process over real Redis, driven the way the README says."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cardstream_testing import RedisServer
from cardstream_testing.answers import read_answer
from cardstream_testing.processes import ServiceProcess
from contracts.streams import StreamKeys
from redis.asyncio import Redis

ISSUER, AUDIENCE = "cardstream-dev", "cardstream"


def _dev_token(key_dir: Path, sub: str) -> str:
    """Exactly what the README tells a developer to run."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cardstream_runtime.devtoken",
            "--key-dir",
            str(key_dir),
            "--sub",
            sub,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def _boards_env(redis_url: str, key_dir: Path, prefix: str) -> dict[str, str]:
    subprocess.run(
        [sys.executable, "-m", "cardstream_runtime.devtoken", "--key-dir", str(key_dir), "--init"],
        check=True,
    )
    return {
        "BOARDS_REDIS_URL": redis_url,
        "BOARDS_JWT_PUBLIC_KEY_FILE": str(key_dir / "public.pem"),
        "BOARDS_JWT_ISSUER": ISSUER,
        "BOARDS_JWT_AUDIENCE": AUDIENCE,
        "BOARDS_KEY_PREFIX": prefix,
        "BOARDS_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def boards(redis_server: RedisServer, tmp_path: Path, key_prefix: str) -> Iterator[ServiceProcess]:
    env = _boards_env(redis_server.url, tmp_path / "jwt", key_prefix)
    with ServiceProcess(
        "boards", env, port_setting="BOARDS_PORT", log_path=tmp_path / "boards.log"
    ) as service:
        yield service


async def _post(
    session: aiohttp.ClientSession, url: str, token: str, body: dict[str, Any]
) -> tuple[int, Any]:
    async with session.post(
        url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status, await read_answer(response, command=True)


def _command(type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload}


class TestTheReadmeWalkthrough:
    async def test_a_board_gets_a_card_that_moves(
        self, boards: ServiceProcess, tmp_path: Path
    ) -> None:
        token = _dev_token(tmp_path / "jwt", "alice")
        todo, done, card = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        async with aiohttp.ClientSession(boards.url) as session:
            status, created = await _post(
                session, "/api/boards", token, _command("CreateBoard", title="Launch")
            )
            assert status == 201
            commands = f"/api/boards/{created['board_id']}/commands"
            for column, title in ((todo, "To do"), (done, "Done")):
                status, _ = await _post(
                    session, commands, token, _command("AddColumn", column_id=column, title=title)
                )
                assert status == 200
            status, _ = await _post(
                session,
                commands,
                token,
                _command("AddCard", card_id=card, column_id=todo, title="Write"),
            )
            assert status == 200
            move = _command("MoveCard", card_id=card, column_id=done)
            status, moved = await _post(session, commands, token, move)
            again_status, again = await _post(session, commands, token, move)
        assert status == 200
        assert moved["version"] == 5
        assert moved["events"][0]["payload"]["to_column_id"] == done
        assert (again_status, again) == (status, moved)


class TestStopping:
    def test_sigterm_stops_it_cleanly_with_status_0(self, boards: ServiceProcess) -> None:
        assert boards.stop() == 0, boards.log()
        assert "Traceback" not in boards.log()


class TestTheCurlDemo:
    def test_the_readme_script_runs_against_a_real_service(
        self, boards: ServiceProcess, tmp_path: Path
    ) -> None:
        script = Path(__file__).resolve().parents[2] / "scripts" / "curl-demo.sh"
        token = _dev_token(tmp_path / "jwt", "alice")
        out = subprocess.run(
            ["bash", str(script)],
            env={**os.environ, "API": boards.url, "TOKEN": token},
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        answers = [json.loads(line) for line in out.stdout.splitlines()]
        assert [a["version"] for a in answers] == [1, 2, 3, 4, 5, 5]
        assert answers[4]["events"][0]["type"] == "CardMoved"
        assert answers[5] == answers[4]


class TestNothingAcknowledgedIsLost:
    async def test_acknowledged_commands_survive_redis_being_killed_amid_group_commits(
        self, tmp_path: Path
    ) -> None:
        # Sixteen writers on one board keep its queue full, so its commands go out in groups
        # (ADR 008) and the kill lands while one is in flight: whatever was acknowledged, in
        # whichever group, must be in the log after Redis comes back.
        with RedisServer(tmp_path / "redis") as redis_server:
            env = _boards_env(redis_server.url, tmp_path / "jwt", "")
            token = _dev_token(tmp_path / "jwt", "alice")
            acknowledged: dict[int, str] = {}  # version -> event id, as answered
            interrupted = 0  # sent before the kill, not acknowledged
            killed = False
            with ServiceProcess(
                "boards", env, port_setting="BOARDS_PORT", log_path=tmp_path / "boards.log"
            ) as boards:
                async with aiohttp.ClientSession(boards.url) as session:
                    _, created = await _post(
                        session, "/api/boards", token, _command("CreateBoard", title="Durable")
                    )
                    acknowledged[1] = created["events"][0]["event_id"]
                    commands = f"/api/boards/{created['board_id']}/commands"

                    async def writer(n: int) -> None:
                        nonlocal interrupted, killed
                        for i in range(40):
                            sent_before_kill = not killed
                            rename = _command("RenameBoard", title=f"{n}-{i}")
                            status, body = await _post(session, commands, token, rename)
                            if status == 200:
                                acknowledged[body["version"]] = body["events"][0]["event_id"]
                            elif sent_before_kill:
                                interrupted += 1
                            if len(acknowledged) >= 100 and not killed:
                                # No chance to flush anything it had not already fsynced.
                                redis_server.kill()
                                killed = True

                    await asyncio.gather(*(writer(n) for n in range(16)))
            redis_server.restart()
            redis = Redis.from_url(redis_server.url)
            try:
                log = await redis.xrange(StreamKeys().board_log(uuid.UUID(created["board_id"])))
            finally:
                await redis.aclose()
        stored = {int(entry_id.split(b"-")[0]): json.loads(f[b"event"]) for entry_id, f in log}
        assert len(acknowledged) >= 100
        assert interrupted > 0, "the kill caught no command in flight; the test proves nothing"
        assert list(stored) == list(range(1, len(stored) + 1))
        for version, event_id in acknowledged.items():
            assert stored[version]["event_id"] == event_id, f"acknowledged version {version}"
        # One clock reading stamps a whole group: shared times show groups of several commands.
        stamps = [event["occurred_at"] for event in stored.values()]
        assert len(set(stamps)) < len(stamps), "no group of more than one command was written"
