"""The human view of a run, on stderr: streamed text, each command with its exit code, file changes as
coloured diffs, the plan, and a closing usage line. Fed by the same events as the JSONL writer."""

from __future__ import annotations

from typing import Any, TextIO

FILE_DIFF = "file_change.diff"
"""Internal: ``{"path": ..., "diff": unified diff text}`` for renderers; not part of the JSONL schema."""

_OUTPUT_LINES = 8


class HumanSink:
    def __init__(self, stream: TextIO, *, color: bool) -> None:
        self.stream = stream
        self.color = color
        self._streaming = False

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
        if handler is not None:
            handler(data)

    # -- text ---------------------------------------------------------------------------------------
    def _on_agent_message_delta(self, data: dict[str, Any]) -> None:
        self._streaming = True
        self._write(data["text"])

    def _on_item_started(self, data: dict[str, Any]) -> None:
        item = data["item"]
        if item["type"] == "command_execution":
            self._end_stream()
            self._line(self._paint("1", f"$ {item['command']}"))

    def _on_item_updated(self, data: dict[str, Any]) -> None:
        if data["item"]["type"] == "todo_list":
            self._plan(data["item"])

    def _on_item_completed(self, data: dict[str, Any]) -> None:
        item = data["item"]
        kind = item["type"]
        if kind == "agent_message":
            if not self._streaming:
                self._write(item["text"])
            self._end_stream(force=True)
        elif kind == "reasoning":
            self._line(self._paint("2;3", f"thinking: {item['text']}"))
        elif kind == "command_execution":
            self._command_done(item)
        elif kind == "file_change":
            marks = {"add": "A", "delete": "D", "update": "M"}
            for change in item["changes"]:
                self._line(self._paint("1", f"{marks.get(change['kind'], '?')} {change['path']}"))
            if item["status"] != "completed":
                self._line(self._paint("31", "patch failed"))
        elif kind == "todo_list":
            self._plan(item)
        elif kind == "error":
            self._line(self._paint("33", f"warning: {item['message']}"))

    def _on_file_change_diff(self, data: dict[str, Any]) -> None:
        for line in data["diff"].splitlines():
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

    def _on_turn_completed(self, data: dict[str, Any]) -> None:
        u = data["usage"]
        if u.get("counted"):
            text = (
                f"tokens used: output {u['output_tokens']} (counted by agentrt: the server reported no usage)"
            )
        else:
            text = f"tokens used: input {u['input_tokens']}, output {u['output_tokens']}"
        self._line(self._paint("2", text))

    def _on_turn_failed(self, data: dict[str, Any]) -> None:
        self._end_stream()
        self._line(self._paint("31", f"error: {data['error']['message']}"))

    def _on_error(self, data: dict[str, Any]) -> None:
        self._line(self._paint("31", f"error: {data['message']}"))

    # -- helpers --------------------------------------------------------------------------------
    def _command_done(self, item: dict[str, Any]) -> None:
        lines = str(item.get("aggregated_output") or "").rstrip("\n").splitlines()
        shown = (
            lines
            if len(lines) <= _OUTPUT_LINES
            else [*lines[:3], f"… {len(lines) - 6} more lines", *lines[-3:]]
        )
        for line in shown:
            self._line(self._paint("2", f"  {line}"))
        code = item.get("exit_code")
        status = f"exit {code}" if code is not None else item["status"]
        self._line(self._paint("32" if code == 0 else "31", f"  └ {status}"))

    def _plan(self, item: dict[str, Any]) -> None:
        self._end_stream()
        self._line(self._paint("1", "plan:"))
        for entry in item["items"]:
            self._line(f"  [{'x' if entry['completed'] else ' '}] {entry['text']}")

    def _end_stream(self, force: bool = False) -> None:
        if self._streaming or force:
            self._write("\n")
        self._streaming = False

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code else text

    def _line(self, text: str) -> None:
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
