"""The ``shell`` tool: ``{command: string[], workdir?, timeout_ms?}``, Codex's shape.

A command that is really a patch (``["apply_patch", PATCH]`` or a ``bash -lc`` heredoc of it) is not
run: it goes to the same apply_patch code as the ``apply_patch`` tool.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentrt.events import CommandExecution, ItemCompleted, ItemStarted
from agentrt.interfaces import Approvals, Sandbox
from agentrt.sandbox.denial import looks_like_sandbox_denial
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement, RunResult, run_command
from agentrt.tools.patch import ApplyPatchTool
from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec

ConfinementSource = Confinement | Callable[[], Awaitable[Confinement]]
"""A confinement, or a coroutine function that gives one (awaited before the first command: a
session may still be proving its sandbox while the model answers)."""


class ShellTool:
    """Owns how commands run: the confinement, the approvals, the output cap and default timeout.

    A command that is really a patch goes to ``patch`` (the session's ``apply_patch`` tool).
    """

    name = "shell"

    def __init__(
        self,
        confinement: ConfinementSource,
        patch: ApplyPatchTool,
        *,
        approvals: Approvals | None = None,
        output_cap: int = 64 * 1024,
        default_timeout_s: float = 120.0,
    ) -> None:
        self._confinement = confinement
        self.patch = patch
        self.approvals = approvals
        """``None``: commands run (confined) with no approval step."""
        self.output_cap = output_cap
        self.default_timeout_s = default_timeout_s

    async def confinement(self) -> Confinement:
        if not isinstance(self._confinement, Confinement):
            self._confinement = await self._confinement()
        return self._confinement

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
        cwd = resolve_dir(ctx, args.get("workdir"))
        patched = self.patch.invocation(argv, cwd, ctx)
        if patched is not None:
            return patched
        timeout_s = args["timeout_ms"] / 1000 if args.get("timeout_ms") else self.default_timeout_s
        if timeout_s <= 0:
            raise ToolArgumentError("'timeout_ms' must be positive")
        confinement = await self.confinement()
        sandbox, refusal = await self._admit(argv, cwd, args, confinement.sandbox)
        if refusal is not None:
            self._declined(argv, refusal, ctx)
            return f"error: {refusal}"
        output, result = await self._execute(argv, cwd, timeout_s, ctx, sandbox)
        denial = looks_like_sandbox_denial(result.exit_code, output)
        if (
            denial
            and sandbox is confinement.sandbox
            and not isinstance(sandbox, NoSandbox)
            and self.approvals is not None
            and await self.approvals.rerun_unsandboxed(argv, str(cwd), denial)
        ):
            output, result = await self._execute(argv, cwd, timeout_s, ctx, NoSandbox())
        return _for_model(output, result)

    async def _admit(
        self, argv: list[str], cwd: Path, args: dict[str, Any], sandbox: Sandbox
    ) -> tuple[Sandbox, str | None]:
        """The sandbox to run under, or why the command may not run."""
        escalate = bool(args.get("with_escalated_permissions"))
        return await admit(self.approvals, argv, cwd, sandbox, escalate, str(args.get("justification") or ""))

    def _declined(self, argv: list[str], reason: str, ctx: ToolContext) -> None:
        declined(shlex.join(argv), reason, ctx)

    async def _execute(
        self, argv: list[str], cwd: Path, timeout_s: float, ctx: ToolContext, sandbox: Sandbox
    ) -> tuple[str, RunResult]:
        item = CommandExecution(ctx.ids.new(), shlex.join(argv))
        ctx.emit(ItemStarted(item))
        env = (await self.confinement()).env
        result = await run_command(
            argv, cwd=cwd, timeout_s=timeout_s, env=env, output_cap=self.output_cap, sandbox=sandbox,
            merge_stderr=True,  # the model and the events see the output in the order it was written
        )  # fmt: skip
        output = aggregate(result)
        status = "completed" if result.ok else "failed"
        done = CommandExecution(item.id, item.command, output, result.exit_code, status, result.wall_s)
        ctx.emit(ItemCompleted(done))
        return output, result


async def admit(
    gate: Approvals | None, argv: list[str], cwd: Path, sandbox: Sandbox, escalate: bool, justification: str
) -> tuple[Sandbox, str | None]:
    """The sandbox a command runs under, or why it may not run: the approval step every command tool
    shares. ``escalate``: the model asked to run it outside the sandbox (with ``justification``)."""
    if escalate:
        if gate is None:
            return sandbox, "running outside the sandbox cannot be requested here"
        refusal = await gate.escalate(argv, str(cwd), justification)
        return (NoSandbox(), None) if refusal is None else (sandbox, refusal)
    if gate is not None:
        return sandbox, await gate.before_run(argv, str(cwd))
    return sandbox, None


def declined(command: str, reason: str, ctx: ToolContext) -> None:
    """Report a command the approvals refused: one ``declined`` item that never ran."""
    ctx.emit(ItemCompleted(CommandExecution(ctx.ids.new(), command, reason, None, "declined")))


def _for_model(output: str, result: RunResult) -> str:
    metadata = {"exit_code": exit_code_of(result), "duration_seconds": round(result.wall_s, 1)}
    return json.dumps({"output": output, "metadata": metadata}, ensure_ascii=False)


def aggregate(result: RunResult) -> str:
    """The command's output for the model and the events, with a last line saying why it stopped.

    A command stopped for flooding its output (``output_limited``) is killed by the same signal a
    timeout sends; saying only "signal 15" would read as a crash, so the line names the output limit
    and how much the command wrote, which tells the model to narrow the output (``head``, ``grep``).
    """
    text = result.stdout + result.stderr
    if result.output_limited:
        text += (
            f"\n[command killed: it wrote {result.output_bytes:,} bytes of output, more than the "
            "output limit; narrow it with head, tail or grep, or redirect it to a file]"
        )
    elif result.timed_out:
        text += f"\n[command timed out after {result.wall_s:.1f} s and was killed]"
    elif result.signal is not None:
        text += f"\n[command killed by signal {result.signal}]"
    return text


def exit_code_of(result: RunResult) -> int:
    if result.exit_code is not None:
        return result.exit_code
    return 128 + (result.signal or 9)


def resolve_dir(ctx: ToolContext, workdir: str | None) -> Path:
    """A command's working directory: the session's, or ``workdir`` from it (``ToolContext.path``)."""
    if not workdir:
        return ctx.cwd
    path = ctx.path(workdir)
    if not path.is_dir():
        raise ToolArgumentError(f"workdir {workdir!r} is not a directory")
    return path
