// Small DOM helpers. Nothing here sets inline style attributes: the CSP forbids them.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

// How a member (or any user record with a name and an email) is shown: name, else email, else id.
export function displayName(member, id = member?.user_id) {
  return member?.name || member?.email || id;
}

export function initials(name) {
  const parts = (name || "?").replace(/@.*/, "").split(/[\s._-]+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts[1]?.[0] ?? "")).toUpperCase();
}

export function paintAvatar(node, id, name, picture = null) {
  node.textContent = initials(name || id);
  node.title = name || id;
  node.style.setProperty("--avatar-hue", String(hue(id || name || "?")));
  node.classList.remove("has-picture");
  if (picture) showPicture(node, picture);
  return node;
}

// The picture covers the initials, which stay underneath: they show while it loads and again if
// it fails. alt is empty because the name is beside it and in the title.
function showPicture(node, picture) {
  const img = el("img", { alt: "", referrerpolicy: "no-referrer", decoding: "async" });
  img.addEventListener("load", () => node.classList.add("has-picture"), { once: true });
  img.addEventListener("error", () => {
    img.remove();
    node.classList.remove("has-picture");
  }, { once: true });
  img.src = picture;
  node.append(img);
}

export function avatar(id, name, extra = "") {
  return paintAvatar(el("span", { class: `avatar ${extra}`.trim(), "data-user": id }), id, name);
}

export function toast(text, kind = "error") {
  const box = document.getElementById("messages");
  const item = el("div", { class: `message ${kind}` }, text, el("button", { type: "button", class: "quiet", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"));
  box.append(item);
  setTimeout(() => item.remove(), 10000);
}

export function announce(text) {
  const node = document.getElementById("announcer");
  node.textContent = "";
  requestAnimationFrame(() => {
    node.textContent = text;
  });
}

export function askText(label, value = "") {
  const dialog = document.getElementById("prompt-dialog");
  const form = document.getElementById("prompt-form");
  document.getElementById("prompt-label").textContent = label;
  form.elements.value.value = value;
  dialog.returnValue = "";
  dialog.showModal();
  form.elements.value.select();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve(dialog.returnValue === "ok" ? form.elements.value.value.trim() || null : null),
      { once: true },
    );
  });
}

const REASONS = {
  card_archived: "that card was archived by someone else",
  card_not_found: "that card no longer exists",
  column_archived: "that column was archived",
  column_not_found: "that column no longer exists",
  board_archived: "the board is archived",
  forbidden: "you may not change this board",
  assignee_not_member: "an assignee is not a member of the board",
  member_exists: "that person is already a member",
  last_owner: "a board needs at least one owner",
  limit_exceeded: "the board has reached a limit",
  board_diverged: "the board is held for recovery after a restore; an operator must release it first",
};

export function describeRejection(type, error) {
  const why = REASONS[error.code] ?? error.message ?? error.code;
  return `${type.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase()} was not saved: ${why} (${error.code})`;
}
