"""The simulator's ``POST /v1/responses`` over raw loopback sockets: event sequence, items, steps and faults."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agentrt.model.sim import SimConfig, SimServer, failing_ids, start_sim_server
from agentrt.model.sim.policies import prompt_tokens
from agentrt.model.sim.responses import input_messages

MODEL = "agentrt-sim"
TASK = {
    "id": "Fake/0",
    "spec": 'def f(x):\n    """Return x plus one."""\n',
    "test": "assert f(1) == 2\n",
    "solution": "    return x + 1\n",
}


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def events(self) -> list[tuple[str, str]]:
        """``(event name, data)`` of each SSE event, in order."""
        out = []
        for block in self.body.decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
            if "data" in fields:
                out.append((fields.get("event", "message"), fields["data"]))
        return out

    @property
    def data(self) -> list[dict[str, Any]]:
        return [json.loads(d) for _, d in self.events]


async def request(sim: SimServer, body: Any, path: str = "/v1/responses", method: str = "POST") -> Resp:
    """One request on a fresh connection; reads until the server ends the response or closes."""
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    try:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: sim\r\nContent-Length: {len(raw)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + raw)
        async with asyncio.timeout(5):
            data = await reader.read()
        return parse(data)
    finally:
        writer.close()


def parse(data: bytes) -> Resp:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") != "chunked":
        return Resp(int(lines[0].split()[1]), headers, rest)
    body = b""
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body, rest = body + rest[:size], rest[size + 2 :]
    return Resp(int(lines[0].split()[1]), headers, body)


def serve(config: SimConfig, fn: Callable[[SimServer], Awaitable[None]]) -> None:
    async def main() -> None:
        sim = await start_sim_server(config)
        try:
            await fn(sim)
        finally:
            await sim.close()

    asyncio.run(main())


def script(*replies: Any, **kw: Any) -> SimConfig:
    return SimConfig(policy="script", script=replies, **kw)


def req(items: Any = "hi", stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "input": items, "stream": stream} | extra


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def said(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "shell", "arguments": "{}"}


def output(call_id: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "ok"}


def text_of(resp: Resp) -> str:
    return "".join(d["delta"] for d in resp.data if d["type"] == "response.output_text.delta")


def test_text_reply_event_sequence_and_usage() -> None:
    async def check(sim: SimServer) -> None:
        for path in ("/v1/responses", "/responses"):
            resp = await request(sim, req(instructions="Be brief."), path)
            assert resp.status == 200 and resp.headers["content-type"] == "text/event-stream"
            assert all(name == json.loads(data)["type"] for name, data in resp.events)
            types = [d["type"] for d in resp.data]
            assert types == [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                *["response.output_text.delta"] * 3,
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
            assert [d["sequence_number"] for d in resp.data] == list(range(len(types)))
            assert text_of(resp) == "one two three"
            created, final = resp.data[0]["response"], resp.data[-1]["response"]
            assert (created["status"], created["output"], created["id"]) == ("in_progress", [], final["id"])
            assert final["status"] == "completed" and final["id"].startswith("resp_")
            assert final["output"] == [resp.data[-2]["item"]]
            assert final["output"][0]["content"][0]["text"] == "one two three"
            prompt = (len("Be brief.") + len("hi")) // 4 + 1
            assert final["usage"] == {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 3,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + 3,
            }

    serve(script({"content": "one two three"}), check)


def test_reasoning_and_function_call_items() -> None:
    reply = {
        "reasoning": "Look first.",
        "content": "Looking.",
        "tool_calls": [{"id": "c1", "name": "shell", "arguments": {"cmd": "ls"}}, {"name": "read"}],
    }

    async def check(sim: SimServer) -> None:
        resp = await request(sim, req())
        done = [d["item"] for d in resp.data if d["type"] == "response.output_item.done"]
        assert [i["type"] for i in done] == ["reasoning", "message", "function_call", "function_call"]
        assert done[0]["summary"] == [{"type": "summary_text", "text": "Look first."}]
        reasoning = "".join(
            d["delta"] for d in resp.data if d["type"] == "response.reasoning_summary_text.delta"
        )
        assert reasoning == "Look first."
        assert [(i["call_id"], i["name"], i["arguments"]) for i in done[2:]] == [
            ("c1", "shell", '{"cmd": "ls"}'),
            (done[3]["call_id"], "read", "{}"),
        ]
        assert done[3]["call_id"].startswith("call_") and len({i["id"] for i in done}) == 4
        for index, item in enumerate(done[2:], start=2):
            args = [
                d for d in resp.data if d.get("output_index") == index and "arguments" in d.get("type", "")
            ]
            assert "".join(d["delta"] for d in args[:-1]) == args[-1]["arguments"] == item["arguments"]
        added = [d for d in resp.data if d["type"] == "response.output_item.added"]
        assert [d["output_index"] for d in added] == [0, 1, 2, 3]
        assert added[2]["item"]["arguments"] == "" and added[2]["item"]["status"] == "in_progress"
        final = resp.data[-1]["response"]
        assert final["output"] == done
        assert final["usage"]["output_tokens_details"] == {"reasoning_tokens": 2}
        assert final["usage"]["output_tokens"] == 2 + 1 + (1 + 2) + (1 + 1)

    serve(script(reply), check)


def test_non_streamed_response_object_matches_the_stream() -> None:
    reply = {"reasoning": "Hm.", "content": "Done.", "tool_calls": [{"name": "shell", "arguments": {}}]}

    async def check(sim: SimServer) -> None:
        whole = await request(sim, req(stream=False))
        assert whole.status == 200 and whole.headers["content-type"] == "application/json"
        obj = whole.json()
        assert (obj["object"], obj["status"], obj["model"]) == ("response", "completed", MODEL)
        streamed = (await request(sim, req())).data[-1]["response"]
        assert obj["output"] != [] and [i["type"] for i in obj["output"]] == [
            i["type"] for i in streamed["output"]
        ]
        assert obj["usage"] == streamed["usage"]
        absent = await request(sim, {"model": MODEL, "input": "hi"})  # stream defaults to false
        assert absent.json()["output"][1]["content"][0]["text"] == "Done."

    serve(script(reply), check)


def test_identical_requests_give_identical_bytes() -> None:
    async def check(sim: SimServer) -> None:
        body = req([user("hi"), said("one"), call("c1"), output("c1")], tools=[])
        one, two = await request(sim, body), await request(sim, body)
        assert one.body == two.body and one.status == 200

    serve(script({"content": "a", "tool_calls": [{"name": "x"}]}, {"content": "b c"}), check)


def test_steps_count_assistant_turns_from_items() -> None:
    steps = tuple({"content": f"step{i}"} for i in range(4))
    histories = {
        "step0": [user("go")],
        "step1": [user("go"), said("a"), call("c1"), output("c1")],
        "step2": [
            user("go"),
            call("c1"),
            output("c1"),
            {"type": "reasoning", "summary": []},
            call("c2"),
            output("c2"),
        ],
        "step3": [
            user("go"),
            said("a"),
            user("more"),
            said("b"),
            said("b2"),
            user("and"),
            call("c"),
            output("c"),
        ],
    }

    async def check(sim: SimServer) -> None:
        for want, items in histories.items():
            assert text_of(await request(sim, req(items))) == want

    serve(script(*steps), check)


def test_input_items_read_back_as_chat_messages() -> None:
    body = {
        "instructions": "sys",
        "input": [user("go"), said("a"), call("c1"), output("c1"), {"role": "user", "content": "plain"}],
    }
    messages = input_messages(body)
    assert messages == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "a",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "shell", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "user", "content": "plain"},
    ]
    chat = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "a"},
    ]
    chat += [{"role": "tool", "content": "ok"}, {"role": "user", "content": "plain"}]
    assert prompt_tokens(messages) == prompt_tokens(chat)


def test_humaneval_attempts_over_responses() -> None:
    config = SimConfig(tasks=(TASK,), fail_rate=1.0)
    assert failing_ids(config) == {"Fake/0"}

    def code(resp: Resp) -> str:
        return text_of(resp).split("```python\n", 1)[1].split("\n```", 1)[0]

    async def check(sim: SimServer) -> None:
        first = await request(sim, req([user(f"Implement:\n{TASK['spec']}")]))
        with pytest.raises(ValueError, match="simulated wrong first attempt"):
            exec(code(first) + "\n" + TASK["test"], {})
        retry = [user(f"Implement:\n{TASK['spec']}"), said(text_of(first)), user("tests failed")]
        second = await request(sim, req(retry))
        exec(code(second) + "\n" + TASK["test"], {})
        assert "attempt 2" in text_of(second)

    serve(config, check)


def test_validation_errors() -> None:
    async def check(sim: SimServer) -> None:
        assert (await request(sim, req() | {"model": "gpt-x"})).json()["error"]["code"] == "model_not_found"
        for bad in ({"model": MODEL}, req([]), req(["text"]), req(instructions=3), b"{nope"):
            assert (await request(sim, bad)).status == 400, bad
        assert (await request(sim, b"", method="GET")).status == 405
        assert sim.requests == 0  # none reached the policy

    serve(script({"content": "ok"}), check)


def test_tps_and_ttft_pacing() -> None:
    text = " ".join(f"w{i}" for i in range(20))

    async def check(sim: SimServer) -> None:
        start = time.monotonic()
        resp = await request(sim, req())
        assert text_of(resp) == text
        assert 0.05 + 19 / 200 <= time.monotonic() - start < 1.0

    serve(script({"content": text}, tps=200, ttft_ms=50), check)


# -- faults ---------------------------------------------------------------------------------------------
TEXT = "one two three four five six"


def test_error_faults() -> None:
    async def check(sim: SimServer) -> None:
        assert (await request(sim, req())).status == 500  # the server-wide fault first
        limited = await request(sim, req())  # then the step's own
        assert (limited.status, limited.headers["retry-after"]) == (429, "0.25")
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert text_of(await request(sim, req())) == TEXT

    serve(script({"content": TEXT, "fault": "rate_limit"}, retry_after_s=0.25, fault="server_error"), check)


@pytest.mark.parametrize("fault", ["stall", "hang"])
def test_stall_and_hang_send_a_prefix_or_nothing(fault: str) -> None:
    async def check(sim: SimServer) -> None:
        reader, writer = await asyncio.open_connection(sim.host, sim.port)
        raw = json.dumps(req()).encode()
        writer.write(b"POST /v1/responses HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(raw), raw))
        got = b""
        try:
            async with asyncio.timeout(0.3):
                while chunk := await reader.read(65536):
                    got += chunk
        except TimeoutError:
            pass
        finally:
            writer.close()
        if fault == "hang":
            assert got == b""
        else:
            types = [d["type"] for d in parse(got).data]
            assert len(types) == 6 and types.count("response.output_text.delta") == 2
            assert "response.completed" not in types

    serve(script({"content": TEXT}, fault=fault), check)


def test_truncate_malformed_and_disconnect() -> None:
    step1 = [user("hi"), said("x"), user("again")]

    async def check(sim: SimServer) -> None:
        truncated = await request(sim, req())  # the server-wide fault comes first
        assert truncated.status == 200 and len(truncated.data) == 6
        assert truncated.data[-1]["type"] == "response.output_text.delta"
        malformed = await request(sim, req())  # then step 0's own fault
        names = [name for name, _ in malformed.events]
        assert names[-2:] == ["response.output_text.delta", "response.completed"] and len(names) == 8
        with pytest.raises(json.JSONDecodeError):
            json.loads(malformed.events[-2][1])
        cut = await request(sim, req(step1))  # step 1: the connection closes before the last chunk
        assert len(cut.data) == 6 and b"response.completed" not in cut.body
        assert text_of(await request(sim, req())) == TEXT
        assert text_of(await request(sim, req(step1))) == TEXT

    replies = ({"content": TEXT, "fault": "malformed"}, {"content": TEXT, "fault": "disconnect"})
    serve(script(*replies, fault="truncate"), check)
