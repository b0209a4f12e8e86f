"""Scenario files: strict parsing with the place of each mistake, and subset matching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulators.answers import main_status
from simulators.scenario.match import check_operators, mismatches
from simulators.scenario.model import ScenarioError, load_scenario, parse_scenario

STATIONS = {
    "CP-1": {"version": "1.6", "password": "password-of-cp-1"},
    "CP-2": {"version": "2.0.1", "password_env": "CP2_PASSWORD", "boot": False},
}


def scenario(*steps: dict[str, Any], **root: Any) -> dict[str, Any]:
    return {"name": "test", "stations": STATIONS, "steps": list(steps), **root}


ENV = {"CP2_PASSWORD": "from-the-environment"}


# Parsing


def test_a_scenario_reads_stations_helpers_raw_calls_and_expectations() -> None:
    parsed = parse_scenario(
        scenario(
            {
                "station": "CP-1",
                "action": "Authorize",
                "token": "T1",
                "expect": {"status": "Accepted"},
            },
            {
                "name": "vendor data",
                "station": "CP-2",
                "action": "DataTransfer",
                "payload": {"vendorId": "acme"},
                "expect": {"fields": {"status": {"$in": ["Accepted", "UnknownVendorId"]}}},
            },
            {"station": "CP-1", "action": "Heartbeat", "expect": {"callerror": "SecurityError"}},
            {"station": "CP-1", "password": "wrong-password-16", "expect": {"http": 401}},
            {"station": "CP-1", "action": "AwaitCall", "call": "RemoteStopTransaction"},
            {"station": "CP-1", "action": "Sleep", "seconds": 1.5},
        ),
        ENV,
    )
    assert parsed.stations["CP-2"].password == "from-the-environment"
    assert parsed.stations["CP-2"].boot is False
    first, raw, error, refused, wait, sleep = parsed.steps
    assert (first.action, first.params["token"], first.expect.status) == (
        "Authorize",
        "T1",
        "Accepted",
    )
    assert raw.payload == {"vendorId": "acme"} and raw.label() == "vendor data"
    assert error.expect.callerror == "SecurityError"
    assert refused.action == "Connect" and refused.expect.http == 401
    assert refused.connect_as is not None and refused.connect_as.password == "wrong-password-16"
    assert wait.params["call"] == "RemoteStopTransaction"
    assert sleep.params["seconds"] == 1.5


def test_a_step_may_declare_its_station_inline() -> None:
    parsed = parse_scenario(
        scenario(
            {"station": "CP-9", "version": "1.6", "password": "p" * 16, "expect": {"http": 404}}
        ),
        ENV,
    )
    assert parsed.stations["CP-9"].version == "1.6"
    assert parsed.steps[0].action == "Connect"


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"station": "CP-1", "action": "Authorize", "tokn": "T"}, "step 1: unknown field"),
        ({"station": "CP-1", "action": "Authorize"}, "step 1: Authorize needs a token"),
        ({"station": "CP-1", "action": "Reset"}, "step 1: Reset is not a helper"),
        ({"station": "CP-7", "action": "Heartbeat"}, "station 'CP-7' is not declared"),
        (
            {"station": "CP-1", "action": "Heartbeat", "expect": {"http": 401}},
            "only a Connect step can expect an HTTP refusal",
        ),
        (
            {"station": "CP-1", "action": "Heartbeat", "expect": {"stauts": "Accepted"}},
            "step 1.expect: unknown field",
        ),
        (
            {"station": "CP-1", "action": "Heartbeat", "expect": {"fields": {"a": {"$regx": "x"}}}},
            "unknown operator '$regx'",
        ),
        ({"station": "CP-1", "action": "Sleep", "seconds": 3600}, "at most 300"),
        ({"station": "CP-1", "action": "AwaitCall"}, "step 1.call"),
        (
            {"station": "CP-1", "action": "Authorize", "token": "T", "connector": "1"},
            "unknown field",
        ),
        (
            {
                "station": "CP-1",
                "action": "Heartbeat",
                "expect": {"status": "Accepted", "callerror": "X"},
            },
            "a CALLERROR has no status",
        ),
    ],
)
def test_mistakes_are_reported_with_their_step(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("$", r"\$")):
        parse_scenario(scenario(step), ENV)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stations": {}, "steps": []}, "steps must be a non-empty array"),
        (scenario({"station": "CP-1", "action": "Heartbeat"}, extra=1), "unknown field"),
        (
            {"stations": {"CP-1": {"version": "1.5"}}, "steps": [{}]},
            "stations.CP-1: version must be one of",
        ),
        (
            {"stations": {"CP-1": {"version": "1.6", "password": "x", "password_env": "Y"}}},
            "password or password_env, not both",
        ),
    ],
)
def test_mistakes_in_the_file_are_reported(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, ENV)


def test_a_missing_environment_variable_is_named() -> None:
    with pytest.raises(ScenarioError, match="CP2_PASSWORD is not set"):
        parse_scenario(scenario({"station": "CP-1", "action": "Heartbeat"}), {})


def test_files_are_json_and_a_broken_one_is_named(tmp_path: Path) -> None:
    good = tmp_path / "ci.json"
    good.write_text(json.dumps(scenario({"station": "CP-1", "action": "Heartbeat"})))
    assert load_scenario(good, ENV).steps[0].action == "Heartbeat"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ScenarioError, match=r"broken\.json: invalid JSON"):
        load_scenario(broken)
    with pytest.raises(ScenarioError, match=r"missing\.json: No such file"):
        load_scenario(tmp_path / "missing.json")


def test_yaml_files_are_read_when_pyyaml_is_installed(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "ci.yaml"
    path.write_text(yaml.safe_dump(scenario({"station": "CP-1", "action": "Heartbeat"})))
    assert load_scenario(path, ENV).steps[0].action == "Heartbeat"
    path.write_text("steps: [")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(path, ENV)


# Matching


def test_an_object_matches_when_it_contains_the_expected_subset() -> None:
    answer = {"idTagInfo": {"status": "Accepted", "expiryDate": "2026-01-01T00:00:00Z"}}
    assert mismatches({"idTagInfo": {"status": "Accepted"}}, answer) == []
    assert mismatches({"idTagInfo": {"status": "Blocked"}}, answer) == [
        'idTagInfo.status: expected "Blocked", got "Accepted"'
    ]
    assert mismatches({"idTagInfo": {"parentIdTag": "G"}}, answer) == [
        'idTagInfo.parentIdTag: missing (expected "G")'
    ]


def test_arrays_match_element_by_element_and_types_matter() -> None:
    assert mismatches({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2, "c": 3}]}) == []
    assert mismatches({"a": [1]}, {"a": [1, 2]}) == ["a: expected 1 items, got 2"]
    assert mismatches({"a": True}, {"a": 1}) == ["a: expected True, got 1"]
    assert mismatches({"a": None}, {"a": None}) == []
    assert mismatches({"a": "1"}, {"a": 1}) == ['a: expected "1", got 1']


def test_operators_widen_a_value() -> None:
    answer = {"status": "Accepted", "currentTime": "2026-11-23T10:00:00.000Z"}
    assert mismatches({"currentTime": {"$regex": r"\d{4}-"}}, answer) == []
    assert mismatches({"status": {"$in": ["Blocked", "Accepted"]}}, answer) == []
    assert mismatches({"interval": {"$present": False}}, answer) == []
    assert mismatches({"status": {"$present": True}}, answer) == []
    assert mismatches({"status": {"$present": False}}, answer) == ["status: expected absent"]
    assert mismatches({"interval": {"$regex": "."}}, answer) == ["interval: missing"]
    with pytest.raises(ValueError, match="takes true or false"):
        check_operators({"a": {"$present": "yes"}})


def test_the_main_status_is_read_the_same_way_for_both_versions() -> None:
    assert main_status({"idTagInfo": {"status": "Blocked"}, "transactionId": 3}) == "Blocked"
    assert main_status({"idTokenInfo": {"status": "NoCredit"}}) == "NoCredit"
    assert main_status({"status": "Accepted", "interval": 300}) == "Accepted"
    assert main_status({"currentTime": "2026-01-01T00:00:00Z"}) is None


def test_the_readme_example_is_a_valid_scenario() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Testing your network in CI", 1)[1]
    example = section.split("```json", 1)[1].split("```", 1)[0]
    env = {"LYON_CP1_PASSWORD": "a" * 16, "LYON_CP2_PASSWORD": "b" * 16}
    parsed = parse_scenario(json.loads(example), env, "README")
    assert len(parsed.steps) == 11 and parsed.url == "ws://127.0.0.1:9000"
