"""Order keys: fractional indexes computed by the server from where the caller wants a thing.

The algorithm is rocicorp's fractional-indexing, ported to Python by `fractional-indexing`, and
only the server runs it. A client sends an intent (after or before a neighbour); the web client
shows it at once by placing the item in its ordered lists (`web/js/model.js`, no key invented) and
sorts by the key that arrives with the event. Ties cannot arise from decide() because a key is
always computed strictly between two distinct neighbours of the current state; readers still sort
by (key, id) so any order is total and deterministic.

Splitting the same gap again and again makes keys longer (about one character per six splits).
When a new key would pass `REBALANCE_AT` characters, the siblings get fresh, evenly spaced keys
instead (a `...Rebalanced` event), so keys stay short however a column is used.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from fractional_indexing import generate_key_between, generate_n_keys_between

REBALANCE_AT = 32


@dataclass(frozen=True, slots=True)
class Slot:
    """Where an item lands: its new key and the neighbours it lands between."""

    key: str
    after: UUID | None
    before: UUID | None
    # New keys for the siblings, in order, when the gap had become too narrow.
    rebalanced: tuple[tuple[UUID, str], ...] = ()


def key_between(low: str | None, high: str | None) -> str:
    return str(generate_key_between(low, high))


Entry = tuple[str, UUID]


def index_of(lane: Sequence[Entry], entry: Entry | None) -> int | None:
    """Where `entry` stands in a lane sorted by (key, id): a bisect, not a scan of ids."""
    if entry is None:
        return None
    index = bisect_left(lane, entry)
    return index if index < len(lane) and lane[index] == entry else None


def place(
    siblings: Sequence[Entry],
    *,
    after: Entry | None = None,
    before: Entry | None = None,
) -> Slot:
    """Siblings are (key, id) in order, without the item being placed; anchors are entries. An
    anchor that is not among them (it moved away or was archived meanwhile) means the end: the
    intent is resolved against the current state rather than refused."""
    after_index, before_index = index_of(siblings, after), index_of(siblings, before)
    if after_index is not None:
        index = after_index + 1
    elif before_index is not None:
        index = before_index
    else:
        index = len(siblings)
    low = siblings[index - 1] if index > 0 else None
    high = siblings[index] if index < len(siblings) else None
    after_id, before_id = (low[1] if low else None), (high[1] if high else None)
    key = key_between(low[0] if low else None, high[0] if high else None)
    if len(key) <= REBALANCE_AT:
        return Slot(key, after_id, before_id)
    keys = [str(k) for k in generate_n_keys_between(None, None, len(siblings) + 1)]
    rebalanced = tuple(
        (item_id, keys[i if i < index else i + 1]) for i, (_, item_id) in enumerate(siblings)
    )
    return Slot(keys[index], after_id, before_id, rebalanced)
