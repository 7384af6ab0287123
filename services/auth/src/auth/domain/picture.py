"""Which profile pictures we keep. The ID token's `picture` claim is checked here before it is
stored, and again before it is served.

The picture ends up as the `src` of an <img> in other people's browsers (whoever shares a board
with its owner), so it is untrusted input and kept only when it is one of:

- an `https://` URL with a host and no user info, at most 2 KiB: what Google sends
  (`https://lh3.googleusercontent.com/...`). Not `http:` (mixed content, and anyone on the path
  could swap the image), not `javascript:`, `blob:`, `file:` or any other scheme (inert in an
  <img>, but not wherever a later client might put the value, such as a link);
- a `data:image/png`, `data:image/jpeg` or `data:image/svg+xml` URL of at most 16 KiB: what the
  local provider sends. An SVG in an <img> runs no script and loads nothing; opened as a
  document it would, which is why clients put a picture only ever in an <img>. The bound keeps
  user records and `/auth/users` answers small (an ID token is at most 16 KiB anyway).

Either may hold only URL characters (RFC 3986) without quotes, brackets or backslashes, so the
value cannot break out of an HTML attribute or a CSS `url()` someone puts it in. Anything else is
dropped, and the user shows their initials: a sign-in never fails over a picture.

An https picture still tells its host the address of everyone who sees it. With Google that host
is Google's own; with another provider it is whatever host the provider puts in the claim.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import urlsplit

MAX_PICTURE_URL = 2 * 1024
MAX_PICTURE_DATA_URL = 16 * 1024

_SAFE_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#@!$&*+,;=%]+")
_DATA_IMAGE = re.compile(
    r"data:(?:image/png|image/jpeg|image/svg\+xml)"
    r"(?:;[a-z0-9-]+=[a-z0-9._-]+)*(?P<base64>;base64)?,(?P<payload>.+)",
    re.IGNORECASE,
)


def safe_picture(value: object) -> str | None:
    """The picture to keep for a claim value, or None to show none."""
    if not isinstance(value, str) or not _SAFE_CHARACTERS.fullmatch(value):
        return None
    if value.startswith("https://"):
        return value if _is_https_picture(value) else None
    if value[:5].lower() == "data:":
        return value if _is_data_image(value) else None
    return None


def _is_https_picture(value: str) -> bool:
    if len(value) > MAX_PICTURE_URL:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return False
    return bool(parts.hostname) and "@" not in parts.netloc


def _is_data_image(value: str) -> bool:
    if len(value) > MAX_PICTURE_DATA_URL:
        return False
    match = _DATA_IMAGE.fullmatch(value)
    if match is None:
        return False
    if match["base64"] is None:
        # Percent-encoded bytes; the character check above already holds them to URL characters.
        return True
    try:
        base64.b64decode(match["payload"], validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
