"""The Archived items panel in a real Chromium: a card archived in its editor is restored there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from .conftest import User
from .steps import read_board, saved
from .test_board_in_browser import SEEN, Board, shoot


class TestArchivedCards:
    def test_a_card_archived_in_its_editor_is_restored_from_archived_items_into_its_column(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, {"To do": ["Keep"], "Doing": ["First", "Archive me", "Last"]})
        board.share(ada, bob, "editor")
        a, b = board.open(ada), board.open(bob)
        card_id = board.cards["Archive me"]

        board.card(a, "Archive me").dblclick()
        editor = a.get_by_role("dialog", name="Card")
        expect(editor.get_by_label("Title")).to_have_value("Archive me")
        with saved(a) as archived:
            editor.get_by_role("button", name="Archive card").click()
        expect(editor).to_be_hidden()
        expect(board.titles(a, "Doing")).to_have_text(["First", "Last"])
        expect(board.titles(b, "Doing")).to_have_text(["First", "Last"], timeout=SEEN)
        assert board.read(ada)["Doing"] == ["First", "Last"]
        cards = read_board(ada, board.id, version=archived["version"], archived=True)["cards"]
        assert [(c["title"], c["archived"]) for c in cards if c["card_id"] == card_id] == [
            ("Archive me", True)
        ]

        a.get_by_role("button", name="Archived items").click()
        panel = a.get_by_role("complementary", name="Archived items")
        row = panel.locator(f'.archived-cards li[data-id="{card_id}"]')
        expect(row).to_contain_text("Archive me", timeout=SEEN)
        expect(panel.locator(".archived-cards li")).to_have_count(1)
        shoot(a, artifacts, "archived-items")

        with saved(a) as restored:
            row.get_by_role("button", name="Restore").click()
        expect(row).to_have_count(0)
        expect(board.titles(a, "Doing")).to_have_text(["First", "Archive me", "Last"])
        expect(board.titles(b, "Doing")).to_have_text(["First", "Archive me", "Last"], timeout=SEEN)
        shoot(b, artifacts, "bob-sees-it-restored")
        detail = read_board(ada, board.id, version=restored["version"])
        doing = [c["title"] for c in detail["cards"] if c["column_id"] == board.columns["Doing"]]
        assert doing == ["First", "Archive me", "Last"]

        a.reload()
        expect(a.locator("#connection")).to_have_attribute("data-state", "live", timeout=SEEN)
        expect(board.titles(a, "Doing")).to_have_text(["First", "Archive me", "Last"])
        a.get_by_role("button", name="Archived items").click()
        expect(panel.locator("h3:text-is('Cards') + p")).to_have_text("None.", timeout=SEEN)
