"""``HttpConnection``'s parser fed directly: chunked bodies split anywhere, a read buffer shared by
several connections, malformed framing."""

from __future__ import annotations

import pytest

from agentrt.model.errors import MalformedResponse, ModelError
from agentrt.model.http import HttpConnection, ResponseHead

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(*pieces: bytes, ext: bytes = b"") -> bytes:
    return b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext, p) for p in pieces) + b"0\r\n\r\n"


class Sink:
    def __init__(self) -> None:
        self.head: ResponseHead | None = None
        self.body = bytearray()
        self.feeds = 0
        self.ended = False
        self.error: ModelError | None = None

    def start(self, head: ResponseHead) -> None:
        self.head = head

    def feed(self, data: bytes) -> None:
        assert isinstance(data, bytes) and data
        self.body += data
        self.feeds += 1

    def end(self) -> None:
        self.ended = True

    def fail(self, exc: ModelError) -> None:
        self.error = exc


class Transport:
    def __init__(self) -> None:
        self.sent = b""
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.sent += data

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True


def connection(read_buffer: memoryview | None = None) -> tuple[HttpConnection, Sink, Transport]:
    conn = HttpConnection(read_buffer)
    transport = Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    sink = Sink()
    conn.send(b"POST / HTTP/1.1\r\n\r\n", sink)
    return conn, sink, transport


def receive(conn: HttpConnection, data: bytes) -> None:
    """As the loop does: ``get_buffer``, the bytes written into it, ``buffer_updated``."""
    while data:
        buf = conn.get_buffer(-1)
        n = min(len(buf), len(data))
        buf[:n] = data[:n]
        conn.buffer_updated(n)
        data = data[n:]


EVENTS = [b'data: {"n": %d, "text": "\xc3\xa9t\xc3\xa9"}\n\n' % i for i in range(50)]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 1 << 20])
def test_a_chunked_stream_split_anywhere_gives_the_same_body(step: int) -> None:
    conn, sink, _ = connection()
    wire = HEAD + chunked(*EVENTS)
    for i in range(0, len(wire), step):
        receive(conn, wire[i : i + step])
    assert sink.head is not None and sink.head.status == 200
    assert bytes(sink.body) == b"".join(EVENTS)
    assert sink.ended and sink.error is None and conn.reusable


def test_the_chunks_that_arrive_together_are_one_piece() -> None:
    conn, sink, _ = connection()
    receive(conn, HEAD)
    receive(conn, chunked(*EVENTS[:10])[: -len(b"0\r\n\r\n")])
    assert sink.feeds == 1 and bytes(sink.body) == b"".join(EVENTS[:10])
    receive(conn, b"0\r\n\r\n")
    assert sink.ended


def test_chunk_extensions_are_ignored() -> None:
    conn, sink, _ = connection()
    receive(conn, HEAD + chunked(*EVENTS[:3], ext=b";name=value"))
    assert bytes(sink.body) == b"".join(EVENTS[:3]) and sink.ended


def test_connections_sharing_one_read_buffer_keep_their_own_bytes() -> None:
    shared = memoryview(bytearray(16))  # small: every response takes many reads
    a, sink_a, _ = connection(shared)
    b, sink_b, _ = connection(shared)
    wire_a, wire_b = HEAD + chunked(*EVENTS[:20]), HEAD + chunked(*EVENTS[20:40])
    for i in range(0, max(len(wire_a), len(wire_b)), 5):  # interleaved, as two sockets' reads are
        receive(a, wire_a[i : i + 5])
        receive(b, wire_b[i : i + 5])
    assert bytes(sink_a.body) == b"".join(EVENTS[:20]) and sink_a.ended
    assert bytes(sink_b.body) == b"".join(EVENTS[20:40]) and sink_b.ended


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"zz\r\nabc\r\n", "bad chunk size b'zz'"),
        (b"3\r\nabcX\r\n", "chunk not followed by CRLF"),
        (b"1" * 2000, "bad chunk header"),
    ],
)
def test_malformed_framing_fails_the_response_and_drops_the_connection(body: bytes, message: str) -> None:
    conn, sink, transport = connection()
    receive(conn, HEAD + body)
    assert isinstance(sink.error, MalformedResponse) and message in str(sink.error)
    assert transport.aborted and not conn.reusable


def test_the_bytes_before_a_framing_error_are_delivered_first() -> None:
    conn, sink, _ = connection()
    receive(conn, HEAD + b"3\r\nabc\r\nzz\r\n")
    assert bytes(sink.body) == b"abc" and isinstance(sink.error, MalformedResponse)
