"""Transactions, their events and meter values, and the quarantine.

Nothing a charger reports is dropped: a stop or meter values for a transaction
the gateway does not know go to the quarantine table with the reason; a
refused start is recorded and flagged. Every method returns after the durable
commit (see :class:`~gateway.store.database.Database`).

The writes are synchronous operations (:meth:`Database.write_sync`): each runs
in the database thread with the other writes of its group commit, in one
thread hop for the whole group, so a TransactionEvent's dozen statements cost
a few microseconds each instead of a hop each.

A TransactionEvent's answer depends on its transaction's row as it was (is a
token recorded already? which row, hence which tariff, does an Ended close?).
Rather than read the row before writing (one more round trip per event), the
store remembers what it wrote of the open 2.0.1 transactions (:meth:`open_201`,
a hint bounded in size) and the handler writes with that expectation: the
write checks it against the row in the same operation and, when they differ,
changes nothing and returns the row as it is (:class:`Stale`) for the handler
to judge the event again.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.meter import energy_readings_wh
from gateway.policy_engine import Tariff
from gateway.rpc.frames import json_encoder
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
    counted_at: datetime | None = None
    """For the token that started the transaction: the instant it counts at (caps)."""


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


@dataclass(frozen=True, slots=True)
class Known201:
    """What a TransactionEvent's answer depends on of its transaction's row."""

    id: int
    has_token: bool


@dataclass(frozen=True, slots=True)
class Stale:
    """The row was not as expected, so nothing was written; `actual`: as it is (None: none)."""

    actual: Known201 | None


_OPEN_201_MAX = 65_536
"""Open 2.0.1 transactions remembered (beyond: the oldest are forgotten, then read)."""

_json = json_encoder(ensure_ascii=True)
"""Compact JSON of what a charger sent, ASCII only (the C encoder built once)."""


def _update_meter(
    db: sqlite3.Connection, transaction_id: int, meter_values: list[dict[str, Any]], now: str
) -> None:
    readings = energy_readings_wh(meter_values)
    if not readings:
        return
    db.execute(
        "UPDATE transactions SET meter_first_wh = COALESCE(meter_first_wh, ?),"
        " meter_last_wh = max(COALESCE(meter_last_wh, ?), ?), updated_at = ? WHERE id = ?",
        (readings[0], max(readings), max(readings), now, transaction_id),
    )


def _energy(db: sqlite3.Connection, transaction_id: int) -> tuple[int | None, int | None]:
    """(member id, energy in Wh so far) of a transaction."""
    row = db.execute(
        "SELECT member_id, COALESCE(energy_wh, meter_last_wh - COALESCE(meter_start_wh,"
        " meter_first_wh)) FROM transactions WHERE id = ?",
        (transaction_id,),
    ).fetchone()
    if row is None:
        return None, None
    return row[0], (int(row[1]) if row[1] is not None else None)


_SELECT_201 = (
    "SELECT id, seq_count, seq_min, seq_max, id_token, member_id, state, meter_start_wh,"
    " meter_first_wh, meter_last_wh, energy_wh FROM transactions"
    " WHERE charge_point_id = ? AND transaction_uid = ?"
)
_UPDATE_201 = (
    "UPDATE transactions SET seq_count = :seq_count, seq_min = :seq_min, seq_max = :seq_max,"
    " missing_seq_nos = :missing, evse_id = COALESCE(:evse, evse_id),"
    " connector_id = COALESCE(:conn, connector_id), offline = max(offline, :offline),"
    " updated_at = :now, started_at = COALESCE(:started, started_at),"
    " id_token = COALESCE(id_token, :token), member_id = COALESCE(member_id, :member),"
    " counted_at = COALESCE(counted_at, :counted),"
    " auth_status = COALESCE(auth_status, :status), auth_reason = COALESCE(auth_reason, :reason),"
    " flagged = max(flagged, :flagged), flag_reason = COALESCE(flag_reason, :flag_reason),"
    " meter_first_wh = :meter_first, meter_last_wh = :meter_last, energy_wh = :energy,"
    " state = CASE WHEN :ended THEN 'Ended' ELSE state END,"
    " ended_at = CASE WHEN :ended THEN :ended_at ELSE ended_at END,"
    " stop_reason = CASE WHEN :ended THEN :stop_reason ELSE stop_reason END,"
    " cost = CASE WHEN :ended THEN :cost ELSE cost END"
    " WHERE id = :id"
)
_UPDATE_201_PROGRESS = (
    "UPDATE transactions SET seq_count = ?, seq_min = ?, seq_max = ?, missing_seq_nos = ?,"
    " evse_id = COALESCE(?, evse_id), connector_id = COALESCE(?, connector_id),"
    " offline = max(offline, ?), updated_at = ?, meter_first_wh = ?, meter_last_wh = ?,"
    " energy_wh = ? WHERE id = ?"
)
"""`_UPDATE_201` for an event that neither starts, ends nor brings a token: the same values."""


@dataclass(slots=True)
class _Row201:
    """The columns of a 2.0.1 transaction that an event updates, as they were."""

    id: int
    seq_count: int = 0
    seq_min: int | None = None
    seq_max: int | None = None
    id_token: str | None = None
    member_id: int | None = None
    state: str = "Open"
    meter_start_wh: float | None = None
    meter_first_wh: float | None = None
    meter_last_wh: float | None = None
    energy_wh: float | None = None


def _metered(
    first: float | None, last: float | None, readings: list[float]
) -> tuple[float | None, float | None]:
    """(meter_first_wh, meter_last_wh) after new register readings (as ``_update_meter``
    sets them): the first reading ever, the highest reading ever."""
    if not readings:
        return first, last
    highest = max(readings)
    return (readings[0] if first is None else first), (
        highest if last is None else max(last, highest)
    )


def _energy_so_far(
    energy_wh: float | None, last: float | None, start: float | None, first: float | None
) -> int | None:
    """What :func:`_energy` reads: the settled energy, else last - (start or first reading)."""
    if energy_wh is not None:
        return int(energy_wh)
    base = start if start is not None else first
    if last is None or base is None:
        return None
    return int(last - base)


class TransactionStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # (charge point, transactionId) -> its row, of the open 2.0.1 transactions this
        # store wrote; a hint only: `transaction_event` checks it against the row.
        self._open_201: dict[tuple[str, str], Known201] = {}

    async def quarantine(
        self,
        charge_point_id: str,
        action: str,
        message_id: str,
        reason: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> None:
        def op(db: sqlite3.Connection) -> None:
            _quarantine(db, charge_point_id, action, message_id, reason, payload, now)

        await self._db.write_sync(op)

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

        def op(db: sqlite3.Connection) -> Started16:
            row = db.execute(
                "SELECT id, auth_status FROM transactions"
                " WHERE charge_point_id = ? AND start_key = ?",
                (charge_point_id, key),
            ).fetchone()
            if row is not None:
                return Started16(int(row[0]), str(row[1]), replayed=True)
            stamp = to_text(now)
            cur = db.execute(
                "INSERT INTO transactions (charge_point_id, ocpp_version, start_key, connector_id,"
                " id_token, member_id, auth_status, auth_reason, flagged, flag_reason, started_at,"
                " counted_at, meter_start_wh, reservation_id, created_at, updated_at)"
                " VALUES (?, '1.6', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    to_text(auth.counted_at or timestamp),
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

        return await self._db.write_sync(op)

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

        def op(db: sqlite3.Connection) -> Stopped16:
            row = db.execute(
                "SELECT state FROM transactions"
                " WHERE id = ? AND charge_point_id = ? AND ocpp_version = '1.6'",
                (transaction_id, charge_point_id),
            ).fetchone()
            if row is None:
                _quarantine(
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
                db.execute(
                    "INSERT INTO meter_values (transaction_id, charge_point_id, payload,"
                    " received_at) VALUES (?, ?, ?, ?)",
                    (transaction_id, charge_point_id, _json(data), stamp),
                )
                _update_meter(db, transaction_id, data, stamp)
            meter_stop = payload["meterStop"]
            db.execute(
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
            member_id, energy = _energy(db, transaction_id)
            db.execute(
                "UPDATE transactions SET cost = ? WHERE id = ?",
                (tariff.cost(energy or 0), transaction_id),
            )
            return Stopped16(True, row[0] == "Open", member_id, energy)

        return await self._db.write_sync(op)

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

        def op(db: sqlite3.Connection) -> MeterOutcome:
            row = None
            if transaction_id is not None:
                row = db.execute(
                    "SELECT member_id, energy_wh, meter_start_wh, meter_first_wh, meter_last_wh"
                    " FROM transactions WHERE id = ? AND charge_point_id = ?",
                    (transaction_id, charge_point_id),
                ).fetchone()
                if row is None:
                    _quarantine(
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
            db.execute(
                "INSERT INTO meter_values (transaction_id, charge_point_id, connector_id, payload,"
                " received_at) VALUES (?, ?, ?, ?, ?)",
                (transaction_id, charge_point_id, connector, _json(payload["meterValue"]), stamp),
            )
            if transaction_id is None or row is None:
                return MeterOutcome(known=True)
            member_id, energy_wh, start, first, last = row
            readings = energy_readings_wh(payload["meterValue"])
            if readings:
                first, last = _metered(first, last, readings)
                db.execute(
                    "UPDATE transactions SET meter_first_wh = ?, meter_last_wh = ?,"
                    " updated_at = ? WHERE id = ?",
                    (first, last, stamp, transaction_id),
                )
            energy = _energy_so_far(energy_wh, last, start, first)
            return MeterOutcome(True, transaction_id, member_id, energy)

        return await self._db.write_sync(op)

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
        *,
        check: bool = False,
        expect: Known201 | None = None,
    ) -> EventOutcome | Stale:
        """Record a TransactionEvent (OCPP 2.0.1 E01-E15).

        The transaction is created by the first event seen, whatever its type;
        (station, transactionId, seqNo) is unique: a repeated event changes
        nothing and gets its first answer back. Gaps in seqNo are counted.
        `tariff` prices the transaction if this event ends it.

        With `check`, `auth`, `response` and `tariff` were judged for the row being
        `expect` (None: no row): when it is not, and the event is not a repeat,
        nothing is written and the row comes back as :class:`Stale`.
        """
        info = payload["transactionInfo"]
        uid = info["transactionId"]
        seq_no = payload["seqNo"]
        event_type = payload["eventType"]
        evse = payload.get("evse") or {}
        id_token = (payload.get("idToken") or {}).get("idToken")
        meter_values = payload.get("meterValue") or []
        offline = bool(payload.get("offline", False))

        def op(db: sqlite3.Connection) -> tuple[EventOutcome, Known201 | None] | Stale:
            stamp = to_text(now)
            at = to_text(timestamp)
            row = db.execute(_SELECT_201, (charge_point_id, uid)).fetchone()
            if check:
                actual = None if row is None else Known201(row[0], row[4] is not None)
                if actual != expect:
                    if actual is not None:
                        repeated = _event_response(db, charge_point_id, uid, seq_no)
                        if repeated is not None:
                            return _repeat(_Row201(*row), repeated)
                    return Stale(actual)
            created = row is None
            if row is None:
                cur = db.execute(
                    "INSERT INTO transactions (charge_point_id, ocpp_version, transaction_uid,"
                    " started_at, created_at, updated_at) VALUES (?, '2.0.1', ?, ?, ?, ?)",
                    (charge_point_id, uid, at, stamp, stamp),
                )
                assert cur.lastrowid is not None
                was = _Row201(cur.lastrowid)
            else:
                was = _Row201(*row)
            try:
                db.execute(
                    "INSERT INTO transaction_events (transaction_id, charge_point_id,"
                    " transaction_uid, seq_no, event_type, trigger_reason, timestamp, offline,"
                    " payload, response, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        was.id,
                        charge_point_id,
                        uid,
                        seq_no,
                        event_type,
                        payload.get("triggerReason"),
                        at,
                        int(offline),
                        _json(payload),
                        _json(response),
                        stamp,
                    ),
                )
            except sqlite3.IntegrityError:
                first = _event_response(db, charge_point_id, uid, seq_no)
                assert first is not None
                return _repeat(was, first)
            if meter_values:
                db.execute(
                    "INSERT INTO meter_values (transaction_id, charge_point_id, connector_id,"
                    " payload, received_at) VALUES (?, ?, ?, ?, ?)",
                    (was.id, charge_point_id, evse.get("id"), _json(meter_values), stamp),
                )
            # Every change to the transaction row in one UPDATE, computed here from the row
            # as it was (the same arithmetic SQLite did when this took a dozen statements).
            seq_count = was.seq_count + 1
            seq_min = seq_no if was.seq_min is None else min(was.seq_min, seq_no)
            seq_max = seq_no if was.seq_max is None else max(was.seq_max, seq_no)
            missing = seq_max - seq_min + 1 - seq_count
            with_token = id_token is not None and auth is not None
            first_token = with_token and was.id_token is None
            member_id = was.member_id
            if with_token and member_id is None and auth is not None:
                member_id = auth.member_id
            readings = energy_readings_wh(meter_values) if meter_values else []
            meter_first, meter_last = _metered(was.meter_first_wh, was.meter_last_wh, readings)
            energy_wh = was.energy_wh
            if meter_first is not None:
                energy_wh = None if meter_last is None else meter_last - meter_first
            ended = event_type == "Ended" and was.state == "Open"
            energy = _energy_so_far(energy_wh, meter_last, was.meter_start_wh, meter_first)
            if not with_token and not ended and event_type != "Started":
                # The columns _UPDATE_201 would leave as they are left out: the common
                # Updated event writes no index of the table (several times cheaper).
                db.execute(
                    _UPDATE_201_PROGRESS,
                    (
                        seq_count,
                        seq_min,
                        seq_max,
                        missing,
                        evse.get("id"),
                        evse.get("connectorId"),
                        int(offline),
                        stamp,
                        meter_first,
                        meter_last,
                        energy_wh,
                        was.id,
                    ),
                )
            else:
                db.execute(
                    _UPDATE_201,
                    {
                        "id": was.id,
                        "seq_count": seq_count,
                        "seq_min": seq_min,
                        "seq_max": seq_max,
                        "missing": missing,
                        "evse": evse.get("id"),
                        "conn": evse.get("connectorId"),
                        "offline": int(offline),
                        "now": stamp,
                        "started": at if event_type == "Started" else None,
                        "token": id_token if with_token else None,
                        "member": auth.member_id if with_token and auth else None,
                        "counted": to_text(auth.counted_at)
                        if with_token and auth and auth.counted_at
                        else None,
                        "status": auth.status if with_token and auth else None,
                        "reason": auth.reason if with_token and auth else None,
                        "flagged": int(auth.flagged) if with_token and auth else 0,
                        "flag_reason": auth.reason
                        if with_token and auth and auth.flagged
                        else None,
                        "meter_first": meter_first,
                        "meter_last": meter_last,
                        "energy": energy_wh,
                        "ended": ended,
                        "ended_at": at,
                        "stop_reason": info.get("stoppedReason", "Local"),
                        "cost": tariff.cost(energy or 0) if ended else None,
                    },
                )
            gap = was.seq_max is not None and seq_no != was.seq_max + 1
            outcome = EventOutcome(
                was.id,
                None,
                gap,
                missing,
                (1 if created else 0) - (1 if ended else 0),
                member_id,
                energy,
                first_token,
                ended,
            )
            still_open = was.state == "Open" and not ended
            has_token = with_token or was.id_token is not None
            return outcome, Known201(was.id, has_token) if still_open else None

        result = await self._db.write_sync(op)
        if isinstance(result, Stale):
            return result
        outcome, after = result
        self._remember_201((charge_point_id, uid), after)
        return outcome

    def open_201(self, charge_point_id: str, transaction_uid: str) -> Known201 | None:
        """The row of an open 2.0.1 transaction as this store last wrote it (no I/O).

        None: not remembered (new, ended, or written before this process started).
        """
        return self._open_201.get((charge_point_id, transaction_uid))

    async def find_201(self, charge_point_id: str, transaction_uid: str) -> Known201 | None:
        """The row of a 2.0.1 transaction as it is in the database (None: no such row)."""
        row = await self._db.fetchone(
            "SELECT id, id_token FROM transactions"
            " WHERE charge_point_id = ? AND transaction_uid = ?",
            (charge_point_id, transaction_uid),
        )
        return Known201(int(row[0]), row[1] is not None) if row else None

    def _remember_201(self, key: tuple[str, str], known: Known201 | None) -> None:
        remembered = self._open_201
        if known is None:
            remembered.pop(key, None)
            return
        if key not in remembered and len(remembered) >= _OPEN_201_MAX:
            del remembered[next(iter(remembered))]  # the oldest remembered
        remembered[key] = known

    # -- queries ----------------------------------------------------------------------------

    async def mark_stop_requested(self, transaction_id: int, reason: str) -> dict[str, Any] | None:
        """Record why the gateway ends a transaction; returns the transaction."""

        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE transactions SET stop_requested = ? WHERE id = ?", (reason, transaction_id)
            )

        await self._db.write_sync(op)
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


def _event_response(
    db: sqlite3.Connection, charge_point_id: str, uid: str, seq_no: int
) -> str | None:
    """The answer recorded for an event (station, transactionId, seqNo); None: no such event."""
    row = db.execute(
        "SELECT response FROM transaction_events"
        " WHERE charge_point_id = ? AND transaction_uid = ? AND seq_no = ?",
        (charge_point_id, uid, seq_no),
    ).fetchone()
    return None if row is None else str(row[0])


def _repeat(was: _Row201, response: str) -> tuple[EventOutcome, Known201 | None]:
    """A repeated event: its first answer; the row as it is, when the transaction is open."""
    outcome = EventOutcome(was.id, json.loads(response), False, 0, 0)
    return outcome, Known201(was.id, was.id_token is not None) if was.state == "Open" else None


def _quarantine(
    db: sqlite3.Connection,
    charge_point_id: str,
    action: str,
    message_id: str,
    reason: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    db.execute(
        "INSERT INTO quarantine (charge_point_id, action, message_id, reason, payload, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (charge_point_id, action, message_id, reason, _json(payload), to_text(now)),
    )
