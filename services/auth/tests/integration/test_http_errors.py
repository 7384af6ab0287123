"""Every bad input is a 4xx in the one error shape, never a 500."""

from __future__ import annotations

import pytest
from cardstream_testing.answers import read_answer


async def _answer(response) -> tuple[int, dict]:
    body = await read_answer(response)
    assert set(body["error"]) == {"code", "message", "details"}, body
    return response.status, body


class TestErrors:
    @pytest.mark.parametrize(
        "authorization",
        [
            None,
            "Bearer",
            "Basic abc",
            "Bearer not-a-jwt",
            "Bearer " + "a" * 9000,
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        ],
    )
    async def test_me_without_a_good_token_is_a_401(self, auth, http, authorization):
        headers = {"Authorization": authorization} if authorization else {}
        async with http.get(f"{auth.url}/auth/me", headers=headers) as response:
            status, body = await _answer(response)
        assert status == 401
        assert body["error"]["code"] == "unauthorized"

    async def test_a_long_login_hint_is_a_400(self, auth, http):
        async with http.get(
            f"{auth.url}/auth/login", params={"login_hint": "a" * 400}, allow_redirects=False
        ) as response:
            status, _ = await _answer(response)
        assert status == 400

    async def test_an_oversized_body_is_a_413(self, auth, http):
        async with http.post(
            f"{auth.url}/auth/refresh", data=b"{" + b" " * 64 * 1024 + b"}"
        ) as response:
            status, _ = await _answer(response)
        assert status == 413

    async def test_an_unknown_path_is_a_json_404(self, auth, http):
        async with http.get(f"{auth.url}/auth/nope") as response:
            status, _ = await _answer(response)
        assert status == 404

    async def test_a_wrong_method_is_a_json_405(self, auth, http):
        async with http.get(f"{auth.url}/auth/refresh") as response:
            status, _ = await _answer(response)
        assert status == 405

    async def test_callback_with_a_huge_state_is_a_400(self, auth, http):
        async with http.get(
            f"{auth.url}/auth/callback", params={"state": "s" * 5000, "code": "c"}
        ) as response:
            status, _ = await _answer(response)
        assert status == 400

    async def test_health_and_readiness(self, auth, http):
        async with http.get(f"{auth.url}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{auth.url}/readyz") as response:
            assert response.status == 200
            assert (await read_answer(response))["status"] == "ready"
