"""What the interactive session prints: agentrt's events as terminal text, appended and never redrawn.

``TerminalView`` is an event sink. It turns each event into ANSI text (plain text when colour is off)
and hands it to ``write``; the app prints that text above its prompt, where it stays in the
terminal's scrollback. Nothing is ever re-rendered, so streamed answers are cut into Markdown blocks
(``MarkdownBlocks``) and each block is rendered once, when it is complete.

Output is laid out in cells (a prompt, an answer block, a command and its result, a diff…) with one
blank line between cells. Long lines of commands, diffs and code are left for the terminal to wrap,
so they copy back whole; Markdown prose is wrapped to the terminal's width at the time it is shown.

rich does the rendering. ``rich.markdown`` (with markdown-it and pygments behind it) is imported on
the first answer, not with this module; ``preload`` imports it ahead of time.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console
from rich.text import Text
from rich.theme import Theme

from agentrt.agent.compact import SUMMARY_OPEN
from agentrt.agent.instructions import CONTEXT_PREFIXES
from agentrt.agent.render import agent_line, collab_line, guardian_line, mcp_line
from agentrt.events import (
    AgentEvent,
    AgentMessage,
    AgentMessageDelta,
    CollabToolCall,
    CommandExecution,
    ContextCompacted,
    Error,
    ErrorItem,
    Event,
    FileChange,
    FileDiff,
    GuardianAssessment,
    ItemCompleted,
    ItemStarted,
    ItemUpdated,
    McpToolCall,
    Reasoning,
    Reconnecting,
    TodoEntry,
    TodoList,
    TokenUsage,
    TurnCompleted,
    TurnFailed,
)
from agentrt.messages import message_text

if TYPE_CHECKING:
    from rich.console import JustifyMethod, RenderableType

OUTPUT_LINES = 8
"""A command's output is shown whole up to this many lines; longer, its first and last lines."""
_HEAD = _TAIL = 3
_MIN_WIDTH = 20
_MARKS = {"add": "A", "delete": "D", "update": "M"}
"""User-role messages agentrt writes itself (instructions.py): not the person's prompts."""
_INTERRUPTED_PREFIX = "<turn_aborted>"

_SGR = re.compile(r"\x1b\[[0-9;]*m")
_TRAILING = re.compile(r"(?:\x1b\[[0-9;]*m| )+$")
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
_ITEM = re.compile(r" {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")


def preload() -> None:
    """Import the Markdown and syntax-highlighting machinery now (e.g. while the prompt is idle)."""
    _markdown_class()


# -- streamed Markdown, cut into blocks ------------------------------------------------------------------


