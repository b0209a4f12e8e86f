"""What every admin API route shares: the services and the authenticated actor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.members.bounds import Id
from gateway.members.errors import ServiceError
from gateway.members.service import Actor, AdminContext, MemberService

bearer = HTTPBearer(auto_error=False, description="an API token: Authorization: Bearer ogw_...")


@dataclass
class AdminServices:
    """The member-management services one gateway's admin API uses (``app.state.admin``).

    Routes reach other services through ``services.ctx`` (they are cheap to make).
    """

    ctx: AdminContext
    members: MemberService

    @classmethod
    def create(cls, ctx: AdminContext) -> AdminServices:
        return cls(ctx, MemberService(ctx))


def _services(request: Request) -> AdminServices:
    services: AdminServices = request.app.state.admin
    return services


async def _actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Actor:
    token = credentials.credentials if credentials else None
    return await _services(request).members.authenticate(token)


Services = Annotated[AdminServices, Depends(_services)]
CurrentActor = Annotated[Actor, Depends(_actor)]
MemberId = Annotated[Id, Path(description="the member's id")]


async def service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(
        {"error": exc.message, "field": exc.field}, status_code=exc.status, headers=headers
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own refusals (unknown route, method not allowed, unreadable body) in
    the same shape as every other error, with their headers (``Allow`` on a 405)."""
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path[:200]
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no such route: {request.method} {path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {path} (allowed: {allowed})"
    elif exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # bytes that are not UTF-8 JSON: invalid input like any other, named "body"
        return JSONResponse(
            {"error": "body: not JSON text (UTF-8)", "field": "body"}, status_code=422
        )
    else:
        message = str(exc.detail)
    return JSONResponse(
        {"error": message, "field": None}, status_code=exc.status_code, headers=exc.headers
    )


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the first bad field (``body.email``, ``query.page``), with every error."""
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append({"field": loc, "message": message})
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    return JSONResponse(
        {
            "error": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "errors": errors,
        },
        status_code=422,
    )
