"""deploy/k8s, checked without a cluster: every manifest valid against the Kubernetes API schemas
(kubernetes-validate bundles them, so this runs offline; strict, so a misspelt field fails rather
than being dropped by the API server), each Deployment probed on /readyz and /healthz at the port
its service listens on, unprivileged, with resources and a disruption budget, and each Service
selecting pods that listen where it sends them. What each Deployment sets is in
test_deploy_settings.py."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes minor still supported upstream when these were written, and the newest
# the validator bundles.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]
# The port setting of each of our images' services; the gateway's is the port in CARDSTREAM_LISTEN.
PORT_SETTINGS = {"boards": "BOARDS_PORT", "projector": "PROJECTOR_PORT", "auth": "AUTH_PORT"}


@cache
def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


@cache
def documents() -> list[dict[str, Any]]:
    return [
        document
        for resource in kustomization()["resources"]
        for document in yaml.safe_load_all((K8S / resource).read_text())
        if document
    ]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = only
    return found


def image_target(deployment: dict[str, Any]) -> str:
    name = container(deployment)["image"].rpartition("/")[2].partition(":")[0]
    return str(name).removeprefix("cardstream-")


def environment(deployment: dict[str, Any]) -> dict[str, str]:
    """The variables whose values are in the manifests (ConfigMaps and literals)."""
    config_maps = of_kind("ConfigMap")
    found: dict[str, str] = {}
    for source in container(deployment).get("envFrom", []):
        found.update(config_maps[source["configMapRef"]["name"]]["data"])
    found.update(
        {e["name"]: e["value"] for e in container(deployment).get("env", []) if "value" in e}
    )
    return found


def listening_port(deployment: dict[str, Any]) -> int:
    env = environment(deployment)
    target = image_target(deployment)
    if target == "gateway":
        return int(env["CARDSTREAM_LISTEN"].rpartition(":")[2])
    return int(env[PORT_SETTINGS[target]])


def container_port(deployment: dict[str, Any], port: int | str) -> int:
    """A probe's or a Service's port (a number or a port's name) as a container port number."""
    (number,) = [
        p["containerPort"]
        for p in container(deployment)["ports"]
        if port in (p["name"], p["containerPort"])
    ]
    return int(number)


def dockerfile_user(target: str) -> int:
    """The uid the Dockerfile's target runs as (its own USER or that of a stage it is built on)."""
    text = re.sub(r"\\\n", " ", (ROOT / "deploy" / "images" / "Dockerfile").read_text())
    stage_base: dict[str, str] = {}
    users: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            current = words[3]
            stage_base[current] = words[1]
        elif words[:1] == ["USER"]:
            users[current] = words[1]
    stage = target
    while stage not in users:
        stage = stage_base[stage]
    return int(users[stage].partition(":")[0])


DEPLOYMENTS = sorted(of_kind("Deployment"))


def test_the_kustomization_lists_every_manifest() -> None:
    manifests = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")

    assert sorted(kustomization()["resources"]) == manifests


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    invalid = []
    for document in documents():
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            invalid.append(
                f"{document['kind']}/{document['metadata']['name']} {path}: {error.message}"
            )

    assert invalid == []


def test_every_object_has_a_name_unique_for_its_kind() -> None:
    names = [(d["kind"], d["metadata"]["name"]) for d in documents()]

    assert len(names) == len(set(names))


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_each_deployment_probes_readiness_and_liveness_where_its_service_listens(
    deployment: str,
) -> None:
    spec = of_kind("Deployment")[deployment]
    ready = container(spec)["readinessProbe"]["httpGet"]
    alive = container(spec)["livenessProbe"]["httpGet"]
    # nginx has no readiness of its own beyond serving: it is probed at its static root.
    paths = ("/", "/") if image_target(spec) == "gateway" else ("/readyz", "/healthz")

    assert (ready["path"], alive["path"]) == paths
    assert container_port(spec, ready["port"]) == listening_port(spec)
    assert container_port(spec, alive["port"]) == listening_port(spec)


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_each_deployment_runs_unprivileged_on_a_read_only_root(deployment: str) -> None:
    spec = of_kind("Deployment")[deployment]
    pod = spec["spec"]["template"]["spec"]
    context = container(spec)["securityContext"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    # The uid the image was built to run as, so file ownership in the image holds.
    assert pod["securityContext"]["runAsUser"] == dockerfile_user(image_target(spec))
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    # A Service named like a service's settings prefix would inject e.g. BOARDS_PORT=tcp://…
    assert pod["enableServiceLinks"] is False


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_each_deployment_requests_what_it_needs_and_caps_its_memory(deployment: str) -> None:
    resources = container(of_kind("Deployment")[deployment])["resources"]

    assert set(resources["requests"]) == {"cpu", "memory"}
    # No CPU limit: a limit throttles a latency-bound service even on an idle node.
    assert set(resources["limits"]) == {"memory"}


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_each_deployment_has_a_disruption_budget_of_its_own(deployment: str) -> None:
    spec = of_kind("Deployment")[deployment]
    labels = spec["spec"]["template"]["metadata"]["labels"]
    budgets = [
        b
        for b in of_kind("PodDisruptionBudget").values()
        if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]

    assert len(budgets) == 1
    assert spec["spec"]["replicas"] >= 2
    # A drain may take one pod at a time, never the last.
    assert budgets[0]["spec"] == {"maxUnavailable": 1, "selector": budgets[0]["spec"]["selector"]}


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_each_deployment_selects_only_its_own_pods(deployment: str) -> None:
    spec = of_kind("Deployment")[deployment]
    selector = spec["spec"]["selector"]["matchLabels"]
    others = [
        name
        for name, other in of_kind("Deployment").items()
        if name != deployment
        and selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()
    ]

    assert selector.items() <= spec["spec"]["template"]["metadata"]["labels"].items()
    assert others == []


@pytest.mark.parametrize("service", sorted(of_kind("Service")))
def test_each_service_sends_to_pods_listening_on_its_target_port(service: str) -> None:
    spec = of_kind("Service")[service]
    selected = [
        d
        for d in of_kind("Deployment").values()
        if spec["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]

    assert len(selected) == 1
    for port in spec["spec"]["ports"]:
        assert container_port(selected[0], port["targetPort"]) == listening_port(selected[0])


def test_every_image_is_a_target_of_the_dockerfile() -> None:
    dockerfile = (ROOT / "deploy" / "images" / "Dockerfile").read_text()
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.M))

    assert {image_target(d) for d in of_kind("Deployment").values()} <= targets
