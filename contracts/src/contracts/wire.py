"""What crosses the wire: command results, the one error shape every service answers with, and
the WebSocket messages of the live board."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue, StringConstraints, TypeAdapter

from contracts.base import Contract
from contracts.conversation import NotificationView
from contracts.envelope import TaggedEvent
from contracts.fields import BoardId, PersonName, UserId, Version
from contracts.read_models import BoardDetail


class CommandResult(Contract):
    board_id: BoardId
    version: Version
    events: list[TaggedEvent]


class ErrorDetail(Contract):
    code: str
    message: str
    details: JsonValue = None


class ErrorBody(Contract):
    error: ErrorDetail


# -- WebSocket messages (docs/websocket.md) ---------------------------------------------------
# Client to server.


class AuthMessage(Contract):
    type: Literal["auth"] = "auth"
    token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class SubscribeMessage(Contract):
    type: Literal["subscribe"] = "subscribe"
    board_id: BoardId
    since_version: Version | None = None


class UnsubscribeMessage(Contract):
    type: Literal["unsubscribe"] = "unsubscribe"
    board_id: BoardId


class PingMessage(Contract):
    type: Literal["ping"] = "ping"


class NotificationsSubscribeMessage(Contract):
    """Live notifications for the signed-in user. `user_id`, when given, must be the caller's
    own: anyone else's is refused with a `forbidden` error message."""

    type: Literal["subscribe_notifications"] = "subscribe_notifications"
    user_id: UserId | None = None


ClientMessage = Annotated[
    AuthMessage
    | SubscribeMessage
    | UnsubscribeMessage
    | PingMessage
    | NotificationsSubscribeMessage,
    Field(discriminator="type"),
]
client_message_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# Server to client.


class SnapshotMessage(Contract):
    type: Literal["snapshot"] = "snapshot"
    board: BoardDetail
    version: Version


class EventsMessage(Contract):
    """Strictly increasing versions, no gap, no duplicate, per board and connection."""

    type: Literal["events"] = "events"
    board_id: BoardId
    events: list[TaggedEvent]


class Viewer(Contract):
    user_id: UserId
    name: PersonName | None = None


class PresenceMessage(Contract):
    type: Literal["presence"] = "presence"
    board_id: BoardId
    viewers: list[Viewer]


class ErrorMessage(Contract):
    type: Literal["error"] = "error"
    code: str
    message: str
    board_id: BoardId | None = None


class PongMessage(Contract):
    type: Literal["pong"] = "pong"


class NotificationMessage(Contract):
    """A notification for the connection's user, as it is made (after `subscribe_notifications`)."""

    type: Literal["notification"] = "notification"
    notification: NotificationView


ServerMessage = Annotated[
    SnapshotMessage
    | EventsMessage
    | PresenceMessage
    | ErrorMessage
    | PongMessage
    | NotificationMessage,
    Field(discriminator="type"),
]
server_message_adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
