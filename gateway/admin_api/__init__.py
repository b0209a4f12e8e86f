"""The admin HTTP API: ``/api/v1``, JSON, API tokens, roles (see gateway.members.service).

Served by the gateway process itself so that every change reaches the
in-memory policy cache before the answer. The OpenAPI document is at
``/openapi.json``, the interactive docs at ``/docs``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.admin_api import audit, invitations, members, network, statistics, sync
from gateway.admin_api.deps import AdminServices, http_error, service_error, validation_error
from gateway.members.errors import ServiceError

PREFIX = "/api/v1"
# Fixed paths (/members/export, /members/import) before /members/{member_id}.
ROUTERS = (
    sync.router,
    members.router,
    invitations.router,
    statistics.router,
    network.router,
    audit.router,
)


def mount(app: FastAPI, services: AdminServices) -> None:
    """Add the admin API's routes and error handlers to ``app``."""
    app.state.admin = services
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX)
    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


__all__ = ["PREFIX", "AdminServices", "mount"]
