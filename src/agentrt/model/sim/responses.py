"""The simulator's OpenAI Responses API: reading a request's ``input`` items, rendering a ``Reply`` as events.

A request's ``instructions`` and ``input`` items are read back into chat-shaped messages, so the policies
see the same history on either wire: each run of assistant-side items (assistant ``message``,
``function_call``, ``reasoning``) is one assistant turn, as one assistant message is on the chat wire.

A streamed reply is, in order: ``response.created``, ``response.in_progress``, then per output item
(a ``reasoning`` item when the reply has one, the ``message``, one ``function_call`` per tool call) its
``output_item.added``, deltas and ``output_item.done``, and last ``response.completed`` with the usage.
Every SSE event carries ``event: <type>`` and ``data: {"type": <type>, "sequence_number": n, ...}``.
Reasoning, text and argument deltas, and the start of each function call, are the paced tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from json.encoder import encode_basestring_ascii as _q
from typing import Any

from agentrt.messages import message_text
from agentrt.model.sim.policies import Reply, tokens
from agentrt.model.sim.wire import CREATED, Event, Pacing, ReplyContext, completion_tokens, tool_call_id

PREFIX_EVENTS = 6
"""Events sent before a stream fault strikes: for a plain text reply, the head events and two deltas."""

MALFORMED_EVENT = (
    b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": \n\n'
)


# -- requests ----------------------------------------------------------------------------------------
def input_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chat-shaped history of a Responses request (``instructions`` first, as a system message)."""
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    turn: dict[str, Any] | None = None  # the assistant turn being gathered
    for item in items or ():
        kind = str(item.get("type") or "message")
        role = item.get("role")
        if kind == "message" and role != "assistant":
            messages.append({"role": str(role or "user"), "content": message_text(item.get("content"))})
        elif kind.endswith("_call_output"):
            output = item.get("output")
            text = output if isinstance(output, str) else message_text(output)
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": text})
        elif kind in ("message", "reasoning") or kind.endswith("_call"):
            if turn is None or messages[-1] is not turn:
                turn = {"role": "assistant", "content": ""}
                messages.append(turn)
            _add_to_turn(turn, kind, item)
        # Other items (item references, compaction summaries) say nothing the policies read.
    return messages


def _add_to_turn(turn: dict[str, Any], kind: str, item: Mapping[str, Any]) -> None:
    if kind == "message":
        turn["content"] += message_text(item.get("content"))
    elif kind.endswith("_call"):
        call = {"name": str(item.get("name") or kind), "arguments": str(item.get("arguments") or "")}
        turn.setdefault("tool_calls", []).append(
            {"id": str(item.get("call_id") or ""), "type": "function", "function": call}
        )


# -- replies -----------------------------------------------------------------------------------------
def reasoning_tokens(reply: Reply) -> int:
    return sum(1 for _ in tokens(reply.reasoning))


def output_tokens(reply: Reply) -> int:
    """Output tokens of ``reply`` on this wire: its reasoning tokens, then the chat wire's count."""
    return reasoning_tokens(reply) + completion_tokens(reply)


def _usage(ctx: ReplyContext, reply: Reply) -> dict[str, Any]:
    out = output_tokens(reply)
    return {
        "input_tokens": ctx.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens(reply)},
        "total_tokens": ctx.prompt_tokens + out,
    }


