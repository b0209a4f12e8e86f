"""Transactions, their events and meter values, and the quarantine.

Nothing a charger reports is dropped: a stop or meter values for a transaction
the gateway does not know go to the quarantine table with the reason; a
refused start is recorded and flagged. Every method returns after the durable
commit (see :class:`~gateway.store.database.Database`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.meter import energy_readings_wh
from gateway.policy_engine import Tariff
from gateway.store.database import Database
from gateway.timeutil import to_text

MAX_TRANSACTION_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Authorization:
    """What the gateway decided for the token of a transaction, recorded with it."""

    status: str
    reason: str
    member_id: int | None
    flagged: bool


@dataclass(frozen=True, slots=True)
class Started16:
    transaction_id: int
    auth_status: str
    replayed: bool


@dataclass(frozen=True, slots=True)
class Stopped16:
    known: bool
    closed: bool
    member_id: int | None = None
    energy_wh: int | None = None


@dataclass(frozen=True, slots=True)
class MeterOutcome:
    """Where meter values went; for a known transaction, its member and energy so far."""

    known: bool
    transaction_id: int | None = None
    member_id: int | None = None
    energy_wh: int | None = None


@dataclass(frozen=True, slots=True)
class EventOutcome:
    transaction_id: int
    duplicate_response: dict[str, Any] | None
    seq_gap: bool
    missing_seq_nos: int
    open_delta: int
    member_id: int | None = None
    energy_wh: int | None = None
    first_token: bool = False
    ended: bool = False


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def _update_meter(
    db: aiosqlite.Connection, transaction_id: int, meter_values: list[dict[str, Any]], now: str
) -> None:
    readings = energy_readings_wh(meter_values)
    if not readings:
        return
    await db.execute(
        "UPDATE transactions SET meter_first_wh = COALESCE(meter_first_wh, ?),"
        " meter_last_wh = max(COALESCE(meter_last_wh, ?), ?), updated_at = ? WHERE id = ?",
        (readings[0], max(readings), max(readings), now, transaction_id),
    )


async def _energy(db: aiosqlite.Connection, transaction_id: int) -> tuple[int | None, int | None]:
    """(member id, energy in Wh so far) of a transaction."""
    async with db.execute(
        "SELECT member_id, COALESCE(energy_wh, meter_last_wh - COALESCE(meter_start_wh,"
        " meter_first_wh)) FROM transactions WHERE id = ?",
        (transaction_id,),
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return None, None
    return row[0], (int(row[1]) if row[1] is not None else None)


class TransactionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def quarantine(
        self,
        charge_point_id: str,
        action: str,
        message_id: str,
        reason: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> None:
        async def op(db: aiosqlite.Connection) -> None:
            await _quarantine(db, charge_point_id, action, message_id, reason, payload, now)

        await self._db.write(op)

    # -- OCPP 1.6 ---------------------------------------------------------------------------

    async def start_16(
        self,
        charge_point_id: str,
        payload: dict[str, Any],
        timestamp: datetime,
        auth: Authorization,
        now: datetime,
    ) -> Started16:
        """Record a StartTransaction (OCPP 1.6 §4.8) once; a retry gets the same id."""
        key = "|".join(
            (
                str(payload["connectorId"]),
                payload["idTag"].upper(),
                to_text(timestamp),
                str(payload["meterStart"]),
            )
        )

        async def op(db: aiosqlite.Connection) -> Started16:
            async with db.execute(
                "SELECT id, auth_status FROM transactions"
                " WHERE charge_point_id = ? AND start_key = ?",
                (charge_point_id, key),
            ) as cur:
                row = await cur.fetchone()
            if row is not None:
                return Started16(int(row[0]), str(row[1]), replayed=True)
            stamp = to_text(now)
            cur = await db.execute(
                "INSERT INTO transactions (charge_point_id, ocpp_version, start_key, connector_id,"
                " id_token, member_id, auth_status, auth_reason, flagged, flag_reason, started_at,"
                " meter_start_wh, reservation_id, created_at, updated_at)"
                " VALUES (?, '1.6', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    charge_point_id,
                    key,
                    payload["connectorId"],
                    payload["idTag"],
                    auth.member_id,
                    auth.status,
                    auth.reason,
                    int(auth.flagged),
                    auth.reason if auth.flagged else None,
                    to_text(timestamp),
                    payload["meterStart"],
                    payload.get("reservationId"),
                    stamp,
                    stamp,
                ),
            )
            transaction_id = cur.lastrowid
            assert transaction_id is not None
            if transaction_id > MAX_TRANSACTION_ID:
                raise OverflowError("OCPP 1.6 transactionId space exhausted")
            return Started16(transaction_id, auth.status, replayed=False)

        return await self._db.write(op)

    async def stop_16(
        self,
        charge_point_id: str,
        message_id: str,
        payload: dict[str, Any],
        timestamp: datetime,
        now: datetime,
        tariff: Tariff,
    ) -> Stopped16:
        """Record a StopTransaction (OCPP 1.6 §4.10); unknown transactions go to quarantine."""
        transaction_id = payload["transactionId"]

        async def op(db: aiosqlite.Connection) -> Stopped16:
            async with db.execute(
                "SELECT state FROM transactions"
                " WHERE id = ? AND charge_point_id = ? AND ocpp_version = '1.6'",
                (transaction_id, charge_point_id),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                await _quarantine(
                    db,
                    charge_point_id,
                    "StopTransaction",
                    message_id,
                    "unknown_transaction",
                    payload,
                    now,
                )
                return Stopped16(known=False, closed=False)
            stamp = to_text(now)
            data = payload.get("transactionData") or []
            if data:
                await db.execute(
                    "INSERT INTO meter_values (transaction_id, charge_point_id, payload,"
                    " received_at) VALUES (?, ?, ?, ?)",
                    (transaction_id, charge_point_id, _json(data), stamp),
                )
                await _update_meter(db, transaction_id, data, stamp)
            meter_stop = payload["meterStop"]
            await db.execute(
                "UPDATE transactions SET state = 'Ended', ended_at = COALESCE(ended_at, ?),"
                " meter_stop_wh = ?, energy_wh = ? - meter_start_wh, stop_reason = ?,"
                " stop_id_token = ?, updated_at = ? WHERE id = ?",
                (
                    to_text(timestamp),
                    meter_stop,
                    meter_stop,
                    payload.get("reason", "Local"),
                    payload.get("idTag"),
                    stamp,
                    transaction_id,
                ),
            )
            member_id, energy = await _energy(db, transaction_id)
            await db.execute(
                "UPDATE transactions SET cost = ? WHERE id = ?",
                (tariff.cost(energy or 0), transaction_id),
            )
            return Stopped16(True, row[0] == "Open", member_id, energy)

        return await self._db.write(op)

    async def meter_values(
        self,
        charge_point_id: str,
        ocpp_version: str,
        message_id: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> MeterOutcome:
        """Store a MeterValues message; a 1.6 transactionId that is unknown goes to quarantine."""
        transaction_id = payload.get("transactionId")
        connector = payload.get("connectorId", payload.get("evseId"))

        async def op(db: aiosqlite.Connection) -> MeterOutcome:
            if transaction_id is not None:
                async with db.execute(
                    "SELECT 1 FROM transactions WHERE id = ? AND charge_point_id = ?",
                    (transaction_id, charge_point_id),
                ) as cur:
                    known = await cur.fetchone() is not None
                if not known:
                    await _quarantine(
                        db,
                        charge_point_id,
                        "MeterValues",
                        message_id,
                        "unknown_transaction",
                        payload,
                        now,
                    )
                    return MeterOutcome(known=False)
            stamp = to_text(now)
            await db.execute(
                "INSERT INTO meter_values (transaction_id, charge_point_id, connector_id, payload,"
                " received_at) VALUES (?, ?, ?, ?, ?)",
                (transaction_id, charge_point_id, connector, _json(payload["meterValue"]), stamp),
            )
            if transaction_id is None:
                return MeterOutcome(known=True)
            await _update_meter(db, transaction_id, payload["meterValue"], stamp)
            member_id, energy = await _energy(db, transaction_id)
            return MeterOutcome(True, transaction_id, member_id, energy)

        return await self._db.write(op)

    # -- OCPP 2.0.1 -------------------------------------------------------------------------

    async def transaction_event(
        self,
        charge_point_id: str,
        payload: dict[str, Any],
        timestamp: datetime,
        auth: Authorization | None,
        response: dict[str, Any],
        now: datetime,
        tariff: Tariff,
    ) -> EventOutcome:
        """Record a TransactionEvent (OCPP 2.0.1 E01-E15).

        The transaction is created by the first event seen, whatever its type;
        (station, transactionId, seqNo) is unique: a repeated event changes
        nothing and gets its first answer back. Gaps in seqNo are counted.
        """
        info = payload["transactionInfo"]
        uid = info["transactionId"]
        seq_no = payload["seqNo"]
        event_type = payload["eventType"]
        evse = payload.get("evse") or {}
        id_token = (payload.get("idToken") or {}).get("idToken")
        meter_values = payload.get("meterValue") or []
        offline = bool(payload.get("offline", False))

        async def op(db: aiosqlite.Connection) -> EventOutcome:
            stamp = to_text(now)
            async with db.execute(
                "SELECT id, seq_max FROM transactions"
                " WHERE charge_point_id = ? AND transaction_uid = ?",
                (charge_point_id, uid),
            ) as cur:
                row = await cur.fetchone()
            created = row is None
            if row is None:
                cur = await db.execute(
                    "INSERT INTO transactions (charge_point_id, ocpp_version, transaction_uid,"
                    " started_at, created_at, updated_at) VALUES (?, '2.0.1', ?, ?, ?, ?)",
                    (charge_point_id, uid, to_text(timestamp), stamp, stamp),
                )
                assert cur.lastrowid is not None
                transaction_id, seq_max = cur.lastrowid, None
            else:
                transaction_id, seq_max = int(row[0]), row[1]
            try:
                await db.execute(
                    "INSERT INTO transaction_events (transaction_id, charge_point_id,"
                    " transaction_uid, seq_no, event_type, trigger_reason, timestamp, offline,"
                    " payload, response, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        transaction_id,
                        charge_point_id,
                        uid,
                        seq_no,
                        event_type,
                        payload.get("triggerReason"),
                        to_text(timestamp),
                        int(offline),
                        _json(payload),
                        _json(response),
                        stamp,
                    ),
                )
            except aiosqlite.IntegrityError:
                async with db.execute(
                    "SELECT response FROM transaction_events"
                    " WHERE charge_point_id = ? AND transaction_uid = ? AND seq_no = ?",
                    (charge_point_id, uid, seq_no),
                ) as cur:
                    first = await cur.fetchone()
                assert first is not None
                return EventOutcome(transaction_id, json.loads(first[0]), False, 0, 0)
            await db.execute(
                "UPDATE transactions SET seq_count = seq_count + 1,"
                " seq_min = min(COALESCE(seq_min, :seq), :seq),"
                " seq_max = max(COALESCE(seq_max, :seq), :seq),"
                " evse_id = COALESCE(:evse, evse_id), connector_id = COALESCE(:conn, connector_id),"
                " offline = max(offline, :offline), updated_at = :now WHERE id = :id",
                {
                    "seq": seq_no,
                    "evse": evse.get("id"),
                    "conn": evse.get("connectorId"),
                    "offline": int(offline),
                    "now": stamp,
                    "id": transaction_id,
                },
            )
            await db.execute(
                "UPDATE transactions SET missing_seq_nos = seq_max - seq_min + 1 - seq_count"
                " WHERE id = ?",
                (transaction_id,),
            )
            if event_type == "Started":
                await db.execute(
                    "UPDATE transactions SET started_at = ? WHERE id = ?",
                    (to_text(timestamp), transaction_id),
                )
            first_token = False
            if id_token is not None and auth is not None:
                async with db.execute(
                    "SELECT id_token IS NULL FROM transactions WHERE id = ?", (transaction_id,)
                ) as cur:
                    token_row = await cur.fetchone()
                first_token = bool(token_row and token_row[0])
                await db.execute(
                    "UPDATE transactions SET id_token = COALESCE(id_token, ?),"
                    " member_id = COALESCE(member_id, ?), auth_status = COALESCE(auth_status, ?),"
                    " auth_reason = COALESCE(auth_reason, ?),"
                    " flagged = max(flagged, ?), flag_reason = COALESCE(flag_reason, ?)"
                    " WHERE id = ?",
                    (
                        id_token,
                        auth.member_id,
                        auth.status,
                        auth.reason,
                        int(auth.flagged),
                        auth.reason if auth.flagged else None,
                        transaction_id,
                    ),
                )
            if meter_values:
                await db.execute(
                    "INSERT INTO meter_values (transaction_id, charge_point_id, connector_id,"
                    " payload, received_at) VALUES (?, ?, ?, ?, ?)",
                    (transaction_id, charge_point_id, evse.get("id"), _json(meter_values), stamp),
                )
                await _update_meter(db, transaction_id, meter_values, stamp)
            open_delta = 1 if created else 0
            ended = False
            if event_type == "Ended":
                cur = await db.execute(
                    "UPDATE transactions SET state = 'Ended', ended_at = ?, stop_reason = ?"
                    " WHERE id = ? AND state = 'Open'",
                    (to_text(timestamp), info.get("stoppedReason", "Local"), transaction_id),
                )
                ended = cur.rowcount == 1
                open_delta -= cur.rowcount
            await db.execute(
                "UPDATE transactions SET energy_wh = meter_last_wh - meter_first_wh"
                " WHERE id = ? AND meter_first_wh IS NOT NULL",
                (transaction_id,),
            )
            member_id, energy = await _energy(db, transaction_id)
            if ended:
                await db.execute(
                    "UPDATE transactions SET cost = ? WHERE id = ?",
                    (tariff.cost(energy or 0), transaction_id),
                )
            async with db.execute(
                "SELECT missing_seq_nos FROM transactions WHERE id = ?", (transaction_id,)
            ) as cur:
                missing_row = await cur.fetchone()
            missing = int(missing_row[0]) if missing_row else 0
            gap = seq_max is not None and seq_no != seq_max + 1
            return EventOutcome(
                transaction_id,
                None,
                gap,
                missing,
                open_delta,
                member_id,
                energy,
                first_token,
                ended,
            )

        return await self._db.write(op)

    # -- queries ----------------------------------------------------------------------------

    async def mark_stop_requested(self, transaction_id: int, reason: str) -> dict[str, Any] | None:
        """Record why the gateway ends a transaction; returns the transaction."""

        async def op(db: aiosqlite.Connection) -> None:
            await db.execute(
                "UPDATE transactions SET stop_requested = ? WHERE id = ?", (reason, transaction_id)
            )

        await self._db.write(op)
        return await self.get(transaction_id)

    async def count_open(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM transactions WHERE state = 'Open'")
        return int(row[0]) if row else 0

    async def get(self, transaction_id: int) -> dict[str, Any] | None:
        row = await self._db.fetchone("SELECT * FROM transactions WHERE id = ?", (transaction_id,))
        return dict(row) if row else None

    async def find(self, charge_point_id: str, transaction_uid: str) -> dict[str, Any] | None:
        row = await self._db.fetchone(
            "SELECT * FROM transactions WHERE charge_point_id = ? AND transaction_uid = ?",
            (charge_point_id, transaction_uid),
        )
        return dict(row) if row else None

    async def quarantined(self, charge_point_id: str) -> list[dict[str, Any]]:
        rows = await self._db.fetchall(
            "SELECT * FROM quarantine WHERE charge_point_id = ? ORDER BY id", (charge_point_id,)
        )
        return [dict(row) for row in rows]


async def _quarantine(
    db: aiosqlite.Connection,
    charge_point_id: str,
    action: str,
    message_id: str,
    reason: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    await db.execute(
        "INSERT INTO quarantine (charge_point_id, action, message_id, reason, payload, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (charge_point_id, action, message_id, reason, _json(payload), to_text(now)),
    )
