"""Every metric name the dashboard, the alert rules and the rule tests use is exported
by a running gateway, so that renaming a metric cannot silently blank a panel or
disarm an alert.

How the comparison is exact without driving traffic first: labelled series appear
only once observed, but prometheus_client writes the ``# HELP``/``# TYPE`` lines of
every registered family from the start. The test scrapes ``/metrics`` of a real
gateway process, turns each family and its type into the sample names it can
produce (counter ``X`` -> ``X_total``, ``X_created``; histogram ``X`` ->
``X_bucket``, ``X_sum``, ``X_count``, ``X_created``; gauge ``X`` -> ``X``) and
requires every name written in PromQL to be one of them. So
``ocpp_gateway_handler_seconds`` alone (no such series) or
``ocpp_gateway_connections_refused`` without ``_total`` fail, as they would
show nothing in Prometheus. ``up`` is the only name allowed from outside the
gateway: Prometheus itself writes it per target (test_prometheus_scrape checks it).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import spawn_gateway
from tests.deploy.promql import (
    allowed_sample_names,
    dashboard_exprs,
    input_series_exprs,
    metric_names,
    rule_exprs,
)
from tests.deploy.tooling import DEPLOY, load_dashboard, load_yaml

PROMETHEUS_OWN = frozenset({"up"})


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (job, instance) (rate(a_total{cause=~"x|y"}[5m]))'
            " / sum by (job) (rate(b_total[5m])) > 0.05",
            {"a_total", "b_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (action, le)"
            ' (rate(h_seconds_bucket{le="+Inf", action="Authorize"}[$__rate_interval])))',
            {"h_seconds_bucket"},
        ),
        ("x < 0.75 * y offset 5m and z offset 5m >= 10", {"x", "y", "z"}),
        ('absent(up{job="ocpp-gateway"})', {"up"}),
        ("a unless on (instance) group_left (job) b", {"a", "b"}),
        (
            'sort_desc(sum by (reason) (increase(c_total{status!="Accepted"}[$__range])))',
            {"c_total"},
        ),
        ("max_over_time(sum(g)[10m:1m]) - 1e-3 * topk(5, h)", {"g", "h"}),
        ('sum(rate(s_sum{job=~"$job"}[1m])) / sum (rate(s_count[1m]))', {"s_sum", "s_count"}),
        ('m{instance="a", ocpp_version="2.0.1",\n  action="Heartbeat"}', {"m"}),
    ],
)
def test_metric_names_are_extracted_from_promql(expr: str, names: set[str]) -> None:
    """The extractor finds metric names, not functions, labels, keywords or durations."""
    assert metric_names(expr) == names


def test_dashboard_variables_contribute_their_metric() -> None:
    dashboard = {
        "templating": {
            "list": [
                {"type": "query", "query": {"query": 'label_values(m1{job=~"$job"}, instance)'}},
                {"type": "query", "query": "label_values(job)"},
                {"type": "datasource", "query": "prometheus"},
            ]
        },
        "panels": [{"type": "row", "panels": [{"targets": [{"expr": "rate(m2_total[1m])"}]}]}],
    }
    assert set().union(*map(metric_names, dashboard_exprs(dashboard))) == {"m1", "m2_total"}


def used_names() -> dict[str, set[str]]:
    """Metric names used, by file."""
    prometheus = DEPLOY / "prometheus"
    sources = {
        "grafana/ocpp-gateway.json": dashboard_exprs(load_dashboard()),
        "prometheus/alerts.yml": rule_exprs(load_yaml(prometheus / "alerts.yml")),
        "prometheus/alerts.test.yml": input_series_exprs(load_yaml(prometheus / "alerts.test.yml")),
    }
    return {
        source: set().union(*(metric_names(expr) for expr in exprs))
        for source, exprs in sources.items()
    }


async def scrape_exported_names(tmp_path: Path) -> set[str]:
    gateway = await spawn_gateway(tmp_path / "gateway.sqlite3")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.http_port}") as http:
            response = await http.get("/metrics", timeout=10)
        response.raise_for_status()
    finally:
        assert await gateway.terminate() == 0
    families = [
        (family.name, family.type) for family in text_string_to_metric_families(response.text)
    ]
    assert families, "the gateway's /metrics has no metric family"
    return allowed_sample_names(families)


async def test_every_metric_used_in_deploy_is_exported_by_a_running_gateway(
    tmp_path: Path,
) -> None:
    exported = await scrape_exported_names(tmp_path)
    allowed = exported | PROMETHEUS_OWN
    problems = []
    for source, names in used_names().items():
        assert names, f"no metric name found in deploy/{source}"
        for name in sorted(names - allowed):
            close = difflib.get_close_matches(name, sorted(exported), n=2)
            problems.append(f"deploy/{source}: {name} is not exported (close: {close})")
    assert not problems, "\n".join(problems)


def test_dashboard_and_rules_cover_what_operators_watch() -> None:
    """The issue's list: each of these families is on the dashboard; the alerts exist."""
    names = used_names()
    on_dashboard = names["grafana/ocpp-gateway.json"]
    for required in (
        "ocpp_gateway_connected_chargers",
        "ocpp_gateway_messages_total",
        "ocpp_gateway_authorization_decisions_total",
        "ocpp_gateway_decision_seconds_bucket",
        "ocpp_gateway_handler_seconds_bucket",
        "ocpp_gateway_callerrors_total",
        "ocpp_gateway_connections_refused_total",
        "ocpp_gateway_open_transactions",
        "ocpp_gateway_sessions_stopped_total",
        "ocpp_gateway_db_commit_seconds_bucket",
    ):
        assert required in on_dashboard, required
    alerts = {
        rule["alert"]
        for group in load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
        for rule in group["rules"]
    }
    assert {
        "OcppGatewayDown",
        "OcppGatewayRefusedConnectionsSpike",
        "OcppGatewayCallErrorRate",
        "OcppGatewayAuthorizeSlow",
        "OcppGatewayDatabaseCommitSlow",
        "OcppGatewayChargersDisconnecting",
    } <= alerts
