"""The operators' HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz``.

FastAPI on uvicorn, in the gateway's own event loop (the admin API will be
served here too, so that a change reaches the in-memory cache at once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.metrics import Metrics

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def create_http_app(metrics: Metrics, readiness: ReadinessCheck) -> FastAPI:
    app = FastAPI(title="ocpp-gateway", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive and its event loop answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Database reachable, authorization cache loaded, OCPP port listening."""
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return app
