"""deploy/images/Dockerfile, read as text (no container runtime runs here to build it): every
base image pinned to an exact version, each target running as a fixed unprivileged user with a
health check on the port its service listens on, the third-party packages taken from
requirements.lock with their hashes, and nothing copied that .dockerignore keeps out of the
build context. The gateway's main context is production's deploy/nginx/nginx.conf, unprivileged."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from auth.settings import AuthSettings
from boards.settings import BoardsSettings
from projector.settings import ProjectorSettings
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "images" / "Dockerfile"
SERVICES: dict[str, type[BaseSettings]] = {
    "boards": BoardsSettings,
    "projector": ProjectorSettings,
    "auth": AuthSettings,
}
TARGETS = [*SERVICES, "gateway"]
# The service's own package directory and the name it is installed under.
PACKAGE_DIRS = {
    "cardstream-contracts": "contracts",
    "cardstream-runtime": "libs/runtime",
    **{f"cardstream-{service}": f"services/{service}" for service in SERVICES},
}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    found = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def stages() -> dict[str, Stage]:
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, arguments in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = arguments.split()
            assert [w.upper() for w in words[1:2]] == ["AS"], f"unnamed stage: FROM {arguments}"
            current = found[words[2]] = Stage(name=words[2], base=words[0])
        else:
            assert current is not None, f"{keyword} before any FROM"
            current.instructions.append((keyword, arguments))
    return found


def lineage(target: str) -> list[Stage]:
    """The target's stage and every stage it is built on, the first built first."""
    all_stages = stages()
    chain = [all_stages[target]]
    while chain[-1].base in all_stages:
        chain.append(all_stages[chain[-1].base])
    return chain[::-1]


def last(target: str, keyword: str) -> str | None:
    """What the target ends up with for an instruction that a later one overrides."""
    values = [a for stage in lineage(target) for k, a in stage.instructions if k == keyword]
    return values[-1] if values else None


def external_bases() -> list[str]:
    names = set(stages())
    return [stage.base for stage in stages().values() if stage.base not in names]


def test_every_base_image_is_pinned_to_an_exact_version() -> None:
    bases = external_bases()

    assert bases, "no base image found"
    # name:X.Y.Z[-variant] (a patch release), optionally @sha256:<digest>; never a moving tag.
    exact = re.compile(r"^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$")
    assert [base for base in bases if not exact.match(base)] == []


def test_the_python_base_is_the_python_the_code_is_checked_for() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        checked = tomllib.load(file)["tool"]["mypy"]["python_version"]
    pythons = [base for base in external_bases() if base.startswith("python:")]

    assert len(pythons) == 1
    assert pythons[0].startswith(f"python:{checked}.")


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_runs_as_a_fixed_unprivileged_user(target: str) -> None:
    user = last(target, "USER")

    assert user is not None, f"{target} runs as root"
    uid, _, gid = user.partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit()
    assert int(uid) > 0
    assert gid.isdigit()
    assert int(gid) > 0


def _healthcheck(target: str) -> str:
    check = last(target, "HEALTHCHECK")
    assert check is not None, f"{target} has no HEALTHCHECK"
    options, _, command = check.partition("CMD ")
    assert "--interval=" in options
    assert "--timeout=" in options
    return command


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_target_checks_healthz_on_the_port_its_service_listens_on(
    service: str,
) -> None:
    settings = SERVICES[service]
    prefix = str(settings.model_config.get("env_prefix"))
    default_port = settings.model_fields["port"].default
    command = _healthcheck(service)

    assert last(service, "EXPOSE") == str(default_port)
    # Exec form: python itself fetches /healthz on the port setting, its default the service's.
    assert command.startswith('["python", "-c", ')
    assert "/healthz" in command
    assert f"os.environ.get('{prefix}PORT', '{default_port}')" in command
    assert last(service, "ENTRYPOINT") == f'["python", "-m", "{service}"]'


def test_the_gateway_checks_the_port_nginx_listens_on() -> None:
    command = _healthcheck("gateway")

    assert last("gateway", "EXPOSE") == "8080"
    assert "${CARDSTREAM_LISTEN##*:}" in command


def behind(target: str) -> list[Stage]:
    """Every stage the target's files come from: its lineage and what it copies --from."""
    found: dict[str, Stage] = {}
    for stage in lineage(target):
        found[stage.name] = stage
        for keyword, arguments in stage.instructions:
            if keyword == "COPY" and arguments.startswith("--from="):
                source = arguments.split()[0].removeprefix("--from=")
                found.update((s.name, s) for s in behind(source))
    return list(found.values())


