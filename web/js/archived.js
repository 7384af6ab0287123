// The "Archived items" panel: the board's archived cards and columns, read over HTTP when the
// panel opens, each with a Restore button for those who may edit.
//
// `board` is the BoardPage; this uses its `boardId`, `model`, `canEdit` and `send`.
import { api } from "./api.js";
import { el } from "./ui.js";

export class ArchivedPanel {
  constructor(board) {
    this.board = board;
    this.root = el("aside", { class: "panel archived-panel", hidden: true, "aria-label": "Archived items" });
  }

  show() {
    this.load();
  }

  async load() {
    const { boardId, model } = this.board;
    this.root.replaceChildren(el("h2", {}, "Archived items"), el("p", {}, "Loading…"));
    let detail;
    try {
      detail = await api.board(boardId, { archived: true, minVersion: model.version });
    } catch (error) {
      this.root.replaceChildren(el("h2", {}, "Archived items"), el("p", {}, `Could not load: ${error.message}`));
      return;
    }
    const columns = detail.board.columns.filter((c) => c.archived);
    const cards = detail.cards.filter((c) => c.archived);
    this.root.replaceChildren(
      el("h2", {}, "Archived items"),
      ...this.section("Cards", "archived-cards", cards, (c) => c.card_id, (card, row) => this.restoreCard(card, row)),
      ...this.section("Columns", "archived-columns", columns, (c) => c.column_id, (column, row) => this.restoreColumn(column, detail.cards, row)),
    );
  }

  // One list per kind: each item with a Restore button for those who may edit.
  section(heading, className, items, idOf, onRestore) {
    return [
      el("h3", {}, heading),
      items.length
        ? el("ul", { class: className }, items.map((item) => {
            const row = el("li", { "data-id": idOf(item) }, el("span", {}, item.title), " ");
            if (this.board.canEdit) row.append(el("button", { type: "button", onclick: () => onRestore(item, row) }, "Restore"));
            return row;
          }))
        : el("p", {}, "None."),
    ];
  }

  restoreCard(card, row) {
    const model = this.board.model;
    // Keep its fields: the snapshot we hold leaves archived cards out.
    if (!model.cards.has(card.card_id)) model.cards.set(card.card_id, { ...card });
    this.board.send("RestoreCard", { card_id: card.card_id });
    row.remove();
  }

  restoreColumn(column, allCards, row) {
    const model = this.board.model;
    // Keep it and its open cards: the snapshot we hold leaves archived columns out, and the
    // cards come back with the column (archiving it left them where they were).
    if (!model.columns.has(column.column_id)) model.columns.set(column.column_id, { ...column });
    for (const card of allCards) {
      if (card.column_id === column.column_id && !model.cards.has(card.card_id)) model.cards.set(card.card_id, { ...card });
    }
    this.board.send("RestoreColumn", { column_id: column.column_id });
    row.remove();
  }
}
