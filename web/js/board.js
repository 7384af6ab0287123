// The board page: its skeleton, the live subscription, optimistic commands with rollback (queued
// while offline, sent in order with their ids), and rendering columns and cards with live changes
// animated into place (flip.js). Moving cards and columns (dragdrop.js), the card editor
// (editor.js) and the members and archived-items panels (members.js, archived.js) are modules of
// their own, each given this page to read the view from and send commands through.
import { ActivityPanel } from "./activity.js";
import { api, isRetryable, uuid } from "./api.js";
import { ArchivedPanel } from "./archived.js";
import { DragAndDrop } from "./dragdrop.js";
import { CardEditor } from "./editor.js";
import { CardFilter } from "./filter.js";
import { animate, measure } from "./flip.js";
import { MembersPanel } from "./members.js";
import { TimeTravel } from "./timetravel.js";
import { progressOf } from "./checklist_model.js";
import { BoardModel, ResyncNeeded } from "./model.js";
import { askText, avatar, describeRejection, displayName, el, toast } from "./ui.js";
import { WipControls } from "./wip.js";

const PAGE = 100; // cards rendered per column at first, and added each time its end scrolls into view

export class BoardPage {
  constructor(root, { boardId, me, live, navigate, onQueue }) {
    Object.assign(this, { root, boardId, me, live, navigate, onQueue });
    this.model = new BoardModel(boardId);
    this.columnEls = new Map();
    this.cardEls = new Map();
    this.limits = new Map();
    this.moves = new DragAndDrop(this);
    this.editor = new CardEditor(this);
    this.members = new MembersPanel(this);
    this.archived = new ArchivedPanel(this);
    this.wip = new WipControls(this);
    this.filter = new CardFilter(this);
    this.activity = new ActivityPanel(this);
    this.timeTravel = new TimeTravel(this);
    // While time travel shows an earlier version: { version, view }, drawn instead of the live view.
    this.past = null;
    this.needSnapshot = false;
    this.canEdit = false;
    this.role = null;
    this.onMessage = (event) => this.receive(event.detail);
    this.onOpen = () => this.pump();
    this.onOnline = () => this.pump();
  }

  start() {
    this.build();
    this.live.addEventListener("message", this.onMessage);
    this.live.addEventListener("open", this.onOpen);
    window.addEventListener("online", this.onOnline);
    this.load();
  }

  // The first copy comes over HTTP, which the gateway gzips (a 5,000-card board: 1.8 MB of JSON,
  // 0.2 MB on the wire; the socket sends it uncompressed), and the socket then sends only the
  // events after it. If that read fails for any reason, the socket's own snapshot is the fallback.
  async load() {
    const detail = await api.board(this.boardId).catch(() => null);
    if (this.stopped) return;
    if (detail && this.model.version === null) {
      this.model.loadSnapshot(detail.board.version, detail);
      this.page.classList.remove("loading");
      this.render("remote");
      this.pump();
      this.openAskedCard();
    }
    this.live.watch(this.boardId, () => (this.needSnapshot ? null : this.model.version));
  }

  stop() {
    this.stopped = true;
    this.live.unwatch();
    this.live.removeEventListener("message", this.onMessage);
    this.live.removeEventListener("open", this.onOpen);
    window.removeEventListener("online", this.onOnline);
    this.observer?.disconnect();
    this.moves.destroy();
    this.activity.hide();
    for (const column of this.columnEls.values()) column.sortable.destroy();
    document.getElementById("presence").replaceChildren();
    document.getElementById("board-title").textContent = "";
  }

  // -- skeleton --------------------------------------------------------------------------------

  build() {
    this.columnsEl = el("div", { class: "columns", role: "group", "aria-label": "Columns" });
    this.addColumnForm = el(
      "form",
      { class: "add-column edit-only", onsubmit: (e) => this.submitAddColumn(e) },
      el("input", { name: "title", placeholder: "New column", "aria-label": "New column title", maxlength: "200", required: true }),
      el("button", { class: "primary" }, "Add column"),
    );
    this.banner = el("div", { class: "banner", hidden: true });
    const toolbar = el(
      "div",
      { class: "board-toolbar" },
      el("button", { type: "button", class: "owner-only", onclick: () => this.renameBoard() }, "Rename board"),
      el("button", { type: "button", class: "owner-only", onclick: () => this.send("ArchiveBoard", {}) }, "Archive board"),
      el("button", { type: "button", onclick: () => this.togglePanel(this.members) }, "Members"),
      el("button", { type: "button", onclick: () => this.togglePanel(this.archived) }, "Archived items"),
      el("button", { type: "button", onclick: () => this.togglePanel(this.activity) }, "Activity"),
      el("button", { type: "button", onclick: () => (this.timeTravel.active ? this.timeTravel.leave() : this.timeTravel.enter()) }, "Time travel"),
      this.wip.policyControl(),
      el("span", { class: "spacer" }),
      this.addColumnForm,
    );
    this.page = el("section", { class: "board-page loading", "data-board-id": this.boardId }, toolbar, this.filter.root, this.timeTravel.root, this.banner, el("div", { class: "board-body" }, this.columnsEl, this.members.root, this.archived.root, this.activity.root));
    this.root.replaceChildren(this.page);
    this.moves.attach(this.columnsEl);
    this.columnsEl.addEventListener("dblclick", (e) => {
      const card = e.target.closest(".card");
      if (card && this.canEdit) this.openEditor(card.dataset.id);
    });
    this.observer = new IntersectionObserver((entries) => this.sentinelSeen(entries));
  }

