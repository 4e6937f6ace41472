"""Incremental Server-Sent Events parser.

Bytes go in as they arrive, in pieces of any size; complete events come out through a callback.
Line endings may be ``\\n``, ``\\r\\n`` or ``\\r``. Only ``data:`` and ``event:`` fields matter to
agentrt; ``id:``, ``retry:`` and unknown fields are ignored; comment lines (``: keep-alive``) are
reported separately so that a keep-alive never counts as data.
"""

from __future__ import annotations

from collections.abc import Callable

EventCallback = Callable[[str, str], None]
"""``(event_name, data)``; the name is ``"message"`` unless an ``event:`` field set it."""


class SSEParser:
    __slots__ = ("_buf", "_on_comment", "_on_event", "_skip_lf")

    def __init__(self, on_event: EventCallback, on_comment: Callable[[], None] | None = None) -> None:
        self._buf = b""
        self._skip_lf = False
        self._on_event = on_event
        self._on_comment = on_comment

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._skip_lf and data.startswith(b"\n"):
            data = data[1:]  # the LF of a CRLF whose CR ended the previous piece
        self._skip_lf = data.endswith(b"\r")
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            self._dispatch(buf[start:end])
            start = end + 2
        self._buf = buf[start:]

    def flush(self) -> None:
        """The stream ended: an event not closed by a blank line is dropped, as the SSE spec says."""
        self._buf = b""

    @property
    def pending(self) -> bool:
        return bool(self._buf.strip())

    def _dispatch(self, block: bytes) -> None:
        if block.startswith(b"data: ") and b"\n" not in block:  # the common case: one data line
            self._on_event("message", block[6:].decode("utf-8", "replace"))
            return
        name = "message"
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if not line:
                continue
            if line.startswith(b":"):
                if self._on_comment is not None:
                    self._on_comment()
                continue
            field, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                name = value.decode("utf-8", "replace")
        if data:
            self._on_event(name, b"\n".join(data).decode("utf-8", "replace"))
