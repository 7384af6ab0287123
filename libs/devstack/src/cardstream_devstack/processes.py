"""Processes the stack runs (Redis, FerretDB, nginx) on loopback ports: started in their own
session, waited for until they answer as themselves, stopped in order, their log kept for failure
messages. Subclasses say how to run and probe one (`servers`, `gateway`).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, NoReturn, Self

_POLL_INTERVAL = 0.05
_STOP_TIMEOUT = 10.0
_LOG_TAIL_LINES = 40


class ServerStartError(RuntimeError):
    pass


class PortInUseError(ServerStartError):
    pass


# Ports are taken from below the kernel's ephemeral range: a port the kernel hands out for
# port 0 is also what it hands the next outgoing connection, so between choosing it and a
# server binding it, any client of the same machine could take it (seen as "Address already in
# use" while two test runs shared the machine).
_LISTEN_PORTS = (20000, 32767)
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _below_ephemeral() -> tuple[int, int] | None:
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    first, last = _LISTEN_PORTS
    if low - 1 <= first:
        return None
    return worker_slice(first, min(last, low - 1))


def worker_slice(first: int, last: int) -> tuple[int, int]:
    """This test worker's own slice of [first, last]: pytest-xdist runs the suite in several
    processes at once, and each remembers only the ports it handed out itself, so two of them
    choosing from one span could both choose a port before either binds it."""
    try:
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    except ValueError:
        return first, last
    if workers <= 1 or not 0 <= worker < workers:
        return first, last
    size = (last - first + 1) // workers
    return first + worker * size, first + (worker + 1) * size - 1


# Ports this process handed out lately: a caller often chooses several before binding any (a
# stack's gateway last of all), so a random choice must not repeat one still waiting.
_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=4096)


def free_port() -> int:
    """A loopback port nothing listens on now, preferably outside the ephemeral range, and not
    one this process handed out lately."""
    span = _below_ephemeral()
    if span is not None:
        chooser = random.SystemRandom()
        for _ in range(64):
            port = chooser.randint(*span)
            if port in _HANDED_OUT:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _HANDED_OUT.append(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
    _HANDED_OUT.append(chosen)
    return chosen


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def parent_death_signal() -> Callable[[], None] | None:
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


def in_background() -> None:
    """Makes the calling process run only on CPU time nothing else wants (SCHED_IDLE, which its
    threads inherit; `nice 19` where there is no such policy). For a child about to exec: the
    read store and its applier run so, so that on a small machine the live path (commands,
    Redis, WebSocket fan-out) never queues behind them for a core."""
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(19)


def preexec(*, background: bool) -> Callable[[], None] | None:
    """The preexec_fn of a child: the parent-death signal, and `in_background` if asked."""
    candidates = (parent_death_signal(), in_background if background else None)
    steps = [step for step in candidates if step is not None]
    if not steps:
        return None

    def run() -> None:
        for step in steps:
            step()

    return run


class ServerProcess:
    """Start/stop plumbing shared by the servers; subclasses say how to run and probe one."""

    name = "server"
    # Whether the server runs on idle CPU time only (`in_background`).
    background = False

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

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The server stopped (SIGSTOP) for the block, then resumed: a hung server, whose
        connections stay open and whose answers never come, as a fault test wants it."""
        process = self._process
        if process is None or process.poll() is not None:
            raise ServerStartError(f"{self.name} is not running")
        process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            process.send_signal(signal.SIGCONT)

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
            process = self._process = spawn(
                self._argv(), log, cwd=self.data_dir, background=self.background
            )
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


def spawn(
    argv: list[str], log: IO[bytes], cwd: Path, *, background: bool = False
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Own session: a Ctrl-C in the terminal reaches only our process, which stops the
        # servers in order instead of all at once.
        start_new_session=True,
        preexec_fn=preexec(background=background),
    )
