"""Events on their way to subscribers, as the raw JSON the writer stored.

Nothing here validates a whole event: the feed's fields give board and version, the JSON is already
a valid envelope, and an `events` message is the raw events joined once for every subscriber.
Only membership events are parsed, and only after a substring check says they may be one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from projector.streams import LogItem

# Bounds on one `events` message, so a slow subscriber's queue holds bounded bytes too.
MAX_EVENTS_PER_MESSAGE = 500
MAX_MESSAGE_BYTES = 256 * 1024

_MEMBERSHIP_HINTS = (b"Member", b"BoardCreated")


def encode_events(board_id: str, raws: Iterable[bytes]) -> bytes:
    # The events are spliced in as stored; re-encoding them would cost per event what this costs
    # per message.
    return b'{"type":"events","board_id":"%s","events":[%s]}' % (
        board_id.encode(),
        b",".join(raws),
    )


class Run:
    """Events of one board with consecutive versions; its message is encoded at most once, however
    many subscribers it goes to."""

    __slots__ = ("_message", "board_id", "items")

    def __init__(self, board_id: str, items: list[LogItem]) -> None:
        self.board_id = board_id
        self.items = items
        self._message: bytes | None = None

    @property
    def first(self) -> int:
        return self.items[0][0]

    @property
    def last(self) -> int:
        return self.items[-1][0]

    @property
    def message(self) -> bytes:
        if self._message is None:
            self._message = encode_events(self.board_id, (raw for _, raw in self.items))
        return self._message

    def after(self, version: int) -> Run:
        return Run(self.board_id, [item for item in self.items if item[0] > version])


def runs_of(board_id: str, items: Sequence[LogItem]) -> list[Run]:
    """Splits at every gap in the versions and wherever a message would grow past its bounds."""
    runs: list[Run] = []
    current: list[LogItem] = []
    size = 0
    for item in items:
        version, raw = item
        if current and (
            version != current[-1][0] + 1
            or len(current) >= MAX_EVENTS_PER_MESSAGE
            or size + len(raw) > MAX_MESSAGE_BYTES
        ):
            runs.append(Run(board_id, current))
            current, size = [], 0
        current.append(item)
        size += len(raw) + 1
    if current:
        runs.append(Run(board_id, current))
    return runs


def contiguous(items: Sequence[LogItem], start: int) -> bool:
    return all(version == start + i for i, (version, _) in enumerate(items))


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _payload_user(event: dict[str, Any], field: str) -> str | None:
    payload = event.get("payload")
    user = payload.get(field) if isinstance(payload, dict) else None
    return user if isinstance(user, str) else None


def removals(items: Iterable[LogItem]) -> dict[str, int]:
    """The users a `MemberRemoved` among the items removes, each with the first such version."""
    removed: dict[str, int] = {}
    for version, raw in items:
        if b"MemberRemoved" not in raw:
            continue
        event = _parse(raw)
        if event is None or event.get("type") != "MemberRemoved":
            continue
        user = _payload_user(event, "user_id")
        if user is not None:
            removed.setdefault(user, version)
    return removed


def fold_members(members: Iterable[str], items: Iterable[LogItem]) -> set[str]:
    """The members after the items, given the members before them."""
    current = set(members)
    for _, raw in items:
        if not any(hint in raw for hint in _MEMBERSHIP_HINTS):
            continue
        event = _parse(raw)
        kind = event.get("type") if event is not None else None
        if event is None or kind is None:
            continue
        if kind == "BoardCreated":
            user = _payload_user(event, "owner_id")
        elif kind in ("MemberAdded", "MemberRoleChanged", "MemberRemoved"):
            user = _payload_user(event, "user_id")
        else:
            continue
        if user is None:
            continue
        if kind == "MemberRemoved":
            current.discard(user)
        else:
            current.add(user)
    return current


class BoardBatch:
    """One board's events from one read of the feeds: its runs and removals, worked out once."""

    __slots__ = ("board_id", "items", "removed", "runs")

    def __init__(self, board_id: str, items: list[LogItem]) -> None:
        self.board_id = board_id
        self.items = items
        self.runs = runs_of(board_id, items)
        self.removed = removals(items)

    def items_from(self, run_index: int) -> list[LogItem]:
        return [item for run in self.runs[run_index:] for item in run.items]
