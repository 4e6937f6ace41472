"""Head-and-tail cuts: one marker, bounded size, nothing split, what is kept is really the head and tail."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from agentrt.truncation import head_tail

MARKER = re.compile(r"\n\[\.\.\. (\d+) (bytes|characters) omitted \.\.\.\]\n")


@given(st.text(max_size=3000), st.integers(10, 2000))
def test_byte_cut_is_bounded_and_keeps_head_and_tail(text: str, limit: int) -> None:
    out = head_tail(text, limit)
    data = text.encode()
    if len(data) <= limit:
        assert out == text
        return
    match = MARKER.search(out)
    assert match is not None and match.group(2) == "bytes"
    assert int(match.group(1)) == len(data) - limit
    head, tail = out[: match.start()], out[match.end() :]
    assert len(head.encode()) + len(tail.encode()) <= limit
    assert text.startswith(head) and text.endswith(tail)


@given(st.text(max_size=3000), st.integers(4, 2000))
def test_character_cut_keeps_a_quarter_head(text: str, limit: int) -> None:
    out = head_tail(text, limit, unit="characters", head_share=0.25)
    if len(text) <= limit:
        assert out == text
        return
    match = MARKER.search(out)
    assert match is not None and match.group(2) == "characters"
    head, tail = out[: match.start()], out[match.end() :]
    assert len(head) == limit // 4 and len(head) + len(tail) == limit
    assert text.startswith(head) and text.endswith(tail)
