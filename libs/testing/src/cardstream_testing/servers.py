"""Private Redis and FerretDB servers on loopback ports, for tests and the local devstack.

Each server owns its data directory and log file; nothing talks to a system-wide instance.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, NoReturn, Self

import redis
import redis.exceptions
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from redis.backoff import NoBackoff
from redis.retry import Retry

# Keep in sync with scripts/install.sh, which builds the binary at ferretdb_binary().
FERRETDB_VERSION = "v1.24.2"

_POLL_INTERVAL = 0.05
_STOP_TIMEOUT = 10.0
_LOG_TAIL_LINES = 40


class ServerStartError(RuntimeError):
    pass


class PortInUseError(ServerStartError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ferretdb_binary() -> Path:
    """FERRETDB_BIN, else the installer's per-machine cache, else `ferretdb` on PATH."""
    if explicit := os.environ.get("FERRETDB_BIN"):
        return Path(explicit)
    tools = os.environ.get("CARDSTREAM_TOOLS") or str(Path.home() / ".cache/cardstream/tools")
    cached = Path(tools) / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"
    if cached.is_file():
        return cached
    on_path = shutil.which("ferretdb")
    if on_path is None:
        raise ServerStartError(
            f"no FerretDB binary at {cached} nor on PATH; run `make install` or set FERRETDB_BIN"
        )
    return Path(on_path)


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn so that Linux sends the server SIGTERM if we are killed outright.

    The signal fires when the spawning *thread* exits, so it is used only from the main thread.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return set_pdeathsig


class _ServerProcess:
    """Start/stop plumbing shared by the servers; subclasses say how to run and probe one."""

    name = "server"

    def __init__(
        self, data_dir: Path | None, port: int | None, log_path: Path | None, timeout: float
    ) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix=f"cardstream-{self.name}-"))
            if data_dir is None
            else data_dir
        )
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.log_path = log_path if log_path is not None else self.data_dir / f"{self.name}.log"
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Create whatever directories the server expects to exist."""

    def _answering_pid(self) -> int | None:
        """The pid of whatever server answers on our port, None while nothing does."""
        raise NotImplementedError

    def _shutdown(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()

    @property
    def returncode(self) -> int | None:
        """None while running or never started, else the exit status."""
        return None if self._process is None else self._process.poll()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._prepare()
        # A free port can be taken by someone else before the server binds it; pick another.
        attempts = 1 if self._fixed_port else 3
        for attempt in range(1, attempts + 1):
            try:
                self._spawn_and_wait()
            except PortInUseError:
                if attempt == attempts:
                    raise
                self.port = free_port()
            else:
                break
        # Pinned from now on, so that restart() comes back where clients expect it.
        self._fixed_port = True
        return self

    def _spawn_and_wait(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"--- starting {self.name} on 127.0.0.1:{self.port}\n".encode())
            log.flush()
            process = self._process = _spawn(self._argv(), log, cwd=self.data_dir)
        deadline = time.monotonic() + self.timeout
        # Compare pids: another server already on the port would answer just as well.
        while (pid := self._answering_pid()) != process.pid:
            if pid is not None:
                self.stop()
                self._fail(f"port is served by another process (pid {pid})", PortInUseError)
            if process.poll() is not None:
                in_use = "address already in use" in log_tail(self.log_path, 5).lower()
                self._fail(
                    f"exited with status {process.returncode}",
                    PortInUseError if in_use else ServerStartError,
                )
            if time.monotonic() > deadline:
                self.stop()
                self._fail(f"not ready after {self.timeout:.0f}s")
            time.sleep(_POLL_INTERVAL)

    def _fail(self, reason: str, error: type[ServerStartError] = ServerStartError) -> NoReturn:
        raise error(
            f"{self.name} on 127.0.0.1:{self.port} {reason}; "
            f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            self._shutdown(process)
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no flush. Idempotent."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self) -> Self:
        """Stop and start again on the same port and data directory."""
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _spawn(argv: list[str], log: IO[bytes], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Own session: a Ctrl-C in the terminal reaches only our process, which stops the
        # servers in order instead of all at once.
        start_new_session=True,
        preexec_fn=_parent_death_signal(),
    )


class RedisServer(_ServerProcess):
    """redis-server with AOF (fsync always) and noeviction, as production runs it."""

    name = "redis"

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        timeout: float = 10.0,
        executable: str = "redis-server",
    ) -> None:
        super().__init__(data_dir, port, log_path, timeout)
        self.executable = executable

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


class FerretDBServer(_ServerProcess):
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
    ) -> None:
        super().__init__(data_dir, port, log_path, timeout)
        self.binary = binary if binary is not None else ferretdb_binary()

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
