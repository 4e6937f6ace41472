"""The OpenAI Responses API (``POST {base}/responses``) as a second wire for the same client.

agentrt keeps its history in Chat Completions shape; ``request_body`` maps it to Responses
``instructions`` + ``input`` items, and ``ResponsesFold`` folds the streamed ``response.*`` events
into the same ``Completion``, ``TextDelta`` and ``ToolCallDelta`` values the chat wire produces (plus
``ReasoningDelta`` for a reasoning summary). ``ResponsesWire`` is the ``WireFormat`` that ties the two
to the client; only ``response.completed`` (or ``response.incomplete``) ends a stream well.

History mapping (chat → Responses):

==============================================  ==========================================================
leading ``system`` messages                     ``instructions`` (joined by blank lines), or
                                                ``developer`` message items (``developer_instructions``)
``user`` / later ``system`` / ``developer``     ``message`` item, ``input_text`` parts
``assistant`` text                              ``message`` item, ``output_text`` part
``assistant`` ``tool_calls``                    one ``function_call`` item each (``call_id``, ``name``,
                                                ``arguments``)
``tool`` (``tool_call_id``, ``content``)        ``function_call_output`` (``call_id``, ``output``)
==============================================  ==========================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from agentrt.messages import (
    REASONING_KEY,
    Completion,
    Message,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    message_text,
)
from agentrt.model.errors import BadRequest, MalformedResponse, ModelError, error_for_status
from agentrt.model.wire import Emit, ReplyCap, TextParts, ToolCallParts, load_event

_PARAM_NAMES = MappingProxyType(
    {"max_tokens": "max_output_tokens", "max_completion_tokens": "max_output_tokens"}
)
"""Chat Completions parameter names that the Responses API spells differently."""

_CHAT_ONLY_PARAMS = frozenset({"stream_options", "n"})

_CODE_STATUS = MappingProxyType(
    {
        "rate_limit_exceeded": 429,
        "context_length_exceeded": 400,
        "invalid_prompt": 400,
        "invalid_request_error": 400,
        "server_error": 500,
        "server_is_overloaded": 503,
        "slow_down": 503,
    }
)
"""HTTP status equivalent of a ``response.failed`` / ``error`` event's code; unknown codes count as 500."""

_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?)\s*(ms|s)\b", re.IGNORECASE)


# -- request -------------------------------------------------------------------------------------------
def request_body(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]] = (),
    params: Mapping[str, Any] | None = None,
    *,
    developer_instructions: bool = False,
) -> dict[str, Any]:
    """The streamed Responses request for a chat-shaped history.

    ``tool_choice: "auto"`` and ``parallel_tool_calls: true`` are sent together with ``tools``
    (never without any). ``params`` are merged last; ``max_tokens`` becomes ``max_output_tokens`` and
    chat-only keys (``stream_options``, ``n``) are dropped. ``developer_instructions``: the leading
    ``system`` messages are sent as ``developer`` items, one each, and ``instructions`` is left out.
    """
    instructions, items = to_input(messages, developer_instructions=developer_instructions)
    body: dict[str, Any] = {"model": model}
    if instructions:
        body["instructions"] = instructions
    body["input"] = items
    if tools:
        body["tools"] = [to_tool(t) for t in tools]
        body["tool_choice"] = "auto"
        body["parallel_tool_calls"] = True
    body["store"] = False
    body["stream"] = True
    for key, value in (params or {}).items():
        if key not in _CHAT_ONLY_PARAMS:
            body[_PARAM_NAMES.get(key, key)] = value
    return body


