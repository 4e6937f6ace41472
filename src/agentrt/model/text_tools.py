"""The text tool-call protocol: tool calls written as text, for models that cannot call tools natively.

Local models served without a tool-call parser (Qwen GGUF models under llama.cpp, for example) answer a
request that carries ``tools`` with the call written into the message text. ``TextToolModel`` wraps any
``Model`` so that the rest of agentrt still sees native tool calls:

* the tools are described in the system prompt (``tools_instructions``) and never sent as ``tools``;
* earlier tool calls and results in the history become text (``rewrite_history``): ``<tool_call>``
  blocks in the assistant message, ``<tool_response>`` blocks in a user message;
* calls are found in the reply text (``parse_tool_calls``) and returned as ``Completion.tool_calls``.

What ``parse_tool_calls`` recognises, and what it decides:

* ``<tool_call>JSON</tool_call>`` tags; the closing tag may be missing (then the call ends where its
  JSON ends); the JSON may sit in a fence inside the tag; junk between the JSON and the closing tag is
  dropped. A fence that holds nothing but such tags is removed with them.
* Fenced blocks labelled ``json``, ``tool_call``, ``tool_calls``, ``tool``, ``function_call`` or
  unlabelled, whose whole content is JSON; and JSON at the very start of a reply (small models often
  answer with bare call objects and then go on to invent the result: the text after them stays text).
* The JSON is one object or a list of objects (or several objects in a row). A call object is
  ``{"name", "arguments"}``, ``{"function": name, "parameters"}``, ``{"tool": name, ...}`` or
  ``{"type": "function", "function": {"name", "arguments"}}``; ``parameters``, ``args``, ``input`` and
  ``tool_input`` are accepted for ``arguments``. An object with a ``description`` and no ``arguments``
  is a tool definition, not a call.
* A block (one tag, one fence, or the JSON a reply starts with) is taken when it holds at least one
  call, every call in it names a tool in ``tool_names`` and every value in it is an object that is not
  a tool definition; its other objects (a ``{"response": ...}`` the model wrote for itself) are dropped
  with it. Otherwise it stays in the text untouched (it is code or data the model showed).
* Arguments become compact JSON when they are a JSON object, or a string that decodes to one; missing,
  null or blank arguments become ``{}``. Anything else is never turned into an object: a non-object
  value keeps its JSON text (``5``, ``["a"]``) and a string that is not JSON stays that raw string.
  So ``ToolCall.arguments`` is either a JSON object or text that does not decode to one, which the
  agent loop reports back to the model as malformed arguments.
* A ``<tool_call>`` tag whose content is not valid JSON, but names a known tool
  (``"name": "shell"`` anywhere in it), is still a call: its arguments are the tag's raw content, so
  the loop can tell the model its call was malformed instead of silently ignoring it. So is a call
  fence whose content is not JSON but opens with ``{"name": "<known tool>"`` (the object's first key).
  When such a block is finished (closing tag or fence) and its quotes and brackets balance, a slip in
  its JSON is repaired (``json-repair``): small models write ``["python", "-m", pytest]``.
* With ``drop_after_calls`` (what ``TextToolModel`` asks for), the text after the last call is
  dropped: it was written before any result came back, so it can only be a guess (small models go on
  to "report" a test run that has not happened). As with native tool calls, a reply ends at its calls.
* Ids are ``call_<n>``, numbered in order from ``start``; the removed spans' surroundings are joined
  with at most one blank line and the remaining text is stripped. Parsing never raises.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentrt.interfaces import Model
from agentrt.messages import (
    Completion,
    Message,
    StreamEvent,
    StreamRestart,
    TextDelta,
    ToolCall,
    message_text,
)
from agentrt.model.wire import TextParts

_TAG_RE = re.compile(r"<(/?)tool_call>", re.IGNORECASE)
_OPEN_TAG_RE = re.compile(r"<tool_call>", re.IGNORECASE)
_CLOSE_TAG_RE = re.compile(r"</tool_call>", re.IGNORECASE)
_FENCE_RE = re.compile(r"```([A-Za-z0-9_+#.-]*)")
_NAME_RE = re.compile(r'"(?:name|function|tool)"\s*:\s*"([^"\\]*)"')
_WS_RE = re.compile(r"\s*")

_CALL_LABELS = frozenset({"", "json", "tool_call", "tool_calls", "tool", "function_call"})
_ARG_KEYS = ("arguments", "parameters", "args", "input", "tool_input")

_INSTRUCTIONS = """# Tools

