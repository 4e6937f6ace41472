"""A small HTTP/1.1 client on ``asyncio.Protocol``, built for many long streaming responses.

Why not httpx or aiohttp: with 100 concurrent SSE streams on this project's machines, a callback
protocol parser cost 5.4 ms CPU per 1k tokens and 21 MiB peak RSS, against 9.1 ms / 40 MiB for
aiohttp and 17 ms / 36 MiB for httpx (``benchmarks/stream_client.py`` re-measures agentrt's own
figure). Only what talking to an OpenAI-compatible endpoint needs is here: keep-alive connection
reuse, ``Content-Length`` / chunked / read-to-close bodies, TLS for ``https`` origins.

The body of a response is pushed into a ``BodySink`` from the protocol callback itself, so a streamed
token costs one callback and no task wake-up unless a consumer asked to be woken. A pool with a read
interval (``ReadPacer``) reads a stream whose deltas nobody watches at most once per interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast
from urllib.parse import urlsplit

from agentrt.model.errors import ConnectError, MalformedResponse, ModelError, ModelTimeout

_MAX_HEAD = 64 * 1024


class BodySink(Protocol):
    """Receives one response, from the protocol's callbacks: ``start``, ``feed``…, then ``end`` or ``fail``."""

    def start(self, head: ResponseHead) -> None: ...

    def feed(self, data: bytes) -> None: ...

    def end(self) -> None:
        """The body ended as its framing says it should."""

    def fail(self, exc: ModelError) -> None:
        """The connection broke before the body ended."""

    @property
    def reads_may_wait(self) -> bool:
        """The rest of this body may be read late (by up to the pool's read interval): nobody watches
        its pieces as they arrive, and what is timed (the first token) has been."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    path: str
    """The base path, without a trailing slash (``/v1``)."""

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ValueError(f"bad port in URL {url!r}") from exc
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(slots=True)
class ResponseHead:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-cased names; repeated headers joined with ``, ``."""