class MarkdownBlocks:
    """Cuts Markdown that arrives in pieces into blocks that render the same alone as in the whole.

    ``feed`` takes a piece and returns the blocks it completed; ``finish`` returns what is left. Only
    complete lines are looked at, each once, so where the text is cut depends on the text alone, never
    on how it was split into pieces. A block ends at a blank line, after a heading, after the closing
    fence of a code block, and before an opening one. A blank line inside a list does not end it until
    the next line shows the list is over (it is neither indented nor another item).
    """

    __slots__ = ("_deferred", "_fence", "_lines", "_list", "_partial")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything buffered."""
        self._partial: list[str] = []
        self._lines: list[str] = []
        self._fence = ""
        self._list = False
        self._deferred = False

    def feed(self, text: str) -> list[str]:
        done: list[str] = []
        start = 0
        while (end := text.find("\n", start)) >= 0:
            self._partial.append(text[start : end + 1])
            line = "".join(self._partial)
            self._partial.clear()
            self._take(line, done)
            start = end + 1
        if start < len(text):
            self._partial.append(text[start:])
        return done

    def finish(self) -> str:
        """The text not yet given out as a block; the buffer is then empty."""
        rest = "".join(self._lines) + "".join(self._partial)
        self.reset()
        return rest

    def _take(self, line: str, done: list[str]) -> None:
        if self._fence:
            self._in_fence(line, done)
            return
        blank = not line.strip()
        if self._deferred and not blank:
            self._decide_list(line, done)
        opened = _FENCE.match(line)
        if blank:
            self._lines.append(line)
            self._deferred = self._list
            if not self._list:
                self._cut(done)
        elif opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            self._open_fence(line, opened.group(1), done)
        elif _HEADING.match(line):
            self._list = False
            self._cut(done)
            self._lines.append(line)
            self._cut(done)
        else:
            self._list = self._list or bool(_ITEM.match(line))
            self._lines.append(line)

    def _in_fence(self, line: str, done: list[str]) -> None:
        self._lines.append(line)
        mark = line.strip()
        if (
            mark
            and mark == mark[0] * len(mark)
            and mark[0] == self._fence[0]
            and len(mark) >= len(self._fence)
        ):
            self._fence = ""
            if not self._list:
                self._cut(done)

    def _decide_list(self, line: str, done: list[str]) -> None:
        """The first line after a blank one in a list: the list goes on, or it ended at the blank."""
        self._deferred = False
        if line[0] not in " \t" and not _ITEM.match(line):
            self._list = False
            self._cut(done)

    def _open_fence(self, line: str, marker: str, done: list[str]) -> None:
        if not (self._list and line[0] in " \t"):  # a fence inside a list item stays with the list
            self._list = False
            self._cut(done)
        self._lines.append(line)
        self._fence = marker

    def _cut(self, done: list[str]) -> None:
        text = "".join(self._lines)
        self._lines.clear()
        if text.strip():
            done.append(text)


# -- rendering with rich ---------------------------------------------------------------------------------


@cache
def _theme() -> Theme:
    return Theme(
        {
            "markdown.code": "bold cyan",
            "markdown.code_block": "none",
            "markdown.h1": "bold underline",
            "markdown.h2": "bold",
            "markdown.hr": "dim",
        }
    )


@cache
def _markdown_class() -> Any:
    """A rich ``Markdown`` whose headings sit at the left and whose code blocks have no background.

    Code is highlighted with the terminal's own palette (readable on dark and light themes alike) and
    is not wrapped at the top level: the terminal wraps its long lines, so copied code stays whole.
    """
    from rich.cells import cell_len
    from rich.markdown import CodeBlock, Heading, ListItem, Markdown
    from rich.segment import Segment
    from rich.style import Style
    from rich.syntax import ANSI_LIGHT, ANSISyntaxTheme, Syntax

    # ANSI_LIGHT uses the terminal's normal colours; its white for whitespace is what would vanish.
    styles = {
        token: Style() if str(token) == "Token.Text.Whitespace" else style
        for token, style in ANSI_LIGHT.items()
    }
    code_theme = ANSISyntaxTheme(styles)

    class LeftHeading(Heading):
        LEVEL_ALIGN: ClassVar[dict[str, JustifyMethod]] = {f"h{n}": "left" for n in range(1, 7)}

    class Code(CodeBlock):
        def __rich_console__(self, console: Any, options: Any) -> Any:
            code = str(self.text).rstrip().expandtabs(4)
            top = options.max_width >= console.width
            longest = max((cell_len(line) for line in code.splitlines()), default=0)
            width = max(options.max_width, longest) if top else options.max_width
            syntax = Syntax(code, self.lexer_name, theme=code_theme, word_wrap=not top, tab_size=4)
            yield from console.render(syntax, options.update(width=width))

    class Item(ListItem):
        def render_number(self, console: Any, options: Any, number: int, last_number: int) -> Any:
            width = len(str(last_number)) + 3  # "12. "
            narrower = options.update(width=options.max_width - width)
            lines = console.render_lines(self.elements, narrower, style=self.style)
            style = console.get_style("markdown.item.number", default="none")
            for index, line in enumerate(lines):
                yield Segment(f"{number}. ".rjust(width) if index == 0 else " " * width, style)
                yield from line
                yield Segment("\n")

    class AgentMarkdown(Markdown):
        elements = {
            **Markdown.elements,
            "heading_open": LeftHeading,
            "fence": Code,
            "code_block": Code,
            "list_item_open": Item,
        }

    return AgentMarkdown


class _Painter:
    """Renders rich renderables to text: ANSI-coded with colour, plain without; tidied for scrollback."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.console = Console(
            file=io.StringIO(),
            force_terminal=color,
            color_system="standard" if color else None,
            no_color=not color,
            width=80,
            highlight=False,
            markup=False,
            emoji=False,
            theme=_theme(),
            legacy_windows=False,
        )

    def render(self, renderable: RenderableType, width: int, *, soft: bool = False) -> str:
        """``soft``: lines are not wrapped (the terminal wraps them); else wrapped to ``width``."""
        out = io.StringIO()
        self.console.file = out
        self.console.width = max(_MIN_WIDTH, width)
        self.console.print(renderable, soft_wrap=soft, crop=False)
        return self._tidy(out.getvalue())

    def markdown(self, text: str, width: int, *, style: str = "none") -> str:
        return self.render(_markdown_class()(clean(text), hyperlinks=False, style=style), width)

    def _tidy(self, text: str) -> str:
        """Trailing padding off every line, blank lines off both ends; each line ends with a newline."""
        lines = text.split("\n")
        if self.color:
            lines = [_TRAILING.sub(lambda m: "".join(_SGR.findall(m.group())), line) for line in lines]
        else:
            lines = [line.rstrip() for line in lines]
        start, end = 0, len(lines)
        while start < end and not _SGR.sub("", lines[start]).strip():
            start += 1
        while end > start and not _SGR.sub("", lines[end - 1]).strip():
            end -= 1
        return "".join(line + "\n" for line in lines[start:end])


