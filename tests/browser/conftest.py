"""The real stack (identity provider, auth, boards, projector behind nginx serving web/) and
Debian's Chromium driven by Playwright. One stack per module: every test makes its own board
and users, so tests do not see each other's data."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cardstream_testing import FerretDBServer, RedisServer
from cardstream_testing.fullstack import CHROMIUM, CHROMIUM_ARGS, FullStack, full_stack
from playwright.sync_api import APIRequestContext, Browser, Page, Playwright, sync_playwright
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[2]
WEB_ROOT = ROOT / "web"
ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def live_stack(
    tmp_path_factory: pytest.TempPathFactory, mongo_server: FerretDBServer
) -> Iterator[FullStack]:
    tmp = tmp_path_factory.mktemp("browser-stack")
    db = f"t{secrets.token_hex(6)}"
    with (
        RedisServer(tmp / "redis") as redis,
        full_stack(
            tmp,
            redis_url=redis.url,
            mongo_url=mongo_server.url,
            mongo_db=db,
            web_root=WEB_ROOT,
            # Set-up writes hundreds of cards as one user through the API (a 250-card column):
            # the per-user command limit has its own tests, not these.
            env={"BOARDS_COMMANDS_PER_USER_PER_S": "100000", "BOARDS_COMMANDS_BURST": "100000"},
        ) as stack,
    ):
        try:
            yield stack
        finally:
            client: MongoClient[dict[str, object]] = MongoClient(mongo_server.url)
            with client:
                client.drop_database(db)
                client.drop_database(f"{db}_auth")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # scripts/install.sh installs it; a missing browser is a broken setup, not a reason to skip.
    assert Path(CHROMIUM).exists(), (
        f"no Chromium at {CHROMIUM}: run `make install` or set CHROMIUM_BIN"
    )
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def email() -> Callable[[str], str]:
    """A fresh address per test, so each test's users are new users."""
    suffix = secrets.token_hex(3)
    return lambda name: f"{name}.{suffix}@example.com"


class User:
    """One person in their own browser context, and the same person over plain HTTP."""

    def __init__(self, browser: Browser, playwright: Playwright, url: str, email: str) -> None:
        self.url = url
        self.email = email
        self.context = browser.new_context(base_url=url, viewport={"width": 1400, "height": 900})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(f"/auth/login?login_hint={email}")
        self.page.locator("#account").wait_for(state="visible", timeout=15_000)
        self.id: str = self.page.locator("body").get_attribute("data-user-id") or ""
        self.http: APIRequestContext = playwright.request.new_context(base_url=url)
        answer = self.http.get(
            f"/auth/login?login_hint={email}", headers={"Accept": "application/json"}
        )
        assert answer.ok, answer.text()
        tokens = answer.json()
        self.access_token: str = tokens["access_token"]
        self.read_token: str = tokens["read_token"]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        # As web/js/api.js: commands (POSTs to /api) and auth take the access token, reads the
        # read token.
        reads = path.startswith("/api/") and method != "POST"
        token = self.read_token if reads else self.access_token
        headers = {"Authorization": f"Bearer {token}"}
        return self.http.fetch(path, method=method, headers=headers, data=body)

    def close(self) -> None:
        self.http.dispose()
        self.context.close()


@pytest.fixture
def sign_in(
    live_stack: FullStack, browser: Browser, playwright: Playwright
) -> Iterator[Callable[[str], User]]:
    users: list[User] = []

    def make(email: str) -> User:
        user = User(browser, playwright, live_stack.url, email)
        users.append(user)
        return user

    yield make
    for user in users:
        assert not user.errors, f"uncaught errors in {user.email}'s page: {user.errors}"
        user.close()
