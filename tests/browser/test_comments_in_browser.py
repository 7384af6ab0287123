"""Issue 14, items 2 and 6 in a real Chromium: two members comment on one card and each sees the
other's comment live; Markdown renders and raw HTML does not; authors edit and delete their own
and see no controls on another's; a mention reaches the mentioned member's notifications live,
and opening it marks it read. axe-core audits the comments section and the notifications panel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from .conftest import User
from .test_accessibility_in_browser import audit
from .test_board_in_browser import SEEN, Board, shoot

HOSTILE = "look: <img src=x onerror=alert(1)> and <script>alert(2)</script> **still bold**"


def open_card(board: Board, page: Page, title: str) -> None:
    board.card(page, title).locator(".card-edit").click()
    expect(page.locator("#card-dialog")).to_be_visible()
    expect(page.locator("#card-comments .comment-list")).to_be_visible(timeout=SEEN)


def comment(page: Page, body: str) -> None:
    form = page.locator("#card-comments form.comment-form:not(.editing)")
    form.locator("textarea").fill(body)
    form.get_by_role("button", name="Comment", exact=True).click()


def comments_of(page: Page, author: User) -> Locator:
    return page.locator(f'#card-comments .comment[data-author="{author.id}"]')


class TestComments:
    def test_two_members_comment_live_safely_and_a_mention_notifies(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bea = sign_in(email("ada")), sign_in(email("bea"))
        dialogs: list[str] = []
        for user in (ada, bea):
            user.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        board = Board(ada, {"To do": ["Write the spec"]})
        board.share(ada, bea, "editor")
        a, b = board.open(ada), board.open(bea)
        open_card(board, a, "Write the spec")
        open_card(board, b, "Write the spec")

        # Each sees the other's comment arrive, Markdown rendered.
        comment(a, "First **draft** is _up_")
        mine = comments_of(b, ada)
        expect(mine).to_have_count(1, timeout=SEEN)
        expect(mine.locator(".comment-body strong")).to_have_text("draft")
        expect(mine.locator(".comment-body em")).to_have_text("up")
        comment(b, HOSTILE)
        hers = comments_of(a, bea)
        expect(hers).to_have_count(1, timeout=SEEN)

        # Raw HTML is text: no image, no script, no dialog, on either page.
        for page in (a, b):
            body = comments_of(page, bea).locator(".comment-body")
            expect(body).to_contain_text("<img src=x onerror=alert(1)>", timeout=SEEN)
            expect(body.locator("strong")).to_have_text("still bold")
            expect(page.locator("#card-comments img")).to_have_count(0)
            expect(page.locator("#card-comments script")).to_have_count(0)
        assert dialogs == []

        # The other member's comment has no edit or delete for an editor who did not write it.
        expect(comments_of(b, ada).locator(".comment-edit, .comment-delete")).to_have_count(0)
        expect(comments_of(a, bea).locator(".comment-edit")).to_have_count(0)
        shoot(b, artifacts, "bea-sees-the-comments")

        # The author edits, then deletes, her own; both pages follow.
        comments_of(a, ada).get_by_role("button", name="Edit").click()
        editing = a.locator("#card-comments form.comment-form.editing")
        editing.locator("textarea").fill("Second **draft** is up")
        editing.get_by_role("button", name="Save comment").click()
        expect(comments_of(b, ada).locator(".comment-body")).to_have_text(
            "Second draft is up", timeout=SEEN
        )
        expect(comments_of(b, ada)).to_contain_text("(edited)")
        comments_of(a, ada).get_by_role("button", name="Delete").click()
        expect(comments_of(b, ada)).to_have_count(0, timeout=SEEN)
        expect(comments_of(a, ada)).to_have_count(0, timeout=SEEN)

        # A mention picked from the suggestions notifies Bea, live, with an unread count.
        expect(b.locator("#bell-count")).to_be_hidden()
        text = a.locator("#card-comments form.comment-form:not(.editing) textarea")
        text.fill("Please review, ")
        text.press_sequentially("@bea")
        a.locator(f'.mention-option[data-user="{bea.id}"]').click()
        expect(text).to_have_value(f"Please review, <@{bea.id}> ")
        text.press_sequentially("thanks")
        a.locator("#card-comments form.comment-form:not(.editing)").get_by_role(
            "button", name="Comment", exact=True
        ).click()
        mention = comments_of(b, ada).locator(".mention")
        expect(mention).to_have_text(f"@{bea.email}", timeout=SEEN)
        expect(b.locator("#bell-count")).to_have_text("1", timeout=SEEN)
        expect(a.locator("#bell-count")).to_be_hidden()
        audit(a, artifacts, "card-comments")

        b.keyboard.press("Escape")
        expect(b.locator("#card-dialog")).to_be_hidden()
        b.locator("#bell").click()
        panel = b.locator("#notifications-panel")
        expect(panel).to_be_visible()
        item = panel.locator(".notification.unread")
        expect(item).to_have_count(1)
        expect(item).to_contain_text("mentioned you")
        expect(item).to_contain_text("Write the spec", timeout=SEEN)
        audit(b, artifacts, "notifications-panel")
        shoot(b, artifacts, "bea-notifications")
        item.get_by_role("button").click()
        expect(b.locator("#bell-count")).to_be_hidden(timeout=SEEN)
        expect(b.locator("#card-dialog")).to_be_visible(timeout=SEEN)
        answer = bea.api("GET", "/api/notifications")
        assert answer.ok, answer.text()
        assert answer.json()["unread"] == 0
        assert dialogs == []
