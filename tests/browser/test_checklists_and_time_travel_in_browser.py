"""Issue 14 in a real Chromium: two people tick one card's checklist and each sees the other live,
with the progress on the card face on both pages; the time-travel view of an earlier version shows
what `GET /api/boards/{id}?at_version=` answers and changes nothing; the activity panel shows a
new event live. axe-core finds no serious or critical problem in the new panels."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, Request, expect

from .conftest import User
from .steps import read_board, saved
from .test_accessibility_in_browser import audit
from .test_board_in_browser import SEEN, Board, command, shoot


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


def shown_board(page: Page) -> dict[str, list[str]]:
    """Columns in order, each with its card titles in order, as the page draws them."""
    result: dict[str, list[str]] = {}
    for column in page.locator(".columns > .column").all():
        title = column.locator(".column-title").inner_text()
        result[title] = column.locator(".card .card-title").all_inner_texts()
    return result


def api_board(detail: dict) -> dict[str, list[str]]:
    names = {c["column_id"]: c["title"] for c in detail["board"]["columns"]}
    result: dict[str, list[str]] = {title: [] for title in names.values()}
    for card in detail["cards"]:
        result[names[card["column_id"]]].append(card["title"])
    return result


def version_of(page: Page) -> int:
    return int(page.locator(".board-page").get_attribute("data-version") or "0")


class TestTimeTravel:
    def test_an_earlier_version_shows_what_the_api_answers_and_changes_nothing(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada = sign_in(email("ada"))
        board = Board(ada, {"To do": ["Pricing", "Onboarding", "SSO"], "Doing": ["Search"]})
        then = command(ada, board.id, "AddColumn", title="Done")["version"]
        done = read_board(ada, board.id, version=then)["board"]["columns"][-1]["column_id"]
        cards = board.cards
        command(ada, board.id, "MoveCard", card_id=cards["Search"], column_id=done)
        command(ada, board.id, "MoveCard", card_id=cards["SSO"], column_id=done)
        command(ada, board.id, "EditCard", card_id=cards["Pricing"], title="Pricing v2")
        head = command(
            ada, board.id, "RenameColumn", column_id=board.columns["To do"], title="Backlog"
        )["version"]
        a = board.open(ada)
        expect(a.locator(".board-page")).to_have_attribute("data-version", str(head), timeout=SEEN)
        commands: list[Request] = []
        a.on(
            "request",
            lambda r: commands.append(r) if r.method == "POST" and "/api/boards" in r.url else None,
        )

        a.get_by_role("button", name="Time travel").click()
        slider = a.get_by_label("Board version")
        slider.fill(str(then))
        expect(a.locator(".board-page")).to_have_attribute(
            "data-time-travel", str(then), timeout=SEEN
        )
        past = ada.api("GET", f"/api/boards/{board.id}?at_version={then}")
        assert past.ok, past.text()
        assert (
            shown_board(a)
            == api_board(past.json())
            == {
                "To do": ["Pricing", "Onboarding", "SSO"],
                "Doing": ["Search"],
                "Done": [],
            }
        )
        changed = a.locator(".card.changed-since .card-title")
        expect(changed).to_have_text(["Pricing", "SSO", "Search"])
        expect(a.locator(".board-page")).to_have_class(re.compile(r"\bread-only\b"))
        expect(a.get_by_role("button", name="Rename board")).to_be_hidden()
        expect(a.locator(".card-edit")).to_have_count(0)
        # A keyboard lift and a double click do nothing here: no command leaves the page.
        board.card(a, "Onboarding").focus()
        a.keyboard.press("Space")
        a.keyboard.press("ArrowDown")
        a.keyboard.press("Space")
        board.card(a, "Onboarding").dblclick()
        expect(a.locator("#card-dialog")).to_be_hidden()
        a.get_by_role("button", name="One version back").click()
        expect(a.locator(".board-page")).to_have_attribute(
            "data-time-travel", str(then - 1), timeout=SEEN
        )
        shoot(a, artifacts, "time-travel")
        audit(a, artifacts, "time-travel")

        a.get_by_role("button", name="Back to live").click()
        expect(a.locator(".board-page")).not_to_have_attribute("data-time-travel", str(then - 1))
        assert commands == [], [r.url for r in commands]
        live = read_board(ada, board.id, version=head)
        assert live["board"]["version"] == head == version_of(a)
        assert (
            shown_board(a)
            == api_board(live)
            == {
                "Backlog": ["Pricing v2", "Onboarding"],
                "Doing": [],
                "Done": ["Search", "SSO"],
            }
        )

    def test_as_of_a_time_shows_the_board_then_or_says_it_did_not_exist(
        self, sign_in: Callable[[str], User], email: Callable[[str], str]
    ) -> None:
        ada = sign_in(email("ada"))
        board = Board(ada, {"To do": ["Pricing"]})
        head = command(ada, board.id, "EditCard", card_id=board.cards["Pricing"], title="P2")[
            "version"
        ]
        a = board.open(ada)
        expect(a.locator(".board-page")).to_have_attribute("data-version", str(head), timeout=SEEN)
        a.get_by_role("button", name="Time travel").click()
        as_of = a.get_by_label("As of date and time")
        # datetime-local takes the browser's local time: the page writes it from an instant.
        local = (
            "iso => { const d = new Date(iso);"
            " d.setMinutes(d.getMinutes() - d.getTimezoneOffset());"
            " return d.toISOString().slice(0, 19); }"
        )
        created = ada.api("GET", f"/api/boards/{board.id}/history?limit=1").json()["entries"][0]
        before = a.evaluate(
            f"({local})(new Date(Date.parse('{created['occurred_at']}') - 86400000).toISOString())"
        )

        as_of.fill(before)
        a.get_by_role("button", name="Show").click()
        expect(a.locator(".time-travel-bar")).to_contain_text("did not exist yet", timeout=SEEN)

        tomorrow = a.evaluate(f"({local})(new Date(Date.now() + 86400000).toISOString())")
        as_of.fill(tomorrow)
        a.get_by_role("button", name="Show").click()
        expect(a.locator(".board-page")).to_have_attribute(
            "data-time-travel", str(head), timeout=SEEN
        )
        assert shown_board(a) == {"To do": ["P2"]}


class TestActivity:
    def test_the_panel_loads_older_entries_when_scrolled_to_its_end(
        self, sign_in: Callable[[str], User], email: Callable[[str], str]
    ) -> None:
        ada = sign_in(email("ada"))
        board = Board(ada, {"To do": ["Pricing"]})
        card = board.cards["Pricing"]
        # More than one page of the panel's 50 versions.
        for n in range(60):
            head = command(ada, board.id, "EditCard", card_id=card, title=f"Pricing {n}")["version"]
        a = board.open(ada)
        expect(a.locator(".board-page")).to_have_attribute("data-version", str(head), timeout=SEEN)
        a.get_by_role("button", name="Activity").click()
        entries = a.locator(".activity-panel .activity-entry")
        expect(entries).to_have_count(50, timeout=SEEN)
        expect(entries.first).to_have_attribute("data-version", str(head))

        a.locator(".activity-panel").evaluate("panel => { panel.scrollTop = panel.scrollHeight; }")

        expect(entries).to_have_count(head, timeout=SEEN)
        expect(entries.last.locator(".activity-summary")).to_contain_text("created the board")
        expect(a.locator(".activity-more")).to_have_text("The board's first event.")
        versions = [
            int(v or 0) for v in entries.evaluate_all("es => es.map(e => e.dataset.version)")
        ]
        assert versions == list(range(head, 0, -1))

    def test_the_panel_shows_a_new_event_live_newest_first_and_the_card_its_own(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, {"To do": ["Pricing"]})
        board.share(ada, bob, "editor")
        b = board.open(bob)
        b.get_by_role("button", name="Activity").click()
        entries = b.locator(".activity-panel .activity-entry .activity-summary")
        expect(entries.first).to_contain_text("added", timeout=SEEN)

        command(ada, board.id, "EditCard", card_id=board.cards["Pricing"], title="Pricing page")

        expect(entries.first).to_contain_text("'Pricing'", timeout=SEEN)
        expect(entries.first).to_contain_text("'Pricing page'")
        first = b.locator(".activity-panel .activity-entry").first
        expect(first.locator("del")).to_have_text("Pricing")
        expect(first.locator("ins")).to_have_text("Pricing page")
        assert entries.all_inner_texts()[-1].endswith("created the board 'Launch plan'")
        shoot(b, artifacts, "activity")
        audit(b, artifacts, "activity-panel")

        # The card's own history, in its editor: newest first, its events only.
        open_card(b, board, "Pricing")
        history = b.locator("#card-history .activity-summary")
        expect(history).to_have_count(2, timeout=SEEN)
        expect(history.first).to_contain_text("'Pricing page'")
        expect(history.last).to_contain_text("added 'Pricing'")

        # Ids are said as the board calls them: an assignee by name, never by user id.
        b.keyboard.press("Escape")
        shown = entries.count()
        command(ada, board.id, "EditCard", card_id=board.cards["Pricing"], assignees=[bob.id])
        expect(entries).to_have_count(shown + 1, timeout=SEEN)
        members = read_board(ada, board.id)["board"]["members"]
        bob_named = next(m["name"] or m["email"] for m in members if m["user_id"] == bob.id)
        expect(first.locator("ins")).to_have_text(bob_named)
        expect(b.locator(".activity-panel")).not_to_contain_text(bob.id)
