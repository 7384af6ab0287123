"""Columns in a real Chromium: added, renamed and archived from the board page, and moved with the
keyboard and with a pointer, seen by a second person live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from .conftest import User
from .steps import answer_prompt, api_columns, read_board, saved
from .test_board_in_browser import SEEN, Board, shoot


def titles(page: Page) -> Locator:
    return page.locator(".columns .column .column-title")


def column(page: Page, column_id: str) -> Locator:
    return page.locator(f'.columns .column[data-id="{column_id}"]')


def drag_column(page: Page, handle: Locator, target: Locator, *, side: str) -> None:
    """A pointer drag of a column by its handle onto the `side` edge of another column."""
    start = handle.bounding_box()
    goal = target.bounding_box()
    assert start is not None
    assert goal is not None
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    to_x = goal["x"] + (8 if side == "left" else goal["width"] - 8)
    to_y = goal["y"] + 20
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 6, y + 2, steps=3)
    page.mouse.move(to_x, to_y, steps=15)
    page.mouse.move(to_x + (-1 if side == "left" else 1), to_y, steps=2)
    page.mouse.up()


class TestColumnsFromTheBoardPage:
    def test_a_column_is_added_renamed_and_archived_and_listed_as_archived(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, {"To do": ["Spec"]})
        board.share(ada, bob, "editor")
        a, b = board.open(ada), board.open(bob)

        a.get_by_label("New column title").fill("Review")
        with saved(a) as added:
            a.get_by_role("button", name="Add column").click()
        review = added["command"]["payload"]["column_id"]
        expect(titles(a)).to_have_text(["To do", "Review"])
        expect(titles(b)).to_have_text(["To do", "Review"], timeout=SEEN)
        expect(a.get_by_label("New column title")).to_have_value("")
        assert api_columns(ada, board.id, version=added["version"]) == ["To do", "Review"]

        column(a, review).get_by_role("button", name="Rename").click()
        with saved(a) as renamed:
            answer_prompt(a, "Column title", "In review")
        expect(titles(a)).to_have_text(["To do", "In review"])
        expect(titles(b)).to_have_text(["To do", "In review"], timeout=SEEN)
        handle = column(a, review).get_by_role("button", name="Move column In review")
        expect(handle).to_have_count(1)
        assert api_columns(ada, board.id, version=renamed["version"]) == ["To do", "In review"]

        with saved(a) as archived:
            column(a, review).get_by_role("button", name="Archive").click()
        expect(titles(a)).to_have_text(["To do"])
        expect(titles(b)).to_have_text(["To do"], timeout=SEEN)
        assert api_columns(ada, board.id, version=archived["version"]) == ["To do"]
        everything = read_board(ada, board.id, archived=True)["board"]["columns"]
        assert [(c["title"], c["archived"]) for c in everything] == [
            ("To do", False),
            ("In review", True),
        ]

        a.get_by_role("button", name="Archived items").click()
        panel = a.get_by_role("complementary", name="Archived items")
        expect(panel.locator("h3:text-is('Columns') + ul > li")).to_contain_text(["In review"])
        expect(panel.locator("h3:text-is('Cards') + p")).to_have_text("None.")
        shoot(a, artifacts, "archived-column-listed")


class TestColumnOrder:
    def test_columns_move_with_the_keyboard_and_a_pointer_and_arrive_live(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, {"To do": ["One"], "Doing": ["Two"], "Done": ["Three"]})
        board.share(ada, bob, "editor")
        a, b = board.open(ada), board.open(bob)
        expect(titles(a)).to_have_text(["To do", "Doing", "Done"])

        handle = column(a, board.columns["Done"]).locator(".col-handle")
        expect(handle).to_have_accessible_name("Move column Done (left and right arrows)")
        handle.focus()
        with saved(a):
            a.keyboard.press("ArrowLeft")
        expect(titles(a)).to_have_text(["To do", "Done", "Doing"])
        expect(a.locator("#announcer")).to_have_text("Column moved to position 2 of 3.")
        expect(handle).to_be_focused()
        with saved(a):
            a.keyboard.press("ArrowLeft")
        expect(titles(a)).to_have_text(["Done", "To do", "Doing"])
        expect(handle).to_be_focused()
        with saved(a) as moved:
            a.keyboard.press("ArrowRight")
        expect(titles(a)).to_have_text(["To do", "Done", "Doing"])
        expect(handle).to_be_focused()
        expect(titles(b)).to_have_text(["To do", "Done", "Doing"], timeout=SEEN)
        assert api_columns(ada, board.id, version=moved["version"]) == ["To do", "Done", "Doing"]
        shoot(b, artifacts, "bob-after-keyboard-moves")

        with saved(a) as dragged:
            drag_column(
                a,
                column(a, board.columns["Doing"]).locator(".col-handle"),
                column(a, board.columns["To do"]),
                side="left",
            )
        expect(titles(a)).to_have_text(["Doing", "To do", "Done"])
        expect(titles(b)).to_have_text(["Doing", "To do", "Done"], timeout=SEEN)
        assert dragged["command"]["payload"] == {
            "column_id": board.columns["Doing"],
            "before_column_id": board.columns["To do"],
        }
        assert api_columns(ada, board.id, version=dragged["version"]) == ["Doing", "To do", "Done"]
        # Cards travel with their columns.
        expect(board.titles(b, "Doing")).to_have_text(["Two"])
        shoot(a, artifacts, "ada-after-drag")

        for page in (a, b):
            page.reload()
            expect(page.locator("#connection")).to_have_attribute(
                "data-state", "live", timeout=SEEN
            )
            expect(titles(page)).to_have_text(["Doing", "To do", "Done"])
