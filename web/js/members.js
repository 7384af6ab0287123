// The members panel: everyone on the board with their role; owners change roles, remove members
// and invite by email. The invite form is built once per board page, so live updates neither wipe
// what is being typed nor the last message.
//
// `board` is the BoardPage; this uses its `view`, `role`, `me`, `stopped` and `send`.
import { api } from "./api.js";
import { avatar, displayName, el } from "./ui.js";

export class MembersPanel {
  constructor(board) {
    this.board = board;
    this.root = el("aside", { class: "panel members-panel", hidden: true, "aria-label": "Members" });
    this.inviteForm = null;
  }

  show() {
    this.render();
  }

  render() {
    const { view, me } = this.board;
    const owner = this.board.role === "owner";
    const rows = view.board.members.map((m) =>
      el(
        "li",
        { class: "member", "data-user": m.user_id },
        avatar(m.user_id, displayName(m)),
        el("span", { class: "member-name" }, displayName(m), m.user_id === me.id ? " (you)" : ""),
        owner
          ? el(
              "select",
              { "aria-label": `Role of ${displayName(m)}`, onchange: (e) => this.board.send("ChangeMemberRole", { user_id: m.user_id, role: e.target.value }) },
              ["owner", "editor", "viewer"].map((r) => el("option", { value: r, selected: r === m.role }, r)),
            )
          : el("span", { class: "role" }, m.role),
        owner ? el("button", { type: "button", class: "quiet", onclick: () => this.board.send("RemoveMember", { user_id: m.user_id }) }, "Remove") : null,
      ),
    );
    const invite = owner ? (this.inviteForm ??= this.buildInviteForm()) : null;
    this.root.replaceChildren(
      el("h2", {}, "Members"),
      el("ul", { class: "members" }, rows),
      invite,
      el("p", { class: "hint" }, "Your user id: ", el("code", { class: "my-user-id" }, me.id)),
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
    if (this.board.stopped) return;
    const member = this.board.view.board.members.find((m) => m.user_id === user.user_id);
    status.classList.toggle("error", Boolean(member));
    if (member) {
      button.disabled = false;
      status.textContent = `${user.name || user.email} is already a member (${member.role}).`;
      return;
    }
    this.board.send("AddMember", { user_id: user.user_id, role, email: user.email, ...(user.name ? { name: user.name } : {}) });
    form.reset();
    button.disabled = false;
    status.textContent = `Invited ${user.name || user.email} as ${role}.`;
  }
}
