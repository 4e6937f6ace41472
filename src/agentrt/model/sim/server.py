"""The simulated model server: one ``asyncio.Protocol`` per connection and the ``SimServer`` that owns them.

A connection serves its requests one after another (keep-alive, pipelining tolerated). The response to a
request is a ``Plan``; the connection writes its events when they are due, batching those already due
into one write, sleeping with ``loop.call_at`` otherwise, and stopping while the transport's buffer is
over its high-water mark. No task is created per stream.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import cast

from agentrt.model.sim import http
from agentrt.model.sim.app import SimApp
from agentrt.model.sim.config import SimConfig, check_loopback, validate_config
from agentrt.model.sim.http import LAST_CHUNK, MAX_BODY, HttpError, Request, RequestParser
from agentrt.model.sim.wire import Event, Plan

_FLUSH_BYTES = 16 * 1024
"""Events already due are joined into writes of about this size."""
_SLACK_S = 0.0005
"""Events due within this much of now are written now."""


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_owner",
        "_loop",
        "_transport",
        "_parser",
        "_busy",
        "_serving",
        "_closed",
        "_keep_alive",
        "_write_paused",
        "_read_paused",
        "_plan",
        "_pending",
        "_out",
        "_t0",
        "_timer",
    )

    def __init__(self, owner: SimServer) -> None:
        self._owner = owner
        self._loop = owner.loop
        self._transport: asyncio.Transport | None = None
        self._parser = RequestParser()
        self._busy = self._serving = self._closed = self._write_paused = self._read_paused = False
        self._keep_alive = True
        self._plan: Plan | None = None
        self._pending: Event | None = None
        self._out = b""
        self._t0 = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._owner.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._stop_plan()
        self._owner.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        if not self._busy:
            self._serve_next()
        elif self._parser.buffered > MAX_BODY and self._transport is not None:
            self._transport.pause_reading()
            self._read_paused = True

    def eof_received(self) -> bool:
        # Finish a response still being written, then close; idle, hung or stalled: close at once.
        self._keep_alive = False
        return self._plan is not None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._plan is not None and self._timer is None:
            self._pump()

    # -- serving ----------------------------------------------------------------------------------

    def abort(self) -> None:
        """Drop the connection now, whatever it is doing."""
        self._stop_plan()
        if self._transport is not None:
            self._transport.abort()

    def _stop_plan(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._plan = self._pending = None

    def _serve_next(self) -> None:
        self._serving = True
        try:
            while not self._busy and not self._closed:
                try:
                    req = self._parser.next_request()
                except HttpError as exc:
                    self._reject(exc)
                    return
                if req is None:
                    if self._read_paused and self._transport is not None:
                        self._read_paused = False
                        self._transport.resume_reading()
                    return
                self._keep_alive = self._keep_alive and req.keep_alive
                self._start(self._handle(req))
        finally:
            self._serving = False

    def _handle(self, req: Request) -> Plan:
        try:
            return self._owner.app.handle(req)
        except Exception as exc:  # a simulator bug: answer 500 rather than drop the connection
            body = http.error_object(f"simulator error: {exc!r}", "server_error", "simulator_error")
            return Plan(http.json_response(500, body, self._keep_alive))

    def _reject(self, exc: HttpError) -> None:
        body = http.error_object(exc.message, "invalid_request_error", None)
        self._send(http.json_response(exc.status, body, keep_alive=False))
        self._close()

    def _start(self, plan: Plan) -> None:
        self._busy = True
        self._plan = plan
        self._out = plan.head
        self._t0 = self._loop.time()
        self._pump()

    def _pump(self) -> None:
        """Write every event that is due, then sleep until the next one (or until writing resumes)."""
        self._timer = None
        plan = self._plan
        if plan is None or self._write_paused:
            return
        now = self._loop.time() + _SLACK_S
        parts: list[bytes] = []
        size = 0
        while True:
            item = self._pending if self._pending is not None else next(plan.events, None)
            self._pending = None
            if item is None:
                self._finish(plan, parts)
                return
            due = self._t0 + item[0]
            if due > now:
                self._pending = item
                self._flush(plan, parts)
                self._timer = self._loop.call_at(due, self._pump)
                return
            parts.append(item[1])
            size += len(item[1])
            if size >= _FLUSH_BYTES:
                self._flush(plan, parts)
                parts, size = [], 0
                if self._write_paused or self._plan is None:
                    return

    def _flush(self, plan: Plan, parts: list[bytes], tail: bytes = b"") -> None:
        data = b"".join(parts)
        if plan.chunked:
            data = http.frame(data)
        self._send(self._out + data + tail)
        self._out = b""

    def _finish(self, plan: Plan, parts: list[bytes]) -> None:
        self._plan = None
        if plan.ending == "stall":
            self._flush(plan, parts)
            return
        self._flush(plan, parts, LAST_CHUNK if plan.chunked and plan.ending == "done" else b"")
        if plan.ending == "close" or not self._keep_alive:
            self._close()
            return
        self._busy = False
        if not self._serving:
            self._serve_next()

    def _send(self, data: bytes) -> None:
        if data and self._transport is not None and not self._closed:
            self._transport.write(data)

    def _close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()


class SimServer:
    """A running simulated model server on a loopback port."""

    def __init__(self, config: SimConfig, host: str, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.host = host
        self.port = 0
        self.loop = loop
        self.app = SimApp(config)
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def requests(self) -> int:
        """Chat requests served so far (those that passed validation)."""
        return self.app.requests

    async def _listen(self, port: int) -> None:
        self._server = await self.loop.create_server(lambda: _Connection(self), self.host, port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every open connection, hung and stalled ones included."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self.connections):
            conn.abort()
        for _ in range(100):  # connection_lost runs on the next loop iterations
            if not self.connections:
                break
            await asyncio.sleep(0)
        await server.wait_closed()

    async def __aenter__(self) -> SimServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_sim_server(config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> SimServer:
    """Start serving ``config`` on a loopback ``host`` (``port=0`` picks a free port)."""
    bind = check_loopback(host)
    validate_config(config)
    sim = SimServer(config, bind, asyncio.get_running_loop())
    await sim._listen(port)
    return sim


def run_sim_server(
    config: SimConfig,
    host: str = "127.0.0.1",
    port: int = 8765,
    ready: Callable[[str], object] = print,
) -> None:
    """Serve ``config`` until SIGINT or SIGTERM; ``ready`` gets one line once the port is bound."""
    check_loopback(host)
    validate_config(config)
    asyncio.run(_serve(config, host, port, ready))


async def _serve(config: SimConfig, host: str, port: int, ready: Callable[[str], object]) -> None:
    sim = await start_sim_server(config, host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signal support: KeyboardInterrupt still stops asyncio.run
    try:
        ready(
            f"agentrt sim: listening on {sim.base_url} (simulated model {config.model!r}, "
            f"policy {config.policy}, seed {config.seed})"
        )
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await sim.close()
