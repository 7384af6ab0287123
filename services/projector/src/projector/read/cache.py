"""Boards this process has served, kept in memory at the version the read store holds.

Reading a board of thousands of cards from the store costs about a second on FerretDB (it decodes
every card) and re-encoding it tens of milliseconds; its document's version costs one lookup by
`_id`. So a read asks the store for the version only and answers from here when it holds that
version; when the store has moved on, the events in between (from the archive and the log) are
applied to the copy here by the same projection the appliers use, so it holds what the store
holds; only a board not held here is read whole. The answer's version is always the store's.

Bounded by the cards held: the boards used least recently go first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID
from weakref import WeakValueDictionary

from projector.events import BoardEvents
from projector.projection import BoardProjection, ProjectionError, apply_event
from projector.store.port import ReadStore
from projector.streams import EventLogError
from projector.views import detail_of

DEFAULT_CARDS = 200_000
# A board this far behind is read whole rather than caught up event by event.
MAX_CATCH_UP = 2_000
# A load that finds cards stored ahead of the board document (a writer between its two writes)
# is tried again this many times before the store is read the uncached way.
LOAD_ATTEMPTS = 3


@dataclass
class _Held:
    generation: int
    projection: BoardProjection
    # The encoded `BoardDetail`, by whether archived columns and cards are in it.
    encoded: dict[bool, bytes] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.projection.version

    @property
    def cards(self) -> int:
        return len(self.projection.cards)


@dataclass(frozen=True, slots=True)
class Held:
    """A board as served: its version, its members, and its encoded detail."""

    version: int
    members: frozenset[str]
    detail: bytes


class StoreBusyError(Exception):
    """A board was being written at every reading, and its log could not stand in."""


class BoardCache:
    def __init__(
        self,
        store: ReadStore,
        events: Callable[[], BoardEvents],
        *,
        max_cards: int = DEFAULT_CARDS,
    ) -> None:
        self._store = store
        self._events = events
        self._max_cards = max_cards
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._cards = 0
        # One reader at a time catches up or loads a board; the others then find it done.
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        self.loads = 0
        self.caught_up = 0
        self.uncached = 0
        self.folds = 0

    async def board(self, board_id: UUID, *, archived: bool = False) -> Held | None:
        """The board at the version the store holds now; None when the store has no board."""
        version = await self._store.board_version(board_id)
        if version is None:
            self._forget(str(board_id))
            return None
        lock = self._locks.setdefault(str(board_id), asyncio.Lock())
        async with lock:
            held = await self._at(str(board_id), version)
        if held is None:
            return await self._uncached(board_id, archived=archived)
        detail = held.encoded.get(archived)
        if detail is None:
            shaped = detail_of(held.projection, archived=archived)
            assert shaped is not None
            detail = held.encoded[archived] = shaped.model_dump_json().encode()
        board = held.projection.board or {}
        members = frozenset(m["user_id"] for m in board.get("members", []))
        return Held(held.version, members, detail)

    async def _uncached(self, board_id: UUID, *, archived: bool) -> Held | None:
        # The store's own reading, when neither the cache nor a fold could give the board: never
        # one a writer is half-way through (cards go first, so a card newer than the board
        # document means the board at `version` is not what the cards say).
        self.uncached += 1
        for _ in range(LOAD_ATTEMPTS):
            stored = await self._store.board_detail(board_id, archived=archived)
            if stored is None:
                return None
            if all(card.version <= stored.board.version for card in stored.cards):
                members = frozenset(m.user_id for m in stored.board.members)
                return Held(stored.board.version, members, stored.model_dump_json().encode())
        raise StoreBusyError(f"board {board_id} is being written; try again")

    async def _at(self, board_id: str, version: int) -> _Held | None:
        held = self._held.get(board_id)
        generation = self._store.generation
        if held is not None and (held.generation != generation or held.version > version):
            self._forget(board_id)  # a rebuild switched, or the store was rebuilt
            held = None
        if held is not None and held.version < version:
            held = await self._catch_up(held, version)
            if held is None:
                self._forget(board_id)  # it may be part-way: never serve it
        if held is None:
            held = await self._load(board_id, generation)
        if held is not None:
            self._keep(board_id, held)
        return held

    async def _catch_up(self, held: _Held, version: int) -> _Held | None:
        if version - held.version > MAX_CATCH_UP:
            return None
        projection = held.projection
        try:
            async for event in self._events().read(
                UUID(projection.board_id), after_version=projection.version, to_version=version
            ):
                apply_event(projection, event)
        except (EventLogError, ProjectionError):
            return None  # read it whole instead
        if projection.version != version:
            return None
        projection.written()  # nothing here is written anywhere: only keeps it from growing
        held.encoded.clear()
        self.caught_up += 1
        return held

    async def _load(self, board_id: str, generation: int) -> _Held | None:
        projection = BoardProjection(board_id)
        for _ in range(LOAD_ATTEMPTS):
            projection = await self._store.load(board_id)
            if projection.board is None:
                return None
            if not projection.torn:
                self.loads += 1
                return _Held(generation, projection)
        # A writer keeps being between its card and board writes (a busy board): the board as
        # of its stored document's version, folded from the log, as the applier repairs it.
        return await self._fold(board_id, generation, projection.version)

    async def _fold(self, board_id: str, generation: int, version: int) -> _Held | None:
        folded = BoardProjection(board_id)
        try:
            async for event in self._events().read(UUID(board_id), to_version=version):
                apply_event(folded, event)
        except (EventLogError, ProjectionError):
            return None
        if folded.version != version:
            return None
        folded.written()
        self.folds += 1
        return _Held(generation, folded)

    def _keep(self, board_id: str, held: _Held) -> None:
        if self._max_cards == 0:
            return  # no caching: every read goes to the store
        previous = self._held.pop(board_id, None)
        if previous is not None:
            self._cards -= previous.cards
        self._held[board_id] = held
        self._cards += held.cards
        while self._cards > self._max_cards and len(self._held) > 1:
            _, dropped = self._held.popitem(last=False)
            self._cards -= dropped.cards

    def _forget(self, board_id: str) -> None:
        with contextlib.suppress(KeyError):
            self._cards -= self._held.pop(board_id).cards
