"""The operators' HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz``, the admin API.

FastAPI on uvicorn, in the gateway's own event loop, so that a change made
through the admin API (``/api/v1``, see :mod:`gateway.admin_api`) reaches the
in-memory cache at once. OpenAPI at ``/openapi.json``, interactive docs at
``/docs``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway import admin_api
from gateway.admin_api import AdminServices
from gateway.metrics import Metrics

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def create_http_app(
    metrics: Metrics, readiness: ReadinessCheck, admin: AdminServices | None = None
) -> FastAPI:
    app = FastAPI(
        title="ocpp-gateway",
        summary="OCPP authorization gateway: operations and member management",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    if admin is not None:
        admin_api.mount(app, admin)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is alive and its event loop answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Database reachable, authorization cache loaded, OCPP port listening."""
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return app
