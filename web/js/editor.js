// The card editor: the #card-dialog of index.html, filled from the card as the view shows it.
// Saving sends one EditCard with only the fields that changed; "Archive card" sends ArchiveCard.
//
// `board` is the BoardPage; this uses its `view` and `send`.
import { CardHistory } from "./activity.js";
import { ChecklistSection } from "./checklist.js";
import { CommentsSection } from "./comments.js";
import { displayName, el } from "./ui.js";

export class CardEditor {
  constructor(board) {
    this.board = board;
    this.comments = new CommentsSection(board);
    this.checklist = new ChecklistSection(board);
    this.history = new CardHistory(board);
  }

  // The page rendered anew (a live event, or our own command): the checklist follows it.
  refresh() {
    if (document.getElementById("card-dialog").open) this.checklist.render();
  }

  open(cardId) {
    const view = this.board.view;
    let card = null;
    for (const list of view.lists.values()) card ??= list.find((c) => c.id === cardId);
    if (!card) return;
    const dialog = document.getElementById("card-dialog");
    const form = document.getElementById("card-form");
    form.elements.title.value = card.title;
    form.elements.description.value = card.description ?? "";
    form.elements.labels.value = card.labels.join(", ");
    form.elements.due_date.value = card.due_date ? card.due_date.slice(0, 10) : "";
    document.getElementById("card-assignees").replaceChildren(
      ...view.board.members.map((m) =>
        el("label", { class: "check" }, el("input", { type: "checkbox", name: "assignee", value: m.user_id, checked: card.assignees.includes(m.user_id) }), " ", displayName(m)),
      ),
    );
    dialog.returnValue = "";
    this.checklist.show(cardId);
    this.history.show(cardId);
    dialog.showModal();
    this.comments.open(cardId);
    dialog.addEventListener("close", () => {
      this.comments.close();
      this.checklist.hide();
      this.history.hide();
      this.close(dialog.returnValue, form, card);
    }, { once: true });
  }

  close(action, form, card) {
    if (action === "archive") {
      this.board.send("ArchiveCard", { card_id: card.id });
      return;
    }
    if (action !== "save") return;
    const labels = [...new Set(form.elements.labels.value.split(",").map((l) => l.trim()).filter(Boolean))];
    const assignees = [...form.querySelectorAll("input[name=assignee]:checked")].map((i) => i.value);
    const due = form.elements.due_date.value ? `${form.elements.due_date.value}T00:00:00Z` : null;
    const next = { title: form.elements.title.value.trim(), description: form.elements.description.value, labels, assignees, due_date: due };
    const changes = {};
    for (const [field, value] of Object.entries(next)) {
      const old = field === "due_date" && card.due_date ? `${card.due_date.slice(0, 10)}T00:00:00Z` : card[field];
      if (JSON.stringify(old ?? null) !== JSON.stringify(value)) changes[field] = value;
    }
    if (Object.keys(changes).length) this.board.send("EditCard", { card_id: card.id, ...changes });
  }
}