def to_input(
    messages: Sequence[Message], *, developer_instructions: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """``(instructions, input items)`` for a chat-shaped history (see the module's table)."""
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for msg in messages:
        leading = msg.get("role") == "system" and all(i.get("role") == "developer" for i in items)
        if leading and developer_instructions:
            items.extend(message_items({**msg, "role": "developer"}))
        elif leading:
            instructions.append(message_text(msg.get("content")))
        else:
            items.extend(message_items(msg))
    return "\n\n".join(t for t in instructions if t), items


def message_items(msg: Message) -> list[dict[str, Any]]:
    """One chat-shaped message as Responses items (an assistant message: its text, then each call)."""
    role = msg.get("role")
    if role == "assistant":
        return _assistant_items(msg)
    if role == "tool":
        output = message_text(msg.get("content"))
        return [
            {"type": "function_call_output", "call_id": str(msg.get("tool_call_id") or ""), "output": output}
        ]
    return [{"type": "message", "role": str(role or "user"), "content": _input_parts(msg.get("content"))}]


def append_item(messages: list[Message], item: Mapping[str, Any]) -> None:
    """Fold one Responses item (as a session file records it) into a chat-shaped history.

    Messages map by role (``developer`` messages — another agent's own instructions — are dropped);
    calls join the assistant message before them, or start one; outputs become tool messages.
    Reasoning and kinds agentrt does not replay are skipped.
    """
    kind = item.get("type")
    if kind == "reasoning":  # it goes with the assistant message that follows it
        last = messages[-1] if messages else None
        if last is not None and _bare_reasoning(last):
            last[REASONING_KEY].append(_reasoning_item(item))
        else:
            messages.append({"role": "assistant", "content": "", REASONING_KEY: [_reasoning_item(item)]})
    elif kind == "message":
        _append_message(messages, item)
    elif kind in ("function_call", "custom_tool_call"):
        _append_call(messages, item)
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        text = output if isinstance(output, str) else _output_text(output)
        messages.append({"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": text})


def _append_message(messages: list[Message], item: Mapping[str, Any]) -> None:
    role = item.get("role")
    parts = item.get("content")
    text = "".join(
        str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") in _TEXT_PARTS
    ) if isinstance(parts, list) else message_text(parts)  # fmt: skip
    if role == "developer":
        return
    if role == "assistant":
        last = messages[-1] if messages else None
        if _bare_reasoning(last):  # the reasoning before this answer: one assistant message
            assert last is not None
            last["content"] = text
        else:
            messages.append({"role": "assistant", "content": text})
    else:
        messages.append({"role": "system" if role == "system" else "user", "content": text})


_TEXT_PARTS = ("input_text", "output_text", "text")


def _append_call(messages: list[Message], item: Mapping[str, Any]) -> None:
    arguments = item.get("arguments")
    if not isinstance(arguments, str):  # a freeform (custom) tool call carries its text as ``input``
        arguments = json.dumps({"input": str(item.get("input") or "")})
    call = {
        "id": str(item.get("call_id") or ""),
        "type": "function",
        "function": {"name": str(item.get("name") or ""), "arguments": arguments},
    }
    last = messages[-1] if messages else None
    if last is not None and last.get("role") == "assistant":
        last.setdefault("tool_calls", []).append(call)  # after its text, or its reasoning
    else:
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})


def _bare_reasoning(message: Message | None) -> bool:
    """An assistant message that so far holds only reasoning (no text, no calls)."""
    return (
        message is not None
        and message.get("role") == "assistant"
        and bool(message.get(REASONING_KEY))
        and not message.get("content")
        and not message.get("tool_calls")
    )


def _output_text(output: object) -> str:
    """A tool output recorded as an object or a list of content items: its text."""
    if isinstance(output, dict):
        content = output.get("content")
        return content if isinstance(content, str) else _output_text(content)
    if isinstance(output, list):
        return "".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
    return ""


def to_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A chat function tool as a Responses function tool (non-strict); any other tool unchanged."""
    fn = tool.get("function")
    if tool.get("type") != "function" or not isinstance(fn, dict):
        return dict(tool)
    out: dict[str, Any] = {"type": "function", "name": fn.get("name", "")}
    if "description" in fn:
        out["description"] = fn["description"]
    out["parameters"] = fn.get("parameters") or {"type": "object", "properties": {}}
    out["strict"] = bool(fn.get("strict", False))
    return out


def _reasoning_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A reasoning output item as it is sent back: id, summary and encrypted content (``store`` is off)."""
    kept = {k: item[k] for k in ("id", "summary", "encrypted_content") if item.get(k) is not None}
    return {"type": "reasoning", "summary": [], **kept}


def _assistant_items(msg: Message) -> list[dict[str, Any]]:
    calls = msg.get("tool_calls") or ()
    text = message_text(msg.get("content"))
    items: list[dict[str, Any]] = [dict(r) for r in msg.get(REASONING_KEY) or () if isinstance(r, dict)]
    if text or not calls:  # an empty turn stays a turn
        items.append(
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
        )
    for call in calls:
        fn = call.get("function") or {}
        items.append(
            {
                "type": "function_call",
                "call_id": str(call.get("id") or ""),
                "name": str(fn.get("name") or ""),
                "arguments": str(fn.get("arguments") or "{}"),
            }
        )
    return items


