// The comments of the card open in the editor: listed oldest first, Markdown rendered safely
// (markdown.js), added by members who may edit, edited by their author only, deleted by their
// author or a board owner (the server decides; the controls only follow the same rules). Live:
// the board's CommentAdded, CommentEdited and CommentDeleted events update the list as they come.
// Typing `@` offers the board's members; picking one inserts the mention token `<@USER_ID>`.
//
// `board` is the BoardPage; this uses its `boardId`, `view`, `me`, `role`, `canEdit` and `send`.
import { api, uuid } from "./api.js";
import { mentionToken, renderMarkdown } from "./markdown.js";
import { avatar, displayName, el } from "./ui.js";

const MAX_BODY = 5000;

export class CommentsSection {
  constructor(board) {
    this.board = board;
    this.root = document.getElementById("card-comments");
    this.cardId = null;
    this.comments = new Map();
    this.gone = new Set();
    this.editing = null;
  }

  members() {
    return this.board.view?.board.members ?? [];
  }

  async open(cardId) {
    this.cardId = cardId;
    this.comments = new Map();
    this.gone = new Set();
    this.editing = null;
    this.form = this.buildForm();
    this.list = el("ol", { class: "comment-list", "aria-label": "Comments" });
    this.root.replaceChildren(el("h3", { id: "comments-title" }, "Comments"), this.list, this.form);
    this.render();
    let after = 0;
    try {
      for (;;) {
        const page = await api.comments(this.board.boardId, cardId, after);
        if (this.cardId !== cardId) return;
        for (const c of page.comments) if (!this.gone.has(c.comment_id) && !this.comments.has(c.comment_id)) this.comments.set(c.comment_id, c);
        if (page.next_after_version === null) break;
        after = page.next_after_version;
      }
    } catch {
      this.list.replaceChildren(el("li", { class: "hint" }, "The comments could not be loaded."));
      return;
    }
    this.render();
  }

  close() {
    this.cardId = null;
    this.root.replaceChildren();
  }

  // Board events, as the page receives them.
  receive(events) {
    if (!this.cardId) return;
    let changed = false;
    for (const { type, payload: p, occurred_at: at } of events) {
      if (p.card_id !== this.cardId) continue;
      if (type === "CommentAdded" && !this.gone.has(p.comment_id)) {
        this.comments.set(p.comment_id, { comment_id: p.comment_id, author_id: p.author_id, body: p.body, mentions: p.mentions ?? [], created_at: at, edited_at: null });
      } else if (type === "CommentEdited" && this.comments.has(p.comment_id)) {
        Object.assign(this.comments.get(p.comment_id), { body: p.body, mentions: p.mentions ?? [], edited_at: at });
      } else if (type === "CommentDeleted") {
        this.gone.add(p.comment_id);
        this.comments.delete(p.comment_id);
        if (this.editing === p.comment_id) this.editing = null;
      } else continue;
      changed = true;
    }
    if (changed) this.render();
  }

  name(userId) {
    const m = this.members().find((x) => x.user_id === userId);
    return displayName(m, userId);
  }

  render() {
    if (!this.list) return;
    const me = this.board.me.id;
    const owner = this.board.role === "owner";
    const items = [...this.comments.values()].map((c) => {
      const mine = c.author_id === me;
      const body = el("div", { class: "comment-body markdown" }, renderMarkdown(c.body, this.members()));
      const actions = el(
        "span",
        { class: "comment-actions" },
        mine && this.board.canEdit ? el("button", { type: "button", class: "quiet comment-edit", onclick: () => this.startEdit(c.comment_id) }, "Edit") : null,
        (mine || owner) && this.board.canEdit ? el("button", { type: "button", class: "quiet comment-delete", onclick: () => this.board.send("DeleteComment", { card_id: this.cardId, comment_id: c.comment_id }) }, "Delete") : null,
      );
      return el(
        "li",
        { class: "comment", "data-id": c.comment_id, "data-author": c.author_id },
        el("div", { class: "comment-head" }, avatar(c.author_id, this.name(c.author_id), "small"), el("strong", {}, this.name(c.author_id)), c.edited_at ? el("span", { class: "hint" }, " (edited)") : null, actions),
        this.editing === c.comment_id ? this.editForm : body,
      );
    });
    this.list.replaceChildren(...(items.length ? items : [el("li", { class: "hint" }, "No comments yet.")]));
    this.form.hidden = !this.board.canEdit;
  }

  // The edit form is built once per edit, so live changes re-rendering the list keep what is typed.
  startEdit(commentId) {
    this.editing = commentId;
    this.editForm = this.buildForm(this.comments.get(commentId));
    this.render();
    this.list.querySelector(`li[data-id="${commentId}"] textarea`)?.focus();
  }

  // The add form, or the edit form of `comment`.
  buildForm(comment = null) {
    const label = comment ? "Edit comment" : "Add a comment";
    const text = el("textarea", { name: "body", rows: "3", maxlength: String(MAX_BODY), required: true, "aria-label": label, placeholder: comment ? "" : "Write a comment (Markdown; @ to mention)" });
    text.value = comment?.body ?? "";
    const suggestions = el("ul", { class: "mention-suggestions", "aria-label": "Mention a member", hidden: true });
    text.addEventListener("input", () => this.suggest(text, suggestions));
    text.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !suggestions.hidden) {
        e.stopPropagation();
        e.preventDefault();
        suggestions.hidden = true;
      }
    });
    const form = el(
      "form",
      { class: comment ? "comment-form editing" : "comment-form", onsubmit: (e) => this.submit(e, text, comment) },
      text,
      suggestions,
      el(
        "div",
        { class: "row" },
        el("button", { class: "primary" }, comment ? "Save comment" : "Comment"),
        comment ? el("button", { type: "button", onclick: () => { this.editing = null; this.render(); } }, "Cancel") : null,
      ),
    );
    return form;
  }

  submit(event, text, comment) {
    event.preventDefault();
    const body = text.value;
    if (!body.trim()) return;
    if (comment) {
      if (body !== comment.body) this.board.send("EditComment", { card_id: this.cardId, comment_id: comment.comment_id, body });
      this.editing = null;
      this.render();
    } else {
      this.board.send("AddComment", { card_id: this.cardId, comment_id: uuid(), body });
      text.value = "";
    }
  }

  // `@` followed by letters just before the caret offers the members whose name starts so.
  suggest(text, box) {
    const before = text.value.slice(0, text.selectionStart);
    const match = before.match(/(^|\s)@([^\s@<>]*)$/);
    if (!match) {
      box.hidden = true;
      return;
    }
    const typed = match[2].toLowerCase();
    const found = this.members().filter((m) => [m.name, m.email, m.user_id].some((v) => v && v.toLowerCase().startsWith(typed)));
    box.replaceChildren(
      ...found.map((m) =>
        el("li", {},
          el("button", { type: "button", class: "quiet mention-option", "data-user": m.user_id, onclick: () => this.insert(text, box, match[2].length, m.user_id) }, this.name(m.user_id))),
      ),
    );
    box.hidden = !found.length;
  }

  insert(text, box, typedLength, userId) {
    const caret = text.selectionStart;
    const start = caret - typedLength - 1;
    const token = `${mentionToken(userId)} `;
    text.value = text.value.slice(0, start) + token + text.value.slice(caret);
    text.selectionStart = text.selectionEnd = start + token.length;
    box.hidden = true;
    text.focus();
  }
}
