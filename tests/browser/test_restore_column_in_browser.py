"""An archived column restored from the "Archived items" panel, in a real Chromium: it comes back
in its place with its cards, for whoever restored it and for someone whose snapshot lacked it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import User
from .test_board_in_browser import SEEN, Board, command, shoot

COLUMNS = {
    "To do": ["Write spec"],
    "Doing": ["Hire", "Interview", "Onboard"],
    "Done": ["Ship"],
}


def expect_columns(page: Page, titles: list[str]) -> None:
    expect(page.locator(".column .column-title")).to_have_text(titles, timeout=SEEN)


def expect_version(page: Page, version: int) -> None:
    expect(page.locator(".board-page")).to_have_attribute(
        "data-version", str(version), timeout=SEEN
    )


def head(board: Board, user: User) -> int:
    """The board's version: a command that changes nothing answers with it."""
    version: int = command(user, board.id, "RenameBoard", title="Launch plan")["version"]
    return version


def read_at(board: Board, user: User, version: int) -> dict[str, list[str]]:
    """The read model once it has reached `version` (the read waits for it, bounded)."""
    answer = user.api("GET", f"/api/boards/{board.id}?min_version={version}")
    assert answer.ok, answer.text()
    return board.read(user)


class TestRestoreColumn:
    def test_a_restored_column_comes_back_in_its_place_with_its_cards_for_everyone(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, COLUMNS)
        board.share(ada, bob, "editor")
        before = head(board, ada)
        a = board.open(ada)
        expect_columns(a, ["To do", "Doing", "Done"])

        a.locator(f'.column[data-id="{board.columns["Doing"]}"] .col-archive').click()
        expect_columns(a, ["To do", "Done"])
        expect_version(a, before + 1)
        archived = read_at(board, ada, before + 1)
        assert list(archived.items()) == [("To do", ["Write spec"]), ("Done", ["Ship"])]
        # Bob opens the board after the archive: his snapshot has neither the column nor its cards.
        b = board.open(bob)
        expect_columns(b, ["To do", "Done"])

        a.get_by_role("button", name="Archived items").click()
        row = a.locator(f'.archived-columns li[data-id="{board.columns["Doing"]}"]')
        expect(row).to_contain_text("Doing", timeout=SEEN)
        expect(a.locator(".archived-panel")).not_to_contain_text("cannot be restored")
        shoot(a, artifacts, "archived-panel")
        row.get_by_role("button", name="Restore").click()

        expect(row).to_have_count(0)
        for page in (a, b):
            expect_columns(page, ["To do", "Doing", "Done"])
            expect(board.titles(page, "Doing")).to_have_text(["Hire", "Interview", "Onboard"])
            expect(board.titles(page, "To do")).to_have_text(["Write spec"])
            expect(board.titles(page, "Done")).to_have_text(["Ship"])
            expect_version(page, before + 2)
        shoot(a, artifacts, "ada-after-restore")
        shoot(b, artifacts, "bob-after-restore")
        assert list(read_at(board, ada, before + 2).items()) == list(COLUMNS.items())

        a.reload()
        expect(a.locator("#connection")).to_have_attribute("data-state", "live", timeout=SEEN)
        expect_columns(a, ["To do", "Doing", "Done"])
        expect(board.titles(a, "Doing")).to_have_text(["Hire", "Interview", "Onboard"])

    def test_a_viewer_sees_archived_columns_without_a_restore_button(
        self, sign_in: Callable[[str], User], email: Callable[[str], str]
    ) -> None:
        ada, vic = sign_in(email("ada")), sign_in(email("vic"))
        board = Board(ada, COLUMNS)
        board.share(ada, vic, "viewer")
        command(ada, board.id, "ArchiveColumn", column_id=board.columns["Doing"])
        v = board.open(vic)

        v.get_by_role("button", name="Archived items").click()
        row = v.locator(f'.archived-columns li[data-id="{board.columns["Doing"]}"]')
        expect(row).to_contain_text("Doing", timeout=SEEN)
        expect(row.get_by_role("button", name="Restore")).to_have_count(0)
        expect_columns(v, ["To do", "Done"])
