"""`web/js/model.js` in Chromium, without the stack: the confirmed board and the pending commands
on top of it, fed by hand every order in which a page can hear of two concurrent moves and of
its own command's answer (issue 12, finding 11: two pages at one version, two orders).

The moves are decided by the boards domain's own `place`, so the order keys are the server's; what
the read model shows at each version is those keys sorted by `(key, id)` (docs/adr/005).
"""

from __future__ import annotations

import itertools
import mimetypes
from collections.abc import Iterator
from typing import Any

import pytest
from boards.domain.ordering import place
from playwright.sync_api import Browser, Page, Route

from .conftest import WEB_ROOT

ORIGIN = "http://cardstream.test"
BOARD = "6f1c2b8e-3a41-4f6e-9d2a-0c5b7e8f9a10"
TODO, DONE = "00000000-0000-4000-8000-00000000c001", "00000000-0000-4000-8000-00000000c002"
CARDS = {  # title -> id
    "Alpha": "00000000-0000-4000-8000-0000000000a1",
    "Beta": "00000000-0000-4000-8000-0000000000b2",
    "Gamma": "00000000-0000-4000-8000-0000000000c3",
    "Omega": "00000000-0000-4000-8000-0000000000f4",
}
COLUMNS = {TODO: "To do", DONE: "Done"}
START = 6  # the version both pages first hold
INITIAL = {  # card id -> (column id, order key) at START
    CARDS["Alpha"]: (TODO, "a0"),
    CARDS["Beta"]: (TODO, "a1"),
    CARDS["Gamma"]: (TODO, "a2"),
    CARDS["Omega"]: (DONE, "a0"),
}


class Server:
    """The board's cards as the server holds them: column and order key, moved by `place`."""

    def __init__(self) -> None:
        self.cards = dict(INITIAL)
        self.version = START
        self.log: list[dict[str, Any]] = []
        self.seen = {START: self.order()}

    def lane(self, column: str, without: str) -> list[tuple[str, Any]]:
        return sorted((k, i) for i, (c, k) in self.cards.items() if c == column and i != without)

    def move(self, command: dict[str, Any]) -> int:
        p = command["payload"]
        lane = self.lane(p["column_id"], p["card_id"])
        anchor = next(((k, i) for k, i in lane if i == p["before_card_id"]), None)
        slot = place(lane, before=anchor)
        assert not slot.rebalanced
        previous = self.cards[p["card_id"]]
        self.cards[p["card_id"]] = (p["column_id"], slot.key)
        self.version += 1
        payload = {
            "card_id": p["card_id"],
            "from_column_id": previous[0],
            "to_column_id": p["column_id"],
            "position": slot.key,
            "previous_position": previous[1],
            "after_card_id": slot.after,
            "before_card_id": slot.before,
        }
        self.log.append(
            {
                "version": self.version,
                "type": "CardMoved",
                "command_id": command["command_id"],
                "payload": payload,
            }
        )
        self.seen[self.version] = self.order()
        return self.version

    def order(self) -> dict[str, list[str]]:
        titles = {i: t for t, i in CARDS.items()}
        return {
            name: [titles[i] for _, i in self.lane(column, without="")]
            for column, name in COLUMNS.items()
        }

    def snapshot(self, version: int) -> dict[str, Any]:
        """What the read model serves at `version`: the cards as they were then."""
        cards = dict(INITIAL)
        for event in self.log:
            if event["version"] <= version:
                p = event["payload"]
                cards[p["card_id"]] = (p["to_column_id"], p["position"])
        titles = {i: t for t, i in CARDS.items()}
        return {
            "board": {
                "board_id": BOARD,
                "version": version,
                "title": "Launch plan",
                "archived": False,
                "columns": [
                    {"column_id": TODO, "title": "To do", "position": "a0", "archived": False},
                    {"column_id": DONE, "title": "Done", "position": "a1", "archived": False},
                ],
                "members": [
                    {"user_id": "ada", "role": "owner"},
                    {"user_id": "bob", "role": "editor"},
                ],
            },
            "cards": [
                {
                    "card_id": i,
                    "column_id": c,
                    "position": k,
                    "title": titles[i],
                    "description": "",
                    "labels": [],
                    "assignees": [],
                    "due_date": None,
                    "archived": False,
                }
                for i, (c, k) in sorted(cards.items(), key=lambda item: (item[1][1], item[0]))
            ],
        }


def move_before_omega(title: str) -> dict[str, Any]:
    return {
        "command_id": CARDS[title].replace("-0000000000", "-00000000d0"),
        "type": "MoveCard",
        "payload": {"card_id": CARDS[title], "column_id": DONE, "before_card_id": CARDS["Omega"]},
    }


# How the two events (E1, E2) and snapshots (S1 at START+1, S2 at START+2) can reach a page: one
# message each, both in one, a resync to a snapshot (also one from a read model behind the events
# already applied, which the events after it then cover; docs/websocket.md, Delivery 3).
DELIVERIES: list[list[tuple[str, Any]]] = [
    [("events", [1]), ("events", [2])],
    [("events", [1, 2])],
    [("snapshot", 2)],
    [("events", [1]), ("snapshot", 2)],
    [("snapshot", 1), ("events", [2])],
    [("events", [1]), ("events", [2]), ("snapshot", 1), ("events", [2])],
]


