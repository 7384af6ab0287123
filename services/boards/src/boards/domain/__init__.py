"""The pure core of a board: state, decide and evolve. No I/O happens below this package."""

from boards.domain.board_rules import board_exists
from boards.domain.decide import Context, check_access, decide, derive_id
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
    "board_exists",
    "check_access",
    "decide",
    "derive_id",
    "evolve",
    "fold",
]
