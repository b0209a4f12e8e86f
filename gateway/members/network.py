"""Stations and tokens (badges) of an organisation: the operations behind the admin API.

Stations need the ``stations`` permission (a tariff override also
``prices``); tokens need ``members``. Like every member-management
operation (see :mod:`gateway.members.service`), each change and its audit
entry are one database transaction, and the policy cache is refreshed
before the answer, so the next Authorize on any connection sees the change.

- **Station ids are global**: an id registered by any organisation is
  refused with 409 "already registered", whoever holds it; another
  organisation's station is otherwise invisible (404).
- **Charger passwords** (OCPP Security Profile 1, 2.0.1 A00) are 16 to 40
  characters, generated when not given, returned once and stored only as a
  scrypt hash, which no answer and no audit entry contains. A new password
  is checked at the charger's next connection (the WebSocket handshake
  reads the station's record each time); a connection already open stays
  open until it ends.
- **Token values are global** and compared case-insensitively, as OCPP
  does: a value held by any organisation is refused with 409. A token
  belongs to a member of the caller's organisation; an operator changes the
  tokens of members ranked below them, and their own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiosqlite

from gateway.members import network_values as check
from gateway.members.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.members.roles import Permission
from gateway.members.service import Actor, AdminContext
from gateway.security.passwords import hash_password
from gateway.store.network import (
    NetworkStore,
    ensure_site,
    insert_station,
    insert_token,
    station_record,
    token_record,
    update_station,
)
from gateway.timeutil import to_text

UNSET: Any = object()
"""A field left out of an edit (``None`` clears it)."""


@dataclass(frozen=True, slots=True)
class TariffChange:
    """A station's own tariff, in the organisation's currency (major units)."""

    price_per_kwh: Decimal | str
    session_fee: Decimal | str = Decimal(0)


@dataclass(frozen=True, slots=True)
class StationChange:
    """An edit of a station; a field left :data:`UNSET` is kept, ``None`` clears it."""

    site: str | None = UNSET
    timezone: str | None = UNSET
    tariff: TariffChange | None = UNSET


@dataclass(frozen=True, slots=True)
class NewPassword:
    """A charger password to hand to the installer: shown once."""

    charge_point_id: str
    password: str
    generated: bool

    @property
    def username(self) -> str:
        return self.charge_point_id  # HTTP Basic: the username is the station's identity


def public_station(
    row: dict[str, Any], currency: str, connected: bool | None = None
) -> dict[str, Any]:
    """A station as the API shows it (never its password hash)."""
    tariff = None
    if row["price_per_kwh"] is not None or row["session_fee"] is not None:
        tariff = {
            "price_per_kwh": check.major(row["price_per_kwh"] or "0", currency),
            "session_fee": check.major(row["session_fee"] or 0, currency),
            "currency": currency,
        }
    return {
        "charge_point_id": row["charge_point_id"],
        "site": row["site"],
        "timezone": row["timezone"],
        "tariff": tariff,
        "ocpp_version": row["ocpp_version"],
        "vendor": row["vendor"],
        "model": row["model"],
        "serial_number": row["serial_number"],
        "firmware_version": row["firmware_version"],
        "accepted_once": bool(row["accepted_once"]),
        "connected": connected,
        "last_boot_at": row["last_boot_at"],
        "created_at": row["created_at"],
    }


def public_token(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "value": row["value"],
        "type": row["type"],
        "status": row["status"],
        "expires_at": row["expires_at"],
        "member_id": row["member_id"],
        "member_email": row["member_email"],
        "member_name": row["member_name"],
        "created_at": row["created_at"],
    }


class NetworkService:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx
        self.store = NetworkStore(ctx.db)

    async def _currency(self, actor: Actor) -> str:
        org = await self.store.organisation(actor.organisation_id)
        return str(org["currency"]) if org else "EUR"

    # -- stations ---------------------------------------------------------------------------

    async def list_stations(self, actor: Actor, site: str | None = None) -> list[dict[str, Any]]:
        actor.require(Permission.STATIONS)
        currency = await self._currency(actor)
        rows = await self.store.stations(actor.organisation_id, site)
        on = self.ctx.connected
        return [public_station(row, currency, on(row["charge_point_id"])) for row in rows]

    async def get_station(self, actor: Actor, charge_point_id: str) -> dict[str, Any]:
        actor.require(Permission.STATIONS)
        return public_station(
            await self._station(actor, charge_point_id),
            await self._currency(actor),
            self.ctx.connected(charge_point_id),
        )

    async def _station(self, actor: Actor, charge_point_id: str) -> dict[str, Any]:
        found = await self.store.station(actor.organisation_id, charge_point_id)
        if found is None:
            raise NotFound(f"no station {charge_point_id}")
        return found

    async def list_sites(self, actor: Actor) -> list[dict[str, Any]]:
        if not {Permission.STATIONS, Permission.MEMBERS} & actor.permissions:
            actor.require(Permission.STATIONS)
        return await self.store.sites(actor.organisation_id)

    async def register_station(
        self,
        actor: Actor,
        charge_point_id: str,
        *,
        site: str | None = None,
        timezone: str | None = None,
        tariff: TariffChange | None = None,
        password: str | None = None,
    ) -> tuple[dict[str, Any], NewPassword]:
        """Register a charger (OCPP 2.0.1 A00 Security Profile 1: its Basic auth password)."""
        actor.require(Permission.STATIONS)
        cpid = check.station_id(charge_point_id)
        change = StationChange(
            site=site, timezone=timezone, tariff=UNSET if tariff is None else tariff
        )
        currency = await self._currency(actor)
        fields = self._station_fields(actor, change, currency)
        secret, generated = check.charger_password(password)
        hashed = await asyncio.to_thread(hash_password, secret)

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            if not await insert_station(db, actor.organisation_id, cpid, hashed, now):
                raise Conflict(f"station {cpid} is already registered", field="charge_point_id")
            await self._apply(db, actor, cpid, fields)
            after = await station_record(db, cpid)
            assert after is not None
            await self.ctx.record(db, actor, "station.register", "station", cpid, None, after, now)
            return after

        row = await self.ctx.change(op)
        return public_station(row, currency), NewPassword(cpid, secret, generated)

    async def update_station(
        self, actor: Actor, charge_point_id: str, change: StationChange
    ) -> dict[str, Any]:
        """Edit site (created on demand), time zone, tariff override; None clears one."""
        actor.require(Permission.STATIONS)
        await self._station(actor, charge_point_id)
        currency = await self._currency(actor)
        fields = self._station_fields(actor, change, currency)

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            before = await station_record(db, charge_point_id)
            if before is None:
                raise NotFound(f"no station {charge_point_id}")
            await self._apply(db, actor, charge_point_id, fields)
            after = await station_record(db, charge_point_id)
            assert after is not None
            if after != before:
                await self.ctx.record(
                    db, actor, "station.update", "station", charge_point_id, before, after, now
                )
            return after

        return public_station(await self.ctx.change(op), currency)

    def _station_fields(self, actor: Actor, change: StationChange, currency: str) -> dict[str, Any]:
        """The checked columns to set; ``site`` stays a name until the write op."""
        fields: dict[str, Any] = {}
        if change.site is not UNSET:
            fields["site"] = None if change.site is None else check.name(change.site, "site")
        if change.timezone is not UNSET:
            fields["timezone"] = (
                None if change.timezone is None else check.timezone(change.timezone)
            )
        if change.tariff is not UNSET:
            actor.require(Permission.PRICES)
            tariff = change.tariff
            fields["price_per_kwh"] = (
                None
                if tariff is None
                else check.price_per_kwh_minor(
                    tariff.price_per_kwh, currency, "tariff.price_per_kwh"
                )
            )
            fields["session_fee"] = (
                None
                if tariff is None
                else check.session_fee_minor(tariff.session_fee, currency, "tariff.session_fee")
            )
        return fields

    @staticmethod
    async def _apply(
        db: aiosqlite.Connection, actor: Actor, charge_point_id: str, fields: dict[str, Any]
    ) -> None:
        columns = dict(fields)
        if "site" in columns:
            site = columns["site"]
            columns["site_id"] = (
                None if site is None else await ensure_site(db, actor.organisation_id, site)
            )
        await update_station(db, charge_point_id, **columns)

    async def set_password(
        self, actor: Actor, charge_point_id: str, password: str | None = None
    ) -> NewPassword:
        """Set (given) or rotate (generated) a charger's password; it is returned once."""
        actor.require(Permission.STATIONS)
        await self._station(actor, charge_point_id)
        secret, generated = check.charger_password(password)
        hashed = await asyncio.to_thread(hash_password, secret)

        async def op(db: aiosqlite.Connection, now: datetime) -> None:
            if await station_record(db, charge_point_id) is None:
                raise NotFound(f"no station {charge_point_id}")
            await update_station(db, charge_point_id, password_hash=hashed)
            after = {"password": "changed", "generated": generated}
            await self.ctx.record(
                db, actor, "station.password", "station", charge_point_id, None, after, now
            )

        await self.ctx.change(op, refresh=False)  # the cache does not read passwords
        return NewPassword(charge_point_id, secret, generated)

    async def remove_station(self, actor: Actor, charge_point_id: str) -> dict[str, Any]:
        """Forget a station: it can no longer connect; its transactions stay."""
        actor.require(Permission.STATIONS)
        await self._station(actor, charge_point_id)
        currency = await self._currency(actor)

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            before = await station_record(db, charge_point_id)
            if before is None:
                raise NotFound(f"no station {charge_point_id}")
            await db.execute("DELETE FROM stations WHERE charge_point_id = ?", (charge_point_id,))
            await self.ctx.record(
                db, actor, "station.remove", "station", charge_point_id, before, None, now
            )
            return before

        return public_station(await self.ctx.change(op), currency)

    # -- tokens -----------------------------------------------------------------------------

    async def list_tokens(
        self, actor: Actor, *, member_id: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        actor.require(Permission.MEMBERS)
        if status is not None:
            check.token_status(status)
        if member_id is not None:
            await self.ctx.member_in_org(actor, member_id)
        rows = await self.store.tokens(actor.organisation_id, member_id=member_id, status=status)
        return [public_token(row) for row in rows]

    async def get_token(self, actor: Actor, value: str) -> dict[str, Any]:
        actor.require(Permission.MEMBERS)
        return public_token(await self._token(actor, value))

    async def _token(self, actor: Actor, value: str) -> dict[str, Any]:
        found = await self.store.token(actor.organisation_id, value)
        if found is None:
            raise NotFound(f"no token {value}")
        return found

    async def _may_change_tokens_of(self, actor: Actor, member_id: int) -> None:
        member = await self.ctx.member_in_org(actor, member_id)
        if member_id != actor.member_id and not actor.may_act_on(member):
            raise Forbidden("you may only change tokens of members whose role is below yours")

    async def add_token(
        self,
        actor: Actor,
        value: str,
        member_id: int,
        *,
        token_type: str = "ISO14443",
        expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        actor.require(Permission.MEMBERS)
        value = check.token_value(value)
        token_type = check.token_type(token_type)
        if expires_at is not None:
            check.aware(expires_at, "expires_at")
        try:
            await self._may_change_tokens_of(actor, member_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="member_id") from None

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            token_id = await insert_token(db, value, token_type, member_id, expires_at, now)
            if token_id is None:
                raise Conflict(f"token {value} is already registered", field="value")
            after = await token_record(db, token_id)
            await self.ctx.record(db, actor, "token.add", "token", token_id, None, after, now)
            assert after is not None
            return after

        return public_token(await self.ctx.change(op, refresh=[member_id]))

    async def update_token(
        self,
        actor: Actor,
        value: str,
        *,
        status: str | None = None,
        expires_at: datetime | None = UNSET,
    ) -> dict[str, Any]:
        """Block, unblock, mark Lost (``status``) or change the expiry (None: never expires)."""
        actor.require(Permission.MEMBERS)
        if status is not None:
            check.token_status(status)
        if expires_at is not UNSET and expires_at is not None:
            check.aware(expires_at, "expires_at")
        token = await self._token(actor, value)
        await self._may_change_tokens_of(actor, token["member_id"])
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if expires_at is not UNSET:
            changes["expires_at"] = to_text(expires_at) if expires_at else None
        if not changes:
            raise Invalid("give status or expires_at", field="status")
        action = {"Blocked": "token.block", "Lost": "token.lost", "Active": "token.unblock"}

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            before = await token_record(db, token["id"])
            if before is None:
                raise NotFound(f"no token {value}")
            assignments = ", ".join(f"{k} = :{k}" for k in changes)
            await db.execute(
                f"UPDATE tokens SET {assignments} WHERE id = :id", {**changes, "id": token["id"]}
            )
            after = await token_record(db, token["id"])
            if after != before:
                name = action[status] if status and set(changes) == {"status"} else "token.update"
                await self.ctx.record(db, actor, name, "token", token["id"], before, after, now)
            assert after is not None
            return after

        return public_token(await self.ctx.change(op, refresh=[token["member_id"]]))

    async def remove_token(self, actor: Actor, value: str) -> dict[str, Any]:
        actor.require(Permission.MEMBERS)
        token = await self._token(actor, value)
        await self._may_change_tokens_of(actor, token["member_id"])

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            before = await token_record(db, token["id"])
            if before is None:
                raise NotFound(f"no token {value}")
            await db.execute("DELETE FROM tokens WHERE id = ?", (token["id"],))
            await self.ctx.record(
                db, actor, "token.remove", "token", token["id"], before, None, now
            )
            return before

        return public_token(await self.ctx.change(op, refresh=[token["member_id"]]))
