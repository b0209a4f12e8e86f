"""Structured logging (structlog): JSON lines in production, console in development.

Per connection the transport binds ``charge_point_id`` and ``ocpp_version``,
per message ``message_id`` and ``action``, with contextvars. Secrets never
reach a log line: tokens are logged through :func:`token_ref` (a short hash),
and the :func:`_scrub` processor replaces any field named like a secret.

A log line is on the hot path (one per authorization decision), so the chain
is kept cheap: one JSON encoder built once, secret-field checks cached per
key, and, when the output is not a terminal, a :class:`BufferedLineWriter`:
lines are written in one ``write`` at most :data:`FLUSH_SECONDS` after they
were logged (a timer on the running event loop), at once for warnings and
errors (and everything buffered before them), when
:data:`MAX_BUFFERED_LINES` are waiting, from a thread without an event loop,
and at exit. A process killed with SIGKILL may lose its last
:data:`FLUSH_SECONDS` of info lines; nothing else changes in what is logged.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import datetime
import hashlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from functools import lru_cache
from typing import Any, TextIO

import structlog

_SECRET_KEYS = frozenset(
    {"password", "authorization", "auth", "id_tag", "id_token", "idtag", "idtoken", "token"}
)
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FLUSH_SECONDS = 0.1
"""Longest delay between an info line being logged and its write (buffered output)."""
MAX_BUFFERED_LINES = 512
"""Lines waiting at which the buffer is written without waiting for the timer."""
_LEVEL_NAMES = {"warn": "warning", "exception": "error"}
_PREFIX = structlog.contextvars.STRUCTLOG_KEY_PREFIX
_PREFIX_LEN = len(_PREFIX)


@lru_cache(maxsize=65_536)
def token_ref(value: str) -> str:
    """A stable, non-reversible reference to a token for logs (``tok:`` + 10 hex)."""
    digest = hashlib.sha256(value.strip().upper().encode()).hexdigest()
    return "tok:" + digest[:10]


_secret_key_cache: dict[str, bool] = {}


def _is_secret(key: str) -> bool:
    secret = _secret_key_cache.get(key)
    if secret is None:
        secret = key.lower() in _SECRET_KEYS
        if len(_secret_key_cache) < 4096:
            _secret_key_cache[key] = secret
    return secret


def _scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event:
        if _is_secret(key):
            event[key] = "[redacted]"
    return event


def _merge_contextvars(
    _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``structlog.contextvars.merge_contextvars``, one context lookup per variable fewer."""
    for var, value in contextvars.copy_context().items():
        if value is not Ellipsis and var.name.startswith(_PREFIX):
            event.setdefault(var.name[_PREFIX_LEN:], value)
    return event


_second: list[tuple[int, str]] = [(-1, "")]
"""[(second, its text)]: replaced whole, read whole (threads log too)."""


def utc_timestamp(now: float | None = None) -> str:
    """``2026-11-23T08:00:00.123456Z``: the wall clock in UTC, to the microsecond.

    The text of the second is kept between calls (formatting it is most of
    the cost of ``datetime.isoformat()``).
    """
    if now is None:
        now = time.time()
    second = int(now)
    micro = round((now - second) * 1_000_000)
    if micro == 1_000_000:
        second, micro = second + 1, 0
    cached, text = _second[0]
    if cached != second:
        text = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second[0] = (second, text)
    return f"{text}.{micro:06d}Z"


