"""How a board's documents are served: one pure shaping into a `BoardDetail`, so the live read
model, a board folded at a point in time and a WebSocket snapshot folded from the log come out
the same, byte for byte."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import bson
from bson.codec_options import CodecOptions
from contracts.read_models import BoardDetail, BoardView, CardView

from projector.projection import BoardProjection, card_order_key

Doc = dict[str, Any]

_STORED = CodecOptions[Doc](tz_aware=True)


def as_stored(doc: Mapping[str, Any]) -> Doc:
    """The document as MongoDB gives it back (times to the millisecond, in UTC): what the live
    read model holds for the same projection."""
    return bson.decode(bson.encode(doc), codec_options=_STORED)


def _without_id(doc: Mapping[str, Any]) -> Doc:
    return {k: v for k, v in doc.items() if k != "_id"}


def board_detail(board: Doc, cards: Iterable[Doc], *, archived: bool = False) -> BoardDetail:
    """Columns in board order; cards in column order, then by position, then id. Without
    `archived`, archived columns, their cards and archived cards are left out."""
    view = BoardView.model_validate(_without_id(board))
    columns = [c for c in view.columns if archived or not c.archived]
    rank = {str(c.column_id): i for i, c in enumerate(columns)}
    shown = [
        c for c in cards if c["column_id"] in rank and (archived or not c.get("archived", False))
    ]
    shown.sort(key=lambda c: (rank[c["column_id"]], *card_order_key(c)))
    if not archived:
        view = view.model_copy(update={"columns": columns})
    return BoardDetail(board=view, cards=[CardView.model_validate(_without_id(c)) for c in shown])


def detail_of(projection: BoardProjection, *, archived: bool = False) -> BoardDetail | None:
    """A projection shaped as the live read model serves it; None before the board was created."""
    if projection.board is None:
        return None
    return board_detail(
        as_stored(projection.board),
        [as_stored(card) for card in projection.cards.values()],
        archived=archived,
    )
