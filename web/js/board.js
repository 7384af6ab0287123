// The board view: columns and cards, drag and drop (SortableJS for pointers, our own keys for the
// keyboard), optimistic commands with rollback, live updates animated into place.
import Sortable from "/vendor/sortablejs-1.15.6/sortable.esm.js";
import { api, isRetryable, uuid } from "./api.js";
import { BoardModel, ResyncNeeded } from "./model.js";
import { announce, askText, avatar, describeRejection, el, toast } from "./ui.js";

const PAGE = 100; // cards rendered per column at first, and added each time its end scrolls into view
const FLIP_LIMIT = 600; // above this many rendered cards, skip move animations

export class BoardPage {
  constructor(root, { boardId, me, live, navigate, onQueue }) {
    Object.assign(this, { root, boardId, me, live, navigate, onQueue });
    this.model = new BoardModel(boardId);
    this.columnEls = new Map();
    this.cardEls = new Map();
    this.limits = new Map();
    this.interacting = false;
    this.dirty = false;
    this.lifted = null;
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
    this.columnSortable?.destroy();
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
    this.membersPanel = el("aside", { class: "panel members-panel", hidden: true, "aria-label": "Members" });
    this.archivedPanel = el("aside", { class: "panel archived-panel", hidden: true, "aria-label": "Archived items" });
    const toolbar = el(
      "div",
      { class: "board-toolbar" },
      el("button", { type: "button", class: "owner-only", onclick: () => this.renameBoard() }, "Rename board"),
      el("button", { type: "button", class: "owner-only", onclick: () => this.send("ArchiveBoard", {}) }, "Archive board"),
      el("button", { type: "button", onclick: () => this.togglePanel(this.membersPanel) }, "Members"),
      el("button", { type: "button", onclick: () => this.togglePanel(this.archivedPanel) }, "Archived items"),
      el("span", { class: "spacer" }),
      this.addColumnForm,
    );
    this.page = el("section", { class: "board-page loading", "data-board-id": this.boardId }, toolbar, this.banner, el("div", { class: "board-body" }, this.columnsEl, this.membersPanel, this.archivedPanel));
    this.root.replaceChildren(this.page);
    this.columnSortable = Sortable.create(this.columnsEl, {
      group: "columns",
      draggable: ".column",
      handle: ".col-handle",
      forceFallback: true,
      animation: 150,
      onStart: () => this.startInteraction(),
      onEnd: (evt) => this.dropColumn(evt),
    });
    this.columnsEl.addEventListener("keydown", (e) => this.keydown(e));
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
      this.render("remote");
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
    if (this.interacting) {
      this.dirty = true;
      return;
    }
    const view = this.model.view();
    if (!view) return;
    this.view = view;
    this.role = view.board.members.find((m) => m.user_id === this.me.id)?.role ?? "viewer";
    this.canEdit = this.role !== "viewer" && !view.board.archived;
    this.page.classList.toggle("read-only", !this.canEdit);
    this.page.classList.toggle("is-owner", this.role === "owner");
    this.page.dataset.role = this.role;
    this.page.dataset.version = String(this.model.version);
    document.getElementById("board-title").textContent = view.board.title;
    document.title = `${view.board.title} · cardstream`;
    this.renderBanner(view.board);
    const before = cause === "remote" ? this.measure() : null;
    this.renderColumns(view);
    if (before) this.animate(before);
    this.columnSortable.option("disabled", !this.canEdit);
    if (!this.membersPanel.hidden) this.renderMembers();
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
      entry.count.textContent = String(cards.length);
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
        el("button", { type: "button", class: "quiet edit-only col-rename", onclick: () => this.renameColumn(id) }, "Rename"),
        el("button", { type: "button", class: "quiet edit-only col-archive", onclick: () => this.send("ArchiveColumn", { column_id: id }) }, "Archive"),
      ),
      el("div", { class: "column-body" }, list, more),
      form,
    );
    handle.addEventListener("keydown", (e) => this.columnKey(e, id));
    const sortable = Sortable.create(list, {
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
    const signature = JSON.stringify([card.title, card.labels, card.assignees, card.due_date, !!card.pending, this.canEdit]);
    if (node.signature === signature) return;
    node.signature = signature;
    const members = this.view.board.members;
    const labels = card.labels.length ? el("span", { class: "labels" }, card.labels.map((l) => el("span", { class: "label" }, l))) : null;
    const due = card.due_date ? el("time", { class: "due", datetime: card.due_date }, `due ${card.due_date.slice(0, 10)}`) : null;
    const people = card.assignees.length
      ? el("span", { class: "assignees" }, card.assignees.map((id) => {
          const m = members.find((x) => x.user_id === id);
          return avatar(id, m?.name || m?.email || id, "small");
        }))
      : null;
    node.classList.toggle("pending", !!card.pending);
    node.setAttribute("aria-label", card.title);
    node.replaceChildren(
      this.canEdit ? el("span", { class: "drag-handle", "aria-hidden": "true" }, "⠿") : "",
      el("span", { class: "card-title" }, card.title),
      this.canEdit ? el("button", { type: "button", class: "quiet card-edit", "aria-label": `Edit ${card.title}`, onclick: () => this.openEditor(card.id) }, "✎") : "",
      labels || due || people ? el("span", { class: "card-meta" }, labels, due, people) : "",
    );
  }

  // FLIP: where each rendered card was, so the ones others moved glide to where they are now.
  measure() {
    if (this.cardEls.size > FLIP_LIMIT) return null;
    const rects = new Map();
    for (const [id, node] of this.cardEls) if (node.isConnected) rects.set(id, node.getBoundingClientRect());
    return rects;
  }

  animate(before) {
    for (const [id, node] of this.cardEls) {
      if (!node.isConnected) continue;
      const was = before.get(id);
      if (!was) {
        if (node.fresh && before.size) node.animate([{ opacity: 0, transform: "scale(0.96)" }, { opacity: 1, transform: "none" }], { duration: 220, easing: "ease-out" });
        node.fresh = false;
        continue;
      }
      const now = node.getBoundingClientRect();
      const dx = was.left - now.left;
      const dy = was.top - now.top;
      if (Math.abs(dx) < 1 && Math.abs(dy) < 1) continue;
      node.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: "none" }], { duration: 250, easing: "ease-in-out" });
      if (Math.abs(dx) < 1) continue;
      node.classList.add("arrived");
      setTimeout(() => node.classList.remove("arrived"), 800);
    }
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

  // -- drag and drop ---------------------------------------------------------------------------

  startInteraction() {
    this.interacting = true;
  }

  endInteraction() {
    this.interacting = false;
    this.dirty = false;
    this.render("local");
  }

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
    this.dirty = false;
    if (this.isWhereItIs(payload)) {
      this.render("local");
      return;
    }
    this.send("MoveCard", payload);
  }

  isWhereItIs({ card_id: cardId, column_id: columnId, after_card_id: after, before_card_id: before }) {
    const cards = this.view.lists.get(columnId) ?? [];
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
    this.send("MoveColumn", payload);
  }

  columnKey(event, columnId) {
    if (!this.canEdit || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) return;
    event.preventDefault();
    const ids = this.view.columns.map((c) => c.id);
    const at = ids.indexOf(columnId);
    const payload = { column_id: columnId };
    if (event.key === "ArrowLeft" && at > 0) payload.before_column_id = ids[at - 1];
    else if (event.key === "ArrowRight" && at < ids.length - 1) payload.after_column_id = ids[at + 1];
    else return;
    this.send("MoveColumn", payload);
    this.columnEls.get(columnId)?.handle.focus();
    announce(`Column moved to position ${event.key === "ArrowLeft" ? at : at + 2} of ${ids.length}.`);
  }

  // Keyboard: Space picks a card up, arrows move it (up/down within, left/right across columns),
  // Enter or Space drops it there, Escape puts it back.
  keydown(event) {
    const card = event.target.closest?.(".card");
    if (this.lifted) {
      this.keyWhileLifted(event);
      return;
    }
    if (!card || event.target !== card) return;
    if (event.key === " " && this.canEdit) {
      event.preventDefault();
      this.lift(card);
    } else if (event.key === "Enter" && this.canEdit) {
      event.preventDefault();
      this.openEditor(card.dataset.id);
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
    const column = this.view.columns.find((c) => c.id === card.parentElement.dataset.columnId);
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
    this.cardEls.get(card.dataset.id)?.focus();
  }

  neighbourList(list, step) {
    const ids = this.view.columns.map((c) => c.id);
    const id = ids[ids.indexOf(list.dataset.columnId) + step];
    return id ? this.columnEls.get(id)?.list : null;
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
    let card = null;
    for (const list of this.view.lists.values()) card ??= list.find((c) => c.id === cardId);
    if (!card) return;
    const dialog = document.getElementById("card-dialog");
    const form = document.getElementById("card-form");
    form.elements.title.value = card.title;
    form.elements.description.value = card.description ?? "";
    form.elements.labels.value = card.labels.join(", ");
    form.elements.due_date.value = card.due_date ? card.due_date.slice(0, 10) : "";
    document.getElementById("card-assignees").replaceChildren(
      ...this.view.board.members.map((m) =>
        el("label", { class: "check" }, el("input", { type: "checkbox", name: "assignee", value: m.user_id, checked: card.assignees.includes(m.user_id) }), " ", m.name || m.email || m.user_id),
      ),
    );
    dialog.returnValue = "";
    dialog.showModal();
    dialog.addEventListener("close", () => this.closeEditor(dialog.returnValue, form, card), { once: true });
  }

  closeEditor(action, form, card) {
    if (action === "archive") {
      this.send("ArchiveCard", { card_id: card.id });
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
    if (Object.keys(changes).length) this.send("EditCard", { card_id: card.id, ...changes });
  }

  // -- panels ----------------------------------------------------------------------------------

  togglePanel(panel) {
    panel.hidden = !panel.hidden;
    if (panel.hidden) return;
    if (panel === this.membersPanel) this.renderMembers();
    else this.loadArchived();
  }

  renderMembers() {
    const owner = this.role === "owner";
    const rows = this.view.board.members.map((m) =>
      el(
        "li",
        { class: "member", "data-user": m.user_id },
        avatar(m.user_id, m.name || m.email || m.user_id),
        el("span", { class: "member-name" }, m.name || m.email || m.user_id, m.user_id === this.me.id ? " (you)" : ""),
        owner
          ? el(
              "select",
              { "aria-label": `Role of ${m.name || m.email || m.user_id}`, onchange: (e) => this.send("ChangeMemberRole", { user_id: m.user_id, role: e.target.value }) },
              ["owner", "editor", "viewer"].map((r) => el("option", { value: r, selected: r === m.role }, r)),
            )
          : el("span", { class: "role" }, m.role),
        owner ? el("button", { type: "button", class: "quiet", onclick: () => this.send("RemoveMember", { user_id: m.user_id }) }, "Remove") : null,
      ),
    );
    // Kept across renders, so that live updates neither wipe what is typed nor the last message.
    const invite = owner ? (this.inviteForm ??= this.buildInviteForm()) : null;
    this.membersPanel.replaceChildren(
      el("h2", {}, "Members"),
      el("ul", { class: "members" }, rows),
      invite,
      el("p", { class: "hint" }, "Your user id: ", el("code", { class: "my-user-id" }, this.me.id)),
    );
  }

  buildInviteForm() {
    return el(
      "form",
      { class: "invite stack", onsubmit: (e) => this.invite(e) },
      el("h3", {}, "Invite"),
      el("label", {}, "Email ", el("input", { name: "email", type: "email", required: true, maxlength: "320" })),
      el("label", {}, "Role ", el("select", { name: "role" }, ["editor", "viewer", "owner"].map((r) => el("option", { value: r }, r)))),
      el("button", { class: "primary" }, "Invite"),
      el("p", { class: "hint invite-status", role: "status", "aria-live": "polite" }, "They must have signed in to cardstream once."),
    );
  }

  // AddMember needs our user id, which only the auth service knows: resolve the address first.
  async invite(event) {
    event.preventDefault();
    const form = event.target;
    const status = form.querySelector(".invite-status");
    const button = form.querySelector("button");
    const email = form.elements.email.value.trim();
    const role = form.elements.role.value;
    button.disabled = true;
    status.textContent = `Looking up ${email}…`;
    let user;
    try {
      user = await api.findUser(email);
    } catch (error) {
      button.disabled = false;
      status.textContent =
        error.code === "user_not_found"
          ? `Nobody has signed in to cardstream as ${email} yet: ask them to sign in once, then invite again.`
          : `Could not look up ${email}: ${error.message}`;
      status.classList.add("error");
      return;
    }
    if (this.stopped) return;
    const member = this.view.board.members.find((m) => m.user_id === user.user_id);
    status.classList.toggle("error", Boolean(member));
    if (member) {
      button.disabled = false;
      status.textContent = `${user.name || user.email} is already a member (${member.role}).`;
      return;
    }
    this.send("AddMember", { user_id: user.user_id, role, email: user.email, ...(user.name ? { name: user.name } : {}) });
    form.reset();
    button.disabled = false;
    status.textContent = `Invited ${user.name || user.email} as ${role}.`;
  }

  async loadArchived() {
    this.archivedPanel.replaceChildren(el("h2", {}, "Archived items"), el("p", {}, "Loading…"));
    let detail;
    try {
      detail = await api.board(this.boardId, { archived: true, minVersion: this.model.version });
    } catch (error) {
      this.archivedPanel.replaceChildren(el("h2", {}, "Archived items"), el("p", {}, `Could not load: ${error.message}`));
      return;
    }
    const columns = detail.board.columns.filter((c) => c.archived);
    const cards = detail.cards.filter((c) => c.archived);
    const restore = (card, row) => {
      // Keep its fields: the snapshot we hold leaves archived cards out.
      if (!this.model.cards.has(card.card_id)) this.model.cards.set(card.card_id, { ...card });
      this.send("RestoreCard", { card_id: card.card_id });
      row.remove();
    };
    const restoreColumn = (column, row) => {
      // Keep it and its open cards: the snapshot we hold leaves archived columns out, and the
      // cards come back with the column (archiving it left them where they were).
      if (!this.model.columns.has(column.column_id)) this.model.columns.set(column.column_id, { ...column });
      for (const card of detail.cards) {
        if (card.column_id === column.column_id && !this.model.cards.has(card.card_id)) this.model.cards.set(card.card_id, { ...card });
      }
      this.send("RestoreColumn", { column_id: column.column_id });
      row.remove();
    };
    // One list per kind: each item with a Restore button for those who may edit.
    const section = (heading, className, items, idOf, onRestore) => [
      el("h3", {}, heading),
      items.length
        ? el("ul", { class: className }, items.map((item) => {
            const row = el("li", { "data-id": idOf(item) }, el("span", {}, item.title), " ");
            if (this.canEdit) row.append(el("button", { type: "button", onclick: () => onRestore(item, row) }, "Restore"));
            return row;
          }))
        : el("p", {}, "None."),
    ];
    this.archivedPanel.replaceChildren(
      el("h2", {}, "Archived items"),
      ...section("Cards", "archived-cards", cards, (c) => c.card_id, restore),
      ...section("Columns", "archived-columns", columns, (c) => c.column_id, restoreColumn),
    );
  }
}
