"""The Chat Completions wire (``POST {base}/chat/completions``): ``ChatWire`` and its ``ChatFold``.

The body asks for ``stream_options.include_usage``; a server that rejects that field with a 400 gets
the request again without it, and from then on its completions count streamed deltas as tokens
(``Usage.counted``). A stream ends well only with ``data: [DONE]``.
"""

from __future__ import annotations

import json
import json.decoder
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from agentrt.messages import REASONING_KEY, Completion, Message, TextDelta, ToolCallDelta, Usage
from agentrt.model.errors import BadRequest, MalformedResponse, ModelError, error_for_status
from agentrt.model.wire import Emit, ReplyCap, TextParts, ToolCallParts, load_event


class ChatWire:
    """``WireFormat`` for Chat Completions."""

    path = "/chat/completions"

    def __init__(self) -> None:
        self.include_usage = True
        """Ask for ``stream_options.include_usage``; cleared for good when the server rejects it."""

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        params: Mapping[str, Any],
    ) -> bytes:
        sent = [
            {k: v for k, v in m.items() if k != REASONING_KEY} if REASONING_KEY in m else m for m in messages
        ]
        body: dict[str, Any] = {"model": model, "messages": sent, "stream": True}
        if self.include_usage:
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = list(tools)
        body.update(params)
        return json.dumps(body, ensure_ascii=False).encode()

    def fall_back(self, error: BadRequest) -> bool:
        if self.include_usage and "stream_options" in error.body:
            self.include_usage = False  # an older server: count tokens instead
            return True
        return False

    def fold(self, url: str, emit: Emit, max_chars: int) -> ChatFold:
        return ChatFold(url, emit, max_chars)


class ChatFold:
    """Folds ``chat.completion.chunk`` events (or one plain ``chat.completion``) into a ``Completion``."""

    __slots__ = (
        "_cap",
        "_content",
        "_emit",
        "_finish",
        "_learn",
        "_template",
        "_tools",
        "_url",
        "_usage",
        "done",
    )

    terminal = "[DONE]"

    def __init__(self, url: str, emit: Emit, max_chars: int) -> None:
        self._url = url
        self._emit: Emit | None = emit
        self._content = TextParts()
        self._tools: dict[int, ToolCallParts] = {}
        self._cap = ReplyCap(url, max_chars, (self._content,), self._tools)
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self._template: ContentTemplate | None = None
        self._learn = _LEARN_TRIES
        self.done = False

    def event(self, name: str, data: str) -> None:
        if self.done:
            return
        template = self._template
        if template is not None:
            text = template.text(data)
            if text is not None:  # what the whole parse would give: this text, nothing else
                if text:
                    self._on_text(text)
                return
        if data == "[DONE]":
            self._cap.check()
            self.done = True
            return
        try:
            chunk = load_event(data)
            if "error" in chunk:
                raise _server_error(chunk["error"], self._url)
            for choice in chunk.get("choices") or ():
                self._on_choice(choice)
            if chunk.get("usage"):
                self._usage = chunk["usage"]
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise MalformedResponse(
                f"malformed stream chunk from {self._url}: {data[:120]!r} ({exc})"
            ) from exc
        if template is None and self._learn and _plain_text(chunk):
            self._learn -= 1
            self._template = ContentTemplate.learn(data, chunk)

    def _on_text(self, text: str) -> None:
        self._content.append(text)
        self._cap.count()
        if self._emit is not None:
            self._emit(TextDelta(text))

    def _on_choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        text = delta.get("content")
        if text:
            self._on_text(text)
        for tc in delta.get("tool_calls") or ():
            self._on_tool_delta(tc)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]

    def _on_tool_delta(self, tc: dict[str, Any]) -> None:
        index = int(tc.get("index", 0))
        parts = self._tools.setdefault(index, ToolCallParts())
        fn = tc.get("function") or {}
        if tc.get("id"):
            parts.id = tc["id"]
        name = fn.get("name")
        if name:
            parts.name += name
        args = fn.get("arguments") or ""
        if args:
            parts.args.append(args)
        self._cap.count()
        if self._emit is not None:
            self._emit(ToolCallDelta(index, tc.get("id"), name, args))

    def mute(self) -> None:
        self._emit = None

    def plain(self, body: str) -> None:
        try:
            doc = json.loads(body)
            msg = doc["choices"][0]["message"]
            self._finish = doc["choices"][0].get("finish_reason")
            self._usage = doc.get("usage")
            content = msg.get("content") or ""
            if not isinstance(content, str):
                raise TypeError(f"content is {type(content).__name__}")
            self._content.append(content)  # into the parts the cap watches
            for i, tc in enumerate(msg.get("tool_calls") or ()):
                fn = tc["function"]
                self._tools[i] = ToolCallParts(
                    tc.get("id", ""), fn["name"], TextParts(fn.get("arguments") or "")
                )
            self._cap.check()
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            raise MalformedResponse(f"unexpected response from {self._url}: {body[:120]!r}") from None

    def completion(self, ttft_s: float | None, total_s: float) -> Completion:
        u = self._usage
        if u:
            usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        else:
            usage = Usage(0, self._cap.deltas, counted=True)
        return Completion(
            content=self._content.text(),
            tool_calls=tuple(parts.call(i) for i, parts in sorted(self._tools.items())),
            finish_reason=self._finish,
            usage=usage,
            ttft_s=ttft_s,
            total_s=total_s,
        )


