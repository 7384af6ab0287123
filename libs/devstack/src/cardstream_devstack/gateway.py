"""The nginx gateway that puts every service behind one URL, for `make run` and tests.

`render_nginx_conf` fills deploy/nginx/cardstream.conf.template, the routing production renders
too; `Gateway` runs Debian's nginx on it as an unprivileged foreground process whose pid file,
logs and temp files all live under its own prefix directory.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cardstream_devstack.processes import ServerProcess, ServerStartError

TEMPLATE = Path(__file__).resolve().parents[4] / "deploy" / "nginx" / "cardstream.conf.template"

# An upstream whose only server is `down`: nginx starts, and every request to it gets our 503.
AUTH_ABSENT = "127.0.0.1:9 down"

_PLACEHOLDER = re.compile(r"\$\{(CARDSTREAM_[A-Z_]+)\}")
# Whatever would end a directive, open a block, quote or expand a variable in nginx's syntax.
_UNSAFE = re.compile(r"[;{}\"'$#\\\n\r]")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# The types the browser client can need; the production main config includes mime.types.
_MIME_TYPES = """\
        text/html html htm;
        text/css css;
        text/plain txt;
        text/markdown md;
        application/javascript js mjs;
        application/json json map;
        application/manifest+json webmanifest;
        image/svg+xml svg;
        image/png png;
        image/webp webp;
        image/x-icon ico;
        font/woff2 woff2;"""


class GatewayConfigError(ValueError):
    pass


# One value, or several for a placeholder alone on its line (that line is repeated per value).
Value = str | tuple[str, ...]


@dataclass(frozen=True)
class Upstreams:
    """host:port of each service, or a tuple of them for several instances (nginx spreads the
    requests round-robin); `auth=None` while no auth service runs."""

    boards: Value
    projector: Value
    auth: str | None = None


def template_values(
    *, listen: str, upstreams: Upstreams, web_root: Path | str, access_log: Path | str
) -> dict[str, Value]:
    return {
        "CARDSTREAM_LISTEN": listen,
        "CARDSTREAM_BOARDS": upstreams.boards,
        "CARDSTREAM_PROJECTOR": upstreams.projector,
        "CARDSTREAM_AUTH": upstreams.auth or AUTH_ABSENT,
        "CARDSTREAM_WEB_ROOT": str(web_root),
        "CARDSTREAM_ACCESS_LOG": str(access_log),
    }


def render_template(values: Mapping[str, Value], template: Path = TEMPLATE) -> str:
    """Fill every ${CARDSTREAM_*} placeholder, as envsubst would; none may be left out. A tuple
    of values repeats its placeholder's line once per value (`server a;`, `server b;`), which
    production gets from one name that resolves to several addresses instead."""
    text = template.read_text()
    wanted = set(_PLACEHOLDER.findall(text))
    if missing := sorted(wanted - values.keys()):
        raise GatewayConfigError(f"no value for {', '.join(missing)} in {template}")
    if unknown := sorted(values.keys() - wanted):
        raise GatewayConfigError(f"{template} has no placeholder for {', '.join(unknown)}")
    for name, value in values.items():
        items = value if isinstance(value, tuple) else (value,)
        if not items or any(not item or _UNSAFE.search(item) for item in items):
            raise GatewayConfigError(f"{name}={value!r} is empty or not safe in an nginx config")
    return "".join(_render_line(line, values) for line in text.splitlines(keepends=True))


def _render_line(line: str, values: Mapping[str, Value]) -> str:
    names = _PLACEHOLDER.findall(line)
    several = [name for name in names if isinstance(values[name], tuple)]
    if not several:
        return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), line)
    if len(names) > 1:
        raise GatewayConfigError(f"{several[0]} has several values: it must be alone on its line")
    return "".join(_PLACEHOLDER.sub(item, line) for item in values[several[0]])


def render_nginx_conf(
    *,
    listen: str,
    upstreams: Upstreams,
    web_root: Path | str,
    access_log: Path | str,
    template: Path = TEMPLATE,
) -> str:
    values = template_values(
        listen=listen, upstreams=upstreams, web_root=web_root, access_log=access_log
    )
    return render_template(values, template)


def render_main_conf(*, prefix: Path, site_conf: Path, error_log: Path) -> str:
    """The main context for a local run: every path nginx writes is under `prefix`."""
    for path in (prefix, site_conf, error_log):
        if _UNSAFE.search(str(path)):
            raise GatewayConfigError(f"{path} is not safe in an nginx config")
    temp = prefix / "temp"
    return f"""\
