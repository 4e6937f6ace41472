"""The coding tools through the registry, as the turn loop calls them: real files, real processes."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from agentrt.events import ItemCompleted, ItemIds, ItemStarted, ItemUpdated, Recorder
from agentrt.messages import ToolCall
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement
from agentrt.tools.apply_patch.fsops import local_write
from agentrt.tools.coding import coding_tools
from agentrt.tools.registry import ToolContext, ToolRegistry

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"


def unconfined_tools() -> ToolRegistry:
    return ToolRegistry(coding_tools(Confinement(NoSandbox(), dict(os.environ)), local_write))


def call(tmp_path: Path, name: str, args: Any, registry: ToolRegistry | None = None) -> tuple[str, Recorder]:
    recorder = Recorder()
    ctx = ToolContext(cwd=tmp_path, emit=recorder.emit, ids=ItemIds())
    raw = args if isinstance(args, str) else json.dumps(args)
    reg = registry or unconfined_tools()
    return asyncio.run(reg.dispatch(ToolCall("c1", name, raw), ctx)), recorder


def items(recorder: Recorder) -> list[tuple[str, dict[str, Any]]]:
    kinds = (ItemStarted, ItemUpdated, ItemCompleted)
    return [(e.kind, e.item.to_json()) for e in recorder.events if isinstance(e, kinds)]


@pytest.mark.parametrize(
    "command",
    [
        ["apply_patch", PATCH],
        ["bash", "-lc", f"apply_patch <<'EOF'\n{PATCH}\nEOF"],
    ],
)
def test_shell_apply_patch_invocation_is_applied_not_run(tmp_path: Path, command: list[str]) -> None:
    output, recorder = call(tmp_path, "shell", {"command": command})
    assert output.startswith("Success. Updated the following files:")
    assert (tmp_path / "hello.txt").read_text() == "hi\n"
    kinds = [(k, i["type"]) for k, i in items(recorder)]
    assert kinds == [("item.started", "file_change"), ("item.completed", "file_change")]


def test_shell_runs_a_command_and_reports_exit_code(tmp_path: Path) -> None:
    output, recorder = call(tmp_path, "shell", {"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
    result = json.loads(output)
    assert result["metadata"]["exit_code"] == 3
    assert "out" in result["output"] and "err" in result["output"]
    (k1, started), (k2, done) = items(recorder)
    assert (k1, started["status"]) == ("item.started", "in_progress")
    assert (k2, done["status"], done["exit_code"]) == ("item.completed", "failed", 3)


def test_shell_timeout_is_reported(tmp_path: Path) -> None:
    output, _ = call(tmp_path, "shell", {"command": ["sleep", "10"], "timeout_ms": 200})
    assert "timed out" in json.loads(output)["output"]


def test_apply_patch_tool_failure_reports_codex_error(tmp_path: Path) -> None:
    output, recorder = call(
        tmp_path, "apply_patch", {"input": "*** Begin Patch\n*** Delete File: nope.txt\n*** End Patch"}
    )
    assert output.startswith("error:") and "nope.txt" in output
    assert items(recorder)[-1][1]["status"] == "failed"


def test_update_plan_validates_and_emits_todo_list(tmp_path: Path) -> None:
    bad, _ = call(
        tmp_path,
        "update_plan",
        {"plan": [{"step": "a", "status": "in_progress"}, {"step": "b", "status": "in_progress"}]},
    )
    assert "at most one step may be in_progress" in bad
    ok, recorder = call(
        tmp_path,
        "update_plan",
        {"plan": [{"step": "a", "status": "completed"}, {"step": "b", "status": "pending"}]},
    )
    assert ok == "Plan updated"
    kind, item = items(recorder)[0]
    assert kind == "item.started" and item["items"] == [
        {"text": "a", "completed": True},
        {"text": "b", "completed": False},
    ]


def test_read_list_grep(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("one\ntwo\nthree\n")
    (tmp_path / "pkg" / "b.txt").write_text("two\n")
    out, _ = call(tmp_path, "read_file", {"file_path": "pkg/a.py", "offset": 2, "limit": 1})
    assert out == "L2: two"
    out, _ = call(tmp_path, "list_dir", {"dir_path": str(tmp_path)})
    assert out.splitlines()[1:] == ["pkg/", "  a.py", "  b.txt"]
    out, _ = call(tmp_path, "grep_files", {"pattern": "tw[o]", "include": "*.py"})
    assert out == str(tmp_path / "pkg" / "a.py")
    out, _ = call(tmp_path, "read_file", {"file_path": "missing.py"})
    assert out.startswith("error: invalid arguments for read_file") and "missing.py" in out


def test_bad_calls_never_run(tmp_path: Path) -> None:
    out, rec = call(tmp_path, "shell", '{"command": ["touch", "x"]')
    assert "not valid JSON" in out and not (tmp_path / "x").exists() and not rec.events
    out, _ = call(tmp_path, "shell", {"command": ["touch", "x"], "sudo": True})
    assert "unknown argument 'sudo'" in out and not (tmp_path / "x").exists()
    out, _ = call(tmp_path, "shell", {"command": ["touch", "x"], "timeout_ms": True})
    assert "must be of type integer" in out and not (tmp_path / "x").exists()
    out, _ = call(tmp_path, "rm_rf", {})
    assert "unknown tool 'rm_rf'" in out and "shell" in out


def test_tool_output_is_cut_head_and_tail(tmp_path: Path) -> None:
    registry = ToolRegistry(unconfined_tools().tools.values(), output_max_bytes=1000)
    out, _ = call(
        tmp_path, "shell", {"command": ["python3", "-c", "print('H' + 'x' * 50000 + 'T')"]}, registry
    )
    assert len(out.encode()) < 1300
    assert "bytes omitted ...]" in out and "H" in out and "T" in out


class DenyingSandbox:
    """A sandbox whose every command fails as a read-only filesystem would make it fail."""

    name = "denying"
    pass_fds: tuple[int, ...] = ()
    death_signal = True

    def wrap(self, argv: list[str], cwd: Path) -> list[str]:
        return ["sh", "-c", "echo 'touch: cannot touch x: Read-only file system' >&2; exit 1"]


def gated_call(tmp_path: Path, policy: str, decision: Any, args: dict[str, Any]) -> tuple[str, Recorder, Any]:
    from agentrt.agent.approvals import ApprovalGate, FixedApprover

    approver = FixedApprover(decision)
    recorder = Recorder()
    ctx = ToolContext(cwd=tmp_path, emit=recorder.emit, ids=ItemIds())
    confinement = Confinement(DenyingSandbox(), dict(os.environ))
    tools = ToolRegistry(coding_tools(confinement, local_write, approvals=ApprovalGate(policy, approver)))
    output = asyncio.run(tools.dispatch(ToolCall("c", "shell", json.dumps(args)), ctx))
    return output, recorder, approver


def test_on_failure_reruns_a_sandbox_denial_without_the_sandbox_once_approved(tmp_path: Path) -> None:
    from agentrt.agent.approvals import Decision

    out, rec, approver = gated_call(tmp_path, "on-failure", Decision.APPROVED, {"command": ["touch", "x"]})
    assert json.loads(out)["metadata"]["exit_code"] == 0 and (tmp_path / "x").exists()
    assert "sandbox blocked it" in approver.asked[0].reason
    assert [i["status"] for k, i in items(rec) if k == "item.completed"] == ["failed", "completed"]


def test_never_sends_the_denial_back_to_the_model(tmp_path: Path) -> None:
    from agentrt.agent.approvals import Decision

    out, _, approver = gated_call(tmp_path, "never", Decision.APPROVED, {"command": ["touch", "x"]})
    assert "Read-only file system" in json.loads(out)["output"] and not (tmp_path / "x").exists()
    assert approver.asked == []
    out, _, _ = gated_call(
        tmp_path, "never", Decision.APPROVED, {"command": ["touch", "x"], "with_escalated_permissions": True}
    )
    assert out.startswith("error:") and "cannot be requested" in out and not (tmp_path / "x").exists()


def test_on_request_escalation_runs_outside_the_sandbox_when_approved(tmp_path: Path) -> None:
    from agentrt.agent.approvals import Decision

    args = {"command": ["touch", "x"], "with_escalated_permissions": True, "justification": "write the file"}
    out, _, approver = gated_call(tmp_path, "on-request", Decision.APPROVED, args)
    assert json.loads(out)["metadata"]["exit_code"] == 0 and (tmp_path / "x").exists()
    assert approver.asked[0].reason == "write the file"


def test_untrusted_declined_command_never_runs(tmp_path: Path) -> None:
    from agentrt.agent.approvals import Decision

    out, rec, _ = gated_call(tmp_path, "untrusted", Decision.DENIED, {"command": ["touch", "x"]})
    assert out.startswith("error:") and not (tmp_path / "x").exists()
    assert items(rec)[-1][1]["status"] == "declined"


def test_file_tools_hide_what_the_sandbox_hides(tmp_path: Path) -> None:
    secret_dir = tmp_path / ".ssh"
    secret_dir.mkdir()
    (secret_dir / "id_rsa").write_text("PRIVATE KEY\n")
    (tmp_path / "notes.txt").write_text("PRIVATE KEY mentioned here\n")
    (tmp_path / "link").symlink_to(secret_dir / "id_rsa")
    tools = coding_tools(Confinement(NoSandbox(), dict(os.environ)), local_write, hidden=[secret_dir])
    registry = ToolRegistry(tools)
    for name, args in [
        ("read_file", {"file_path": str(secret_dir / "id_rsa")}),
        ("read_file", {"file_path": "link"}),  # through a symlink
        ("list_dir", {"dir_path": ".ssh"}),
        ("grep_files", {"pattern": "PRIVATE", "path": ".ssh"}),
    ]:
        out, _ = call(tmp_path, name, args, registry)
        assert "hidden by the sandbox's deny_read list" in out, (name, out)
    out, _ = call(tmp_path, "grep_files", {"pattern": "PRIVATE KEY"}, registry)
    assert out.strip() == str(tmp_path / "notes.txt")  # the hidden file is never searched
    out, _ = call(tmp_path, "list_dir", {"dir_path": "."}, registry)
    assert ".ssh/" in out and "id_rsa" not in out
    out, _ = call(tmp_path, "read_file", {"file_path": "notes.txt"}, registry)
    assert "mentioned here" in out
