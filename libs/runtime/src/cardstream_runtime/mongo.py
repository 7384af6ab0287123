"""The one way a service connects to MongoDB: production's replica set (or Atlas) and FerretDB
here alike, with the concerns set in code, so that no URL can quietly weaken them.

- **Write concern `majority`, journaled**: a write is acknowledged once a majority of the
  replica set has it in its journal, so a failover never rolls back a checkpoint, a read model,
  a spent refresh token or a signing key that a caller was told about. The read models could be
  rebuilt from the log; auth's records could not.
- **Read concern `majority`**: a read sees only what no failover can roll back, so a reader never
  answers from a read model that is about to disappear (and `min_version` then waits for it).
- **Read preference `primary`**: read-your-writes, which `min_version`, the refresh-token spend
  and the lease-guarded checkpoints rely on. Secondaries would add capacity at the cost of lag
  that the version checks would turn into waits; scale reads with more processes instead
  (docs/scaling.md).

Options in the URL (`?w=1`, `?readPreference=secondary`) lose to these: PyMongo prefers keyword
arguments over URI options. Everything else (hosts, `replicaSet`, TLS, credentials,
`mongodb+srv://` for Atlas) comes from the URL.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

WRITE_CONCERN = "majority"
READ_CONCERN = "majority"
READ_PREFERENCE = "primary"


def mongo_client(url: str, *, timeout_ms: int) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        w=WRITE_CONCERN,
        journal=True,
        readConcernLevel=READ_CONCERN,
        readPreference=READ_PREFERENCE,
    )
