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
    """Events are handed to ``on_event`` as each is parsed; an exception it raises leaves ``feed`` at
    once (the rest of that piece is not parsed: the caller is expected to drop the parser)."""

    __slots__ = ("_buf", "_on_comment", "_on_event", "_skip_lf", "events")

    def __init__(self, on_event: EventCallback, on_comment: Callable[[], None] | None = None) -> None:
        self._buf = bytearray()
        """The start of an event not yet ended by a blank line (line endings already made ``\\n``)."""
        self._skip_lf = False
        self._on_event = on_event
        self._on_comment = on_comment
        self.events = 0
        """Events handed to ``on_event`` so far (comments and empty blocks not counted)."""

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._skip_lf and data.startswith(b"\n"):
            data = data[1:]  # the LF of a CRLF whose CR ended the previous piece
            if not data:
                return
        self._skip_lf = data.endswith(b"\r")
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        start = 0
        buf = self._buf
        if buf:
            # An event began in an earlier piece. Look for its end in the new bytes only (or at the
            # seam), so that an event of any size costs time and memory linear in its size.
            if buf.endswith(b"\n") and data.startswith(b"\n"):
                del buf[-1:]
                start = 1
            else:
                end = data.find(b"\n\n")
                if end < 0:
                    buf += data
                    return
                buf += memoryview(data)[:end]
                start = end + 2
            self._dispatch(buf)
            buf.clear()
        on_event = self._on_event
        while True:
            end = data.find(b"\n\n", start)
            if end < 0:
                break
            if data.startswith(b"data: ", start) and data.find(b"\n", start, end) < 0:
                self.events += 1
                on_event("message", data[start + 6 : end].decode("utf-8", "replace"))  # one data line
            else:
                self._dispatch(data[start:end])
            start = end + 2
        if start < len(data):
            buf += memoryview(data)[start:]

    def flush(self) -> None:
        """The stream ended: an event not closed by a blank line is dropped, as the SSE spec says."""
        self._buf.clear()

    @property
    def pending(self) -> bool:
        return bool(self._buf.strip())

    @property
    def buffered(self) -> int:
        """Bytes of an event that has not ended yet."""
        return len(self._buf)

    def _dispatch(self, block: bytes | bytearray) -> None:
        if block.startswith(b"data: "):
            if b"\n" not in block:  # the common case of a chat stream: one data line
                self.events += 1
                self._on_event("message", block[6:].decode("utf-8", "replace"))
                return
        elif block.startswith(b"event: "):  # the common case of a Responses stream: a name, one data line
            nl = block.find(b"\n")
            if nl > 0 and block.startswith(b"data: ", nl + 1) and block.find(b"\n", nl + 1) < 0:
                self.events += 1
                self._on_event(
                    block[7:nl].decode("utf-8", "replace"), block[nl + 7 :].decode("utf-8", "replace")
                )
                return
        name = "message"
        data: list[bytes | bytearray] = []
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
            self.events += 1
            self._on_event(name, b"\n".join(data).decode("utf-8", "replace"))
