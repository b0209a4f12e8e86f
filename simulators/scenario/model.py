"""Scenario files: stations and steps with expected answers, read strictly (no I/O but the file).

A scenario is a JSON object (or the same in YAML, when PyYAML is installed)::

    {
      "name": "Lyon depot",
      "url": "ws://127.0.0.1:9000",                       (optional; --url wins)
      "stations": {
        "CP-1": {"version": "1.6", "password_env": "CP1_PASSWORD"},
        "CP-2": {"version": "2.0.1", "password": "a-16-to-40-char-secret"}
      },
      "steps": [
        {"station": "CP-1", "action": "Authorize", "token": "04A2B3C4",
         "expect": {"status": "Accepted"}},
        {"station": "CP-2", "action": "Connect", "password": "wrong-password-123",
         "expect": {"http": 401}}
      ]
    }

A station has a ``version`` (``1.6`` or ``2.0.1``), credentials
(``password`` or ``password_env``, ``username``; none: no Authorization
header), and ``boot`` (default true: a BootNotification is sent before the
station's first other message, as firmware does; false leaves it to the steps).

A step names its ``station`` and an ``action``:

* ``Connect`` / ``Disconnect``: open or close the station's connection;
  ``Connect`` may override ``version``, ``password``, ``password_env``,
  ``username``, ``subprotocols`` to check refusals (``expect.http``);
* ``AwaitCall``: wait up to ``timeout`` seconds for the gateway's CALL
  ``call`` (e.g. ``RemoteStopTransaction``); ``expect.fields`` is matched
  against its payload, which the station answers as default firmware does;
* ``Sleep``: wait ``seconds`` (at most 300), e.g. for a cache reload;
* helpers, the same words for both versions: ``BootNotification``,
  ``Heartbeat``, ``Authorize`` (``token``, ``token_type``),
  ``StatusNotification`` (``connector``, ``connector_status``),
  ``StartTransaction`` (``token``, ``connector``, ``meter_wh``; 2.0.1:
  TransactionEvent Started), ``MeterValues`` (``connector``, ``meter_wh``;
  in a running transaction, 2.0.1: TransactionEvent Updated),
  ``StopTransaction`` (``connector``, ``meter_wh``, ``reason``, ``token``;
  2.0.1: TransactionEvent Ended);
* any other OCPP action with a raw ``payload``, sent as given.

``expect`` (all optional; without it, any CALLRESULT passes):
``status`` (the answer's ``idTagInfo.status`` / ``idTokenInfo.status`` /
``status``), ``fields`` (a subset match, see :mod:`simulators.scenario.match`),
``callerror`` (the CALLERROR code expected instead of a result), ``http``
(the HTTP status refusing the upgrade: 401, 404...). ``name`` labels a step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.scenario.match import check_operators

VERSIONS = ("1.6", "2.0.1")
HELPERS = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "Authorize",
        "StatusNotification",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    }
)
PSEUDO = frozenset({"Connect", "Disconnect", "AwaitCall", "Sleep"})
_CREDENTIALS = {"version", "password", "password_env", "username", "subprotocols"}
_HELPER_FIELDS: dict[str, set[str]] = {
    "BootNotification": set(),
    "Heartbeat": set(),
    "Authorize": {"token", "token_type"},
    "StatusNotification": {"connector", "connector_status"},
    "StartTransaction": {"token", "token_type", "connector", "meter_wh"},
    "MeterValues": {"connector", "meter_wh"},
    "StopTransaction": {"connector", "meter_wh", "reason", "token", "token_type"},
}
_COMMON = {"name", "station", "action", "expect"}
_MAX_SLEEP = 300.0


class ScenarioError(ValueError):
    """The scenario file is not valid; the message says where."""


@dataclass(frozen=True)
class Station:
    charge_point_id: str
    version: str
    password: str | None = None
    username: str | None = None
    subprotocols: tuple[str, ...] | None = None
    boot: bool = True


@dataclass(frozen=True)
class Expectation:
    status: str | None = None
    fields: Mapping[str, Any] | None = None
    callerror: str | None = None
    http: int | None = None


@dataclass(frozen=True)
class Step:
    number: int
    station: str
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, Any] | None = None
    expect: Expectation = Expectation()
    name: str | None = None
    connect_as: Station | None = None
    """For ``Connect``: the station with this step's overrides."""

    def label(self) -> str:
        if self.name:
            return self.name
        detail = self.params.get("token") or self.params.get("call") or ""
        return f"{self.station} {self.action}" + (f" {detail}" if detail else "")


