"""What every rule is given besides the board and the command: who gives it, and under which id."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5


@dataclass(frozen=True, slots=True)
class Context:
    actor: str
    command_id: UUID


def derive_id(command_id: UUID, kind: str) -> UUID:
    """Ids of created things come from the command id when the caller gave none, so deciding the
    same command twice yields the same events."""
    return uuid5(command_id, kind)
