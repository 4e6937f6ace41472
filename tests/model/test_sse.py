"""The SSE parser: the same events whatever the chunking, comments apart, line endings normalised."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agentrt.model.sse import SSEParser


def parse(pieces: list[bytes]) -> tuple[list[tuple[str, str]], int]:
    events: list[tuple[str, str]] = []
    comments = [0]

    def on_comment() -> None:
        comments[0] += 1

    parser = SSEParser(lambda name, data: events.append((name, data)), on_comment)
    for piece in pieces:
        parser.feed(piece)
    assert parser.events == len(events), "the count the exchange times idleness by"
    return events, comments[0]


def test_data_events_and_done() -> None:
    stream = b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n'
    events, _ = parse([stream])
    assert events == [("message", '{"a": 1}'), ("message", '{"b": 2}'), ("message", "[DONE]")]


def test_multiline_data_event_name_and_fields_ignored() -> None:
    stream = b"event: response.created\nid: 7\nretry: 100\ndata: line1\ndata:line2\n\n"
    events, _ = parse([stream])
    assert events == [("response.created", "line1\nline2")]


def test_comments_are_reported_not_delivered() -> None:
    events, comments = parse([b": keep-alive\n\n", b"data: x\n\n", b":ping\n\n"])
    assert events == [("message", "x")]
    assert comments == 2


def test_crlf_and_cr_line_endings() -> None:
    events, _ = parse([b"data: a\r\n\r\ndata: b\r\rdata: c\r", b"\n\r\n"])
    assert events == [("message", "a"), ("message", "b"), ("message", "c")]


def test_unterminated_event_is_not_delivered() -> None:
    events, _ = parse([b"data: complete\n\ndata: partial"])
    assert events == [("message", "complete")]


def test_utf8_split_across_pieces() -> None:
    raw = 'data: {"t": "héllo ✓"}\n\n'.encode()
    cut = raw.index("✓".encode()) + 1
    events, _ = parse([raw[:cut], raw[cut:]])
    assert events == [("message", '{"t": "héllo ✓"}')]


_payload = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=40
)
_event = st.one_of(
    st.builds(lambda p: ("data", p), _payload),
    st.builds(lambda p: ("comment", p), _payload),
)


@given(st.lists(_event, max_size=20), st.sampled_from(["\n", "\r\n", "\r"]), st.data())
def test_any_chunking_gives_the_same_events(
    items: list[tuple[str, str]], eol: str, data: st.DataObject
) -> None:
    text = ""
    expected = []
    for kind, payload in items:
        if kind == "data":
            text += f"data: {payload}{eol}{eol}"
            expected.append(("message", payload))
        else:
            text += f":{payload}{eol}{eol}"
    raw = text.encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=10)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    events, comments = parse(pieces)
    # A data value that itself starts with a space loses exactly that one space, as the SSE spec says.
    assert events == [(n, p) for n, p in expected]
    assert comments == sum(1 for k, _ in items if k == "comment")


@given(st.binary(max_size=300), st.data())
def test_arbitrary_bytes_never_crash_and_chunking_does_not_matter(raw: bytes, data: st.DataObject) -> None:
    whole, _ = parse([raw])
    cut = data.draw(st.integers(0, len(raw)))
    split, _ = parse([raw[:cut], raw[cut:]])
    assert whole == split


@given(st.lists(st.tuples(_payload, _payload), max_size=10), st.sampled_from(["\n", "\r\n", "\r"]), st.data())
def test_named_events_give_the_same_events_in_any_chunking(
    items: list[tuple[str, str]], eol: str, data: st.DataObject
) -> None:
    """``event: <name>`` then one ``data:`` line (a Responses stream), the fast path and the general one."""
    text = "".join(f"event: {name}{eol}data: {payload}{eol}{eol}" for name, payload in items)
    raw = text.encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=10)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    whole, _ = parse([raw])
    split, _ = parse(pieces)
    assert whole == split == [(n, p) for n, p in items]


def test_a_long_event_in_many_pieces_is_buffered_once_and_delivered_whole() -> None:
    payload = "x" * 200_000
    raw = f"event: big\ndata: {payload}\n\n".encode()
    events: list[tuple[str, str]] = []
    parser = SSEParser(lambda name, data: events.append((name, data)))
    for i in range(0, len(raw) - 2, 1000):
        parser.feed(raw[i : min(i + 1000, len(raw) - 2)])
    assert not events and parser.buffered == len(raw) - 2
    parser.feed(b"\n\n")
    assert events == [("big", payload)] and parser.buffered == 0
