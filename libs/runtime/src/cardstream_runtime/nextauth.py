"""The user id a NextAuth front end's user has in cardstream (docs/nextauth.md).

A NextAuth token names its user by `(iss, sub)`, in the front end's namespace, not ours. The id
recorded as the actor and checked against board membership is a UUID version 5 over a fixed
namespace and `iss` NUL `sub`. Our auth service mints version 4 UUIDs, so the two sets cannot
meet whatever `sub` says; NUL is refused in both parts, so two pairs never share a name. The
same pair always gives the same id, in every process, with nothing stored.

    python -m cardstream_runtime.nextauth <iss> <sub>   # prints the id, e.g. to invite someone
"""

from __future__ import annotations

import sys
import uuid

# uuid5(NAMESPACE_URL, "urn:cardstream:nextauth-user"), written out so a front end can copy it.
NEXTAUTH_USER_NAMESPACE = uuid.UUID("49d6acfd-d4d3-574d-a54a-e54d535eb5ad")


def nextauth_user_id(issuer: str, subject: str) -> str:
    if not issuer or not subject:
        raise ValueError("a NextAuth user needs an issuer and a subject")
    if "\0" in issuer or "\0" in subject:
        raise ValueError("NUL separates the issuer from the subject; neither may hold it")
    return str(uuid.uuid5(NEXTAUTH_USER_NAMESPACE, f"{issuer}\0{subject}"))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m cardstream_runtime.nextauth <iss> <sub>", file=sys.stderr)
        return 2
    try:
        print(nextauth_user_id(argv[0], argv[1]))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