You can call the tools listed below, one JSON object per line (name, description, and parameters as a JSON Schema):
<tools>
{tools}
</tools>

To call a tool, write a block like this, with the arguments as a JSON object that matches the tool's parameters:
{example}
You may write several such blocks, in the order they should run; then end your reply. The results come back in the next message: never guess a result and never write one yourself.
A reply without any <tool_call> block is your final answer: say what you changed and what the commands you ran showed."""

# Worked examples, shown for the tools a request offers (when their parameters have the expected
# shape). A small model copies a concrete call far more faithfully than a placeholder: measured with
# Qwen2.5-Coder-1.5B, a placeholder-only prompt led it to write `<function-name>` tags or an invented
# result instead of a call.
_PATCH_EXAMPLE = "*** Begin Patch\n*** Add File: hello.py\n+def hello():\n+    return 'hi'\n*** End Patch"
_PLACEHOLDER = '{"name": "<tool name>", "arguments": {"<parameter>": <value>}}'

STOP = ["<tool_response"]
"""Stop sequences for text-protocol models: a model that starts to invent a tool result is cut off there."""

_Call = tuple[str, str]
"""A parsed call: ``(name, arguments text)``."""


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    calls: list[_Call] = field(default_factory=list)


# -- instructions and history -------------------------------------------------------------------------


def tool_name(tool: dict[str, Any]) -> str:
    """The name of a tool given in Chat Completions shape (``{"type": "function", "function": {...}}``) or flat."""
    spec = tool.get("function")
    name = spec.get("name") if isinstance(spec, dict) else tool.get("name")
    return name if isinstance(name, str) else ""


def tools_instructions(tools: Sequence[dict[str, Any]]) -> str:
    """System-prompt text that lists ``tools`` and the ``<tool_call>`` format; ``""`` when there are none."""
    if not tools:
        return ""
    lines = []
    for tool in tools:
        function = tool.get("function")
        spec: dict[str, Any] = function if isinstance(function, dict) else tool
        entry = {"name": tool_name(tool)}
        entry.update({k: spec[k] for k in ("description", "parameters") if k in spec})
        lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
    return _INSTRUCTIONS.format(tools="\n".join(lines), example=_examples(tools))


def _examples(tools: Sequence[dict[str, Any]]) -> str:
    blocks = [block for block in map(_example, tools) if block]
    if not blocks:
        blocks = [f"<tool_call>\n{_PLACEHOLDER}\n</tool_call>\n"]
    return "\n".join(blocks)


def _example(tool: dict[str, Any]) -> str | None:
    function = tool.get("function")
    spec: dict[str, Any] = function if isinstance(function, dict) else tool
    params = spec.get("parameters")
    props = params.get("properties") if isinstance(params, dict) else None
    kind = props.get("command", {}).get("type") if isinstance(props, dict) else None
    name = tool_name(tool)
    if name == "shell" and kind in ("array", "string"):
        command: Any = ["ls", "-la"] if kind == "array" else "ls -la"
        call = {"name": name, "arguments": {"command": command}}
        return f"<tool_call>\n{json.dumps(call)}\n</tool_call>\n"
    if name == "apply_patch" and isinstance(props, dict) and "input" in props:
        call = {"name": name, "arguments": {"input": _PATCH_EXAMPLE}}
        note = "To create a file, call apply_patch (every line of the new file starts with +):"
        return f"{note}\n<tool_call>\n{json.dumps(call)}\n</tool_call>\n"
    return None


def format_tool_call(name: str, arguments: str) -> str:
    """One ``<tool_call>`` block as the instructions ask for it (arguments that are not JSON go in as a string)."""
    try:
        value: Any = json.loads(arguments)
    except (ValueError, RecursionError):
        value = arguments
    body = json.dumps({"name": name, "arguments": value}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def format_tool_response(name: str, call_id: str, content: str) -> str:
    """One tool result as the text protocol shows it to the model."""
    attrs = f'name="{html.escape(name)}" id="{html.escape(call_id)}"'
    return f"<tool_response {attrs}>\n{content}\n</tool_response>"


def _assistant_as_text(message: Message, names_by_id: dict[str, str]) -> Message:
    blocks = []
    for call in message.get("tool_calls") or ():
        spec = call.get("function") if isinstance(call, dict) else None
        if not isinstance(spec, dict):
            continue
        name, args = str(spec.get("name", "")), spec.get("arguments", "{}")
        names_by_id[str(call.get("id", ""))] = name
        blocks.append(format_tool_call(name, args if isinstance(args, str) else json.dumps(args)))
    text = message_text(message.get("content")).strip()
    out = {k: v for k, v in message.items() if k != "tool_calls"}
    out["content"] = "\n".join([text, *blocks] if text else blocks)
    return out


def _with_instructions(messages: list[Message], instructions: str) -> list[Message]:
    index = next((i for i, m in enumerate(messages) if m.get("role") == "system"), None)
    if index is None:
        return [{"role": "system", "content": instructions}, *messages]
    system = dict(messages[index])
    content = system.get("content")
    if isinstance(content, list):
        system["content"] = [*content, {"type": "text", "text": "\n\n" + instructions}]
    else:
        text = message_text(content).rstrip()
        system["content"] = f"{text}\n\n{instructions}" if text else instructions
    return [*messages[:index], system, *messages[index + 1 :]]


def rewrite_history(messages: Sequence[Message], tools: Sequence[dict[str, Any]]) -> list[Message]:
    """``messages`` for the text protocol: instructions in the system prompt, tool traffic as text.

    Assistant ``tool_calls`` become ``<tool_call>`` blocks after the message's text; each run of
    ``tool`` messages becomes one user message of ``<tool_response>`` blocks. ``messages`` is not changed.
    """
    names_by_id: dict[str, str] = {}
    out: list[Message] = []
    merge = False
    for message in messages:
        role = message.get("role")
        if role == "tool":
            call_id = str(message.get("tool_call_id", ""))
            name = message.get("name") or names_by_id.get(call_id, "")
            block = format_tool_response(str(name), call_id, message_text(message.get("content")))
            if merge:
                out[-1] = {"role": "user", "content": out[-1]["content"] + "\n" + block}
            else:
                out.append({"role": "user", "content": block})
            merge = True
            continue
        merge = False
        if role == "assistant" and message.get("tool_calls"):
            out.append(_assistant_as_text(message, names_by_id))
        else:
            out.append(message)
    instructions = tools_instructions(tools)
    return _with_instructions(out, instructions) if instructions else out


# -- parsing ------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_values(text: str, pos: int) -> tuple[list[Any], int]:
    """JSON objects/arrays one after another from ``pos`` (whitespace between), and where the last ends."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    values: list[Any] = []
    end = pos
    while True:
        at = _skip_ws(text, end) if values else pos
        if text[at : at + 1] not in ("{", "["):
            return values, end
        try:
            value, end = decoder.raw_decode(text, at)
        except (ValueError, RecursionError):
            return values, end
        values.append(value)


