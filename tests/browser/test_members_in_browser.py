"""Issue 5, item 8 in a real Chromium: an owner invites by email, changes the role, removes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import User
from .test_board_in_browser import SEEN, Board, drag, shoot


def invite(page: Page, address: str, role: str) -> None:
    form = page.locator(".members-panel form.invite")
    form.locator("[name=email]").fill(address)
    form.locator("[name=role]").select_option(role)
    form.locator("button").click()


def members(board: Board, user: User) -> dict[str, str]:
    page = user.page.locator(f'.board-page[data-board-id="{board.id}"]')
    shown = (page.get_attribute("data-version") if page.count() else None) or "0"
    answer = user.api("GET", f"/api/boards/{board.id}?min_version={shown}")
    assert answer.ok, answer.text()
    assert answer.headers.get("x-projection-behind") is None, "the read side did not catch up"
    return {m["user_id"]: m["role"] for m in answer.json()["board"]["members"]}


class TestMembers:
    def test_an_invited_editor_can_drag_turns_read_only_as_viewer_and_loses_the_board(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bea = sign_in(email("ada")), sign_in(email("bea"))
        board = Board(ada, {"To do": ["Invite flow", "Roles"], "Done": []})
        a = board.open(ada)
        a.get_by_role("button", name="Members").click()
        status = a.locator(".members-panel .invite-status")

        invite(a, email("nobody"), "editor")
        expect(status).to_contain_text("ask them to sign in once, then invite again")
        # Bea signed in once (the fixture), under this address in lower case.
        invite(a, bea.email.upper(), "editor")
        expect(status).to_contain_text("Invited")
        row = a.locator(f'.members-panel .member[data-user="{bea.id}"]')
        expect(row).to_have_count(1, timeout=SEEN)
        expect(row.locator("select")).to_have_value("editor")
        shoot(a, artifacts, "ada-invited-bea")
        assert members(board, ada)[bea.id] == "editor"

        b = board.open(bea)
        expect(b.locator(".board-page")).not_to_have_class("board-page read-only")
        drag(b, board.card(b, "Invite flow"), board.column_list(b, "Done"))
        expect(board.titles(b, "Done")).to_have_text(["Invite flow"])
        expect(board.titles(a, "Done")).to_have_text(["Invite flow"], timeout=SEEN)
        assert board.read(ada)["Done"] == ["Invite flow"]

        row.locator("select").select_option("viewer")
        expect(b.locator(".board-page")).to_have_class("board-page read-only", timeout=SEEN)
        expect(b.locator(".drag-handle:visible")).to_have_count(0)
        expect(b.locator(".card-edit")).to_have_count(0)
        shoot(b, artifacts, "bea-as-viewer")
        assert members(board, ada)[bea.id] == "viewer"

        row.get_by_role("button", name="Remove").click()
        expect(b.locator("#messages .message")).to_contain_text("no longer a member", timeout=SEEN)
        expect(b).not_to_have_url(re.compile(f"/boards/{board.id}$"))
        expect(b.locator(f'.board-page[data-board-id="{board.id}"]')).to_have_count(0)
        shoot(b, artifacts, "bea-removed")
        assert bea.id not in members(board, ada)
        assert bea.api("GET", f"/api/boards/{board.id}").status in (403, 404)
