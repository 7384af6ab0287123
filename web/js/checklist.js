// A card's checklist in the card editor: add, rename, tick, reorder (the ↑/↓ buttons, or Alt+↑/↓
// on an item) and remove items. Each control sends its command at once, as a drag does, rather
// than waiting for the editor's Save: a tick is a change of its own for everyone on the board.
// The list is drawn from the page's view, so it follows other people's changes live and shows
// our own optimistically; item ids are chosen here (the command API takes them).
//
// `board` is the BoardPage; this uses its `view`, `canEdit` and `send`.
import { uuid } from "./api.js";
import { progressOf } from "./checklist_model.js";
import { askText, el } from "./ui.js";

export const MAX_ITEMS = 100;

export class ChecklistSection {
  constructor(board) {
    this.board = board;
    this.cardId = null;
    this.root = document.getElementById("card-checklist");
    this.list = el("ol", { class: "checklist-items", "aria-label": "Checklist items" });
    this.summary = el("span", { class: "checklist-progress", "aria-live": "polite" });
    this.input = el("input", { name: "item", placeholder: "Add an item", "aria-label": "New checklist item", maxlength: "500" });
    this.input.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      // Enter would otherwise submit nothing useful (the section is outside the editor's form).
      e.preventDefault();
      this.add();
    });
    this.root.replaceChildren(
      el("h3", { id: "card-checklist-title" }, "Checklist ", this.summary),
      this.list,
      el("div", { class: "row checklist-add" }, this.input, el("button", { type: "button", onclick: () => this.add() }, "Add item")),
    );
    this.root.setAttribute("aria-labelledby", "card-checklist-title");
  }

  show(cardId) {
    this.cardId = cardId;
    this.input.value = "";
    this.render();
  }

  hide() {
    this.cardId = null;
    this.list.replaceChildren();
  }

  card() {
    const view = this.board.view;
    if (!view || !this.cardId) return null;
    for (const list of view.lists.values()) {
      const card = list.find((c) => c.id === this.cardId);
      if (card) return card;
    }
    return null;
  }

  // Called on every render of the page while the editor is open.
  render() {
    const card = this.card();
    if (!card) return;
    const items = card.checklist ?? [];
    const { done, total } = progressOf(card);
    this.summary.textContent = total ? `${done}/${total}` : "";
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
    this.list.replaceChildren(...items.map((item, i) => this.itemNode(item, i, items)));
    if (focused) this.list.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
    this.input.disabled = total >= MAX_ITEMS;
  }

  itemNode(item, index, items) {
    const id = item.item_id;
    const box = el("input", {
      type: "checkbox",
      checked: item.checked,
      "aria-label": item.text,
      dataset: { focusKey: `check ${id}` },
      onchange: (e) => this.send(e.target.checked ? "CheckChecklistItem" : "UncheckChecklistItem", { item_id: id }),
    });
    const node = el(
      "li",
      { class: `checklist-item${item.checked ? " done" : ""}`, "data-item-id": id, ...(item.pending ? { "aria-busy": "true" } : {}) },
      box,
      el("span", { class: "checklist-text" }, item.text),
      el("span", { class: "spacer" }),
      el("button", { type: "button", class: "quiet", "aria-label": `Move ${item.text} up`, disabled: index === 0, dataset: { focusKey: `up ${id}` }, onclick: () => this.move(id, -1) }, "↑"),
      el("button", { type: "button", class: "quiet", "aria-label": `Move ${item.text} down`, disabled: index === items.length - 1, dataset: { focusKey: `down ${id}` }, onclick: () => this.move(id, 1) }, "↓"),
      el("button", { type: "button", class: "quiet", "aria-label": `Rename ${item.text}`, onclick: () => this.rename(item) }, "✎"),
      el("button", { type: "button", class: "quiet", "aria-label": `Remove ${item.text}`, onclick: () => this.send("RemoveChecklistItem", { item_id: id }) }, "×"),
    );
    node.addEventListener("keydown", (e) => {
      if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
      e.preventDefault();
      this.move(id, e.key === "ArrowUp" ? -1 : 1);
    });
    return node;
  }

  send(type, payload) {
    if (!this.board.canEdit || !this.cardId) return;
    this.board.send(type, { card_id: this.cardId, ...payload });
  }

  add() {
    const text = this.input.value.trim();
    if (!text) return;
    const last = (this.card()?.checklist ?? []).at(-1);
    this.send("AddChecklistItem", { item_id: uuid(), text, ...(last ? { after_item_id: last.item_id } : {}) });
    this.input.value = "";
    this.input.focus();
  }

  // An intent, as a card move is: after the item above its new place, or before the first.
  move(itemId, step) {
    const items = this.card()?.checklist ?? [];
    const at = items.findIndex((i) => i.item_id === itemId);
    const to = at + step;
    if (at < 0 || to < 0 || to >= items.length) return;
    const others = items.filter((i) => i.item_id !== itemId);
    const anchor = to === 0 ? { before_item_id: others[0].item_id } : { after_item_id: others[to - 1].item_id };
    this.send("MoveChecklistItem", { item_id: itemId, ...anchor });
  }

  async rename(item) {
    const text = await askText("Checklist item", item.text);
    if (text && text !== item.text) this.send("RenameChecklistItem", { item_id: item.item_id, text });
  }
}
