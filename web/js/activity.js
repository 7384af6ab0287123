// The board's activity panel and a card's own history in its editor, both read from the history
// API (`GET /api/boards/{id}/history`, docs/audit.md), whose entries come in version order with
// their before and after values. The panel shows the newest first: it asks for the last PAGE
// versions, then for the PAGE before them whenever its end scrolls into view, and for the
// versions after the newest shown whenever events arrive over the WebSocket.
//
// `board` is the BoardPage; this uses its `boardId` and `model` (the version it holds).
import { api } from "./api.js";
import { MENTION } from "./markdown.js";
import { displayName, el } from "./ui.js";

const PAGE = 50;
const CARD_HISTORY = 500;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

// The ids in an entry (an assignee, the column a card left, someone the server knew by id only),
// said as the board on the page calls them: members by name or email, columns and cards by title.
// An id the board does not know (a card since deleted, a member since removed) stays as it is.
export function namer(view) {
  const names = new Map();
  if (view) {
    for (const m of view.board.members) names.set(m.user_id, displayName(m));
    for (const c of view.columns) names.set(c.id, c.title);
    for (const list of view.lists.values()) for (const card of list) names.set(card.id, card.title);
  }
  const named = (id) => names.get(id) ?? id;
  // A value that is an id entire, a comment's `<@user id>` mention as `@name`, then any UUID.
  return (text) => (names.has(text) ? names.get(text) : text.replace(MENTION, (_, id) => `@${named(id)}`).replace(UUID, named));
}

function shown(value, readable) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.length ? value.map((v) => readable(String(v))).join(", ") : "—";
  return readable(String(value));
}

export function entryNode(entry, readable = (text) => text) {
  const when = new Date(entry.occurred_at);
  const changes = entry.changes.filter((c) => c.field !== "position");
  return el(
    "li",
    { class: "activity-entry", "data-version": String(entry.version) },
    el("span", { class: "activity-summary" }, readable(entry.summary)),
    el("time", { class: "activity-time", datetime: entry.occurred_at }, `v${entry.version} · ${when.toLocaleString()}`),
    changes.length
      ? el("ul", { class: "activity-changes" }, changes.map((c) => el("li", {}, `${c.field}: `, el("del", {}, shown(c.before, readable)), " → ", el("ins", {}, shown(c.after, readable)))))
      : "",
  );
}

export class ActivityPanel {
  constructor(board) {
    this.board = board;
    this.list = el("ol", { class: "activity-list", "aria-label": "Board activity, newest first" });
    this.more = el("div", { class: "activity-more" });
    // Focusable: it scrolls, and a keyboard user must be able to scroll it (and so load more).
    this.root = el("aside", { class: "panel activity-panel", hidden: true, "aria-label": "Activity", tabindex: "0" }, el("h2", {}, "Activity"), this.list, this.more);
    this.observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && this.older());
    this.reset();
  }

  // A task begun before a reset (the panel hidden and shown again) finds the generation moved on
  // and leaves the list alone.
  reset() {
    this.generation = (this.generation ?? 0) + 1;
    this.newest = 0;
    this.oldest = null;
    this.list.replaceChildren();
  }

  show() {
    this.reset();
    this.observer.observe(this.more);
    this.newer();
  }

  hide() {
    this.observer.disconnect();
  }

  // Events arrived: the panel, if open, asks for what follows the newest entry it shows.
  heard() {
    if (!this.root.hidden) this.newer();
  }

  // One request at a time; a call while one runs is remembered and made after it.
  run(task) {
    if (this.busy) {
      this.again = task;
      return;
    }
    this.busy = task(this.generation).catch((error) => {
      this.more.textContent = `Could not load the activity: ${error.message}`;
    }).finally(() => {
      this.busy = null;
      const next = this.again;
      this.again = null;
      if (next && !this.root.hidden) this.run(next);
    });
  }

  // More than a page since the newest entry shown: the list starts again from the last page, so
  // that it stays one unbroken run of versions (the ones between come back on scrolling).
  newer() {
    this.run(async (generation) => {
      const head = this.board.model.version ?? 0;
      if (head <= this.newest) return;
      const from = Math.max(this.newest + 1, head - PAGE + 1, 1);
      const page = await api.history(this.board.boardId, { from_version: from, to_version: head, limit: PAGE });
      if (generation !== this.generation) return;
      if (this.newest && from > this.newest + 1) {
        this.list.replaceChildren();
        this.oldest = from;
      }
      const readable = namer(this.board.view);
      this.list.prepend(...page.entries.reverse().map((entry) => entryNode(entry, readable)));
      this.newest = head;
      this.oldest ??= from;
      this.updateMore();
    });
  }

  older() {
    this.run(async (generation) => {
      if (!this.oldest || this.oldest <= 1) return;
      const to = this.oldest - 1;
      const from = Math.max(1, to - PAGE + 1);
      const page = await api.history(this.board.boardId, { from_version: from, to_version: to, limit: PAGE });
      if (generation !== this.generation) return;
      const readable = namer(this.board.view);
      this.list.append(...page.entries.reverse().map((entry) => entryNode(entry, readable)));
      this.oldest = from;
      this.updateMore();
      // The observer reports changes only: observing again reports the sentinel if still in view.
      this.observer.unobserve(this.more);
      this.observer.observe(this.more);
    });
  }

  updateMore() {
    this.more.textContent = this.oldest > 1 ? "Loading older activity…" : "The board's first event.";
  }
}

// A card's own history, in the card editor: newest first.
export class CardHistory {
  constructor(board) {
    this.board = board;
    this.root = document.getElementById("card-history");
    this.list = el("ol", { class: "activity-list", "aria-label": "Card history, newest first" });
    this.root.replaceChildren(el("h3", {}, "History"), this.list);
    this.cardId = null;
  }

  async show(cardId) {
    this.cardId = cardId;
    this.list.replaceChildren(el("li", {}, "Loading…"));
    let entries;
    try {
      entries = await this.entriesOf(cardId);
    } catch (error) {
      entries = null;
      if (this.cardId === cardId) this.list.replaceChildren(el("li", {}, `Could not load: ${error.message}`));
    }
    if (entries && this.cardId === cardId) {
      const readable = namer(this.board.view);
      this.list.replaceChildren(...entries.reverse().map((entry) => entryNode(entry, readable)));
    }
  }

  // Every entry of the card, a page at a time (oldest first); the newest CARD_HISTORY are shown.
  async entriesOf(cardId) {
    const entries = [];
    let after = 0;
    do {
      const page = await api.history(this.board.boardId, { card_id: cardId, after_version: after, limit: CARD_HISTORY });
      entries.push(...page.entries);
      after = page.next_after_version;
    } while (after !== null && this.cardId === cardId);
    return entries.slice(-CARD_HISTORY);
  }

  hide() {
    this.cardId = null;
  }
}
