// One WebSocket to /ws: authenticates, follows one board, and after any drop reconnects and
// subscribes again from the last version the caller holds, so nothing is missed or reloaded.
import { onToken, refresh, token } from "./api.js";

const PING_EVERY_MS = 10000;
const PONG_WITHIN_MS = 5000;

export class Live extends EventTarget {
  constructor() {
    super();
    this.ws = null;
    this.state = "idle";
    this.follow = null; // { boardId, since: () => number|null }
    this.attempt = 0;
    this.timers = {};
    window.addEventListener("offline", () => this.drop("offline"));
    window.addEventListener("online", () => this.connect());
    onToken((fresh) => this.sendJson({ type: "auth", token: fresh }));
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  watch(boardId, since) {
    this.unwatch();
    this.follow = { boardId, since };
    if (this.ws?.readyState === WebSocket.OPEN && this.authed) this.subscribe();
    else this.connect();
  }

  unwatch() {
    if (this.follow && this.ws?.readyState === WebSocket.OPEN) {
      this.sendJson({ type: "unsubscribe", board_id: this.follow.boardId });
    }
    this.follow = null;
  }

  subscribe() {
    if (!this.follow) return;
    const since = this.follow.since();
    const message = { type: "subscribe", board_id: this.follow.boardId };
    if (since !== null && since !== undefined) message.since_version = since;
    this.setState("syncing");
    this.sendJson(message);
  }

  // After a gap or a card we cannot show: start again from a snapshot.
  resubscribe() {
    if (!this.follow || this.ws?.readyState !== WebSocket.OPEN) return;
    this.sendJson({ type: "unsubscribe", board_id: this.follow.boardId });
    this.subscribe();
  }

  sendJson(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  connect() {
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.timers.retry);
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    this.authed = false;
    ws.addEventListener("open", async () => {
      const current = await token().catch(() => null);
      if (ws !== this.ws) return;
      if (!current) {
        ws.close();
        return;
      }
      ws.send(JSON.stringify({ type: "auth", token: current }));
      this.authed = true;
      this.attempt = 0;
      this.heartbeat();
      this.dispatchEvent(new CustomEvent("open"));
      if (this.follow) this.subscribe();
      else this.setState("live");
    });
    ws.addEventListener("message", (event) => this.receive(event));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  receive(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    clearTimeout(this.timers.pong);
    if (message.type === "pong") return;
    if ((message.type === "snapshot" || message.type === "events") && this.follow) this.setState("live");
    this.dispatchEvent(new CustomEvent("message", { detail: message }));
  }

  heartbeat() {
    clearInterval(this.timers.ping);
    this.timers.ping = setInterval(() => {
      this.sendJson({ type: "ping" });
      clearTimeout(this.timers.pong);
      this.timers.pong = setTimeout(() => this.drop("silent"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  drop(reason) {
    const ws = this.ws;
    if (ws) {
      this.ws = null;
      ws.close();
      this.closed(ws, { code: 4000, reason });
    } else if (reason === "offline") {
      this.setState("offline");
    }
  }

  closed(ws, event) {
    if (ws.csHandled) return;
    ws.csHandled = true;
    if (this.ws && ws !== this.ws) return;
    this.ws = null;
    this.authed = false;
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.pong);
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    this.setState("reconnecting");
    this.attempt += 1;
    const delay = Math.min(250 * 2 ** Math.min(this.attempt, 4), 4000) * (0.75 + Math.random() / 2);
    const again = async () => {
      if (event.code === 4401) {
        try {
          if (!(await refresh())) {
            // Signed out: nothing will reconnect, so the badge must not say it is trying.
            this.setState("idle");
            this.dispatchEvent(new CustomEvent("signedout"));
            return;
          }
        } catch {
          // offline: try again later
        }
      }
      this.connect();
    };
    this.timers.retry = setTimeout(again, delay);
  }
}
