"""deploy/k8s: manifests valid against the Kubernetes API schemas, and wired together.

kubernetes-validate (PyPI) checks each resource against the OpenAPI schemas of a
Kubernetes release, offline, rejecting unknown fields (--strict), so a misspelt
probe field cannot pass.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from tests.deploy.tooling import DEPLOY, load_yaml, load_yaml_documents, output, require_tool, run

K8S = DEPLOY / "k8s"


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> resource, for the files the kustomization lists."""
    found = {}
    for name in load_yaml(K8S / "kustomization.yaml")["resources"]:
        for document in load_yaml_documents(K8S / name):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def test_kustomization_lists_every_manifest() -> None:
    listed = set(load_yaml(K8S / "kustomization.yaml")["resources"])
    present = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_manifests_are_valid_kubernetes_resources() -> None:
    validator = require_tool("kubernetes-validate")
    files = sorted(str(K8S / name) for name in load_yaml(K8S / "kustomization.yaml")["resources"])
    result = run(validator, "--strict", *files)
    assert result.returncode == 0, output(result)
    assert "did not validate" not in result.stdout + result.stderr, output(result)


def gateway_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_deployment_probes_health_and_readiness_and_requests_resources() -> None:
    deployment = resources()[("Deployment", "ocpp-gateway")]
    container = gateway_container(deployment)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ports, probe
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]


def test_deployment_runs_one_unprivileged_replica_with_the_database_on_a_claim() -> None:
    found = resources()
    deployment = found[("Deployment", "ocpp-gateway")]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", "SQLite: one writer"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 1000
    container = gateway_container(deployment)
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]

    (config_ref,) = container["envFrom"]
    configmap = found[("ConfigMap", config_ref["configMapRef"]["name"])]
    database = PurePosixPath(configmap["data"]["OCPP_GATEWAY_DATABASE__PATH"])
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    claim = volumes[mounts[str(database.parent)]]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in found
    secrets = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    assert secrets and all(("Secret", name) in found for name in secrets)
    assert configmap["data"]["OCPP_GATEWAY_HTTP__HOST"] == "0.0.0.0", "probes come from outside"


def test_services_select_the_pod_and_target_its_named_ports() -> None:
    found = resources()
    deployment = found[("Deployment", "ocpp-gateway")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    ports = {port["name"] for port in gateway_container(deployment)["ports"]}
    services = [resource for (kind, _), resource in found.items() if kind == "Service"]
    assert services
    exposed = set()
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
            exposed.add(port["targetPort"])
    assert exposed == {"ocpp", "http"}