@dataclass(frozen=True)
class Scenario:
    name: str
    stations: Mapping[str, Station]
    steps: tuple[Step, ...]
    url: str | None = None


def _fail(where: str, message: str) -> ScenarioError:
    return ScenarioError(f"{where}: {message}")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"expected an object, got {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, "expected a non-empty string")
    return value


def _password(entry: Mapping[str, Any], where: str, environ: Mapping[str, str]) -> str | None:
    if "password" in entry and "password_env" in entry:
        raise _fail(where, "give password or password_env, not both")
    if "password_env" in entry:
        name = _string(entry["password_env"], f"{where}.password_env")
        if name not in environ:
            raise _fail(where, f"environment variable {name} is not set")
        return environ[name]
    if "password" in entry:
        return _string(entry["password"], f"{where}.password")
    return None


def _station(
    charge_point_id: str, entry: Mapping[str, Any], where: str, environ: Mapping[str, str]
) -> Station:
    unknown = set(entry) - (_CREDENTIALS | {"boot"})
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(sorted(unknown))}")
    version = entry.get("version")
    if version not in VERSIONS:
        raise _fail(where, f"version must be one of {', '.join(VERSIONS)}, got {version!r}")
    subprotocols = entry.get("subprotocols")
    if subprotocols is not None and (
        not isinstance(subprotocols, list) or not all(isinstance(s, str) for s in subprotocols)
    ):
        raise _fail(where, "subprotocols must be an array of strings")
    boot = entry.get("boot", True)
    if not isinstance(boot, bool):
        raise _fail(where, "boot must be true or false")
    username = entry.get("username")
    return Station(
        charge_point_id,
        version,
        _password(entry, where, environ),
        None if username is None else _string(username, f"{where}.username"),
        None if subprotocols is None else tuple(subprotocols),
        boot,
    )


def _expectation(value: Any, where: str, action: str) -> Expectation:
    entry = _object(value, where)
    unknown = set(entry) - {"status", "fields", "callerror", "http"}
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(sorted(unknown))}")
    status = entry.get("status")
    if status is not None:
        _string(status, f"{where}.status")
    fields = entry.get("fields")
    if fields is not None:
        _object(fields, f"{where}.fields")
        try:
            check_operators(fields, f"{where}.fields")
        except ValueError as exc:
            raise ScenarioError(str(exc)) from None
    callerror = entry.get("callerror")
    if callerror is not None:
        _string(callerror, f"{where}.callerror")
    http = entry.get("http")
    if http is not None:
        if not isinstance(http, int) or isinstance(http, bool) or not 100 <= http <= 599:
            raise _fail(f"{where}.http", "expected an HTTP status code")
        if action != "Connect":
            raise _fail(f"{where}.http", "only a Connect step can expect an HTTP refusal")
    if callerror is not None and (status is not None or http is not None):
        raise _fail(where, "a CALLERROR has no status; expect one or the other")
    if action in ("Connect", "Disconnect", "Sleep") and (status or fields or callerror):
        raise _fail(where, f"{action} has no answer to check but expect.http")
    return Expectation(status, fields, callerror, http)


def _number(value: Any, where: str, *, minimum: float = 0) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise _fail(where, f"expected a number >= {minimum:g}")
    return float(value)


