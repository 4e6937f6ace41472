"""End-to-end tests of the simulated model server over real loopback sockets, with a raw HTTP client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import agentrt
from agentrt.model.sim import SimConfig, SimServer, failing_ids, start_sim_server

TASKS = tuple(
    {
        "id": f"Fake/{i}",
        "spec": f'def f{i}(x):\n    """Return x plus {i}."""\n',
        "test": f"assert f{i}(1) == {1 + i}\n",
        "solution": f"    y = x + {i}\n    return y\n",
    }
    for i in range(3)
)
MODEL = "agentrt-sim"


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def data(self) -> list[str]:
        """The ``data:`` payloads of an SSE body, in order."""
        return [line[6:] for line in self.body.decode().split("\n") if line.startswith("data: ")]


class Conn:
    """A raw keep-alive HTTP/1.1 client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, sim: SimServer) -> Conn:
        return cls(*await asyncio.open_connection(sim.host, sim.port))

    def send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", "Host: sim", f"Content-Length: {len(raw)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + raw)

    async def head(self) -> tuple[int, dict[str, str]]:
        status = int((await self.reader.readline()).split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        return status, headers

    async def body(self, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding") != "chunked":
            return await self.reader.readexactly(int(headers.get("content-length", "0")))
        out = b""
        while size := int(await self.reader.readuntil(b"\r\n"), 16):
            out += await self.reader.readexactly(size)
            await self.reader.readexactly(2)
        await self.reader.readexactly(2)
        return out

    async def response(self) -> Resp:
        async with asyncio.timeout(5.0):
            status, headers = await self.head()
            return Resp(status, headers, await self.body(headers))

    async def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Resp:
        self.send(method, path, body, kw.get("headers"))
        return await self.response()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def chat(content: str, stream: bool = True, usage: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
    }
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body | extra


def assemble(resp: Resp) -> dict[str, Any]:
    """Fold a streamed chat response into content, tool calls, finish reason and usage."""
    content, finish, usage = "", None, None
    calls: dict[int, dict[str, Any]] = {}
    for data in resp.data:
        if data == "[DONE]":
            continue
        chunk = json.loads(data)
        assert chunk["object"] == "chat.completion.chunk"
        usage = chunk.get("usage", usage)
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for tc in delta.get("tool_calls", []):
                call = calls.setdefault(tc["index"], {"id": tc.get("id"), "name": "", "arguments": ""})
                call["name"] += tc.get("function", {}).get("name", "")
                call["arguments"] += tc.get("function", {}).get("arguments", "")
            finish = choice["finish_reason"] or finish
    return {
        "content": content,
        "tool_calls": [calls[i] for i in sorted(calls)],
        "finish": finish,
        "usage": usage,
    }


def serve(config: SimConfig, fn: Callable[[SimServer], Awaitable[None]]) -> None:
    """Run ``fn`` against a fresh server in a fresh event loop, closing the server afterwards."""

    async def main() -> None:
        sim = await start_sim_server(config)
        try:
            await fn(sim)
        finally:
            await sim.close()

    asyncio.run(main())


def with_conn(config: SimConfig, fn: Callable[[SimServer, Conn], Awaitable[None]]) -> None:
    async def body(sim: SimServer) -> None:
        conn = await Conn.open(sim)
        try:
            await fn(sim, conn)
        finally:
            await conn.close()

    serve(config, body)


def code_block(text: str) -> str:
    return text.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_models_endpoint() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        for path in ("/v1/models", "/models"):
            resp = await conn.request("GET", path)
            assert resp.status == 200
            assert resp.headers["x-agentrt-simulated"] == "1"
            assert resp.json() == {
                "object": "list",
                "data": [{"id": MODEL, "object": "model", "owned_by": "agentrt-sim"}],
            }
        resp = await conn.request("GET", "/v1/nothing")
        assert (resp.status, resp.headers["x-agentrt-simulated"]) == (404, "1")
        assert "message" in resp.json()["error"]
        assert sim.base_url == f"http://127.0.0.1:{sim.port}/v1"

    with_conn(SimConfig(), check)


def test_stream_assembles_canonical_solution() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        for task in TASKS:
            resp = await conn.request("POST", "/v1/chat/completions", chat(f"Implement:\n{task['spec']}"))
            assert resp.status == 200
            assert resp.headers["content-type"] == "text/event-stream"
            assert resp.headers["x-agentrt-simulated"] == "1"
            first = json.loads(resp.data[0])["choices"][0]
            assert first == {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            assert resp.data[-1] == "[DONE]"
            folded = assemble(resp)
            assert code_block(folded["content"]) == task["spec"] + task["solution"]
            assert folded["finish"] == "stop"
            assert folded["usage"] is None
            namespace: dict[str, Any] = {}
            exec(code_block(folded["content"]) + "\n" + task["test"], namespace)
        assert sim.requests == 3

    with_conn(SimConfig(tasks=TASKS, fail_rate=0.0), check)


def test_wrong_first_attempt_then_correct() -> None:
    config = SimConfig(tasks=TASKS, fail_rate=0.34, seed=7)
    failing = failing_ids(config)
    assert len(failing) == round(0.34 * 3) == 1
    (bad_id,) = failing
    task = next(t for t in TASKS if t["id"] == bad_id)

    async def check(sim: SimServer, conn: Conn) -> None:
        first = chat(f"Implement:\n{task['spec']}")
        wrong = assemble(await conn.request("POST", "/v1/chat/completions", first))["content"]
        with pytest.raises(ValueError, match="simulated wrong first attempt"):
            exec(code_block(wrong) + "\n" + task["test"], {})
        first["messages"] += [{"role": "assistant", "content": wrong}, {"role": "user", "content": "failed"}]
        right = assemble(await conn.request("POST", "/v1/chat/completions", first))["content"]
        exec(code_block(right) + "\n" + task["test"], {})

    with_conn(config, check)


def test_usage_only_with_include_usage_and_non_streaming() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        prompt = f"Implement:\n{TASKS[0]['spec']}"
        with_usage = assemble(await conn.request("POST", "/v1/chat/completions", chat(prompt, usage=True)))
        usage = with_usage["usage"]
        assert usage["prompt_tokens"] == len(prompt) // 4 + 1
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
        whole = (await conn.request("POST", "/chat/completions", chat(prompt, stream=False))).json()
        assert whole["object"] == "chat.completion"
        assert whole["choices"][0]["message"]["content"] == with_usage["content"]
        assert whole["choices"][0]["finish_reason"] == "stop"
        assert whole["usage"] == usage

    with_conn(SimConfig(tasks=TASKS, fail_rate=0.0), check)


def test_identical_requests_give_identical_bytes_and_keep_alive() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        body = chat(f"Implement:\n{TASKS[2]['spec']}", usage=True)
        # Two requests written back to back on one connection (pipelined), then two answers.
        conn.send("POST", "/v1/chat/completions", body)
        conn.send("POST", "/v1/chat/completions", body)
        one, two = await conn.response(), await conn.response()
        assert one.status == two.status == 200
        assert one.body == two.body
        other = await Conn.open(sim)
        try:
            assert (await other.request("POST", "/v1/chat/completions", body)).body == one.body
        finally:
            await other.close()

    with_conn(SimConfig(tasks=TASKS), check)


def test_script_replays_tool_calls() -> None:
    script = (
        {"content": "Let me look.", "tool_calls": [{"name": "read", "arguments": {"path": "a.py"}}]},
        {"tool_calls": [{"id": "c1", "name": "run", "arguments": '{"cmd": "pytest -q"}'}, {"name": "ls"}]},
        {"content": "All done."},
    )

    async def check(sim: SimServer, conn: Conn) -> None:
        msgs: list[dict[str, Any]] = [{"role": "user", "content": "fix it"}]
        got = []
        for _ in range(4):
            folded = assemble(
                await conn.request(
                    "POST", "/v1/chat/completions", {"model": MODEL, "messages": msgs, "stream": True}
                )
            )
            got.append(folded)
            msgs = [
                *msgs,
                {"role": "assistant", "content": folded["content"]},
                {"role": "tool", "content": "ok"},
            ]
        assert got[0]["content"] == "Let me look." and got[0]["finish"] == "tool_calls"
        assert [(c["name"], json.loads(c["arguments"])) for c in got[0]["tool_calls"]] == [
            ("read", {"path": "a.py"})
        ]
        assert got[0]["tool_calls"][0]["id"]
        assert [(c["id"], c["name"], c["arguments"]) for c in got[1]["tool_calls"]][0] == (
            "c1",
            "run",
            '{"cmd": "pytest -q"}',
        )
        assert got[1]["tool_calls"][1]["name"] == "ls" and got[1]["tool_calls"][1]["arguments"] == "{}"
        assert (got[2]["content"], got[2]["finish"], got[2]["tool_calls"]) == ("All done.", "stop", [])
        assert got[3]["content"] == "All done."  # past the end: the last reply again
        whole = (await conn.request("POST", "/v1/chat/completions", chat("x", stream=False))).json()
        message = whole["choices"][0]["message"]
        assert message["tool_calls"][0]["function"] == {"name": "read", "arguments": '{"path": "a.py"}'}
        assert whole["choices"][0]["finish_reason"] == "tool_calls"

    with_conn(SimConfig(policy="script", script=script), check)


def test_rate_limit_then_ok() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        resp = await conn.request("POST", "/v1/chat/completions", chat("hi"))
        assert resp.status == 429
        assert resp.headers["retry-after"] == "0.25"
        assert resp.json()["error"]["code"] == "rate_limit_exceeded"
        assert (await conn.request("POST", "/v1/chat/completions", chat("hi"))).status == 200

    with_conn(
        SimConfig(policy="script", script=({"content": "ok"},), fault="rate_limit", retry_after_s=0.25), check
    )


def test_server_error_every_request() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        for _ in range(3):
            resp = await conn.request("POST", "/v1/chat/completions", chat("hi"))
            assert resp.status == 500 and "error" in resp.json()
        assert sim.requests == 3

    with_conn(
        SimConfig(policy="script", script=({"content": "ok"},), fault="server_error", fault_count=-1), check
    )


def test_hang_sends_nothing_and_close_is_fast() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        conn.send("POST", "/v1/chat/completions", chat("hi"))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await conn.reader.read(1)
        start = time.monotonic()
        await sim.close()
        assert time.monotonic() - start < 0.5
        assert sim.connections == set()
        assert await conn.reader.read(1) == b""  # the server side went away

    with_conn(SimConfig(policy="script", script=({"content": "ok"},), fault="hang"), check)


def test_stall_sends_head_and_some_chunks_then_nothing() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        conn.send("POST", "/v1/chat/completions", chat("hi"))
        status, headers = await conn.head()
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        got = await conn.reader.read(65536)
        assert got.count(b"data: ") == 3 and b"[DONE]" not in got
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await conn.reader.read(1)
        await conn.close()  # the client giving up frees the stalled connection
        for _ in range(200):
            if not sim.connections:
                break
            await asyncio.sleep(0.01)
        assert sim.connections == set()

    with_conn(
        SimConfig(policy="script", script=({"content": "one two three four five six"},), fault="stall"), check
    )


def test_truncate_ends_body_without_done() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        resp = await conn.request("POST", "/v1/chat/completions", chat("hi"))
        assert resp.status == 200
        assert "[DONE]" not in resp.data and len(resp.data) == 3
        assert all(json.loads(d)["choices"][0]["finish_reason"] is None for d in resp.data)
        assert assemble(await conn.request("POST", "/v1/chat/completions", chat("hi")))["finish"] == "stop"

    with_conn(
        SimConfig(policy="script", script=({"content": "one two three four five six"},), fault="truncate"),
        check,
    )


def test_malformed_event_then_done() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        resp = await conn.request("POST", "/v1/chat/completions", chat("hi"))
        assert resp.data[-1] == "[DONE]"
        with pytest.raises(json.JSONDecodeError):
            json.loads(resp.data[-2])
        whole = await conn.request("POST", "/v1/chat/completions", chat("hi", stream=False))
        with pytest.raises(json.JSONDecodeError):
            whole.json()

    with_conn(
        SimConfig(policy="script", script=({"content": "one two three"},), fault="malformed", fault_count=2),
        check,
    )


def test_disconnect_mid_stream() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        conn.send("POST", "/v1/chat/completions", chat("hi"))
        status, headers = await conn.head()
        assert status == 200
        with pytest.raises(asyncio.IncompleteReadError):
            await conn.body(headers)

    with_conn(
        SimConfig(policy="script", script=({"content": "one two three four five"},), fault="disconnect"),
        check,
    )


def test_script_step_fault_fires_once() -> None:
    script = ({"content": "first", "fault": "rate_limit"}, {"content": "second"})

    async def check(sim: SimServer, conn: Conn) -> None:
        assert (await conn.request("POST", "/v1/chat/completions", chat("hi"))).status == 429
        assert assemble(await conn.request("POST", "/v1/chat/completions", chat("hi")))["content"] == "first"

    with_conn(SimConfig(policy="script", script=script, retry_after_s=0), check)


def test_unknown_model_auth_and_bad_requests() -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        auth = {"Authorization": "Bearer sekret"}
        resp = await conn.request("GET", "/v1/models")
        assert (resp.status, resp.json()["error"]["code"]) == (401, "invalid_api_key")
        resp = await conn.request("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
        assert resp.status == 401
        resp = await conn.request(
            "POST", "/v1/chat/completions", chat("hi") | {"model": "gpt-x"}, headers=auth
        )
        assert (resp.status, resp.json()["error"]["code"]) == (404, "model_not_found")
        assert (await conn.request("POST", "/v1/chat/completions", b"{not json", headers=auth)).status == 400
        assert (
            await conn.request("POST", "/v1/chat/completions", {"model": MODEL}, headers=auth)
        ).status == 400
        assert (await conn.request("GET", "/v1/chat/completions", headers=auth)).status == 405
        assert (await conn.request("POST", "/v1/chat/completions", chat("hi"), headers=auth)).status == 200
        assert sim.requests == 1

    with_conn(SimConfig(policy="script", script=({"content": "ok"},), api_key="sekret"), check)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        (b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 9999999999\r\n\r\n", 413),
        (b"GET /v1/models HTTP/1.1\r\nbad header\r\n\r\n", 400),
    ],
)
def test_unreadable_requests_get_an_error_and_close(raw: bytes, status: int) -> None:
    async def check(sim: SimServer, conn: Conn) -> None:
        conn.writer.write(raw)
        resp = await conn.response()
        assert resp.status == status and resp.headers["connection"] == "close"
        assert resp.headers["x-agentrt-simulated"] == "1"
        assert await conn.reader.read() == b""

    with_conn(SimConfig(), check)


def test_non_loopback_host_rejected() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="loopback"):
            await start_sim_server(SimConfig(), host="0.0.0.0")

    asyncio.run(main())


def test_tps_and_ttft_pacing() -> None:
    text = " ".join(f"w{i}" for i in range(20))

    async def check(sim: SimServer, conn: Conn) -> None:
        start = time.monotonic()
        resp = await conn.request("POST", "/v1/chat/completions", chat("hi"))
        elapsed = time.monotonic() - start
        assert assemble(resp)["content"] == text
        assert 0.08 + 0.05 <= elapsed < 1.0

    with_conn(SimConfig(policy="script", script=({"content": text},), tps=200, ttft_ms=50), check)


def test_hundred_concurrent_streams() -> None:
    async def one(sim: SimServer, i: int) -> str:
        conn = await Conn.open(sim)
        try:
            task = TASKS[i % 3]
            folded = assemble(
                await conn.request("POST", "/v1/chat/completions", chat(f"Do:\n{task['spec']}"))
            )
            assert folded["finish"] == "stop"
            return code_block(folded["content"])
        finally:
            await conn.close()

    async def check(sim: SimServer) -> None:
        start = time.monotonic()
        codes = await asyncio.gather(*(one(sim, i) for i in range(100)))
        assert codes == [TASKS[i % 3]["spec"] + TASKS[i % 3]["solution"] for i in range(100)]
        assert sim.requests == 100
        assert time.monotonic() - start < 5.0

    serve(SimConfig(tasks=TASKS, fail_rate=0.0, tps=500), check)


def test_run_sim_server_until_sigterm() -> None:
    code = (
        "import sys\n"
        "from agentrt.model.sim import SimConfig, run_sim_server\n"
        "run_sim_server(SimConfig(), port=0, ready=lambda line: print(line, flush=True))\n"
    )
    src = str(Path(agentrt.__file__).parents[1])
    env = os.environ | {"PYTHONPATH": src}
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line and "simulated model" in line
        base = line.split("listening on ")[1].split()[0]
        port = int(base.rsplit(":", 1)[1].split("/")[0])

        async def probe() -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
            return int(data.split()[1])

        assert asyncio.run(probe()) == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0


def test_fault_rate_draws_seeded_faults_from_the_mix() -> None:
    from agentrt.model.sim.app import SimApp

    def faults(seed: int) -> list[str | None]:
        app = SimApp(SimConfig(policy="script", script=({"content": "hi"},), seed=seed, fault_rate=0.3,
                               fault_mix=("server_error", "truncate")))  # fmt: skip
        out = []
        for _ in range(200):
            turn = app._reply(app.config.model, [{"role": "user", "content": "x"}], True)
            out.append(turn.mode)
        return out

    first = faults(1)
    assert first == faults(1) and first != faults(2)  # seeded: replayable, and the seed matters
    drawn = [m for m in first if m is not None]
    assert set(drawn) == {"server_error", "truncate"}
    assert 40 <= len(drawn) <= 80  # about 30 % of 200


def test_fault_rate_and_mix_are_validated() -> None:
    from agentrt.model.sim.config import validate_config

    with pytest.raises(ValueError, match="fault_rate"):
        validate_config(SimConfig(fault_rate=1.5))
    with pytest.raises(ValueError, match="unknown fault modes"):
        validate_config(SimConfig(fault_mix=("explode",)))
