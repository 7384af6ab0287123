"""Server messages as the bytes of a text frame, and the close codes (docs/websocket.md)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from aiohttp import WSCloseCode
from contracts.fields import MAX_TITLE
from contracts.read_models import BoardDetail
from contracts.wire import ErrorMessage, PresenceMessage, SnapshotMessage, Viewer
from pydantic import TypeAdapter

# No token in time, a bad or expired token, or the session was ended.
CLOSE_UNAUTHORIZED = 4401
# The user has PROJECTOR_WS_PER_USER sockets open on this process already (HTTP's 429).
CLOSE_TOO_MANY_SOCKETS = 4429
CLOSE_NORMAL = WSCloseCode.OK
CLOSE_GOING_AWAY = WSCloseCode.GOING_AWAY
CLOSE_TOO_SLOW = WSCloseCode.TRY_AGAIN_LATER
CLOSE_ABNORMAL = WSCloseCode.ABNORMAL_CLOSURE

PONG = b'{"type":"pong"}'

_snapshot = TypeAdapter(SnapshotMessage)
_presence = TypeAdapter(PresenceMessage)
_error = TypeAdapter(ErrorMessage)

# (user_id, name): what the presence of a board is made of, sorted by user id.
ViewerKey = tuple[str, str | None]


def encode_snapshot(detail: BoardDetail) -> bytes:
    return _snapshot.dump_json(SnapshotMessage(board=detail, version=detail.board.version))


def snapshot_of_encoded(detail: bytes, version: int) -> bytes:
    """`encode_snapshot` of a detail already encoded (the cache keeps it so): same bytes."""
    return b'{"type":"snapshot","board":%s,"version":%d}' % (detail, version)


def encode_presence(board_id: str, viewers: Sequence[ViewerKey]) -> bytes:
    message = PresenceMessage(
        board_id=UUID(board_id),
        viewers=[Viewer(user_id=user, name=name) for user, name in viewers],
    )
    return _presence.dump_json(message)


def encode_error(code: str, message: str, board_id: str | UUID | None = None) -> bytes:
    board = UUID(board_id) if isinstance(board_id, str) else board_id
    return _error.dump_json(ErrorMessage(code=code, message=message, board_id=board))


def viewer_name(name: str | None) -> str | None:
    # A token may carry a longer name than a Viewer holds; presence is no reason to refuse it.
    return name.strip()[:MAX_TITLE] if name is not None else None
