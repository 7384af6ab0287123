"""Local development stack behind `make run`: Redis (the event log's, and a small capped one for
auth's short-lived state), FerretDB, the services and nginx in front of them on one URL
(deploy/nginx/cardstream.conf.template, as in production), data in .run/.

Run it with `.venv/bin/python scripts/devstack.py`. Ctrl-C stops everything: nginx, the services,
then FerretDB, then Redis (SHUTDOWN, so the AOF is flushed). Data survives restarts.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import secrets
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

from cardstream_devstack import (
    AUTH_STATE_MAXMEMORY,
    CrashLoopError,
    FerretDBServer,
    Gateway,
    RedisServer,
    ServerStartError,
    Supervisor,
    Upstreams,
    in_background,
    log_tail,
)

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
LOGS = RUN / "logs"
# The key-encryption key that seals auth's signing keys in FerretDB: made once per checkout,
# kept beside the data it opens, readable by its owner only (services/auth/README.md).
KEK_FILE = RUN / "auth-kek"
WEB_ROOT = ROOT / "web"
PYTHON = sys.executable

HEALTH_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
WATCH_INTERVAL = 0.5


class DevstackError(Exception):
    pass


# Whatever devstack starts, by the name it goes by: the setting that moves its port, and the
# default. nginx serves the one URL; the other ports are internal.
PORT_SETTINGS: dict[str, tuple[str, int]] = {
    "redis": ("CARDSTREAM_REDIS_PORT", 6390),
    "auth-state-redis": ("CARDSTREAM_AUTH_STATE_REDIS_PORT", 6391),
    "ferretdb": ("CARDSTREAM_MONGO_PORT", 27027),
    "identity-provider": ("CARDSTREAM_IDP_PORT", 8093),
    "auth": ("CARDSTREAM_AUTH_PORT", 8083),
    "boards": ("CARDSTREAM_BOARDS_PORT", 8091),
    "projector": ("CARDSTREAM_PROJECTOR_PORT", 8092),
    "projector-apply": ("CARDSTREAM_PROJECTOR_APPLY_PORT", 8094),
    "nginx": ("CARDSTREAM_PORT", 8080),
}
Ports = Mapping[str, int]


def ports_from_env() -> Ports:
    return {name: _port_from_env(*setting) for name, setting in PORT_SETTINGS.items()}


@dataclass(frozen=True)
class Service:
    """A Python service, run as `python -m <module>` and configured by `<prefix>_*` variables:
    its host and port, then `settings`."""

    name: str
    module: str
    prefix: str
    port: int
    settings: Mapping[str, str] = field(default_factory=dict)
    # Run on idle CPU time only (`cardstream_devstack.in_background`).
    background: bool = False

    @property
    def argv(self) -> tuple[str, ...]:
        return (PYTHON, "-m", self.module)

    @property
    def env(self) -> dict[str, str]:
        own = {"HOST": "127.0.0.1", "PORT": str(self.port), **self.settings}
        return {f"{self.prefix}_{name}": value for name, value in own.items()}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def health_url(self) -> str:
        return f"{self.url}healthz"


def own_kek_given() -> bool:
    return any(
        os.environ.get(name)
        for name in ("AUTH_KEY_ENCRYPTION_KEYS", "AUTH_KEY_ENCRYPTION_KEYS_FILE")
    )


def ensure_kek_file() -> None:
    if KEK_FILE.exists():
        return
    KEK_FILE.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(KEK_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("# made by make run; auth's signing keys in .run/ferretdb open with it\n")
        out.write(f"local:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}\n")


def google_configured() -> bool:
    return bool(os.environ.get("AUTH_OIDC_CLIENT_ID"))


def services(ports: Ports) -> list[Service]:
    """The services to run, in start order; they are stopped in reverse."""
    public_url = f"http://127.0.0.1:{ports['nginx']}"
    origins = [public_url, f"http://localhost:{ports['nginx']}"]
    idp_url = f"http://127.0.0.1:{ports['identity-provider']}"
    redis_url = f"redis://127.0.0.1:{ports['redis']}/0"
    mongo_url = f"mongodb://127.0.0.1:{ports['ferretdb']}/"
    # Every service verifies our tokens against the auth service's key set.
    verifying = {
        "JWKS_URL": f"http://127.0.0.1:{ports['auth']}/.well-known/jwks.json",
        "JWT_ISSUER": public_url,
    }
    # Each service by name: its module, its settings' prefix, its settings.
    table: dict[str, tuple[str, str, dict[str, str]]] = {}
    sign_in: dict[str, str] = {}
    if not google_configured():
        client = {
            "client_id": "cardstream-local",
            "client_secret": "local-secret",
            "redirect_uris": [f"{o}/auth/callback" for o in origins],
        }
        table["identity-provider"] = (
            "auth.devprovider",
            "DEVIDP",
            {"ISSUER": idp_url, "CLIENTS": json.dumps([client])},
        )
        sign_in = {
            "OIDC_ISSUER": idp_url,
            "OIDC_CLIENT_ID": "cardstream-local",
            "OIDC_CLIENT_SECRET": "local-secret",
        }
    table["auth"] = (
        "auth",
        "AUTH",
        {
            "MODE": "development",
            "PUBLIC_URL": public_url,
            "REDIS_URL": redis_url,
            # Login states and used ID tokens, apart from the event log (a flood fills this one).
            "STATE_REDIS_URL": f"redis://127.0.0.1:{ports['auth-state-redis']}/0",
            "MONGO_URL": mongo_url,
            "MONGO_DB": "cardstream_auth",
            # Plain http on localhost: a Secure cookie would never come back.
            "COOKIE_SECURE": "false",
            # nginx, on this machine, says who the client is (its per-IP limits count by it).
            "TRUSTED_PROXIES": '["127.0.0.1"]',
            **({} if own_kek_given() else {"KEY_ENCRYPTION_KEYS_FILE": str(KEK_FILE)}),
            **sign_in,
        },
    )
    table["boards"] = (
        "boards",
        "BOARDS",
        {
            "REDIS_URL": redis_url,
            **verifying,
            "JWT_AUDIENCE": "cardstream-boards",
            "MODE": "development",
        },
    )
    projector = {
        "REDIS_URL": redis_url,
        "MONGO_URL": mongo_url,
        "MONGO_DB": "cardstream",
        **verifying,
        "JWT_AUDIENCE": "cardstream-projector",
        # Browsers reach /ws through nginx, so their Origin is the one URL.
        "ALLOWED_ORIGINS": json.dumps(origins),
    }
    # Two projector processes: one serves reads and WebSockets, the other applies the feeds to
    # FerretDB on idle CPU time, as FerretDB itself runs, so that the live path never queues
    # behind the read store's writes (docs/performance.md).
    table["projector"] = ("projector", "PROJECTOR", {**projector, "ROLE": "serve"})
    table["projector-apply"] = ("projector", "PROJECTOR", {**projector, "ROLE": "apply"})
    return [
        Service(name, module, prefix, ports[name], settings, background=name == "projector-apply")
        for name, (module, prefix, settings) in table.items()
    ]


def gateway(ports: Ports) -> Gateway:
    upstreams = Upstreams(
        boards=f"127.0.0.1:{ports['boards']}",
        projector=f"127.0.0.1:{ports['projector']}",
        auth=f"127.0.0.1:{ports['auth']}",
    )
    return Gateway(upstreams, web_root=WEB_ROOT, prefix=RUN / "nginx", port=ports["nginx"])


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise DevstackError(f"{name}={raw!r} is not a TCP port")
    return int(raw)


def check_port_free(owner: str, port: int) -> None:
    setting = PORT_SETTINGS[owner][0]
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
                preexec_fn=in_background if self.service.background else None,
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
    """Keeps every child up until Ctrl-C or SIGTERM (a KeyboardInterrupt): one that exits is
    started again; one in a crash loop stops the stack (CrashLoopError)."""
    supervisor = Supervisor(children, say=lambda line: print(f"make run: {line}", flush=True))
    while True:
        supervisor.check()
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
    if not own_kek_given():
        ensure_kek_file()
    to_run = services(ports)
    listeners = [
        "redis",
        "auth-state-redis",
        "ferretdb",
        *(service.name for service in to_run),
        "nginx",
    ]
    for name in listeners:
        check_port_free(name, ports[name])
    names = ", ".join(f"{name} :{ports[name]}" for name in listeners)
    print(f"starting {names} (data and logs in {RUN.relative_to(ROOT)}/) ...", flush=True)

    children: dict[str, Child] = {}
    with orderly_stop() as stack:
        redis = RedisServer(RUN / "redis", port=ports["redis"], log_path=LOGS / "redis.log")
        stack.callback(redis.stop)
        children["redis"] = redis.start()

        state_redis = RedisServer(
            RUN / "auth-state-redis",
            port=ports["auth-state-redis"],
            log_path=LOGS / "auth-state-redis.log",
            maxmemory=AUTH_STATE_MAXMEMORY,
        )
        stack.callback(state_redis.stop)
        children["auth-state-redis"] = state_redis.start()

        mongo = FerretDBServer(
            RUN / "ferretdb",
            port=ports["ferretdb"],
            log_path=LOGS / "ferretdb.log",
            background=True,
        )
        stack.callback(mongo.stop)
        children["ferretdb"] = mongo.start()

        # One at a time: auth discovers the identity provider, the others fetch auth's keys.
        for service in to_run:
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
            f"provider at http://127.0.0.1:{ports['identity-provider']} stands in for Google; "
            "pick or type any account."
        )
    print(
        f"{sign_in}\n"
        f"cardstream is up: http://127.0.0.1:{ports['nginx']}/  (API, /ws, /auth and the client)\n"
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
        run(ports_from_env())
    except KeyboardInterrupt:
        print("\ncardstream stopped.", flush=True)
        return 0
    except (DevstackError, ServerStartError, CrashLoopError) as error:
        print(f"devstack: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