class HttpConnection(asyncio.BufferedProtocol):
    """One keep-alive connection, one request at a time.

    A ``BufferedProtocol``: the loop receives into a preallocated buffer (``recv_into``) instead of
    allocating a new ``bytes`` object of its default 256 KiB read size for every arriving token. The
    loop calls ``get_buffer``, receives and calls ``buffer_updated`` with nothing in between, and
    ``buffer_updated`` copies the bytes out at once, so one buffer can serve every connection of a
    pool (``read_buffer``): a thousand streams then hold one buffer, not a thousand.

    A chunked body is parsed a whole read at a time: every complete chunk that arrived together
    goes to the sink as one piece. With a ``pacer``, a read after which the sink says its reads may
    wait pauses the connection until the pacer's next tick, so what arrives meanwhile is one read.
    """

    _READ_SIZE = 8 * 1024

    def __init__(self, read_buffer: memoryview | None = None, pacer: ReadPacer | None = None) -> None:
        self._rbuf = memoryview(bytearray(self._READ_SIZE)) if read_buffer is None else read_buffer
        self._pacer = pacer
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = False
        self._buf = bytearray()
        self._sink: BodySink | None = None
        self._state = "idle"
        self._remaining = 0
        self._got_bytes = False

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._state == "close":
            self._finish_body()
            return
        if self._state == "idle":
            return
        what = "before a response" if not self._got_bytes else "in the middle of a response"
        self._fail(ConnectError(f"connection closed {what}" + (f": {exc}" if exc else "")))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rbuf

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rbuf[:nbytes])
        sink = self._sink
        if self._pacer is not None and sink is not None and sink.reads_may_wait and self.transport:
            self._pacer.hold(self.transport)

    def data_received(self, data: bytes | memoryview) -> None:
        if self._state == "idle":
            self.closed = True  # unsolicited bytes: the connection is unusable
            if self.transport:
                self.transport.close()
            return
        self._got_bytes = True
        self._buf += data  # the one copy out of a (possibly shared) read buffer
        try:
            self._advance()
        except MalformedResponse as exc:
            self._fail(exc)
            self.abort()

    # -- requests -------------------------------------------------------------------------------
    def send(self, request: bytes, sink: BodySink) -> None:
        assert self.transport is not None and self._state == "idle"
        self._sink = sink
        self._state = "head"
        self._got_bytes = False
        self.reusable = False
        self.transport.write(request)

    def abort(self) -> None:
        self.closed = True
        self.reusable = False
        self._state = "idle"
        if self.transport is not None:
            self.transport.abort()

    @property
    def got_bytes(self) -> bool:
        return self._got_bytes

    # -- parsing --------------------------------------------------------------------------------
    def _advance(self) -> None:
        while self._buf:
            state = self._state
            if state == "head":
                if not self._parse_head():
                    return
            elif state in ("chunk_size", "chunk_data"):
                if not self._take_chunks():
                    return
            elif state == "trailer":
                if not self._parse_trailer():
                    return
            elif state in ("length", "close"):
                self._take_plain_body()
                return
            else:
                return

    def _parse_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > _MAX_HEAD:
                raise MalformedResponse("response headers too large")
            return False
        raw = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        head = _parse_head_text(raw)
        if 100 <= head.status < 200:
            return True  # interim response: wait for the real one
        if self._sink is not None:
            self._sink.start(head)
        self._choose_framing(head)
        return True

    def _choose_framing(self, head: ResponseHead) -> None:
        keep = head.headers.get("connection", "").lower() != "close"
        self.reusable = keep
        if "chunked" in head.headers.get("transfer-encoding", "").lower():
            self._state = "chunk_size"
        elif "content-length" in head.headers:
            try:
                self._remaining = int(head.headers["content-length"])
            except ValueError as exc:
                raise MalformedResponse("bad Content-Length") from exc
            self._state = "length"
            if self._remaining == 0:
                self._finish_body()
        else:
            self.reusable = False
            self._state = "close"

    def _take_chunks(self) -> bool:
        """Every complete chunk (and the start of an incomplete one) in the buffer, delivered as one
        piece; ``False`` when more bytes are needed, ``True`` at the last chunk (the trailer follows)."""
        buf = self._buf
        n = len(buf)
        pos = 0
        spans: list[tuple[int, int]] = []
        state, remaining = self._state, self._remaining
        more = True
        find = buf.find
        try:
            while pos < n:
                if state == "chunk_data":
                    if remaining > 0:
                        end = pos + remaining
                        if end > n:
                            spans.append((pos, n))
                            remaining = end - n
                            pos = n
                            break
                        spans.append((pos, end))
                        pos = end
                        remaining = 0
                    if n - pos < 2:
                        break
                    if not buf.startswith(b"\r\n", pos):
                        raise MalformedResponse("chunk not followed by CRLF")
                    pos += 2
                    state = "chunk_size"
                    continue
                end = find(b"\r\n", pos)
                if end < 0:
                    if n - pos > 1024:
                        raise MalformedResponse("bad chunk header")
                    break
                try:
                    size = int(buf[pos:end], 16)
                except ValueError:
                    size = _chunk_size(bytes(buf[pos:end]))
                pos = end + 2
                if size == 0:
                    state = "trailer"
                    more = False
                    break
                state, remaining = "chunk_data", size
        finally:
            self._state, self._remaining = state, remaining
            data = _join(buf, spans)
            del buf[:pos]
            self._deliver(data)
        return not more

    def _parse_trailer(self) -> bool:
        end = self._buf.find(b"\r\n")
        if end < 0:
            return False
        del self._buf[: end + 2]
        if end == 0:
            self._finish_body()
        return True

    def _take_plain_body(self) -> None:
        if self._state == "close":
            self._deliver(bytes(self._buf))
            self._buf.clear()
            return
        n = min(self._remaining, len(self._buf))
        self._deliver(bytes(self._buf[:n]))
        del self._buf[:n]
        self._remaining -= n
        if self._remaining == 0:
            self._finish_body()

    def _deliver(self, data: bytes) -> None:
        if self._sink is not None and data:
            self._sink.feed(data)

    def _finish_body(self) -> None:
        sink, self._sink = self._sink, None
        self._state = "idle"
        if self._buf:
            self.reusable = False
        if sink is not None:
            sink.end()

    def _fail(self, exc: ModelError) -> None:
        sink, self._sink = self._sink, None
        self._state = "idle"
        self.reusable = False
        if sink is not None:
            sink.fail(exc)


def _chunk_size(line: bytes) -> int:
    """The size of a chunk header line that is not plain hex: one with extensions (``1f;name=value``,
    ignored), else ``MalformedResponse``."""
    if b";" in line:
        line = line.split(b";", 1)[0]
    try:
        return int(line, 16)
    except ValueError as exc:
        raise MalformedResponse(f"bad chunk size {line.strip()[:20]!r}") from exc


def _join(buf: bytearray, spans: list[tuple[int, int]]) -> bytes:
    """The bytes of ``buf`` in ``spans``, as one ``bytes`` (one copy; no view of ``buf`` outlives it)."""
    if not spans:
        return b""
    with memoryview(buf) as view:
        if len(spans) == 1:
            start, end = spans[0]
            return view[start:end].tobytes()
        return b"".join([view[start:end] for start, end in spans])


def _parse_head_text(raw: str) -> ResponseHead:
    lines = raw.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise MalformedResponse(f"not an HTTP/1.x response: {lines[0][:60]!r}")
    head = ResponseHead(int(parts[1]), parts[2] if len(parts) > 2 else "")
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise MalformedResponse(f"bad header line {line[:60]!r}")
        key = name.strip().lower()
        value = value.strip()
        head.headers[key] = f"{head.headers[key]}, {value}" if key in head.headers else value
    return head


