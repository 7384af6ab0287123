"""What production sets for each service is what its deploy/<service>.env.example lists: those are
the settings that must be set (deploy/README.md), and each artifact an operator starts
(deploy/compose.yaml, deploy/k8s/) sets exactly those names for each service, from literal values,
ConfigMaps, Secret references or variables the operator provides, and nothing else. The settings
classes take `extra="ignore"`, so a name a service does not read, a typo among them, would be
ignored without a word: every listed name must be one the service reads.

Beyond names, each artifact's values are given to the settings classes in production mode (the
operator's secrets stood in for), so a value the service would refuse fails here, and what the
services must agree on (issuer, audiences, partitions, origins, where auth's keys and each
upstream are) is checked across them."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from auth.domain.kek import new_key
from auth.settings import AuthSettings
from boards.settings import BoardsSettings
from projector.settings import ProjectorSettings
from pydantic import SecretStr
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "boards": BoardsSettings,
    "projector": ProjectorSettings,
}
# Stand-ins for what the operator puts in each Secret the manifests refer to, shaped as
# production's values are (deploy/README.md#kubernetes lists them).
K8S_SECRETS = {
    ("cardstream-redis", "url"): "redis://:pw@redis.example:6379/0",
    ("cardstream-auth-state-redis", "url"): "redis://:pw@auth-state.example:6379/0",
    ("cardstream-projector-mongo", "url"): (
        "mongodb://cardstream-projector:pw@mongo.example:27017/?replicaSet=rs0&authSource=admin"
    ),
    ("cardstream-auth-mongo", "url"): (
        "mongodb://cardstream-auth:pw@mongo.example:27017/?replicaSet=rs0&authSource=admin"
    ),
    ("cardstream-auth-oidc", "client-id"): "cardstream.apps.example.com",
    ("cardstream-auth-oidc", "client-secret"): "client-secret",
}


def read_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (pydantic-settings matches them in any
    case; upper case is how every artifact writes them)."""
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def credentials(settings: type[BaseSettings]) -> set[str]:
    """Settings whose value is a secret: typed SecretStr, or a store URL (it carries a password)."""
    prefix = settings.model_config.get("env_prefix", "")
    return {
        f"{prefix}{name}".upper()
        for name, info in settings.model_fields.items()
        if name.endswith(("redis_url", "mongo_url"))
        or SecretStr in (info.annotation, *getattr(info.annotation, "__args__", ()))
    }


def env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def env_example(service: str) -> dict[str, str]:
    return env_file(DEPLOY / f"{service}.env.example")


def gateway_placeholders() -> set[str]:
    template = (DEPLOY / "nginx" / "cardstream.conf.template").read_text()
    return set(re.findall(r"\$\{(CARDSTREAM_[A-Z_]+)\}", template))


def service_of_image(image: str) -> str:
    """cardstream-boards:0.1.0 -> boards (the Dockerfile's target names every image)."""
    name = image.rpartition("/")[2].partition(":")[0]
    assert name.startswith("cardstream-"), f"{image} is none of our images"
    return name.removeprefix("cardstream-")


# --- deploy/compose.yaml -------------------------------------------------------------------


# Parsed once: the tests only read them.
@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


# Compose's interpolation: $$ is a `$`; ${NAME}, ${NAME:-default}, ${NAME-default},
# ${NAME:?error}, ${NAME?error}.
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name is None:
            return "$"
        given = variables.get(name)
        if operator and operator.endswith("-") and not given:
            return argument
        assert given, f"${{{name}}} has no value: {argument or 'unset'}"
        return given

    return _VARIABLE.sub(substitute, value)


def operator_variables() -> dict[str, str]:
    """deploy/compose.env.example, each `<…>` placeholder given a stand-in value."""
    example = env_file(DEPLOY / "compose.env.example")
    return {k: ("stand-in-" + k.lower()) if v.startswith("<") else v for k, v in example.items()}


def compose_services_of(service: str) -> dict[str, dict[str, Any]]:
    return {
        name: spec
        for name, spec in compose()["services"].items()
        if str(spec.get("image", "")).startswith(f"cardstream-{service}:")
    }


