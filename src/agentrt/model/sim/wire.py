"""Rendering a ``Reply`` as OpenAI Chat Completions output: SSE chunk events or one completion object.

A streamed reply is a lazy sequence of ``(due, bytes)`` events, where ``due`` is the offset in seconds from
the start of the response at which the event may be written; the connection writes them in order, framed
as HTTP chunks, and sleeps until an event is due. Nothing but the reply text is held per stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii

from agentrt.model.sim.policies import Reply, tokens

CREATED = 1_700_000_000
"""Fixed ``created`` timestamp, so equal requests give byte-identical responses."""

DONE = b"data: [DONE]\n\n"

Event = tuple[float, bytes]
"""``(due offset in seconds, bytes to write)``."""

_NOT_FINISHED = ',"finish_reason":null}]}\n\n'


@dataclass(frozen=True, slots=True)
class Plan:
    """What a connection sends for one request: a head, then paced body events, then an ending."""

    head: bytes
    events: Iterator[Event] = field(default_factory=lambda: iter(()))
    chunked: bool = False
    """Frame the event bytes as HTTP chunks."""
    ending: str = "done"
    """``"done"``: the response is complete (the last chunk is written when chunked); ``"stall"``: send
    nothing more and keep the connection open; ``"close"``: close the connection."""


@dataclass(frozen=True, slots=True)
class Pacing:
    ttft_s: float = 0.0
    tps: float = 0.0

    def due(self, i: int) -> float:
        """Offset at which completion token ``i`` (0-based) is sent."""
        return self.ttft_s + (i / self.tps if self.tps > 0 else 0.0)


@dataclass(frozen=True, slots=True)
class ReplyContext:
    completion_id: str
    model: str
    prompt_tokens: int
    include_usage: bool = False


_q = encode_basestring_ascii
"""JSON string literal of a str, as ``json.dumps`` writes it, without its per-call overhead."""


def tool_call_id(ctx: ReplyContext, reply: Reply, index: int) -> str:
    call_id = reply.tool_calls[index].id
    return call_id if call_id is not None else f"call_{ctx.completion_id[-16:]}_{index}"


def _deltas(ctx: ReplyContext, reply: Reply) -> Iterator[str]:
    """Delta JSON of every completion token: content words, then each tool call and its argument pieces."""
    for tok in tokens(reply.content):
        yield '{"content":' + _q(tok) + "}"
    for i, call in enumerate(reply.tool_calls):
        head = f'{{"index":{i},"id":{_q(tool_call_id(ctx, reply, i))},"type":"function","function":'
        yield '{"tool_calls":[' + head + '{"name":' + _q(call.name) + ',"arguments":""}}]}'
        for piece in tokens(call.arguments):
            yield f'{{"tool_calls":[{{"index":{i},"function":{{"arguments":{_q(piece)}}}}}]}}'


def completion_tokens(reply: Reply) -> int:
    """Completion tokens of ``reply``: one per streamed content or tool-call delta."""
    count = sum(1 for _ in tokens(reply.content))
    return count + sum(1 + sum(1 for _ in tokens(c.arguments)) for c in reply.tool_calls)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def stream_events(ctx: ReplyContext, reply: Reply, pacing: Pacing) -> Iterator[Event]:
    """Every SSE event of a streamed reply, each with the offset at which it is due."""
    prefix = (
        f'data: {{"id":"{ctx.completion_id}","object":"chat.completion.chunk","created":{CREATED},'
        f'"model":{_q(ctx.model)},"choices":[{{"index":0,"delta":'
    )
    yield 0.0, (prefix + '{"role":"assistant","content":""}' + _NOT_FINISHED).encode()
    n, ttft, step = 0, pacing.ttft_s, (1.0 / pacing.tps if pacing.tps > 0 else 0.0)
    for delta in _deltas(ctx, reply):
        yield ttft + n * step, (prefix + delta + _NOT_FINISHED).encode()
        n += 1
    last = pacing.due(max(n - 1, 0))
    finish = "tool_calls" if reply.tool_calls else "stop"
    yield last, (prefix + '{},"finish_reason":"' + finish + '"}]}\n\n').encode()
    if ctx.include_usage:
        usage = {
            "id": ctx.completion_id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": ctx.model,
            "choices": [],
            "usage": _usage(ctx.prompt_tokens, n),
        }
        yield last, b"data: " + json.dumps(usage, separators=(",", ":")).encode() + b"\n\n"
    yield last, DONE


def completion_body(ctx: ReplyContext, reply: Reply) -> bytes:
    """A whole non-streamed ``chat.completion`` object for ``reply``."""
    message: dict[str, object] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["content"] = reply.content or None
        message["tool_calls"] = [
            {
                "id": tool_call_id(ctx, reply, i),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    obj = {
        "id": ctx.completion_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": ctx.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
        ],
        "usage": _usage(ctx.prompt_tokens, completion_tokens(reply)),
    }
    return json.dumps(obj).encode()
