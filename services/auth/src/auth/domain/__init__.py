"""The pure core of the auth service: ID token rules, login state rules, token contents.
No I/O happens below this package."""

from auth.domain.errors import (
    AuthError,
    IdTokenRejectedError,
    LoginFailedError,
    LoginStateError,
    NotAllowedError,
    RefreshConflictError,
    RefreshRejectedError,
)
from auth.domain.id_token import Identity, IdTokenPolicy, check_claims, key_id, verify_id_token
from auth.domain.login import LoginState, accept_callback, begin_login, code_challenge
from auth.domain.tokens import User

__all__ = [
    "AuthError",
    "IdTokenPolicy",
    "IdTokenRejectedError",
    "Identity",
    "LoginFailedError",
    "LoginState",
    "LoginStateError",
    "NotAllowedError",
    "RefreshConflictError",
    "RefreshRejectedError",
    "User",
    "accept_callback",
    "begin_login",
    "check_claims",
    "code_challenge",
    "key_id",
    "verify_id_token",
]
