"""Services run as real processes for end-to-end tests: started with env, waited for on
/healthz, stopped with SIGTERM (then SIGKILL) and their log kept for failure messages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from cardstream_devstack import free_port, log_tail

_POLL_SECONDS = 0.05


class ServiceProcess:
    """`port_setting` names the env variable the service reads its port from (`BOARDS_PORT`)."""

    def __init__(
        self,
        module: str,
        env: Mapping[str, str],
        *,
        port_setting: str,
        log_path: Path,
        port: int | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.module = module
        self._fixed_port = port is not None
        self.port = port or free_port()
        self._port_setting = port_setting
        self.env = {**env, port_setting.replace("PORT", "HOST"): "127.0.0.1"}
        self.log_path = log_path
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        # A free port can be taken by someone else before the service binds it: pick another.
        for _attempt in range(3):
            if self._start_once():
                # Pinned from now on, as the servers are: a service started again after a kill
                # comes back where its clients and the gateway expect it.
                self._fixed_port = True
                return self
            if self._fixed_port or "address already in use" not in log_tail(self.log_path).lower():
                break
            self.port = free_port()
        raise RuntimeError(f"{self.module} did not start:\n{log_tail(self.log_path)}")

    def _start_once(self) -> bool:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env={**os.environ, **self.env, self._port_setting: str(self.port)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.timeout
        # Healthy and still ours: a port taken by another server would answer just as well.
        while not (self._healthy() and self._process.poll() is None):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                return False
            time.sleep(_POLL_SECONDS)
        return True

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 10 s; the exit status (None if it never started)."""
        process = self._process
        if process is None or process.poll() is not None:
            return self.returncode
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return self.returncode

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def kill(self) -> None:
        """SIGKILL, as a crash would, and wait for it to be gone."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def log(self) -> str:
        return log_tail(self.log_path, 50)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
