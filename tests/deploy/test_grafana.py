"""deploy/grafana/ocpp-gateway.json: one dashboard Grafana can provision as is."""

from __future__ import annotations

from typing import Any

from tests.deploy.tooling import DEPLOY, load_dashboard, load_yaml

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_dashboard_has_a_stable_uid_and_a_prometheus_datasource_variable() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "ocpp-gateway"
    assert "id" not in dashboard or dashboard["id"] is None, "provisioning assigns the id"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["datasource"] == DATASOURCE


def test_provisioned_datasource_is_the_default_prometheus() -> None:
    """With no choice saved, the datasource variable takes Grafana's default data source."""
    (source,) = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["uid"] == "prometheus"


def test_every_panel_queries_prometheus_through_the_variables() -> None:
    dashboard = load_dashboard()
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what the panel shows"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert 'job=~"$job"' in target["expr"], panel["title"]
            assert 'instance=~"$instance"' in target["expr"], panel["title"]


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    dashboard = load_dashboard()
    all_panels = panels(dashboard)
    ids = [panel["id"] for panel in all_panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_answers_the_operators_questions() -> None:
    """The panels the issue asks for, by title."""
    titles = {panel["title"] for panel in panels(load_dashboard())}
    assert {
        "Connected chargers by OCPP version",
        "Messages per second by action",
        "Authorization decisions per second by status",
        "Authorization decisions per second by reason",
        "Which rule refuses most",
        "Policy decision latency (p50, p99)",
        "Handler latency by action (p50, p99)",
        "CALLERRORs per second by code",
        "Refused connections per second by cause",
        "Open transactions",
        "Sessions stopped by the gateway, by reason",
        "Database commit latency (p50, p99)",
    } <= titles