  // -- live ------------------------------------------------------------------------------------

  receive(message) {
    if (message.type === "snapshot") {
      if (message.board.board.board_id !== this.boardId) return;
      this.needSnapshot = false;
      this.model.loadSnapshot(message.version, message.board);
      this.page.classList.remove("loading");
      this.render("remote");
      this.pump();
    } else if (message.type === "events" && message.board_id === this.boardId) {
      let ok;
      try {
        ok = this.model.applyEvents(message.events);
      } catch (error) {
        if (!(error instanceof ResyncNeeded)) throw error;
        ok = false;
      }
      if (!ok) {
        this.needSnapshot = true;
        this.live.resubscribe();
        return;
      }
      this.editor.comments.receive(message.events);
      this.render("remote");
      this.activity.heard();
      this.timeTravel.heard();
    } else if (message.type === "presence" && message.board_id === this.boardId) {
      document.getElementById("presence").replaceChildren(...message.viewers.map((v) => avatar(v.user_id, v.name, "presence-avatar")));
    } else if (message.type === "error" && message.board_id === this.boardId) {
      this.subscriptionEnded(message);
    }
  }

  subscriptionEnded(message) {
    if (message.code === "forbidden" || message.code === "not_found") {
      toast(message.code === "forbidden" ? "You are no longer a member of this board." : "No such board, or it is not shared with you.");
      this.navigate("/");
    } else if (message.code !== "already_subscribed") {
      setTimeout(() => !this.stopped && this.live.resubscribe(), 1000);
    }
  }

  // -- commands: optimistic, queued while offline, sent in order with their ids ---------------

  send(type, payload) {
    // The earlier version on screen is not the board a command would change.
    if (this.past) {
      toast("Time travel is read-only: go back to live to change the board.");
      return null;
    }
    const entry = { command: { command_id: uuid(), type, payload }, state: "queued" };
    this.model.add(entry);
    this.render("local");
    this.pump();
    return entry;
  }

