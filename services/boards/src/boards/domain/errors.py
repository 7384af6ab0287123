"""Why a command was refused. Each error knows its code; the HTTP layer maps classes to statuses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "rule_violation"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details


class BoardNotFoundError(DomainError):
    """Also raised for boards the caller may not see, so their existence does not leak."""

    code = "board_not_found"


class PermissionDeniedError(DomainError):
    code = "forbidden"


class RuleViolationError(DomainError):
    """The command is well formed but the board's current state does not allow it."""


class BoardExistsError(DomainError):
    code = "board_exists"
