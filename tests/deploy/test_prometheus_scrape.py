"""The gateway's metrics reach a real Prometheus through the shipped configuration.

A real gateway process (port 0, loopback) gets traffic from the project's charger
simulator; a real Prometheus (Debian's package) is started on 127.0.0.1 with
deploy/prometheus/prometheus.yml, only its target pointed at that gateway and
its intervals shortened, and the alert rules it names. The test then asks
Prometheus's HTTP API what it scraped, evaluates every dashboard query, and
checks that every alert rule evaluates without error.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from simulators import CallError, ChargePoint16
from tests.conftest import GatewayProcess, run_cli, spawn_gateway
from tests.deploy.tooling import DEPLOY, load_dashboard, load_yaml, require_tool

JOB = "ocpp-gateway"
PASSWORD = "deploy-test-password"
WAIT = 30.0  # seconds, for each thing awaited from Prometheus


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prometheus_config_for(gateway_http_port: int) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml as shipped, but scraping the test's gateway every second."""
    config: dict[str, Any] = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / name) for name in config["rule_files"]]
    (job,) = (job for job in config["scrape_configs"] if job["job_name"] == JOB)
    assert job["static_configs"] == [{"targets": ["gateway:8080"]}]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{gateway_http_port}"]}]
    job["scrape_timeout"] = "1s"  # may not exceed the scrape interval
    return config


