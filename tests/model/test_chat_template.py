"""``ChatFold``'s content template: the chunks it reads by decoding only their text fold to exactly what
the whole parse of every chunk gives (the same completion, the same deltas, the same errors), for
streams in the shapes servers write and for chunks that differ from the learned one in any way."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentrt.messages import TextDelta
from agentrt.model.chat import ChatFold, ContentTemplate
from agentrt.model.errors import ModelError

URL = "http://127.0.0.1:1/v1/chat/completions"

HEADS: list[dict[str, Any]] = [
    {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"},
    {"id": "c", "object": "chat.completion.chunk", "created": 2, "model": "m", "system_fingerprint": "fp"},
    {"id": 'c"delta":', "model": 'content":"x'},  # key-like text inside values
    {},
]
CHOICE_EXTRAS: list[dict[str, Any]] = [{}, {"logprobs": None}, {"index": 0}, {"index": 0, "logprobs": None}]
SEPARATORS = [(",", ":"), (", ", ": ")]


def chunk(
    head: dict[str, Any],
    extra: dict[str, Any],
    delta: dict[str, Any],
    finish: str | None = None,
    tail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {**head, "choices": [{**extra, "delta": delta, "finish_reason": finish}], **(tail or {})}


@st.composite
def streams(draw: st.DrawFn) -> list[str]:
    head, extra = draw(st.sampled_from(HEADS)), draw(st.sampled_from(CHOICE_EXTRAS))
    seps, ascii_only = draw(st.sampled_from(SEPARATORS)), draw(st.booleans())
    role_each = draw(st.booleans())
    tail = draw(st.sampled_from([{}, {"meta": {"content": "t"}}]))  # a later "content" key: not the text

    def encode(obj: Any) -> str:
        return json.dumps(obj, separators=seps, ensure_ascii=ascii_only)

    events = [encode(chunk(head, extra, {"role": "assistant", "content": ""}))]
    kinds = st.sampled_from(["text", "text", "text", "text", "tool", "odd", "other_head", "bad", "empty"])
    for kind in draw(st.lists(kinds, max_size=25)):
        text = draw(st.one_of(st.sampled_from(["a", "b"]), st.text(max_size=8)))
        delta: dict[str, Any] = {"content": text}
        if role_each:
            delta = {"role": "assistant", "content": text}
        if kind == "text" or kind == "empty":
            events.append(encode(chunk(head, extra, delta if kind == "text" else {"content": ""}, tail=tail)))
        elif kind == "tool":
            call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": text}}
            events.append(encode(chunk(head, extra, {"tool_calls": [call]})))
        elif kind == "odd":  # the learned shape with one more byte, or a second string beside the text
            events.append(encode(chunk(head, extra, delta))[:-1] + " }")
            events.append(
                encode(chunk(head, extra, delta)).replace('"content"', '"content":"a","content"', 1)
            )
        elif kind == "other_head":
            events.append(encode(chunk({**head, "model": "other"}, extra, delta)))
        else:
            events.append(encode(chunk(head, extra, delta))[: -(len(text) % 5 + 2)])  # truncated
    events.append(encode(chunk(head, extra, {}, "stop")))
    events.append(encode({**head, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}))
    events.append("[DONE]")
    return events


def fold(events: list[str], *, learn: bool) -> tuple[object, ...]:
    seen: list[object] = []
    folder = ChatFold(URL, seen.append, 1 << 20)
    if not learn:
        folder._learn = 0  # the whole parse for every chunk: what the template must agree with
    for data in events:
        try:
            folder.event("message", data)
        except ModelError as exc:
            return ("error", type(exc).__name__, str(exc), seen)
    completion = folder.completion(None, 0.0)
    return ("ok", completion.content, completion.tool_calls, completion.finish_reason, completion.usage, seen)


@given(streams())
def test_a_stream_folds_the_same_with_and_without_the_template(events: list[str]) -> None:
    assert fold(events, learn=True) == fold(events, learn=False)


def test_a_server_stream_is_read_through_the_template_and_its_text_kept() -> None:
    head = HEADS[1]
    texts = ["def", " f", "(x", '):\n    return "\\u00e9"', "\U0001f600", "\\"]
    events = [json.dumps(chunk(head, {"index": 0}, {"content": t})) for t in texts]
    first = json.loads(events[0])
    template = ContentTemplate.learn(events[0], first)
    assert template is not None
    assert [template.text(e) for e in events] == texts
    deltas = fold([*events, "[DONE]"], learn=True)
    assert deltas[1] == "".join(texts)
    assert deltas[-1] == [TextDelta(t) for t in texts]


def test_chunks_that_do_more_than_add_text_teach_no_template() -> None:
    head = HEADS[0]
    for data in (
        chunk(head, {}, {"content": "x"}, "stop"),
        chunk(head, {}, {"content": "x", "tool_calls": [{"index": 0}]}),
        {**chunk(head, {}, {"content": "x"}), "usage": {"prompt_tokens": 1}},
    ):
        folder = ChatFold(URL, [].append, 1 << 20)
        folder.event("message", json.dumps(data))
        assert folder._template is None
