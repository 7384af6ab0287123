"""Who signs in: an email and a name, with the subject and claims Google would derive for them."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass

# Consumer Google accounts carry no `hd` claim; only Workspace domains do.
_CONSUMER_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAX_EMAIL = 254
_MAX_NAME = 100


def normalize_email(value: str | None) -> str | None:
    if value is None:
        return None
    email = value.strip().lower()
    if len(email) > _MAX_EMAIL or not _EMAIL.match(email):
        return None
    return email


@dataclass(frozen=True)
class Account:
    email: str
    name: str

    @property
    def subject(self) -> str:
        # Google-shaped: 21 digits, stable for an email and never the email itself, so a relying
        # party that keys users by email instead of (iss, sub) shows up in tests.
        digest = hashlib.sha256(self.email.encode()).digest()
        return "1" + str(int.from_bytes(digest[:8], "big")).zfill(20)

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    @property
    def hosted_domain(self) -> str | None:
        return None if self.domain in _CONSUMER_DOMAINS else self.domain

    @property
    def given_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name

    @property
    def family_name(self) -> str | None:
        rest = self.name.split()[1:]
        return " ".join(rest) if rest else None

    @property
    def picture(self) -> str:
        # An inline avatar, so the web client shows one without reaching any other host.
        hue = int.from_bytes(hashlib.sha256(self.email.encode()).digest()[:2], "big") % 360
        initial = html.escape((self.name or self.email)[:1].upper())
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96">'
            f'<rect width="96" height="96" fill="hsl({hue},45%,45%)"/>'
            '<text x="48" y="64" font-size="48" font-family="sans-serif" fill="#fff"'
            f' text-anchor="middle">{initial}</text></svg>'
        )
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


DEMO_ACCOUNTS = (
    Account("alice@example.com", "Alice Example"),
    Account("bob@example.com", "Bob Example"),
    Account("carol@gmail.com", "Carol Consumer"),
)


def account_for(email: str, name: str | None = None) -> Account:
    if name and name.strip():
        return Account(email, " ".join(name.split())[:_MAX_NAME])
    known = next((a for a in DEMO_ACCOUNTS if a.email == email), None)
    if known is not None:
        return known
    local = re.split(r"[+]", email.partition("@")[0])[0]
    words = [w for w in re.split(r"[._-]+", local) if w]
    return Account(email, " ".join(w.capitalize() for w in words) or email)
