"""HTTP/1.1 over a bare socket, for tests about the connection itself (deadlines, keep-alive),
where a client library would hide what the server did to it."""

from __future__ import annotations

import asyncio


async def get_status_line(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, *, bound_s: float
) -> bytes:
    """The status line of `GET path`, its answer read whole so the connection can be used
    again."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), bound_s)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await asyncio.wait_for(reader.readexactly(length), bound_s)
    return head.split(b"\r\n", 1)[0]