def schedules() -> Iterator[list[tuple[str, Any]]]:
    """Each delivery with the page's own answer at every place among its messages."""
    for delivery in DELIVERIES:
        for at in range(len(delivery) + 1):
            yield [*delivery[:at], ("answer", None), *delivery[at:]]


# Runs one schedule on a fresh BoardModel; returns what broke, as sentences.
RUN = """
async ({ start, snapshots, log, command, ownVersion, schedule, seen, columns }) => {
  const { BoardModel } = await import("/js/model.js");
  const model = new BoardModel(snapshots[start].board.board_id);
  model.loadSnapshot(start, snapshots[start]);
  const entry = { command, state: "sending" };
  model.add(entry);
  const titles = () => {
    const view = model.view();
    const named = Object.entries(columns);
    return Object.fromEntries(named.map(([id, n]) => [n, view.lists.get(id).map((c) => c.title)]));
  };
  const broken = [];
  let ownHeard = false;
  for (const [kind, arg] of schedule) {
    if (kind === "answer") {
      entry.state = "acked";
      entry.ackVersion = ownVersion;
      model.settle();
    } else if (kind === "snapshot") {
      model.loadSnapshot(start + arg, snapshots[start + arg]);
    } else {
      const events = arg.map((n) => log[n - 1]);
      if (!model.applyEvents(events)) broken.push(`events ${arg} did not follow on`);
      if (events.some((e) => e.version === ownVersion)) ownHeard = true;
    }
    const at = model.version;
    const shown = JSON.stringify(titles());
    const truth = JSON.stringify(seen[at]);
    const step = `after ${kind} ${arg ?? ""} at version ${at}`;
    // Once our own events have come in, nothing of ours is a guess any more.
    const confirmed = ownHeard && at >= ownVersion;
    if ((confirmed || !model.pending.length) && shown !== truth)
      broken.push(`${step}: shows ${shown}, the server ${truth}`);
    if (confirmed && model.pending.length) broken.push(`${step}: ours came, still pending`);
  }
  if (model.pending.length) broken.push(`at the end, ${model.pending.length} still pending`);
  const [shown, truth] = [JSON.stringify(titles()), JSON.stringify(seen[model.version])];
  if (shown !== truth) broken.push(`at the end shows ${shown}, the server ${truth}`);
  return broken;
}
"""


@pytest.fixture(scope="module")
def model_page(browser: Browser) -> Iterator[Page]:
    """A page of our own origin whose files are web/'s, served from disk: no stack needed."""
    context = browser.new_context()

    def serve(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN).split("?")[0]
        if path == "/":
            # index.html would start the app (and ask /auth); a blank page of the origin will do.
            route.fulfill(body="<!doctype html><title>model</title>", content_type="text/html")
            return
        file = (WEB_ROOT / path.lstrip("/")).resolve()
        if not file.is_relative_to(WEB_ROOT) or not file.is_file():
            route.fulfill(status=404, body="")
            return
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        route.fulfill(status=200, body=file.read_bytes(), content_type=kind)

    context.route(f"{ORIGIN}/**", serve)
    page = context.new_page()
    page.goto(f"{ORIGIN}/")
    yield page
    context.close()


@pytest.mark.parametrize(
    "first", ["Alpha", "Gamma"], ids=["ada-decided-first", "bob-decided-first"]
)
class TestTwoConcurrentMovesIntoOneSlot:
    def test_every_page_shows_the_servers_order_once_its_own_move_is_confirmed(
        self, model_page: Page, first: str
    ) -> None:
        # ada drops Alpha before Omega, bob drops Gamma before Omega; the server takes `first`'s
        # command first, and the other lands between it and Omega.
        server = Server()
        commands = {"ada": move_before_omega("Alpha"), "bob": move_before_omega("Gamma")}
        owner = {"Alpha": "ada", "Gamma": "bob"}
        order = [owner[first], *(u for u in commands if u != owner[first])]
        versions = {user: server.move(commands[user]) for user in order}
        assert server.seen[START + 2]["Done"] in (
            ["Alpha", "Gamma", "Omega"],
            ["Gamma", "Alpha", "Omega"],
        )
        snapshots = {v: server.snapshot(v) for v in server.seen}
        broken: list[str] = []
        runs = 0
        for user, schedule in itertools.product(order, schedules()):
            found = model_page.evaluate(
                RUN,
                {
                    "start": START,
                    "snapshots": snapshots,
                    "log": server.log,
                    "command": commands[user],
                    "ownVersion": versions[user],
                    "schedule": schedule,
                    "seen": server.seen,
                    "columns": COLUMNS,
                },
            )
            runs += 1
            broken += [f"{user}'s page, {schedule}: {line}" for line in found]
        assert runs == 2 * sum(len(d) + 1 for d in DELIVERIES)
        assert not broken, "\n".join(broken)
