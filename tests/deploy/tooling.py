"""Paths, external tools and file loaders shared by the deployment checks.

The checks run real tools (promtool, prometheus, hadolint, ...). Where a tool is
missing, a developer's run skips with how to install it; CI (``CI`` set) or
``OCPP_GATEWAY_REQUIRE_DEPLOY_TOOLS=1`` turns the skip into a failure, so that a
machine without the tools cannot pass these checks by skipping them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

_INSTALL = {
    "prometheus": "install Debian's package: sudo apt-get install prometheus",
    "promtool": "it comes with Debian's prometheus package: sudo apt-get install prometheus",
    "systemd-analyze": "install systemd: sudo apt-get install systemd",
}
_FROM_DEV_EXTRAS = "install the dev extras: .venv/bin/pip install -e '.[dev]' (or make install)"


def tools_required() -> bool:
    """True on CI and when OCPP_GATEWAY_REQUIRE_DEPLOY_TOOLS=1: a missing tool fails."""
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or (
        os.environ.get("OCPP_GATEWAY_REQUIRE_DEPLOY_TOOLS") == "1"
    )


def require_tool(name: str) -> str:
    """The path of ``name`` (the virtualenv's bin/ first, then PATH); else skip or fail."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is not None:
        return found
    message = f"{name} not found: {_INSTALL.get(name, _FROM_DEV_EXTRAS)}"
    if tools_required():
        pytest.fail(f"{message} (required: CI or OCPP_GATEWAY_REQUIRE_DEPLOY_TOOLS=1)")
    pytest.skip(message)


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion (60 s at most) and capture its output."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "ocpp-gateway.json").read_text(encoding="utf-8")
    )
    return dashboard
