"""A card's checklist in its read-model document: the items in order and the progress a card
face shows. Only the card's own document changes; it is given here already marked dirty.

Documents stored before checklists existed have neither field: the first checklist event adds
them, and until then `CardView`'s defaults (no items, 0/0) say the same."""

from __future__ import annotations

from typing import Any, assert_never

from contracts import events as ev

Doc = dict[str, Any]

ChecklistEvent = (
    ev.ChecklistItemAdded
    | ev.ChecklistItemRenamed
    | ev.ChecklistItemChecked
    | ev.ChecklistItemUnchecked
    | ev.ChecklistItemMoved
    | ev.ChecklistItemRemoved
)


def _item(items: list[Doc], item_id: str) -> Doc:
    for item in items:
        if item["item_id"] == item_id:
            return item
    raise KeyError(f"checklist item {item_id} is not on the card")


def _rekey(items: list[Doc], placements: list[ev.Placement]) -> None:
    for placement in placements:
        _item(items, str(placement.id))["position"] = placement.position


def _settle(card: Doc, items: list[Doc]) -> None:
    items.sort(key=lambda i: (i["position"], i["item_id"]))
    card["checklist"] = items
    card["progress"] = {"done": sum(1 for i in items if i["checked"]), "total": len(items)}


def apply_checklist_event(card: Doc, e: ChecklistEvent) -> None:
    """`KeyError` for an item the card does not have (the caller makes it a ProjectionError)."""
    # Copies of the item documents: a point-in-time checkpoint may share the old ones.
    items: list[Doc] = [dict(i) for i in card.get("checklist", [])]
    match e:
        case ev.ChecklistItemAdded():
            _rekey(items, e.rebalanced)
            items.append(
                {
                    "item_id": str(e.item_id),
                    "text": e.text,
                    "position": e.position,
                    "checked": False,
                }
            )
        case ev.ChecklistItemRenamed():
            _item(items, str(e.item_id))["text"] = e.text
        case ev.ChecklistItemChecked():
            _item(items, str(e.item_id))["checked"] = True
        case ev.ChecklistItemUnchecked():
            _item(items, str(e.item_id))["checked"] = False
        case ev.ChecklistItemMoved():
            _rekey(items, e.rebalanced)
            _item(items, str(e.item_id))["position"] = e.position
        case ev.ChecklistItemRemoved():
            items = [i for i in items if i["item_id"] != str(e.item_id)]
        case _:
            assert_never(e)
    _settle(card, items)
