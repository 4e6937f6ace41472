"""exec_command / write_stdin with real processes: pipes and terminals, sessions, limits, the
sandbox, the approvals, the events, closing — and the output format against Codex's own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agentrt.events import CommandExecution, FileChange, ItemCompleted, ItemIds, ItemStarted, Recorder
from agentrt.messages import ToolCall
from agentrt.model.responses import to_tool
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement
from agentrt.tools.apply_patch.fsops import local_write
from agentrt.tools.patch import ApplyPatchTool
from agentrt.tools.registry import ToolContext, ToolRegistry
from agentrt.tools.unified_exec import (
    UnifiedExec,
    clamp_yield_ms,
    poll_yield_ms,
    truncate_to_tokens,
)
from codex_peer import without_descriptions

HEADER = re.compile(
    r"Chunk ID: [0-9a-f]{6}\nWall time: (?P<wall>\d+\.\d{4}) seconds\n"
    r"(?:Process exited with code (?P<code>-?\d+)|Process running with session ID (?P<sid>\d+))\n"
    r"Original token count: (?P<tokens>\d+)\nOutput:\n"
)


class Run:
    """One UnifiedExec behind a registry (arguments checked as the turn loop checks them)."""

    def __init__(self, cwd: Path, unified: UnifiedExec) -> None:
        self.unified = unified
        self.recorder = Recorder()
        self.ctx = ToolContext(cwd=cwd, emit=self.recorder.emit, ids=ItemIds())
        self.registry = ToolRegistry(unified.tools(), output_max_bytes=1 << 20)

    async def call(self, name: str, **args: Any) -> str:
        return await self.registry.dispatch(ToolCall("c", name, json.dumps(args)), self.ctx)

    def commands(self, kind: type[ItemStarted] | type[ItemCompleted]) -> list[CommandExecution]:
        return [
            e.item
            for e in self.recorder.events
            if isinstance(e, kind) and isinstance(e.item, CommandExecution)
        ]


def unconfined(**kwargs: Any) -> UnifiedExec:
    return UnifiedExec(Confinement(NoSandbox(), dict(os.environ)), shell="/bin/bash", **kwargs)


def run_with(
    tmp_path: Path, body: Callable[[Run], Awaitable[None]], unified: UnifiedExec | None = None
) -> Run:
    async def main() -> Run:
        run = Run(tmp_path, unified or unconfined())
        try:
            await body(run)
        finally:
            await run.unified.aclose()
        return run

    return asyncio.run(main())


def parse(output: str) -> tuple[dict[str, str | None], str]:
    match = HEADER.match(output)
    assert match is not None, output
    return match.groupdict(), output[match.end() :]


def session_of(output: str) -> int:
    sid = parse(output)[0]["sid"]
    assert sid is not None, output
    return int(sid)


def gone(pid: int) -> bool:
    """The process no longer runs (reaped, or a zombie its new parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


async def until(check: Callable[[], bool], within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- exit, sessions, polling ----------------------------------------------------------------------------


def test_a_fast_command_returns_its_output_and_exit_code_and_no_session(tmp_path: Path) -> None:
    outputs: list[str] = []

    async def body(run: Run) -> None:
        outputs.append(
            await run.call("exec_command", cmd="printf 'out\\n'; printf 'err\\n' >&2; exit 3", login=False)
        )

    run = run_with(tmp_path, body)
    fields, text = parse(outputs[0])
    assert (fields["code"], fields["sid"], fields["tokens"], text) == ("3", None, "2", "out\nerr\n")
    started, done = run.commands(ItemStarted), run.commands(ItemCompleted)
    assert [c.command for c in started] == [
        "/bin/bash -c 'printf '\"'\"'out\\n'\"'\"'; printf '\"'\"'err\\n'\"'\"' >&2; exit 3'"
    ]
    assert (done[0].id, done[0].aggregated_output, done[0].exit_code, done[0].status) == (
        started[0].id, "out\nerr\n", 3, "failed",
    )  # fmt: skip


def test_a_long_command_keeps_a_session_that_reports_its_exit_when_polled(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def body(run: Run) -> None:
        first = await run.call(
            "exec_command", cmd="echo start; until [ -e go ]; do sleep 0.01; done; echo end; exit 4",
            yield_time_ms=250, login=False,
        )  # fmt: skip
        sid = session_of(first)
        seen["first"] = parse(first)
        seen["done_before"] = len(run.commands(ItemCompleted))
        (tmp_path / "go").touch()
        poll = await run.call("write_stdin", session_id=sid, chars="")
        seen["poll"] = parse(poll)
        seen["done_at_return"] = len(run.commands(ItemCompleted))  # reported before the result
        seen["again"] = await run.call("write_stdin", session_id=sid)

    run = run_with(tmp_path, body)
    fields, text = seen["first"]
    assert (fields["code"], text) == (None, "start\n")
    assert 0.25 <= float(fields["wall"]) < 5
    fields, text = seen["poll"]
    assert (fields["code"], fields["sid"], text) == ("4", None, "end\n")
    assert float(fields["wall"]) < 4.5  # an empty poll waits 5 s at least, unless the process exits
    assert (seen["done_before"], seen["done_at_return"]) == (0, 1)
    assert seen["again"] == f"write_stdin failed: Unknown process id {seen['first'][0]['sid']}"
    (done,) = run.commands(ItemCompleted)
    assert (done.aggregated_output, done.exit_code, done.status) == ("start\nend\n", 4, "failed")


def test_a_terminal_session_reads_what_write_stdin_types(tmp_path: Path) -> None:
    seen: list[str] = []

    async def body(run: Run) -> None:
        first = await run.call(
            "exec_command", cmd="python3 -c 'import sys; print(\"got\", input()); sys.exit(5)'",
            tty=True, yield_time_ms=250, login=False,
        )  # fmt: skip
        seen.append(first)
        seen.append(
            await run.call("write_stdin", session_id=session_of(first), chars="abc\n", yield_time_ms=10_000)
        )

    run = run_with(tmp_path, body)
    fields, text = parse(seen[1])
    assert (fields["code"], fields["sid"]) == ("5", None)
    assert "abc\r\n" in parse(seen[0])[1] + text  # the terminal echoes the input
    assert text.endswith("got abc\r\n")
    assert run.commands(ItemCompleted)[0].exit_code == 5


def test_cat_on_a_terminal_echoes_lines_and_ends_on_ctrl_d(tmp_path: Path) -> None:
    seen: list[str] = []

    async def body(run: Run) -> None:
        first = await run.call("exec_command", cmd="cat", tty=True, yield_time_ms=250, login=False)
        sid = session_of(first)
        seen.append(parse(first)[1])
        seen.append(parse(await run.call("write_stdin", session_id=sid, chars="hello\n"))[1])
        last = await run.call("write_stdin", session_id=sid, chars="\x04", yield_time_ms=10_000)
        seen.append(parse(last)[1])
        seen.append(str(parse(last)[0]["code"]))

    run_with(tmp_path, body)
    assert "".join(seen[:3]).count("hello\r\n") == 2 and seen[3] == "0"


@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])  # bash takes a terminal by itself, dash does not
def test_ctrl_c_on_a_terminal_interrupts_its_foreground_process(tmp_path: Path, shell: str) -> None:
    seen: list[str] = []

    async def body(run: Run) -> None:
        first = await run.call(
            "exec_command", cmd="echo $TERM $NO_COLOR; sleep 30", tty=True, yield_time_ms=250, login=False,
            shell=shell,
        )  # fmt: skip
        seen.append(parse(first)[1])
        seen.append(
            await run.call("write_stdin", session_id=session_of(first), chars="\u0003", yield_time_ms=10_000)
        )

    run_with(tmp_path, body)
    assert seen[0] == "dumb 1\r\n"  # Codex's non-interactive terminal settings
    assert parse(seen[1])[0]["code"] == "130"  # the terminal is the controlling tty: ^C is SIGINT


def test_without_tty_stdin_is_closed_and_only_ctrl_c_gets_through(tmp_path: Path) -> None:
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(
            await run.call("exec_command", cmd="test -t 0 && echo tty || echo notty; cat", login=False)
        )
        seen.append(await run.call("exec_command", cmd="test -t 0 && echo tty", tty=True, login=False))
        sid = session_of(await run.call("exec_command", cmd="sleep 30", yield_time_ms=250, login=False))
        seen.append(await run.call("write_stdin", session_id=sid, chars="y\n"))
        seen.append(await run.call("write_stdin", session_id=sid, chars="\u0003", yield_time_ms=10_000))

    run_with(tmp_path, body)
    assert parse(seen[0])[0]["code"] == "0" and parse(seen[0])[1] == "notty\n"  # cat read /dev/null
    assert parse(seen[1])[1] == "tty\r\n"
    assert seen[2].startswith("write_stdin failed:") and "tty=true" in seen[2]
    assert parse(seen[3])[0]["code"] == "130"  # SIGINT


def test_yield_times_are_clamped_as_codex_clamps_them() -> None:
    assert (clamp_yield_ms(None), clamp_yield_ms(1), clamp_yield_ms(-5), clamp_yield_ms(10**9)) == (
        10_000, 250, 250, 30_000,
    )  # fmt: skip
    assert (poll_yield_ms(None, "x"), poll_yield_ms(1, "x"), poll_yield_ms(10**9, "x")) == (250, 250, 30_000)
    assert (poll_yield_ms(None, ""), poll_yield_ms(6_000, ""), poll_yield_ms(10**9, "")) == (
        5_000, 6_000, 300_000,
    )  # fmt: skip
    assert poll_yield_ms(10**9, "", max_poll_ms=60_000) == 60_000


def test_a_tiny_yield_still_waits_the_minimum(tmp_path: Path) -> None:
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(await run.call("exec_command", cmd="sleep 30", yield_time_ms=1, login=False))

    run_with(tmp_path, body)
    fields, _ = parse(seen[0])
    assert fields["sid"] is not None and 0.25 <= float(fields["wall"]) < 5


# -- output ---------------------------------------------------------------------------------------------


def test_max_output_tokens_keeps_head_and_tail_exactly_as_codex(tmp_path: Path) -> None:
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(await run.call("exec_command", cmd="seq 1 3000", max_output_tokens=50, login=False))
        seen.append(await run.call("exec_command", cmd="seq 1 3000", login=False))

    run_with(tmp_path, body)
    full = "".join(f"{i}\n" for i in range(1, 3001)).encode()
    fields, text = parse(seen[0])
    assert fields["tokens"] == "3474"  # ceil(13893 bytes / 4)
    assert text == (  # as Codex 0.169 returned it for the same call
        "Warning: truncated output (original token count: 3474)\nTotal output lines: 3000\n\n"
        + full[:100].decode() + "…3424 tokens truncated…" + full[-100:].decode()
    )  # fmt: skip
    assert parse(seen[1])[1] == full.decode()  # 3474 tokens fit the default 10000


def test_the_token_cap_bounds_what_the_model_asks_for(tmp_path: Path) -> None:
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(await run.call("exec_command", cmd="seq 1 3000", max_output_tokens=50, login=False))
        seen.append(await run.call("exec_command", cmd="seq 1 3000", login=False))

    run_with(tmp_path, body, unconfined(token_cap=10))
    full = "".join(f"{i}\n" for i in range(1, 3001))
    for output in seen:
        assert parse(output)[1].endswith(full[:20] + "…3464 tokens truncated…" + full[-20:])


def test_truncation_never_splits_a_character_and_counts_what_it_dropped() -> None:
    text = "😀" * 10 + "\nsecond line with text\n"
    out = truncate_to_tokens(text, 8, 16)
    assert out.endswith("😀😀😀😀…8 tokens truncated… line with text\n")
    assert out.startswith("Warning: truncated output (original token count: 16)\nTotal output lines: 2\n\n")
    assert truncate_to_tokens("x" * 100 + "\n", 0, 26).endswith("\n\n…26 tokens truncated…")
    assert truncate_to_tokens("short", 10, 2) == "short"


# -- limits and closing ---------------------------------------------------------------------------------


def test_the_session_limit_kills_the_least_recently_used(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def body(run: Run) -> None:
        ids = []
        for _ in range(3):
            out = await run.call("exec_command", cmd="sleep 30", yield_time_ms=250, login=False)
            ids.append(session_of(out))
            seen.setdefault("pids", []).append(max(run.unified.pids(), key=lambda p: p))
        seen["live"] = sorted(run.unified.sessions)
        await until(lambda: len(run.commands(ItemCompleted)) == 1)
        seen["killed"] = run.commands(ItemCompleted)[0]
        seen["first"] = await run.call("write_stdin", session_id=ids[0])
        seen["ids"] = ids

    run = run_with(tmp_path, body, unconfined(max_sessions=2))
    assert seen["live"] == sorted(seen["ids"][1:])
    assert seen["first"] == f"write_stdin failed: Unknown process id {seen['ids'][0]}"
    assert (seen["killed"].id, seen["killed"].exit_code) == (run.commands(ItemStarted)[0].id, 137)


def test_closing_kills_every_process_group(tmp_path: Path) -> None:
    pids: list[int] = []

    async def body(run: Run) -> None:
        for tty in (False, True):
            out = await run.call(
                "exec_command", cmd="sleep 300 & echo $$ $!; wait", tty=tty, yield_time_ms=500, login=False
            )
            assert parse(out)[0]["sid"] is not None
            pids.extend(int(p) for p in parse(out)[1].split())
        assert not any(gone(p) for p in pids)
        await run.unified.aclose()
        assert run.unified.pids() == []
        assert await run.call("exec_command", cmd="true") == (
            "exec_command failed: the session's command runner is closed"
        )

    run_with(tmp_path, body)
    assert len(pids) == 4

    async def wait_gone() -> None:
        await until(lambda: all(gone(p) for p in pids))

    asyncio.run(wait_gone())


def test_an_unknown_or_malformed_session_id_is_an_error_text(tmp_path: Path) -> None:
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(await run.call("write_stdin", session_id=424242, chars="x"))
        seen.append(await run.call("write_stdin", session_id=1.5))
        seen.append(await run.call("exec_command", cmd="true", sandbox_permissions="sometimes"))
        seen.append(await run.call("exec_command", cmd="true", workdir="no/such/dir"))

    run_with(tmp_path, body)
    assert seen[0] == "write_stdin failed: Unknown process id 424242"
    assert seen[1].startswith("error: invalid arguments for write_stdin") and "whole number" in seen[1]
    assert "sandbox_permissions" in seen[2] and "is not a directory" in seen[3]


def test_a_command_that_exits_between_turns_is_reported_at_the_next_call(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def body(run: Run) -> None:
        out = await run.call(
            "exec_command", cmd="until [ -e go ]; do sleep 0.01; done", yield_time_ms=250, login=False
        )
        run.registry.end_turn(run.ctx)
        (tmp_path / "go").touch()
        await until(lambda: run.unified.pids() == [])
        seen["between"] = len(run.commands(ItemCompleted))
        seen["poll"] = await run.call("write_stdin", session_id=session_of(out))
        seen["after"] = len(run.commands(ItemCompleted))

    run_with(tmp_path, body)
    assert (seen["between"], seen["after"]) == (0, 1)
    assert parse(seen["poll"])[0]["code"] == "0"


# -- sandbox, approvals, patches ------------------------------------------------------------------------


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("mechanism", ["bwrap", "landlock"])
def test_commands_run_in_the_workspace_write_sandbox(tmp_path: Path, mechanism: str, tty: bool) -> None:
    from agentrt.sandbox import SandboxUnavailable, build_env, choose_sandbox, policy_for
    from agentrt.sandbox.confine import landlock_abi

    if mechanism == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    if mechanism == "landlock" and landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock")
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir(), outside.mkdir()
    (outside / "victim.txt").write_text("original\n")
    policy = policy_for("workspace-write", ws, home=tmp_path / "home", raw={})
    try:
        box = choose_sandbox(policy, mechanisms=(mechanism,))
    except SandboxUnavailable as exc:
        pytest.skip(f"{mechanism} cannot run here: {exc}")
    env = build_env(os.environ, None, tmpdir=policy.tmpdir, sandbox=box.name, network=policy.network_allowed)
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(await run.call(
            "exec_command", cmd=f"echo inside > ok.txt; echo bad > {outside}/victim.txt", tty=tty, login=False,
        ))  # fmt: skip

    try:
        run_with(ws, body, UnifiedExec(Confinement(box, env), shell="/bin/bash"))
    finally:
        box.close()
    fields, text = parse(seen[0])
    assert fields["code"] not in (None, "0"), seen[0]
    assert (ws / "ok.txt").read_text() == "inside\n"
    assert (outside / "victim.txt").read_text() == "original\n"
    assert "ermission denied" in text or "ead-only file system" in text


class DenyingSandbox:
    """Every command fails as a read-only filesystem would make it fail."""

    name = "denying"
    pass_fds: tuple[int, ...] = ()
    death_signal = True

    def wrap(self, argv: list[str], cwd: Path) -> list[str]:
        return ["sh", "-c", "echo 'touch: cannot touch x: Read-only file system' >&2; exit 1"]

    def close(self) -> None:
        pass


def gated_call(tmp_path: Path, policy: str, decision: Any, **args: Any) -> tuple[str, Run, Any]:
    from agentrt.agent.approvals import ApprovalGate, FixedApprover

    approver = FixedApprover(decision)
    unified = UnifiedExec(
        Confinement(DenyingSandbox(), dict(os.environ)),
        approvals=ApprovalGate(policy, approver),
        shell="/bin/bash",
    )
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(await run.call("exec_command", **args))

    run = run_with(tmp_path, body, unified)
    return seen[0], run, approver


def test_require_escalated_runs_outside_the_sandbox_once_approved(tmp_path: Path) -> None:
    from agentrt.agent.approvals import Decision

    out, _, approver = gated_call(
        tmp_path, "on-request", Decision.APPROVED,
        cmd="touch x", sandbox_permissions="require_escalated", justification="write the file", login=False,
    )  # fmt: skip
    assert parse(out)[0]["code"] == "0" and (tmp_path / "x").exists()
    assert approver.asked[0].reason == "write the file"


def test_a_sandbox_denial_reruns_unsandboxed_under_on_failure(tmp_path: Path) -> None:
    from agentrt.agent.approvals import Decision

    out, run, approver = gated_call(tmp_path, "on-failure", Decision.APPROVED, cmd="touch x", login=False)
    assert parse(out)[0]["code"] == "0" and (tmp_path / "x").exists()
    assert "sandbox blocked it" in approver.asked[0].reason
    assert [c.status for c in run.commands(ItemCompleted)] == ["failed", "completed"]


def test_a_declined_command_never_runs(tmp_path: Path) -> None:
    from agentrt.agent.approvals import Decision

    out, run, _ = gated_call(tmp_path, "untrusted", Decision.DENIED, cmd="touch x")
    assert out.startswith("exec_command failed:") and not (tmp_path / "x").exists()
    (item,) = run.commands(ItemCompleted)
    assert (item.status, item.command) == ("declined", "/bin/bash -lc 'touch x'")  # a login shell by default
    _, run, _ = gated_call(tmp_path, "untrusted", Decision.DENIED, cmd="touch x", shell="sh", login=False)
    assert run.commands(ItemCompleted)[0].command == f"{shutil.which('sh')} -c 'touch x'"
    out, _, _ = gated_call(
        tmp_path, "never", Decision.APPROVED, cmd="touch x", sandbox_permissions="require_escalated"
    )
    assert "cannot be requested" in out and not (tmp_path / "x").exists()


def test_an_apply_patch_heredoc_is_applied_not_run(tmp_path: Path) -> None:
    patch = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\nEOF"
    unified = UnifiedExec(
        Confinement(NoSandbox(), dict(os.environ)), patch=ApplyPatchTool(local_write), shell="/bin/bash"
    )
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(await run.call("exec_command", cmd=patch))

    run = run_with(tmp_path, body, unified)
    assert (tmp_path / "a.txt").read_text() == "hi\n"
    assert re.fullmatch(
        r"Wall time: \d+\.\d{4} seconds\nOutput:\nExit code: 0\nWall time: \d+ seconds\nOutput:\n"
        r"Success\. Updated the following files:\nA a\.txt\n",
        seen[0],
    )
    assert run.commands(ItemStarted) == [] and isinstance(run.recorder.items()[0], FileChange)


# -- the specs ------------------------------------------------------------------------------------------

CODEX_SPECS = {  # Codex 0.169's request tools, descriptions removed
    "exec_command": {
        "type": "object",
        "properties": {
            "cmd": {"type": "string"},
            "justification": {"type": "string"},
            "login": {"type": "boolean"},
            "max_output_tokens": {"type": "number"},
            "prefix_rule": {"type": "array", "items": {"type": "string"}},
            "sandbox_permissions": {"type": "string", "enum": ["use_default", "require_escalated"]},
            "shell": {"type": "string"},
            "tty": {"type": "boolean"},
            "workdir": {"type": "string"},
            "yield_time_ms": {"type": "number"},
        },
        "required": ["cmd"],
        "additionalProperties": False,
    },
    "write_stdin": {
        "type": "object",
        "properties": {
            "chars": {"type": "string"},
            "max_output_tokens": {"type": "number"},
            "session_id": {"type": "number"},
            "yield_time_ms": {"type": "number"},
        },
        "required": ["session_id"],
        "additionalProperties": False,
    },
}


def test_the_specs_have_codexs_shapes() -> None:
    for tool in unconfined().tools():
        sent = to_tool(tool.spec())
        assert (sent["type"], sent["name"], sent["strict"]) == ("function", tool.name, False)
        assert without_descriptions(sent["parameters"]) == CODEX_SPECS[tool.name]
        assert sent["description"]


# -- against the real Codex ------------------------------------------------------------------------------

PEER_CALLS: list[tuple[str, dict[str, Any]]] = [  # no login shell: profiles make timing and output vary
    ("exec_command", {"cmd": "echo hi; exit 3", "login": False}),
    ("exec_command", {"cmd": "echo err >&2", "login": False}),  # Codex reads stderr on its own pipe
    ("exec_command", {"cmd": "seq 1 3000", "max_output_tokens": 50, "login": False}),
    ("exec_command", {"cmd": "printf 'a\\xffb\\n'; printf '\\xe2\\x82'", "login": False}),
    (
        "exec_command",
        {"cmd": "head -c 100 /dev/zero | tr '\\0' x; echo", "max_output_tokens": 0, "login": False},
    ),
    ("exec_command", {"cmd": "stty size; test -t 0 && echo tty", "tty": True, "login": False}),
    ("exec_command", {"cmd": "cat; echo $NO_COLOR $PAGER $LC_ALL $TERM", "login": False}),
    ("exec_command", {"cmd": "kill -9 $$", "login": False}),
    ("exec_command", {"cmd": "sleep 30", "yield_time_ms": 250, "login": False}),
    ("write_stdin", {"session_id": 99999, "chars": ""}),
]


def normalized(output: str) -> str:
    output = re.sub(r"Chunk ID: [0-9a-f]{6}", "Chunk ID: X", output)
    output = re.sub(r"Wall time: \d+\.\d{4} seconds", "Wall time: T", output)
    return re.sub(r"session ID \d+", "session ID N", output)


def test_outputs_match_the_real_codex(tmp_path: Path) -> None:
    from capture_server import capture_server
    from codex_peer import SKIP_REASON, codex_binary

    codex = codex_binary()
    if codex is None:
        pytest.skip(SKIP_REASON)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    script = [{"calls": [{"name": n, "arguments": a}]} for n, a in PEER_CALLS] + [{"text": "done"}]
    with capture_server(script) as server:
        (home / "config.toml").write_text(
            f'model = "scripted"\nmodel_provider = "cap"\n[model_providers.cap]\nname = "capture"\n'
            f'base_url = "{server.url}"\nwire_api = "responses"\nrequires_api_key = false\n'
        )
        env = {**os.environ, "CODEX_HOME": str(home), "SHELL": "/bin/bash"}
        done = subprocess.run(
            [str(codex), "exec", "--json", "--skip-git-repo-check", "-s", "danger-full-access", "go"],
            cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    outputs = {
        item["call_id"]: item["output"]
        for item in server.requests[-1].body["input"]
        if item.get("type") == "function_call_output"
    }
    theirs = [outputs[f"call_{n + 1}_0"] for n in range(len(PEER_CALLS))]
    ours: list[str] = []

    async def body(run: Run) -> None:
        for name, args in PEER_CALLS:
            ours.append(await run.call(name, **args))

    run_with(work, body)
    assert [normalized(o) for o in ours] == [normalized(t) for t in theirs]


class PassThroughSandbox:
    """Runs the argv unchanged; says whether its commands get a parent-death signal."""

    name = "pass-through"
    pass_fds: tuple[int, ...] = ()

    def __init__(self, death_signal: bool) -> None:
        self.death_signal = death_signal

    def wrap(self, argv: list[str], cwd: Path) -> list[str]:
        return list(argv)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("death_signal", [True, False])
def test_exec_command_arms_a_parent_death_signal_as_the_sandbox_says(
    tmp_path: Path, death_signal: bool, tty: bool
) -> None:
    """bwrap ends its command through its own lifeline and must not be killed half-started; every
    other command dies with agentrt (``Sandbox.death_signal``), on a pipe or a terminal."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import ctypes\nsig = ctypes.c_int(-1)\n"
        "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)\nprint('pdeathsig', sig.value)\n"
    )
    unified = UnifiedExec(Confinement(PassThroughSandbox(death_signal), dict(os.environ)), shell="/bin/bash")
    seen: list[str] = []

    async def body(run: Run) -> None:
        seen.append(await run.call("exec_command", cmd=f"exec python3 {probe}", tty=tty, yield_time_ms=10000))

    run_with(tmp_path, body, unified)
    assert f"pdeathsig {9 if death_signal else 0}" in seen[0], seen[0]
