"""One URL in front of everything: nginx on deploy/nginx/cardstream.conf.template, rendered by
cardstream_testing.gateway, before the real boards process and stand-in HTTP upstreams for the
read side and auth (they answer with what reached them, and /ws echoes)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import test_utils, web
from cardstream_runtime.devtoken import DevSigner, load_signer
from cardstream_testing import RedisServer, free_port
from cardstream_testing.gateway import TEMPLATE, Gateway, Upstreams, render_template
from cardstream_testing.processes import ServiceProcess

ISSUER, AUDIENCE = "cardstream-dev", "cardstream"
LIMIT = 64 * 1024
CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _stand_in(name: str) -> web.Application:
    async def describe(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "service": name,
                "method": request.method,
                "path": request.path_qs,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body_bytes": len(body),
            }
        )

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json(
            {"service": name, "headers": {k.lower(): v for k, v in request.headers.items()}}
        )
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(f"echo:{message.data}")
        return ws

    app = web.Application(client_max_size=4 * LIMIT)
    app.router.add_get("/ws", echo)
    app.router.add_route("*", "/{tail:.*}", describe)
    return app


@pytest.fixture
def signer(tmp_path: Path) -> DevSigner:
    return load_signer(tmp_path / "jwt", issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def boards(
    redis_server: RedisServer, tmp_path: Path, key_prefix: str, signer: DevSigner
) -> Iterator[ServiceProcess]:
    env = {
        "BOARDS_REDIS_URL": redis_server.url,
        "BOARDS_JWT_PUBLIC_KEY_FILE": str(tmp_path / "jwt" / "public.pem"),
        "BOARDS_JWT_ISSUER": ISSUER,
        "BOARDS_JWT_AUDIENCE": AUDIENCE,
        "BOARDS_KEY_PREFIX": key_prefix,
        "BOARDS_LOG_LEVEL": "WARNING",
    }
    with ServiceProcess(
        "boards", env, port_setting="BOARDS_PORT", log_path=tmp_path / "boards.log"
    ) as service:
        yield service


async def _serve(name: str) -> test_utils.TestServer:
    server = test_utils.TestServer(_stand_in(name), host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def projector() -> AsyncIterator[test_utils.TestServer]:
    server = await _serve("projector")
    yield server
    await server.close()


@pytest.fixture
async def auth() -> AsyncIterator[test_utils.TestServer]:
    server = await _serve("auth")
    yield server
    await server.close()


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    root.mkdir()
    return root


class Gateways:
    """Starts gateways off the event loop (a start blocks until nginx answers)."""

    def __init__(self, tmp_path: Path, web_root: Path) -> None:
        self.tmp_path = tmp_path
        self.web_root = web_root
        self.started: list[Gateway] = []

    async def start(self, upstreams: Upstreams) -> Gateway:
        prefix = self.tmp_path / f"nginx-{len(self.started)}"
        gateway = Gateway(upstreams, web_root=self.web_root, prefix=prefix)
        self.started.append(gateway)
        return await asyncio.to_thread(gateway.start)

    def close(self) -> None:
        for gateway in self.started:
            gateway.close()


@pytest.fixture
def gateways(tmp_path: Path, web_root: Path) -> Iterator[Gateways]:
    started = Gateways(tmp_path, web_root)
    yield started
    started.close()


@pytest.fixture
async def gateway(
    gateways: Gateways, boards: ServiceProcess, projector: test_utils.TestServer
) -> Gateway:
    return await gateways.start(
        Upstreams(boards=f"127.0.0.1:{boards.port}", projector=f"127.0.0.1:{projector.port}")
    )


async def _json(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, Any]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json(), response.headers


def _command(type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": str(uuid.uuid4()), "type": type_, "payload": payload}


def _error(status: int, body: Any) -> tuple[int, str, Any]:
    return status, body["error"]["code"], body["error"]["details"]


class TestCommandsReachTheBoardsService:
    async def test_a_board_is_created_and_commanded_through_the_one_url(
        self, gateway: Gateway, http: aiohttp.ClientSession, signer: DevSigner
    ) -> None:
        auth = {"Authorization": f"Bearer {signer.token('alice')}"}
        status, created, headers = await _json(
            http,
            "POST",
            f"{gateway.url}/api/boards",
            json=_command("CreateBoard", title="Launch"),
            headers={**auth, "X-Correlation-Id": "launch-42"},
        )
        assert status == 201, created
        # Boards answers with the correlation id it received: the client's, through nginx.
        assert headers["X-Correlation-Id"] == "launch-42"
        column = _command("AddColumn", column_id=str(uuid.uuid4()), title="To do")
        status, added, _ = await _json(
            http,
            "POST",
            f"{gateway.url}/api/boards/{created['board_id']}/commands",
            json=column,
            headers=auth,
        )
        assert (status, added["version"]) == (200, 2)


class TestReadsReachTheProjector:
    # Fixed ids: parameters must be the same in every collection (pytest-xdist's workers).
    @pytest.mark.parametrize(
        "path",
        [
            "/api/boards",
            f"/api/boards/{uuid.UUID(int=1)}",
            f"/api/boards/{uuid.UUID(int=2)}/cards/{uuid.UUID(int=3)}?min_version=3&archived=true",
        ],
    )
    async def test_gets_on_the_api_reach_the_read_side_unchanged(
        self, gateway: Gateway, http: aiohttp.ClientSession, path: str
    ) -> None:
        status, seen, _ = await _json(http, "GET", f"{gateway.url}{path}")
        assert (status, seen["service"], seen["method"], seen["path"]) == (
            200,
            "projector",
            "GET",
            path,
        )

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("PUT", "/api/boards"),
            ("DELETE", "/api/boards/b1/commands"),
            ("PATCH", "/api/boards/b1/commands"),
            ("GET", "/api/boards/b1/commands"),
            ("POST", "/api/boards/b1/cards/c1"),
            ("POST", "/api/boards/b1/commands/extra"),
        ],
    )
    async def test_only_posts_of_commands_go_to_the_command_side(
        self, gateway: Gateway, http: aiohttp.ClientSession, method: str, path: str
    ) -> None:
        status, seen, _ = await _json(http, method, f"{gateway.url}{path}")
        assert (status, seen["service"], seen["method"]) == (200, "projector", method)


class TestForwardedHeaders:
    async def test_the_upstream_sees_the_client_the_public_host_and_the_scheme(
        self, gateway: Gateway, http: aiohttp.ClientSession
    ) -> None:
        _, seen, _ = await _json(http, "GET", f"{gateway.url}/api/boards")
        headers = seen["headers"]
        assert headers["host"] == f"127.0.0.1:{gateway.port}"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["x-forwarded-proto"] == "http"

    async def test_the_clients_correlation_id_passes_through(
        self, gateway: Gateway, http: aiohttp.ClientSession
    ) -> None:
        _, seen, _ = await _json(
            http, "GET", f"{gateway.url}/api/boards", headers={"X-Correlation-Id": "req-7"}
        )
        assert seen["headers"]["x-correlation-id"] == "req-7"

    async def test_a_correlation_id_is_made_when_the_client_sent_none(
        self, gateway: Gateway, http: aiohttp.ClientSession
    ) -> None:
        made = []
        for _ in range(2):
            _, seen, _ = await _json(http, "GET", f"{gateway.url}/api/boards")
            made.append(seen["headers"]["x-correlation-id"])
        assert all(re.fullmatch(r"[0-9a-f]{32}", made_id) for made_id in made)
        assert made[0] != made[1]


class TestWebSocket:
    async def test_ws_upgrades_and_echoes_through_the_gateway(
        self, gateway: Gateway, http: aiohttp.ClientSession
    ) -> None:
        async with http.ws_connect(
            f"{gateway.url}/ws", origin=gateway.url, headers={"X-Correlation-Id": "ws-1"}
        ) as ws:
            hello = await ws.receive_json()
            await ws.send_str("ping")
            echoed = await ws.receive_str()
        assert hello["service"] == "projector"
        assert hello["headers"]["origin"] == gateway.url
        assert hello["headers"]["x-correlation-id"] == "ws-1"
        assert hello["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert echoed == "echo:ping"


class TestAuth:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/auth/login"), ("POST", "/auth/token"), ("GET", "/.well-known/jwks.json")],
    )
    async def test_auth_paths_answer_json_503_while_no_auth_service_runs(
        self, gateway: Gateway, http: aiohttp.ClientSession, method: str, path: str
    ) -> None:
        status, body, headers = await _json(http, method, f"{gateway.url}{path}")
        assert _error(status, body) == (503, "service_unavailable", None)
        assert headers["Content-Type"] == "application/json"

    async def test_auth_paths_reach_the_auth_service_once_there_is_one(
        self,
        gateways: Gateways,
        projector: test_utils.TestServer,
        auth: test_utils.TestServer,
        http: aiohttp.ClientSession,
    ) -> None:
        gateway = await gateways.start(
            Upstreams(
                boards=f"127.0.0.1:{free_port()}",
                projector=f"127.0.0.1:{projector.port}",
                auth=f"127.0.0.1:{auth.port}",
            )
        )
        for path in ("/auth/callback?code=abc&state=xyz", "/.well-known/jwks.json"):
            status, seen, _ = await _json(http, "GET", f"{gateway.url}{path}")
            assert (status, seen["service"], seen["path"]) == (200, "auth", path)


class TestPerIpLimits:
    """nginx's `limit_req` on the endpoints anyone can call (issue 12, hole 3): N a minute with
    N+1 answered at once, then the JSON 429 with Retry-After, before auth sees the request."""

    @pytest.mark.parametrize(
        ("method", "path", "allowed"),
        [
            ("GET", "/auth/login", 61),
            ("POST", "/auth/refresh", 121),
            ("POST", "/auth/token/google", 61),
            ("GET", "/auth/users?email=a@example.com", 121),
        ],
    )
    async def test_the_burst_reaches_auth_and_the_next_is_a_json_429(
        self,
        gateways: Gateways,
        projector: test_utils.TestServer,
        auth: test_utils.TestServer,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        allowed: int,
    ) -> None:
        nobody = f"127.0.0.1:{free_port()}"
        gateway = await gateways.start(
            Upstreams(boards=nobody, projector=nobody, auth=f"127.0.0.1:{auth.port}")
        )
        for _ in range(allowed):
            status, seen, _ = await _json(http, method, f"{gateway.url}{path}")
            assert (status, seen["service"]) == (200, "auth")

        # The next is refused, unless the zone refilled meanwhile (one every 0.5 or 1 s): a
        # slow machine may see one or two more answered first, never a minute's worth.
        for _ in range(5):
            status, body, headers = await _json(http, method, f"{gateway.url}{path}")
            if status == 429:
                break

        assert _error(status, body) == (429, "rate_limited", {"retry_after_s": 1})
        assert headers["Retry-After"] == "1"
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Content-Type-Options"] == "nosniff"
        # Other paths of auth are not limited by it.
        status, seen, _ = await _json(http, "GET", f"{gateway.url}/.well-known/jwks.json")
        assert (status, seen["service"]) == (200, "auth")


class TestAServiceThatIsDown:
    async def test_its_paths_answer_json_503_not_an_nginx_page(
        self, gateways: Gateways, http: aiohttp.ClientSession
    ) -> None:
        nobody = f"127.0.0.1:{free_port()}"
        gateway = await gateways.start(Upstreams(boards=nobody, projector=nobody))
        status, body, _ = await _json(http, "POST", f"{gateway.url}/api/boards", json={})
        assert _error(status, body) == (503, "service_unavailable", None)
        status, body, _ = await _json(http, "GET", f"{gateway.url}/api/boards")
        assert _error(status, body) == (503, "service_unavailable", None)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{gateway.url}/ws")
        assert refused.value.status == 503


class TestTheBrowserClientRoot:
    async def test_root_says_where_the_api_is_while_no_client_is_installed(
        self, gateway: Gateway, http: aiohttp.ClientSession
    ) -> None:
        status, body, headers = await _json(http, "GET", f"{gateway.url}/")
        assert (status, body["service"]) == (200, "cardstream API")
        assert "README" in body["message"]
        assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS

    async def test_the_client_is_served_with_security_and_cache_headers(
        self, gateway: Gateway, http: aiohttp.ClientSession, web_root: Path
    ) -> None:
        (web_root / "index.html").write_text("<!doctype html><title>cardstream</title>")
        # The client's layout: a stylesheet, modules under js/ and a vendored library.
        assets = {
            "/app.css": "text/css",
            "/app.js": "application/javascript",
            "/js/main.js": "application/javascript",
            "/vendor/sortablejs-1.15.6/sortable.esm.js": "application/javascript",
        }
        for path in assets:
            (web_root / path[1:]).parent.mkdir(parents=True, exist_ok=True)
            (web_root / path[1:]).write_text(f"/* {path} */\n")
        for path in ("/", "/boards/b1"):  # every path the client routes itself gets index.html
            async with http.get(f"{gateway.url}{path}") as response:
                assert response.status == 200
                assert await response.text() == "<!doctype html><title>cardstream</title>"
                assert response.content_type == "text/html"
                assert response.headers["Cache-Control"] == "no-cache"
                assert {n: response.headers.get(n) for n in SECURITY_HEADERS} == SECURITY_HEADERS
        for path, content_type in assets.items():
            async with http.get(f"{gateway.url}{path}") as response:
                assert response.status == 200
                assert await response.text() == f"/* {path} */\n"
                assert response.content_type == content_type
                assert response.headers["Cache-Control"] == "max-age=300"
                assert {n: response.headers.get(n) for n in SECURITY_HEADERS} == SECURITY_HEADERS

    async def test_text_over_1_kib_is_gzipped_for_clients_that_accept_it(
        self, gateway: Gateway, http: aiohttp.ClientSession, web_root: Path
    ) -> None:
        script = "export const cards = [" + ",".join(f'"card {i}"' for i in range(500)) + "];\n"
        (web_root / "big.js").write_text(script)
        (web_root / "small.js").write_text("export {};\n")
        gzip = {"Accept-Encoding": "gzip"}
        async with http.get(f"{gateway.url}/big.js", headers=gzip) as response:
            assert response.headers.get("Content-Encoding") == "gzip"
            assert response.headers.get("Vary") == "Accept-Encoding"
            assert await response.text() == script
        async with http.get(f"{gateway.url}/small.js", headers=gzip) as response:
            assert response.headers.get("Content-Encoding") is None
        async with http.get(f"{gateway.url}/big.js", headers={"Accept-Encoding": "identity"}) as r:
            assert r.headers.get("Content-Encoding") is None
            assert await r.text() == script


class TestTheBodyLimit:
    @pytest.mark.parametrize("method", ["POST", "PUT"])
    async def test_a_body_over_64_kib_is_refused_by_nginx_with_json_413(
        self, gateway: Gateway, http: aiohttp.ClientSession, method: str
    ) -> None:
        # PUT goes to the stand-in, which would take 256 KiB: only nginx can refuse it.
        status, body, _ = await _json(
            http,
            method,
            f"{gateway.url}/api/boards/{uuid.uuid4()}/commands",
            data=b"x" * (LIMIT + 1),
            headers={"Content-Type": "application/json"},
        )
        assert _error(status, body) == (413, "payload_too_large", None)

    async def test_a_body_of_exactly_64_kib_reaches_the_service(
        self, gateway: Gateway, http: aiohttp.ClientSession
    ) -> None:
        status, seen, _ = await _json(
            http, "PUT", f"{gateway.url}/api/boards/b1/commands", data=b"x" * LIMIT
        )
        assert (status, seen["body_bytes"]) == (200, LIMIT)


class TestOneTemplate:
    def test_production_values_render_the_same_as_envsubst(self) -> None:
        envsubst = shutil.which("envsubst")
        assert envsubst is not None, "envsubst (Debian gettext-base) is missing: run `make install`"
        example = TEMPLATE.parent / "gateway.env.example"
        values = dict(
            line.split("=", 1)
            for line in example.read_text().splitlines()
            if line and not line.startswith("#")
        )
        ours = render_template(values)
        theirs = subprocess.run(
            [envsubst, " ".join(f"${{{name}}}" for name in values)],
            input=TEMPLATE.read_text(),
            env={**os.environ, **values},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert ours == theirs
        assert "server boards:8081;" in ours
        assert 'root "/srv/cardstream/web";' in ours
        assert not re.search(r"\$\{CARDSTREAM_[A-Z]", ours)


async def _raw(gateway: Gateway, request: bytes) -> tuple[int, dict[str, Any]]:
    """Sends bytes no HTTP client library would send, and reads the status and JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(request)
        await writer.drain()
        head, _, body = (await asyncio.wait_for(reader.read(), 10)).partition(b"\r\n\r\n")
    finally:
        writer.close()
        await writer.wait_closed()
    status = int(head.split(b" ", 2)[1])
    headers = dict(
        line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
    )
    assert headers["Content-Type"] == "application/json", (status, body)
    parsed: dict[str, Any] = orjson.loads(body)
    return status, parsed


