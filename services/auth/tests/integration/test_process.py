"""`python -m auth` as a real process: it serves the whole login, stops cleanly on SIGTERM, and
says what is missing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
from cardstream_testing.answers import read_answer
from cardstream_testing.processes import ServiceProcess
from yarl import URL


async def test_serves_a_full_login(
    provider, auth_port, redis_url, key_prefix, mongo_url, mongo_db_name, tmp_path: Path
):
    env = {
        "AUTH_PUBLIC_URL": f"http://127.0.0.1:{auth_port}",
        "AUTH_OIDC_ISSUER": provider.url,
        "AUTH_OIDC_CLIENT_ID": "cardstream-test",
        "AUTH_OIDC_CLIENT_SECRET": "test-secret",
        "AUTH_REDIS_URL": redis_url,
        "AUTH_KEY_PREFIX": key_prefix,
        "AUTH_MONGO_URL": mongo_url,
        "AUTH_MONGO_DB": mongo_db_name,
        "AUTH_COOKIE_SECURE": "false",
    }
    service = ServiceProcess(
        "auth", env, port_setting="AUTH_PORT", port=auth_port, log_path=tmp_path / "auth.log"
    )
    # Starting blocks this loop only until /healthz answers; the provider is not needed yet.
    await asyncio.to_thread(service.start)
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            async with browser.get(
                f"{service.url}/auth/login",
                params={"login_hint": "proc@example.com"},
                allow_redirects=False,
            ) as response:
                assert response.status == 302, service.log()
                authorize = URL(response.headers["Location"])
            async with browser.get(authorize, allow_redirects=False) as response:
                callback = response.headers["Location"]
            async with browser.get(
                callback, headers={"Accept": "application/json"}, allow_redirects=False
            ) as response:
                body = await read_answer(response)
                assert response.status == 200, (body, service.log())
            async with browser.get(
                f"{service.url}/auth/me",
                headers={"Authorization": f"Bearer {body['access_token']}"},
            ) as response:
                assert (await read_answer(response))["user"]["email"] == "proc@example.com"
    finally:
        status = await asyncio.to_thread(service.stop)
    # SIGTERM: Redis, MongoDB and the provider's HTTP client are closed, and the status is 0.
    assert status == 0, service.log()
    assert "Traceback" not in service.log()


def test_refuses_to_serve_without_a_client_id() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    result = subprocess.run(
        [sys.executable, "-m", "auth"],
        env={**env, "AUTH_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "AUTH_OIDC_CLIENT_ID" in result.stderr
    assert "Traceback" not in result.stderr
