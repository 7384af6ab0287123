"""What every rule is given besides the board and the command: who gives it, and under which id."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5

from contracts.events import MemberProfile


@dataclass(frozen=True, slots=True)
class Context:
    actor: str
    command_id: UUID
    # Who the actor is by name and email, as their token said (None if it said neither).
    actor_profile: MemberProfile | None = None


def derive_id(command_id: UUID, kind: str) -> UUID:
    """Ids of created things come from the command id when the caller gave none, so deciding the
    same command twice yields the same events."""
    return uuid5(command_id, kind)
