"""Steps the browser tests share beyond test_board_in_browser's: waiting for a command to come
back, answering the text prompt, reading a board from the API once it has caught up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Page, Response, expect

from .conftest import User
from .test_board_in_browser import SEEN

_COMMAND_PATH = re.compile(r"/api/boards(/[0-9a-f-]{36}/commands)?$")


def is_command(response: Response) -> bool:
    return response.request.method == "POST" and bool(_COMMAND_PATH.search(response.url))


@contextmanager
def saved(page: Page, *, on_board: bool = True) -> Iterator[dict[str, Any]]:
    """Runs a block that sends one command; then holds its answer (`version`, `command`) and,
    on a board page, waits until the page's confirmed board has reached that version."""
    answer: dict[str, Any] = {}
    with page.expect_response(is_command, timeout=SEEN) as sent:
        yield answer
    response = sent.value
    assert response.ok, response.text()
    answer.update(response.json())
    answer["command"] = response.request.post_data_json
    if on_board:
        expect(page.locator(".board-page")).to_have_attribute(
            "data-version", str(answer["version"]), timeout=SEEN
        )


def answer_prompt(page: Page, label: str, value: str) -> None:
    """Types into the app's text prompt (ui.js askText) and presses OK."""
    dialog = page.get_by_role("dialog", name=label)
    expect(dialog).to_be_visible()
    dialog.get_by_label(label).fill(value)
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()


def read_board(user: User, board_id: str, *, version: int = 0, archived: bool = False) -> Any:
    """The board as the read side has it, once it reflects `version` (read-your-writes)."""
    query = f"?min_version={version}" + ("&archived=true" if archived else "")
    answer = user.api("GET", f"/api/boards/{board_id}{query}")
    assert answer.ok, answer.text()
    assert answer.headers.get("x-projection-behind") is None, "the read side did not catch up"
    return answer.json()


def api_columns(user: User, board_id: str, *, version: int = 0) -> list[str]:
    return [c["title"] for c in read_board(user, board_id, version=version)["board"]["columns"]]
