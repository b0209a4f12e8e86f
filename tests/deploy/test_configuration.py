"""Every gateway setting written in deploy/ exists and is valid.

The deployment files configure the gateway with OCPP_GATEWAY_<SECTION>__<KEY>
variables. A misspelt section (OCPP_GATEWAY_HTPP__HOST) would be ignored without a
word, so every such name anywhere in deploy/ (comments included: operators
uncomment them) must name a real setting, and each file's effective set of
values must load through the gateway's own ``load_settings``.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from pydantic import BaseModel

from gateway.config import Settings, load_settings
from tests.deploy.test_container_files import image_env, parse_dockerfile
from tests.deploy.tooling import DEPLOY, load_yaml, load_yaml_documents

PREFIX = "OCPP_GATEWAY_"
NAME = re.compile(rf"\b{PREFIX}[A-Z0-9_]+")


def setting_names() -> set[str]:
    names = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        names |= {f"{PREFIX}{section}__{key}".upper() for key in model.model_fields}
    return names


def test_every_setting_named_in_deploy_exists() -> None:
    known = setting_names()
    unknown = []
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for name in set(NAME.findall(path.read_text(encoding="utf-8"))):
            if name not in known:
                unknown.append(f"{path.relative_to(DEPLOY)}: {name}")
    assert not unknown, "\n".join(unknown)


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def systemd_environment(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            for assignment in shlex.split(line.removeprefix("Environment=")):
                key, _, value = assignment.partition("=")
                values[key] = value
    return values


def configurations() -> dict[str, dict[str, str]]:
    """The gateway's environment as each way of deploying sets it."""
    _, stages = parse_dockerfile(DEPLOY / "Dockerfile")
    (configmap,) = load_yaml_documents(DEPLOY / "k8s" / "configmap.yaml")
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    return {
        "Dockerfile": image_env(stages[-1]),
        "docker-compose.yml": {
            **image_env(stages[-1]),
            **{k: str(v) for k, v in compose["services"]["gateway"]["environment"].items()},
        },
        "k8s/configmap.yaml": {**image_env(stages[-1]), **configmap["data"]},
        "systemd": {
            **systemd_environment(DEPLOY / "systemd" / "ocpp-gateway.service"),
            **env_file(DEPLOY / "systemd" / "ocpp-gateway.env"),
        },
    }


@pytest.mark.parametrize("source", sorted(configurations()))
def test_each_deployment_configuration_loads(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    environment = {k: v for k, v in configurations()[source].items() if k.startswith(PREFIX)}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert str(settings.database.path).startswith("/var/lib/ocpp-gateway/")
    assert settings.log.format == "json"
    if source != "systemd":  # in a container or pod, probes and Prometheus come from outside
        assert settings.http.host == "0.0.0.0"