class TestNginxsOwnErrorsHaveTheJsonShape:
    """Issue 12, finding 14: nginx's own error pages were HTML, against deploy/README.md."""

    @pytest.mark.parametrize(
        ("request_line", "extra", "status", "code"),
        [
            (b"GET /../../etc/passwd HTTP/1.1", b"", 400, "bad_request"),
            (b"GET /api/boards%00 HTTP/1.1", b"", 400, "bad_request"),
            (b"GET /x HTTP/1.1", b"X-Big: " + b"a" * (9 * 1024) + b"\r\n", 400, "bad_request"),
            (b"POST /index.html HTTP/1.1", b"Content-Length: 0\r\n", 405, "method_not_allowed"),
            (b"GET /" + b"a" * (9 * 1024) + b" HTTP/1.1", b"", 414, "uri_too_long"),
        ],
        ids=["dot-dot", "nul", "9-kib-header", "post-static", "long-uri"],
    )
    async def test_each_is_json(
        self,
        gateway: Gateway,
        web_root: Path,
        request_line: bytes,
        extra: bytes,
        status: int,
        code: str,
    ) -> None:
        (web_root / "index.html").write_text("<!doctype html><title>cardstream</title>")
        request = request_line + b"\r\nHost: x\r\nConnection: close\r\n" + extra + b"\r\n"

        answered, body = await _raw(gateway, request)

        assert (answered, body["error"]["code"]) == (status, code)
        assert set(body["error"]) == {"code", "message", "details"}


class TestTheAccessLog:
    async def test_query_strings_stay_out_of_it(
        self, gateway: Gateway, http: aiohttp.ClientSession
    ) -> None:
        # Sign-in's callback carries its one-time code and state in the query string.
        async with http.get(f"{gateway.url}/auth/callback?code=SECRETCODE&state=S1") as response:
            await response.read()
        async with http.get(f"{gateway.url}/api/boards?secret=SECRETQUERY") as response:
            await response.read()

        log = gateway.access_log_path.read_text()
        assert '"GET /auth/callback HTTP/1.1"' in log
        assert '"GET /api/boards HTTP/1.1"' in log
        assert "SECRETCODE" not in log
        assert "SECRETQUERY" not in log