@asynccontextmanager
async def running_prometheus(
    config: dict[str, Any], folder: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """Prometheus on 127.0.0.1:<free port>, storage in ``folder``; stopped on exit."""
    binary = require_tool("prometheus")
    config_file = folder / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_loopback_port()
    log_path = folder / "prometheus.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:

            async def ready() -> bool:
                if process.returncode is not None:
                    pytest.fail(f"prometheus exited:\n{read_log(log_path)}")
                try:
                    return (await api.get("/-/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, "Prometheus ready", log_path)
            yield api
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


def read_log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; prometheus log:\n{read_log(log)}")
        await asyncio.sleep(0.25)


async def query(api: httpx.AsyncClient, promql: str) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/query", params={"query": promql})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def value(api: httpx.AsyncClient, promql: str) -> float:
    result = await query(api, promql)
    assert len(result) == 1, (promql, result)
    return float(result[0]["value"][1])


async def drive_traffic(gateway: GatewayProcess) -> ChargePoint16:
    """Traffic that makes the labelled series appear; returns a still connected charger."""
    with pytest.raises(InvalidStatus):
        await ChargePoint16("CP-1", url=gateway.url, password="not-the-password").connect()
    cp = ChargePoint16("CP-1", url=gateway.url, password=PASSWORD)
    await cp.connect()
    await cp.boot()
    assert (await cp.authorize("TAG-1"))["idTagInfo"]["status"] == "Accepted"
    assert (await cp.authorize("NOBODY"))["idTagInfo"]["status"] == "Invalid"
    first = await cp.start_transaction(1, "TAG-1", 0)
    await cp.stop_transaction(first["transactionId"], 1500)
    await cp.start_transaction(2, "TAG-1", 0)  # stays open
    with pytest.raises(CallError):
        await cp.call("NoSuchAction", {})
    return cp


def grafana_to_promql(expr: str, instance: str) -> str:
    """A dashboard query as Grafana sends it, for the test's single gateway."""
    for variable, replacement in (
        ("$__rate_interval", "1m"),
        ("$__range", "5m"),
        ("$__interval", "15s"),
        ("$job", JOB),
        ("$instance", instance),
    ):
        expr = expr.replace(variable, replacement)
    assert "$" not in expr, expr
    return expr


async def test_a_real_prometheus_scrapes_the_gateway_with_the_shipped_config(
    tmp_path: Path,
) -> None:
    require_tool("prometheus")
    database = tmp_path / "gateway.sqlite3"
    for args in (
        ("orgs", "create", "Acme", "--owner-email", "o@acme.test"),
        ("stations", "add", "CP-1", "--password", PASSWORD),
        ("members", "add", "--email", "ada@example.org"),
        ("tokens", "add", "TAG-1", "--member", "ada@example.org"),
    ):
        code, _, err = await run_cli(database, *args)
        assert code == 0, err
    gateway = await spawn_gateway(database)
    try:
        cp = await drive_traffic(gateway)
        try:
            await check_prometheus(gateway, tmp_path)
        finally:
            await cp.close()
    finally:
        assert await gateway.terminate() == 0


async def check_prometheus(gateway: GatewayProcess, tmp_path: Path) -> None:
    instance = f"127.0.0.1:{gateway.http_port}"
    log = tmp_path / "prometheus.log"
    async with running_prometheus(prometheus_config_for(gateway.http_port), tmp_path) as api:

        async def scraped() -> bool:
            result = await query(api, f'up{{job="{JOB}"}}')
            return bool(result) and result[0]["value"][1] == "1"

        await wait_until(scraped, "a successful scrape of the gateway", log)

        # Every series name the gateway exports is in Prometheus, under the job.
        async with httpx.AsyncClient(base_url=f"http://{instance}") as http:
            exposition = (await http.get("/metrics")).text
        exported = {
            sample.name
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples
        }
        stored = await query(api, f'count by (__name__) ({{job="{JOB}", __name__=~"ocpp_.+"}})')
        assert {series["metric"]["__name__"] for series in stored} == exported

        # The traffic, as Prometheus saw it.
        assert (
            await value(api, 'ocpp_gateway_connections_refused_total{cause="bad_credentials"}') == 1
        )
        assert await value(api, 'ocpp_gateway_connected_chargers{ocpp_version="1.6"}') == 1
        assert await value(api, "ocpp_gateway_open_transactions") == 1
        assert await value(api, 'ocpp_gateway_handler_seconds_count{action="Authorize"}') == 2
        assert await value(api, 'sum(ocpp_gateway_callerrors_total{ocpp_version="1.6"})') == 1
        accepted = 'sum(ocpp_gateway_authorization_decisions_total{status="Accepted"})'
        assert await value(api, accepted) >= 3  # Authorize and both StartTransactions
        assert await value(api, "sum(ocpp_gateway_db_commit_seconds_count)") >= 1

        # Every dashboard query is valid PromQL for this Prometheus; the panels that need
        # no rate show data, and the variables find the gateway.
        dashboard = load_dashboard()
        for panel in (p for p in dashboard["panels"] if p["type"] != "row"):
            for target in panel["targets"]:
                result = await query(api, grafana_to_promql(target["expr"], instance))
                if panel["title"] in {
                    "Gateways up",
                    "Connected chargers",
                    "Open transactions",
                    "Connected chargers by OCPP version",
                }:
                    assert result, panel["title"]
        series = await api.get(
            "/api/v1/series", params={"match[]": "ocpp_gateway_open_transactions"}
        )
        assert {(s["job"], s["instance"]) for s in series.json()["data"]} == {(JOB, instance)}

        # Every alert rule loaded and evaluated without error; the gateway is not "down".
        async def rules_evaluated() -> bool:
            groups = (await api.get("/api/v1/rules")).json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return bool(rules) and all(rule["health"] == "ok" for rule in rules)

        await wait_until(rules_evaluated, "every alert rule evaluated", log)
        groups = (await api.get("/api/v1/rules")).json()["data"]["groups"]
        loaded = {rule["name"] for group in groups for rule in group["rules"]}
        shipped = {
            rule["alert"]
            for group in load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
            for rule in group["rules"]
        }
        assert loaded == shipped

        # Before its first scrape Prometheus sees no target, so OcppGatewayAbsent may go
        # pending (its `for: 5m` keeps that quiet); once scraped, neither alert is active.
        async def gateway_seen_up() -> bool:
            alerts = (await api.get("/api/v1/alerts")).json()["data"]["alerts"]
            active = {alert["labels"]["alertname"] for alert in alerts}
            return not active & {"OcppGatewayDown", "OcppGatewayAbsent"}

        await wait_until(gateway_seen_up, "no gateway-down alert", log)
