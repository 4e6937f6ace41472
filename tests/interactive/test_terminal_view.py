"""The interactive session's renderer: what it writes for each event, checked on the text itself."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.events import (
    AgentMessage,
    AgentMessageDelta,
    CommandExecution,
    Error,
    ErrorItem,
    Event,
    FileChange,
    FileDiff,
    ItemCompleted,
    ItemStarted,
    ItemUpdated,
    PatchChange,
    Reasoning,
    Reconnecting,
    TodoEntry,
    TodoList,
    TokenUsage,
    TurnCompleted,
    TurnFailed,
)
from agentrt.interactive.render import MarkdownBlocks, TerminalView, approval_text

ESC = "\x1b["
SGR = re.compile(r"\x1b\[([0-9;]*)m")


class Screen:
    """A view whose writes are kept: ``writes`` one entry per write() call."""

    def __init__(self, *, color: bool = False, width: int = 80) -> None:
        self.writes: list[str] = []
        self.view = TerminalView(self.writes.append, width=lambda: width, color=color)

    def emit(self, *events: Event) -> None:
        for event in events:
            self.view.emit(event)

    def stream(self, text: str, size: int) -> None:
        for i in range(0, len(text), size):
            self.view.emit(AgentMessageDelta(text[i : i + size]))

    @property
    def text(self) -> str:
        return "".join(self.writes)


def plain(text: str) -> str:
    return SGR.sub("", text)


def codes_of(text: str, fragment: str) -> set[str]:
    """The SGR parameters set on ``fragment``'s line before ``fragment`` starts on its line."""
    for line in text.split("\n"):
        at = line.find(fragment)
        if at >= 0:
            return {code for m in SGR.finditer(line[:at]) for code in m.group(1).split(";")}
    raise AssertionError(f"{fragment!r} not in {text!r}")


# -- streamed Markdown ----------------------------------------------------------------------------------


def test_a_paragraph_streamed_in_small_pieces_is_written_once_at_its_blank_line() -> None:
    screen = Screen()
    screen.stream("The tests fail because the parser drops the last line.", 3)
    assert screen.writes == []
    screen.stream("\nIt is a one-line fix.\n", 3)
    assert screen.writes == []  # still the same paragraph
    screen.stream("\nNext", 3)
    assert screen.text == "The tests fail because the parser drops the last line. It is a one-line fix.\n"
    screen.emit(ItemCompleted(AgentMessage("item_0", "ignored: already streamed")))
    assert screen.text.endswith("\nNext\n")
    assert screen.text.count("parser drops") == 1
    assert "ignored" not in screen.text


def test_a_code_block_is_written_once_after_its_closing_fence_highlighted() -> None:
    code = "def add(a, b):\n    return a + b  # sum\n"
    answer = f"```python\n{code}```\n"
    screen = Screen(color=True)
    for i, char in enumerate(answer[:-1]):
        screen.emit(AgentMessageDelta(char))
        assert screen.writes == [], f"written before the closing fence, at {i}"
    screen.emit(AgentMessageDelta("\n"))
    assert len(screen.writes) == 1
    written = screen.writes[0]
    assert ESC in written
    assert codes_of(written, "def") and codes_of(written, "return")  # keywords are coloured
    assert plain(written) == code  # code intact: indentation kept, no padding, no background lines
    screen.emit(ItemCompleted(AgentMessage("item_0", answer)))
    assert len(screen.writes) == 1


def test_without_colour_nothing_has_an_escape() -> None:
    screen = Screen(color=False)
    screen.stream("# Title\n\nSome **bold** text.\n\n```python\nx = 1\n```\n\n- a\n- b\n", 2)
    screen.emit(ItemCompleted(AgentMessage("item_0", "")))
    screen.emit(ItemStarted(CommandExecution("item_1", "ls")))
    screen.emit(ItemCompleted(CommandExecution("item_1", "ls", "a\nb\n", 0, "completed")))
    screen.emit(FileDiff("a.py", "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"))
    screen.emit(TurnCompleted(TokenUsage(10, 0, 5)))
    assert "\x1b" not in screen.text
    assert "Title\n\nSome bold text.\n\nx = 1\n\n • a\n • b\n" in screen.text


def test_long_code_lines_are_left_whole_for_the_terminal_to_wrap() -> None:
    line = "value = compute(" + ", ".join(str(n) for n in range(40)) + ")"
    screen = Screen(width=40)
    screen.emit(ItemCompleted(AgentMessage("item_0", f"```python\n{line}\n```")))
    assert screen.text == line + "\n"


