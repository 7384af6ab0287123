// HTTP to the one URL: tokens, commands, reads. The tokens live only in memory.
//
// Each token names one service: the access token the command API and auth, the read token the
// read API and the WebSocket. Commands are POSTs to /api; every other /api request is a read, and
// so is the one POST the projector answers (marking notifications read).

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export class NetworkError extends Error {}

let tokens = null; // { access, read }
let refreshTimer = null;
const tokenListeners = new Set();

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function onToken(listener) {
  tokenListeners.add(listener);
}

export const pause = (ms) =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

async function refreshOnce() {
  // Two tabs share one refresh cookie; a concurrent spend answers 409, so retry with the winner's.
  for (let attempt = 0; attempt < 4; attempt += 1) {
    let response;
    try {
      response = await fetch("/auth/refresh", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-Requested-With": "cardstream" },
      });
    } catch {
      throw new NetworkError("offline");
    }
    if (response.status === 409) {
      await pause(150 * (attempt + 1));
      continue;
    }
    if (!response.ok) return null;
    const body = await response.json();
    tokens = { access: body.access_token, read: body.read_token };
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(30, body.expires_in - 60) * 1000);
    tokenListeners.forEach((listener) => listener(tokens.read));
    return tokens;
  }
  return null;
}

export async function refresh() {
  if (navigator.locks) return navigator.locks.request("cardstream-refresh", refreshOnce);
  return refreshOnce();
}

// The read token (the WebSocket's), or null when signed out.
export async function token() {
  return (tokens ?? (await refresh()))?.read ?? null;
}

async function tokenFor(method, path) {
  const current = tokens ?? (await refresh());
  if (!current) return null;
  // The projector's own POST (notifications read) takes the read token, as its reads do.
  const reads = path.startsWith("/api/") && (method !== "POST" || path.startsWith("/api/notifications"));
  return reads ? current.read : current.access;
}

async function send(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  const current = await tokenFor(method, path);
  if (current) headers.Authorization = `Bearer ${current}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new NetworkError("the network is unreachable");
  }
  if (response.status === 401 && !retried) {
    tokens = null;
    if (await refresh()) return send(method, path, body, true);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const error = json?.error ?? {};
    throw new ApiError(response.status, error.code ?? `http_${response.status}`, error.message, error.details);
  }
  return json;
}

export const api = {
  me: () => send("GET", "/auth/me"),
  // Someone who has signed in at least once, by their address (exact, any case); 404 user_not_found otherwise.
  findUser: (email) => send("GET", `/auth/users?${new URLSearchParams({ email })}`),
  boards: () => send("GET", "/api/boards"),
  board: (boardId, { archived = false, minVersion } = {}) => {
    const query = new URLSearchParams();
    if (archived) query.set("archived", "true");
    if (minVersion) query.set("min_version", String(minVersion));
    const suffix = query.size ? `?${query}` : "";
    return send("GET", `/api/boards/${encodeURIComponent(boardId)}${suffix}`);
  },
  comments: (boardId, cardId, after = 0) =>
    send("GET", `/api/boards/${encodeURIComponent(boardId)}/cards/${encodeURIComponent(cardId)}/comments?limit=200${after ? `&after_version=${after}` : ""}`),
  notifications: () => send("GET", "/api/notifications"),
  markRead: (body) => send("POST", "/api/notifications/read", body),
  // The board as it was at a version or a time (docs/audit.md): folded from its log.
  boardAt: (boardId, { version, at }) => {
    const query = new URLSearchParams(version !== undefined ? { at_version: String(version) } : { at });
    return send("GET", `/api/boards/${encodeURIComponent(boardId)}?${query}`);
  },
  // History entries in version order; `query` takes the endpoint's filters (docs/audit.md).
  history: (boardId, query) => send("GET", `/api/boards/${encodeURIComponent(boardId)}/history?${new URLSearchParams(query)}`),
  createBoard: (command) => send("POST", "/api/boards", command),
  command: (boardId, command) => send("POST", `/api/boards/${encodeURIComponent(boardId)}/commands`, command),
  async logout() {
    try {
      await fetch("/auth/logout", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-Requested-With": "cardstream", ...(tokens ? { Authorization: `Bearer ${tokens.access}` } : {}) },
      });
    } finally {
      tokens = null;
      clearTimeout(refreshTimer);
    }
  },
};

export function isRetryable(error) {
  return error instanceof NetworkError || (error instanceof ApiError && (error.status >= 500 || error.status === 429));
}
