"""How a board's read models are laid out in documents, so that every hot path reaches a bounded
number of documents by `_id`, whatever the number of boards and cards in the database.

- A board is one document (`boards`, `_id` = board id): its columns, members, counts, version.
- Its cards live in at most `2 * CARD_BUCKETS` bucket documents (`card_buckets`, `_id` =
  `<board>:o<n>` for open cards, `<board>:a<n>` for archived ones), `n` = crc32 of the card id
  modulo `CARD_BUCKETS`: a card's bucket is computed from its id, never looked up. Loading a board
  is one `find` by `_id` (`$in` of the bucket ids), without its archived cards unless asked.
- The per-user index is one document per user (`user_boards`, `_id` = user id) mapping each board
  the user was ever a member of to `{role, active, version}`.
- The event archive (`events`, shared by all generations) holds one document per event, `_id` =
  `<board>:<version>`: a range of versions is an `$in` of the ids.

This is MongoDB's bucket pattern; on FerretDB 1.24 it is what the patched build pushes down to its
`_id` index (deploy/ferretdb). Each bucket and user entry carries the board version that last
wrote it, the guard of the next write.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from contracts.envelope import AnyEvent

from projector.projection import BoardProjection

Doc = dict[str, Any]

CARD_BUCKETS = 16
OPEN, ARCHIVED = "o", "a"


def bucket_id(board_id: str, card_id: str, *, archived: bool) -> str:
    family = ARCHIVED if archived else OPEN
    return f"{board_id}:{family}{zlib.crc32(card_id.encode()) % CARD_BUCKETS}"


def bucket_ids(board_id: str, *, archived: bool) -> list[str]:
    """The open buckets of a board; with `archived`, the archived ones too."""
    families = (OPEN, ARCHIVED) if archived else (OPEN,)
    return [f"{board_id}:{family}{n}" for family in families for n in range(CARD_BUCKETS)]


@dataclass
class BucketChange:
    """What one write does to one bucket: cards to put (whole), cards to take out, and the
    version of the newest event among those changes: the bucket's version after the write, and
    its guard. It comes from the events alone, not from how they were batched, so every writer of
    the same events writes the same bucket."""

    bucket_id: str
    board_id: str
    put: dict[str, Doc] = field(default_factory=dict)
    take: list[str] = field(default_factory=list)
    version: int = 0


def bucket_changes(p: BoardProjection) -> list[BucketChange]:
    """The buckets the projection's dirty cards touch, each once."""
    changes: dict[str, BucketChange] = {}

    def change(bucket: str) -> BucketChange:
        return changes.setdefault(bucket, BucketChange(bucket, p.board_id))

    for card_id in sorted(p.dirty_cards):
        card = p.cards[card_id]
        archived = bool(card["archived"])
        put = change(bucket_id(p.board_id, card_id, archived=archived))
        put.put[card_id] = card
        put.version = max(put.version, int(card["version"]))
        stored = p.stored_cards.get(card_id)
        if stored is not None and stored != archived:
            # The event that moved it to the other side is also the newest change of this one.
            took = change(bucket_id(p.board_id, card_id, archived=stored))
            took.take.append(card_id)
            took.version = max(took.version, int(card["version"]))
    return list(changes.values())


def membership_entries(p: BoardProjection) -> list[tuple[str, Doc]]:
    """(user id, `{role, active, version}`) for each membership the projection changed."""
    return [
        (user, {"role": m["role"], "active": m["active"], "version": m["version"]})
        for user, m in sorted(p.dirty_members.items())
    ]


def loaded_projection(board_id: str, board: Doc, buckets: list[Doc]) -> BoardProjection:
    """A board's projection as stored. A card found in both an open and an archived bucket (a
    writer stopped between the two buckets' updates) is taken as its newer copy, and recorded as
    stored on the other side, so the next write of it takes it out of there."""
    cards: dict[str, Doc] = {}
    stored: dict[str, bool] = {}
    for bucket in buckets:
        for card_id, card in bucket["cards"].items():
            held = cards.get(card_id)
            if held is None:
                stored[card_id] = bool(card["archived"])
            elif held["archived"] != card["archived"]:
                newer = card if card["version"] > held["version"] else held
                stored[card_id] = not newer["archived"]
                card = newer
            cards[card_id] = card
    return BoardProjection(
        board_id=board_id,
        board={k: v for k, v in board.items() if k != "_id"},
        cards=cards,
        stored_version=int(board["version"]),
        stored_cards=stored,
    )


def archive_id(board_id: UUID | str, version: int) -> str:
    return f"{board_id}:{version}"


def archived_json(event: AnyEvent, source: bytes | None) -> str:
    """The event as the archive keeps it: the JSON text it was stored as, when we have it (an
    upcast model dumps differently, and the hash chain is over the stored document), as a string
    rather than a subdocument: the archive is read by `_id` and parsed whole, never queried by
    field, and FerretDB stores a string about twice as fast as the same document."""
    return source.decode() if source is not None else event.model_dump_json()


def archived_document(stored: Any) -> Doc | None:
    """An archived event as a JSON object, whichever way it was kept (a string, or a subdocument
    before the string), or None when it is not one."""
    if isinstance(stored, str):
        try:
            stored = orjson.loads(stored)
        except orjson.JSONDecodeError:
            return None
    return stored if isinstance(stored, dict) else None
