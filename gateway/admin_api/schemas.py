"""Request and response bodies of the admin API (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    error: str
    field: str | None = None


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
