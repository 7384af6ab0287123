"""Accessibility in a real Chromium: axe-core's WCAG 2.1 A and AA rules over each page, panel and
dialog of the client, signed out and as owner, editor and viewer.

A violation of impact "serious" or "critical" fails the test, with every one listed; moderate and
minor ones, and what axe leaves to a person ("incomplete": the contrast of a one-glyph button,
or of initials under a picture), are printed (`pytest -rP` shows them), and every result is kept
in test-artifacts/browser/<test>/.

axe-core comes from the PyPI package axe-playwright-python (pinned in requirements.lock), which
bundles `axe.min.js` and runs it with `page.evaluate`. That goes through the DevTools protocol,
which the page's Content-Security-Policy does not govern, whereas an injected <script> (Playwright's
`add_script_tag(content=...)`) would be refused by `script-src 'self'`. So the pages are audited
under the very CSP nginx sends, with no `bypass_csp` that could hide a problem it causes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from cardstream_testing.fullstack import FullStack
from playwright.sync_api import Browser, Page, expect

from .conftest import User
from .steps import read_board
from .test_board_in_browser import SEEN, Board, command

WCAG_21_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("critical", "serious")
AXE = Axe()


def describe(result: dict[str, Any]) -> str:
    targets = "; ".join(" ".join(node["target"]) for node in result["nodes"])
    return f"{result['id']} ({result['impact']}): {result['help']} [{targets}]"


def settle(page: Page) -> None:
    """Waits for animations to end: axe reads colours and positions, which a FLIP move or the
    fade of a card that just arrived would make differ from the resting page."""
    page.wait_for_function(
        "() => document.getAnimations().every((a) => a.playState !== 'running')", timeout=SEEN
    )


def audit(page: Page, artifacts: Path, name: str) -> None:
    settle(page)
    options = {"runOnly": {"type": "tag", "values": WCAG_21_A_AA}}
    results: dict[str, Any] = AXE.run(page, options=options).response
    kept = {key: results[key] for key in ("testEngine", "url", "violations", "incomplete")}
    (artifacts / f"axe-{name}.json").write_text(json.dumps(kept, indent=2))
    assert results["passes"], f"axe checked nothing on {name}"
    engine = results["testEngine"]["version"]
    blocking = [v for v in results["violations"] if v["impact"] in BLOCKING]
    for result in results["violations"]:
        if result not in blocking:
            print(f"axe {engine} {name}: {describe(result)}")
    for result in results["incomplete"]:
        print(f"axe {engine} {name}, to review by hand: {describe(result)}")
    assert not blocking, f"axe {engine} on {name}:\n" + "\n".join(map(describe, blocking))


def furnished_board(owner: User, editor: User, viewer: User) -> Board:
    """Three open columns, a card with labels, a due date and an assignee, and an archived card and
    column so that the Archived items panel has rows with Restore buttons."""
    board = Board(
        owner,
        {
            "Backlog": ["Pricing page", "Onboarding emails", "Archived idea"],
            "In progress": ["Board view"],
            "Done": ["Sign in"],
            "Parked": ["Old plan"],
        },
    )
    board.share(owner, editor, "editor")
    board.share(owner, viewer, "viewer")
    command(
        owner,
        board.id,
        "EditCard",
        card_id=board.cards["Board view"],
        labels=["frontend", "p1"],
        due_date="2026-03-31T00:00:00Z",
        assignees=[editor.id],
    )
    command(owner, board.id, "ArchiveCard", card_id=board.cards["Archived idea"])
    command(owner, board.id, "ArchiveColumn", column_id=board.columns["Parked"])
    return board


def open_board(board: Board, user: User) -> Page:
    page = board.open(user)
    card = board.card(page, "Board view")
    expect(card.locator(".label")).to_have_text(["frontend", "p1"], timeout=SEEN)
    expect(card.locator(".due")).to_be_visible()
    expect(card.locator(".avatar")).to_have_count(1)
    return page


class TestAccessibility:
    def test_the_sign_in_page_has_no_serious_problems(
        self, browser: Browser, live_stack: FullStack, artifacts: Path
    ) -> None:
        context = browser.new_context(base_url=live_stack.url)
        try:
            page = context.new_page()
            answer = page.goto("/")
            # The audit runs under the CSP nginx sends (see the module's docstring).
            assert answer is not None
            assert "script-src 'self'" in (answer.headers.get("content-security-policy") or "")
            expect(page.get_by_role("heading", name="Sign in to cardstream")).to_be_visible(
                timeout=SEEN
            )
            audit(page, artifacts, "sign-in")
        finally:
            context.close()

    def test_the_boards_list_has_no_serious_problems(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada = sign_in(email("ada"))
        kept = Board(ada, {"To do": ["One"]})
        archived = command(ada, None, "CreateBoard", title="Last year")["board_id"]
        at = command(ada, archived, "ArchiveBoard")["version"]
        # The list is read once, without read-your-writes: load it once the read side has the
        # archive (a loaded run drew it as active and nothing redrew it).
        assert read_board(ada, archived, version=at)["board"]["archived"] is True
        page = ada.page
        page.goto("/")
        boards = page.get_by_role("list", name="Boards", exact=True)
        expect(boards.locator(f'[data-board-id="{kept.id}"]')).to_be_visible(timeout=SEEN)
        archive = page.get_by_role("list", name="Archived boards")
        expect(archive.locator(f'[data-board-id="{archived}"]')).to_be_visible(timeout=SEEN)
        audit(page, artifacts, "boards-list")

    def test_a_board_and_its_card_editor_have_no_serious_problems_for_an_editor(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob, vic = sign_in(email("ada")), sign_in(email("bob")), sign_in(email("vic"))
        board = furnished_board(ada, bob, vic)
        page = open_board(board, bob)
        expect(page.locator(".board-page")).not_to_have_class("read-only")
        audit(page, artifacts, "board-as-editor")

        # Mid keyboard drag: the card picked up with Space, moved a column to the right.
        board.card(page, "Pricing page").focus()
        page.keyboard.press("Space")
        page.keyboard.press("ArrowRight")
        lifted = board.card(page, "Pricing page")
        expect(lifted).to_have_class("card lifted")
        expect(lifted).to_have_attribute("aria-grabbed", "true")
        expect(board.column_list(page, "In progress")).to_contain_text("Pricing page")
        audit(page, artifacts, "card-lifted-with-the-keyboard")
        page.keyboard.press("Escape")
        expect(board.titles(page, "Backlog")).to_have_text(["Pricing page", "Onboarding emails"])

        board.card(page, "Board view").get_by_role("button", name="Edit Board view").click()
        editor = page.get_by_role("dialog", name="Card")
        expect(editor.get_by_label("Title")).to_have_value("Board view")
        expect(editor.get_by_label("Labels")).to_have_value("frontend, p1")
        audit(page, artifacts, "card-editor")
        editor.get_by_role("button", name="Cancel").click()
        expect(editor).to_be_hidden()

    def test_the_members_and_archived_items_panels_have_no_serious_problems(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob, vic = sign_in(email("ada")), sign_in(email("bob")), sign_in(email("vic"))
        board = furnished_board(ada, bob, vic)
        page = open_board(board, ada)
        page.get_by_role("button", name="Members").click()
        page.get_by_role("button", name="Archived items").click()
        members = page.get_by_role("complementary", name="Members")
        expect(members.locator(".member")).to_have_count(3)
        expect(members.get_by_role("button", name="Invite")).to_be_visible()
        archived = page.get_by_role("complementary", name="Archived items")
        expect(archived.get_by_role("button", name="Restore")).to_have_count(2, timeout=SEEN)
        audit(page, artifacts, "members-and-archived-items")

    def test_a_board_has_no_serious_problems_for_a_viewer(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob, vic = sign_in(email("ada")), sign_in(email("bob")), sign_in(email("vic"))
        board = furnished_board(ada, bob, vic)
        page = open_board(board, vic)
        expect(page.locator(".board-page")).to_have_class("board-page read-only")
        expect(page.locator(".banner")).to_be_visible()
        audit(page, artifacts, "board-as-viewer")
