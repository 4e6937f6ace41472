"""The text tool-call protocol: parsing every format, history rewriting, and the wrapper end to end."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.messages import Completion, Message, TextDelta, ToolCall
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint
from agentrt.model.sim import SimConfig, start_sim_server
from agentrt.model.text_tools import (
    TextToolModel,
    format_tool_call,
    parse_tool_calls,
    rewrite_history,
    tools_instructions,
)

NAMES = ("shell", "read_file", "write_file")
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "shell",
            "description": "Run a shell command in the workspace.",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    },
]
LS = '{"command":"ls"}'


def calls_of(text: str) -> list[tuple[str, str]]:
    return [(c.name, c.arguments) for c in parse_tool_calls(text, NAMES)[1]]


# -- formats ----------------------------------------------------------------------------------------


def test_tag_with_surrounding_text() -> None:
    text = 'Let me look.\n<tool_call>\n{"name": "shell", "arguments": {"command": "ls"}}\n</tool_call>\nThen I decide.'
    content, calls = parse_tool_calls(text, NAMES)
    assert content == "Let me look.\n\nThen I decide."
    assert calls == [ToolCall(id="call_1", name="shell", arguments=LS)]


def test_unclosed_last_tag() -> None:
    text = 'one\n<tool_call>{"name": "shell", "arguments": {"command": "pwd"}}</tool_call>\n<tool_call>{"name": "shell", "arguments": {"command": "ls"}}'
    content, calls = parse_tool_calls(text, NAMES)
    assert content == "one"
    assert [(c.id, c.arguments) for c in calls] == [("call_1", '{"command":"pwd"}'), ("call_2", LS)]
    # Unclosed, followed by prose: the call ends where its JSON ends.
    content, calls = parse_tool_calls(
        '<tool_call>{"name": "shell", "arguments": {"command": "ls"}}\nWaiting.', NAMES
    )
    assert (content, len(calls)) == ("Waiting.", 1)


def test_tag_with_fence_inside_and_junk_before_close() -> None:
    text = '<tool_call>\n```json\n{"name": "shell", "arguments": {"command": "echo ```"}}\n```\n</tool_call>'
    assert parse_tool_calls(text, NAMES) == ("", [ToolCall("call_1", "shell", '{"command":"echo ```"}')])
    extra_brace = '<tool_call>{"name": "shell", "arguments": {"command": "ls"}}}</tool_call> ok'
    assert parse_tool_calls(extra_brace, NAMES) == ("ok", [ToolCall("call_1", "shell", LS)])


def test_closing_tag_inside_a_json_string_does_not_end_the_call() -> None:
    args = {"command": "echo '</tool_call>' && echo '<tool_call>'"}
    text = "<tool_call>" + json.dumps({"name": "shell", "arguments": args}) + "</tool_call> after"
    content, calls = parse_tool_calls(text, NAMES)
    assert content == "after"
    assert [json.loads(c.arguments) for c in calls] == [args]


def test_json_fence_and_unlabelled_fence() -> None:
    text = 'Running it:\n```json\n{"name": "shell", "arguments": {"command": "ls"}}\n```\nDone.'
    assert parse_tool_calls(text, NAMES) == ("Running it:\n\nDone.", [ToolCall("call_1", "shell", LS)])
    bare = '```\n{"name": "read_file", "arguments": {"path": "a.py"}}\n```'
    assert calls_of(bare) == [("read_file", '{"path":"a.py"}')]
    labelled = '```tool_call\n{"name": "shell", "arguments": {"command": "ls"}}\n```'
    assert calls_of(labelled) == [("shell", LS)]


def test_list_of_calls_and_variants() -> None:
    text = """```json
[{"name": "shell", "arguments": {"command": "ls"}},
 {"function": "read_file", "parameters": {"path": "x"}},
 {"type": "function", "function": {"name": "shell", "arguments": "{\\"command\\": \\"pwd\\"}"}},
 {"tool": "read_file", "tool_input": {"path": "y"}}]
```"""
    assert calls_of(text) == [
        ("shell", LS),
        ("read_file", '{"path":"x"}'),
        ("shell", '{"command":"pwd"}'),
        ("read_file", '{"path":"y"}'),
    ]


def test_arguments_normalisation() -> None:
    def args(value: object) -> str:
        text = "<tool_call>" + json.dumps({"name": "shell", "arguments": value}) + "</tool_call>"
        return parse_tool_calls(text, NAMES)[1][0].arguments

    assert args({"b": 1, "a": [1, 2]}) == '{"b":1,"a":[1,2]}'  # compact, key order kept
    assert args('{"command": "ls"}') == LS  # a JSON string holding an object is decoded
    assert args(None) == "{}"
    assert args("  ") == "{}"
    assert args("ls -la") == "ls -la"  # not JSON: kept raw, never wrapped into an object
    assert args(5) == "5"
    assert args(["a"]) == '["a"]'
    assert calls_of('<tool_call>{"name": "shell"}</tool_call>') == [("shell", "{}")]


def test_malformed_tag_with_known_name_is_a_call_with_raw_arguments() -> None:
    text = 'Try:\n<tool_call>{"name": "shell", "arguments": {"command": "ls"</tool_call>\nthen'
    content, calls = parse_tool_calls(text, NAMES)
    assert content == "Try:\n\nthen"
    assert calls == [ToolCall("call_1", "shell", '{"name": "shell", "arguments": {"command": "ls"')]
    unclosed = '<tool_call>\n{"name": "read_file", "arguments": {path: x}'
    assert calls_of(unclosed) == [("read_file", '{"name": "read_file", "arguments": {path: x}')]
    unknown = '<tool_call>{"name": "rm_rf", "arguments": {</tool_call>'
    assert parse_tool_calls(unknown, NAMES) == (unknown, [])


def test_unknown_names_and_plain_code_are_left_alone() -> None:
    text = """Here is the code:
