"""Where events live in Redis: key names and partitioning, shared by writer and readers.

Every key of a board carries its partition's hash tag (`{pN}`), the same tag as that partition's
feed and epoch, so one script touching all of them runs unchanged on Redis Cluster.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from uuid import UUID

DEFAULT_PARTITIONS = 16

# Field names inside stream entries.
EVENT_FIELD = "event"
BOARD_FIELD = "board"
VERSION_FIELD = "version"


def partition_of(board_id: UUID, partitions: int) -> int:
    # crc32 of the UUID bytes: stable across processes and languages, unlike hash().
    return zlib.crc32(board_id.bytes) % partitions


def board_entry_id(version: int) -> str:
    """A board stream's entry ids are its versions, so a range of versions is an XRANGE."""
    return f"{version}-0"


@dataclass(frozen=True, slots=True)
class StreamKeys:
    prefix: str = ""
    partitions: int = DEFAULT_PARTITIONS

    def tag(self, partition: int) -> str:
        return f"{self.prefix}cs:{{p{partition}}}"

    def feed(self, partition: int) -> str:
        return f"{self.tag(partition)}:feed"

    def epoch(self, partition: int) -> str:
        return f"{self.tag(partition)}:epoch"

    def fenced(self, partition: int) -> str:
        """Hash of the partition's boards held for recovery: board id -> why (JSON). The projector
        writes it when a board's log lost versions its archive holds, an operator lifts it, and
        the append refuses every board it names (docs/operations.md#a-board-whose-log-diverged)."""
        return f"{self.tag(partition)}:fenced"

    def _board(self, board_id: UUID) -> str:
        return f"{self.tag(partition_of(board_id, self.partitions))}:board:{board_id}"

    def board_log(self, board_id: UUID) -> str:
        return f"{self._board(board_id)}:log"

    def board_head(self, board_id: UUID) -> str:
        return f"{self._board(board_id)}:head"

    def board_snapshot(self, board_id: UUID) -> str:
        return f"{self._board(board_id)}:snapshot"

    def command(self, board_id: UUID, command_id: UUID) -> str:
        return f"{self._board(board_id)}:cmd:{command_id}"

    def partition_of(self, board_id: UUID) -> int:
        return partition_of(board_id, self.partitions)

    def sessions_ended(self) -> str:
        """Pub/sub channel: the auth service publishes a session id here when it ends (logout),
        and every projector closes that session's WebSockets."""
        return f"{self.prefix}cs:sessions:ended"