def _runs(target: str) -> list[list[str]]:
    return [shlex.split(a) for stage in behind(target) for k, a in stage.instructions if k == "RUN"]


def _local_dependencies(package: str) -> set[str]:
    """The package and every one of ours it depends on, transitively (pyproject.toml)."""
    with (ROOT / PACKAGE_DIRS[package] / "pyproject.toml").open("rb") as file:
        wanted = tomllib.load(file)["project"]["dependencies"]
    ours = {re.split(r"[\s\[<>=!~;]", w, maxsplit=1)[0] for w in wanted} & set(PACKAGE_DIRS)
    return {package}.union(*(_local_dependencies(p) for p in ours))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_installs_its_packages_and_only_locked_wheels(service: str) -> None:
    installs = [run for run in _runs(service) if "install" in run and "--python" in run]
    downloads = [run for run in _runs(service) if "download" in run]

    assert len(installs) == 1
    assert len(downloads) == 1
    download, install = downloads[0], installs[0]
    # Every wheel is checked against requirements.lock's hashes, and installs see no index.
    assert {"--require-hashes", "--no-deps"} <= set(download)
    assert download[download.index("-r") + 1] == "/src/requirements.lock"
    assert "--no-index" in install
    assert download[download.index("-d") + 1] == install[install.index("--find-links") + 1]
    # Exactly the local packages the service needs, per their pyproject.toml files.
    local = {arg.removeprefix("/src/") for arg in install if arg.startswith("/src/")}
    assert local == {PACKAGE_DIRS[p] for p in _local_dependencies(f"cardstream-{service}")}


def _copied_sources() -> set[str]:
    sources = set()
    for stage in stages().values():
        for keyword, arguments in stage.instructions:
            words = arguments.split()
            if keyword == "COPY" and not words[0].startswith("--from="):
                sources.update(words[:-1])
    return sources


def test_every_path_the_dockerfile_copies_is_let_into_the_build_context() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    allowed = {line.removeprefix("!") for line in lines if line.startswith("!")}
    copied = {source.rstrip("/") for source in _copied_sources()}

    def let_in(path: str) -> bool:
        # The path itself, something inside it (a package's src/ and pyproject.toml), or
        # something it is inside.
        return any(
            a == path or a.startswith(f"{path}/") or path.startswith(f"{a}/") for a in allowed
        )

    # Everything is kept out unless let in by name, so a secret or a .venv never gets in.
    assert lines[0] == "*"
    assert [path for path in sorted(copied) if not let_in(path)] == []
    assert [path for path in sorted(copied) if not (ROOT / path).exists()] == []


def test_the_requirements_the_images_install_are_the_lock() -> None:
    assert "requirements.lock" in _copied_sources()


def _directives(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_the_gateway_main_context_is_productions_without_privilege() -> None:
    production = _directives(ROOT / "deploy" / "nginx" / "nginx.conf")
    container = _directives(ROOT / "deploy" / "images" / "nginx.conf")
    temp_paths = [
        f"{kind}_temp_path /tmp/{name};"
        for kind, name in [
            ("client_body", "client_body"),
            ("proxy", "proxy"),
            ("fastcgi", "fastcgi"),
            ("uwsgi", "uwsgi"),
            ("scgi", "scgi"),
        ]
    ]

    # Only what runs as root differs: no user to drop to, and every file nginx writes in /tmp.
    differs = {d for d in production if d.startswith(("user ", "pid "))}
    assert [d for d in production if d not in differs and d not in container] == []
    assert not [d for d in container if d.startswith("user ")]
    assert "pid /tmp/nginx.pid;" in container
    assert set(temp_paths) <= set(container)
    assert set(container) - set(production) == {"pid /tmp/nginx.pid;", *temp_paths}


def test_the_gateway_renders_every_placeholder_of_the_template_and_nothing_else() -> None:
    template = (ROOT / "deploy" / "nginx" / "cardstream.conf.template").read_text()
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", template))
    env = dict(pair.split("=", 1) for pair in [last("gateway", "ENV") or ""] if pair)
    envsubst_filter = re.compile(env["NGINX_ENVSUBST_FILTER"])
    nginx_variables = set(re.findall(r"\$([a-z_][a-z0-9_]*)", template))

    assert placeholders
    assert all(envsubst_filter.search(name) for name in placeholders)
    # The image's envsubst sees only variables the filter admits: none of nginx's own.
    assert not any(envsubst_filter.search(name) for name in nginx_variables)
