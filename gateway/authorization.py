"""The authorization seam between the OCPP handlers and the policy engine.

Handlers only know :class:`Authorizer`: ``decide(id_token, charge_point_id, now)``
returns a :class:`~gateway.policy_engine.decision.Decision`. This module's
:class:`TokenTableAuthorizer` is the first implementation: known token of an
active member, token and membership not expired. The full policy engine
(stations, hours, caps) plugs in behind the same interface.

The table is an immutable mapping swapped by reference on reload, so a
decision never sees half a reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from gateway.policy_engine.decision import AuthStatus, Decision, Reason
from gateway.store.members import TokenGrant, token_key
from gateway.timeutil import parse_ocpp_datetime


class Authorizer(Protocol):
    def decide(self, id_token: str, charge_point_id: str, now: datetime) -> Decision: ...


def decide_token(
    grants: Mapping[str, TokenGrant], id_token: str, now: datetime, max_lifetime: timedelta
) -> Decision:
    """Pure decision from the token table (PRODUCT.md decision table, first rows)."""
    grant = grants.get(token_key(id_token))
    if grant is None:
        return Decision(AuthStatus.UNKNOWN, Reason("token_unknown"))
    member = grant.member_id
    group = grant.group_token
    if grant.token_status in ("Blocked", "Lost"):
        return Decision(
            AuthStatus.BLOCKED,
            Reason("token_status", value=grant.token_status),
            member_id=member,
            group_id=group,
        )
    if grant.member_status == "Inactive":
        return Decision(
            AuthStatus.BLOCKED,
            Reason("member_status", value="Inactive"),
            member_id=member,
            group_id=group,
        )
    if grant.member_status == "Pending":
        return Decision(
            AuthStatus.INVALID,
            Reason("member_status", value="Pending"),
            member_id=member,
            group_id=group,
        )
    expires = now + max_lifetime
    for rule, limit in (
        ("token_expiry", grant.token_expires_at),
        ("membership_validity", grant.member_valid_until),
    ):
        if limit is None:
            continue
        end = parse_ocpp_datetime(limit)
        if end <= now:
            return Decision(
                AuthStatus.EXPIRED, Reason(rule, limit=limit), member_id=member, group_id=group
            )
        expires = min(expires, end)
    return Decision(
        AuthStatus.ACCEPTED,
        Reason("token_valid"),
        expires_at=expires,
        group_id=group,
        member_id=member,
    )


class TokenTableAuthorizer:
    def __init__(self, max_lifetime: timedelta) -> None:
        self._grants: Mapping[str, TokenGrant] = {}
        self._max_lifetime = max_lifetime
        self.loaded = False

    def load(self, grants: Mapping[str, TokenGrant]) -> None:
        self._grants = grants
        self.loaded = True

    def decide(self, id_token: str, charge_point_id: str, now: datetime) -> Decision:
        return decide_token(self._grants, id_token, now, self._max_lifetime)
