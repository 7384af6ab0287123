// Entry point: who is signed in, which page is shown, and the connection badge.
import { api, refresh, uuid } from "./api.js";
import { BoardPage } from "./board.js";
import { BoardsPage } from "./boards.js";
import { Live } from "./live.js";
import { NotificationsBell } from "./notifications.js";
import { el, paintAvatar, toast } from "./ui.js";

const app = document.getElementById("app");
const badge = document.getElementById("connection");
const live = new Live();
let me = null;
let page = null;
let queued = 0;

const LABELS = {
  idle: "",
  connecting: "Connecting…",
  syncing: "Catching up…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

function paintBadge() {
  const state = live.state;
  const suffix = queued ? ` · ${queued} change${queued === 1 ? "" : "s"} not yet saved` : "";
  badge.dataset.state = state;
  badge.textContent = (LABELS[state] ?? state) + suffix;
}

live.addEventListener("state", paintBadge);
live.addEventListener("signedout", () => showSignIn());

function onQueue(count) {
  queued = count;
  paintBadge();
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

function route() {
  page?.stop?.();
  page = null;
  queued = 0;
  paintBadge();
  const match = location.pathname.match(/^\/boards\/([0-9a-fA-F-]{36})\/?$/);
  if (match) page = new BoardPage(app, { boardId: match[1].toLowerCase(), me, live, navigate, onQueue });
  else page = new BoardsPage(app, { me, navigate, newId: uuid });
  page.start();
}

function showSignIn() {
  page?.stop?.();
  page = null;
  document.getElementById("account").hidden = true;
  const next = location.pathname + location.search;
  app.replaceChildren(
    el(
      "section",
      { class: "sign-in" },
      el("h1", {}, "Sign in to cardstream"),
      el(
        "form",
        { action: "/auth/login", method: "get", class: "stack" },
        el("input", { type: "hidden", name: "next", value: next.startsWith("/") && !next.startsWith("//") ? next : "/" }),
        el("label", {}, "Email (optional) ", el("input", { type: "email", name: "login_hint", autocomplete: "email" })),
        el("button", { class: "primary" }, "Sign in"),
      ),
    ),
  );
}

async function boot() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-link]");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  });
  window.addEventListener("popstate", route);
  document.getElementById("sign-out").addEventListener("click", async () => {
    live.unwatch();
    await api.logout();
    me = null;
    showSignIn();
  });
  let signedIn;
  try {
    signedIn = await refresh();
  } catch {
    toast("The network is unreachable; retrying when it is back.");
    window.addEventListener("online", () => location.reload(), { once: true });
    return;
  }
  if (!signedIn) {
    showSignIn();
    return;
  }
  me = (await api.me()).user;
  document.body.dataset.userId = me.id;
  document.getElementById("account").hidden = false;
  document.getElementById("me-name").textContent = me.name || me.email;
  paintAvatar(document.getElementById("me-avatar"), me.id, me.name || me.email, me.picture);
  route();
  new NotificationsBell({ live, navigate }).start();
}

boot();
