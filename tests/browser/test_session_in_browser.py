"""Who is signed in, signing out, and who is looking at a board, in a real Chromium.

Signing out holds the browser to what docs/auth.md promises of a logout: the refresh cookie is
cleared and its session revoked (refreshing fails with `session_ended`), `/auth/me` refuses the
session's last access token while the APIs still accept it until it expires, and the session's
WebSockets are closed (4401)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from cardstream_testing.fullstack import FullStack
from playwright.sync_api import Page, Playwright, Request, expect

from .conftest import User
from .test_board_in_browser import SEEN, Board, shoot

# Runs before the page's scripts: the close code of every WebSocket the page opens.
RECORD_CLOSES = """
(() => {
  const Native = window.WebSocket;
  window.__wsCloses = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("close", (event) => window.__wsCloses.push(event.code));
    }
  };
})();
"""


def bearer_tokens(page: Page) -> list[str]:
    """Every access token the page sends from now on, in order."""
    seen: list[str] = []

    def record(request: Request) -> None:
        value = request.headers.get("authorization", "")
        if value.startswith("Bearer "):
            seen.append(value.removeprefix("Bearer "))

    page.on("request", record)
    return seen


class TestSignOut:
    def test_sign_out_ends_the_session_as_docs_auth_promises(
        self,
        sign_in: Callable[[str], User],
        email: Callable[[str], str],
        artifacts: Path,
        playwright: Playwright,
        live_stack: FullStack,
    ) -> None:
        ada = sign_in(email("ada"))
        profile = ada.api("GET", "/auth/me").json()["user"]
        shown = profile["name"] or profile["email"]
        board = Board(ada, {"To do": ["Log off flow"]})
        ada.context.add_init_script(RECORD_CLOSES)
        tokens = bearer_tokens(ada.page)
        page = board.open(ada)

        expect(page.locator("#me-name")).to_have_text(shown)
        avatar = page.locator("#me-avatar")
        expect(avatar).to_have_attribute("title", shown)
        expect(avatar).to_be_visible()
        expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
        shoot(page, artifacts, "signed-in")
        assert tokens, "the page sent no access token"
        last_token = tokens[-1]
        refresh_cookie = next(c for c in ada.context.cookies() if c["name"] == "cs_refresh")
        assert page.evaluate("window.__wsCloses") == []

        with page.expect_response("**/auth/logout") as logout:
            page.get_by_role("button", name="Sign out", exact=True).click()
        assert logout.value.status == 204
        expect(page.get_by_role("heading", name="Sign in to cardstream")).to_be_visible()
        expect(page.locator("#account")).to_be_hidden()
        expect(page.locator("#presence .avatar")).to_have_count(0)
        # The server closed the page's socket for the ended session, and the client, unable to
        # refresh, stopped trying: its badge is neither live nor reconnecting.
        page.wait_for_function("window.__wsCloses.includes(4401)", timeout=SEEN)
        badge = page.locator("#connection")
        expect(badge).to_have_attribute("data-state", "idle", timeout=SEEN)
        expect(badge).to_be_hidden()
        shoot(page, artifacts, "signed-out")

        page.reload()
        expect(page.get_by_role("heading", name="Sign in to cardstream")).to_be_visible(
            timeout=SEEN
        )
        expect(page.locator("#account")).to_be_hidden()
        assert [c for c in ada.context.cookies() if c["name"] == "cs_refresh"] == []

        stranger = playwright.request.new_context(base_url=live_stack.url)
        try:
            spent = stranger.post(
                "/auth/refresh",
                headers={
                    "Cookie": f"cs_refresh={refresh_cookie['value']}",
                    "X-Requested-With": "cardstream",
                },
            )
            assert spent.status == 401, spent.text()
            assert spent.json()["error"]["code"] == "session_ended"
            bearer = {"Authorization": f"Bearer {last_token}"}
            assert stranger.get("/auth/me", headers=bearer).status == 401
            # The ended session's last access token is refused by the other services too
            # (issue 12): the projector closed the page's socket, so it had heard of the end.
            refused = stranger.get("/api/boards", headers=bearer)
            assert refused.status == 401, refused.text()
            assert refused.json()["error"]["message"] == "the session has ended"
        finally:
            stranger.dispose()


class TestPresence:
    def test_each_viewer_sees_both_and_one_leaving_drops_out(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        ada, bob = sign_in(email("ada")), sign_in(email("bob"))
        board = Board(ada, {"To do": ["Look"]})
        board.share(ada, bob, "viewer")
        a, b = board.open(ada), board.open(bob)

        both = sorted([ada.id, bob.id])
        for page in (a, b):
            viewers = page.locator("#presence .avatar.presence-avatar")
            expect(viewers).to_have_count(2, timeout=SEEN)
            assert sorted(v.get_attribute("data-user") or "" for v in viewers.all()) == both
            for viewer in viewers.all():
                expect(viewer).to_have_attribute("title", re.compile(r"\S"))
        shoot(a, artifacts, "two-viewers")

        b.close()
        viewers = a.locator("#presence .avatar.presence-avatar")
        expect(viewers).to_have_count(1, timeout=SEEN)
        expect(viewers).to_have_attribute("data-user", ada.id)
        shoot(a, artifacts, "one-viewer")
