"""What the auth domain refuses, and why. The HTTP layer maps each family to a status."""

from __future__ import annotations

from typing import Any


class AuthError(Exception):
    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class LoginStateError(AuthError):
    """The callback's `state` is unknown, used, expired or from another browser (400)."""


class LoginFailedError(AuthError):
    """The provider did not complete the login: it sent an error, or refused the code (400)."""


class IdTokenRejectedError(AuthError):
    """The ID token is not one our provider issued to us for this login (401)."""


class NotAllowedError(AuthError):
    """A genuine identity that this deployment does not admit (403)."""


class RefreshRejectedError(AuthError):
    """The refresh token cannot be used: unknown, expired, spent or its session ended (401)."""


class RefreshConflictError(AuthError):
    """Another refresh of the same token is still in flight; its answer holds the new token
    (409). A browser's other tab retries with the cookie that answer sets."""
