"""What member operations take as input, validated (pydantic): the admin API's request bodies
and the command line's arguments both become these, so both refuse the same things the same
way (a 422 naming the field, or an ``error:`` line on the command line).

Field names are the API's. Role, permission and token type values are checked here; what
depends on the database (duplicates, site names in a policy, who may grant what) is checked
by the services.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway.members import network_values
from gateway.members.bounds import MAX_ID, Id, Instant
from gateway.members.errors import Invalid
from gateway.members.roles import Permission, Role
from gateway.policy_engine import TokenType

_PHONE = re.compile(r"^\+?[0-9 ().\-/]{3,40}$")


def _no_control(text: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("control characters are not allowed")
    return text


def email_address(text: str) -> str:
    """An e-mail address, trimmed; refuses what cannot be one (no full RFC 5322 parser)."""
    email = text.strip()
    local, at, domain = email.rpartition("@")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in email):
        raise ValueError(f"{text!r} is not an email address")
    if not (local and at and "." in domain.strip(".")):
        raise ValueError(f"{text!r} is not an email address")
    if len(email) > 254:
        raise ValueError("an email address has at most 254 characters")
    return email


def _phone(text: str | None) -> str | None:
    if text is None:
        return None
    phone = text.strip()
    if not phone:
        return None
    if not _PHONE.match(phone):
        raise ValueError("a phone number has digits, spaces, + ( ) . - / only (3 to 40)")
    return phone


def _token_value(text: str) -> str:
    """The same rule as the tokens API (network_values.token_value)."""
    try:
        return network_values.token_value(text)
    except Invalid as exc:
        raise ValueError(exc.message) from None


def _name(text: str) -> str:
    """The same rule as the groups API (network_values.name)."""
    try:
        return network_values.name(text)
    except Invalid as exc:
        raise ValueError(exc.message) from None


def _identifier(text: str | None) -> str | None:
    if text is None:
        return None
    ident = text.strip()
    return ident or None


Email = Annotated[str, AfterValidator(email_address)]
Phone = Annotated[str | None, Field(max_length=60), AfterValidator(_phone)]
Identifier = Annotated[str | None, Field(max_length=200), AfterValidator(_identifier)]
PersonName = Annotated[
    str, Field(max_length=100), AfterValidator(str.strip), AfterValidator(_no_control)
]
GroupName = Annotated[
    str, Field(min_length=1, max_length=100), AfterValidator(_name), AfterValidator(_no_control)
]
TokenValue = Annotated[
    str,
    Field(
        min_length=1,
        max_length=36,
        description="the badge's idTag / idToken (OCPP 2.0.1 IdTokenType, at most 36 characters)",
    ),
    AfterValidator(_token_value),
]


class _Input(BaseModel):
    """Unknown fields are refused: a misspelt field is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class TokenInput(_Input):
    """A badge or app token to give the member."""

    value: TokenValue
    type: TokenType = TokenType.ISO14443
    expires_at: Instant | None = None


class TokenChanges(_Input):
    """Tokens to add to the member, and token values to remove from them."""

    add: list[TokenInput] = Field(default_factory=list)
    remove: list[TokenValue] = Field(default_factory=list)


class NewMember(_Input):
    """A member to invite (or, on the command line, to add directly)."""

    email: Email
    role: Role = Role.USER
    extra_roles: list[Role] = Field(default_factory=list, description="further roles held")
    first_name: PersonName = ""
    last_name: PersonName = ""
    phone: Phone = None
    identifier: Identifier = Field(None, description="sync key (CSV import); unique")
    permissions: dict[Permission, bool] = Field(
        default_factory=dict, description="overrides: only permissions you hold"
    )
    groups: list[GroupName] = Field(default_factory=list, description="created on demand")
    tokens: list[TokenInput] = Field(default_factory=list)
    policy: dict[str, Any] | None = Field(
        None, description="the member's own usage policy (see the policies documentation)"
    )
    valid_until: Instant | None = None


_NOT_NULL = ("first_name", "last_name", "role", "extra_roles", "permissions", "groups", "tokens")


class MemberUpdate(_Input):
    """Only the fields given change; ``null`` clears email, phone, identifier, policy,
    valid_until. ``groups`` and ``permissions`` replace the member's whole set."""

    first_name: PersonName | None = None
    last_name: PersonName | None = None
    email: Email | None = None
    phone: Phone = None
    identifier: Identifier = None
    role: Role | None = None
    extra_roles: list[Role] | None = None
    permissions: dict[Permission, bool] | None = None
    groups: list[GroupName] | None = None
    tokens: TokenChanges | None = None
    policy: dict[str, Any] | None = None
    valid_until: Instant | None = None

    @model_validator(mode="after")
    def _not_null(self) -> MemberUpdate:
        for name in _NOT_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    @property
    def given(self) -> frozenset[str]:
        return frozenset(self.model_fields_set)


class BulkDeactivation(_Input):
    """Either a selection of member ids or a whole group (by name)."""

    member_ids: list[Id] | None = Field(None, max_length=10_000)
    group: GroupName | None = None

    @model_validator(mode="after")
    def _one_of(self) -> BulkDeactivation:
        if (self.member_ids is None) == (self.group is None):
            raise ValueError("give either member_ids or group")
        return self


class OwnershipTransfer(_Input):
    member_id: Id = Field(description="the Active member who becomes Owner")


__all__ = [
    "MAX_ID",
    "BulkDeactivation",
    "Id",
    "MemberUpdate",
    "NewMember",
    "OwnershipTransfer",
    "TokenChanges",
    "TokenInput",
    "email_address",
]