def clean(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tabs and newlines stay); a
    carriage return keeps what a terminal would show, the text after it."""
    lines = []
    for line in text.split("\n"):
        line = line.removesuffix("\r").rpartition("\r")[2]
        lines.append(_CONTROLS.sub("", _ESCAPES.sub("", line)))
    return "\n".join(lines)


def _cost(event: TurnCompleted) -> str:
    if not event.costed:
        return ""
    from agentrt.agent.cost import cost_text

    return f" · cost {cost_text(event.cost_usd)}"


def _shown_before(path: str, diffed: set[str]) -> bool:
    """Whether a file change's (absolute) path had its diff shown (diffs name the path as patched)."""
    return any(path == d or path.endswith("/" + d.lstrip("./")) for d in diffed)


def _lines_text(lines: Iterable[Text]) -> Text:
    return Text("\n").join(lines)


def _diff_line(line: str) -> Text:
    if line.startswith(("+++", "---", "***")):
        return Text(line, style="bold")
    if line.startswith("+"):
        return Text(line, style="green")
    if line.startswith("-"):
        return Text(line, style="red")
    if line.startswith("@@"):
        return Text(line, style="cyan")
    return Text(line)


def _diff(text: str) -> Text:
    """A unified diff or an apply_patch text, coloured line by line."""
    return _lines_text(_diff_line(line) for line in clean(text).rstrip("\n").split("\n"))


def _head_tail(text: str) -> list[str]:
    lines = clean(text).rstrip("\n").split("\n") if text.strip() else []
    if len(lines) <= OUTPUT_LINES:
        return lines
    return [*lines[:_HEAD], f"… {len(lines) - _HEAD - _TAIL} more lines", *lines[-_TAIL:]]


def _output(text: str) -> list[Text]:
    return [Text(f"  {line}", style="dim") for line in _head_tail(text)]


def _status(exit_code: int | None, status: str, duration_s: float | None = None) -> Text:
    word = f"exit {exit_code}" if exit_code is not None else status
    took = f" · {duration_s:.1f} s" if duration_s is not None and duration_s >= 0.1 else ""
    return Text.assemble(("  └ ", "dim"), (word, "green" if exit_code == 0 else "red"), (took, "dim"))


def _plan(entries: Sequence[TodoEntry]) -> Text:
    lines = [Text("plan", style="bold")]
    for entry in entries:
        if entry.completed:
            lines.append(Text(f"  ☑ {clean(entry.text)}", style="dim"))
        else:
            lines.append(Text(f"  ☐ {clean(entry.text)}"))
    return _lines_text(lines)


def _usage(usage: TokenUsage) -> str:
    if usage.counted:
        return f"tokens: output {usage.output_tokens:,} (counted: the server reported no usage)"
    cached = f" (cached {usage.cached_input_tokens:,})" if usage.cached_input_tokens else ""
    return f"tokens: input {usage.input_tokens:,}{cached}, output {usage.output_tokens:,}"


def _patch_of(command: Sequence[str]) -> str | None:
    """The patch text when ``command`` is an apply_patch invocation (direct or a shell heredoc)."""
    if len(command) == 2 and command[0] == "apply_patch":
        return command[1]
    from agentrt.tools.apply_patch.invocation import parse_invocation

    try:
        found = parse_invocation(list(command))
    except Exception:
        return None
    return None if found is None else str(found.patch)


