"""Issue 20: a command stopped for flooding its output is reported as such, with the bytes it wrote."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

from agentrt.events import ItemCompleted, ItemIds, Recorder
from agentrt.messages import ToolCall
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement, RunResult
from agentrt.tools.apply_patch.fsops import local_write
from agentrt.tools.coding import coding_tools
from agentrt.tools.registry import ToolContext, ToolRegistry
from agentrt.tools.shell import aggregate
from agentrt.truncation import omission

WROTE_RE = re.compile(r"wrote ([0-9,]+) bytes")


def shell(tmp_path: Path, command: list[str]) -> tuple[str, str]:
    """What the model reads (the registry cuts it: head and tail), and the command item's full output."""
    registry = ToolRegistry(coding_tools(Confinement(NoSandbox(), dict(os.environ)), local_write))
    recorder = Recorder()
    ctx = ToolContext(cwd=tmp_path, emit=recorder.emit, ids=ItemIds())
    seen = asyncio.run(registry.dispatch(ToolCall("c1", "shell", json.dumps({"command": command})), ctx))
    (done,) = [e.item for e in recorder.events if isinstance(e, ItemCompleted)]
    return seen, done.aggregated_output  # type: ignore[attr-defined]


def wrote(text: str) -> int:
    match = WROTE_RE.search(text)
    assert match is not None, text[-300:]
    return int(match.group(1).replace(",", ""))


def test_a_yes_like_command_is_reported_over_the_output_limit(tmp_path: Path) -> None:
    seen, output = shell(tmp_path, ["yes"])
    tail = output[-400:]
    assert "output limit" in tail and "killed by signal" not in tail
    assert wrote(tail) > 16 << 20, "the shell tool's limit is 16 MiB; the command wrote more"
    assert wrote(seen) == wrote(tail), "the model reads it too"
    assert f'"exit_code": {128 + signal.SIGTERM}' in seen


def test_output_limit_is_reported_whatever_ended_the_command(tmp_path: Path) -> None:
    """A command that exits by itself when told to stop (status, no signal) hit the limit all the same;
    the count covers both streams (one pipe: stderr goes where stdout goes, in the order written)."""
    script = "import signal, sys; signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\nwhile 1: sys.stderr.write('e' * 4096); sys.stdout.write('o' * 4096)"
    _, output = shell(tmp_path, [sys.executable, "-c", script])
    assert "output limit" in output[-400:] and wrote(output[-400:]) > 16 << 20
    assert output.count("omitted") == 1, "the one merged stream was cut once"
    assert "eeee" in output and "oooo" in output


def _result(stdout: str, stderr: str = "", **changes: object) -> RunResult:
    fields: dict[str, object] = {
        "argv": ("yes",),
        "exit_code": None,
        "signal": signal.SIGTERM,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_truncated": False,
        "stderr_truncated": False,
        "timed_out": False,
        "wall_s": 0.5,
        "output_limited": True,
    }
    fields.update(changes)
    return RunResult(**fields)  # type: ignore[arg-type]


def test_aggregate_reports_every_byte_written() -> None:
    stdout = "y\n" * 10 + omission(1000, "bytes") + "y\n" * 10
    text = aggregate(_result(stdout, "é", stdout_truncated=True, output_bytes=20 + 1000 + 20 + 2))
    assert text.startswith(stdout + "é")
    assert wrote(text) == 20 + 1000 + 20 + 2
    assert "killed by signal" not in text


def test_aggregate_leaves_other_endings_alone() -> None:
    assert aggregate(_result("x", output_limited=False)) == "x\n[command killed by signal 15]"
    timed = aggregate(_result("x", output_limited=False, timed_out=True))
    assert timed == "x\n[command timed out after 0.5 s and was killed]"
    assert aggregate(_result("x", output_limited=False, signal=None, exit_code=0)) == "x"
