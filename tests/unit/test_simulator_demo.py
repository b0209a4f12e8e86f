"""``python -m simulators.demo`` expects exactly what the gateway's demo seeds."""

from __future__ import annotations

from gateway import demo as gateway_demo
from simulators import demo
from simulators.scenario.model import parse_scenario


def test_the_demo_expectations_are_the_gateways_demo_data() -> None:
    seeded = [(t.value, t.expect_16, t.expect_201, t.why) for t in gateway_demo.TOKENS]
    assert list(demo.TOKENS) == seeded
    assert {cpid: entry["password"] for cpid, entry in demo.STATIONS.items()} == (
        gateway_demo.STATIONS
    )


def test_the_demo_scenario_checks_every_token_on_both_versions_and_a_session_each() -> None:
    scenario = parse_scenario(demo.demo_scenario(), source="demo")
    authorized = {(s.station, s.params["token"]) for s in scenario.steps if s.action == "Authorize"}
    assert len(authorized) == 2 * len(demo.TOKENS)
    for station in ("DEMO-CP16", "DEMO-CP201"):
        actions = [s.action for s in scenario.steps if s.station == station]
        assert actions[-4:] == ["StartTransaction", "MeterValues", "MeterValues", "StopTransaction"]