def _command_line(command: str) -> Text:
    return Text.assemble(("$ ", "dim"), (clean(command), "bold"))


def approval_text(command: Sequence[str], cwd: str, reason: str, *, width: int, color: bool) -> str:
    """The body of an approval question: the command (or the patch as a diff), where, and why."""
    patch = _patch_of(command) if command else None
    lines = [_diff(patch) if patch is not None else _command_line(shlex.join(command))]
    lines.append(Text.assemble(("  in ", "dim"), clean(cwd)))
    if reason:
        lines.append(Text.assemble(("  why: ", "dim"), (clean(reason), "yellow")))
    return _Painter(color).render(_lines_text(lines), width, soft=True)


# -- the view ----------------------------------------------------------------------------------------------


class TerminalView:
    """The session's transcript: every event, prompt and notice as text for ``write``, once each.

    ``write`` gets whole lines (each ending in a newline), ANSI-coded when ``color`` is on; ``width``
    is asked at every render, so a resized terminal gets text that fits. ``emit`` never raises: a
    rendering fault is shown as one plain line instead.
    """

    def __init__(self, write: Callable[[str], None], *, width: Callable[[], int], color: bool = True) -> None:
        self._write = write
        self._width = width
        self._painter = _Painter(color)
        self._blocks = MarkdownBlocks()
        self._streamed = False
        """Deltas of the current assistant message were shown (its completion must not repeat them)."""
        self._last = ""
        """The kind of the last cell written ('' before any)."""
        self._command: tuple[str, str] | None = None
        """(item id, command) of the command header that is the last thing shown."""
        self._plans: dict[str, tuple[TodoEntry, ...]] = {}
        self._diffed: set[str] = set()

    # -- what the app calls ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        try:
            self._event(event)
        except Exception as exc:  # a sink must not raise; show the fault instead of losing the turn
            self._write(f"[agentrt: could not render {type(event).__name__}: {type(exc).__name__}: {exc}]\n")

    def flush(self) -> None:
        rest = self._blocks.finish()
        if rest.strip():
            self._put(self._painter.markdown(rest, self._cols()), "answer")

    def user(self, text: str) -> None:
        lines = clean(text).rstrip("\n").split("\n")
        shown = [
            Text.assemble(("› " if i == 0 else "  ", "bold cyan"), (line, "bold"))
            for i, line in enumerate(lines)
        ]
        self._cell(_lines_text(shown), "user")

    def notice(self, text: str, *, style: str = "dim") -> None:
        try:
            rendered = self._painter.render(Text(clean(text), style=style), self._cols(), soft=True)
        except Exception:  # not a style rich knows
            rendered = self._painter.render(Text(clean(text)), self._cols(), soft=True)
        self._put(rendered, "notice")

    def replay(self, messages: Sequence[Mapping[str, Any]]) -> None:
        _Replay(self).run(messages)

    def diff(self, text: str) -> None:
        """A unified diff (``/diff``), coloured: headers bold, additions green, removals red."""
        self._cell(_diff(text), "diff")

    # -- events ------------------------------------------------------------------------------------------

    def _event(self, event: Event) -> None:
        if isinstance(event, AgentMessageDelta):
            self._delta(event.text)
        elif isinstance(event, ItemStarted | ItemUpdated | ItemCompleted):
            self._item(event)
        elif isinstance(event, FileDiff):
            self._file_diff(event)
        elif isinstance(event, Reconnecting):
            self._blocks.reset()
            self._line(f"{event.message} ({event.reason}): the reply starts over", "dim", "note")
        elif isinstance(event, TurnCompleted):
            self._end_turn()
            self._line(_usage(event.usage) + _cost(event), "dim", "usage")
        elif isinstance(event, TurnFailed):
            self._end_turn()
            if event.reason == "interrupted":
                self._line("■ interrupted", "yellow", "failed")
            else:
                self._line(f"error: {event.message}", "red", "failed")
        elif isinstance(event, Error):
            self._line(f"error: {event.message}", "red", "error")
        elif isinstance(event, ContextCompacted):
            self._line(
                f"⋯ context compacted: ~{event.before_tokens:,} → ~{event.after_tokens:,} tokens "
                "(a summary replaces the older messages)",
                "dim",
                "note",
            )
        elif isinstance(event, AgentEvent) and (line := agent_line(event)) is not None:
            self._line(line, "cyan", "note")  # a sub-agent's progress, one line per finished turn

    def _item(self, event: ItemStarted | ItemUpdated | ItemCompleted) -> None:
        item = event.item
        if isinstance(item, TodoList):
            self._todo(item)
        elif isinstance(event, ItemStarted):
            if isinstance(item, CommandExecution):
                self._command_started(item)
        elif isinstance(event, ItemCompleted):
            self._completed(item)

    def _completed(self, item: Any) -> None:
        if isinstance(item, AgentMessage):
            self._answer(item.text)
        elif isinstance(item, Reasoning):
            self._reasoning(item.text)
        elif isinstance(item, CommandExecution):
            self._command_done(item)
        elif isinstance(item, FileChange):
            self._file_change(item)
        elif isinstance(item, ErrorItem):
            self._line(f"warning: {item.message}", "yellow", "warning")
        elif isinstance(item, GuardianAssessment):
            self._line(guardian_line(item), "green" if item.status == "approved" else "red", "guardian")
        elif isinstance(item, CollabToolCall):
            self._line(collab_line(item), "cyan", "note")
        elif isinstance(item, McpToolCall):
            self._line(mcp_line(item), "magenta" if item.status == "completed" else "red", "note")

    def _delta(self, text: str) -> None:
        self._streamed = True
        for block in self._blocks.feed(text):
            self._put(self._painter.markdown(block, self._cols()), "answer")

    def _answer(self, text: str) -> None:
        if not self._streamed:
            self._markdown(text)
        self.flush()
        self._streamed = False

    def _markdown(self, text: str) -> None:
        """A whole Markdown text, cut into blocks exactly as a stream of it would be."""
        blocks = MarkdownBlocks()
        for block in [*blocks.feed(text), blocks.finish()]:
            if block.strip():
                self._put(self._painter.markdown(block, self._cols()), "answer")

    def _reasoning(self, text: str) -> None:
        if not text.strip():
            return
        body = self._painter.markdown(text, self._cols(), style="dim italic")
        head = self._painter.render(Text("thinking", style="dim bold"), self._cols(), soft=True)
        self._put(head + body, "reasoning")

    def _command_started(self, item: CommandExecution) -> None:
        self._cell(_command_line(item.command), "command")
        self._command = (item.id, item.command)

    def _command_done(self, item: CommandExecution) -> None:
        attach = self._command == (item.id, item.command)
        lines = [] if attach else [_command_line(item.command)]
        lines += [*_output(item.aggregated_output), _status(item.exit_code, item.status, item.duration_s)]
        self._cell(_lines_text(lines), "command", attach=attach)

    def _file_diff(self, event: FileDiff) -> None:
        body = event.diff.split("\n")
        hunks = [line for line in body if not line.startswith(("--- ", "+++ "))]
        added = sum(1 for line in hunks if line.startswith("+"))
        removed = sum(1 for line in hunks if line.startswith("-"))
        mark = "A" if "@@ -0,0 " in event.diff else "D" if " +0,0 @@" in event.diff else "M"
        head = Text.assemble((f"{mark} {clean(event.path)}", "bold"), " (", (f"+{added}", "green"), " ")
        head.append_text(Text.assemble((f"-{removed}", "red"), ")"))
        self._cell(_lines_text([head, _diff("\n".join(hunks))]), "diff")
        self._diffed.add(event.path)

    def _file_change(self, item: FileChange) -> None:
        lines = [
            Text(f"{_MARKS.get(c.kind, '?')} {clean(c.path)}", style="bold")
            for c in item.changes
            if not _shown_before(c.path, self._diffed) or item.status != "completed"
        ]
        if item.status != "completed":
            lines.append(Text("✗ patch failed", style="red"))
        self._diffed.clear()
        if lines:
            self._cell(_lines_text(lines), "patch")

    def _todo(self, item: TodoList) -> None:
        if self._plans.get(item.id) == item.items:
            return
        self._plans[item.id] = item.items
        self._cell(_plan(item.items), "plan")

    def _end_turn(self) -> None:
        self.flush()
        self._streamed = False
        self._blocks.reset()

    # -- output ------------------------------------------------------------------------------------------

    def _cols(self) -> int:
        return self._width()

    def _line(self, text: str, style: str, kind: str) -> None:
        self._cell(Text(clean(text), style=style), kind)

    def _cell(self, text: Text, kind: str, *, attach: bool = False) -> None:
        self._put(self._painter.render(text, self._cols(), soft=True), kind, attach=attach)

    def _put(self, rendered: str, kind: str, *, attach: bool = False) -> None:
        """Write one cell, after a blank line unless it belongs to the one before."""
        if not rendered:
            return
        if kind != "answer":
            self.flush()
        gap = bool(self._last) and not attach and not (kind == self._last == "notice")
        self._command = None
        self._last = kind
        self._write("\n" + rendered if gap else rendered)


