"""The operators' HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz``, the admin API.

FastAPI on uvicorn, in the gateway's own event loop, so that a change made
through the admin API (``/api/v1``, see :mod:`gateway.admin_api`) reaches the
in-memory cache at once. OpenAPI at ``/openapi.json``, interactive docs at
``/docs``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway import admin_api
from gateway.admin_api import AdminServices
from gateway.metrics import Metrics
from gateway.store.health import RETRY_AFTER_SECONDS, StorageUnavailable


@dataclass(frozen=True)
class Readiness:
    """Each check's result, and why each failing one fails."""

    checks: dict[str, bool]
    reasons: dict[str, str] = field(default_factory=dict)


ReadinessCheck = Callable[[], Awaitable[Readiness]]


async def storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """An admin write while the database cannot take durable writes: 503, nothing changed."""
    assert isinstance(exc, StorageUnavailable)
    return JSONResponse(
        {"error": f"the database cannot take writes now ({exc.fault.reason})", "field": None},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


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
    app.add_exception_handler(StorageUnavailable, storage_unavailable)

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
        """Database reachable and taking durable writes, authorization cache loaded, OCPP
        port listening; 503 with a reason per failing check otherwise."""
        state = await readiness()
        ready = all(state.checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "not ready"}
        body["checks"] = state.checks
        if not ready:
            body["reasons"] = state.reasons
        return JSONResponse(body, status_code=200 if ready else 503)

    return app
