"""The invariants, checked once the faults have stopped and everything is back: the log against
the ledger of what was sent and answered, the read models against the log and a rebuild, and
every subscriber's view against the read model."""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from contracts.read_models import BoardDetail
from contracts.streams import EVENT_FIELD, StreamKeys
from redis.asyncio import Redis

from cardstream_testing.chaos.identity import REQUEST_TIMEOUT, Identity
from cardstream_testing.chaos.load import Ledger
from cardstream_testing.chaos.subscribers import Subscriber
from cardstream_testing.polling import poll

Logged = list[tuple[int, str, str]]  # (version, event id, command id) in log order


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    never_sent: list[str] = field(default_factory=list)
    refused_but_written: list[str] = field(default_factory=list)
    version_gaps: list[str] = field(default_factory=list)
    divergent_read_models: list[str] = field(default_factory=list)
    subscriber_mismatches: list[str] = field(default_factory=list)
    events: int = 0
    unanswered_written: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "never_sent": len(self.never_sent),
            "refused_but_written": len(self.refused_but_written),
            "version_gaps": len(self.version_gaps),
            "divergent_read_models": len(self.divergent_read_models),
            "subscriber_mismatches": len(self.subscriber_mismatches),
        }


async def read_logs(redis: Redis, keys: StreamKeys, boards: list[str]) -> dict[str, Logged]:
    logs = {}
    for board in boards:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(  # type: ignore[assignment]
            keys.board_log(uuid.UUID(board))
        )
        events = [json.loads(fields[EVENT_FIELD.encode()]) for _, fields in entries]
        logs[board] = [(e["version"], e["event_id"], e["command_id"]) for e in events]
    return logs


def check_logs(logs: dict[str, Logged], ledger: Ledger, findings: Findings) -> None:
    """Every acknowledged command's events, as answered, once (a command that changed nothing is
    answered with no events and has none); nothing else but unanswered commands' events."""
    written: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for board, log in logs.items():
        findings.events += len(log)
        versions = [version for version, _, _ in log]
        if versions != list(range(1, len(log) + 1)):
            findings.version_gaps.append(f"board {board}: versions {_ranges(versions)}")
        for version, event_id, command_id in log:
            written[command_id].append((version, event_id))
    for command_id, events in written.items():
        _check_written(command_id, events, ledger, findings)
    for sent in ledger.commands.values():
        if sent.acknowledged and sent.events and sent.command_id not in written:
            findings.lost.append(f"{sent.type} {sent.command_id} on {sent.board_id}: {sent.events}")


def _check_written(
    command_id: str, events: list[tuple[int, str]], ledger: Ledger, findings: Findings
) -> None:
    sent = ledger.commands.get(command_id)
    versions = [v for v, _ in events]
    if sent is None:
        findings.never_sent.append(f"command {command_id}: events at {versions}")
    elif sent.acknowledged and events != sent.events:
        found = f"{sent.type} {command_id}: in the log {events}, answered {sent.events}"
        whole = set(sent.events) <= set(events)
        (findings.duplicated if whole else findings.lost).append(found)
    elif sent.status is not None and not sent.acknowledged:
        findings.refused_but_written.append(f"{sent.type} {command_id} ({sent.status})")
    elif sent.status is None:
        findings.unanswered_written += 1
        if versions != list(range(versions[0], versions[0] + len(versions))):
            findings.duplicated.append(f"unanswered {sent.type} {command_id} at {versions}")


def _ranges(versions: list[int]) -> str:
    return ", ".join(str(v) for v in versions[:20]) + (" ..." if len(versions) > 20 else "")


async def read_models(
    session: aiohttp.ClientSession, url: str, reader: Identity, heads: dict[str, int], until: float
) -> dict[str, BoardDetail]:
    """Each board's read model once it reaches its head (polled, bounded by `until`)."""
    details = {}
    for board, head in heads.items():

        async def read(board: str = board, head: int = head) -> BoardDetail | None:
            return await _read(session, url, reader, board, head)

        def reached(detail: BoardDetail | None, head: int = head) -> bool:
            return detail is not None and detail.board.version >= head

        detail, done = await poll(read, reached, within=max(0.0, until - time.monotonic()))
        if done and detail is not None:
            details[board] = detail
    return details


async def _read(
    session: aiohttp.ClientSession, url: str, reader: Identity, board: str, head: int
) -> BoardDetail | None:
    token = await reader.reading_token()
    try:
        async with session.get(
            f"{url}/api/boards/{board}",
            params={"min_version": str(head)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=REQUEST_TIMEOUT,
        ) as response:
            if response.status == 401:
                await reader.renew(token)
            if response.status != 200:
                return None
            return BoardDetail.model_validate(await response.json())
    except (aiohttp.ClientError, TimeoutError):
        return None


def check_read_models(
    heads: dict[str, int], details: dict[str, BoardDetail], findings: Findings
) -> None:
    for board, head in heads.items():
        detail = details.get(board)
        if detail is None or detail.board.version != head:
            at = "none" if detail is None else detail.board.version
            findings.divergent_read_models.append(f"board {board}: read model at {at}, log {head}")


def check_subscribers(
    subscribers: list[Subscriber],
    logs: dict[str, Logged],
    details: dict[str, BoardDetail],
    findings: Findings,
) -> None:
    for n, subscriber in enumerate(subscribers):
        for board, view in subscriber.views.items():
            where = f"subscriber {n} ({subscriber.user.email}), board {board}"
            log = {version: event_id for version, event_id, _ in logs[board]}
            head = max(log, default=0)
            problems = list(view.problems)
            if view.version != head:
                problems.append(f"at version {view.version}, the head is {head}")
            wrong = [(v, e) for v, e in view.since_snapshot if log.get(v) != e]
            if wrong:
                problems.append(f"events not of the log: {wrong[:5]}")
            expected = list(range(view.snapshot_version + 1, view.version + 1))
            if [v for v, _ in view.since_snapshot] != expected:
                problems.append("the events since its last snapshot are not each version once")
            mine, theirs = view.detail(), details.get(board)
            if mine is None or theirs is None or _dump(mine) != _dump(theirs):
                problems.append("its board differs from the read model")
            findings.subscriber_mismatches.extend(f"{where}: {p}" for p in problems)


def _dump(detail: BoardDetail) -> dict[str, Any]:
    return detail.model_dump(mode="json")