def compose_environment(service: str) -> dict[str, str]:
    (spec,) = compose_services_of(service).values()
    environment: dict[str, Any] = spec.get("environment", {})
    assert isinstance(environment, dict), "compose environment is written as a mapping"
    assert "env_file" not in spec, "every setting is in compose.yaml, where the tests read it"
    return {name: str(value) for name, value in environment.items()}


# --- deploy/k8s ----------------------------------------------------------------------------


@cache
def k8s_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    return [
        document
        for resource in kustomization["resources"]
        for document in yaml.safe_load_all((DEPLOY / "k8s" / resource).read_text())
        if document
    ]


def k8s_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_documents() if d["kind"] == kind}


def the_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container_spec: dict[str, Any] = container
    return container_spec


def deployments_of(service: str) -> dict[str, dict[str, Any]]:
    return {
        name: d
        for name, d in k8s_kind("Deployment").items()
        if service_of_image(the_container(d)["image"]) == service
    }


def k8s_environment(deployment: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each variable the container gets -> (where from: configmap, literal or secret, value or
    secret/key). A variable set twice, or from a Secret whose keys cannot be read here, fails."""
    config_maps = k8s_kind("ConfigMap")
    container = the_container(deployment)
    found: dict[str, tuple[str, str]] = {}

    def add(name: str, source: tuple[str, str]) -> None:
        assert name not in found, f"{name} is set twice"
        found[name] = source

    for source in container.get("envFrom", []):
        # Only ConfigMaps, whose keys are here to read; a Secret's keys are the operator's.
        assert set(source) == {"configMapRef"}, f"envFrom {source} is not a ConfigMap"
        for name, value in config_maps[source["configMapRef"]["name"]]["data"].items():
            add(name, ("configmap", str(value)))
    for variable in container.get("env", []):
        if "value" in variable:
            add(variable["name"], ("literal", str(variable["value"])))
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            add(variable["name"], ("secret", f"{ref['name']}/{ref['key']}"))
    return found


def secret_key(source: str) -> tuple[str, str]:
    name, _, key = source.partition("/")
    return name, key


def k8s_deployment_ids() -> list[str]:
    return sorted(k8s_kind("Deployment"))


# --- what must be set, and nothing else ----------------------------------------------------


@pytest.mark.parametrize("service", SETTINGS)
def test_every_name_production_sets_is_a_setting_of_its_service(service: str) -> None:
    assert set(env_example(service)) - read_names(SETTINGS[service]) == set()


@pytest.mark.parametrize("service", SETTINGS)
def test_compose_sets_exactly_what_production_sets(service: str) -> None:
    assert sorted(compose_environment(service)) == sorted(env_example(service))


@pytest.mark.parametrize("deployment", k8s_deployment_ids())
def test_each_kubernetes_deployment_sets_exactly_what_production_sets(deployment: str) -> None:
    spec = k8s_kind("Deployment")[deployment]
    service = service_of_image(the_container(spec)["image"])
    wanted = env_example(service) if service in SETTINGS else gateway_placeholders()

    assert sorted(k8s_environment(spec)) == sorted(wanted)


def test_every_service_and_the_gateway_run_in_each_artifact() -> None:
    in_compose = {
        service_of_image(s["image"]) for s in compose()["services"].values() if "build" in s
    }
    in_k8s = {service_of_image(the_container(d)["image"]) for d in k8s_kind("Deployment").values()}

    assert in_compose == in_k8s == {*SETTINGS, "gateway"}


def test_the_gateway_gets_every_placeholder_of_its_template_and_nothing_else() -> None:
    example = env_file(DEPLOY / "nginx" / "gateway.env.example")
    (gateway,) = compose_services_of("gateway").values()

    assert sorted(gateway["environment"]) == sorted(gateway_placeholders()) == sorted(example)


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SETTINGS)
def test_compose_takes_every_credential_from_the_operator(service: str) -> None:
    environment = compose_environment(service)
    wanted = credentials(SETTINGS[service]) & set(environment)

    assert wanted, "no credential found: the test lost track of them"
    # Each one interpolates a variable of deploy/.env: no secret is written into compose.yaml.
    assert [name for name in sorted(wanted) if "${CARDSTREAM_" not in environment[name]] == []


@pytest.mark.parametrize("deployment", k8s_deployment_ids())
def test_kubernetes_takes_every_credential_from_a_secret(deployment: str) -> None:
    spec = k8s_kind("Deployment")[deployment]
    service = service_of_image(the_container(spec)["image"])
    environment = k8s_environment(spec)
    wanted = credentials(SETTINGS[service]) & set(environment) if service in SETTINGS else set()

    assert [name for name in sorted(wanted) if environment[name][0] != "secret"] == []


def test_no_secret_is_committed_in_the_manifests() -> None:
    assert [d["metadata"]["name"] for d in k8s_documents() if d["kind"] == "Secret"] == []


def test_every_secret_the_manifests_use_is_one_the_guide_tells_the_operator_to_create() -> None:
    referenced = {
        secret_key(source)
        for spec in k8s_kind("Deployment").values()
        for kind, source in k8s_environment(spec).values()
        if kind == "secret"
    }
    mounted = {
        (volume["secret"]["secretName"], item["key"])
        for spec in k8s_kind("Deployment").values()
        for volume in spec["spec"]["template"]["spec"].get("volumes", [])
        if "secret" in volume
        for item in volume["secret"]["items"]
    }
    guide = (DEPLOY / "README.md").read_text()

    assert referenced == set(K8S_SECRETS)
    assert [
        f"{name}/{key}"
        for name, key in sorted(referenced | mounted)
        if f"`{name}`" not in guide or f"`{key}`" not in guide
    ] == []


def test_compose_mounts_auths_keys_where_auth_reads_them() -> None:
    (auth,) = compose_services_of("auth").values()
    path = Path(compose_environment("auth")["AUTH_KEY_ENCRYPTION_KEYS_FILE"])

    # Compose mounts a secret at /run/secrets/<name>.
    assert path.parent == Path("/run/secrets")
    assert path.name in auth["secrets"]
    assert compose()["secrets"][path.name]["file"] == f"./secrets/{path.name}"


def test_kubernetes_mounts_auths_keys_where_auth_reads_them() -> None:
    (auth,) = deployments_of("auth").values()
    kind, value = k8s_environment(auth)["AUTH_KEY_ENCRYPTION_KEYS_FILE"]
    path = Path(value)
    pod = auth["spec"]["template"]["spec"]
    (mount,) = [
        m for m in the_container(auth)["volumeMounts"] if m["mountPath"] == str(path.parent)
    ]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]

    assert kind == "configmap"
    assert mount["readOnly"] is True
    assert path.name in [item["path"] for item in volume["secret"]["items"]]
    # Readable by the service's group only: the pod's fsGroup owns a Secret volume's files.
    assert volume["secret"]["defaultMode"] == 0o440
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]


# --- the values, as the services read them -------------------------------------------------


class Deployed:
    """One artifact's settings for every service, as the services parse them, and where a
    host:port it names leads: (the deployment or compose service there, the port it listens on)."""

    def __init__(
        self,
        settings: dict[str, BaseSettings],
        gateway: dict[str, str],
        route: Callable[[str, int], tuple[str, int]],
        roles: dict[str, str],
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.route = route
        self.roles = roles

    def __getattr__(self, service: str) -> Any:
        return self.settings[service]


def _parse(service: str, environment: dict[str, str], kek: Path, mp: pytest.MonkeyPatch) -> Any:
    settings = SETTINGS[service]
    prefix = str(settings.model_config.get("env_prefix"))
    for name in [name for name in os.environ if name.upper().startswith(prefix)]:
        mp.delenv(name)
    for name, value in environment.items():
        mp.setenv(name, value)
    if service == "auth":
        # The artifact names where the keys are mounted; here they are a stand-in file.
        mp.setenv("AUTH_KEY_ENCRYPTION_KEYS_FILE", str(kek))
    return settings()


def _compose_deployed(kek: Path, mp: pytest.MonkeyPatch) -> Deployed:
    variables = operator_variables()
    services = compose()["services"]

    def route(host: str, port: int) -> tuple[str, int]:
        assert host in services, f"no compose service {host}"
        # Inside a compose network a name:port reaches that very port of the container.
        return host, port

    settings = {}
    for service in SETTINGS:
        environment = {
            k: interpolate(v, variables) for k, v in compose_environment(service).items()
        }
        with mp.context() as scoped:
            settings[service] = _parse(service, environment, kek, scoped)
    (gateway,) = compose_services_of("gateway").values()
    roles = {
        name: str(spec["environment"].get("PROJECTOR_ROLE", "")) for name, spec in services.items()
    }
    return Deployed(settings, dict(gateway["environment"]), route, roles)


def _k8s_deployed(kek: Path, mp: pytest.MonkeyPatch) -> Deployed:
    deployments = k8s_kind("Deployment")
    services = k8s_kind("Service")

    def route(host: str, port: int) -> tuple[str, int]:
        service = services[host]
        (target,) = [p["targetPort"] for p in service["spec"]["ports"] if p["port"] == port]
        selected = [
            name
            for name, d in deployments.items()
            if service["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, f"Service {host} selects {selected}"
        (container_port,) = [
            p["containerPort"]
            for p in the_container(deployments[selected[0]])["ports"]
            if target in (p["name"], p["containerPort"])
        ]
        return selected[0], container_port

    def values(spec: dict[str, Any]) -> dict[str, str]:
        return {
            name: K8S_SECRETS[secret_key(value)] if kind == "secret" else value
            for name, (kind, value) in k8s_environment(spec).items()
        }

    settings = {}
    for service in SETTINGS:
        for name, spec in deployments_of(service).items():
            with mp.context() as scoped:
                parsed = _parse(service, values(spec), kek, scoped)
            # Every Deployment is parsed; the others meet the one named for its service (for
            # the projector, the serving one, behind the gateway).
            if name == service:
                settings[service] = parsed
    roles = {name: values(d).get("PROJECTOR_ROLE", "") for name, d in deployments.items()}
    return Deployed(settings, values(deployments["gateway"]), route, roles)


@pytest.fixture(params=["compose", "kubernetes"])
def deployed(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Deployed:
    kek = tmp_path / "kek"
    kek.write_text(f"stand-in:{new_key()}\n")
    build = _compose_deployed if request.param == "compose" else _k8s_deployed
    return build(kek, monkeypatch)


def test_the_services_run_in_production_mode(deployed: Deployed) -> None:
    assert [s for s, settings in deployed.settings.items() if not settings.production] == []


def test_tokens_are_issued_for_and_checked_by_the_same_names(deployed: Deployed) -> None:
    assert deployed.boards.jwt_issuer == deployed.projector.jwt_issuer == deployed.auth.issuer
    assert deployed.boards.jwt_audience == deployed.auth.boards_audience
    assert deployed.projector.jwt_audience == deployed.auth.projector_audience


def test_the_services_share_one_event_log(deployed: Deployed) -> None:
    log = {urlsplit(s.redis_url).hostname for s in deployed.settings.values()}
    state = urlsplit(deployed.auth.state_redis_url).hostname

    assert len(log) == 1
    assert state not in log
    assert deployed.boards.partitions == deployed.projector.partitions
    assert len({s.key_prefix for s in deployed.settings.values()}) == 1


def test_browsers_are_let_onto_the_websocket_from_the_public_url(deployed: Deployed) -> None:
    assert deployed.projector.allowed_origins == [deployed.auth.public_url]


@pytest.mark.parametrize("service", ["boards", "projector"])
def test_each_service_fetches_our_keys_from_auth(deployed: Deployed, service: str) -> None:
    url = urlsplit(str(deployed.settings[service].jwks_url))
    where, port = deployed.route(str(url.hostname), int(url.port or 80))

    assert url.path == "/.well-known/jwks.json"
    assert where == "auth"
    assert port == deployed.auth.port


@pytest.mark.parametrize("service", SETTINGS)
def test_the_gateway_reaches_each_service_where_it_listens(
    deployed: Deployed, service: str
) -> None:
    host, _, port = deployed.gateway[f"CARDSTREAM_{service.upper()}"].partition(":")
    where, listens = deployed.route(host, int(port))

    assert listens == deployed.settings[service].port
    # Reads and WebSockets go to a projector that serves them.
    assert deployed.roles[where] in ("", "serve", "both")