def _arguments(holder: dict[str, Any]) -> str:
    value = next((holder[k] for k in _ARG_KEYS if k in holder), None)
    if isinstance(value, str):
        if not value.strip():
            return "{}"
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if not isinstance(decoded, dict):
            return value
        value = decoded
    if value is None:
        return "{}"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _is_definition(obj: dict[str, Any]) -> bool:
    return "description" in obj and "arguments" not in obj


def _call_from_object(obj: object) -> _Call | None:
    if not isinstance(obj, dict) or _is_definition(obj):
        return None
    spec = obj.get("function")
    if isinstance(spec, dict):
        if _is_definition(spec):
            return None
        holder, name = spec, spec.get("name")
    elif isinstance(obj.get("name"), str):
        holder, name = obj, obj["name"]
    elif isinstance(spec, str):
        holder, name = obj, spec
    else:
        holder, name = obj, obj.get("tool")
    if not isinstance(name, str) or not name:
        return None
    return name, _arguments(holder)


def _calls_from_values(values: list[Any], names: Collection[str]) -> list[_Call] | None:
    """The calls in ``values``; ``None`` when there is none, or one names an unknown tool, or a value is
    not an object or is a tool definition. Other objects next to the calls (a result the model invented)
    are dropped."""
    items: list[Any] = []
    for value in values:
        items.extend(value if isinstance(value, list) else [value])
    if any(not isinstance(item, dict) or _is_definition(item) for item in items):
        return None
    calls = [c for c in map(_call_from_object, items) if c is not None]
    if not calls or any(name not in names for name, _ in calls):
        return None
    return calls