```python
def f() -> None:
    pass
```
And an example payload:
```json
{"name": "Alice", "arguments": {"age": 3}}
```
<tool_call>{"name": "browse", "arguments": {"url": "x"}}</tool_call>
```json
{"type": "function", "function": {"name": "shell", "description": "Run", "parameters": {}}}
```"""
    assert parse_tool_calls(text, NAMES) == (text, [])
    mixed = '```json\n[{"name": "shell", "arguments": {}}, {"name": "nope", "arguments": {}}]\n```'
    assert parse_tool_calls(mixed, NAMES) == (mixed, [])
    assert parse_tool_calls('Run: {"name": "shell", "arguments": {}}', NAMES)[1] == []
    assert parse_tool_calls('[1, {"name": "shell", "arguments": {}}]', NAMES)[1] == []


def test_calls_next_to_an_invented_result_are_taken() -> None:
    # Seen from Qwen2.5-Coder-1.5B: bare call objects, then a result it wrote itself, cut off by the
    # "<tool_response" stop sequence in the middle of its string.
    reply = (
        '{\n  "name": "read_file",\n  "arguments": {"path": "a.py"}\n}\n'
        '{\n  "name": "shell",\n  "arguments": {"command": ["ls"]}\n}\n'
        '{\n  "response": "'
    )
    text, calls = parse_tool_calls(reply, NAMES)
    assert [(c.name, c.arguments) for c in calls] == [
        ("read_file", '{"path":"a.py"}'),
        ("shell", '{"command":["ls"]}'),
    ]
    assert text == '{\n  "response": "'
    fenced = '```json\n{"name": "shell", "arguments": {"command": ["ls"]}}\n{"output": "a.py"}\n```\nDone.'
    assert parse_tool_calls(fenced, NAMES) == ("Done.", [ToolCall("call_1", "shell", '{"command":["ls"]}')])
    prose_after = '{"name": "shell", "arguments": {}} and then I will report.'
    assert parse_tool_calls(prose_after, NAMES) == (
        "and then I will report.",
        [ToolCall("call_1", "shell", "{}")],
    )
    assert parse_tool_calls('<tool_call>{"name": "shell"}</tool_call>', ()) == (
        '<tool_call>{"name": "shell"}</tool_call>',
        [],
    )


def test_multiple_calls_in_order_across_formats() -> None:
    text = """First.
