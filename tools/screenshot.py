"""The README's screenshot, docs/images/board.png, made again from a running product.

`make screenshot` (or `.venv/bin/python tools/screenshot.py [path]`): the whole stack as the
browser tests run it (private Redis and FerretDB, the local identity provider, the services and
nginx serving web/), a board written through the command API by two people (labels, due dates,
assignees, a WIP limit, a checklist, a comment with a mention, a move), then the owner's page in
headless Chromium at 1400 by 900 with the Activity panel open. Nothing here is drawn by hand: what
the picture shows is what the product did.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardstream_testing.fullstack import CHROMIUM, CHROMIUM_ARGS, private_stack
from playwright.sync_api import APIRequestContext, Browser, Page, Playwright, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "board.png"
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 15_000


@dataclass
class Person:
    id: str
    page: Page
    http: APIRequestContext
    access_token: str

    def command(self, board_id: str | None, type_: str, **payload: Any) -> dict[str, Any]:
        body = {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload}
        path = "/api/boards" if board_id is None else f"/api/boards/{board_id}/commands"
        headers = {"Authorization": f"Bearer {self.access_token}"}
        answer = self.http.post(path, data=body, headers=headers)
        if not answer.ok:
            raise SystemExit(f"{type_} got {answer.status}: {answer.text()}")
        result: dict[str, Any] = answer.json()
        return result


def sign_in(browser: Browser, playwright: Playwright, url: str, email: str) -> Person:
    context = browser.new_context(base_url=url, viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"/auth/login?login_hint={email}")
    page.locator("#account").wait_for(state="visible", timeout=TIMEOUT_MS)
    http = playwright.request.new_context(base_url=url)
    answer = http.get(f"/auth/login?login_hint={email}", headers={"Accept": "application/json"})
    if not answer.ok:
        raise SystemExit(f"signing in {email} got {answer.status}: {answer.text()}")
    user_id = page.locator("body").get_attribute("data-user-id") or ""
    return Person(user_id, page, http, str(answer.json()["access_token"]))


def write_board(ada: Person, bob: Person) -> str:
    board_id = str(ada.command(None, "CreateBoard", title="Launch plan")["board_id"])
    ada.command(board_id, "AddMember", user_id=bob.id, role="editor", name="Bob Baker")
    columns = {title: str(uuid.uuid4()) for title in ("Backlog", "In progress", "Review", "Done")}
    for title, column_id in columns.items():
        ada.command(board_id, "AddColumn", title=title, column_id=column_id)
    ada.command(board_id, "ChangeColumnWipLimit", column_id=columns["In progress"], limit=3)
    cards: dict[str, str] = {}

    def card(column: str, title: str, **fields: Any) -> None:
        cards[title] = str(uuid.uuid4())
        ada.command(
            board_id,
            "AddCard",
            column_id=columns[column],
            title=title,
            card_id=cards[title],
            **fields,
        )

    card("Backlog", "Pricing page", labels=["marketing"])
    card("Backlog", "Onboarding emails", labels=["marketing"], due_date="2027-01-15T17:00:00Z")
    card("Backlog", "SSO", labels=["security"])
    card(
        "In progress",
        "Board view, live",
        labels=["frontend", "p1"],
        assignees=[bob.id],
        due_date="2026-12-18T17:00:00Z",
    )
    card("In progress", "Presence", assignees=[ada.id])
    card("Review", "Offline queue", labels=["frontend"])
    card("Done", "Sign in", labels=["security"])
    live = cards["Board view, live"]
    items = [str(uuid.uuid4()) for _ in range(4)]
    texts = ("Drag and drop", "Live updates", "Keyboard moves", "Screen reader labels")
    for item_id, text in zip(items, texts, strict=True):
        ada.command(board_id, "AddChecklistItem", card_id=live, text=text, item_id=item_id)
    for item_id in items[:2]:
        bob.command(board_id, "CheckChecklistItem", card_id=live, item_id=item_id)
    bob.command(
        board_id,
        "AddComment",
        card_id=live,
        body=f"<@{ada.id}> the drag animation is in: could you **review** it?",
    )
    bob.command(
        board_id, "MoveCard", card_id=cards["Offline queue"], column_id=columns["In progress"]
    )
    return board_id


def main(out: Path) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="cardstream-screenshot-") as tmp,
        private_stack(Path(tmp), mongo_db="screenshot", web_root=ROOT / "web") as running,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            ada = sign_in(browser, pw, running.url, "ada@example.com")
            bob = sign_in(browser, pw, running.url, "bob@example.com")
            board_id = write_board(ada, bob)
            page = ada.page
            page.goto(f"/boards/{board_id}")
            page.locator("#connection[data-state=live]").wait_for(timeout=TIMEOUT_MS)
            page.locator(".card", has_text="Offline queue").wait_for(timeout=TIMEOUT_MS)
            page.get_by_role("button", name="Activity").click()
            entries = page.locator(".activity-panel .activity-entry")
            entries.nth(9).wait_for(timeout=TIMEOUT_MS)
            page.locator(".bell-count").wait_for(timeout=TIMEOUT_MS)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=out, animations="disabled")
        finally:
            browser.close()
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
