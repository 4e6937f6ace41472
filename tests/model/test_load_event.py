"""``load_event``, the per-token JSON decode of a streamed event: the same value as ``json.loads`` for
every input, or the same error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentrt.model.wire import load_event

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _outcome(decode: Any, text: str) -> tuple[object, ...]:
    try:
        return ("value", decode(text))
    except ValueError as exc:
        return ("error", type(exc).__name__, str(exc))


@given(_json_values, st.sampled_from(["", " ", "\n", " x", "}"]), st.sampled_from(["", " ", "\t"]))
def test_a_document_gives_what_json_loads_gives(value: object, tail: str, head: str) -> None:
    text = head + json.dumps(value, separators=(",", ":")) + tail
    assert _outcome(load_event, text) == _outcome(json.loads, text)


@given(st.text(max_size=60))
def test_any_text_gives_what_json_loads_gives(text: str) -> None:
    assert _outcome(load_event, text) == _outcome(json.loads, text)


def test_a_chat_chunk_decodes_whole() -> None:
    chunk = '{"id":"c","choices":[{"index":0,"delta":{"content":"h\\u00e9"},"finish_reason":null}]}'
    assert load_event(chunk) == {
        "id": "c",
        "choices": [{"index": 0, "delta": {"content": "hé"}, "finish_reason": None}],
    }
