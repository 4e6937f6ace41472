"""The human view of a run, on stderr: streamed text, each command with its exit code, file changes as
coloured diffs, the plan, guardian verdicts, and a closing usage line. Fed by the same events as the
JSONL writer."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

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
    TodoList,
    TurnCompleted,
    TurnFailed,
)

_OUTPUT_LINES = 8
_MARKS = {"add": "A", "delete": "D", "update": "M"}


class HumanSink:
    def __init__(self, stream: TextIO, *, color: bool, cwd: Path | None = None) -> None:
        self.stream = stream
        self.color = color
        self.cwd = cwd
        """Paths under it are shown relative to it."""
        self._streaming = False

    def emit(self, event: Event) -> None:
        if isinstance(event, AgentMessageDelta):
            self._streaming = True
            self._write(event.text)
        elif isinstance(event, ItemStarted) and isinstance(event.item, CommandExecution):
            self._end_stream()
            self._line(self._paint("1", f"$ {event.item.command}"))
        elif isinstance(event, ItemUpdated) and isinstance(event.item, TodoList):
            self._plan(event.item)
        elif isinstance(event, ItemCompleted):
            self._completed(event)
        elif isinstance(event, FileDiff):
            self._diff(event.diff)
        elif isinstance(event, TurnCompleted):
            self._usage(event)
        elif isinstance(event, TurnFailed):
            self._end_stream()
            self._line(self._paint("31", f"agentrt: error: {event.message}"))
        elif isinstance(event, Reconnecting):  # the text shown since the request was sent is void
            self._end_stream()
            self._line(self._paint("2", f"{event.message} ({event.reason})"))
        elif isinstance(event, Error):
            self._line(self._paint("31", f"agentrt: error: {event.message}"))
        elif isinstance(event, ContextCompacted):
            self._end_stream()
            text = f"context compacted: ~{event.before_tokens:,} → ~{event.after_tokens:,} tokens"
            self._line(self._paint("2", text))
        elif isinstance(event, AgentEvent) and (line := agent_line(event)) is not None:
            self._end_stream()  # a sub-agent's progress: one line when it finishes (multi_agent)
            self._line(self._paint("36", line))

    def _completed(self, event: ItemCompleted) -> None:
        item = event.item
        if isinstance(item, AgentMessage):
            if not self._streaming:
                self._write(item.text)
            self._end_stream(force=True)
        elif isinstance(item, Reasoning):
            self._line(self._paint("2;3", f"thinking: {item.text}"))
        elif isinstance(item, CommandExecution):
            self._command_done(item)
        elif isinstance(item, FileChange):
            for change in item.changes:
                self._line(self._paint("1", f"{_MARKS.get(change.kind, '?')} {self._shown(change.path)}"))
            if item.status != "completed":
                self._line(self._paint("31", "patch failed"))
        elif isinstance(item, TodoList):
            self._plan(item)
        elif isinstance(item, ErrorItem):
            self._line(self._paint("33", f"warning: {item.message}"))
        elif isinstance(item, GuardianAssessment):
            self._end_stream()
            self._line(self._paint("32" if item.status == "approved" else "31", guardian_line(item)))
        elif isinstance(item, CollabToolCall):
            self._end_stream()
            self._line(self._paint("36", collab_line(item)))
        elif isinstance(item, McpToolCall):  # one line: the call, and its result's first line or its error
            self._end_stream()
            self._line(self._paint("35" if item.status == "completed" else "31", mcp_line(item)))

    def _diff(self, diff: str) -> None:
        for line in diff.splitlines():
            code = (
                "32"
                if line.startswith("+")
                else "31"
                if line.startswith("-")
                else "36"
                if line.startswith("@@")
                else ""
            )
            self._line(self._paint(code, line) if code else line)

    def _usage(self, event: TurnCompleted) -> None:
        u = event.usage
        if u.counted:
            text = f"tokens used: output {u.output_tokens} (counted by agentrt: the server reported no usage)"
        else:
            text = f"tokens used: input {u.input_tokens}, output {u.output_tokens}"
        if event.costed:
            from agentrt.agent.cost import cost_text

            text += f" · cost {cost_text(event.cost_usd)}"
        self._line(self._paint("2", text))

    # -- helpers --------------------------------------------------------------------------------
    def _command_done(self, item: CommandExecution) -> None:
        lines = item.aggregated_output.rstrip("\n").splitlines()
        shown = (
            lines
            if len(lines) <= _OUTPUT_LINES
            else [*lines[:3], f"… {len(lines) - 6} more lines", *lines[-3:]]
        )
        for line in shown:
            self._line(self._paint("2", f"  {line}"))
        code = item.exit_code
        status = f"exit {code}" if code is not None else item.status
        self._line(self._paint("32" if code == 0 else "31", f"  └ {status}"))

    def _plan(self, item: TodoList) -> None:
        self._end_stream()
        self._line(self._paint("1", "plan:"))
        for entry in item.items:
            self._line(f"  [{'x' if entry.completed else ' '}] {entry.text}")

    def _end_stream(self, force: bool = False) -> None:
        if self._streaming or force:
            self._write("\n")
        self._streaming = False

    def _shown(self, path: str) -> str:
        if self.cwd is not None and path.startswith(f"{self.cwd}/"):
            return path[len(str(self.cwd)) + 1 :]
        return path

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code else text

    def _line(self, text: str) -> None:
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def guardian_line(item: GuardianAssessment) -> str:
    """A guardian verdict in one line: ``guardian denied `rm -rf build` (risk high, authorization none): why``."""
    facts = [
        f"{name} {value}"
        for name, value in (("risk", item.risk_level), ("authorization", item.user_authorization))
        if value is not None
    ]
    if item.status == "timed_out":
        facts.append("timed out")
    verb = "approved" if item.status == "approved" else "denied"
    shown = f" ({', '.join(facts)})" if facts else ""
    return f"guardian {verb} `{item.command}`{shown}: {item.rationale}"


def collab_line(item: CollabToolCall) -> str:
    """A sub-agent tool call in one line: ``spawned Ada (0193…): <prompt>``, ``waited: Ada completed``."""
    names = dict(item.nicknames)
    who = ", ".join(names.get(a, a[:8]) for a in item.receiver_thread_ids) or "-"
    if item.status == "failed":
        return f"{item.tool} failed"
    if item.tool == "spawn_agent":
        return f"spawned {who}: {_short(item.prompt or '')}"
    if item.tool == "send_input":
        return f"→ {who}: {_short(item.prompt or '')}"
    if item.tool == "wait":
        states = ", ".join(f"{names.get(a, a[:8])} {status}" for a, status, _ in item.states)
        return f"waited: {states or 'timed out'}"
    return f"{'closed' if item.tool == 'close_agent' else 'resumed'} {who}"


def mcp_line(item: McpToolCall) -> str:
    """An MCP tool call in one line: ``mcp echo.note {"text": "n"} → noted: n`` (or ``… failed: why``)."""
    import json

    args = json.dumps(item.arguments, ensure_ascii=False) if item.arguments else ""
    call = f"mcp {item.server}.{item.tool} {args}".rstrip()
    if item.error is not None or item.result is None:
        return _short(f"{call} failed: {item.error or item.status}", 160)
    texts = [str(b.get("text", "")) for b in item.result.get("content", ()) if b.get("type") == "text"]
    first = next((line for text in texts for line in text.splitlines() if line.strip()), "")
    verb = "failed:" if item.status == "failed" else "→"
    return _short(f"{call} {verb} {first}".rstrip(), 160)


def agent_line(event: AgentEvent) -> str | None:
    """A sub-agent's finished turn in one line (``None``: nothing to show for this event)."""
    inner = event.event
    if isinstance(inner, TurnCompleted):
        return f"[{event.nickname}] finished: {_short(inner.final)}"
    if isinstance(inner, TurnFailed):
        return f"[{event.nickname}] " + (
            "interrupted" if inner.reason == "interrupted" else f"failed: {inner.message}"
        )
    return None


def _short(text: str, width: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
