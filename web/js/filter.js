// Filter and search on the board page: by text (title and description), label, assignee and due
// date (overdue, due this week). Matching cards stay where they are and the others fade: a class
// toggled over the card nodes already on the page, so nothing is laid out again and a 5,000-card
// board stays within a frame (bench/bigboard.py measures it). Each card's lowercase text is kept
// between renders and recomputed only when its title or description changed.
//
// The filter lives in the URL's query (?q=&label=&assignee=&due=): opening such a URL applies it,
// and changing it rewrites the URL with history.replaceState (no new history entry per key).
//
// `board` is the BoardPage; this uses its `view` and `cardEls`.
import { el } from "./ui.js";

const PARAMS = ["q", "label", "assignee", "due"];
const DAY = 24 * 60 * 60 * 1000;
const SLICE = 250; // off-screen cards restyled per task after the frame

export class CardFilter {
  constructor(board) {
    this.board = board;
    this.state = Object.fromEntries(PARAMS.map((p) => [p, ""]));
    this.texts = new Map(); // card id -> { title, description, text }
    this.matching = null; // card ids that match, or null when no filter is set
    // What the selects were last built from; null until the first render builds them.
    this.labelsShown = null;
    this.peopleShown = null;
    this.fromUrl();
    this.build();
  }

  get active() {
    return PARAMS.some((p) => this.state[p] !== "");
  }

  fromUrl() {
    const query = new URLSearchParams(location.search);
    for (const p of PARAMS) this.state[p] = query.get(p) ?? "";
    if (!["", "overdue", "week"].includes(this.state.due)) this.state.due = "";
  }

  build() {
    const input = (name, node) => {
      node.addEventListener(name === "q" ? "input" : "change", () => this.set(name, node.value));
      return node;
    };
    this.text = input("q", el("input", { type: "search", name: "q", class: "filter-text", placeholder: "Search cards", "aria-label": "Search card titles and descriptions", maxlength: "200", value: this.state.q }));
    this.label = input("label", el("select", { name: "label", class: "filter-label", "aria-label": "Filter by label" }));
    this.assignee = input("assignee", el("select", { name: "assignee", class: "filter-assignee", "aria-label": "Filter by assignee" }));
    this.due = input(
      "due",
      el(
        "select",
        { name: "due", class: "filter-due", "aria-label": "Filter by due date" },
        el("option", { value: "" }, "Any due date"),
        el("option", { value: "overdue" }, "Overdue"),
        el("option", { value: "week" }, "Due this week"),
      ),
    );
    this.due.value = this.state.due;
    this.clearButton = el("button", { type: "button", class: "filter-clear", onclick: () => this.clear() }, "Clear filter");
    this.status = el("span", { class: "filter-status hint", role: "status", "aria-live": "polite" });
    this.root = el(
      "div",
      { class: "board-filter", role: "search", "aria-label": "Filter cards" },
      this.text,
      this.label,
      this.assignee,
      this.due,
      this.clearButton,
      this.status,
    );
  }

  set(name, value) {
    this.state[name] = value;
    this.apply();
    // After the frame that shows it: replaceState takes a few milliseconds of its own.
    clearTimeout(this.urlTimer);
    this.urlTimer = setTimeout(() => this.toUrl(), 0);
  }

  clear() {
    for (const p of PARAMS) this.state[p] = "";
    this.text.value = "";
    this.label.value = "";
    this.assignee.value = "";
    this.due.value = "";
    this.toUrl();
    this.apply();
    this.text.focus();
  }

  toUrl() {
    const query = new URLSearchParams(location.search);
    for (const p of PARAMS) {
      if (this.state[p]) query.set(p, this.state[p]);
      else query.delete(p);
    }
    const search = query.toString();
    history.replaceState(history.state, "", `${location.pathname}${search ? `?${search}` : ""}${location.hash}`);
  }

  // After each render: the choices follow the board's labels and members, and new card nodes
  // (or cards that changed) get their class.
  refresh(view) {
    this.options(view);
    this.apply();
  }

