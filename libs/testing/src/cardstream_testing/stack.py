"""The whole backend as real processes over real Redis and FerretDB, and clients to drive it:
support for the cross-service end-to-end tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cardstream_devstack import RedisServer
from cardstream_runtime.devtoken import DevSigner

from cardstream_testing.processes import ServiceProcess

ISSUER, AUDIENCE = "cardstream-dev", "cardstream"
WAIT_S = 20.0


async def run_module(
    module: str, *args: str, env: dict[str, str], timeout_s: float = 150
) -> tuple[int, str, str]:
    """`python -m MODULE ARGS` with `env` added to ours: its exit status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        raise AssertionError(f"{module} {args} did not end: {err.decode()[-2000:]}") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@dataclass
class Stack:
    tmp: Path
    redis: RedisServer
    mongo_url: str
    mongo_db: str
    signer: DevSigner
    key_file: Path
    boards: ServiceProcess | None = None
    projectors: list[ServiceProcess] = field(default_factory=list)

    def common_env(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}_REDIS_URL": self.redis.url,
            f"{prefix}_JWT_PUBLIC_KEY_FILE": str(self.key_file),
            f"{prefix}_JWT_ISSUER": ISSUER,
            f"{prefix}_JWT_AUDIENCE": AUDIENCE,
            f"{prefix}_PARTITIONS": "4",
            f"{prefix}_LOG_LEVEL": "WARNING",
        }

    def start_boards(self) -> ServiceProcess:
        self.boards = ServiceProcess(
            "boards",
            {
                **self.common_env("BOARDS"),
                # These tests drive one user at hundreds of commands a second on purpose; the
                # per-user limit has its own tests (services/boards/tests/integration).
                "BOARDS_COMMANDS_PER_USER_PER_S": "100000",
                "BOARDS_COMMANDS_BURST": "100000",
            },
            port_setting="BOARDS_PORT",
            log_path=self.tmp / "boards.log",
        ).start()
        return self.boards

    def projector_env(self, **settings: str) -> dict[str, str]:
        return {
            **self.common_env("PROJECTOR"),
            "PROJECTOR_MONGO_URL": self.mongo_url,
            "PROJECTOR_MONGO_DB": self.mongo_db,
            "PROJECTOR_LEASE_MS": "1000",
            "PROJECTOR_BLOCK_MS": "100",
            **{f"PROJECTOR_{k.upper()}": v for k, v in settings.items()},
        }

    def projector_process(self, name: str, **settings: str) -> ServiceProcess:
        env = self.projector_env(instance_id=name, **settings)
        return ServiceProcess(
            "projector", env, port_setting="PROJECTOR_PORT", log_path=self.tmp / f"{name}.log"
        )

    async def projector_cli(self, *args: str, timeout_s: float = 150) -> tuple[int, str, str]:
        """`python -m projector ARGS` over this stack's servers: its exit status, stdout, stderr."""
        return await run_module("projector", *args, env=self.projector_env(), timeout_s=timeout_s)

    def start_projector(self, name: str = "p1", **settings: str) -> ServiceProcess:
        process = self.projector_process(name, **settings).start()
        self.projectors.append(process)
        return process

    def token(self, user: str = "alice", **claims: Any) -> str:
        return self.signer.token(user, **claims)

    def stop(self) -> None:
        for process in [*self.projectors, self.boards]:
            if process is not None:
                process.stop()


class Api:
    """Commands to the boards service, reads from a projector."""

    def __init__(self, session: aiohttp.ClientSession, stack: Stack, read_url: str) -> None:
        self.session = session
        self.stack = stack
        self.read_url = read_url

    @property
    def write_url(self) -> str:
        assert self.stack.boards is not None
        return self.stack.boards.url

    def _auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.token(user)}"}

    async def create_board(self, user: str = "alice", title: str = "Board") -> str:
        body = {"command_id": str(uuid.uuid4()), "type": "CreateBoard", "payload": {"title": title}}
        async with self.session.post(
            f"{self.write_url}/api/boards", json=body, headers=self._auth(user)
        ) as r:
            assert r.status == 201, await r.text()
            return str((await r.json())["board_id"])

    async def command(
        self, board: str, type_: str, user: str = "alice", **payload: Any
    ) -> dict[str, Any]:
        body = {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload}
        url = f"{self.write_url}/api/boards/{board}/commands"
        async with self.session.post(url, json=body, headers=self._auth(user)) as r:
            answer: dict[str, Any] = await r.json()
            answer["status"] = r.status
            return answer

    async def board(self, board: str, user: str = "alice", min_version: int = 0) -> tuple[int, Any]:
        url = f"{self.read_url}/api/boards/{board}?min_version={min_version}"
        async with self.session.get(url, headers=self._auth(user)) as r:
            return r.status, await r.json()

    async def wait_for_version(self, board: str, version: int) -> dict[str, Any]:
        async def poll() -> dict[str, Any]:
            while True:
                status, body = await self.board(board, min_version=version)
                if status == 200 and body["board"]["version"] >= version:
                    return body  # type: ignore[no-any-return]

        return await asyncio.wait_for(poll(), WAIT_S)


class Subscriber:
    """A WebSocket client that records every message it receives, in order."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session = session
        self.url = url
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.closed_with: int | None = None

    async def connect(self) -> Subscriber:
        self.ws = await self.session.ws_connect(f"{self.url}/ws")
        await self.ws.send_json({"type": "auth", "token": self.token})
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(message.data))
                self._changed.set()
        self.closed_with = self.ws.close_code
        self._changed.set()

    async def subscribe(self, board: str, since_version: int | None = None) -> None:
        assert self.ws is not None
        message: dict[str, Any] = {"type": "subscribe", "board_id": board}
        if since_version is not None:
            message["since_version"] = since_version
        await self.ws.send_json(message)

    def events(self, board: str) -> list[dict[str, Any]]:
        return [
            event
            for m in self.messages
            if m["type"] == "events" and m["board_id"] == board
            for event in m["events"]
        ]

    def last_version(self, board: str) -> int:
        versions = [e["version"] for e in self.events(board)]
        snapshots = [
            m["version"]
            for m in self.messages
            if m["type"] == "snapshot" and m["board"]["board"]["board_id"] == board
        ]
        return int(max([0, *versions, *snapshots]))

    async def until(self, condition: Callable[[], bool], within: float = WAIT_S) -> None:
        """Waits, bounded, until `condition` holds over the messages received so far."""
        async with asyncio.timeout(within):
            while not condition():
                self._changed.clear()
                if condition():
                    return
                await self._changed.wait()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
