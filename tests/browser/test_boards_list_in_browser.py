"""The boards list (web/js/boards.js) in a real Chromium: create, rename, archive, restore."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from .conftest import User
from .steps import answer_prompt, read_board, saved
from .test_board_in_browser import SEEN, shoot


class BoardsList:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.active = page.get_by_role("list", name="Boards", exact=True)
        self.archived = page.get_by_role("list", name="Archived boards")

    def row(self, where: Locator, board_id: str) -> Locator:
        return where.locator(f'.board-row[data-board-id="{board_id}"]')

    def open(self) -> None:
        self.page.get_by_role("link", name="cardstream").click()
        expect(self.page.get_by_role("heading", name="Your boards")).to_be_visible()


def listed(user: User, board_id: str, version: int) -> dict[str, Any]:
    """The board's line in `GET /api/boards`, once the read side holds `version`."""
    read_board(user, board_id, version=version)
    answer = user.api("GET", "/api/boards")
    assert answer.ok, answer.text()
    lines = [b for b in answer.json()["boards"] if b["board_id"] == board_id]
    assert len(lines) == 1, answer.text()
    line: dict[str, Any] = lines[0]
    return line


class TestBoardsList:
    def test_a_board_is_created_renamed_archived_and_restored_from_the_list(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada = sign_in(email("ada"))
        page = ada.page
        boards = BoardsList(page)
        expect(page.get_by_role("heading", name="Your boards")).to_be_visible()
        expect(boards.active).to_have_text(["No boards yet: create one."])

        page.get_by_label("New board title").fill("Roadmap 2026")
        with saved(page, on_board=False) as created:
            page.get_by_role("button", name="Create board").click()
        board_id = created["board_id"]
        expect(page).to_have_url(re.compile(f"/boards/{board_id}$"))
        expect(page.locator("#board-title")).to_have_text("Roadmap 2026", timeout=SEEN)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=SEEN)
        assert listed(ada, board_id, created["version"]) | {"version": None} == {
            "board_id": board_id,
            "title": "Roadmap 2026",
            "archived": False,
            "role": "owner",
            "version": None,
        }

        boards.open()
        row = boards.row(boards.active, board_id)
        expect(row.get_by_role("link")).to_have_text("Roadmap 2026")
        expect(row.locator(".role")).to_have_text("owner")
        row.get_by_role("button", name="Rename").click()
        with saved(page, on_board=False) as renamed:
            answer_prompt(page, "Board title", "Roadmap 2027")
        expect(row.get_by_role("link")).to_have_text("Roadmap 2027")
        assert listed(ada, board_id, renamed["version"])["title"] == "Roadmap 2027"

        with saved(page, on_board=False) as archived:
            row.get_by_role("button", name="Archive").click()
        archived_row = boards.row(boards.archived, board_id)
        expect(archived_row.get_by_role("link")).to_have_text("Roadmap 2027")
        expect(boards.row(boards.active, board_id)).to_have_count(0)
        expect(archived_row.get_by_role("button")).to_have_text(["Restore"])
        shoot(page, artifacts, "archived")
        assert listed(ada, board_id, archived["version"])["archived"] is True

        page.reload()
        expect(archived_row.get_by_role("link")).to_have_text("Roadmap 2027", timeout=SEEN)
        expect(boards.row(boards.active, board_id)).to_have_count(0)

        with saved(page, on_board=False) as restored:
            archived_row.get_by_role("button", name="Restore").click()
        expect(row.get_by_role("link")).to_have_text("Roadmap 2027")
        expect(boards.row(boards.archived, board_id)).to_have_count(0)
        assert listed(ada, board_id, restored["version"])["archived"] is False

        page.reload()
        expect(row.get_by_role("link")).to_have_text("Roadmap 2027", timeout=SEEN)
        expect(row.get_by_role("button")).to_have_text(["Rename", "Archive"])
        expect(boards.archived.locator(".board-row")).to_have_count(0)
        shoot(page, artifacts, "restored")

        row.get_by_role("link").click()
        expect(page).to_have_url(re.compile(f"/boards/{board_id}$"))
        expect(page.locator("#board-title")).to_have_text("Roadmap 2027", timeout=SEEN)