def test_prose_is_wrapped_to_the_width_asked_at_render_time() -> None:
    widths = [30]
    writes: list[str] = []
    view = TerminalView(writes.append, width=lambda: widths[0], color=False)
    words = "word " * 20
    view.emit(ItemCompleted(AgentMessage("item_0", words)))
    widths[0] = 60
    view.emit(ItemCompleted(AgentMessage("item_1", words)))
    first, second = writes[0], writes[1]
    assert max(len(x) for x in first.splitlines()) <= 30
    assert max(len(x) for x in second.splitlines()) > 30


def test_blocks_are_separated_by_one_blank_line() -> None:
    screen = Screen()
    screen.stream("## Plan\nLook first.\n\nThen fix.\n\n1. one\n2. two\n\n3. three\n\nDone.", 4)
    screen.view.flush()
    assert screen.text == "Plan\n\nLook first.\n\nThen fix.\n\n 1. one\n 2. two\n 3. three\n\nDone.\n"


def test_reconnecting_drops_the_unwritten_text_and_the_retry_is_not_duplicated() -> None:
    screen = Screen()
    screen.stream("First paragraph.\n\nSecond para", 3)
    assert plain(screen.text) == "First paragraph.\n"
    screen.emit(Reconnecting(1, 5, "connection reset"))
    screen.stream("Fresh answer.\n\nAll good.", 3)
    screen.emit(ItemCompleted(AgentMessage("item_0", "Fresh answer.\n\nAll good.")))
    text = screen.text
    assert "Second para" not in text
    assert "Reconnecting... 1/5 (connection reset)" in text
    assert text.count("Fresh answer.") == 1 and text.count("All good.") == 1


def test_a_non_streamed_answer_is_rendered_whole() -> None:
    screen = Screen()
    screen.emit(ItemCompleted(AgentMessage("item_0", "Done: *all* tests pass.")))
    assert screen.text == "Done: all tests pass.\n"


def test_other_output_flushes_the_streamed_text_first() -> None:
    screen = Screen()
    screen.stream("Let me run the tests:", 5)
    screen.emit(ItemStarted(CommandExecution("item_1", "pytest -q")))
    assert screen.text == "Let me run the tests:\n\n$ pytest -q\n"


def test_the_splitter_cuts_where_a_block_ends() -> None:
    blocks = MarkdownBlocks()
    assert blocks.feed("para one\ncontinued\n\n") == ["para one\ncontinued\n\n"]
    assert blocks.feed("Intro:\n```sh\nls\n\npwd\n") == ["Intro:\n"]  # the blank line is inside the code
    assert blocks.feed("```\n- a\n\n") == ["```sh\nls\n\npwd\n```\n"]
    assert blocks.feed("  more of a\n- b\n\nafter\n") == ["- a\n\n  more of a\n- b\n\n"]
    assert blocks.finish() == "after\n"


markdown_texts = st.lists(
    st.sampled_from(
        [
            "Plain words here.",
            "A **bold** and `code` line",
            "",
            "# Heading",
            "- item one",
            "  indented continuation",
            "2. numbered",
            "```python",
            "```",
            "~~~",
            "x = [i for i in range(3)]",
            "> quoted",
            "| a | b |",
            "|---|---|",
        ]
    ),
    max_size=14,
).map("\n".join)


