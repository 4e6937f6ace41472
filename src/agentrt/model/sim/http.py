"""The small part of HTTP/1.1 the simulated server speaks: an incremental request parser and response framing.

Requests must carry their body with ``Content-Length`` (no chunked uploads); responses are either a
``Content-Length`` body or a chunked stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

MAX_HEAD = 64 * 1024
"""Largest request line plus headers accepted."""
MAX_BODY = 8 * 1024 * 1024
"""Largest request body accepted."""

LAST_CHUNK = b"0\r\n\r\n"
"""Terminates a chunked response body."""

_REASONS = MappingProxyType(
    {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
        411: "Length Required",
        413: "Content Too Large",
        429: "Too Many Requests",
        431: "Request Header Fields Too Large",
        500: "Internal Server Error",
    }
)


class HttpError(Exception):
    """A request the server cannot read; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]
    """Header names lower-cased; a repeated header keeps its last value."""
    body: bytes
    keep_alive: bool


@dataclass(slots=True)
class _Head:
    method: str
    target: str
    headers: dict[str, str]
    keep_alive: bool
    length: int


class RequestParser:
    """Turns the bytes of one connection into complete ``Request`` objects, one at a time."""

    __slots__ = ("_buf", "_head")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: _Head | None = None

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_request(self) -> Request | None:
        """The next complete request, or ``None`` until more bytes arrive; ``HttpError`` on garbage."""
        if self._head is None:
            self._head = self._parse_head()
            if self._head is None:
                return None
        head = self._head
        if len(self._buf) < head.length:
            return None
        if len(self._buf) == head.length:  # the usual case: one request, nothing pipelined behind it
            body = bytes(self._buf)
            self._buf = bytearray()
        else:
            body = bytes(self._buf[: head.length])
            del self._buf[: head.length]
        self._head = None
        return Request(head.method, head.target, head.headers, body, head.keep_alive)

    def _parse_head(self) -> _Head | None:
        while self._buf.startswith(b"\r\n"):  # tolerated before a request line
            del self._buf[:2]
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD:
                raise HttpError(431, "request head too large")
            return None
        if end > MAX_HEAD:
            raise HttpError(431, "request head too large")
        lines = self._buf[:end].decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "malformed request line")
        headers = _parse_headers(lines[1:])
        length = _body_length(headers)
        connection = headers.get("connection", "").lower()
        keep_alive = parts[2] == "HTTP/1.1" and "close" not in connection
        return _Head(parts[0].upper(), parts[1], headers, keep_alive, length)


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise HttpError(400, "malformed header line")
        headers[name.lower()] = value.strip()
    return headers


def _body_length(headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers:
        raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    raw = headers.get("content-length", "0")
    if not raw.isdigit():
        raise HttpError(400, "invalid Content-Length")
    length = int(raw)
    if length > MAX_BODY:
        raise HttpError(413, f"request body over {MAX_BODY} bytes")
    return length


def response_head(status: int, headers: Iterable[tuple[str, str]], keep_alive: bool) -> bytes:
    """Status line and headers, including ``X-Agentrt-Simulated`` and, when closing, ``Connection``."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}", "X-Agentrt-Simulated: 1"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    if not keep_alive:
        lines.append("Connection: close")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def json_response(status: int, obj: Any, keep_alive: bool, extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """A complete response with a JSON body."""
    body = json.dumps(obj).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra]
    return response_head(status, headers, keep_alive) + body


def error_object(message: str, type_: str, code: str | None) -> dict[str, Any]:
    """An error body in the OpenAI shape."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def frame(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body (empty data gives nothing, never the last chunk)."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""
