"""deploy/systemd/ocpp-gateway.service: a sandboxed unit systemd accepts."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.deploy.tooling import DEPLOY, output, require_tool, run

UNIT = DEPLOY / "systemd" / "ocpp-gateway.service"


def unit_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) in order; systemd keys may repeat, so no configparser."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
            continue
        key, _, value = line.partition("=")
        sections[current].append((key, value))
    return sections


def test_unit_runs_the_gateway_as_its_own_user_with_its_state_directory() -> None:
    service = dict(unit_entries(UNIT)["Service"])
    assert service["User"] not in {"", "root", "0"}
    assert service["ExecStart"].split()[-1] == "run"
    assert service["StateDirectory"] == "ocpp-gateway"
    assert service["KillSignal"] == "SIGTERM"
    environment = [value for key, value in unit_entries(UNIT)["Service"] if key == "Environment"]
    database = next(v for v in environment if v.startswith("OCPP_GATEWAY_DATABASE__PATH="))
    assert database.partition("=")[2].startswith("/var/lib/ocpp-gateway/")


def test_unit_is_sandboxed() -> None:
    entries = unit_entries(UNIT)["Service"]
    service = dict(entries)
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service.get(key) == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    filters = [value for key, value in entries if key == "SystemCallFilter"]
    assert "@system-service" in filters


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """Every directive is known and its value parses (the binary is swapped for one that
    exists here: verify also checks that ExecStart is executable)."""
    analyze = require_tool("systemd-analyze")
    true = shutil.which("true")
    assert true is not None
    text = UNIT.read_text(encoding="utf-8")
    assert "ExecStart=/opt/ocpp-gateway/bin/ocpp-gateway " in text
    copy = tmp_path / UNIT.name
    copy.write_text(
        text.replace("ExecStart=/opt/ocpp-gateway/bin/ocpp-gateway ", f"ExecStart={true} "),
        encoding="utf-8",
    )
    result = run(analyze, "verify", copy)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), output(result)
