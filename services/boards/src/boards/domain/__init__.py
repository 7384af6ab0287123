"""The pure core of a board: state, decide and evolve. No I/O happens below this package."""

from boards.domain.decide import Context, decide, derive_id
from boards.domain.errors import (
    BoardExistsError,
    BoardNotFoundError,
    DomainError,
    PermissionDeniedError,
    RuleViolationError,
)
from boards.domain.model import Board, Card, Column, advance, evolve, fold

__all__ = [
    "Board",
    "BoardExistsError",
    "BoardNotFoundError",
    "Card",
    "Column",
    "Context",
    "DomainError",
    "PermissionDeniedError",
    "RuleViolationError",
    "advance",
    "decide",
    "derive_id",
    "evolve",
    "fold",
]
