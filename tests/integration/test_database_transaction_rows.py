"""TransactionEvent in one UPDATE writes exactly the rows the statement-per-field version wrote.

The reference below is the earlier implementation (a dozen statements, each
letting SQLite compute the new values); random event sequences (repeats,
gaps, tokens, meter values, late events after Ended) go through both, and
every column of every row and every outcome must match.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.meter import energy_readings_wh
from gateway.policy_engine import Tariff
from gateway.store.database import Database
from gateway.store.transactions import Authorization, EventOutcome, TransactionStore
from gateway.timeutil import to_text

TARIFF = Tariff(Decimal("25.9"), session_fee=50)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def reference_event(
    db: sqlite3.Connection,
    charge_point_id: str,
    payload: dict[str, Any],
    timestamp: datetime,
    auth: Authorization | None,
    response: dict[str, Any],
    now: datetime,
    tariff: Tariff,
) -> EventOutcome:
    info = payload["transactionInfo"]
    uid, seq_no, event_type = info["transactionId"], payload["seqNo"], payload["eventType"]
    evse = payload.get("evse") or {}
    id_token = (payload.get("idToken") or {}).get("idToken")
    meter_values = payload.get("meterValue") or []
    offline = bool(payload.get("offline", False))
    stamp = to_text(now)
    row = db.execute(
        "SELECT id, seq_max FROM transactions WHERE charge_point_id = ? AND transaction_uid = ?",
        (charge_point_id, uid),
    ).fetchone()
    created = row is None
    if row is None:
        cur = db.execute(
            "INSERT INTO transactions (charge_point_id, ocpp_version, transaction_uid,"
            " started_at, created_at, updated_at) VALUES (?, '2.0.1', ?, ?, ?, ?)",
            (charge_point_id, uid, to_text(timestamp), stamp, stamp),
        )
        assert cur.lastrowid is not None
        transaction_id, seq_max = cur.lastrowid, None
    else:
        transaction_id, seq_max = int(row[0]), row[1]
    try:
        db.execute(
            "INSERT INTO transaction_events (transaction_id, charge_point_id, transaction_uid,"
            " seq_no, event_type, trigger_reason, timestamp, offline, payload, response,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    except sqlite3.IntegrityError:
        first = db.execute(
            "SELECT response FROM transaction_events"
            " WHERE charge_point_id = ? AND transaction_uid = ? AND seq_no = ?",
            (charge_point_id, uid, seq_no),
        ).fetchone()
        return EventOutcome(transaction_id, json.loads(first[0]), False, 0, 0)
    db.execute(
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
    db.execute(
        "UPDATE transactions SET missing_seq_nos = seq_max - seq_min + 1 - seq_count WHERE id = ?",
        (transaction_id,),
    )
    if event_type == "Started":
        db.execute(
            "UPDATE transactions SET started_at = ? WHERE id = ?",
            (to_text(timestamp), transaction_id),
        )
    first_token = False
    if id_token is not None and auth is not None:
        token_row = db.execute(
            "SELECT id_token IS NULL FROM transactions WHERE id = ?", (transaction_id,)
        ).fetchone()
        first_token = bool(token_row and token_row[0])
        db.execute(
            "UPDATE transactions SET id_token = COALESCE(id_token, ?),"
            " member_id = COALESCE(member_id, ?), auth_status = COALESCE(auth_status, ?),"
            " auth_reason = COALESCE(auth_reason, ?),"
            " flagged = max(flagged, ?), flag_reason = COALESCE(flag_reason, ?) WHERE id = ?",
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
        db.execute(
            "INSERT INTO meter_values (transaction_id, charge_point_id, connector_id,"
            " payload, received_at) VALUES (?, ?, ?, ?, ?)",
            (transaction_id, charge_point_id, evse.get("id"), _json(meter_values), stamp),
        )
        readings = energy_readings_wh(meter_values)
        if readings:
            db.execute(
                "UPDATE transactions SET meter_first_wh = COALESCE(meter_first_wh, ?),"
                " meter_last_wh = max(COALESCE(meter_last_wh, ?), ?), updated_at = ?"
                " WHERE id = ?",
                (readings[0], max(readings), max(readings), stamp, transaction_id),
            )
    open_delta = 1 if created else 0
    ended = False
    if event_type == "Ended":
        cur = db.execute(
            "UPDATE transactions SET state = 'Ended', ended_at = ?, stop_reason = ?"
            " WHERE id = ? AND state = 'Open'",
            (to_text(timestamp), info.get("stoppedReason", "Local"), transaction_id),
        )
        ended = cur.rowcount == 1
        open_delta -= cur.rowcount
    db.execute(
        "UPDATE transactions SET energy_wh = meter_last_wh - meter_first_wh"
        " WHERE id = ? AND meter_first_wh IS NOT NULL",
        (transaction_id,),
    )
    energy_row = db.execute(
        "SELECT member_id, COALESCE(energy_wh, meter_last_wh - COALESCE(meter_start_wh,"
        " meter_first_wh)) FROM transactions WHERE id = ?",
        (transaction_id,),
    ).fetchone()
    member_id = energy_row[0]
    energy = int(energy_row[1]) if energy_row[1] is not None else None
    if ended:
        db.execute(
            "UPDATE transactions SET cost = ? WHERE id = ?",
            (tariff.cost(energy or 0), transaction_id),
        )
    missing = db.execute(
        "SELECT missing_seq_nos FROM transactions WHERE id = ?", (transaction_id,)
    ).fetchone()[0]
    gap = seq_max is not None and seq_no != seq_max + 1
    return EventOutcome(
        transaction_id, None, gap, missing, open_delta, member_id, energy, first_token, ended
    )


def random_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        uid = f"tx-{rng.randrange(4)}"
        event_type = rng.choice(["Started", "Updated", "Updated", "Updated", "Ended"])
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": f"2026-11-23T08:{i // 60:02}:{i % 60:02}Z",
            "triggerReason": "MeterValuePeriodic",
            "seqNo": rng.randrange(12),
            "transactionInfo": {"transactionId": uid, "stoppedReason": "EVDisconnected"},
        }
        if rng.random() < 0.5:
            payload["evse"] = {"id": rng.randrange(1, 3), "connectorId": 1}
        if rng.random() < 0.2:
            payload["offline"] = True
        if rng.random() < 0.3:
            payload["idToken"] = {"idToken": f"TOKEN{rng.randrange(3)}", "type": "ISO14443"}
        samples = [
            {"value": rng.choice([1000.0, 1500.5, 2000.0, 999.0, 0.0]), "unitOfMeasure": {}}
            for _ in range(rng.randrange(3))
        ]
        if rng.random() < 0.2:
            samples.append({"value": 7.0, "measurand": "Power.Active.Import"})
        if samples or rng.random() < 0.3:
            payload["meterValue"] = [{"timestamp": payload["timestamp"], "sampledValue": samples}]
        events.append(payload)
    return events


async def test_transaction_event_rows_match_the_statement_per_field_version(
    tmp_path: Path,
) -> None:
    rng = random.Random(2026)
    new_db = Database(tmp_path / "new.sqlite3")
    await new_db.open()
    ref_db = Database(tmp_path / "ref.sqlite3")
    await ref_db.open()
    store = TransactionStore(new_db)
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    try:
        for round_ in range(6):
            for i, payload in enumerate(random_events(rng, 60)):
                at = now + timedelta(seconds=i)
                timestamp = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
                auth = None
                if "idToken" in payload:
                    flagged = rng.random() < 0.3
                    auth = Authorization(
                        "Invalid" if flagged else "Accepted",
                        "token.known" if flagged else "ok",
                        rng.choice([None, 7, 8]),
                        flagged,
                    )
                response = {"idTokenInfo": {"status": "Accepted"}} if auth else {}
                cpid = f"CP{round_}"
                got = await store.transaction_event(
                    cpid, payload, timestamp, auth, response, at, TARIFF
                )

                def ref_op(
                    db: sqlite3.Connection,
                    cpid: str = cpid,
                    payload: dict[str, Any] = payload,
                    timestamp: datetime = timestamp,
                    auth: Authorization | None = auth,
                    response: dict[str, Any] = response,
                    at: datetime = at,
                ) -> EventOutcome:
                    return reference_event(db, cpid, payload, timestamp, auth, response, at, TARIFF)

                expected = await ref_db.write_sync(ref_op)
                assert got == expected, payload
        for table in ("transactions", "transaction_events", "meter_values"):
            query = f"SELECT * FROM {table} ORDER BY id"
            new_rows = [tuple(r) for r in await new_db.fetchall(query)]
            ref_rows = [tuple(r) for r in await ref_db.fetchall(query)]
            assert new_rows == ref_rows, table
        assert len(await new_db.fetchall("SELECT id FROM transactions")) >= 20
    finally:
        await new_db.close()
        await ref_db.close()
