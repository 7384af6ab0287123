// A card's checklist in the board model: confirmed events and optimistic intents on a card's
// `checklist`, and the progress a card face shows. No imports and no DOM, as model.js.

export function progressOf(card) {
  const items = card.checklist ?? [];
  return { done: items.filter((i) => i.checked).length, total: items.length };
}

// Both replace the card's array rather than change it in place: views share it with the model.

const byKey = (a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : a.item_id < b.item_id ? -1 : a.item_id > b.item_id ? 1 : 0);

function rekeyed(items, placements = []) {
  const keys = new Map(placements.map((p) => [p.id, p.position]));
  return items.map((i) => (keys.has(i.item_id) ? { ...i, position: keys.get(i.item_id) } : i));
}

export function applyChecklistEvent(card, type, p) {
  let items = card.checklist ?? [];
  const change = (fn) => items.map((i) => (i.item_id === p.item_id ? fn(i) : i));
  switch (type) {
    case "ChecklistItemAdded": items = [...rekeyed(items, p.rebalanced), { item_id: p.item_id, text: p.text, position: p.position, checked: false }]; break;
    case "ChecklistItemRenamed": items = change((i) => ({ ...i, text: p.text })); break;
    case "ChecklistItemChecked": items = change((i) => ({ ...i, checked: true })); break;
    case "ChecklistItemUnchecked": items = change((i) => ({ ...i, checked: false })); break;
    case "ChecklistItemMoved": items = rekeyed(items, p.rebalanced).map((i) => (i.item_id === p.item_id ? { ...i, position: p.position } : i)); break;
    case "ChecklistItemRemoved": items = items.filter((i) => i.item_id !== p.item_id); break;
    default: return false;
  }
  card.checklist = items.sort(byKey);
  card.progress = progressOf(card);
  return true;
}

function placed(items, item, after, before) {
  const copy = [...items];
  let index = copy.length;
  if (after) {
    const at = copy.findIndex((x) => x.item_id === after);
    if (at >= 0) index = at + 1;
  } else if (before) {
    const at = copy.findIndex((x) => x.item_id === before);
    if (at >= 0) index = at;
  }
  copy.splice(index, 0, item);
  return copy;
}

export function applyChecklistIntent(card, type, p) {
  let items = card.checklist ?? [];
  const change = (fn) => items.map((i) => (i.item_id === p.item_id ? { ...fn(i), pending: true } : i));
  switch (type) {
    case "AddChecklistItem":
      if (items.some((i) => i.item_id === p.item_id)) return true;
      items = placed(items, { item_id: p.item_id, text: p.text, checked: false, pending: true }, p.after_item_id, p.before_item_id);
      break;
    case "RenameChecklistItem": items = change((i) => ({ ...i, text: p.text })); break;
    case "CheckChecklistItem": items = change((i) => ({ ...i, checked: true })); break;
    case "UncheckChecklistItem": items = change((i) => ({ ...i, checked: false })); break;
    case "MoveChecklistItem": {
      const item = items.find((i) => i.item_id === p.item_id);
      if (!item) return true;
      items = placed(items.filter((i) => i !== item), { ...item, pending: true }, p.after_item_id, p.before_item_id);
      break;
    }
    case "RemoveChecklistItem": items = items.filter((i) => i.item_id !== p.item_id); break;
    default: return false;
  }
  card.checklist = items;
  card.progress = progressOf(card);
  return true;
}
