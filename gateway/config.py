"""Gateway configuration: a TOML file and ``OCPP_GATEWAY_*`` environment variables.

Precedence, highest first: explicit overrides (CLI flags), environment
variables, the TOML file, defaults. Nested keys use ``__`` in the environment:
``OCPP_GATEWAY_OCPP__PORT=9100`` sets ``[ocpp] port = 9100``.

Only the entry point (``gateway.cli``) calls :func:`load_settings`; everything
else receives a :class:`Settings` instance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OcppSettings(_Section):
    """The charger-facing WebSocket endpoint (OCPP-J)."""

    host: str = "0.0.0.0"
    port: int = Field(9000, ge=0, le=65535)
    max_frame_bytes: int = Field(65_536, ge=1024, le=16 * 1024 * 1024)
    ping_interval: float | None = Field(60.0, gt=0)
    ping_timeout: float | None = Field(30.0, gt=0)
    open_timeout: float = Field(10.0, gt=0)
    close_timeout: float = Field(10.0, gt=0)
    backlog: int = Field(2048, ge=16, description="pending TCP connections (reconnect storms)")
    heartbeat_interval: int = Field(300, ge=10, le=86_400)
    outbound_call_timeout: float = Field(30.0, gt=0)
    replay_window: int = Field(
        16,
        ge=0,
        le=10_000,
        description="answers kept per charger (a retry concerns the last CALL or few)",
    )
    replay_ttl: float = Field(600.0, gt=0)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    auth_failure_limit: int = Field(20, ge=1)
    auth_failure_window: float = Field(60.0, gt=0)
    max_cache_lifetime: int = Field(86_400, ge=60, description="seconds an Accepted may be cached")

    @model_validator(mode="after")
    def _tls_pair(self) -> OcppSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be set together")
        return self


class HttpSettings(_Section):
    """The operators' HTTP endpoint: /metrics, /healthz, /readyz and the admin API."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class AdminSettings(_Section):
    """The admin API: activation links, invitation e-mail, and member imports' limits.

    Without ``smtp_host`` invitations are not mailed: the activation link is
    logged and returned to the operator who invited.
    """

    public_url: str | None = Field(
        None, description="base URL of the admin API in links (default: the listening address)"
    )
    invitation_ttl_hours: int = Field(168, ge=1, le=24 * 90)
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = Field(10.0, gt=0)
    mail_from: str = "ocpp-gateway@localhost"
    import_max_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="the largest member file an import takes (413)"
    )
    import_max_rows: int = Field(
        200_000, ge=1, description="the most rows after the header a member file may have"
    )
    import_chunk_rows: int = Field(
        1000, ge=1, description="rows an import writes per transaction (chargers go between)"
    )


class DatabaseSettings(_Section):
    """The SQLite file, and when the gateway counts it as unable to take durable writes
    (see ``gateway.store.health``)."""

    path: Path = Path("data/gateway.sqlite3")
    commit_batch_max: int = Field(256, ge=1, description="writes grouped in one commit at most")
    health_interval: float = Field(
        2.0, ge=0.05, le=60.0, description="seconds between two looks at the database's files"
    )
    min_free_bytes: int = Field(
        16 * 1024 * 1024, ge=0, description="free space under which the database counts as full"
    )
    max_bytes: int | None = Field(
        None, ge=65_536, description="largest size the database may grow to (none: the disk)"
    )


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OCPP_GATEWAY_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    ocpp: OcppSettings = OcppSettings()
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    admin: AdminSettings = AdminSettings()


class ConfigError(Exception):
    """The configuration is invalid; the message names every bad key."""


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the configuration from ``config_file`` (TOML), the environment and overrides."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"configuration file not found: {config_file}")

    class _FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            return tuple(sources)

    try:
        loaded = _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # TOML syntax errors
        raise ConfigError(f"cannot read {config_file}: {exc}") from None
    return Settings.model_validate(loaded.model_dump())


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        env = "OCPP_GATEWAY_" + "__".join(str(p) for p in err["loc"]).upper()
        lines.append(f"  {key} (env {env}): {err['msg']}")
    return "invalid configuration:\n" + "\n".join(lines)
