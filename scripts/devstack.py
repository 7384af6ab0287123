"""Local development stack behind `make run`: Redis, FerretDB, the services and nginx in front of
them on one URL (deploy/nginx/cardstream.conf.template, as in production), data in .run/.

Run it with `.venv/bin/python scripts/devstack.py`. Ctrl-C stops everything: nginx, the services,
then FerretDB, then Redis (SHUTDOWN, so the AOF is flushed). Data survives restarts.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cardstream_testing.gateway import Gateway, Upstreams
from cardstream_testing.servers import FerretDBServer, RedisServer, ServerStartError, log_tail

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
LOGS = RUN / "logs"
WEB_ROOT = ROOT / "web"
PYTHON = sys.executable

HEALTH_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
WATCH_INTERVAL = 0.5


class DevstackError(Exception):
    pass


@dataclass(frozen=True)
class Ports:
    redis: int
    mongo: int
    boards: int
    projector: int
    auth: int
    identity_provider: int
    # The one URL: nginx. The services' own ports are internal.
    public: int

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            redis=_port_from_env("CARDSTREAM_REDIS_PORT", 6390),
            mongo=_port_from_env("CARDSTREAM_MONGO_PORT", 27027),
            boards=_port_from_env("CARDSTREAM_BOARDS_PORT", 8091),
            projector=_port_from_env("CARDSTREAM_PROJECTOR_PORT", 8092),
            auth=_port_from_env("CARDSTREAM_AUTH_PORT", 8083),
            identity_provider=_port_from_env("CARDSTREAM_IDP_PORT", 8093),
            public=_port_from_env("CARDSTREAM_PORT", 8080),
        )


@dataclass(frozen=True)
class Service:
    name: str
    argv: tuple[str, ...]
    port: int
    port_setting: str
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def health_url(self) -> str:
        return f"{self.url}healthz"


def google_configured() -> bool:
    return bool(os.environ.get("AUTH_OIDC_CLIENT_ID"))


def services(ports: Ports) -> list[Service]:
    """The services to run, in start order; they are stopped in reverse."""
    public_url = f"http://127.0.0.1:{ports.public}"
    origins = [public_url, f"http://localhost:{ports.public}"]
    idp_url = f"http://127.0.0.1:{ports.identity_provider}"
    redis_url = f"redis://127.0.0.1:{ports.redis}/0"
    mongo_url = f"mongodb://127.0.0.1:{ports.mongo}/"
    # Every service verifies our tokens against the auth service's key set.
    jwks_url = f"http://127.0.0.1:{ports.auth}/.well-known/jwks.json"
    local: list[Service] = []
    provider_env: dict[str, str] = {}
    if not google_configured():
        client = {
            "client_id": "cardstream-local",
            "client_secret": "local-secret",
            "redirect_uris": [f"{o}/auth/callback" for o in origins],
        }
        local.append(
            Service(
                name="identity-provider",
                argv=(PYTHON, "-m", "auth.devprovider"),
                port=ports.identity_provider,
                port_setting="CARDSTREAM_IDP_PORT",
                env={
                    "DEVIDP_HOST": "127.0.0.1",
                    "DEVIDP_PORT": str(ports.identity_provider),
                    "DEVIDP_ISSUER": idp_url,
                    "DEVIDP_CLIENTS": json.dumps([client]),
                },
            )
        )
        provider_env = {
            "AUTH_OIDC_ISSUER": idp_url,
            "AUTH_OIDC_CLIENT_ID": "cardstream-local",
            "AUTH_OIDC_CLIENT_SECRET": "local-secret",
        }
    return [
        *local,
        Service(
            name="auth",
            argv=(PYTHON, "-m", "auth"),
            port=ports.auth,
            port_setting="CARDSTREAM_AUTH_PORT",
            env={
                "AUTH_HOST": "127.0.0.1",
                "AUTH_PORT": str(ports.auth),
                "AUTH_MODE": "development",
                "AUTH_PUBLIC_URL": public_url,
                "AUTH_REDIS_URL": redis_url,
                "AUTH_MONGO_URL": mongo_url,
                "AUTH_MONGO_DB": "cardstream_auth",
                # Plain http on localhost: a Secure cookie would never come back.
                "AUTH_COOKIE_SECURE": "false",
                **provider_env,
            },
        ),
        Service(
            name="boards",
            argv=(PYTHON, "-m", "boards"),
            port=ports.boards,
            port_setting="CARDSTREAM_BOARDS_PORT",
            env={
                "BOARDS_HOST": "127.0.0.1",
                "BOARDS_PORT": str(ports.boards),
                "BOARDS_REDIS_URL": redis_url,
                "BOARDS_JWKS_URL": jwks_url,
                "BOARDS_JWT_ISSUER": public_url,
                "BOARDS_JWT_AUDIENCE": "cardstream-boards",
                "BOARDS_MODE": "development",
            },
        ),
        Service(
            name="projector",
            argv=(PYTHON, "-m", "projector"),
            port=ports.projector,
            port_setting="CARDSTREAM_PROJECTOR_PORT",
            env={
                "PROJECTOR_HOST": "127.0.0.1",
                "PROJECTOR_PORT": str(ports.projector),
                "PROJECTOR_REDIS_URL": redis_url,
                "PROJECTOR_MONGO_URL": mongo_url,
                "PROJECTOR_MONGO_DB": "cardstream",
                "PROJECTOR_JWKS_URL": jwks_url,
                "PROJECTOR_JWT_ISSUER": public_url,
                "PROJECTOR_JWT_AUDIENCE": "cardstream-projector",
                # Browsers reach /ws through nginx, so their Origin is the one URL.
                "PROJECTOR_ALLOWED_ORIGINS": json.dumps(origins),
            },
        ),
    ]


def gateway(ports: Ports) -> Gateway:
    upstreams = Upstreams(
        boards=f"127.0.0.1:{ports.boards}",
        projector=f"127.0.0.1:{ports.projector}",
        auth=f"127.0.0.1:{ports.auth}",
    )
    return Gateway(upstreams, web_root=WEB_ROOT, prefix=RUN / "nginx", port=ports.public)


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise DevstackError(f"{name}={raw!r} is not a TCP port")
    return int(raw)


def check_port_free(port: int, owner: str, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: only a listening socket counts as taken, not one in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise DevstackError(
                f"port {port} for {owner} is already in use; stop whatever listens there "
                f"(`ss -ltnp 'sport = :{port}'`) or set {setting} to another port"
            ) from None


class ServiceProcess:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.log_path = LOGS / f"{service.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.service.env}
        with self.log_path.open("ab") as log:
            log.write(f"--- starting {self.service.name}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self.service.argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: Ctrl-C reaches only devstack, which stops children in order.
                start_new_session=True,
            )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while not _healthy(self.service.health_url):
            if self.returncode is not None:
                raise ChildExitedError(self.service.name, self.returncode, self.log_path)
            if time.monotonic() > deadline:
                raise DevstackError(
                    f"{self.service.name}: no healthy answer from {self.service.health_url} "
                    f"within {HEALTH_TIMEOUT:.0f}s; last lines of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ChildExitedError(DevstackError):
    def __init__(self, name: str, returncode: int, log_path: Path) -> None:
        super().__init__(
            f"{name} exited unexpectedly with status {returncode}; "
            f"last lines of {log_path}:\n{log_tail(log_path)}"
        )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


Child = RedisServer | FerretDBServer | ServiceProcess | Gateway


def watch(children: Mapping[str, Child]) -> None:
    """Block until a child exits; Ctrl-C and SIGTERM arrive as KeyboardInterrupt."""
    while True:
        for name, child in children.items():
            if child.returncode is not None:
                raise ChildExitedError(name, child.returncode, child.log_path)
        time.sleep(WATCH_INTERVAL)


@contextlib.contextmanager
def orderly_stop() -> Iterator[contextlib.ExitStack]:
    """An ExitStack whose callbacks (stop in reverse start order) no signal can interrupt."""
    with contextlib.ExitStack() as stack:
        try:
            yield stack
        finally:
            # Stops are bounded (terminate, then kill), so a second Ctrl-C has nothing to add.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run(ports: Ports) -> None:
    for service in services(ports):
        check_port_free(service.port, service.name, service.port_setting)
    check_port_free(ports.redis, "redis", "CARDSTREAM_REDIS_PORT")
    check_port_free(ports.mongo, "ferretdb", "CARDSTREAM_MONGO_PORT")
    check_port_free(ports.public, "nginx", "CARDSTREAM_PORT")
    names = ", ".join(f"{s.name} :{s.port}" for s in services(ports))
    print(
        f"starting redis :{ports.redis}, ferretdb :{ports.mongo}, {names}, nginx :{ports.public} "
        f"(data and logs in {RUN.relative_to(ROOT)}/) ...",
        flush=True,
    )

    children: dict[str, Child] = {}
    with orderly_stop() as stack:
        redis = RedisServer(RUN / "redis", port=ports.redis, log_path=LOGS / "redis.log")
        stack.callback(redis.stop)
        children["redis"] = redis.start()

        mongo = FerretDBServer(RUN / "ferretdb", port=ports.mongo, log_path=LOGS / "ferretdb.log")
        stack.callback(mongo.stop)
        children["ferretdb"] = mongo.start()

        # One at a time: auth discovers the identity provider, the others fetch auth's keys.
        for service in services(ports):
            process = ServiceProcess(service)
            stack.callback(process.stop)
            process.start()
            children[service.name] = process
            process.wait_healthy()

        nginx = gateway(ports)
        stack.callback(nginx.stop)
        children["nginx"] = nginx.start()

        announce(ports)
        watch(children)


def announce(ports: Ports) -> None:
    if google_configured():
        sign_in = "Sign-in: Google (AUTH_OIDC_CLIENT_ID is set)."
    else:
        sign_in = (
            "Google sign-in is not configured (AUTH_OIDC_CLIENT_ID is unset): the local OpenID "
            f"provider at http://127.0.0.1:{ports.identity_provider} stands in for Google; "
            "pick or type any account."
        )
    print(
        f"{sign_in}\n"
        f"cardstream is up: http://127.0.0.1:{ports.public}/  (API, /ws, /auth and the client)\n"
        "  a token for scripts: scripts/dev-token.sh alice@example.com  (Ctrl-C stops everything)",
        flush=True,
    )


def main() -> int:
    # SIGTERM takes the same path as Ctrl-C: unwind and stop every child in order. SIGINT is set
    # too because a shell starts background jobs with it ignored, and Python then keeps it so.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        LOGS.mkdir(parents=True, exist_ok=True)
        run(Ports.from_env())
    except KeyboardInterrupt:
        print("\ncardstream stopped.", flush=True)
        return 0
    except (DevstackError, ServerStartError) as error:
        print(f"devstack: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
