"""deploy/compose.yaml, checked without a container runtime: valid against the Compose
Specification's JSON Schema (the copy check-jsonschema ships, so this runs offline), every image
of ours built from a target of deploy/images/Dockerfile, every long-running service health-checked
and started only once what it needs is healthy, every file it mounts either in the repository or
one the operator provides (git-ignored), and every variable it reads listed in
deploy/compose.env.example and deploy/README.md. What each service is given is in
test_deploy_settings.py."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "images" / "Dockerfile"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def ours() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services().items() if "build" in spec}


def dockerfile_targets_with(keyword: str) -> set[str]:
    """Targets whose own stage or a stage they are built on has the instruction."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    base: dict[str, str] = {}
    having: set[str] = set()
    current = ""
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            current = words[3]
            base[current] = words[1]
        elif words[:1] == [keyword]:
            having.add(current)

    def has(stage: str) -> bool:
        return stage in having or (stage in base and has(base[stage]))

    return {stage for stage in base if has(stage)}


def env_example_names(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]


def test_compose_yaml_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(
        (files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text()
    )
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(compose())
    ]

    assert errors == []


@pytest.mark.parametrize("service", sorted(ours()))
def test_each_image_of_ours_is_built_from_its_target_of_the_dockerfile(service: str) -> None:
    spec = ours()[service]
    build = spec["build"]
    target = build["target"]

    # Compose resolves the context from this file's directory, the Dockerfile from the context.
    assert (DEPLOY / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
    assert target in dockerfile_targets_with("ENTRYPOINT") | {"gateway"}
    assert spec["image"].partition(":")[0] == f"cardstream-{target}"


def long_running() -> list[str]:
    """Every service but the one-shot jobs (`restart: "no"`), which others wait to complete."""
    return sorted(name for name, spec in services().items() if spec.get("restart") != "no")


def test_the_one_shot_jobs_are_the_replica_set_set_up_only() -> None:
    assert set(services()) - set(long_running()) == {"mongo-init"}


@pytest.mark.parametrize("service", long_running())
def test_each_long_running_service_is_health_checked(service: str) -> None:
    spec = services()[service]
    checked_by_image = "build" in spec and spec["build"]["target"] in dockerfile_targets_with(
        "HEALTHCHECK"
    )

    assert "healthcheck" in spec or checked_by_image
    assert spec["restart"] == "unless-stopped"


@pytest.mark.parametrize("service", sorted(services()))
def test_each_service_starts_once_what_it_needs_is_healthy_or_done(service: str) -> None:
    one_shot = services()[service].get("restart") == "no"
    for needed, wait in services()[service].get("depends_on", {}).items():
        other = services()[needed]
        if one_shot and wait["condition"] == "service_started":
            # mongo-init: mongo is healthy only once mongo-init has made it a replica set, so
            # the job starts beside it and waits for it itself.
            continue
        if other.get("restart") == "no":
            assert wait["condition"] == "service_completed_successfully"
        elif "healthcheck" in other or "build" in other:
            assert wait["condition"] == "service_healthy"
        else:
            raise AssertionError(f"{service} waits for {needed}, which has no health check")


def test_only_the_gateway_is_published() -> None:
    published = {name for name, spec in services().items() if spec.get("ports")}

    assert published == {"gateway"}


def test_every_variable_the_operator_provides_is_in_the_example_and_the_guide() -> None:
    wanted = set(_VARIABLE.findall((DEPLOY / "compose.yaml").read_text()))
    names = {name for name, _ in wanted}
    required = {name for name, rule in wanted if rule.startswith(":?")}
    example = env_example_names(DEPLOY / "compose.env.example")
    guide = (DEPLOY / "README.md").read_text()

    assert sorted(example) == sorted(names)
    assert [name for name in sorted(names) if f"`{name}`" not in guide] == []
    # A required one has no default anywhere in the file.
    assert {name for name, rule in wanted if rule.startswith(":-")} & required == set()


def _mounted_files() -> list[str]:
    sources = [
        volume.split(":")[0]
        for spec in services().values()
        for volume in spec.get("volumes", [])
        if volume.startswith("./")
    ]
    return sources + [secret["file"] for secret in compose().get("secrets", {}).values()]


def _ignored(path: Path) -> bool:
    check = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, check=False)
    return check.returncode == 0


def test_every_file_compose_mounts_is_in_the_repository_or_ignored_for_the_operator() -> None:
    missing = []
    for source in _mounted_files():
        path = DEPLOY / source
        if path.is_relative_to(DEPLOY / "secrets"):
            # Provided by the operator: never committed, and named in the guide.
            assert _ignored(path), f"{source} would be committed"
            assert f"`{source.removeprefix('./')}`" in (DEPLOY / "README.md").read_text()
        elif not path.is_file():
            missing.append(source)

    assert missing == []
    assert _ignored(DEPLOY / ".env")


def test_the_stores_run_on_the_checked_in_configs() -> None:
    def config(service: str) -> str:
        (mount,) = [v for v in services()[service]["volumes"] if v.endswith(":ro") and ".conf" in v]
        return mount.split(":")[0]

    assert config("redis") == "./redis.conf"
    assert config("redis-auth-state") == "./redis-auth-state.conf"
    assert "--replSet" in (DEPLOY / "compose" / "mongo-start.sh").read_text()


def test_mongo_init_creates_the_users_the_services_connect_as() -> None:
    script = (DEPLOY / "compose" / "mongo-init.js").read_text()
    granted = set(
        re.findall(r'user: "([^"]+)".*?roles: \[\{ role: "readWrite", db: "([^"]+)" \}\]', script)
    )
    connecting = set()
    for prefix, spec in [("PROJECTOR", ours()["projector"]), ("AUTH", ours()["auth"])]:
        user = re.match(r"mongodb://([^:]+):", spec["environment"][f"{prefix}_MONGO_URL"])
        assert user is not None
        connecting.add((user.group(1), spec["environment"][f"{prefix}_MONGO_DB"]))

    assert granted == connecting