def output_items(ctx: ReplyContext, reply: Reply) -> list[dict[str, Any]]:
    """The finished output items of ``reply``, with deterministic ids."""
    tag = ctx.completion_id[-16:]
    items: list[dict[str, Any]] = []
    if reply.reasoning:
        summary = [{"type": "summary_text", "text": reply.reasoning}]
        items.append({"id": f"rs_{tag}_{len(items)}", "type": "reasoning", "summary": summary})
    if reply.content or not reply.tool_calls:
        part = {"type": "output_text", "annotations": [], "text": reply.content}
        items.append(
            {
                "id": f"msg_{tag}_{len(items)}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    for i, call in enumerate(reply.tool_calls):
        items.append(
            {
                "id": f"fc_{tag}_{len(items)}",
                "type": "function_call",
                "status": "completed",
                "arguments": call.arguments,
                "call_id": tool_call_id(ctx, reply, i),
                "name": call.name,
            }
        )
    return items


def response_object(ctx: ReplyContext, reply: Reply | None) -> dict[str, Any]:
    """The ``response`` object: in progress and empty without a reply, completed with one."""
    return {
        "id": ctx.completion_id,
        "object": "response",
        "created_at": CREATED,
        "status": "in_progress" if reply is None else "completed",
        "error": None,
        "incomplete_details": None,
        "model": ctx.model,
        "output": [] if reply is None else output_items(ctx, reply),
        "usage": None if reply is None else _usage(ctx, reply),
    }


def response_body(ctx: ReplyContext, reply: Reply) -> bytes:
    """A whole non-streamed ``response`` object for ``reply``."""
    return json.dumps(response_object(ctx, reply)).encode()


def _sse(kind: str, seq: int, members: str) -> bytes:
    """One SSE event; ``members`` is the JSON text of the data's other members, each led by a comma."""
    return f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":{seq}{members}}}\n\n'.encode()


def _members(obj: Mapping[str, Any]) -> str:
    return "," + json.dumps(obj, separators=(",", ":"))[1:-1] if obj else ""


def completed_event(ctx: ReplyContext, reply: Reply, seq: int) -> bytes:
    """The terminal ``response.completed`` event of ``reply``."""
    return _sse("response.completed", seq, _members({"response": response_object(ctx, reply)}))


class _Clock:
    """Sequence numbers and due times while one reply is rendered."""

    __slots__ = ("due", "pacing", "seq", "tokens")

    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self.seq = self.tokens = 0
        self.due = 0.0

    def event(self, kind: str, members: str) -> Event:
        self.seq += 1
        return self.due, _sse(kind, self.seq - 1, members)

    def token(self, kind: str, members: str) -> Event:
        self.due = self.pacing.due(self.tokens)
        self.tokens += 1
        return self.event(kind, members)


def response_events(ctx: ReplyContext, reply: Reply, pacing: Pacing) -> Iterator[Event]:
    """Every SSE event of a streamed reply, each with the offset at which it is due."""
    clock = _Clock(pacing)
    head = _members({"response": response_object(ctx, None)})
    yield clock.event("response.created", head)
    yield clock.event("response.in_progress", head)
    for index, item in enumerate(output_items(ctx, reply)):
        if item["type"] == "reasoning":
            yield from _reasoning_events(clock, index, item)
        elif item["type"] == "message":
            yield from _message_events(clock, index, item)
        else:
            yield from _call_events(clock, index, item)
    yield clock.due, completed_event(ctx, reply, clock.seq)


def _reasoning_events(clock: _Clock, index: int, item: dict[str, Any]) -> Iterator[Event]:
    text = item["summary"][0]["text"]
    at = f',"item_id":{_q(item["id"])},"output_index":{index}'
    yield clock.event(
        "response.output_item.added", _members({"output_index": index, "item": item | {"summary": []}})
    )
    part = ',"part":{"type":"summary_text","text":'
    yield clock.event("response.reasoning_summary_part.added", at + ',"summary_index":0' + part + '""}')
    for tok in tokens(text):
        yield clock.token(
            "response.reasoning_summary_text.delta", at + ',"summary_index":0,"delta":' + _q(tok)
        )
    yield clock.event("response.reasoning_summary_text.done", at + ',"summary_index":0,"text":' + _q(text))
    yield clock.event(
        "response.reasoning_summary_part.done", at + ',"summary_index":0' + part + _q(text) + "}"
    )
    yield clock.event("response.output_item.done", _members({"output_index": index, "item": item}))


def _message_events(clock: _Clock, index: int, item: dict[str, Any]) -> Iterator[Event]:
    text = item["content"][0]["text"]
    at = f',"item_id":{_q(item["id"])},"output_index":{index},"content_index":0'
    opened = item | {"status": "in_progress", "content": []}
    yield clock.event("response.output_item.added", _members({"output_index": index, "item": opened}))
    part = ',"part":{"type":"output_text","annotations":[],"text":'
    yield clock.event("response.content_part.added", at + part + '""}')
    for tok in tokens(text):
        yield clock.token("response.output_text.delta", at + ',"delta":' + _q(tok) + ',"logprobs":[]')
    yield clock.event("response.output_text.done", at + ',"text":' + _q(text) + ',"logprobs":[]')
    yield clock.event("response.content_part.done", at + part + _q(text) + "}")
    yield clock.event("response.output_item.done", _members({"output_index": index, "item": item}))


def _call_events(clock: _Clock, index: int, item: dict[str, Any]) -> Iterator[Event]:
    args = item["arguments"]
    at = f',"item_id":{_q(item["id"])},"output_index":{index}'
    opened = item | {"status": "in_progress", "arguments": ""}
    yield clock.token("response.output_item.added", _members({"output_index": index, "item": opened}))
    for tok in tokens(args):
        yield clock.token("response.function_call_arguments.delta", at + ',"delta":' + _q(tok))
    yield clock.event("response.function_call_arguments.done", at + ',"arguments":' + _q(args))
    yield clock.event("response.output_item.done", _members({"output_index": index, "item": item}))