@settings(max_examples=40, deadline=None)
@given(text=markdown_texts, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_streamed_output_does_not_depend_on_how_the_text_was_cut(text: str, cuts: list[int]) -> None:
    whole = Screen()
    whole.emit(ItemCompleted(AgentMessage("item_0", text)))
    pieces = Screen()
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    for start, end in zip(points, points[1:], strict=False):
        pieces.emit(AgentMessageDelta(text[start:end]))
    pieces.emit(ItemCompleted(AgentMessage("item_0", text)))
    assert pieces.text == whole.text


# -- commands ----------------------------------------------------------------------------------------------


def test_command_output_shows_head_and_tail_and_the_exit_status() -> None:
    screen = Screen()
    output = "".join(f"line {n}\n" for n in range(20))
    screen.emit(ItemStarted(CommandExecution("item_1", "pytest -q")))
    screen.emit(ItemCompleted(CommandExecution("item_1", "pytest -q", output, 1, "failed")))
    lines = screen.text.splitlines()
    assert lines[0] == "$ pytest -q"
    assert lines[1:4] == ["  line 0", "  line 1", "  line 2"]
    assert lines[4] == "  … 14 more lines"
    assert lines[5:8] == ["  line 17", "  line 18", "  line 19"]
    assert lines[8] == "  └ exit 1"
    assert len(lines) == 9  # the result sits right under its command


def test_exit_status_is_green_for_success_and_red_for_failure_or_decline() -> None:
    screen = Screen(color=True)
    screen.emit(ItemCompleted(CommandExecution("item_1", "true", "", 0, "completed")))
    screen.emit(ItemCompleted(CommandExecution("item_2", "false", "", 1, "failed")))
    screen.emit(
        ItemCompleted(CommandExecution("item_3", "rm -rf /", "declined by the user", None, "declined"))
    )
    text = screen.text
    assert "32" in codes_of(text, "exit 0")
    assert "31" in codes_of(text, "exit 1")
    assert "31" in codes_of(text, "declined\x1b")  # the status word, not the output line
    assert "$ rm -rf /" in plain(text)  # a command that never started still names itself
    assert "2" in codes_of(text, "declined by the user")  # output is dimmed


def test_command_output_is_stripped_of_terminal_control_sequences() -> None:
    screen = Screen()
    output = "\x1b[32mPASSED\x1b[0m\nprogress 10%\rprogress 100%\n\x07bell\n"
    screen.emit(ItemCompleted(CommandExecution("item_1", "make", output, 0, "completed")))
    assert screen.text.splitlines()[1:4] == ["  PASSED", "  progress 100%", "  bell"]


# -- patches, plans, turns ---------------------------------------------------------------------------


DIFF = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n-def add(a, b): return a - b\n+def add(a, b): return a + b\n context\n"


def test_file_diffs_are_coloured_and_headed_by_the_file() -> None:
    screen = Screen(color=True)
    screen.emit(FileDiff("calc.py", DIFF))
    text = screen.text
    assert plain(text).splitlines()[0] == "M calc.py (+1 -1)"
    assert "32" in codes_of(text, "+def add")
    assert "31" in codes_of(text, "-def add")
    assert "36" in codes_of(text, "@@ -1,2")
    assert "--- a/calc.py" not in plain(text)


def test_file_changes_list_the_files_not_already_shown_and_a_failure() -> None:
    screen = Screen()
    screen.emit(FileDiff("calc.py", DIFF))
    changes = (PatchChange("calc.py", "update"), PatchChange("old.txt", "delete"))
    screen.emit(ItemCompleted(FileChange("item_2", changes, "completed")))
    assert screen.text.endswith("\nD old.txt\n")
    assert screen.text.count("calc.py") == 1
    failed = Screen(color=True)
    failed.emit(ItemCompleted(FileChange("item_3", (PatchChange("new.py", "add"),), "failed")))
    assert plain(failed.text) == "A new.py\n✗ patch failed\n"
    assert "31" in codes_of(failed.text, "✗ patch failed")


def test_the_plan_is_a_checklist_shown_once_per_change() -> None:
    screen = Screen()
    first = TodoList("item_1", (TodoEntry("read the code", False), TodoEntry("fix it", False)))
    second = TodoList("item_1", (TodoEntry("read the code", True), TodoEntry("fix it", False)))
    screen.emit(ItemStarted(first), ItemUpdated(second), ItemCompleted(second))
    assert screen.text == "plan\n  ☐ read the code\n  ☐ fix it\n\nplan\n  ☑ read the code\n  ☐ fix it\n"


def test_reasoning_is_dimmed_and_marked() -> None:
    screen = Screen(color=True)
    screen.emit(ItemCompleted(Reasoning("item_0", "Checking the **parser**.")))
    assert plain(screen.text) == "thinking\nChecking the parser.\n"
    assert "2" in codes_of(screen.text, "Checking")


def test_turn_endings() -> None:
    screen = Screen(color=True)
    screen.emit(TurnFailed("the turn was interrupted", "interrupted"))
    screen.emit(TurnFailed("model_error: 500", "model_error"))
    screen.emit(Error("stream broke"))
    screen.emit(ItemCompleted(ErrorItem("item_9", "output truncated")))
    text = screen.text
    assert plain(text) == (
        "■ interrupted\n\nerror: model_error: 500\n\nerror: stream broke\n\nwarning: output truncated\n"
    )
    assert "33" in codes_of(text, "■ interrupted")
    assert "31" in codes_of(text, "error: model_error")
    assert "33" in codes_of(text, "warning:")


def test_an_interrupt_mid_stream_keeps_what_streamed() -> None:
    screen = Screen()
    screen.stream("Half of a sentence", 4)
    screen.emit(TurnFailed("the turn was interrupted", "interrupted"))
    assert screen.text == "Half of a sentence\n\n■ interrupted\n"


def test_usage_line() -> None:
    screen = Screen()
    screen.emit(TurnCompleted(TokenUsage(1200, 1000, 80)))
    screen.emit(TurnCompleted(TokenUsage(0, 0, 637, counted=True)))
    assert screen.text == (
        "tokens: input 1,200 (cached 1,000), output 80\n\n"
        "tokens: output 637 (counted: the server reported no usage)\n"
    )


def test_user_prompts_and_notices() -> None:
    screen = Screen(color=True)
    screen.view.user("fix the build\nand run the tests")
    screen.view.notice("model: m")
    screen.view.notice("sandbox: workspace-write")
    screen.view.notice("bad style falls back", style="not-a-style")
    assert plain(screen.text) == (
        "› fix the build\n  and run the tests\n\nmodel: m\nsandbox: workspace-write\nbad style falls back\n"
    )
    assert "1" in codes_of(screen.text, "fix the build")


# -- replay -----------------------------------------------------------------------------------------------


def call(call_id: str, name: str, args: dict[str, object]) -> dict[str, object]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


PATCH = "*** Begin Patch\n*** Update File: calc.py\n@@\n-return a - b\n+return a + b\n*** End Patch"


def test_replay_shows_prompts_commands_patches_and_answers_but_not_agentrts_own_messages() -> None:
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent."},
        {
            "role": "user",
            "content": "# AGENTS.md instructions for /repo\n\n<INSTRUCTIONS>\nbe nice\n</INSTRUCTIONS>",
        },
        {"role": "user", "content": "<environment_context>\n  <cwd>/repo</cwd>\n</environment_context>"},
        {"role": "user", "content": "fix calc"},
        {
            "role": "assistant",
            "content": "Running the tests.",
            "tool_calls": [call("c1", "shell", {"command": ["pytest", "-q"]})],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": json.dumps(
                {"output": "1 failed\n", "metadata": {"exit_code": 1, "duration_seconds": 0.4}}
            ),
        },
        {"role": "assistant", "content": None, "tool_calls": [call("c2", "apply_patch", {"input": PATCH})]},
        {"role": "tool", "tool_call_id": "c2", "content": "Success. Updated the following files:\nM calc.py"},
        {"role": "assistant", "content": "Fixed: `add` now **adds**."},
    ]
    screen = Screen(color=True)
    screen.view.replay(history)
    text = plain(screen.text)
    assert text == (
        "› fix calc\n\n"
        "Running the tests.\n\n"
        "$ pytest -q\n  1 failed\n  └ exit 1\n\n"
        f"{PATCH}\n\n"
        "Fixed: add now adds.\n"
    )
    assert "32" in codes_of(screen.text, "+return a + b")
    assert "31" in codes_of(screen.text, "exit 1")