def build_request(origin: Origin, method: str, path: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"{method} {origin.path}{path} HTTP/1.1", f"Host: {origin.host_header}"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ReadPacer:
    """Pauses connections' reading and resumes them all at its next tick, ``interval_s`` later.

    A model streaming a token at a time sends each in its own packet, and a connection read as soon as
    one arrives costs a wake-up, a receive and a parse per token. Where no one watches the tokens (a
    ``complete()``), reading at most once per interval takes what arrived meanwhile in one read: at a
    thousand streams of 50 tokens/s, a 50 ms interval took 21-46 % off the client's CPU per token, 100 ms
    35-53 % (``benchmarks/stream_client.py --read-interval 50``, asyncio and uvloop, three sittings);
    in a 1,000-agent benchmark run, where a busy loop already finds ~2 tokens a read, 50 ms took 6-17 %
    off the runtime's CPU. The price: the end of each response is seen up to one interval late.

    One timer serves every held connection, and runs only while one is held.
    """

    def __init__(self, interval_s: float) -> None:
        if not interval_s > 0:
            raise ValueError(f"a read interval must be positive, not {interval_s!r}")
        self.interval_s = interval_s
        self._held: list[asyncio.Transport] = []
        self._tick: asyncio.TimerHandle | None = None

    def hold(self, transport: asyncio.Transport) -> None:
        """Stop reading ``transport`` until the next tick (nothing when it is closing)."""
        if transport.is_closing():
            return
        transport.pause_reading()
        self._held.append(transport)
        if self._tick is None:
            self._tick = asyncio.get_running_loop().call_later(self.interval_s, self._release)

    def _release(self) -> None:
        self._tick = None
        held, self._held = self._held, []
        for transport in held:
            if not transport.is_closing():
                transport.resume_reading()

    def close(self) -> None:
        """Resume every held connection now and stop the timer (a response still being read is not
        left waiting for a tick that will not come)."""
        if self._tick is not None:
            self._tick.cancel()
        self._release()


class ConnectionPool:
    """Idle keep-alive connections per origin. Not shared across event loops.

    ``read_interval_s`` > 0 gives the pool's connections a ``ReadPacer``: a response whose sink allows
    it is read at most once per interval."""

    READ_BUFFER = 64 * 1024
    """The one receive buffer every connection of the pool reads into (``HttpConnection``)."""

    def __init__(
        self, connect_timeout_s: float = 10.0, max_idle_per_origin: int = 256, *, read_interval_s: float = 0.0
    ) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.max_idle = max_idle_per_origin
        self._idle: dict[tuple[str, str, int], list[HttpConnection]] = {}
        self._rbuf = memoryview(bytearray(self.READ_BUFFER))
        self._pacer = ReadPacer(read_interval_s) if read_interval_s else None

    def take_idle(self, origin: Origin) -> HttpConnection | None:
        conns = self._idle.get(origin.key)
        while conns:
            conn = conns.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    async def connect(self, origin: Origin) -> HttpConnection:
        loop = asyncio.get_running_loop()
        ssl_ctx = None
        if origin.scheme == "https":
            import ssl  # only https origins pay for the TLS context

            ssl_ctx = ssl.create_default_context()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, proto = await loop.create_connection(
                    lambda: HttpConnection(self._rbuf, self._pacer),
                    origin.host,
                    origin.port,
                    ssl=ssl_ctx,
                    server_hostname=origin.host if ssl_ctx else None,
                )
        except TimeoutError as exc:
            raise ModelTimeout(f"connecting to {origin.host}:{origin.port} timed out") from exc
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {origin.host}:{origin.port}: {exc.strerror or exc}"
            ) from exc
        return proto

    def release(self, origin: Origin, conn: HttpConnection) -> None:
        if not conn.reusable or conn.closed:
            conn.abort()
            return
        conns = self._idle.setdefault(origin.key, [])
        if len(conns) >= self.max_idle:
            conn.abort()
        else:
            conns.append(conn)

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.abort()
        self._idle.clear()
        if self._pacer is not None:
            self._pacer.close()


class _Collect:
    """A ``BodySink`` that keeps a small whole body (for JSON endpoints and error bodies)."""

    def __init__(self, limit: int) -> None:
        self.done: asyncio.Future[tuple[ResponseHead, bytes]] = asyncio.get_running_loop().create_future()
        self.head: ResponseHead | None = None
        self.body = bytearray()
        self.limit = limit

    def start(self, head: ResponseHead) -> None:
        self.head = head

    def feed(self, data: bytes) -> None:
        if len(self.body) < self.limit:
            self.body += data

    def end(self) -> None:
        if not self.done.done() and self.head is not None:
            self.done.set_result((self.head, bytes(self.body)))

    def fail(self, exc: ModelError) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    @property
    def reads_may_wait(self) -> bool:
        return False


async def fetch(
    pool: ConnectionPool,
    origin: Origin,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes = b"",
    *,
    timeout_s: float = 30.0,
    limit: int = 1 << 20,
) -> tuple[ResponseHead, bytes]:
    """One plain request on a fresh connection; the whole body (up to ``limit`` bytes) in memory."""
    conn = await pool.connect(origin)
    sink = _Collect(limit)
    conn.send(build_request(origin, method, path, headers, body), sink)
    try:
        async with asyncio.timeout(timeout_s):
            result = await sink.done
    except TimeoutError as exc:
        raise ModelTimeout(f"{method} {origin.path}{path}: no complete response in {timeout_s:g} s") from exc
    finally:
        conn.abort()
    return result