def _input_parts(content: object) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return [{"type": "input_text", "text": message_text(content)}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append({"type": "input_image", "image_url": str(url or "")})
        else:
            parts.append(dict(part))  # already a Responses part (input_text, input_image, input_file)
    return parts


# -- response ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Item:
    """One output item of the response being streamed, by its ``output_index``."""

    kind: str
    tool: int = -1
    """Index among the response's function calls (the ``ToolCallDelta.index``)."""
    streamed: bool = False
    """Deltas arrived for it, so its ``output_item.done`` adds nothing."""


class ResponsesWire:
    """``WireFormat`` for the Responses API (``developer_instructions``: see ``request_body``)."""

    path = "/responses"

    def __init__(self, developer_instructions: bool = False) -> None:
        self.developer_instructions = developer_instructions

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        params: Mapping[str, Any],
    ) -> bytes:
        body = request_body(
            model, messages, tools, params, developer_instructions=self.developer_instructions
        )
        return json.dumps(body, ensure_ascii=False).encode()

    def fall_back(self, error: BadRequest) -> bool:
        return False  # nothing optional is sent that a server could reject

    def fold(self, url: str, emit: Emit, max_chars: int) -> ResponsesFold:
        return ResponsesFold(url, emit, max_chars)


class ResponsesFold:
    """Folds ``response.*`` SSE events (or one plain ``response`` object) into a ``Completion``."""

    __slots__ = (
        "_content",
        "_cap",
        "_emit",
        "_finish",
        "_items",
        "_part",
        "_reasoning",
        "_reasoning_items",
        "_tools",
        "_url",
        "_usage",
        "done",
    )

    terminal = "response.completed"

    def __init__(self, url: str, emit: Emit, max_chars: int) -> None:
        self._url = url
        self._emit: Emit | None = emit
        self._content = TextParts()
        self._tools: dict[int, ToolCallParts] = {}
        self._items: dict[int, _Item] = {}
        self._reasoning = TextParts()
        self._reasoning_items: list[dict[str, Any]] = []
        self._cap = ReplyCap(url, max_chars, (self._content, self._reasoning), self._tools)
        self._part: tuple[str, int, int] | None = None
        self._finish: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self.done = False

    def event(self, name: str, data: str) -> None:
        if self.done or data.strip() == "[DONE]":  # a Chat Completions habit some compatible servers keep
            return
        try:
            event = load_event(data)
            self._dispatch(str(event.get("type") or name), event)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise MalformedResponse(
                f"malformed stream event from {self._url}: {data[:120]!r} ({exc})"
            ) from exc

    def _dispatch(self, kind: str, event: dict[str, Any]) -> None:
        match kind:
            case "response.output_text.delta":
                self._on_text(event, event["delta"])
            case "response.function_call_arguments.delta":
                self._on_arguments(event, event["delta"])
            case "response.function_call_arguments.done":
                if not self._item(event).streamed:
                    self._on_arguments(event, event.get("arguments") or "")
            case "response.reasoning_summary_text.delta" | "response.reasoning_text.delta":
                index = event.get("summary_index", event.get("content_index", 0))
                self._on_reasoning((kind, int(event.get("output_index", 0)), int(index)), event["delta"])
            case "response.output_item.added":
                self._on_item_added(int(event.get("output_index", len(self._items))), event["item"])
            case "response.output_item.done":
                self._on_item_done(int(event.get("output_index", len(self._items))), event["item"])
            case "response.completed" | "response.incomplete":
                self._on_end(event.get("response") or {}, complete=kind == "response.completed")
            case "response.failed":
                raise response_error((event.get("response") or {}).get("error"), self._url)
            case "error":
                raise response_error(
                    event.get("error") if isinstance(event.get("error"), dict) else event, self._url
                )
            case _:
                pass  # response.created, in_progress, content_part.*, *.done texts: nothing to fold

    # -- items ------------------------------------------------------------------------------------
    def _item(self, event: Mapping[str, Any]) -> _Item:
        index = int(event.get("output_index", 0))
        item = self._items.get(index)
        if item is None:  # a delta for an item that was never announced
            item = self._items[index] = _Item("message")
        return item

    def _on_item_added(self, index: int, item: Mapping[str, Any]) -> None:
        kind = str(item.get("type", ""))
        record = self._items[index] = _Item(kind)
        if kind != "function_call":
            return
        record.tool = len(self._tools)
        parts = self._tools[record.tool] = ToolCallParts(
            str(item.get("call_id") or ""), str(item.get("name") or "")
        )
        args = str(item.get("arguments") or "")
        if args:
            parts.args.append(args)
            record.streamed = True
        self._cap.count()
        if self._emit is not None:
            self._emit(ToolCallDelta(record.tool, parts.id or None, parts.name or None, args))

    def _on_item_done(self, index: int, item: Mapping[str, Any]) -> None:
        if item.get("type") == "reasoning":
            self._reasoning_items.append(_reasoning_item(item))
        record = self._items.get(index)
        if record is None:
            self._on_item_added(index, item)
            record = self._items[index]
        if record.streamed:
            if record.kind == "function_call":
                parts = self._tools[record.tool]
                parts.id = parts.id or str(item.get("call_id") or "")
                parts.name = parts.name or str(item.get("name") or "")
            return
        if record.kind == "message":
            text = "".join(str(p.get("text") or "") for p in item.get("content") or () if isinstance(p, dict))
            self._on_text({"output_index": index}, text)
        elif record.kind == "function_call":
            parts = self._tools[record.tool]
            parts.id = parts.id or str(item.get("call_id") or "")
            self._on_arguments({"output_index": index}, str(item.get("arguments") or ""))
        elif record.kind == "reasoning":
            for i, part in enumerate(item.get("summary") or ()):
                if isinstance(part, dict):
                    self._on_reasoning(("summary", index, i), str(part.get("text") or ""))

    # -- deltas -----------------------------------------------------------------------------------
    def _on_text(self, event: Mapping[str, Any], text: str) -> None:
        if text:
            self._item(event).streamed = True
            self._content.append(text)
            self._cap.count()
            if self._emit is not None:
                self._emit(TextDelta(text))

    def _on_arguments(self, event: Mapping[str, Any], args: str) -> None:
        record = self._item(event)
        if record.tool < 0:
            raise MalformedResponse(f"function call arguments for a {record.kind!r} item from {self._url}")
        if args:
            record.streamed = True
            self._tools[record.tool].args.append(args)
            self._cap.count()
            if self._emit is not None:
                self._emit(ToolCallDelta(record.tool, None, None, args))

    def _on_reasoning(self, part: tuple[str, int, int], text: str) -> None:
        if not text:
            return
        self._items.setdefault(part[1], _Item("reasoning")).streamed = True
        if part != self._part and self._reasoning:
            text = "\n\n" + text  # a new summary part
        self._part = part
        self._reasoning.append(text)
        self._cap.count()
        if self._emit is not None:
            self._emit(ReasoningDelta(text))

    def _on_end(self, response: Mapping[str, Any], *, complete: bool) -> None:
        self._cap.check()
        self._usage = response.get("usage") or None
        if complete:
            self._finish = "tool_calls" if self._tools else "stop"
        else:
            reason = (response.get("incomplete_details") or {}).get("reason")
            self._finish = "content_filter" if reason == "content_filter" else "length"
        self.done = True

    # -- the end ----------------------------------------------------------------------------------
    def mute(self) -> None:
        self._emit = None

    def plain(self, body: str) -> None:
        try:
            doc = json.loads(body)
            if doc.get("status") == "failed":
                raise response_error(doc.get("error"), self._url)
            for index, item in enumerate(doc["output"]):
                self._on_item_done(index, item)
            self._on_end(doc, complete=doc.get("status", "completed") == "completed")
        except (ValueError, TypeError, KeyError, AttributeError):
            raise MalformedResponse(f"unexpected response from {self._url}: {body[:120]!r}") from None

    def completion(self, ttft_s: float | None, total_s: float) -> Completion:
        return Completion(
            content=self._content.text(),
            tool_calls=tuple(parts.call(i) for i, parts in sorted(self._tools.items())),
            finish_reason=self._finish,
            usage=self._make_usage(),
            ttft_s=ttft_s,
            total_s=total_s,
            reasoning=self._reasoning.text(),
            reasoning_items=tuple(self._reasoning_items),
        )

    def _make_usage(self) -> Usage:
        u = self._usage
        if not u:
            return Usage(0, self._cap.deltas, counted=True)
        cached = (u.get("input_tokens_details") or {}).get("cached_tokens") or 0
        return Usage(
            int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0), cached_tokens=int(cached)
        )


def response_error(err: object, url: str) -> ModelError:
    """The typed error for a ``response.failed`` or ``error`` event's error object."""
    if not isinstance(err, dict):
        err = {"message": str(err or "the response failed")}
    body = json.dumps({"error": err})
    code = str(err.get("code") or err.get("type") or "")
    message = str(err.get("message") or "")
    if code == "insufficient_quota":  # a 429 that waiting does not fix
        return BadRequest(f"HTTP 429 from {url}: {message or code}", 429, body)
    status = int(code) if code.isdigit() else _CODE_STATUS.get(code, 500)
    return error_for_status(status, body, url=url, retry_after=_retry_hint(message))


def _retry_hint(message: str) -> float | None:
    """Seconds from an OpenAI "Please try again in 1.5s" (or "in 250ms") message."""
    match = _TRY_AGAIN.search(message)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000.0 if match.group(2).lower() == "ms" else value
