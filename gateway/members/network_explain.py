"""``explain`` in the admin API: the decision for a token at a station, rule by rule.

Decides exactly as a charger's Authorize would: the same pure ``decide``
(OCPP 1.6 §4.1 / 2.0.1 C01), from the same database rows the policy cache is
built from, with ``explain=True`` so that every rule checked comes with its
limit and the value used; ``text`` is what ``ocpp-gateway explain`` prints.
Only the rows that one decision reads are loaded
(:meth:`~gateway.store.network.NetworkStore.explain_rows`), so it costs the
same on a network of ten badges as on one of a million.

Needs the ``members`` or the ``statistics`` permission. A token or station
that is not the caller's organisation's is not found (404), whether it is
unknown or another organisation's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gateway.members import network_values as check
from gateway.members.errors import Forbidden, NotFound
from gateway.members.roles import Permission
from gateway.members.service import Actor, AdminContext
from gateway.policy_cache.loader import USAGE_HORIZON, build_snapshot, usage_from_rows
from gateway.policy_engine import AuthRequest, Decision, Purpose, Reason, TokenType, decide
from gateway.policy_engine import explain as explain_text
from gateway.store.network import NetworkStore

EXPLAIN_CACHE_LIFETIME = timedelta(days=1)  # as the CLI's explain (and the default setting)


def _reason(reason: Reason) -> dict[str, Any]:
    return {
        "rule": str(reason.rule),
        "limit": reason.limit,
        "value": reason.value,
        "passed": reason.passed,
    }


def public_decision(decision: Decision) -> dict[str, Any]:
    """A decision with every rule checked; ``text`` is what ``ocpp-gateway explain`` prints."""
    return {
        "status": decision.status.value,
        "ocpp201_status": decision.ocpp201_status(),
        "ocpp16_status": decision.ocpp16_status(),
        "reason": _reason(decision.reason),
        "expires_at": decision.expires_at.isoformat() if decision.expires_at else None,
        "member_id": decision.member_id,
        "group_token": decision.group_id,
        "flagged": _reason(decision.flagged) if decision.flagged is not None else None,
        "checks": [_reason(check) for check in decision.checks],
        "text": explain_text(decision),
    }


class ExplainService:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx
        self.store = NetworkStore(ctx.db)

    async def explain(
        self,
        actor: Actor,
        token: str,
        station: str,
        at: datetime | None = None,
        token_type: str | None = None,
    ) -> dict[str, Any]:
        """The decision for ``token`` at ``station`` at ``at`` (default now), rule by rule."""
        if not {Permission.MEMBERS, Permission.STATISTICS} & actor.permissions:
            raise Forbidden("your role does not allow this (needs members or statistics)")
        if at is not None:
            check.aware(at, "at")
        kind = TokenType(check.token_type(token_type, "token_type")) if token_type else None
        found = await self.store.token(actor.organisation_id, token)
        if found is None:
            raise NotFound(f"no token {token} in your organisation", field="token")
        if await self.store.station(actor.organisation_id, station) is None:
            raise NotFound(f"no station {station} in your organisation", field="station")
        now = self.ctx.clock()
        usage_rows = await self.store.usage_rows(found["member_id"], now - USAGE_HORIZON)
        used = {row["charge_point_id"] for row in usage_rows}
        rows = await self.store.explain_rows(found["id"], found["member_id"], station, used)
        snapshot = build_snapshot(rows)
        usage = usage_from_rows(usage_rows, snapshot)
        when = at or now
        request = AuthRequest(token, station, Purpose.AUTHORIZE, token_type=kind)
        decision = decide(
            snapshot, request, usage, when, max_cache_lifetime=EXPLAIN_CACHE_LIFETIME, explain=True
        )
        return {
            "token": found["value"],
            "station": station,
            "at": when.isoformat(),
            **public_decision(decision),
        }
