"""Writers as real clients are: each command has a fresh `command_id`, and a 5xx, a dropped
connection or a timeout is retried with the same id and body until it is answered (or the run's
deadline passes); a 401 renews the token first. Every command sent and its final answer go into
the `Ledger`, which the verification holds the log to."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from cardstream_testing.chaos.identity import REQUEST_TIMEOUT, Identity

RETRY_S = (0.1, 0.6)


@dataclass
class Sent:
    command_id: str
    board_id: str
    type: str
    actor: str
    status: int | None = None  # the final answer; None when it never came
    events: list[tuple[int, str]] = field(default_factory=list)  # (version, event id) answered
    attempts: int = 0

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Ledger:
    commands: dict[str, Sent] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        sent = list(self.commands.values())
        return {
            "sent": len(sent),
            "acknowledged": sum(s.acknowledged for s in sent),
            "rejected": sum(s.status is not None and not s.acknowledged for s in sent),
            "unanswered": sum(s.status is None for s in sent),
            "retried": sum(s.attempts > 1 for s in sent),
            "retries": sum(max(0, s.attempts - 1) for s in sent),
        }


@dataclass
class Board:
    board_id: str
    columns: list[str]
    members: list[Identity]
    cards: list[str] = field(default_factory=list)


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str, ledger: Ledger, deadline: float):
        self.session = session
        self.url = url
        self.ledger = ledger
        # Past it, a command still unanswered is given up (and counted as unanswered).
        self.deadline = deadline

    async def send(
        self, user: Identity, board_id: str | None, type_: str, payload: dict[str, Any]
    ) -> Sent:
        command_id = str(uuid.uuid4())
        board_id = board_id or str(uuid.uuid4())
        if type_ == "CreateBoard":
            payload = {**payload, "board_id": board_id}
            path = "/api/boards"
        else:
            path = f"/api/boards/{board_id}/commands"
        body = {"command_id": command_id, "type": type_, "payload": payload}
        sent = self.ledger.commands[command_id] = Sent(command_id, board_id, type_, user.email)
        while time.monotonic() < self.deadline:
            sent.attempts += 1
            token = await user.token()
            answer = await self._post(path, body, token)
            if answer is None or answer[0] >= 500:
                await asyncio.sleep(random.uniform(*RETRY_S))
                continue
            status, reply = answer
            if status == 401:
                await user.renew(token)
                continue
            sent.status = status
            if 200 <= status < 300:
                sent.events = [(int(e["version"]), str(e["event_id"])) for e in reply["events"]]
            return sent
        return sent

    async def _post(
        self, path: str, body: dict[str, Any], token: str
    ) -> tuple[int, dict[str, Any]] | None:
        try:
            async with self.session.post(
                f"{self.url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=REQUEST_TIMEOUT,
            ) as response:
                if response.status >= 500:
                    return response.status, {}
                return response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None


async def create_board(client: Client, owner: Identity, others: list[Identity], n: int) -> Board:
    created = await client.send(owner, None, "CreateBoard", {"title": f"Chaos {n}"})
    if not created.acknowledged:
        raise RuntimeError(f"CreateBoard answered {created.status}")
    for other in others:
        added = await client.send(
            owner, created.board_id, "AddMember", {"user_id": other.user_id, "role": "editor"}
        )
        if not added.acknowledged:
            raise RuntimeError(f"AddMember answered {added.status}")
    columns = []
    for title in ("To do", "Doing", "Done"):
        column_id = str(uuid.uuid4())
        added = await client.send(
            owner, created.board_id, "AddColumn", {"title": title, "column_id": column_id}
        )
        if added.acknowledged:
            columns.append(column_id)
    return Board(created.board_id, columns, [owner, *others])


async def write(
    client: Client, boards: list[Board], rng: random.Random, stop: asyncio.Event
) -> None:
    """One writer: random commands on random boards until `stop`, paced like a busy person."""
    while not stop.is_set():
        board = rng.choice(boards)
        user = rng.choice(board.members)
        type_, payload = _next_command(board, rng)
        sent = await client.send(user, board.board_id, type_, payload)
        if type_ == "AddCard" and sent.acknowledged:
            board.cards.append(payload["card_id"])
        await asyncio.sleep(rng.uniform(0.01, 0.05))


def _next_command(board: Board, rng: random.Random) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    if not board.cards or roll < 0.3:
        return "AddCard", {
            "card_id": str(uuid.uuid4()),
            "column_id": rng.choice(board.columns),
            "title": f"card {rng.randrange(10**6)}",
        }
    card = rng.choice(board.cards)
    if roll < 0.75:
        payload: dict[str, Any] = {"card_id": card, "column_id": rng.choice(board.columns)}
        other = rng.choice(board.cards)
        if other != card and rng.random() < 0.5:
            payload["before_card_id" if rng.random() < 0.5 else "after_card_id"] = other
        return "MoveCard", payload
    if roll < 0.95:
        return "EditCard", {"card_id": card, "title": f"renamed {rng.randrange(10**6)}"}
    return "RenameBoard", {"title": f"Chaos {rng.randrange(10**6)}"}