  options(view) {
    const labels = new Set();
    for (const list of view.lists.values()) for (const card of list) for (const l of card.labels) labels.add(l);
    if (this.state.label) labels.add(this.state.label);
    const sorted = [...labels].sort();
    const labelKey = sorted.join("\n");
    if (labelKey !== this.labelsShown) {
      this.labelsShown = labelKey;
      this.label.replaceChildren(el("option", { value: "" }, "Any label"), ...sorted.map((l) => el("option", { value: l }, l)));
      this.label.value = this.state.label;
    }
    const people = view.board.members.map((m) => [m.user_id, m.name || m.email || m.user_id]);
    const peopleKey = JSON.stringify(people);
    if (peopleKey !== this.peopleShown) {
      this.peopleShown = peopleKey;
      this.assignee.replaceChildren(el("option", { value: "" }, "Anyone"), ...people.map(([id, name]) => el("option", { value: id }, name)));
      if (this.state.assignee && !people.some(([id]) => id === this.state.assignee)) this.assignee.append(el("option", { value: this.state.assignee }, this.state.assignee));
      this.assignee.value = this.state.assignee;
    }
  }

  textOf(card) {
    let entry = this.texts.get(card.id);
    if (!entry || entry.title !== card.title || entry.description !== card.description) {
      entry = { title: card.title, description: card.description, text: `${card.title}\n${card.description ?? ""}`.toLowerCase() };
      this.texts.set(card.id, entry);
    }
    return entry.text;
  }

  matcher() {
    const { q, label, assignee, due } = this.state;
    const needle = q.trim().toLowerCase();
    const now = Date.now();
    // This week: from now to the end of Sunday, local time.
    const end = new Date(now);
    end.setHours(24, 0, 0, 0);
    const weekEnd = end.getTime() + ((7 - end.getDay()) % 7) * DAY;
    return (card) => {
      if (label && !card.labels.includes(label)) return false;
      if (assignee && !card.assignees.includes(assignee)) return false;
      if (due) {
        const at = card.due_date ? Date.parse(card.due_date) : NaN;
        if (Number.isNaN(at)) return false;
        if (due === "overdue" && !(at < now)) return false;
        if (due === "week" && !(at >= now && at < weekEnd)) return false;
      }
      return !needle || this.textOf(card).includes(needle);
    };
  }

  // Cards (content-visibility: auto) say when they come on screen or leave it; the filter restyles
  // those on screen at once and the others after the frame, as restyling is what costs (about
  // 25 µs a card here, 1,300 cards rendered on a big board). One listener, on the columns.
  watchScreen() {
    const columns = this.board.columnsEl;
    if (this.watched === columns || !columns) return;
    this.watched = columns;
    this.onScreen = new Set();
    columns.addEventListener("contentvisibilityautostatechange", (event) => {
      const node = event.target;
      if (!node.classList.contains("card")) return;
      if (event.skipped) {
        this.onScreen.delete(node.dataset.id);
      } else {
        this.onScreen.add(node.dataset.id);
        this.paint(node, node.dataset.id);
      }
    });
  }

  paint(node, id) {
    const faded = this.matching !== null && !this.matching.has(id);
    if (node.faded !== faded) {
      node.faded = faded;
      node.classList.toggle("faded", faded);
    }
  }

  // Class toggles over the rendered card nodes only; no layout is read.
  apply() {
    const view = this.board.view;
    const wasActive = this.matching !== null;
    if (!view || (!this.active && !wasActive)) return;
    if (this.active) {
      const matches = this.matcher();
      this.matching = new Set();
      let total = 0;
      for (const list of view.lists.values()) {
        for (const card of list) {
          total += 1;
          if (matches(card)) this.matching.add(card.id);
        }
      }
      this.status.textContent = `${this.matching.size} of ${total} cards match`;
    } else {
      this.matching = null;
      this.status.textContent = "";
    }
    // Only nodes whose state changes are touched, and no class on an ancestor: one there would
    // send the browser to recompute the style of every node under it. Cards on screen (or new,
    // not yet told) now; the others in slices after the frame, unless they come on screen first.
    this.watchScreen();
    const later = [];
    for (const [id, node] of this.board.cardEls) {
      if (node.faded === undefined || this.onScreen.has(id)) this.paint(node, id);
      else later.push([id, node]);
    }
    const generation = (this.generation = (this.generation ?? 0) + 1);
    const slice = (from) => {
      if (generation !== this.generation) return;
      for (const [id, node] of later.slice(from, from + SLICE)) this.paint(node, id);
      if (from + SLICE < later.length) setTimeout(() => slice(from + SLICE), 0);
    };
    if (later.length) setTimeout(() => slice(0), 0);
  }
}
