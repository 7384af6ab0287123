"""serve: until SIGTERM, SIGINT or `stop`, then every cleanup context closes, and each connection
has header_timeout_s to send a request head; run: the exit status is what main returns."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from cardstream_devstack import free_port
from cardstream_runtime.service import serve

WAIT_S = 20.0

# A service in a few lines: its cleanup context says when it is up and when it has closed.
SERVICE = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    from cardstream_runtime.service import EXIT_OK, run, serve

    async def announce(app):
        print("up", flush=True)
        yield
        print("closed", flush=True)

    async def main():
        app = web.Application()
        app.cleanup_ctx.append(announce)
        await serve(app, host="127.0.0.1", port=0)
        return int(sys.argv[1])

    run(main())
    """
)


async def _start_service(status: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVICE,
        str(status),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), WAIT_S)).decode().strip()


class TestServeAsAProcess:
    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
    async def test_a_stop_signal_closes_the_app_and_exits_with_mains_status(
        self, sig: signal.Signals
    ) -> None:
        process = await _start_service(0)
        try:
            assert await _line(process) == "up"
            process.send_signal(sig)
            assert await _line(process) == "closed"
            assert await asyncio.wait_for(process.wait(), WAIT_S) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.stderr is not None
        assert b"Traceback" not in await process.stderr.read()

    async def test_the_process_exits_with_the_status_main_returns(self) -> None:
        process = await _start_service(3)
        try:
            assert await _line(process) == "up"
            process.terminate()
            assert await asyncio.wait_for(process.wait(), WAIT_S) == 3
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


class TestServe:
    async def test_setting_stop_shuts_the_app_down(self) -> None:
        steps: list[str] = []
        up = asyncio.Event()

        async def resource_ctx(app: web.Application) -> AsyncIterator[None]:
            steps.append("opened")
            up.set()
            yield
            steps.append("closed")

        app = web.Application()
        app.cleanup_ctx.append(resource_ctx)
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(app, host="127.0.0.1", port=0, stop=stop))
        await asyncio.wait_for(up.wait(), WAIT_S)
        stop.set()
        await asyncio.wait_for(serving, WAIT_S)

        assert steps == ["opened", "closed"]

    async def test_a_failed_start_closes_what_did_open_and_raises(self) -> None:
        steps: list[str] = []

        async def first_ctx(app: web.Application) -> AsyncIterator[None]:
            steps.append("first opened")
            yield
            steps.append("first closed")

        async def broken_ctx(app: web.Application) -> AsyncIterator[None]:
            raise RuntimeError("no database")
            yield

        app = web.Application()
        app.cleanup_ctx.extend([first_ctx, broken_ctx])

        with pytest.raises(RuntimeError, match="no database"):
            await asyncio.wait_for(serve(app, host="127.0.0.1", port=0), WAIT_S)
        assert steps == ["first opened", "first closed"]

    async def test_its_connections_must_send_a_request_head_within_header_timeout_s(
        self,
    ) -> None:
        app = web.Application()
        port = free_port()
        stop = asyncio.Event()
        serving = asyncio.create_task(
            serve(app, host="127.0.0.1", port=port, stop=stop, header_timeout_s=0.3)
        )
        try:
            reader, writer = await _connect(port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and no more
            assert await asyncio.wait_for(reader.read(), WAIT_S) == b""
            writer.close()
        finally:
            stop.set()
            await asyncio.wait_for(serving, WAIT_S)

    async def test_an_idle_connection_is_kept_alive_longer_than_nginx_keeps_it(self) -> None:
        # nginx closes an idle upstream connection after 60 s (its upstream keepalive_timeout);
        # the service must not close it first.
        async def keepalive(request: web.Request) -> web.Response:
            assert request.protocol is not None
            return web.Response(text=f"{request.protocol.keepalive_timeout:g}")

        app = web.Application()
        app.router.add_get("/", keepalive)
        port = free_port()
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(app, host="127.0.0.1", port=port, stop=stop))
        try:
            reader, writer = await _connect(port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), WAIT_S)
            writer.close()
        finally:
            stop.set()
            await asyncio.wait_for(serving, WAIT_S)

        assert answer.startswith(b"HTTP/1.1 200 ")
        assert answer.endswith(b"\r\n\r\n75")


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connects once `serve` listens (it says so in no other way a test can wait on)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                return await asyncio.open_connection("127.0.0.1", port)
            except ConnectionRefusedError:
                await asyncio.sleep(0.01)
