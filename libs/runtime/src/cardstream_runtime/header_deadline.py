"""A deadline on reading each request head (request line and headers), which aiohttp lacks.

Without it a client can open a connection and send nothing, or send a head a byte at a time
(slowloris), and hold the connection and its task until aiohttp's keep-alive timer closes it:
an hour by aiohttp's default. With it, a connection that has not delivered a complete head
within `header_timeout_s` of opening, or on a kept-alive connection of the first byte of its
next request, is closed without an answer, as nginx closes on `client_header_timeout`.

An idle kept-alive connection is not this deadline's business (`keepalive_timeout` closes it),
nor is a slow body: the request's own deadline (`cardstream_runtime.deadlines`) answers 503
while the handler waits for it, and aiohttp then reads what is left of it for at most its
lingering time (10 s) before closing.

`HeaderDeadlineSite` listens like `web.TCPSite`, with `HeaderDeadlineHandler` as the protocol.
aiohttp has no public hook for either half (which class serves a connection; when a head has
been parsed), so two private attributes are read, each named where it is and pinned by
`libs/runtime/tests/test_header_deadline.py::TestAiohttpInternals`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import StreamReader, web

log = logging.getLogger("cardstream.service")

# A browser or nginx sends a head in one write, of at most a few KiB: even over a poor mobile
# link it arrives within a second or two.
HEADER_TIMEOUT_S = 10.0


class HeaderDeadlineHandler(web.RequestHandler):
    """aiohttp's protocol, closing a connection whose request head is not read in time.

    aiohttp says nowhere public that a head was parsed, so this reads `_messages`, the queue
    `data_received` appends each parsed (head, body) to.
    """

    __slots__ = ("_after_upgrade", "_head_loop", "_head_timeout_s", "_head_timer", "_last_body")

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        header_timeout_s: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._head_loop = loop
        self._head_timeout_s = header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        # The body of the last head read: until it is complete, what arrives is body, not head.
        self._last_body: StreamReader | None = None
        self._after_upgrade = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if data and self._head_timer is None and self._between_requests():
            self._arm()
        heads = self._messages
        queued = len(heads)
        super().data_received(data)
        if len(heads) > queued:
            message, self._last_body = heads[-1]
            # After an upgrade head the bytes are the new protocol's (a WebSocket's frames),
            # or, when the upgrade is declined, heads aiohttp parses elsewhere: not timed until
            # a head is seen here again; aiohttp's keep-alive timer still bounds the wait. An
            # error (`_ErrInfo`, answered 400 and closed) has no `upgrade`.
            self._after_upgrade = bool(getattr(message, "upgrade", False))
            self._disarm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        if self._after_upgrade:
            return False
        # Bytes of a next head that came in the same read as the end of a body are timed from
        # the next read; a client that then sends nothing more is idle, which keep-alive closes.
        return self._last_body is None or self._last_body.is_eof()

    def _arm(self) -> None:
        self._head_timer = self._head_loop.call_later(self._head_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        log.debug(
            "closed a connection: no complete request head within %g s",
            self._head_timeout_s,
            extra={"fields": {"peer": str(self.peername)}},
        )
        self.force_close()


class HeaderDeadlineSite(web.BaseSite):
    """`web.TCPSite` on `host:port`, each connection served by a `HeaderDeadlineHandler`."""

    __slots__ = ("_header_timeout_s", "_host", "_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, *, header_timeout_s: float
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._header_timeout_s = header_timeout_s

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()  # registers the site, so the runner's cleanup stops it
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        timeout = self._header_timeout_s
        # What web.Server.__call__ does, with our class: there is no public way to name the
        # protocol class, and the handler must get the server's keyword arguments (the apps'
        # handler_args among them) as aiohttp's own would. `_kwargs` is pinned by
        # TestAiohttpInternals::test_an_apps_handler_args_still_reach_the_handler.
        kwargs = server._kwargs

        def connection() -> HeaderDeadlineHandler:
            return HeaderDeadlineHandler(server, loop=loop, header_timeout_s=timeout, **kwargs)

        # `_server` is the base class's slot for the listener, which its `stop` closes; every
        # aiohttp site sets it this way.
        self._server = await loop.create_server(
            connection, self._host, self._port, backlog=self._backlog
        )
