// The list of the caller's boards: create, rename, archive, restore.
import { api } from "./api.js";
import { askText, describeRejection, el, toast } from "./ui.js";

export class BoardsPage {
  constructor(root, { navigate, newId }) {
    Object.assign(this, { root, navigate, newId });
    this.boards = [];
  }

  async start() {
    document.title = "Boards · cardstream";
    this.list = el("ul", { class: "board-list", "aria-label": "Boards" });
    this.archived = el("ul", { class: "board-list archived", "aria-label": "Archived boards" });
    this.root.replaceChildren(
      el(
        "section",
        { class: "boards-page" },
        el("h1", {}, "Your boards"),
        el(
          "form",
          { class: "row create-board", onsubmit: (e) => this.create(e) },
          el("input", { name: "title", placeholder: "New board title", "aria-label": "New board title", required: true, maxlength: "200" }),
          el("button", { class: "primary" }, "Create board"),
        ),
        this.list,
        el("h2", {}, "Archived boards"),
        this.archived,
      ),
    );
    await this.load();
  }

  stop() {
    this.stopped = true;
  }

  async load() {
    try {
      this.boards = (await api.boards()).boards;
    } catch (error) {
      toast(`Could not load your boards: ${error.message}`);
      return;
    }
    this.paint();
  }

  paint() {
    if (this.stopped) return;
    const row = (b) =>
      el(
        "li",
        { class: "board-row", "data-board-id": b.board_id },
        el("a", { href: `/boards/${b.board_id}`, "data-link": true }, b.title),
        el("span", { class: "role" }, b.role),
        b.role === "owner" && !b.archived ? el("button", { type: "button", class: "quiet", onclick: () => this.rename(b) }, "Rename") : null,
        b.role === "owner" && !b.archived ? el("button", { type: "button", class: "quiet", onclick: () => this.run(b, "ArchiveBoard", { archived: true }) }, "Archive") : null,
        b.role === "owner" && b.archived ? el("button", { type: "button", class: "quiet", onclick: () => this.run(b, "RestoreBoard", { archived: false }) }, "Restore") : null,
      );
    this.list.replaceChildren(...this.boards.filter((b) => !b.archived).map(row));
    this.archived.replaceChildren(...this.boards.filter((b) => b.archived).map(row));
    if (!this.list.children.length) this.list.append(el("li", { class: "empty" }, "No boards yet: create one."));
  }

  async create(event) {
    event.preventDefault();
    const input = event.target.elements.title;
    const boardId = this.newId();
    try {
      await api.createBoard({ command_id: this.newId(), type: "CreateBoard", payload: { title: input.value.trim(), board_id: boardId } });
    } catch (error) {
      toast(describeRejection("CreateBoard", error));
      return;
    }
    this.navigate(`/boards/${boardId}`);
  }

  async rename(board) {
    const title = await askText("Board title", board.title);
    if (title && title !== board.title) await this.run(board, "RenameBoard", { title }, { title });
  }

  // The list is a read model that may lag; patch our copy with what the server accepted.
  async run(board, type, patch, payload = {}) {
    try {
      await api.command(board.board_id, { command_id: this.newId(), type, payload });
    } catch (error) {
      toast(describeRejection(type, error));
      return;
    }
    Object.assign(board, patch);
    this.paint();
  }
}