# Written by cardstream_devstack.gateway for a local run; the routing is in {site_conf.name}.
# One process, no privilege drop: it reads the checkout as whoever started it, and stopping it
# leaves no worker behind. (Production uses deploy/nginx/nginx.conf.)
master_process off;
worker_processes 1;
pid "{prefix / "nginx.pid"}";
error_log "{error_log}" warn;

events {{
    worker_connections 1024;
}}

http {{
    types {{
{_MIME_TYPES}
    }}
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path "{temp / "client_body"}";
    proxy_temp_path "{temp / "proxy"}";
    fastcgi_temp_path "{temp / "fastcgi"}";
    uwsgi_temp_path "{temp / "uwsgi"}";
    scgi_temp_path "{temp / "scgi"}";
    include "{site_conf}";
}}
"""


def nginx_binary() -> str:
    """NGINX_BIN, else nginx on PATH, else Debian's /usr/sbin/nginx (not on a user's PATH)."""
    if explicit := os.environ.get("NGINX_BIN"):
        return explicit
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        raise ServerStartError("no nginx binary on PATH nor in /usr/sbin; run `make install`")
    return found


def _answers(url: str) -> bool:
    try:
        with _NO_PROXY.open(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


class Gateway(ServerProcess):
    """nginx on 127.0.0.1:`port` in front of `upstreams`, serving `web_root` at `/`.

    `prefix` holds the rendered configs, pid file, logs (logs/error.log, which also takes nginx's
    stderr, and logs/access.log) and temp files; a temporary directory, removed on close, when
    not given.
    """

    name = "nginx"

    def __init__(
        self,
        upstreams: Upstreams,
        *,
        web_root: Path,
        prefix: Path | None = None,
        port: int | None = None,
        log_path: Path | None = None,
        timeout: float = 10.0,
        template: Path = TEMPLATE,
    ) -> None:
        super().__init__(prefix, port, log_path, timeout)
        if log_path is None:
            self.log_path = self.prefix / "logs" / "error.log"
        self.upstreams = upstreams
        self.web_root = web_root.resolve()
        self.template = template
        self.binary = nginx_binary()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def prefix(self) -> Path:
        return self.data_dir.resolve()

    @property
    def conf_path(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def site_conf_path(self) -> Path:
        return self.prefix / "cardstream.conf"

    @property
    def pid_path(self) -> Path:
        return self.prefix / "nginx.pid"

    @property
    def access_log_path(self) -> Path:
        return self.prefix / "logs" / "access.log"

    def _prepare(self) -> None:
        (self.prefix / "temp").mkdir(exist_ok=True)
        self.access_log_path.parent.mkdir(exist_ok=True)

    def _argv(self) -> list[str]:
        # Written per attempt: after a lost port race the next attempt listens elsewhere.
        self._write_confs()
        return [
            self.binary,
            "-p", f"{self.prefix}/",
            "-c", str(self.conf_path),
            "-e", str(self.log_path.resolve()),
            "-g", "daemon off;",
        ]  # fmt: skip

    def _write_confs(self) -> None:
        # A pid file left by an earlier run would pass for the answer of this one.
        self.pid_path.unlink(missing_ok=True)
        self.site_conf_path.write_text(
            render_nginx_conf(
                listen=f"127.0.0.1:{self.port}",
                upstreams=self.upstreams,
                web_root=self.web_root,
                access_log=self.access_log_path,
                template=self.template,
            )
        )
        self.conf_path.write_text(
            render_main_conf(
                prefix=self.prefix,
                site_conf=self.site_conf_path,
                error_log=self.log_path.resolve(),
            )
        )

    def _answering_pid(self) -> int | None:
        # nginx writes its pid file only after binding the port, so while the file names no
        # process, whatever answers there is not us.
        try:
            pid = int(self.pid_path.read_text())
        except (OSError, ValueError):
            return None
        return pid if _answers(f"{self.url}/") else None