def _skip_ws(text: str, pos: int) -> int:
    match = _WS_RE.match(text, pos)
    return match.end() if match else pos


def _malformed_tag(text: str, inner: int, names: Collection[str]) -> _Span | None:
    """A tag whose content is not JSON: a call with the raw content as arguments, if it names a known tool."""
    nxt = _TAG_RE.search(text, inner)
    stop = nxt.start() if nxt else len(text)
    end = nxt.end() if nxt and nxt.group(1) else stop
    raw = text[inner:stop].strip()
    found = _NAME_RE.search(raw)
    if found is None or found.group(1) not in names:
        return None
    closed = nxt is not None and bool(nxt.group(1))
    return _Span(inner, end, [_repaired(raw, found.group(1)) if closed else (found.group(1), raw)])


_QUOTE_RE = re.compile(r'(?<!\\)"')


def _repaired(raw: str, name: str) -> _Call:
    """The call in a finished block whose JSON has a slip (an unquoted word, a trailing comma), repaired
    by json-repair; else ``(name, raw)``, so the model hears that its call was malformed. Blocks with an
    open string or unbalanced brackets are not repaired: they may be cut short, and a shortened command
    must not run."""
    balanced = raw.count("{") == raw.count("}") and raw.count("[") == raw.count("]")
    if not balanced or len(_QUOTE_RE.findall(raw)) % 2:
        return name, raw
    try:
        from json_repair import loads  # imported only on this path: well-formed calls never need it

        call = _call_from_object(loads(raw))
        if call is None or call[0] != name:
            return name, raw
        # A repair counts only if it yields an object in strict JSON (no NaN).
        repaired_object = isinstance(json.loads(call[1], parse_constant=_reject_constant), dict)
    except Exception:  # a repair library must not break parsing, whatever it meets
        return name, raw
    return call if repaired_object else (name, raw)


def _tag_at(text: str, inner: int, names: Collection[str]) -> _Span | None:
    """The call in the ``<tool_call>`` tag whose content starts at ``inner`` (span start set by the caller)."""
    pos = _skip_ws(text, inner)
    fenced = text.startswith("```", pos)
    if fenced:
        newline = text.find("\n", pos)
        pos = _skip_ws(text, newline if newline >= 0 else len(text))
    values, end = _decode_values(text, pos)
    if not values:
        return _malformed_tag(text, inner, names)
    calls = _calls_from_values(values, names)
    if calls is None:
        return None
    after = _skip_ws(text, end)
    if fenced and text.startswith("```", after):
        end = after + 3
        after = _skip_ws(text, end)
    close = _CLOSE_TAG_RE.match(text, after)
    if close is None:
        nxt = _TAG_RE.search(text, after)
        close = nxt if nxt is not None and nxt.group(1) else None
    return _Span(inner, close.end() if close else end, calls)


def _tag_spans(text: str, names: Collection[str]) -> list[_Span]:
    spans: list[_Span] = []
    pos = 0
    while (tag := _OPEN_TAG_RE.search(text, pos)) is not None:
        span = _tag_at(text, tag.end(), names)
        if span is None:
            pos = tag.end()
            continue
        span.start = tag.start()
        spans.append(span)
        pos = span.end
    return spans


def _covering(pos: int, spans: list[_Span]) -> _Span | None:
    return next((s for s in spans if s.start <= pos < s.end), None)