_scanstring: Callable[[str, int], tuple[str, int]] = cast(Any, json.decoder).scanstring
"""The C string decoder ``json.loads`` uses for each string (the same result, the same errors)."""
_LEARN_TRIES = 4
"""Chunks a stream may spend learning its ``ContentTemplate`` (a parse and a comparison each)."""
_CONTENT_KEY = re.compile(r'"content"\s*:\s*"')
_PROBE = 'p\u00e9"\\\n\U0001f600'
"""The text a template is proven with: escapes of every kind a server may write."""


def _plain_text(chunk: Any) -> bool:
    """Whether ``chunk`` does nothing but add text: one choice whose delta has non-empty text and no
    tool call, not finished, no usage, no error (the chunks a stream is made of)."""
    if not isinstance(chunk, dict) or "error" in chunk or chunk.get("usage"):
        return False
    choices = chunk.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return False
    delta = choices[0].get("delta")
    return (
        isinstance(delta, dict)
        and isinstance(delta.get("content"), str)
        and bool(delta["content"])
        and not delta.get("tool_calls")
        and not choices[0].get("finish_reason")
    )


class ContentTemplate:
    """The text around the content of a stream's plain text chunks, so that the next ones are read
    by decoding their one string instead of parsing the whole chunk (a full parse is most of the
    fold's CPU per token: ~3.4 us of a chunk's ~4; this ~0.4).

    Servers repeat one chunk over and over with only the text changing (the stream's id, model and
    creation time are the same in every chunk). ``learn`` cuts a parsed plain-text chunk around its
    content string and proves the cut: the two sides around another string (``_PROBE``) must parse
    to that same chunk with that text. JSON parses a string the same wherever it stands, so any
    chunk made of the same two sides around one string is that chunk with that string's text, and
    ``text`` returns it; anything else (another shape, a role, a finish, usage, a tool call, bytes
    that differ by one) is ``None`` and takes the whole parse."""

    __slots__ = ("prefix", "suffix")

    def __init__(self, prefix: str, suffix: str) -> None:
        self.prefix, self.suffix = prefix, suffix

    @classmethod
    def learn(cls, data: str, chunk: dict[str, Any]) -> ContentTemplate | None:
        """The template of ``data`` (which parsed to the plain-text ``chunk``), or ``None``."""
        keys = list(_CONTENT_KEY.finditer(data))
        if not keys:
            return None
        start = keys[-1].end() - 1
        try:
            _, end = _scanstring(data, start + 1)
            probed = load_event(data[:start] + json.dumps(_PROBE) + data[end:])
        except ValueError:
            return None
        choice = chunk["choices"][0]
        expected = {**chunk, "choices": [{**choice, "delta": {**choice["delta"], "content": _PROBE}}]}
        return cls(data[:start], data[end:]) if probed == expected else None

    def text(self, data: str) -> str | None:
        """The text of a chunk made of this template around one JSON string; ``None`` for any other."""
        prefix, suffix = self.prefix, self.suffix
        if not (data.startswith(prefix) and data.endswith(suffix)):
            return None
        start, stop = len(prefix), len(data) - len(suffix)
        if stop - start < 2 or data[start] != '"':
            return None
        try:
            text, end = _scanstring(data, start + 1)
        except ValueError:
            return None
        return text if end == stop else None


def _server_error(err: Any, url: str) -> ModelError:
    body = json.dumps({"error": err})
    code = str(err.get("code", "")) if isinstance(err, dict) else ""
    status = int(code) if code.isdigit() else 500
    return error_for_status(status, body, url=url)
