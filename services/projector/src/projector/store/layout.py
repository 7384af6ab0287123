"""How a board's read models are laid out in documents, so that every hot path reaches a bounded
number of documents by `_id`, whatever the number of boards and cards in the database.

- A board is one document (`boards`, `_id` = board id): its columns, members, counts, version.
- Each card is one document (`cards`, `_id` = `<board>:<card>`), open or archived. A board's
  cards are one range of `_id`s, `<board>:` up to `<board>;` (`cards_of`): one index range scan,
  with no secondary index (FerretDB's SQLite backend never uses one; MongoDB would not need one).
  A card changes alone, so applying an event rewrites one small document: on FerretDB an update
  costs about 0.5 ms plus 0.35 ms per KiB of the document, which is why cards are not kept in
  buckets or in the board's document.
- The per-user index is one document per user and board (`memberships`, `_id` =
  `<user>|<board>`: `{user_id, board_id, role, active, version}`); a user's boards are one range
  of `_id`s, `<user>|` up to `<user>}` (`memberships_of`). One document per board, not per user:
  the board's applier alone writes it (no two partitions ever update one document, which FerretDB
  1.24 does not do atomically: it reads, changes and writes back).
- The event archive (`events`, shared by all generations) holds one document per event, `_id` =
  `<board>:<version>`: a range of versions is an `$in` of the ids.
- A card's comments (`comments`, per generation) are one range, `_id` =
  `<board>:<card>:<comment>` (`projector.comments.comment_key`, `comments_of`; written out there,
  as the projection imports that module). A user's notifications (`notifications`, shared by all
  generations) are laid out as the per-user index, `_id` = `<user>|<board>:<version>`
  (`projector.notifications`).

On FerretDB 1.24 these are what the patched build (deploy/ferretdb) answers from its `_id` index.
Every card and user entry carries the version of the event that last changed it: the guard of the
next write, and the same whichever writer applied the same events, however it batched them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from contracts.envelope import AnyEvent

from projector.projection import BoardProjection

Doc = dict[str, Any]


def card_id(board_id: str, card: str) -> str:
    return f"{board_id}:{card}"


def cards_of(board_id: str) -> Doc:
    """The `_id` range of a board's cards (`:` and `;` are neighbours: nothing else is in it)."""
    return {"$gte": f"{board_id}:", "$lt": f"{board_id};"}


def membership_id(user_id: str, board_id: str) -> str:
    return f"{user_id}|{board_id}"


def memberships_of(user_id: str) -> Doc:
    """The `_id` range of a user's memberships (`|` and `}` are neighbours)."""
    return {"$gte": f"{user_id}|", "$lt": f"{user_id}}}"}


def membership_entries(p: BoardProjection) -> list[tuple[str, Doc]]:
    """(user id, `{role, active, version}`) for each membership the projection changed."""
    return [
        (user, {"role": m["role"], "active": m["active"], "version": m["version"]})
        for user, m in sorted(p.dirty_members.items())
    ]


def loaded_projection(board_id: str, board: Doc, cards: list[Doc]) -> BoardProjection:
    """A board's projection as stored."""
    held = {card["card_id"]: _without_id(card) for card in cards}
    return BoardProjection(
        board_id=board_id,
        board=_without_id(board),
        cards=held,
        stored_version=int(board["version"]),
        stored_cards=set(held),
    )


def _without_id(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k != "_id"}


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