def test_replay_of_an_interrupted_turn_and_a_declined_command() -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "clean up"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [call("c1", "shell", {"command": ["rm", "-rf", "build dir"]})],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "error: declined by the user"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [call("c2", "shell", {"command": ["sleep", "60"]})],
        },
        {"role": "user", "content": "<turn_aborted>The user interrupted the previous turn.</turn_aborted>"},
    ]
    screen = Screen()
    screen.view.replay(history)
    assert screen.text == (
        "› clean up\n\n"
        "$ rm -rf 'build dir'\n  error: declined by the user\n  └ not run\n\n"
        "$ sleep 60\n\n"
        "■ interrupted\n"
    )


# -- approvals --------------------------------------------------------------------------------------------


def test_approval_text_for_a_command() -> None:
    text = approval_text(
        ["git", "push", "origin", "main branch"],
        "/repo",
        "it writes outside the sandbox",
        width=80,
        color=True,
    )
    assert (
        plain(text) == "$ git push origin 'main branch'\n  in /repo\n  why: it writes outside the sandbox\n"
    )
    assert "1" in codes_of(text, "git push")
    assert "\x1b" not in approval_text(["ls"], "/repo", "why not", width=80, color=False)


def test_approval_text_for_a_patch_is_a_coloured_diff() -> None:
    text = approval_text(["apply_patch", PATCH], "/repo", "it edits files", width=80, color=True)
    assert plain(text) == f"{PATCH}\n  in /repo\n  why: it edits files\n"
    assert "32" in codes_of(text, "+return a + b")
    assert "31" in codes_of(text, "-return a - b")
    heredoc = ["bash", "-lc", f"apply_patch <<'EOF'\n{PATCH}\nEOF\n"]
    assert plain(approval_text(heredoc, "/repo", "", width=80, color=False)).startswith("*** Begin Patch\n")