def _step(
    number: int,
    value: Any,
    stations: dict[str, Station],
    environ: Mapping[str, str],
) -> Step:
    where = f"step {number}"
    entry = _object(value, where)
    action = entry.get("action")
    expect_value = entry.get("expect", {})
    if action is None and isinstance(expect_value, dict) and "http" in expect_value:
        action = "Connect"
    action = _string(action, f"{where}.action")
    station_id = _string(entry.get("station"), f"{where}.station")
    declaring = station_id not in stations
    if declaring:
        if "version" not in entry:
            raise _fail(where, f"station {station_id!r} is not declared in stations")
        declared = {k: entry[k] for k in _CREDENTIALS | {"boot"} if k in entry}
        stations[station_id] = _station(station_id, declared, where, environ)
    base = stations[station_id]
    if action in PSEUDO:
        allowed = {
            "Connect": _CREDENTIALS,
            "Disconnect": set(),
            "AwaitCall": {"call", "timeout"},
            "Sleep": {"seconds"},
        }[action]
    elif "payload" in entry:
        allowed = {"payload", "timeout"}
    elif action in HELPERS:
        allowed = _HELPER_FIELDS[action] | {"timeout"}
    else:
        raise _fail(
            where,
            f"{action} is not a helper ({', '.join(sorted(HELPERS | PSEUDO))}); give its payload",
        )
    if declaring:
        allowed = allowed | _CREDENTIALS | {"boot"}
    params = {k: v for k, v in entry.items() if k not in _COMMON}
    unknown = set(params) - allowed
    if unknown:
        raise _fail(where, f"unknown field(s) for {action}: {', '.join(sorted(unknown))}")
    payload = entry.get("payload")
    if payload is not None:
        payload = _object(payload, f"{where}.payload")
    for key in ("token", "connector_status", "reason", "call", "token_type"):
        if key in params:
            _string(params[key], f"{where}.{key}")
    if "connector" in params and (
        not isinstance(params["connector"], int) or isinstance(params["connector"], bool)
    ):
        raise _fail(f"{where}.connector", "expected an integer")
    for key in ("meter_wh", "timeout"):
        if key in params:
            _number(params[key], f"{where}.{key}")
    if action == "Sleep":
        seconds = _number(params.get("seconds"), f"{where}.seconds")
        if seconds > _MAX_SLEEP:
            raise _fail(f"{where}.seconds", f"at most {_MAX_SLEEP:g}")
    if action == "AwaitCall":
        _string(params.get("call"), f"{where}.call")
    if action in ("Authorize", "StartTransaction") and "token" not in params and payload is None:
        raise _fail(where, f"{action} needs a token")
    connect_as = None
    if action == "Connect":
        overrides = {k: entry[k] for k in _CREDENTIALS if k in entry}
        merged: dict[str, Any] = {
            "version": base.version,
            "boot": base.boot,
        }
        if base.username is not None:
            merged["username"] = base.username
        if base.subprotocols is not None:
            merged["subprotocols"] = list(base.subprotocols)
        if "password" not in overrides and "password_env" not in overrides:
            if base.password is not None:
                merged["password"] = base.password
        merged.update(overrides)
        connect_as = _station(station_id, merged, where, environ)
    return Step(
        number,
        station_id,
        action,
        params,
        payload,
        _expectation(expect_value, f"{where}.expect", action),
        entry.get("name") if isinstance(entry.get("name"), str) else None,
        connect_as,
    )


def parse_scenario(
    data: Any, environ: Mapping[str, str] | None = None, source: str = "scenario"
) -> Scenario:
    """A :class:`Scenario` from decoded JSON; raises :class:`ScenarioError` naming the place."""
    environ = {} if environ is None else environ
    try:
        root = _object(data, source)
        unknown = set(root) - {"name", "url", "stations", "steps", "description"}
        if unknown:
            raise _fail(source, f"unknown field(s) {', '.join(sorted(unknown))}")
        stations: dict[str, Station] = {}
        for cpid, entry in _object(root.get("stations", {}), "stations").items():
            stations[cpid] = _station(
                cpid, _object(entry, f"stations.{cpid}"), f"stations.{cpid}", environ
            )
        raw_steps = root.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise _fail(source, "steps must be a non-empty array")
        steps = tuple(
            _step(number, value, stations, environ) for number, value in enumerate(raw_steps, 1)
        )
        url = root.get("url")
        if url is not None:
            _string(url, "url")
        name = root.get("name", source)
        return Scenario(str(name), stations, steps, url)
    except ScenarioError as exc:
        if str(exc).startswith(source):
            raise
        raise ScenarioError(f"{source}: {exc}") from None


def load_scenario(path: Path, environ: Mapping[str, str] | None = None) -> Scenario:
    """Read a scenario file: JSON, or YAML (``.yaml``/``.yml``) when PyYAML is installed
    (the project does not depend on it; its development tools bring it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return parse_scenario(_yaml(path, text), environ, str(path))
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ScenarioError(f"{path}: invalid JSON: {exc}") from None
    return parse_scenario(data, environ, str(path))


def _yaml(path: Path, text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise ScenarioError(
            f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write the scenario as JSON"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: invalid YAML: {exc}") from None
