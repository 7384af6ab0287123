"""Every service as a real process behind nginx: the local identity provider, auth, boards and
the projector, with `web/` as the static root, and auth's state in a small Redis of its own (as
`make run` and production keep it). Used by the sign-in, browser and benchmark runs."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cardstream_devstack import (
    AUTH_STATE_MAXMEMORY,
    FerretDBServer,
    Gateway,
    RedisServer,
    Upstreams,
    free_port,
)

from cardstream_testing.processes import ServiceProcess

CLIENT_ID, CLIENT_SECRET = "cardstream-test", "test-secret"

# Debian's Chromium, as the browser tests and the `bigboard` benchmark drive it (headless).
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class FullStack:
    url: str
    processes: list[ServiceProcess]
    # Auth's login states and used ID tokens (AUTH_STATE_REDIS_URL); the event log is apart.
    auth_state_redis_url: str
    # nginx's access log: each line names the upstream that answered (`upstream=host:port/200`).
    access_log: Path | None = None

    def of(self, module: str) -> list[ServiceProcess]:
        """The processes of one service (`boards`, `projector`), in the order they started."""
        return [process for process in self.processes if process.module == module]


@dataclass(frozen=True)
class _Stores:
    redis_url: str
    auth_state_redis_url: str
    mongo_url: str
    db: str


def _services(
    tmp: Path, public_url: str, stores: _Stores, env: Mapping[str, str], instances: int
) -> list[ServiceProcess]:
    redis_url, mongo_url, db = stores.redis_url, stores.mongo_url, stores.db
    idp_port = free_port()
    idp_url = f"http://127.0.0.1:{idp_port}"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{public_url}/auth/callback"],
    }
    quiet = "WARNING"
    idp = ServiceProcess(
        "auth.devprovider",
        {"DEVIDP_ISSUER": idp_url, "DEVIDP_CLIENTS": json.dumps([client])},
        port_setting="DEVIDP_PORT",
        port=idp_port,  # fixed: the issuer names it
        log_path=tmp / "idp.log",
    )
    auth = ServiceProcess(
        "auth",
        {
            "AUTH_PUBLIC_URL": public_url,
            "AUTH_OIDC_ISSUER": idp_url,
            "AUTH_OIDC_CLIENT_ID": CLIENT_ID,
            "AUTH_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "AUTH_COOKIE_SECURE": "false",
            "AUTH_TRUSTED_PROXIES": '["127.0.0.1"]',
            "AUTH_REDIS_URL": redis_url,
            "AUTH_STATE_REDIS_URL": stores.auth_state_redis_url,
            "AUTH_MONGO_URL": mongo_url,
            "AUTH_MONGO_DB": f"{db}_auth",
            # The stack's own key-encryption key, as production gives one (not the public one).
            "AUTH_KEY_ENCRYPTION_KEYS": (
                f"stack:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}"
            ),
            "AUTH_LOG_LEVEL": quiet,
            **env,
        },
        port_setting="AUTH_PORT",
        log_path=tmp / "auth.log",
    )
    jwks = f"{auth.url}/.well-known/jwks.json"
    boards = [
        ServiceProcess(
            "boards",
            {
                "BOARDS_REDIS_URL": redis_url,
                "BOARDS_JWKS_URL": jwks,
                "BOARDS_JWT_ISSUER": public_url,
                "BOARDS_JWT_AUDIENCE": "cardstream-boards",
                "BOARDS_LOG_LEVEL": quiet,
                **env,
            },
            port_setting="BOARDS_PORT",
            log_path=tmp / _numbered("boards", n, instances),
        )
        for n in range(instances)
    ]
    projectors = [
        ServiceProcess(
            "projector",
            {
                "PROJECTOR_REDIS_URL": redis_url,
                "PROJECTOR_MONGO_URL": mongo_url,
                "PROJECTOR_MONGO_DB": db,
                "PROJECTOR_JWKS_URL": jwks,
                "PROJECTOR_JWT_ISSUER": public_url,
                "PROJECTOR_JWT_AUDIENCE": "cardstream-projector",
                "PROJECTOR_ALLOWED_ORIGINS": json.dumps([public_url]),
                "PROJECTOR_LOG_LEVEL": quiet,
                **env,
            },
            port_setting="PROJECTOR_PORT",
            log_path=tmp / _numbered("projector", n, instances),
        )
        for n in range(instances)
    ]
    return [idp, auth, *boards, *projectors]


def _numbered(name: str, n: int, instances: int) -> str:
    return f"{name}.log" if instances == 1 else f"{name}-{n + 1}.log"


@contextlib.contextmanager
def full_stack(
    tmp: Path,
    *,
    redis_url: str,
    mongo_url: str,
    mongo_db: str,
    web_root: Path,
    env: Mapping[str, str] | None = None,
    auth_state_maxmemory: str = AUTH_STATE_MAXMEMORY,
    instances: int = 1,
) -> Iterator[FullStack]:
    """Starts everything in order (auth discovers the provider, services fetch auth's keys).
    `env`: settings added to every service's (each reads its own prefix).
    `auth_state_maxmemory`: the cap of auth's state Redis, which the stack starts itself.
    `instances`: how many boards and projector processes nginx spreads requests over."""
    public_port = free_port()
    public_url = f"http://127.0.0.1:{public_port}"
    with RedisServer(tmp / "auth-state-redis", maxmemory=auth_state_maxmemory) as state:
        stores = _Stores(redis_url, state.url, mongo_url, mongo_db)
        processes = _services(tmp, public_url, stores, env or {}, instances)
        try:
            for process in processes:
                process.start()
            stack = FullStack(public_url, processes, state.url)
            (auth,) = stack.of("auth")
            upstreams = Upstreams(
                boards=tuple(f"127.0.0.1:{p.port}" for p in stack.of("boards")),
                projector=tuple(f"127.0.0.1:{p.port}" for p in stack.of("projector")),
                auth=f"127.0.0.1:{auth.port}",
            )
            with Gateway(upstreams, web_root=web_root, port=public_port) as gateway:
                stack.access_log = gateway.access_log_path
                yield stack
        finally:
            for process in reversed(processes):
                process.stop()


@contextlib.contextmanager
def private_stack(
    root: Path, *, mongo_db: str, web_root: Path, env: Mapping[str, str] | None = None
) -> Iterator[FullStack]:
    """The whole stack over a Redis and a FerretDB of its own, all under `root`; everything
    stops when the block ends (the benchmarks' and the screenshot's)."""
    with (
        RedisServer(root / "redis") as redis,
        FerretDBServer(root / "ferretdb") as mongo,
        full_stack(
            root,
            redis_url=redis.url,
            mongo_url=mongo.url,
            mongo_db=mongo_db,
            web_root=web_root,
            env=env,
        ) as running,
    ):
        yield running
