"""Issue 14 in a real Chromium: two people tick one card's checklist and each sees the other live,
with the progress on the card face on both pages; axe-core finds no serious or critical problem
in the editor's checklist."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import User
from .steps import read_board, saved
from .test_accessibility_in_browser import audit
from .test_board_in_browser import SEEN, Board, shoot


def open_card(page: Page, board: Board, title: str) -> None:
    board.card(page, title).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#card-dialog")).to_be_visible()


def add_item(page: Page, text: str) -> None:
    with saved(page):
        page.get_by_label("New checklist item").fill(text)
        page.get_by_label("New checklist item").press("Enter")


def items(page: Page) -> Page:
    return page.locator("#card-checklist .checklist-item .checklist-text")


class TestChecklists:
    def test_two_people_tick_one_card_and_each_sees_the_other_live(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, {"To do": ["Release 3.0", "Blog post"], "Done": []})
        board.share(ada, bob, "editor")
        a, b = board.open(ada), board.open(bob)
        open_card(a, board, "Release 3.0")
        open_card(b, board, "Release 3.0")

        add_item(a, "Write the notes")
        add_item(a, "Tag the release")
        expect(items(b)).to_have_text(["Write the notes", "Tag the release"], timeout=SEEN)
        with saved(b):
            b.get_by_role("checkbox", name="Write the notes").check()
        expect(a.get_by_role("checkbox", name="Write the notes")).to_be_checked(timeout=SEEN)
        add_item(b, "Announce it")
        expect(items(a)).to_have_text(
            ["Write the notes", "Tag the release", "Announce it"], timeout=SEEN
        )
        # Reordered by keyboard alone: "Announce it" up one, before "Tag the release".
        with saved(a):
            a.get_by_role("button", name="Move Announce it up").click()
        expect(items(b)).to_have_text(
            ["Write the notes", "Announce it", "Tag the release"], timeout=SEEN
        )
        for page in (a, b):
            expect(page.locator("#card-checklist .checklist-progress")).to_have_text("1/3")
        shoot(b, artifacts, "checklist-in-the-editor")
        audit(b, artifacts, "card-editor-with-checklist")

        for page in (a, b):
            page.keyboard.press("Escape")
            expect(page.locator("#card-dialog")).to_be_hidden()
            badge = board.card(page, "Release 3.0").locator(".checklist-badge")
            expect(badge).to_have_text("☑ 1/3", timeout=SEEN)
            expect(board.card(page, "Blog post").locator(".checklist-badge")).to_have_count(0)
        shoot(a, artifacts, "progress-on-the-card-face")
        version = int(a.locator(".board-page").get_attribute("data-version") or "0")
        [card] = [
            c
            for c in read_board(ada, board.id, version=version)["cards"]
            if c["title"] == "Release 3.0"
        ]
        assert [(i["text"], i["checked"]) for i in card["checklist"]] == [
            ("Write the notes", True),
            ("Announce it", False),
            ("Tag the release", False),
        ]
        assert card["progress"] == {"done": 1, "total": 3}
