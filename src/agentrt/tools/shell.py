"""The ``shell`` tool: ``{command: string[], workdir?, timeout_ms?}``, Codex's shape.

A command that is really a patch (``["apply_patch", PATCH]`` or a ``bash -lc`` heredoc of it) is not
run: it goes to the same apply_patch code as the ``apply_patch`` tool.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from agentrt.agent.approvals import looks_like_sandbox_denial
from agentrt.interfaces import Sandbox
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import RunResult, run_command
from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec


class ShellTool:
    name = "shell"

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "shell",
            'Run a command (argv list; use ["bash", "-lc", "..."] for shell syntax) and return its output.',
            {
                "command": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The command and its arguments.",
                },
                "workdir": {"type": "string", "description": "Working directory (default: the session's)."},
                "timeout_ms": {"type": "integer", "description": "Timeout in milliseconds."},
                "with_escalated_permissions": {
                    "type": "boolean",
                    "description": "Ask the user to run this command outside the sandbox (only when the sandbox blocks it).",
                },
                "justification": {
                    "type": "string",
                    "description": "Why the escalation is needed, shown to the user.",
                },
            },
            ["command"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        argv = args["command"]
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ToolArgumentError("'command' must be a non-empty list of strings")
        cwd = resolve_dir(ctx.cwd, args.get("workdir"))
        from agentrt.tools.patch import apply_patch_invocation

        patched = await apply_patch_invocation(argv, cwd, ctx)
        if patched is not None:
            return patched
        timeout_s = args["timeout_ms"] / 1000 if args.get("timeout_ms") else ctx.default_timeout_s
        if timeout_s <= 0:
            raise ToolArgumentError("'timeout_ms' must be positive")
        if ctx.ready is not None:
            await ctx.ready()
        sandbox, refusal = await self._admit(argv, cwd, args, ctx)
        if refusal is not None:
            self._declined(argv, refusal, ctx)
            return f"error: {refusal}"
        output, result = await self._execute(argv, cwd, timeout_s, ctx, sandbox)
        denial = looks_like_sandbox_denial(result.exit_code, output) if sandbox is not None else None
        if (
            denial
            and ctx.approvals is not None
            and await ctx.approvals.rerun_unsandboxed(argv, str(cwd), denial)
        ):
            output, result = await self._execute(argv, cwd, timeout_s, ctx, NoSandbox())
        return _for_model(output, result)

    async def _admit(
        self, argv: list[str], cwd: Path, args: dict[str, Any], ctx: ToolContext
    ) -> tuple[Sandbox | None, str | None]:
        """The sandbox to run under (``None``: the context's own), or why the command may not run."""
        gate = ctx.approvals
        if args.get("with_escalated_permissions"):
            if gate is None:
                return None, "running outside the sandbox cannot be requested here"
            refusal = await gate.escalate(argv, str(cwd), str(args.get("justification") or ""))
            return (NoSandbox(), None) if refusal is None else (None, refusal)
        if gate is not None:
            return ctx.sandbox, await gate.before_run(argv, str(cwd))
        return ctx.sandbox, None

    def _declined(self, argv: list[str], reason: str, ctx: ToolContext) -> None:
        item = {"id": ctx.ids.new(), "type": "command_execution", "command": shlex.join(argv)}
        ctx.emit(
            "item.completed",
            {"item": {**item, "aggregated_output": reason, "exit_code": None, "status": "declined"}},
        )

    async def _execute(
        self, argv: list[str], cwd: Path, timeout_s: float, ctx: ToolContext, sandbox: Sandbox | None
    ) -> tuple[str, RunResult]:
        item_id = ctx.ids.new()
        command = shlex.join(argv)
        item: dict[str, Any] = {"id": item_id, "type": "command_execution", "command": command}
        ctx.emit(
            "item.started",
            {"item": {**item, "aggregated_output": "", "exit_code": None, "status": "in_progress"}},
        )
        result = await run_command(
            argv, cwd=cwd, timeout_s=timeout_s, env=ctx.env, output_cap=ctx.output_cap, sandbox=sandbox
        )
        output = aggregate(result)
        status = "completed" if result.ok else "failed"
        ctx.emit(
            "item.completed",
            {"item": {**item, "aggregated_output": output, "exit_code": result.exit_code, "status": status}},
        )
        return output, result


def _for_model(output: str, result: RunResult) -> str:
    metadata = {"exit_code": exit_code_of(result), "duration_seconds": round(result.wall_s, 1)}
    return json.dumps({"output": output, "metadata": metadata}, ensure_ascii=False)


def aggregate(result: RunResult) -> str:
    text = result.stdout + result.stderr
    if result.timed_out:
        text += f"\n[command timed out after {result.wall_s:.1f} s and was killed]"
    elif result.signal is not None:
        text += f"\n[command killed by signal {result.signal}]"
    return text


def exit_code_of(result: RunResult) -> int:
    if result.exit_code is not None:
        return result.exit_code
    return 128 + (result.signal or 9)


def resolve_dir(cwd: Path, workdir: str | None) -> Path:
    if not workdir:
        return cwd
    path = Path(workdir)
    path = path if path.is_absolute() else cwd / path
    if not path.is_dir():
        raise ToolArgumentError(f"workdir {workdir!r} is not a directory")
    return path
