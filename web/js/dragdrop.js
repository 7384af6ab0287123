// Moving cards and columns: SortableJS for pointers (fallback mode, so mouse, pen and touch behave
// alike), our own keys for the keyboard. Either way the move is sent as an intent read from the
// moved node's neighbours, and live updates wait while a card is held, so that no render replaces
// the node under the hand.
//
// `board` is the BoardPage; this uses its `view`, `canEdit`, `columnEls`, `cardEls`, `send`,
// `render` and `openEditor`.
import Sortable from "/vendor/sortablejs-1.15.6/sortable.esm.js";
import { announce } from "./ui.js";

export class DragAndDrop {
  constructor(board) {
    this.board = board;
    this.interacting = false;
    this.lifted = null;
    this.columnSortable = null;
  }

  attach(columnsEl) {
    this.columnSortable = Sortable.create(columnsEl, {
      group: "columns",
      draggable: ".column",
      handle: ".col-handle",
      forceFallback: true,
      animation: 150,
      onStart: () => this.startInteraction(),
      onEnd: (evt) => this.dropColumn(evt),
    });
    columnsEl.addEventListener("keydown", (e) => this.keydown(e));
  }

  sortCards(list) {
    return Sortable.create(list, {
      group: "cards",
      draggable: ".card",
      forceFallback: true,
      fallbackTolerance: 3,
      animation: 150,
      // From the press, not the drag's start (3 px later): a live update in between would
      // replace or remove the pressed card's node, and SortableJS would drag a detached one.
      onChoose: () => this.startInteraction(),
      onUnchoose: () => !Sortable.active && !this.lifted && this.endInteraction(),
      onEnd: (evt) => this.dropCardEvent(evt),
    });
  }

  enable(canEdit) {
    this.columnSortable.option("disabled", !canEdit);
  }

  destroy() {
    this.columnSortable?.destroy();
  }

  startInteraction() {
    this.interacting = true;
  }

  endInteraction() {
    this.interacting = false;
    this.board.render("local");
  }

  // -- pointer ---------------------------------------------------------------------------------

  dropCardEvent(evt) {
    if (evt.from === evt.to && evt.oldIndex === evt.newIndex) {
      this.endInteraction();
      return;
    }
    this.dropCard(evt.item);
  }

  // The intent is read from where the card now sits among its rendered neighbours.
  dropCard(node) {
    const list = node.parentElement;
    const payload = { card_id: node.dataset.id, column_id: list.dataset.columnId };
    const previous = node.previousElementSibling;
    const next = node.nextElementSibling;
    if (previous) payload.after_card_id = previous.dataset.id;
    else if (next) payload.before_card_id = next.dataset.id;
    this.interacting = false;
    if (this.isWhereItIs(payload)) {
      this.board.render("local");
      return;
    }
    this.board.send("MoveCard", payload);
  }

  isWhereItIs({ card_id: cardId, column_id: columnId, after_card_id: after, before_card_id: before }) {
    const cards = this.board.view.lists.get(columnId) ?? [];
    const at = cards.findIndex((c) => c.id === cardId);
    if (at < 0) return false;
    if (after) return cards[at - 1]?.id === after;
    if (before) return cards[at + 1]?.id === before;
    return cards.length === 1;
  }

  dropColumn(evt) {
    this.interacting = false;
    if (evt.oldIndex === evt.newIndex) {
      this.endInteraction();
      return;
    }
    const node = evt.item;
    const payload = { column_id: node.dataset.id };
    if (node.previousElementSibling) payload.after_column_id = node.previousElementSibling.dataset.id;
    else if (node.nextElementSibling) payload.before_column_id = node.nextElementSibling.dataset.id;
    this.board.send("MoveColumn", payload);
  }

  // -- keyboard --------------------------------------------------------------------------------

  columnKey(event, columnId) {
    const { canEdit, view, columnEls } = this.board;
    if (!canEdit || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) return;
    event.preventDefault();
    const ids = view.columns.map((c) => c.id);
    const at = ids.indexOf(columnId);
    const payload = { column_id: columnId };
    if (event.key === "ArrowLeft" && at > 0) payload.before_column_id = ids[at - 1];
    else if (event.key === "ArrowRight" && at < ids.length - 1) payload.after_column_id = ids[at + 1];
    else return;
    this.board.send("MoveColumn", payload);
    columnEls.get(columnId)?.handle.focus();
    announce(`Column moved to position ${event.key === "ArrowLeft" ? at : at + 2} of ${ids.length}.`);
  }

  // Space picks a card up, arrows move it (up/down within, left/right across columns), Enter or
  // Space drops it there, Escape puts it back.
  keydown(event) {
    const card = event.target.closest?.(".card");
    if (this.lifted) {
      this.keyWhileLifted(event);
      return;
    }
    if (!card || event.target !== card) return;
    const canEdit = this.board.canEdit;
    if (event.key === " " && canEdit) {
      event.preventDefault();
      this.lift(card);
    } else if (event.key === "Enter" && canEdit) {
      event.preventDefault();
      this.board.openEditor(card.dataset.id);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      (event.key === "ArrowDown" ? card.nextElementSibling : card.previousElementSibling)?.focus();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      this.neighbourList(card.parentElement, event.key === "ArrowLeft" ? -1 : 1)?.querySelector(".card")?.focus();
    }
  }

  lift(card) {
    this.startInteraction();
    this.lifted = { card, from: card.parentElement, next: card.nextElementSibling };
    card.classList.add("lifted");
    card.setAttribute("aria-grabbed", "true");
    announce(`Picked up ${card.getAttribute("aria-label")}. Arrow keys move it, Enter drops it, Escape cancels.`);
  }

  keyWhileLifted(event) {
    const { card } = this.lifted;
    const list = card.parentElement;
    const key = event.key;
    if (key === "ArrowUp" && card.previousElementSibling) list.insertBefore(card, card.previousElementSibling);
    else if (key === "ArrowDown" && card.nextElementSibling) list.insertBefore(card, card.nextElementSibling.nextSibling);
    else if (key === "ArrowLeft" || key === "ArrowRight") {
      const target = this.neighbourList(list, key === "ArrowLeft" ? -1 : 1);
      if (target) {
        const index = Math.min([...list.children].indexOf(card), target.children.length);
        target.insertBefore(card, target.children[index] ?? null);
      }
    } else if (key === "Enter" || key === " ") {
      event.preventDefault();
      this.putDown(true);
      return;
    } else if (key === "Escape") {
      event.preventDefault();
      this.putDown(false);
      return;
    } else if (key === "Tab") {
      this.putDown(false);
      return;
    } else return;
    event.preventDefault();
    card.focus();
    const column = this.board.view.columns.find((c) => c.id === card.parentElement.dataset.columnId);
    announce(`${column?.title ?? "Column"}, position ${[...card.parentElement.children].indexOf(card) + 1}.`);
  }

  putDown(drop) {
    const { card, from, next } = this.lifted;
    this.lifted = null;
    card.classList.remove("lifted");
    card.removeAttribute("aria-grabbed");
    if (drop) {
      this.dropCard(card);
      announce("Dropped.");
    } else {
      from.insertBefore(card, next);
      announce("Move cancelled.");
      this.endInteraction();
    }
    this.board.cardEls.get(card.dataset.id)?.focus();
  }

  neighbourList(list, step) {
    const ids = this.board.view.columns.map((c) => c.id);
    const id = ids[ids.indexOf(list.dataset.columnId) + step];
    return id ? this.board.columnEls.get(id)?.list : null;
  }
}