<tool_call>{"name": "shell", "arguments": {"command": "a"}}</tool_call>
Second.
```json
{"name": "read_file", "arguments": {"path": "b"}}
```
```
<tool_call>{"name": "shell", "arguments": {"command": "c"}}</tool_call>
<tool_call>{"name": "shell", "arguments": {"command": "d"}}</tool_call>
```
Last."""
    content, calls = parse_tool_calls(text, NAMES, start=7)
    assert content == "First.\n\nSecond.\n\nLast."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_7", "shell", {"command": "a"}),
        ("call_8", "read_file", {"path": "b"}),
        ("call_9", "shell", {"command": "c"}),
        ("call_10", "shell", {"command": "d"}),
    ]


def test_whole_reply_as_bare_json() -> None:
    assert parse_tool_calls('  {"name": "shell", "arguments": {"command": "ls"}}\n', NAMES) == (
        "",
        [ToolCall("call_1", "shell", LS)],
    )


def test_pathological_inputs_do_not_raise() -> None:
    for text in (
        "[" * 50_000,
        "<tool_call>" + "[" * 50_000,
        "```json\n" + "{" * 50_000,
        "<tool_call>" * 2000,
    ):
        parse_tool_calls(text, NAMES)
    assert calls_of('<tool_call>{"name": "shell", "arguments": {"x": NaN}}</tool_call>') == [
        ("shell", '{"name": "shell", "arguments": {"x": NaN}}')
    ]


# -- properties ---------------------------------------------------------------------------------------

JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
ARGUMENTS = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=4)
PROSE = st.text(max_size=40).filter(lambda t: "<tool_call" not in t.lower() and "```" not in t)
MARKUP = st.sampled_from(
    [
        "<tool_call>",
        "</tool_call>",
        "```",
        "```json\n",
        "\n",
        "{",
        "}",
        "[",
        '"name": ',
        '"shell"',
        '"arguments": ',
        ":",
        ",",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(MARKUP | st.text(max_size=12), max_size=25), st.sampled_from([NAMES, (), ("x",)]))
def test_fuzz_never_raises_and_names_are_known(parts: list[str], names: tuple[str, ...]) -> None:
    content, calls = parse_tool_calls("".join(parts), names)
    assert all(c.name in names for c in calls)
    assert [c.id for c in calls] == [f"call_{i}" for i in range(1, len(calls) + 1)]
    assert content == content.strip()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_object(text: str) -> bool:
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except ValueError:
        return False
    return isinstance(value, dict)


@settings(max_examples=300, deadline=None)
@given(st.lists(MARKUP | st.text(max_size=8), max_size=12), st.sampled_from(["```json\n", "<tool_call>"]))
def test_fuzz_broken_call_blocks_are_repaired_or_kept_raw(parts: list[str], opener: str) -> None:
    # Blocks that start like a call of a known tool and then go wrong: the repair path must not raise,
    # and a repaired call's arguments are a strict JSON object; otherwise they are the block's raw text.
    closer = "\n```" if opener.startswith("```") else "</tool_call>"
    body = '{"name": "shell", "arguments": ' + "".join(parts)
    text = f"{opener}{body}{closer}"
    _, calls = parse_tool_calls(text, NAMES)
    for call in calls:
        assert call.name in NAMES
        assert _strict_object(call.arguments) or call.arguments in text


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(PROSE, st.sampled_from(NAMES), ARGUMENTS), max_size=4),
    PROSE,
    st.sampled_from(["\n", "", "  "]),
)
def test_round_trip_of_the_instructed_format(
    items: list[tuple[str, str, dict[str, Any]]], tail: str, sep: str
) -> None:
    # Written the way the instructions ask a model to write it.
    text = "".join(
        f"{prose}{sep}<tool_call>{sep}{json.dumps({'name': name, 'arguments': args})}{sep}</tool_call>{sep}"
        for prose, name, args in items
    )
    content, calls = parse_tool_calls(text + tail, NAMES)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [(n, a) for _, n, a in items]
    assert [c.id for c in calls] == [f"call_{i}" for i in range(1, len(items) + 1)]
    for prose in [*(p for p, _, _ in items), tail]:
        assert prose.strip() in content


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(NAMES), ARGUMENTS | JSON_VALUES.map(json.dumps) | st.text(max_size=20))
def test_format_tool_call_parses_back(name: str, arguments: Any) -> None:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, separators=(",", ":"))
    ((parsed_name, parsed_args),) = calls_of(format_tool_call(name, text))
    assert parsed_name == name
    if isinstance(arguments, dict):
        assert json.loads(parsed_args) == arguments


# -- instructions and history -----------------------------------------------------------------------


def test_tools_instructions() -> None:
    text = tools_instructions(TOOLS)
    assert '{"name":"shell","description":"Run a shell command in the workspace.","parameters":{' in text
    assert '"name":"read_file"' in text
    # A worked example that fits the shell tool's own schema (a string command here), no placeholder.
    assert '<tool_call>\n{"name": "shell", "arguments": {"command": "ls -la"}}\n</tool_call>' in text
    assert "<tool name>" not in text and "apply_patch" not in text
    assert "final answer" in text and "<tool_response" not in text  # naming it made models write one
    flat = tools_instructions([{"name": "flat", "parameters": {}}])
    assert flat.count('{"name":"flat","parameters":{}}') == 1
    assert '<tool_call>\n{"name": "<tool name>", "arguments": {' in flat
    assert tools_instructions([]) == ""


def test_tools_instructions_show_the_coding_tools_in_use() -> None:
    from agentrt.sandbox.none import NoSandbox
    from agentrt.sandbox.process import Confinement
    from agentrt.tools.apply_patch.fsops import local_write
    from agentrt.tools.coding import coding_tools

    text = tools_instructions(
        [tool.spec() for tool in coding_tools(Confinement(NoSandbox(), {}), local_write)]
    )
    calls = [json.loads(m) for m in re.findall(r"<tool_call>\n(.*)\n</tool_call>", text)]
    assert calls[0] == {"name": "shell", "arguments": {"command": ["ls", "-la"]}}
    patch = calls[1]["arguments"]["input"]
    assert calls[1]["name"] == "apply_patch" and patch.startswith("*** Begin Patch\n*** Add File: ")
    assert patch.endswith("\n*** End Patch")
    from agentrt.tools.apply_patch import parse_patch

    assert len(parse_patch(patch)) == 1  # the example is a patch agentrt accepts


def test_a_finished_call_with_a_json_slip_is_repaired() -> None:
    # Seen from Qwen2.5-Coder-1.5B: an unquoted word in the command, in a closed fence or tag.
    raw = '{\n  "name": "shell",\n  "arguments": {"command": ["python", "-m", pytest]}\n}'
    text, calls = parse_tool_calls(f"Run it:\n```json\n{raw}\n```\nThen report.", NAMES)
    fixed = ToolCall("call_1", "shell", '{"command":["python","-m","pytest"]}')
    assert (text, calls) == ("Run it:\n\nThen report.", [fixed])
    assert parse_tool_calls(f"<tool_call>{raw}</tool_call>", NAMES)[1] == [fixed]
    trailing = '```json\n{"name": "read_file", "arguments": {"file_path": "a.py",},}\n```'
    assert parse_tool_calls(trailing, NAMES)[1] == [ToolCall("call_1", "read_file", '{"file_path":"a.py"}')]


def test_a_call_block_that_cannot_be_repaired_safely_stays_malformed() -> None:
    # An open string or unbalanced brackets may be a call cut short: it must not run shortened, so
    # its raw text goes back to the model as malformed arguments.
    for raw in (
        '{"name": "shell", "arguments": {"command": "rm -rf /tmp/build}}',
        '{"name": "shell", "arguments": {"command": ["ls", x]}',
    ):
        assert parse_tool_calls(f"```json\n{raw}\n```", NAMES)[1] == [ToolCall("call_1", "shell", raw)]
    # A tag that is never closed is not repaired either.
    unclosed = '<tool_call>{"name": "shell", "arguments": {"command": [ls]}}'
    assert parse_tool_calls(unclosed, NAMES)[1][0].arguments == unclosed[len("<tool_call>") :]
    for shown in ('```json\n{"name": "Alice", x}\n```', '```\n{"id": 1, "name": "shell", x}\n```'):
        assert parse_tool_calls(shown, NAMES) == (shown, [])
    assert parse_tool_calls('```python\n{"name": "shell", x}\n```', NAMES)[1] == []


def test_text_after_the_last_call_is_dropped_only_when_asked() -> None:
    reply = 'Step 1:\n```json\n{"name": "shell", "arguments": {"command": "pytest"}}\n```\nThe tests passed.'
    assert parse_tool_calls(reply, NAMES)[0] == "Step 1:\n\nThe tests passed."
    text, calls = parse_tool_calls(reply, NAMES, drop_after_calls=True)
    assert (text, len(calls)) == ("Step 1:", 1)
    assert parse_tool_calls("No call. Done.", NAMES, drop_after_calls=True) == ("No call. Done.", [])


def test_rewrite_history() -> None:
    messages: list[Message] = [
        {"role": "system", "content": "You are a coder."},
        {"role": "user", "content": "List files."},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": LS}},
                {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": "oops"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a.py"},
        {"role": "tool", "tool_call_id": "call_2", "name": "read_file", "content": "bad arguments"},
        {"role": "user", "content": "Go on."},
    ]
    original = json.dumps(messages)
    out = rewrite_history(messages, TOOLS)
    assert json.dumps(messages) == original  # the input is not changed
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user", "user"]
    assert out[0]["content"].startswith("You are a coder.\n\n# Tools")
    assert "tool_calls" not in out[2]
    assert out[2]["content"].startswith("Looking.\n<tool_call>\n")
    content, calls = parse_tool_calls(out[2]["content"], NAMES)
    assert content == "Looking."
    assert [(c.name, c.arguments) for c in calls] == [("shell", LS), ("read_file", "oops")]
    assert out[3]["content"] == (
        '<tool_response name="shell" id="call_1">\na.py\n</tool_response>\n'
        '<tool_response name="read_file" id="call_2">\nbad arguments\n</tool_response>'
    )
    assert out[4] == {"role": "user", "content": "Go on."}
    # No system message: one is inserted; no tools: no instructions.
    assert rewrite_history([{"role": "user", "content": "hi"}], TOOLS)[0]["role"] == "system"
    assert rewrite_history([{"role": "user", "content": "hi"}], []) == [{"role": "user", "content": "hi"}]
    parts = rewrite_history([{"role": "system", "content": [{"type": "text", "text": "S"}]}], TOOLS)
    assert parts[0]["content"][0] == {"type": "text", "text": "S"}
    assert "# Tools" in parts[0]["content"][1]["text"]


# -- end to end through the simulator ----------------------------------------------------------------

CALL_TEXT = (
    'I will list the files.\n<tool_call>\n{"name": "shell", "arguments": {"command": "ls -la"}}\n</tool_call>'
    "\nThe listing shows a.py."  # a guess written before the result: the wrapper drops it
)
SCRIPT = ({"content": CALL_TEXT}, {"content": "There are two files."})


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Callable[[bytes], None]
) -> None:
    try:
        while data := await reader.read(65536):
            seen(data)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def _request_bodies(raw: bytes) -> list[dict[str, Any]]:
    """The JSON bodies of the HTTP requests in one connection's client-to-server bytes."""
    bodies = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        if head.startswith(b"POST"):
            bodies.append(json.loads(rest[:length]))
        raw = rest[length:]
    return bodies


