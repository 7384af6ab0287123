"""A column of 250 cards in a real Chromium: the first page of 100 is in the DOM, and scrolling
to the column's end renders more until the last card is there (web/js/board.js, PAGE = 100).
A check of the windowing's correctness; it makes no timing claim."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, expect

from .conftest import User
from .steps import read_board
from .test_board_in_browser import SEEN, Board, command, shoot

CARDS = 250
PAGE = 100


def scroll_to_end(body: Locator) -> None:
    body.evaluate("body => { body.scrollTop = body.scrollHeight; }")


class TestABigColumn:
    def test_renders_a_page_of_cards_and_more_as_its_end_scrolls_into_view(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada = sign_in(email("ada"))
        board = Board(ada, {"Backlog": [], "Done": ["Small"]})
        backlog = board.columns["Backlog"]
        names = [f"Item {n:03}" for n in range(1, CARDS + 1)]
        version = 0
        for name in names:
            card = {"column_id": backlog, "title": name, "card_id": str(uuid.uuid4())}
            version = command(ada, board.id, "AddCard", **card)["version"]
        read_board(ada, board.id, version=version)

        page = board.open(ada)
        column = page.locator(f'.column[data-id="{backlog}"]')
        cards = column.locator(".card")
        more = column.locator(".more")
        body = column.locator(".column-body")
        expect(column.locator(".count")).to_have_text(str(CARDS))
        expect(cards).to_have_count(PAGE)
        expect(more).to_have_text(f"{CARDS - PAGE} more…")
        expect(cards.locator(".card-title")).to_have_text(names[:PAGE])
        # The other column is short and whole.
        expect(board.titles(page, "Done")).to_have_text(["Small"])
        shoot(page, artifacts, "first-page")

        scroll_to_end(body)
        expect(cards).to_have_count(2 * PAGE, timeout=SEEN)
        expect(more).to_have_text(f"{CARDS - 2 * PAGE} more…")
        scroll_to_end(body)
        expect(cards).to_have_count(CARDS, timeout=SEEN)
        expect(more).to_have_text("")
        last = cards.last
        expect(last).to_have_attribute("aria-label", names[-1])
        last.scroll_into_view_if_needed()
        expect(last).to_be_in_viewport()
        expect(cards.locator(".card-title")).to_have_text(names)
        expect(column.locator(".count")).to_have_text(str(CARDS))
        shoot(page, artifacts, "scrolled-to-the-end")
