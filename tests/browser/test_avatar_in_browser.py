"""The signed-in user's name and picture in the top bar, in a real Chromium under the page's
Content-Security-Policy. The local provider sends an inline SVG `picture`, as Google sends an
https one; the auth service keeps it and `/auth/me` answers it (docs/auth.md, "Profile
pictures"). Initials stand in when there is no picture or it fails to load."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page, Route, expect

from .conftest import User

SEEN = 10_000  # ms: a bound on "shows", a correctness check rather than a timing claim
BROKEN_PICTURE = "https://pictures.invalid/avatar.png"


def initials(name: str) -> str:
    """What ui.js initials() shows: the first letters of the first two words, upper case."""
    words = [w for w in re.split(r"[\s._-]+", name.split("@")[0]) if w]
    return "".join(w[0] for w in words[:2]).upper()


def csp_violations(page: Page) -> list[str]:
    """Every Content-Security-Policy complaint the page logs from now on."""
    seen: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", record)
    return seen


def reload_signed_in(page: Page) -> None:
    response = page.reload()
    assert response is not None
    # The test is only worth something under the policy the page runs with in production.
    assert "img-src 'self' data: https:" in response.headers["content-security-policy"]
    expect(page.locator("#account")).to_be_visible(timeout=SEEN)


def answer_me_with_picture(page: Page, picture: str | None) -> None:
    """`/auth/me` as the server answers it, with another picture."""

    def replace(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body["user"]["picture"] = picture
        route.fulfill(response=response, json=body)

    page.route("**/auth/me", replace)


class TestAvatarInTheTopBar:
    def test_the_top_bar_shows_the_providers_picture_beside_the_name(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        pia = sign_in(email("pia"))
        page = pia.page
        violations = csp_violations(page)
        reload_signed_in(page)
        profile = pia.api("GET", "/auth/me").json()["user"]
        assert profile["picture"].startswith("data:image/svg+xml;base64,")

        avatar, picture = page.locator("#me-avatar"), page.locator("#me-avatar img")
        expect(page.locator("#me-name")).to_have_text(profile["name"], timeout=SEEN)
        expect(picture).to_be_visible(timeout=SEEN)
        expect(picture).to_have_attribute("src", profile["picture"])
        expect(picture).to_have_attribute("src", re.compile(r"^data:image/svg\+xml[;,]"))
        expect(picture).to_have_attribute("alt", "")
        expect(avatar).to_have_class(re.compile(r"\bhas-picture\b"), timeout=SEEN)
        expect(avatar).to_have_attribute("title", profile["name"])
        assert picture.evaluate("img => img.complete && img.naturalWidth > 0"), "not decoded"
        assert picture.evaluate("img => getComputedStyle(img).objectFit") == "cover"
        avatar_box, picture_box = avatar.bounding_box(), picture.bounding_box()
        assert avatar_box is not None
        assert picture_box is not None
        for side in ("x", "y", "width", "height"):
            assert abs(avatar_box[side] - picture_box[side]) < 0.5, side
        page.locator(".topbar").screenshot(path=artifacts / "top-bar.png", animations="disabled")
        page.screenshot(path=artifacts / "page.png", animations="disabled")
        assert violations == []

    def test_a_picture_that_fails_to_load_gives_way_to_the_initials(
        self, sign_in: Callable[[str], User], email: Callable[[str], str], artifacts: Path
    ) -> None:
        pia = sign_in(email("pia"))
        page = pia.page
        requested: list[str] = []

        def unreachable(route: Route) -> None:
            requested.append(route.request.url)
            route.abort("connectionrefused")

        page.route("https://pictures.invalid/**", unreachable)
        answer_me_with_picture(page, BROKEN_PICTURE)
        reload_signed_in(page)
        name = pia.api("GET", "/auth/me").json()["user"]["name"]

        avatar = page.locator("#me-avatar")
        expect(avatar.locator("img")).to_have_count(0, timeout=SEEN)
        expect(avatar).to_have_text(initials(name))
        expect(avatar).not_to_have_class(re.compile(r"\bhas-picture\b"))
        expect(page.locator("#me-name")).to_have_text(name)
        assert requested == [BROKEN_PICTURE], "the page never tried the picture"
        page.locator(".topbar").screenshot(path=artifacts / "top-bar.png", animations="disabled")

    def test_without_a_picture_the_initials_show(
        self, sign_in: Callable[[str], User], email: Callable[[str], str]
    ) -> None:
        pia = sign_in(email("pia"))
        page = pia.page
        answer_me_with_picture(page, None)
        reload_signed_in(page)
        name = pia.api("GET", "/auth/me").json()["user"]["name"]

        avatar = page.locator("#me-avatar")
        expect(avatar).to_have_text(initials(name), timeout=SEEN)
        expect(avatar.locator("img")).to_have_count(0)
        expect(page.locator("#me-name")).to_have_text(name)
