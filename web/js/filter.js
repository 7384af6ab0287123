// Filter and search on the board page: by text (title and description), label, assignee and due
// date (overdue, due this week). Matching cards stay where they are and the others fade: a class
// toggled on the card nodes already on the page, those in view in the frame and the others after
// it, so a 5,000-card board stays within a frame (bench/bigboard.py measures it). Each card's
// lowercase text is kept between renders and recomputed only when its title or description
// changed.
//
// The filter lives in the URL's query (?q=&label=&assignee=&due=): opening such a URL applies it,
// and changing it rewrites the URL with history.replaceState (no new history entry per key).
//
// `board` is the BoardPage; this uses its `view` and `cardEls`.
import { displayName, el } from "./ui.js";

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
    // After the frame that shows it: replaceState takes a few milliseconds of its own and brings
    // the page's style up to date.
    if (!this.urlPending) {
      this.urlPending = true;
      afterFrame(() => {
        this.urlPending = false;
        this.toUrl();
      });
    }
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
    const people = view.board.members.map((m) => [m.user_id, displayName(m)]);
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

  // A card scrolled into view while off-screen cards are still being restyled is painted as it
  // comes (cards have content-visibility: auto, which says so). One listener, on the columns.
  watchScreen() {
    const columns = this.board.columnsEl;
    if (this.watched === columns || !columns) return;
    this.watched = columns;
    columns.addEventListener("contentvisibilityautostatechange", (event) => {
      const node = event.target;
      if (!event.skipped && node.classList.contains("card")) this.paint(node, node.dataset.id);
    });
  }

  // The cards inside a column's visible box: per column, a binary search over its rendered cards
  // (stacked in order) for the first one below the box's top, then on until one starts below its
  // bottom. Some 20 rectangles a column, read while layout is still clean (apply runs from an
  // input event or a render, before it changes anything on the page).
  visibleCards() {
    const visible = new Set();
    const columns = this.board.columnsEl;
    if (!columns) return visible;
    const outer = columns.getBoundingClientRect();
    const left = Math.max(outer.left, 0);
    const right = Math.min(outer.right, window.innerWidth);
    for (const list of columns.querySelectorAll(".cards")) {
      const box = list.parentElement.getBoundingClientRect();
      const top = Math.max(box.top, 0);
      const bottom = Math.min(box.bottom, window.innerHeight);
      if (box.right <= left || box.left >= right || bottom <= top) continue;
      const cards = list.children;
      let lo = 0;
      let hi = cards.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cards[mid].getBoundingClientRect().bottom <= top) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < cards.length && cards[i].getBoundingClientRect().top < bottom; i += 1) {
        if (cards[i].dataset.id) visible.add(cards[i].dataset.id);
      }
    }
    return visible;
  }

  paint(node, id) {
    const faded = this.matching !== null && !this.matching.has(id);
    if ((node.faded ?? false) !== faded) {
      node.faded = faded;
      node.classList.toggle("faded", faded);
    }
  }

  // Class toggles on the rendered cards whose state changes, and no class on an ancestor: one
  // there would send the browser to restyle every card under it. Restyling is what costs (a card
  // with content-visibility: auto is laid out again when its style changes), so the cards in
  // view change in this frame and the others in slices after it is painted, unless they come
  // into view first.
  apply() {
    const view = this.board.view;
    const wasActive = this.matching !== null;
    if (!view || (!this.active && !wasActive)) return;
    // First, while nothing here has changed the page: the status line below would make the
    // browser lay the page out again before it could answer where the cards are.
    const visible = this.visibleCards();
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
    this.watchScreen();
    const later = [];
    for (const [id, node] of this.board.cardEls) {
      if (visible.has(id)) this.paint(node, id);
      else later.push([id, node]);
    }
    const generation = (this.generation = (this.generation ?? 0) + 1);
    const slice = (from) => {
      if (generation !== this.generation) return;
      for (const [id, node] of later.slice(from, from + SLICE)) this.paint(node, id);
      if (from + SLICE < later.length) setTimeout(() => slice(from + SLICE), 0);
    };
    if (later.length) afterFrame(() => slice(0));
  }
}

// Runs `fn` after the next frame has been rendered: a timer set from a frame callback runs after
// that frame's rendering, where one set now could run before it.
export function afterFrame(fn) {
  requestAnimationFrame(() => setTimeout(fn, 0));
}
