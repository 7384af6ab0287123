// Time travel: the board as it was at an earlier version or time, read from the point-in-time API
// (`GET /api/boards/{id}?at_version=` or `?at=`) and drawn read-only by the page's own renderer,
// with the cards changed since that version marked. While it shows, the page sends no command
// (`BoardPage.send` refuses), nothing can be dragged or edited, and live events still update the
// live board underneath, which "Back to live" shows again.
//
// Stepping asks for one version at a time: a step taken while a read is in flight is remembered
// and only the latest is asked for next, so a dragged slider never queues a read per pixel.
// The first read far back on a long history may outlast the server's request deadline (it folds
// the log from version 0); the server keeps the checkpoints that fold left behind, so asking
// again goes on from there: a retryable answer is asked again, a few times.
//
// `board` is the BoardPage; this uses its `boardId`, `model`, `past`, `page` and `render`.
import { api, isRetryable, pause } from "./api.js";
import { BoardModel } from "./model.js";
import { el } from "./ui.js";

const RETRIES = 6;

export class TimeTravel {
  constructor(board) {
    this.board = board;
    this.slider = el("input", { type: "range", min: "1", max: "1", step: "1", "aria-label": "Board version", oninput: () => this.go(Number(this.slider.value)) });
    this.label = el("output", { class: "time-travel-label", "aria-live": "polite" });
    this.asOf = el("input", { type: "datetime-local", step: "1", "aria-label": "As of date and time" });
    this.root = el(
      "div",
      { class: "time-travel-bar", role: "group", "aria-label": "Time travel", hidden: true },
      el("button", { type: "button", "aria-label": "One version back", onclick: () => this.step(-1) }, "◀"),
      this.slider,
      el("button", { type: "button", "aria-label": "One version forward", onclick: () => this.step(1) }, "▶"),
      this.label,
      el("label", {}, "As of ", this.asOf),
      el("button", { type: "button", onclick: () => this.goTo({ at: this.asOfValue() }) }, "Show"),
      el("button", { type: "button", class: "primary", onclick: () => this.leave() }, "Back to live"),
    );
    this.wanted = null;
    this.reading = false;
  }

  get active() {
    return !this.root.hidden;
  }

  asOfValue() {
    // datetime-local has no zone: it is the browser's local time.
    return this.asOf.value ? new Date(this.asOf.value).toISOString() : null;
  }

  // It opens on the live version, drawn read-only from what the page holds (no read needed).
  enter() {
    const head = this.board.model.version ?? 1;
    this.root.hidden = false;
    this.slider.max = String(head);
    this.slider.value = String(head);
    this.label.textContent = `Version ${head} of ${head} (now)`;
    this.board.past = { version: head, view: this.board.model.view() };
    this.board.page.dataset.timeTravel = String(head);
    this.board.render("local");
    this.slider.focus();
  }

  leave() {
    this.root.hidden = true;
    this.wanted = null;
    this.board.past = null;
    this.board.page.removeAttribute("data-time-travel");
    this.board.render("local");
  }

  // Live events arrived: the slider reaches the new head.
  heard() {
    if (this.active) this.slider.max = String(this.board.model.version ?? 1);
  }

  step(by) {
    const current = this.wanted?.version ?? this.board.past?.version ?? Number(this.slider.value);
    const next = Math.min(Math.max(1, current + by), Number(this.slider.max));
    this.go(next);
  }

  go(version) {
    this.slider.value = String(version);
    this.goTo({ version });
  }

  goTo(where) {
    if (where.version === undefined && !where.at) return;
    this.wanted = where;
    if (!this.reading) this.read();
  }

  async read() {
    this.reading = true;
    let attempts = 0;
    try {
      while (this.wanted && this.active) {
        const where = this.wanted;
        this.wanted = null;
        let detail;
        try {
          detail = await api.boardAt(this.board.boardId, where);
        } catch (error) {
          attempts += 1;
          if (isRetryable(error) && attempts < RETRIES && !this.wanted) {
            this.label.textContent = "Reading the history…";
            await pause(250 * attempts); // a growing pause: the server is busy or away
            this.wanted ??= where;
            continue;
          }
          this.label.textContent = error.code === "board_not_found" ? "The board did not exist yet then." : `Could not load: ${error.message}`;
          continue;
        }
        attempts = 0;
        if (!this.active || this.wanted) continue;
        this.show(detail);
      }
    } finally {
      this.reading = false;
    }
  }

  show(detail) {
    const version = detail.board.version;
    const model = new BoardModel(this.board.boardId);
    model.loadSnapshot(version, detail);
    const view = model.view();
    // Changed since: the live board's card was touched by a later event, or is gone from it.
    const live = this.board.model.cards;
    for (const list of view.lists.values()) {
      for (const card of list) {
        const now = live.get(card.id);
        card.changed = !now || now.archived || (now.version ?? 0) > version;
      }
    }
    this.slider.value = String(version);
    this.label.textContent = `Version ${version} of ${this.board.model.version} · ${new Date(detail.board.updated_at).toLocaleString()}`;
    this.board.past = { version, view };
    this.board.page.dataset.timeTravel = String(version);
    this.board.render("local");
  }
}
