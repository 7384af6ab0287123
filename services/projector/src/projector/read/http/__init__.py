"""The read side's HTTP routes, by concern: boards and cards, audit, probes."""

from __future__ import annotations

from aiohttp import web

from projector.read.http import audit, boards, conversation, probes
from projector.read.http.errors import api_error

__all__ = ["add_routes", "api_error"]


def add_routes(app: web.Application, *, serving: bool = True) -> None:
    """Probes always; reads only in a process that serves (not an applier alone)."""
    for table in (
        (boards.routes, audit.routes, probes.routes, conversation.routes)
        if serving
        else (probes.routes,)
    ):
        app.add_routes(table)