async def _conversation(model: TextToolModel) -> tuple[Completion, list[Any], Completion]:
    messages: list[Message] = [
        {"role": "system", "content": "You are a coder."},
        {"role": "user", "content": "What files are here?"},
    ]
    first = await model.complete(messages, TOOLS)
    messages.append(first.as_message())
    messages.extend({"role": "tool", "tool_call_id": c.id, "content": "a.py\nb.py"} for c in first.tool_calls)
    events = [e async for e in model.stream(messages, TOOLS)]
    final = events[-1]
    assert isinstance(final, Completion)
    return first, events, final


def test_text_tool_model_end_to_end_with_the_simulator() -> None:
    async def main() -> tuple[Completion, list[Any], Completion, list[dict[str, Any]]]:
        sent: list[bytes] = []

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", server.port)
            buf = bytearray()
            sent_index = len(sent)
            sent.append(b"")

            def record(data: bytes) -> None:
                buf.extend(data)
                sent[sent_index] = bytes(buf)

            await asyncio.gather(_pipe(reader, up_writer, record), _pipe(up_reader, writer, lambda _: None))

        async with await start_sim_server(SimConfig(policy="script", script=SCRIPT)) as server:
            proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
            port = proxy.sockets[0].getsockname()[1]
            client = OpenAIClient(Endpoint(f"http://127.0.0.1:{port}/v1", "agentrt-sim"))
            model = TextToolModel(client)
            assert model.name == "agentrt-sim"
            try:
                first, events, final = await _conversation(model)
            finally:
                await client.aclose()
            proxy.close()
            await proxy.wait_closed()
        return first, events, final, [b for raw in sent for b in _request_bodies(raw)]

    first, events, final, bodies = asyncio.run(main())
    assert first.content == "I will list the files."
    assert first.tool_calls == (ToolCall("call_1", "shell", '{"command":"ls -la"}'),)
    assert first.finish_reason == "tool_calls"
    # What the simulator received: no native tools, the instructions, and the history as text.
    assert len(bodies) == 2
    assert all("tools" not in body for body in bodies)
    assert all("<tool_call>" in body["messages"][0]["content"] for body in bodies)
    assert bodies[0]["messages"][0]["content"].startswith("You are a coder.\n\n# Tools")
    assert [m["role"] for m in bodies[1]["messages"]] == ["system", "user", "assistant", "user"]
    assert bodies[1]["messages"][2]["content"] == "I will list the files.\n" + format_tool_call(
        "shell", '{"command":"ls -la"}'
    )
    assert bodies[1]["messages"][3]["content"].startswith('<tool_response name="shell" id="call_1">\na.py')
    # The streamed final answer: text passed on as it came, joining to the content.
    assert final.content == "There are two files."
    assert final.tool_calls == ()
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert "".join(deltas) == final.content