class _Replay:
    """Shows a resumed session's messages as the session showed them: each tool call with its result."""

    def __init__(self, view: TerminalView) -> None:
        self.view = view
        self.calls: dict[str, tuple[str, dict[str, Any]]] = {}

    def run(self, messages: Sequence[Mapping[str, Any]]) -> None:
        for message in messages:
            role = message.get("role")
            if role == "tool":
                self._result(str(message.get("tool_call_id", "")), message_text(message.get("content")))
                continue
            self._pending()
            if role == "user":
                self._user(message_text(message.get("content")))
            elif role == "assistant":
                self._assistant(message)
        self._pending()

    def _user(self, text: str) -> None:
        if text.startswith(CONTEXT_PREFIXES):
            return
        if text.startswith(SUMMARY_OPEN):
            self.view._line(
                "⋯ the conversation before this point was compacted into a summary", "dim", "note"
            )
            return
        if text.startswith(_INTERRUPTED_PREFIX):
            self.view._line("■ interrupted", "yellow", "failed")
        else:
            self.view.user(text)

    def _assistant(self, message: Mapping[str, Any]) -> None:
        text = message_text(message.get("content"))
        if text.strip():
            self.view._markdown(text)
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            try:
                args = json.loads(function.get("arguments") or "{}")
            except ValueError:
                args = {}
            self.calls[str(call.get("id", ""))] = (
                str(function.get("name", "")),
                args if isinstance(args, dict) else {},
            )

    def _pending(self) -> None:
        """Calls that got no result (an interrupted turn): shown without one."""
        for call_id in list(self.calls):
            self._result(call_id, None)

    def _result(self, call_id: str, output: str | None) -> None:
        name, args = self.calls.pop(call_id, ("", {}))
        if name == "shell" and isinstance(args.get("command"), list):
            self._shell([str(a) for a in args["command"]], output)
        elif name == "apply_patch":
            self._patch(str(args.get("input", "")), output)
        elif name == "update_plan" and isinstance(args.get("plan"), list):
            steps = [s for s in args["plan"] if isinstance(s, dict)]
            entries = [TodoEntry(str(s.get("step", "")), s.get("status") == "completed") for s in steps]
            self.view._cell(_plan(entries), "plan")
        elif name:
            self._other(name, args)

    def _shell(self, command: list[str], output: str | None) -> None:
        patch = _patch_of(command)
        if patch is not None:
            self._patch(patch, output)
            return
        lines = [_command_line(shlex.join(command))]
        if output is not None:
            text, exit_code = _shell_output(output)
            lines += _output(text)
            if exit_code is not None or text.startswith("error:"):
                lines.append(_status(exit_code, "not run"))
        self.view._cell(_lines_text(lines), "command")

    def _patch(self, patch: str, output: str | None) -> None:
        lines = [_diff(patch)]
        if output is not None and output.startswith("error"):
            lines.append(Text(f"✗ patch failed: {clean(output).removeprefix('error: ')}", style="red"))
        self.view._cell(_lines_text(lines), "diff")

    def _other(self, name: str, args: Mapping[str, Any]) -> None:
        shown = ", ".join(f"{k}={v!r}" if not isinstance(v, str) else f"{k}={v}" for k, v in args.items())
        if len(shown) > 120:
            shown = shown[:119] + "…"
        self.view._line(f"• {name} {shown}".rstrip(), "dim", "tool")


def _shell_output(content: str) -> tuple[str, int | None]:
    """The shell tool's result as the model saw it (``{"output", "metadata": {"exit_code"}}``)."""
    try:
        data = json.loads(content)
    except ValueError:
        return content, None
    if not isinstance(data, dict) or "output" not in data:
        return content, None
    meta = data.get("metadata")
    code = meta.get("exit_code") if isinstance(meta, dict) else None
    return str(data["output"]), code if isinstance(code, int) else None
