"""The cheap log chain: same JSON lines as structlog's stock processors, written in batches."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars

from gateway import logs
from gateway.logs import (
    MAX_BUFFERED_LINES,
    BufferedLineWriter,
    configure_logging,
    flush_logs,
    utc_timestamp,
)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    saved: dict[str, Any] = structlog.get_config()
    hot = logs._hot_writer[0]
    yield
    structlog.configure(**saved)
    logs._hot_writer[0] = hot


def test_utc_timestamp_is_isoformat_to_the_microsecond() -> None:
    rng = random.Random(4)
    for _ in range(2000):
        now = 1_700_000_000 + rng.random() * 100_000_000
        expected = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat(
            timespec="microseconds"
        )
        assert utc_timestamp(now) == expected.replace("+00:00", "Z")


def test_writer_without_event_loop_writes_each_line_at_once() -> None:
    out = io.StringIO()
    writer = BufferedLineWriter(out, flush_seconds=60)
    writer.info("one")
    assert out.getvalue() == "one\n"


async def test_info_lines_wait_for_the_timer_warnings_flush_everything_in_order() -> None:
    out = io.StringIO()
    writer = BufferedLineWriter(out, flush_seconds=0.05)
    writer.info("first")
    writer.debug("second")
    assert out.getvalue() == "", "info lines are buffered on an event loop"
    writer.warning("third")
    assert out.getvalue() == "first\nsecond\nthird\n"
    writer.info("fourth")
    await asyncio.sleep(0.2)
    assert out.getvalue().endswith("third\nfourth\n"), "the timer wrote the buffered line"


async def test_a_full_buffer_is_written_without_waiting() -> None:
    out = io.StringIO()
    writer = BufferedLineWriter(out, flush_seconds=60)
    for i in range(MAX_BUFFERED_LINES):
        writer.info(str(i))
    assert out.getvalue().count("\n") == MAX_BUFFERED_LINES


async def test_json_lines_carry_context_level_time_and_no_secret() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    log = structlog.get_logger("test.perf")
    bound = bind_contextvars(charge_point_id="CP-1", message_id="42")
    try:
        log.info("authorization decided", status="Accepted", reason={"rule": "ok"}, idTag="X1")
        log.debug("not at this level")
    finally:
        reset_contextvars(**bound)
    log.warning("after", thing=Exception())
    flush_logs()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "authorization decided"
    assert first["charge_point_id"] == "CP-1" and first["message_id"] == "42"
    assert first["level"] == "info" and first["status"] == "Accepted"
    assert first["reason"] == {"rule": "ok"}
    assert first["idTag"] == "[redacted]"
    assert first["timestamp"].endswith("Z") and len(first["timestamp"]) == 27
    assert second["level"] == "warning" and "charge_point_id" not in second
    assert second["thing"] == "Exception()", "unknown values are rendered with repr()"


def test_capture_logs_still_sees_lines() -> None:
    configure_logging("json", "info", stream=io.StringIO())
    with structlog.testing.capture_logs() as logs:
        structlog.get_logger("test.perf").info("seen", n=1)
    assert logs == [{"event": "seen", "n": 1, "log_level": "info"}]


CALLS: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    # (the logger's context, the event, its fields)
    (
        {"charge_point_id": "CP-1", "ocpp_version": "1.6"},
        "decided",
        {"status": "Accepted", "reason": {"rule": "ok"}, "password": "x", "flagged": None},
    ),
    ({"charge_point_id": 'CP-\u00e9"1'}, "décidé", {"n": 3, "f": 1.5, "ok": True, "l": [1]}),
    ({"charge_point_id": "CP-1"}, "overridden", {"charge_point_id": "CP-2", "message_id": "m"}),
    ({}, "bare", {"thing": Exception(), "token": "raw-badge"}),
    ({"charge_point_id": "CP-1"}, "clash", {"level": "debug", "timestamp": "then"}),
]


@pytest.mark.parametrize(("context", "event", "fields"), CALLS)
def test_hot_logger_writes_the_line_structlog_would(
    tmp_path: Path, context: dict[str, Any], event: str, fields: dict[str, Any]
) -> None:
    """The same text (fields in the same order, contextvars, level, redaction), with or
    without the chain; only the timestamp differs."""
    lines: dict[str, str] = {}
    for mode in ("hot", "structlog"):
        out = (tmp_path / mode).open("w+", encoding="utf-8")
        # A buffered JSON stream takes the direct path; flush_seconds=0 writes through structlog.
        configure_logging("json", "info", out, flush_seconds=0.1 if mode == "hot" else 0)
        assert (logs._hot_writer[0] is not None) is (mode == "hot")
        logger = logs.HotLogger("gateway.test", **context)
        tokens = bind_contextvars(message_id="m-7", action="Authorize", id_tag="secret")
        try:
            logger.info(event, **fields)
        finally:
            reset_contextvars(**tokens)
        flush_logs()
        out.seek(0)
        lines[mode] = out.read().strip()
        out.close()
    hot, chain = (json.loads(lines[mode]) for mode in ("hot", "structlog"))
    assert hot.pop("timestamp").endswith("Z") and chain.pop("timestamp").endswith("Z")
    assert hot == chain
    assert list(hot) == list(chain)  # and in the same order
    assert hot["level"] == "info" and hot["id_tag"] == "[redacted]"
    assert "secret" not in lines["hot"] and "raw-badge" not in lines["hot"]
