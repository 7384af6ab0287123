"""The services as child processes (`python -m boards`, `python -m projector`), so that the
benchmark's clients never share their event loop."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import IO, NoReturn

import aiohttp
from cardstream_devstack.processes import preexec
from cardstream_testing import free_port, log_tail

_START_ATTEMPTS = 3
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05


class ServiceStartError(RuntimeError):
    pass


class _PortTakenError(ServiceStartError):
    pass


class ServiceProcess:
    """`python -m <module>` with `<PREFIX>_*` settings; `<PREFIX>_HOST`/`_PORT` are ours."""

    def __init__(
        self, module: str, process: asyncio.subprocess.Process, port: int, log_path: Path
    ) -> None:
        self.module = module
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def marker(self) -> str:
        return f"--- starting {self.module}"

    @classmethod
    async def spawn(
        cls,
        module: str,
        prefix: str,
        settings: Mapping[str, str],
        log: IO[bytes],
        log_path: Path,
        *,
        wrapper: Sequence[str] = (),
        background: bool = False,
    ) -> ServiceProcess:
        port = free_port()
        log.write(f"--- starting {module} on port {port}\n".encode())
        log.flush()
        # A developer's own variables would change what is measured: only ours count.
        env = {k: v for k, v in os.environ.items() if not k.startswith(f"{prefix}_")}
        env.update(settings)
        env.update({f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port)})
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *wrapper,
            "-m",
            module,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            # Own session: a Ctrl-C reaches only the benchmark, which then stops the service.
            start_new_session=True,
            preexec_fn=preexec(background=background),
        )
        return cls(module, process, port, log_path)

    async def wait_healthy(self) -> None:
        probe = aiohttp.ClientTimeout(total=1)
        try:
            async with (
                asyncio.timeout(_START_TIMEOUT),
                aiohttp.ClientSession(self.url, timeout=probe) as session,
            ):
                # Polled: the only word from the child is its port starting to answer.
                while True:
                    if await self._healthy(session):
                        return
                    await asyncio.sleep(_POLL_INTERVAL)
        except TimeoutError:
            await self.stop()
            self.fail(f"not healthy after {_START_TIMEOUT:.0f}s")

    async def _healthy(self, session: aiohttp.ClientSession) -> bool:
        if self.process.returncode is not None:
            self.fail(f"exited with status {self.process.returncode}")
        try:
            async with session.get("/healthz") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    def fail(self, reason: str) -> NoReturn:
        # The log holds every attempt: judge this one by what follows its marker.
        tail = log_tail(self.log_path, 20).rsplit(self.marker, 1)[-1]
        error = _PortTakenError if "address already in use" in tail.lower() else ServiceStartError
        raise error(f"{self.module} at {self.url} {reason}; last lines of {self.log_path}:\n{tail}")

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        # SIGTERM lets aiohttp shut down cleanly (closing its clients) before it exits.
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@asynccontextmanager
async def service_process(
    module: str,
    prefix: str,
    settings: Mapping[str, str],
    log: IO[bytes],
    log_path: Path,
    *,
    wrapper: Sequence[str] = (),
    background: bool = False,
) -> AsyncIterator[ServiceProcess]:
    """A healthy service on a free port, stopped on the way out whatever happened meanwhile.
    `wrapper` goes between the interpreter and `-m` (`-m cProfile -o out` to profile it);
    `background` runs it on idle CPU time (`cardstream_devstack.in_background`)."""
    for attempt in range(1, _START_ATTEMPTS + 1):
        service = await ServiceProcess.spawn(
            module, prefix, settings, log, log_path, wrapper=wrapper, background=background
        )
        try:
            await service.wait_healthy()
        except _PortTakenError:
            # Someone took the free port before the service bound it: try another one.
            await service.stop()
            if attempt == _START_ATTEMPTS:
                raise
            continue
        except BaseException:
            await service.stop()
            raise
        break
    try:
        yield service
    finally:
        await service.stop()


def boards_process(
    settings: Mapping[str, str], log: IO[bytes], log_path: Path, *, wrapper: Sequence[str] = ()
) -> AbstractAsyncContextManager[ServiceProcess]:
    return service_process("boards", "BOARDS", settings, log, log_path, wrapper=wrapper)
