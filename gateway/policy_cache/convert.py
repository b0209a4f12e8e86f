"""Database rows (plain tuples, columns as `gateway.store.policies` selects them)
to the engine's types, for a whole snapshot or a few members alike.

Sized for a million members and tokens: rows are unpacked by position, enums
go through dicts, members in the same groups share one frozenset and
identical policy bodies are parsed once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from gateway.members.bounds import STORED
from gateway.members.policy_spec import PolicySpec, to_policy
from gateway.policy_engine import (
    EnforcementMode,
    MemberInfo,
    MemberStatus,
    OrganisationInfo,
    Policy,
    PolicyScope,
    Role,
    ScopeKind,
    StationInfo,
    Tariff,
    TokenInfo,
    TokenStatus,
    TokenType,
    TokenTypeMatch,
)
from gateway.store.policies import Row
from gateway.timeutil import parse_ocpp_datetime

log = structlog.get_logger("gateway.policy_cache")
E = TypeVar("E", bound=Enum)
_UTC = ZoneInfo("UTC")
_new = tuple.__new__  # a named tuple made with all its fields, without its Python `__new__`


def _zone(name: str | None, fallback: ZoneInfo | None = None) -> ZoneInfo | None:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.error("unknown time zone, using the fallback", zone=name)
        return fallback


class _Lookup(dict[Any, E]):
    """`lookup[value]` is `enum(value)` (ValueError and all), remembered.

    A million `Enum.__call__` take a second; indexing a dict does not call
    Python code at all once the few values a column holds are known.
    """

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self._enum = enum

    def __missing__(self, value: Any) -> E:
        member = self[value] = self._enum(value)
        return member


def _tariff(price_per_kwh: str | None, session_fee: int | None) -> Tariff:
    return Tariff(Decimal(price_per_kwh or "0"), int(session_fee or 0))


def organisations(rows: Iterable[Row]) -> list[OrganisationInfo]:
    """Rows of (id, name, timezone, currency, price_per_kwh, session_fee, enforcement,
    group_token, token_type_match)."""
    return [
        OrganisationInfo(
            id=id,
            name=name,
            tz=_zone(timezone, _UTC) or _UTC,
            currency=currency,
            tariff=_tariff(price, fee),
            enforcement=EnforcementMode(enforcement),
            group_token=group_token,
            token_type_match=TokenTypeMatch(match),
        )
        for id, name, timezone, currency, price, fee, enforcement, group_token, match in rows
    ]


def stations(rows: Iterable[Row]) -> list[StationInfo]:
    """Rows of (charge_point_id, organisation_id, site_id, timezone, price_per_kwh,
    session_fee); a station's tariff is set only when it has a price or a fee of its own."""
    return [
        StationInfo(
            cpid,
            org_id,
            site_id,
            _zone(timezone),
            _tariff(price, fee) if price is not None or fee is not None else None,
        )
        for cpid, org_id, site_id, timezone, price, fee in rows
    ]


def group_sets(rows: Iterable[Row]) -> dict[int, frozenset[int]]:
    """Each member's groups, from (member_id, group_id) rows; equal sets are one frozenset."""
    sets: dict[int, frozenset[int]] = {}
    unions: dict[tuple[frozenset[int], int], frozenset[int]] = {}
    shared: dict[frozenset[int], frozenset[int]] = {}
    no_groups: frozenset[int] = frozenset()
    for member_id, group_id in rows:
        key = (sets.get(member_id, no_groups), group_id)
        union = unions.get(key)
        if union is None:
            union = key[0] | {group_id}
            union = unions[key] = shared.setdefault(union, union)
        sets[member_id] = union
    return sets


def members(rows: Iterable[Row], groups: Mapping[int, frozenset[int]]) -> list[MemberInfo]:
    """Rows of (id, organisation_id, first_name, last_name, email, role, status,
    valid_until); an unknown role reads as User, an unknown status is a ValueError."""
    no_groups: frozenset[int] = frozenset()
    roles = {role.value: role for role in Role}
    statuses = _Lookup(MemberStatus)
    when = parse_ocpp_datetime
    user = Role.USER
    return [
        _new(
            MemberInfo,
            (
                id,
                org_id,
                first_name,
                last_name,
                email or "",
                roles.get(role_name, user),
                statuses[status_name],
                groups.get(id, no_groups),
                None,
                when(valid_until) if valid_until else None,
            ),
        )
        for id, org_id, first_name, last_name, email, role_name, status_name, valid_until in rows
    ]


def tokens(rows: Iterable[Row], member_ids: Mapping[int, int] | None = None) -> list[TokenInfo]:
    """Rows of (value, type, member_id, status, expires_at).

    `member_ids` maps a member id to the members' own int object: then a
    token's `member_id` is the very key of `Snapshot.members` (a million
    ints fewer, and a decision finds the member without reading a second int
    from memory).
    """
    kinds = _Lookup(TokenType)
    statuses = _Lookup(TokenStatus)
    when = parse_ocpp_datetime
    same: Mapping[int, int] = member_ids or {}
    return [
        _new(
            TokenInfo,
            (
                value,
                kinds[type_name],
                same.get(member_id, member_id),
                statuses[status_name],
                when(expires_at) if expires_at else None,
            ),
        )
        for value, type_name, member_id, status_name, expires_at in rows
    ]


def policies(rows: Iterable[Row], sites: Iterable[Row]) -> dict[PolicyScope, Policy]:
    """Rows of (scope_kind, scope_id, body, currency, organisation_id), with the sites
    (id, organisation_id, name) their bodies name; identical bodies are parsed once."""
    site_ids: dict[int, dict[str, int]] = defaultdict(dict)
    for site_id, org_id, name in sites:
        site_ids[org_id][name] = site_id
    parsed: dict[tuple[str, str, int], Policy] = {}
    found: dict[PolicyScope, Policy] = {}
    for kind, scope_id, body, currency, org_id in rows:
        key = (body, currency, org_id)
        policy = parsed.get(key)
        if policy is None:
            spec = PolicySpec.model_validate(json.loads(body), context=STORED)
            policy = parsed[key] = to_policy(spec, currency, site_ids[org_id])
        found[PolicyScope(ScopeKind(kind), scope_id)] = policy
    return found
