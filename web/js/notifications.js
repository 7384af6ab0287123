// The bell in the top bar: the signed-in user's notifications (mentions in comments, cards
// assigned to them), newest first, with the unread count. Live over the one WebSocket: after each
// (re)connection it asks for its own notifications (`subscribe_notifications`) and reads the list
// again, so nothing missed while away stays missing; no polling. Opening one marks it read and
// opens its card.
import { api } from "./api.js";
import { MENTION } from "./markdown.js";
import { el } from "./ui.js";

const KIND = { mention: "mentioned you", assignment: "assigned you" };

// The excerpt is the comment's Markdown source: its mention tokens read as who they name.
function readable(excerpt) {
  const me = document.body.dataset.userId;
  return excerpt.replace(MENTION, (token, userId) => (userId === me ? "@you" : "@…"));
}

export class NotificationsBell {
  constructor({ live, navigate }) {
    this.live = live;
    this.navigate = navigate;
    this.items = [];
    this.unread = 0;
    this.button = document.getElementById("bell");
    this.count = document.getElementById("bell-count");
    this.panel = document.getElementById("notifications-panel");
    this.list = document.getElementById("notifications-list");
    this.onOpen = () => {
      this.live.sendJson({ type: "subscribe_notifications" });
      this.load();
    };
    this.onMessage = (event) => {
      if (event.detail.type === "notification") this.arrived(event.detail.notification);
    };
  }

  start() {
    this.button.hidden = false;
    this.button.addEventListener("click", () => this.toggle());
    document.getElementById("notifications-all-read").addEventListener("click", () => this.markRead({ all: true }));
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.toggle(false);
    });
    this.live.addEventListener("open", this.onOpen);
    this.live.addEventListener("message", this.onMessage);
    // A board page opens the socket itself once its board is read (until then "Live" would claim
    // a board not yet followed); any other page opens it here.
    if (this.live.authed) this.onOpen();
    else if (!location.pathname.startsWith("/boards/")) this.live.connect();
  }

  async load() {
    try {
      const answer = await api.notifications();
      this.items = answer.notifications;
      this.unread = answer.unread;
    } catch {
      return;
    }
    this.render();
  }

  arrived(notification) {
    if (this.items.some((n) => n.notification_id === notification.notification_id)) return;
    this.items.unshift(notification);
    if (!notification.read) this.unread += 1;
    this.render();
    // The card's title is the store's to tell: read the list again behind the live count.
    this.load();
  }

  async markRead(body) {
    try {
      this.unread = (await api.markRead(body)).unread;
    } catch {
      return;
    }
    for (const n of this.items) if (body.all || body.ids.includes(n.notification_id)) n.read = true;
    this.render();
  }

  toggle(open = this.panel.hidden) {
    this.panel.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (open) this.panel.querySelector("button")?.focus();
  }

  async openOne(n) {
    this.toggle(false);
    if (!n.read) await this.markRead({ ids: [n.notification_id] });
    this.navigate(`/boards/${n.board_id}?card=${n.card_id}`);
  }

  render() {
    this.count.textContent = this.unread ? String(this.unread) : "";
    this.count.hidden = !this.unread;
    this.button.setAttribute("aria-label", this.unread ? `Notifications, ${this.unread} unread` : "Notifications");
    this.list.replaceChildren(
      ...(this.items.length
        ? this.items.map((n) =>
            el(
              "li",
              { class: n.read ? "notification" : "notification unread", "data-id": n.notification_id },
              el(
                "button",
                { type: "button", class: "quiet notification-open", onclick: () => this.openOne(n) },
                el("strong", {}, n.actor_name || n.actor_id), ` ${KIND[n.kind] ?? n.kind} on `, el("em", {}, n.card_title ?? "a card"),
                n.excerpt ? el("span", { class: "excerpt" }, readable(n.excerpt)) : null,
                n.read ? null : el("span", { class: "visually-hidden" }, " (unread)"),
              ),
            ),
          )
        : [el("li", { class: "hint" }, "Nothing yet.")]),
    );
  }
}
