// Work-in-progress limits on the board page: each column's header shows "count / limit" (marked
// when the column is full or over), a control sets or clears the limit (ChangeColumnWipLimit),
// and owners choose the board's policy (ChangeWipPolicy: "enforce" refuses a card into a full
// column, "warn" lets it in and the column shows over). The server judges every move; a refused
// one is dropped from the optimistic view, which is the snap back, with the server's message.
//
// `board` is the BoardPage; this uses its `view`, `canEdit` and `send`.
import { askText, el, toast } from "./ui.js";

const MAX_LIMIT = 5000; // contracts.fields.MAX_WIP_LIMIT

export class WipControls {
  constructor(board) {
    this.board = board;
    this.policySelect = null;
  }

  // The board's policy, in the toolbar; owners only (the command is an owner's).
  policyControl() {
    this.policySelect = el(
      "select",
      { class: "wip-policy", "aria-label": "WIP limit policy", onchange: (e) => this.board.send("ChangeWipPolicy", { policy: e.target.value }) },
      el("option", { value: "enforce" }, "enforce: refuse cards over a limit"),
      el("option", { value: "warn" }, "warn only: let them in"),
    );
    return el("label", { class: "owner-only wip-policy-label" }, "WIP policy ", this.policySelect);
  }

  limitButton(columnId) {
    return el("button", { type: "button", class: "quiet edit-only col-wip", onclick: () => this.askLimit(columnId) }, "Limit");
  }

  render(view) {
    const policy = view.board.wip_policy ?? "enforce";
    if (this.policySelect && this.policySelect.value !== policy && document.activeElement !== this.policySelect) this.policySelect.value = policy;
  }

  // The header's count: "3" without a limit, "3 / 4" with one; the column is marked when full
  // (no more under "enforce") and when over (only possible under "warn", or a limit set below).
  paintCount(entry, column, count) {
    const limit = column.wip_limit ?? null;
    entry.count.textContent = limit === null ? String(count) : `${count} / ${limit}`;
    // A title, not aria-label: the count is a plain span, where axe refuses aria-label.
    const state = count > limit ? ", over the limit" : count === limit ? ", full" : "";
    entry.count.title = limit === null ? "" : `${count} cards, WIP limit ${limit}${state}`;
    entry.root.classList.toggle("wip-full", limit !== null && count === limit);
    entry.root.classList.toggle("wip-over", limit !== null && count > limit);
    entry.root.dataset.wipLimit = limit === null ? "" : String(limit);
    entry.root.querySelector(".col-wip")?.setAttribute("aria-label", `WIP limit of ${column.title}`);
  }

  async askLimit(columnId) {
    const column = this.board.view.columns.find((c) => c.id === columnId);
    if (!column) return;
    const answer = await askText(`WIP limit of ${column.title} (1 to ${MAX_LIMIT}; 0 for none)`, column.wip_limit ? String(column.wip_limit) : "0");
    if (answer === null) return;
    const limit = Number(answer);
    if (!Number.isInteger(limit) || limit < 0 || limit > MAX_LIMIT) {
      toast(`A WIP limit is a whole number from 1 to ${MAX_LIMIT}, or 0 for none.`);
      return;
    }
    const wanted = limit === 0 ? null : limit;
    if (wanted !== (column.wip_limit ?? null)) this.board.send("ChangeColumnWipLimit", { column_id: columnId, limit: wanted });
  }
}
