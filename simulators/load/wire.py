"""A WebSocket client's side of the wire, without I/O (RFC 6455 §4.1, §5; OCPP-J 1.6 §3).

The load generator runs thousands of chargers in one process, so each one
speaks WebSocket through these few functions instead of a full
``websockets`` connection: the opening handshake (HTTP/1.1 Upgrade with Basic
credentials and the OCPP subprotocols), client frames (always masked, §5.3)
and a reader for the server's frames (unmasked, possibly fragmented, with
control frames in between). Everything here is pure: bytes in, values out.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import struct

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER_BYTES = 16 * 1024
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class WireError(Exception):
    """The server broke RFC 6455 (or sent more than we accept)."""


class HandshakeRefused(Exception):
    """The server answered the upgrade with another status than 101."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status
        self.reason = reason


def new_key() -> str:
    """A ``Sec-WebSocket-Key``: 16 random bytes, base64 (§4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_value(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key`` (§4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def handshake_request(
    host: str,
    path: str,
    key: str,
    subprotocols: list[str],
    authorization: str | None,
) -> bytes:
    """The opening handshake request (§4.1), ``path`` already percent-encoded."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def split_response(buffer: bytes) -> tuple[int, str, dict[str, str], int] | None:
    """(status, reason, headers with lower-case names, bytes used) once the head is complete.

    None while more bytes are needed; raises :class:`WireError` on a malformed head.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEADER_BYTES:
            raise WireError("handshake response head too large")
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise WireError(f"not an HTTP response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise WireError(f"malformed header line: {line[:80]!r}")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(parts[1]), parts[2] if len(parts) == 3 else "", headers, end + 4


def check_upgrade(
    status: int, reason: str, headers: dict[str, str], key: str, offered: list[str]
) -> str | None:
    """The subprotocol the server chose (None if none); raises if the upgrade failed (§4.2.2)."""
    if status != 101:
        raise HandshakeRefused(status, reason)
    if headers.get("upgrade", "").lower() != "websocket":
        raise WireError("101 without Upgrade: websocket")
    if "upgrade" not in headers.get("connection", "").lower():
        raise WireError("101 without Connection: Upgrade")
    if headers.get("sec-websocket-accept") != accept_value(key):
        raise WireError("wrong Sec-WebSocket-Accept")
    chosen = headers.get("sec-websocket-protocol")
    if chosen is not None and chosen not in offered:
        raise WireError(f"server chose a subprotocol we did not offer: {chosen!r}")
    return chosen


def encode_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final, masked client frame (§5.2, §5.3); ``mask`` is 4 random bytes by default.

    The default mask comes from :func:`random.randbytes`, not a cryptographic
    source: masking protects browsers' intermediaries from hostile scripts
    (§10.3), which a load generator is not, and a system call per frame would
    cost more than the rest of the framing.
    """
    if mask is None:
        mask = random.randbytes(4)
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    return head + mask + apply_mask(payload, mask)


def close_payload(code: int, reason: str = "") -> bytes:
    """The body of a Close frame (§5.5.1)."""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


class FrameReader:
    """Reassembles the server's frames into messages (§5.4) and passes control frames through.

    :meth:`feed` returns ``(opcode, payload)`` for each complete text or binary
    message (opcode of its first frame) and each control frame, in order.
    """

    __slots__ = ("_buffer", "_fragments", "_opcode")

    def __init__(self) -> None:
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        out: list[tuple[int, bytes]] = []
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length = second & 0x7F
            start = offset + 2
            if length == 126:
                if size - start < 2:
                    break
                (length,) = struct.unpack_from("!H", buffer, start)
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                (length,) = struct.unpack_from("!Q", buffer, start)
                start += 8
            if length > MAX_MESSAGE_BYTES:
                raise WireError(f"frame of {length} bytes is over the limit")
            mask = b""
            if second & 0x80:
                if size - start < 4:
                    break
                mask = buffer[start : start + 4]
                start += 4
            end = start + length
            if end > size:
                break
            payload = buffer[start:end]
            if mask:
                payload = apply_mask(payload, mask)
            offset = end
            self._frame(first, payload, out)
        self._buffer = buffer[offset:]
        return out

    def _frame(self, first: int, payload: bytes, out: list[tuple[int, bytes]]) -> None:
        if first & 0x70:
            raise WireError("reserved bits set without a negotiated extension")
        fin, opcode = first & 0x80, first & 0x0F
        if opcode >= OP_CLOSE:
            if not fin or len(payload) > 125:
                raise WireError("fragmented or oversized control frame")
            out.append((opcode, payload))
            return
        if opcode == OP_CONT:
            if self._fragments is None:
                raise WireError("continuation frame without a message")
            self._fragments.append(payload)
            if sum(len(part) for part in self._fragments) > MAX_MESSAGE_BYTES:
                raise WireError("fragmented message over the limit")
            if fin:
                out.append((self._opcode, b"".join(self._fragments)))
                self._fragments = None
            return
        if opcode not in (OP_TEXT, OP_BINARY):
            raise WireError(f"unknown opcode {opcode}")
        if self._fragments is not None:
            raise WireError("new message before the previous one ended")
        if fin:
            out.append((opcode, payload))
        else:
            self._opcode, self._fragments = opcode, [payload]
