"""Request and response bodies of the admin API (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    """Every refusal: a message, and the field or parameter it is about (``query.page``)."""

    error: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        None, description="422 from validation: every bad field, each with its message"
    )


_MEANING = {
    401: "no API token, or one unknown or revoked",
    403: "your role or permissions do not allow this",
    404: "not found in your organisation",
    409: "conflicts with what exists (a duplicate, a rank rule, the Owner)",
    410: "the link has expired or was replaced by a newer one",
    422: "invalid input; `field` names it",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of the error codes a route or router may answer (OpenAPI)."""
    return {code: {"model": Error, "description": _MEANING[code]} for code in codes}


def content(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answered as any of ``media_types`` (``text/csv`` is text)."""
    kinds = {"text/csv": {"schema": {"type": "string"}}, "application/json": {}}
    return {200: {"content": {kind: kinds.get(kind, {}) for kind in media_types}}}


class TokenOut(BaseModel):
    value: str
    type: str
    status: str
    expires_at: str | None


class MemberOut(BaseModel):
    id: int
    identifier: str | None
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    role: str
    roles: list[str] = Field(description="every role held, highest first")
    permissions: list[str] = Field(description="effective permissions (roles and overrides)")
    permission_overrides: dict[str, bool]
    status: str
    groups: list[str]
    tokens: list[TokenOut]
    policy: dict[str, Any] | None = Field(description="the member's own policy, if any")
    valid_until: str | None
    last_activity_at: str | None
    created_at: str
    updated_at: str


class MemberPage(BaseModel):
    items: list[MemberOut]
    total: int
    page: int
    per_page: int


class ApiTokenOut(BaseModel):
    id: int
    member_id: int
    name: str
    prefix: str = Field(description="the first characters of the secret, to recognise it")
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class ApiTokenCreated(BaseModel):
    token: ApiTokenOut
    secret: str = Field(description="shown once; only a hash is stored")


class ApiTokenCreate(Body):
    name: str = Field("", max_length=100)
