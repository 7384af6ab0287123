"""Private Redis and FerretDB servers on loopback ports, for `make run` and the test harness.

Each server owns its data directory and log file; nothing talks to a system-wide instance.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import redis
import redis.exceptions
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from redis.backoff import NoBackoff
from redis.retry import Retry

from cardstream_devstack.processes import ServerProcess, ServerStartError

# The FerretDB build's one source: its version and the patches applied to it. scripts/install.sh
# derives the binary's path from the same files (`install.sh ferretdb-path`, compared by a test).
FERRETDB_SOURCE = Path(__file__).resolve().parents[4] / "deploy" / "ferretdb"


def ferretdb_build_path(source: Path = FERRETDB_SOURCE) -> Path:
    """Where scripts/install.sh builds FerretDB: a folder per version and hash of the patches."""
    version = (source / "version").read_text().strip()
    digest = hashlib.sha256()
    for patch in sorted((source / "patches").glob("*.patch")):
        digest.update(patch.read_bytes())
    tools = os.environ.get("CARDSTREAM_TOOLS") or str(Path.home() / ".cache/cardstream/tools")
    return Path(tools) / f"ferretdb-{version}-{digest.hexdigest()[:12]}" / "ferretdb"


def ferretdb_binary() -> Path:
    """FERRETDB_BIN, else the installer's build.

    Never a `ferretdb` found on PATH: the read side relies on the patched build's `_id` index.
    """
    if explicit := os.environ.get("FERRETDB_BIN"):
        return Path(explicit)
    built = ferretdb_build_path()
    if not built.is_file():
        raise ServerStartError(
            f"no FerretDB binary at {built} (built with the patches in {FERRETDB_SOURCE}); "
            "run `make install` or set FERRETDB_BIN"
        )
    return built


# The memory cap of the Redis that holds auth's short-lived state (login states, used ID
# tokens) in `make run` and the test stacks: room for thousands of sign-ins in flight, small
# enough that a flood meets it at once (deploy/redis-auth-state.conf caps production's).
AUTH_STATE_MAXMEMORY = "16mb"


class RedisServer(ServerProcess):
    """redis-server with AOF (fsync always) and noeviction, as production runs it. `maxmemory`
    (as redis.conf writes it, "16mb") caps it: a write beyond is refused, nothing is evicted."""

    name = "redis"

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        timeout: float = 10.0,
        executable: str = "redis-server",
        maxmemory: str | None = None,
    ) -> None:
        super().__init__(data_dir, port, log_path, timeout)
        self.executable = executable
        self.maxmemory = maxmemory

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _probe_client(self) -> redis.Redis:
        # redis-py retries a refused connection with backoff for seconds; a probe must not.
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )

    def _argv(self) -> list[str]:
        return [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            *(["--maxmemory", self.maxmemory] if self.maxmemory else []),
            "--daemonize", "no",
        ]  # fmt: skip

    def _answering_pid(self) -> int | None:
        try:
            with self._probe_client() as client:
                return int(client.info("server")["process_id"])
        except redis.exceptions.RedisError:
            return None

    def _shutdown(self, process: subprocess.Popen[bytes]) -> None:
        # SHUTDOWN fsyncs and closes the AOF before exiting. Only ever send it to our own
        # process: after a lost port race another server answers on this port.
        if self._answering_pid() != process.pid:
            process.terminate()
            return
        try:
            with self._probe_client() as client:
                client.shutdown()
        except redis.exceptions.RedisError:
            process.terminate()


class FerretDBServer(ServerProcess):
    """FerretDB on the SQLite backend: a MongoDB wire-protocol server with no other services."""

    name = "ferretdb"

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        timeout: float = 15.0,
        binary: Path | None = None,
        background: bool = False,
    ) -> None:
        super().__init__(data_dir, port, log_path, timeout)
        self.binary = binary if binary is not None else ferretdb_binary()
        # `make run` and the benchmarks run the read store on idle CPU time (`in_background`).
        self.background = background

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def _prepare(self) -> None:
        # FerretDB refuses to start unless the SQLite directory already exists.
        (self.data_dir / "data").mkdir(exist_ok=True)
        (self.data_dir / "state").mkdir(exist_ok=True)

    def _argv(self) -> list[str]:
        return [
            str(self.binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{self.data_dir / 'data'}/",
            f"--listen-addr=127.0.0.1:{self.port}",
            f"--state-dir={self.data_dir / 'state'}",
            "--telemetry=disable",
            "--log-level=warn",
            # The debug/metrics listener defaults to the fixed port 8088, so a second instance
            # would die at start; '-' disables it.
            "--debug-addr=-",
        ]

    def _answering_pid(self) -> int | None:
        client: MongoClient[dict[str, object]] = MongoClient(
            self.url, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        try:
            with client:
                return int(client.admin.command("serverStatus")["pid"])
        except PyMongoError:
            return None
