"""Issue 14, items 4 and 5 in a real Chromium, two people on one board: a column at its WIP limit
refuses a move (it snaps back, and both pages agree on every card), under "warn" it takes it and
both show the column over its limit; a label filter fades the other cards, lives in the URL, and
a second page opened at that URL shows the same filter. axe audits both."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import User
from .steps import answer_prompt, saved
from .test_accessibility_in_browser import audit, settle
from .test_board_in_browser import SEEN, Board, command, drag, shoot


def column(board: Board, page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.column[data-id="{board.columns[title]}"]')


def count(board: Board, page: Page, title: str):  # type: ignore[no-untyped-def]
    return column(board, page, title).locator(".column-header .count")


class TestWipLimits:
    def test_a_full_column_refuses_a_move_under_enforce_and_takes_it_under_warn(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, {"To do": ["Alpha", "Beta"], "Doing": ["Busy"]})
        board.share(ada, bob, "editor")
        a, b = board.open(ada), board.open(bob)

        # Bob (an editor) sets the limit with the column's control; Ada sees it live.
        column(board, b, "Doing").get_by_role("button", name="WIP limit of Doing").click()
        with saved(b):
            answer_prompt(b, "WIP limit of Doing (1 to 5000; 0 for none)", "1")
        for page in (a, b):
            expect(count(board, page, "Doing")).to_have_text("1 / 1", timeout=SEEN)
            expect(column(board, page, "Doing")).to_have_class(re.compile(r"\bwip-full\b"))

        # The count's new line moved the cards down, animated (flip.js): drag from where they rest.
        settle(a)
        drag(a, board.card(a, "Alpha"), board.card(a, "Busy"), where="top")
        expect(a.locator("#messages .message")).to_contain_text("wip_limit_reached", timeout=SEEN)
        expect(a.locator("#messages .message")).to_contain_text("WIP limit of 1")
        for page in (a, b):
            expect(board.titles(page, "To do")).to_have_text(["Alpha", "Beta"], timeout=SEEN)
            expect(board.titles(page, "Doing")).to_have_text(["Busy"])
        expect(a.locator(".board-page")).to_have_attribute("data-pending", "0", timeout=SEEN)
        shoot(a, artifacts, "ada-move-refused")
        assert board.read(ada) == {"To do": ["Alpha", "Beta"], "Doing": ["Busy"]}
        assert board.read(bob) == board.read(ada)

        # Ada (the owner) lets the board only warn; the same move is taken, over the limit.
        policy = a.get_by_role("combobox", name="WIP limit policy")
        with saved(a):
            policy.select_option("warn")
        expect(b.locator(".board-page")).to_have_attribute(
            "data-version",
            a.locator(".board-page").get_attribute("data-version") or "",
            timeout=SEEN,
        )
        settle(a)
        with saved(a):
            drag(a, board.card(a, "Alpha"), board.card(a, "Busy"), where="top")
        for page in (a, b):
            expect(board.titles(page, "Doing")).to_have_text(["Alpha", "Busy"], timeout=SEEN)
            expect(count(board, page, "Doing")).to_have_text("2 / 1")
            expect(count(board, page, "Doing")).to_have_attribute(
                "title", "2 cards, WIP limit 1, over the limit"
            )
            expect(column(board, page, "Doing")).to_have_class(re.compile(r"\bwip-over\b"))
        shoot(b, artifacts, "bob-sees-doing-over-its-limit")
        assert board.read(ada) == {"To do": ["Beta"], "Doing": ["Alpha", "Busy"]}
        detail = ada.api("GET", f"/api/boards/{board.id}").json()["board"]
        assert detail["wip_policy"] == "warn"
        assert {c["title"]: c.get("wip_limit") for c in detail["columns"]} == {
            "To do": None,
            "Doing": 1,
        }
        audit(a, artifacts, "wip-over-limit-as-owner")


class TestFilter:
    def test_a_label_filter_fades_the_others_lives_in_the_url_and_opens_the_same_elsewhere(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, {"To do": ["Fix login", "Write docs"], "Doing": ["Crash on save"]})
        board.share(ada, bob, "editor")
        command(ada, board.id, "EditCard", card_id=board.cards["Fix login"], labels=["bug"])
        command(ada, board.id, "EditCard", card_id=board.cards["Write docs"], labels=["docs"])
        command(ada, board.id, "EditCard", card_id=board.cards["Crash on save"], labels=["bug"])
        a = board.open(ada)
        expect(board.card(a, "Write docs").locator(".label")).to_have_text(["docs"], timeout=SEEN)

        a.get_by_role("combobox", name="Filter by label").select_option("bug")
        expect(a).to_have_url(re.compile(r"\?label=bug$"))
        expect(board.card(a, "Write docs")).to_have_class(re.compile(r"\bfaded\b"))
        for title in ("Fix login", "Crash on save"):
            expect(board.card(a, title)).not_to_have_class(re.compile(r"\bfaded\b"))
        expect(a.locator(".filter-status")).to_have_text("2 of 3 cards match")
        # Faded, not moved: every card is where it was.
        expect(board.titles(a, "To do")).to_have_text(["Fix login", "Write docs"])
        shoot(a, artifacts, "ada-filters-by-bug")
        audit(a, artifacts, "board-filtered-by-label")

        b = bob.page
        b.goto(a.url)
        expect(b.locator("#connection")).to_have_attribute("data-state", "live", timeout=SEEN)
        expect(b.get_by_role("combobox", name="Filter by label")).to_have_value("bug", timeout=SEEN)
        expect(board.card(b, "Write docs")).to_have_class(re.compile(r"\bfaded\b"))
        expect(board.card(b, "Fix login")).not_to_have_class(re.compile(r"\bfaded\b"))

        # Live: a card that gains the label stops fading on the filtered page.
        command(
            ada, board.id, "EditCard", card_id=board.cards["Write docs"], labels=["docs", "bug"]
        )
        expect(board.card(b, "Write docs")).not_to_have_class(
            re.compile(r"\bfaded\b"), timeout=SEEN
        )

        # Text search narrows further, by title; the clear button takes it all away.
        search = a.get_by_role("searchbox", name="Search card titles and descriptions")
        search.fill("LOGIN")
        expect(a).to_have_url(re.compile(r"label=bug&q=LOGIN$|q=LOGIN&label=bug$"))
        expect(board.card(a, "Crash on save")).to_have_class(re.compile(r"\bfaded\b"))
        expect(board.card(a, "Fix login")).not_to_have_class(re.compile(r"\bfaded\b"))
        a.get_by_role("button", name="Clear filter").click()
        expect(a).to_have_url(re.compile(f"/boards/{board.id}$"))
        expect(a.locator(".card.faded")).to_have_count(0)
        expect(search).to_be_focused()