def test_stream_holds_back_tool_call_text() -> None:
    script = (
        {
            "content": "Let me check. <tool_call>"
            + json.dumps({"name": "shell", "arguments": {}})
            + "</tool_call>"
        },
    )

    async def main() -> list[Any]:
        async with await start_sim_server(SimConfig(policy="script", script=script, tps=2000)) as server:
            client = OpenAIClient(Endpoint(server.base_url, "agentrt-sim"))
            try:
                model = TextToolModel(client)
                return [e async for e in model.stream([{"role": "user", "content": "hi"}], TOOLS)]
            finally:
                await client.aclose()

    events = asyncio.run(main())
    final = events[-1]
    assert isinstance(final, Completion)
    assert final.tool_calls == (ToolCall("call_1", "shell", "{}"),)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == final.content == "Let me check."
    assert all("tool_call" not in e.text for e in events if isinstance(e, TextDelta))


@settings(max_examples=300, deadline=None)
@given(st.lists(MARKUP | st.text(max_size=12), max_size=25), st.data())
def test_streamed_text_is_always_a_prefix_of_the_content(parts: list[str], data: st.DataObject) -> None:
    from agentrt.model.text_tools import _SafeText

    text = "".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    safe = _SafeText()
    passed = "".join(safe.feed(chunk) for chunk in chunks)
    content, _ = parse_tool_calls(text, NAMES)
    assert content.startswith(passed)
    assert passed + safe.rest(content) == content