def _fence_close(text: str, pos: int, tags: list[_Span]) -> int:
    """Index of the next ``` at or after ``pos`` outside every tag span, or -1."""
    while (found := text.find("```", pos)) >= 0:
        inside = _covering(found, tags)
        if inside is None:
            return found
        pos = inside.end
    return -1


def _only_tags(text: str, start: int, stop: int, tags: list[_Span]) -> bool:
    inner = [s for s in tags if start <= s.start < stop]
    if not inner:
        return False
    pos = start
    for span in inner:
        if text[pos : span.start].strip():
            return False
        pos = span.end
    return not text[pos:stop].strip()


def _fence_call(text: str, fence: re.Match[str], names: Collection[str]) -> _Span | None:
    if fence.group(1).lower() not in _CALL_LABELS:
        return None
    values, end = _decode_values(text, _skip_ws(text, fence.end()))
    after = _skip_ws(text, end)
    if not values or not text.startswith("```", after):
        return _malformed_fence(text, fence, names)
    calls = _calls_from_values(values, names)
    return None if calls is None else _Span(fence.start(), after + 3, calls)


def _malformed_fence(text: str, fence: re.Match[str], names: Collection[str]) -> _Span | None:
    """A fence that starts like a call object but is not JSON (an unquoted string, say), naming a known
    tool: a call with the raw content as arguments, so the model hears its call was malformed."""
    start = _skip_ws(text, fence.end())
    close = text.find("```", start)
    if not text.startswith("{", start) or close < 0:
        return None
    raw = text[start:close].strip()
    found = _NAME_RE.match(raw, _skip_ws(raw, 1))
    if found is None or found.group(1) not in names:
        return None
    return _Span(fence.start(), close + 3, [_repaired(raw, found.group(1))])


def _fence_spans(text: str, names: Collection[str], tags: list[_Span]) -> list[_Span]:
    """Fenced calls, and fences that only wrap tag calls (as empty spans that merge with those)."""
    spans: list[_Span] = []
    pos = 0
    while (fence := _FENCE_RE.search(text, pos)) is not None:
        inside = _covering(fence.start(), tags)
        if inside is not None:
            pos = inside.end
            continue
        span = _fence_call(text, fence, names)
        close = _fence_close(text, fence.end(), tags)
        if span is None and close >= 0 and _only_tags(text, fence.end(), close, tags):
            span = _Span(fence.start(), close + 3)
        if span is not None:
            spans.append(span)
            pos = span.end
        else:
            pos = close + 3 if close >= 0 else len(text)
    return spans


def _bare_span(text: str, names: Collection[str]) -> _Span | None:
    """The JSON calls a reply starts with (what follows them stays text)."""
    values, end = _decode_values(text, _skip_ws(text, 0))
    calls = _calls_from_values(values, names) if values else None
    return None if calls is None else _Span(0, end, calls)


def _merged(spans: list[_Span]) -> list[_Span]:
    out: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and span.start < out[-1].end:
            out[-1].end = max(out[-1].end, span.end)
            out[-1].calls.extend(span.calls)
        else:
            out.append(_Span(span.start, span.end, list(span.calls)))
    return out


def _join(pieces: list[str]) -> str:
    """Join the text around removed spans: the gap keeps at most one blank line, or one space."""
    out = [pieces[0].rstrip()]
    gap = pieces[0][len(out[0]) :]
    for piece in pieces[1:]:
        body = piece.strip()
        gap += piece[: len(piece) - len(piece.lstrip())]
        if body:
            lines = gap.count("\n")
            out.append("\n" * min(lines, 2) if lines else (" " if gap else ""))
            out.append(body)
            gap = piece[len(piece.rstrip()) :]
    return "".join(out).strip()


