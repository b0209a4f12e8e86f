"""The shipped Prometheus files pass Prometheus's own checks (promtool, Debian's package)."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.tooling import DEPLOY, load_yaml, output, require_tool, run

PROMETHEUS = DEPLOY / "prometheus"


def test_promtool_check_config_accepts_the_scrape_config_and_its_rule_files() -> None:
    """`check config` also loads and checks the rule files the config names."""
    result = run(require_tool("promtool"), "check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_check_rules_accepts_the_alert_rules() -> None:
    result = run(require_tool("promtool"), "check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, output(result)
    assert "SUCCESS: 7 rules found" in result.stdout + result.stderr


def test_promtool_test_rules_shows_each_alert_firing_and_staying_quiet() -> None:
    """alerts.test.yml: every alert fires on a faulty gateway and not on a healthy one."""
    result = run(require_tool("promtool"), "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_test_rules_fails_when_an_alert_is_broken(tmp_path: Path) -> None:
    """The rule tests have teeth: raising a threshold out of reach makes them fail."""
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    broken = rules.replace(") > 0.2\n", ") > 1000\n", 1)
    assert broken != rules
    (tmp_path / "alerts.yml").write_text(broken, encoding="utf-8")
    (tmp_path / "alerts.test.yml").write_bytes((PROMETHEUS / "alerts.test.yml").read_bytes())
    result = run(require_tool("promtool"), "test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0, output(result)
    assert "OcppGatewayRefusedConnectionsSpike" in result.stdout + result.stderr


def test_every_alert_rule_is_unit_tested_and_annotated() -> None:
    rules = [
        rule for group in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]
    ]
    alerts = {rule["alert"] for rule in rules}
    tested_firing = {
        check["alertname"]
        for case in load_yaml(PROMETHEUS / "alerts.test.yml")["tests"]
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert alerts == tested_firing
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