  async pump() {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      for (;;) {
        const entry = this.model.pending.find((e) => e.state === "queued");
        if (!entry || !navigator.onLine) break;
        entry.state = "sending";
        try {
          const answer = await api.command(this.boardId, entry.command);
          entry.state = "acked";
          entry.ackVersion = answer.version;
          this.model.settle();
          // The answer may come after the events it caused: what was drawn then still had this
          // command's guess on top.
          this.render("local");
        } catch (error) {
          if (isRetryable(error)) {
            entry.state = "queued";
            clearTimeout(this.retryTimer);
            this.retryTimer = setTimeout(() => this.pump(), 2000);
            break;
          }
          this.model.drop(entry);
          toast(describeRejection(entry.command.type, error));
          this.render("local");
        }
        this.onQueue(this.model.queued);
      }
    } finally {
      this.pumping = false;
      this.onQueue(this.model.queued);
    }
  }

  // -- rendering -------------------------------------------------------------------------------

  render(cause) {
    if (this.stopped) return;
    this.onQueue(this.model.queued);
    // Not while a card or column is held: a render would replace the node under the hand.
    if (this.moves.interacting) return;
    const view = this.past?.view ?? this.model.view();
    if (!view) return;
    this.view = view;
    this.role = view.board.members.find((m) => m.user_id === this.me.id)?.role ?? "viewer";
    this.canEdit = this.role !== "viewer" && !view.board.archived && !this.past;
    this.page.classList.toggle("read-only", !this.canEdit);
    this.page.classList.toggle("is-owner", this.role === "owner" && !this.past);
    this.page.dataset.role = this.role;
    this.page.dataset.version = String(this.model.version);
    // Commands of ours not yet confirmed (sent, queued or answered before their events came).
    this.page.dataset.pending = String(this.model.pending.length);
    document.getElementById("board-title").textContent = view.board.title;
    document.title = `${view.board.title} · cardstream`;
    this.renderBanner(view.board);
    const focused = document.activeElement?.matches(".card") ? document.activeElement.dataset.id : null;
    const before = cause === "remote" ? measure(this.cardEls) : null;
    this.renderColumns(view);
    this.filter.refresh(view);
    this.wip.render(view);
    this.refocus(focused);
    if (before) animate(this.cardEls, before);
    this.moves.enable(this.canEdit);
    if (!this.members.root.hidden) this.members.render();
    this.editor.refresh();
  }

  // A card someone else moved is rendered anew (to a column further right) or has its node moved
  // (to the left): the browser drops the focus either way. Giving it back keeps a keyboard user's
  // place, and their next key goes to the card they chose.
  refocus(cardId) {
    if (!cardId || document.activeElement !== document.body) return;
    const node = this.cardEls.get(cardId);
    if (node?.isConnected) node.focus({ preventScroll: true });
  }

  renderBanner(board) {
    this.banner.hidden = !board.archived && this.role !== "viewer";
    const restore = this.role === "owner" && board.archived ? el("button", { type: "button", onclick: () => this.send("RestoreBoard", {}) }, "Restore board") : null;
    const text = board.archived ? "This board is archived." : "You can view this board but not change it.";
    this.banner.replaceChildren(text, " ", restore ?? "");
  }

  renderColumns(view) {
    const seen = new Set();
    let previous = null;
    for (const column of view.columns) {
      seen.add(column.id);
      let entry = this.columnEls.get(column.id);
      if (!entry) entry = this.createColumn(column.id);
      entry.title.textContent = column.title;
      entry.list.setAttribute("aria-label", `Cards in ${column.title}`);
      entry.handle.setAttribute("aria-label", `Move column ${column.title} (left and right arrows)`);
      const cards = view.lists.get(column.id) ?? [];
      this.wip.paintCount(entry, column, cards.length);
      const wanted = previous ? previous.nextSibling : this.columnsEl.firstChild;
      if (wanted !== entry.root) this.columnsEl.insertBefore(entry.root, wanted);
      previous = entry.root;
      this.renderCards(entry, column.id, cards);
      entry.sortable.option("disabled", !this.canEdit);
    }
    for (const [id, entry] of this.columnEls) {
      if (seen.has(id)) continue;
      entry.sortable.destroy();
      this.observer.unobserve(entry.more);
      entry.root.remove();
      this.columnEls.delete(id);
    }
  }

  createColumn(id) {
    const handle = el("button", { type: "button", class: "col-handle drag-handle edit-only", title: "Drag, or focus and use arrow keys" }, "⠿");
    const title = el("h2", { class: "column-title" });
    const count = el("span", { class: "count" });
    const list = el("ol", { class: "cards", "data-column-id": id });
    const more = el("div", { class: "more", "aria-hidden": "true" });
    const form = el(
      "form",
      { class: "add-card edit-only", onsubmit: (e) => this.submitAddCard(e, id) },
      el("input", { name: "title", placeholder: "Add a card", "aria-label": "New card title", maxlength: "200", required: true }),
      el("button", {}, "Add"),
    );
    const root = el(
      "section",
      { class: "column", "data-id": id },
      el(
        "header",
        { class: "column-header" },
        handle,
        title,
        count,
        // One group: it stays beside the title while there is room and wraps, whole, under it.
        el(
          "span",
          { class: "column-actions" },
          el("button", { type: "button", class: "quiet edit-only col-rename", onclick: () => this.renameColumn(id) }, "Rename"),
          this.wip.limitButton(id),
          el("button", { type: "button", class: "quiet edit-only col-archive", onclick: () => this.send("ArchiveColumn", { column_id: id }) }, "Archive"),
        ),
      ),
      el("div", { class: "column-body" }, list, more),
      form,
    );
    handle.addEventListener("keydown", (e) => this.moves.columnKey(e, id));
    const sortable = this.moves.sortCards(list);
    this.observer.observe(more);
    const entry = { root, list, title, count, handle, more, sortable };
    this.columnEls.set(id, entry);
    return entry;
  }

  renderCards(entry, columnId, cards) {
    const limit = this.limits.get(columnId) ?? PAGE;
    const shown = cards.length > limit ? cards.slice(0, limit) : cards;
    entry.more.textContent = cards.length > limit ? `${cards.length - limit} more…` : "";
    const list = entry.list;
    let previous = null;
    for (const card of shown) {
      let node = this.cardEls.get(card.id);
      if (!node) {
        node = el("li", { class: "card", "data-id": card.id, tabindex: "0", "aria-roledescription": "card" });
        node.fresh = true;
        this.cardEls.set(card.id, node);
      }
      this.paintCard(node, card);
      const wanted = previous ? previous.nextSibling : list.firstChild;
      if (wanted !== node) list.insertBefore(node, wanted);
      previous = node;
    }
    let extra = previous ? previous.nextSibling : list.firstChild;
    while (extra) {
      const next = extra.nextSibling;
      if (extra.parentNode === list) {
        extra.remove();
        if (this.cardEls.get(extra.dataset.id) === extra) this.cardEls.delete(extra.dataset.id);
      }
      extra = next;
    }
  }

  paintCard(node, card) {
    const progress = progressOf(card);
    const signature = JSON.stringify([card.title, card.labels, card.assignees, card.due_date, !!card.pending, this.canEdit, progress, !!card.changed]);
    if (node.signature === signature) return;
    node.signature = signature;
    const members = this.view.board.members;
    const labels = card.labels.length ? el("span", { class: "labels" }, card.labels.map((l) => el("span", { class: "label" }, l))) : null;
    const due = card.due_date ? el("time", { class: "due", datetime: card.due_date }, `due ${card.due_date.slice(0, 10)}`) : null;
    const people = card.assignees.length
      ? el("span", { class: "assignees" }, card.assignees.map((id) => {
          const m = members.find((x) => x.user_id === id);
          return avatar(id, displayName(m, id), "small");
        }))
      : null;
    const ticks = progress.total ? el("span", { class: `checklist-badge${progress.done === progress.total ? " complete" : ""}`, "aria-label": `${progress.done} of ${progress.total} checklist items done` }, `☑ ${progress.done}/${progress.total}`) : null;
    node.classList.toggle("pending", !!card.pending);
    node.classList.toggle("changed-since", !!card.changed);
    node.setAttribute("aria-label", card.title);
    node.replaceChildren(
      this.canEdit ? el("span", { class: "drag-handle", "aria-hidden": "true" }, "⠿") : "",
      el("span", { class: "card-title" }, card.title),
      this.canEdit ? el("button", { type: "button", class: "quiet card-edit", "aria-label": `Edit ${card.title}`, onclick: () => this.openEditor(card.id) }, "✎") : "",
      labels || due || people || ticks || card.comments ? el("span", { class: "card-meta" }, labels, due, ticks, people, commentCount(card)) : "",
    );
  }

  sentinelSeen(entries) {
    const grown = [];
    for (const entry of entries) {
      if (!entry.isIntersecting || !entry.target.textContent) continue;
      const id = entry.target.closest(".column").dataset.id;
      this.limits.set(id, (this.limits.get(id) ?? PAGE) + PAGE);
      grown.push(entry.target);
    }
    if (!grown.length) return;
    this.render("local");
    // The observer reports changes only: a sentinel scrolled straight back into view before the
    // next frame never left it. Observing again reports where it is now, so the page keeps growing.
    for (const sentinel of grown) {
      this.observer.unobserve(sentinel);
      this.observer.observe(sentinel);
    }
  }

  // -- forms -----------------------------------------------------------------------------------

  submitAddColumn(event) {
    event.preventDefault();
    const input = event.target.elements.title;
    const title = input.value.trim();
    if (!title) return;
    const last = this.view.columns.at(-1);
    this.send("AddColumn", { column_id: uuid(), title, ...(last ? { after_column_id: last.id } : {}) });
    input.value = "";
  }

  submitAddCard(event, columnId) {
    event.preventDefault();
    const input = event.target.elements.title;
    const title = input.value.trim();
    if (!title) return;
    const last = (this.view.lists.get(columnId) ?? []).at(-1);
    this.send("AddCard", { card_id: uuid(), column_id: columnId, title, ...(last ? { after_card_id: last.id } : {}) });
    input.value = "";
    input.focus();
  }

  async renameBoard() {
    const title = await askText("Board title", this.view.board.title);
    if (title && title !== this.view.board.title) this.send("RenameBoard", { title });
  }

  async renameColumn(id) {
    const column = this.view.columns.find((c) => c.id === id);
    const title = await askText("Column title", column?.title ?? "");
    if (title && column && title !== column.title) this.send("RenameColumn", { column_id: id, title });
  }

  openEditor(cardId) {
    this.editor.open(cardId);
  }

  // `?card=<id>` (a notification's link) opens that card once the board is shown.
  openAskedCard() {
    const cardId = new URLSearchParams(location.search).get("card");
    if (!cardId) return;
    // Only `card` goes: the filter's parameters stay.
    const query = new URLSearchParams(location.search);
    query.delete("card");
    const search = query.toString();
    history.replaceState(history.state, "", `${location.pathname}${search ? `?${search}` : ""}${location.hash}`);
    this.openEditor(cardId);
  }

  // -- panels ----------------------------------------------------------------------------------

  togglePanel(panel) {
    panel.root.hidden = !panel.root.hidden;
    if (!panel.root.hidden) panel.show();
    else panel.hide?.();
  }
}

function commentCount(card) {
  if (!card.comments) return null;
  return el("span", { class: "comment-count" }, `${card.comments} comment${card.comments === 1 ? "" : "s"}`);
}