def parse_tool_calls(
    text: str, tool_names: Collection[str], *, start: int = 1, drop_after_calls: bool = False
) -> tuple[str, list[ToolCall]]:
    """Find the tool calls of known tools in ``text``: the text without them, and the calls (ids from ``start``).

    The formats and the choices made are those of this module's docstring. Never raises.
    """
    names = frozenset(tool_names)
    if not names:
        return text.strip(), []
    tags = _tag_spans(text, names)
    spans = _merged(tags + _fence_spans(text, names, tags))
    if not spans and (bare := _bare_span(text, names)) is not None:
        spans = [bare]
    pieces, pos = [], 0
    calls: list[ToolCall] = []
    for span in spans:
        pieces.append(text[pos : span.start])
        pos = span.end
        for name, arguments in span.calls:
            calls.append(ToolCall(id=f"call_{start + len(calls)}", name=name, arguments=arguments))
    if not (calls and drop_after_calls):
        pieces.append(text[pos:])
    return _join(pieces), calls


# -- the model wrapper --------------------------------------------------------------------------------


class _SafeText:
    """Passes on streamed text only while it cannot belong to a tool call, so every piece passed on is a
    prefix of the final content: it stops at the first ``<`` or a backtick, holds everything when the
    reply starts with ``{`` or ``[``, and holds whitespace that the final strip or a seam might remove."""

    def __init__(self) -> None:
        self.sent = TextParts()
        """The text passed on, at about its own size however many pieces it came in."""
        self._started = False
        self._stopped = False
        self._pending = ""

    def feed(self, chunk: str) -> str:
        if self._stopped:
            return ""
        cuts = [i for i in (chunk.find("<"), chunk.find("`")) if i >= 0]
        part = chunk[: min(cuts)] if cuts else chunk
        self._stopped = bool(cuts)
        if not self._started:
            part = part.lstrip()
            if not part:
                return ""
            self._started = True
            if part[0] in "{[":
                self._stopped = True
                return ""
        core = part.rstrip()
        if not core:
            self._pending += part
            return ""
        out = self._pending + core
        self._pending = part[len(core) :]
        self.sent.add(out)
        return out

    def rest(self, content: str) -> str:
        """What remains of ``content`` after the pieces already passed on."""
        sent = self.sent.text()
        return content[len(sent) :] if content.startswith(sent) else ""


def _prior_calls(messages: Sequence[Message]) -> int:
    calls = (m.get("tool_calls") for m in messages if m.get("role") == "assistant")
    return sum(len(c) for c in calls if isinstance(c, list))


class TextToolModel:
    """A ``Model`` that gives ``inner`` tools through the text protocol instead of native ``tools``.

    ``stream`` passes text on only while it cannot be part of a tool call (see ``_SafeText``); the rest
    of the reply comes as one ``TextDelta`` just before the ``Completion``, and the deltas always join
    to ``Completion.content`` (those after the last ``StreamRestart``, which is passed on). Call ids
    continue across the conversation (``call_<n>`` after the calls already in the history). Without
    tools, replies are passed through unparsed.
    """

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.name = inner.name

    def _finish(
        self, completion: Completion, messages: Sequence[Message], tools: Sequence[dict[str, Any]]
    ) -> Completion:
        if not tools:
            return completion
        names = [tool_name(t) for t in tools]
        start = 1 + _prior_calls(messages)
        content, calls = parse_tool_calls(completion.content, names, start=start, drop_after_calls=True)
        all_calls = completion.tool_calls + tuple(calls)
        if not all_calls:
            return replace(completion, content=content)
        return replace(completion, content=content, tool_calls=all_calls, finish_reason="tool_calls")

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        safe = _SafeText()
        async for event in self.inner.stream(rewrite_history(messages, tools)):
            if isinstance(event, StreamRestart):
                safe = _SafeText()  # what was passed on is void: the text starts again
                yield event
            elif isinstance(event, Completion):
                completion = self._finish(event, messages, tools)
                rest = safe.rest(completion.content)
                if rest:
                    yield TextDelta(rest)
                yield completion
            elif isinstance(event, TextDelta) and tools:
                text = safe.feed(event.text)
                if text:
                    yield TextDelta(text)
            else:
                if isinstance(event, TextDelta):
                    safe.sent.add(event.text)
                yield event

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        completion = await self.inner.complete(rewrite_history(messages, tools))
        return self._finish(completion, messages, tools)

    async def aclose(self) -> None:
        await self.inner.aclose()
