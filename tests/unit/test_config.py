"""Configuration errors name the bad key; environment beats the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[ocpp]\nport = 9100\n[http]\nport = 8100\n")
    monkeypatch.setenv("OCPP_GATEWAY_HTTP__PORT", "8200")
    settings = load_settings(config)
    assert (settings.ocpp.port, settings.http.port) == (9100, 8200)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[ocpp]\nprot = 9100\n")
    with pytest.raises(ConfigError, match=r"ocpp\.prot"):
        load_settings(config)


def test_bad_env_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCPP_GATEWAY_OCPP__PORT", "seventy")
    with pytest.raises(ConfigError, match="OCPP_GATEWAY_OCPP__PORT"):
        load_settings()


def test_tls_needs_both_files(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[ocpp]\ntls_cert = "/x.pem"\n')
    with pytest.raises(ConfigError, match="tls_cert and tls_key"):
        load_settings(config)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