def _add_level_and_time(
    _: Any, method_name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``add_log_level`` then ``TimeStamper(fmt="iso", utc=True)``, in one step (the
    timestamp always has its six digits of microseconds)."""
    event["level"] = _LEVEL_NAMES.get(method_name, method_name)
    event["timestamp"] = utc_timestamp()
    return event


def _json_fallback(obj: Any) -> Any:
    """What structlog's JSONRenderer does with values JSON does not know."""
    try:
        return obj.__structlog__()
    except AttributeError:
        return repr(obj)


def _json_encoder() -> Callable[[Any], str]:
    """``json.JSONEncoder(default=_json_fallback).encode`` without building the C encoder
    at every call (and without the circular-reference check: a log event is a tree)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator
        return json.JSONEncoder(default=_json_fallback).encode
    encode = make(
        None,
        _json_fallback,
        json.encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


_encode = _json_encoder()


def _render_json(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    """``structlog.processors.JSONRenderer()``, with an encoder built once."""
    return _encode(event)


class BufferedLineWriter:
    """A structlog logger that writes lines to ``out`` in batches (see the module docstring)."""

    def __init__(self, out: TextIO, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._out = out
        self.flush_seconds = flush_seconds
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def msg(self, message: str) -> None:
        with self._lock:
            self._lines.append(message)
            waiting = len(self._lines)
        if waiting >= MAX_BUFFERED_LINES:
            self.flush()
            return
        timer_loop = self._timer_loop
        if self._timer is not None and timer_loop is not None and not timer_loop.is_closed():
            return  # a flush is due on a live loop
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._timer_loop = loop
        self._timer = loop.call_later(self.flush_seconds, self._on_timer)

    log = debug = info = msg

    def warning(self, message: str) -> None:
        with self._lock:
            self._lines.append(message)
        self.flush()

    warn = error = critical = exception = fatal = failure = err = warning

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write every buffered line now."""
        with self._lock:
            if not self._lines:
                return
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            try:
                self._out.write(text)
                self._out.flush()
            except (OSError, ValueError):  # closed or broken stream: nothing left to do
                pass


_hot_writer: list[BufferedLineWriter | None] = [None]
"""The buffered JSON output when info lines go there (see :class:`HotLogger`), else None."""


class HotLogger:
    """For the info lines logged once per message (a decision per Authorize).

    When the output is buffered JSON, the line is the one structlog's chain
    makes (the logger's context, the event's fields, the contextvars, level,
    timestamp, secret fields redacted) built directly, without the chain's
    per-line dict copy and five processor calls. Any other output (console,
    unbuffered, another level) goes through structlog as usual.
    """

    def __init__(self, name: str, **context: Any) -> None:
        self._context = context
        self._structlog = structlog.get_logger(name).bind(**context)
        # The logger's own fields, encoded once: '{"charge_point_id": "CP-1", ...'.
        self._head = "{" + ", ".join(_member(k, v) for k, v in context.items())
        self._comma = ", " if context else ""

    def info(self, event: str, **fields: Any) -> None:
        writer = _hot_writer[0]
        if writer is None:
            self._structlog.info(event, **fields)
            return
        context = self._context
        if (
            "event" in fields
            or "level" in fields
            or "timestamp" in fields
            or not context.keys().isdisjoint(fields)
        ):
            writer.msg(self._line_from_dict(event, fields))
            return
        # The text JSONRenderer would write for {**context, **fields, "event": ...}, then
        # the contextvars not already there, level and timestamp, in that order (each
        # member encoded on its own, secrets redacted: no dict, no copy, no processors).
        parts = [self._head]
        comma = self._comma
        for key, value in fields.items():
            parts.append(comma + _member(key, value))
            comma = ", "
        parts.append(comma + '"event": ' + _encode_str(event))
        for var, value in contextvars.copy_context().items():
            bound = _bound_key(var)
            if bound is None or value is Ellipsis or bound in fields or bound in context:
                continue
            if bound == "event" or bound == "level" or bound == "timestamp":
                continue  # set by the line itself (structlog's setdefault keeps them too)
            parts.append(", " + _member(bound, value))
        parts.append(', "level": "info", "timestamp": "' + utc_timestamp() + '"}')
        writer.msg("".join(parts))

    def _line_from_dict(self, event: str, fields: dict[str, Any]) -> str:
        line = {**self._context, **fields, "event": event}
        _merge_contextvars(None, "info", line)
        line["level"] = "info"
        line["timestamp"] = utc_timestamp()
        _scrub(None, "info", line)
        return _encode(line)


_encode_str: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _member(key: str, value: Any) -> str:
    """``"key": value`` as the JSON renderer writes it (a secret's value redacted)."""
    if _is_secret(key):
        return _encode_str(key) + ': "[redacted]"'
    if type(value) is str:
        return _encode_str(key) + ": " + _encode_str(value)
    return _encode_str(key) + ": " + _encode(value)


_bound_keys: dict[contextvars.ContextVar[Any], str | None] = {}


def _bound_key(var: contextvars.ContextVar[Any]) -> str | None:
    """The log key of a structlog-bound context variable (None for any other variable)."""
    try:
        return _bound_keys[var]
    except KeyError:
        name = var.name
        key = name[_PREFIX_LEN:] if name.startswith(_PREFIX) else None
        if len(_bound_keys) < 4096:
            _bound_keys[var] = key
        return key


class _BufferedLoggerFactory:
    def __init__(self, writer: BufferedLineWriter) -> None:
        self._writer = writer

    def __call__(self, *args: Any) -> BufferedLineWriter:
        return self._writer


_writers: dict[TextIO, BufferedLineWriter] = {}
"""One writer per stream, kept for the process's life: loggers cached before a
reconfiguration still write through theirs, and every one is flushed at exit."""


def flush_logs() -> None:
    """Write every buffered log line now (also done at exit)."""
    for writer in list(_writers.values()):
        writer.flush()


atexit.register(flush_logs)


def configure_logging(
    fmt: str = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    *,
    flush_seconds: float = FLUSH_SECONDS,
) -> None:
    """Configure structlog once, at the entry point.

    Output to a terminal is written line by line; other output (a file, a pipe,
    journald) is buffered for at most ``flush_seconds`` (0: line by line).
    """
    out = stream or sys.stderr
    tty = out.isatty()
    if fmt == "auto":
        fmt = "console" if tty else "json"
    renderer: Any = _render_json if fmt == "json" else structlog.dev.ConsoleRenderer(colors=tty)
    flush_logs()
    factory: Any
    _hot_writer[0] = None
    if tty or flush_seconds <= 0:
        factory = structlog.PrintLoggerFactory(out)
    else:
        writer = _writers.get(out)
        if writer is None or writer.flush_seconds != flush_seconds:
            writer = _writers[out] = BufferedLineWriter(out, flush_seconds)
        factory = _BufferedLoggerFactory(writer)
        if fmt == "json" and _LEVELS[level] <= logging.INFO:
            _hot_writer[0] = writer
    structlog.configure(
        processors=[
            _merge_contextvars,
            _add_level_and_time,
            _scrub,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
