"""Structured logging (structlog): JSON lines in production, console in development.

Per connection the transport binds ``charge_point_id`` and ``ocpp_version``,
per message ``message_id`` and ``action``, with contextvars. Secrets never
reach a log line: tokens are logged through :func:`token_ref` (a short hash),
and the :func:`_scrub` processor replaces any field named like a secret.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any, TextIO

import structlog

_SECRET_KEYS = frozenset(
    {"password", "authorization", "auth", "id_tag", "id_token", "idtag", "idtoken", "token"}
)
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


@lru_cache(maxsize=65_536)
def token_ref(value: str) -> str:
    """A stable, non-reversible reference to a token for logs (``tok:`` + 10 hex)."""
    digest = hashlib.sha256(value.strip().upper().encode()).hexdigest()
    return "tok:" + digest[:10]


def _scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
    return event


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog once, at the entry point."""
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
