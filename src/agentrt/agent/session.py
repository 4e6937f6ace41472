"""One ``agentrt exec`` run, assembled: config → model → tools → thread → rollout → sinks.

The CLI parses flags into ``ExecOptions`` and calls ``run_exec``; everything here is plain objects
passed in (environment mapping, streams), so tests drive it the same way the CLI does.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from agentrt.agent.render import HumanSink
from agentrt.agent.rollout import RolloutSink, RolloutWriter
from agentrt.agent.thread import FinalCheck, Limits, Thread, TurnStopped, accept_any
from agentrt.config import Config
from agentrt.events import EventSink, Fanout, JsonlSink, ThreadStarted
from agentrt.interfaces import Sandbox
from agentrt.messages import Message
from agentrt.tools.registry import ToolContext, ToolRegistry

if TYPE_CHECKING:
    from agentrt.sandbox.policy import SandboxPolicy
    from agentrt.sandbox.process import Confinement
    from agentrt.tools.apply_patch.fsops import FileWrite


class ExecError(Exception):
    """A run that cannot start (no git repo, no key, bad schema…): one line for the user."""


@dataclass
class ExecOptions:
    prompt: str
    cwd: Path
    json: bool = False
    output_last_message: Path | None = None
    output_schema: Path | None = None
    model: str | None = None
    base_url: str | None = None
    profile: str | None = None
    overrides: Sequence[str] = ()
    skip_git_repo_check: bool = False
    ephemeral: bool = False
    resume: str | None = None
    """A session id (or unique prefix), or ``"--last"``."""
    color: bool = False
    local: str | None = None
    """``--local``: the local model to serve for this run (``agentrt.model.models``)."""
    extra_flags: dict[str, Any] = field(default_factory=dict)


def run_exec(options: ExecOptions, env: Mapping[str, str], stdout: TextIO, stderr: TextIO) -> int:
    """Run one turn; 0 when it ended with a final answer, 1 when it stopped early."""
    from agentrt.sandbox import become_subreaper, harden_runtime
    from agentrt.sandbox.process import use_pidfd_child_watcher

    harden_runtime()  # the commands the model runs cannot read this process's environment
    become_subreaper()  # orphans of those commands come back here to be reaped

    async def main() -> int:
        use_pidfd_child_watcher()
        return await _run(options, env, stdout, stderr)

    return asyncio.run(main())


async def _run(options: ExecOptions, env: Mapping[str, str], stdout: TextIO, stderr: TextIO) -> int:
    from agentrt.config import agentrt_home, load_config

    home = agentrt_home(env)
    flags = {k: v for k, v in {"model": options.model, **options.extra_flags}.items() if v is not None}
    config = load_config(home, env=env, profile=options.profile, overrides=options.overrides, flags=flags)
    cwd = options.cwd.resolve()
    _check_repo(cwd, options.skip_git_repo_check)
    _check_env_policy(config)
    schema = _load_schema(options.output_schema)
    local = _local_model(config, options)
    if local is not None:  # bad input is refused above, before a model server is started
        return await _run_local(local, home, options, env, stdout, stderr)
    from agentrt.model.factory import model_for

    model = model_for(config, env, base_url=options.base_url, output_schema=schema)
    shown: EventSink = JsonlSink(stdout) if options.json else HumanSink(stderr, color=options.color)
    writer, history, thread_id = _open_rollout(home, cwd, config, options, stderr)
    sink = Fanout([shown] if writer is None else [RolloutSink(writer), shown])
    try:
        async with _session_tools(config, cwd, env) as tools:
            history = history or _new_history(cwd, home, config, env, writer)
            sink.emit(ThreadStarted(thread_id))
            thread = Thread(
                model, tools, sink, cwd=cwd, limits=_limits(config), history=history,
                check_final=_schema_checker(schema) if schema is not None else accept_any,
            )  # fmt: skip
            try:
                final = await thread.run_turn(options.prompt)
            except TurnStopped:
                return 1
    finally:
        await model.aclose()
        if writer is not None:
            writer.close()
    _deliver(final, options, stdout)
    return 0


def _new_history(
    cwd: Path, home: Path, config: Config, env: Mapping[str, str], writer: RolloutWriter | None
) -> list[Message]:
    """A new session's opening messages, recorded in its rollout."""
    history = _initial_history(cwd, home, config, env)
    if writer is not None:
        for message in history:
            writer.append("response_item", message)
    return history


def _deliver(final: str, options: ExecOptions, stdout: TextIO) -> None:
    """The answer on stdout (unless ``--json`` printed it as an event) and in ``-o FILE``."""
    if not options.json:
        stdout.write(final + ("\n" if not final.endswith("\n") else ""))
        stdout.flush()
    if options.output_last_message is not None:
        options.output_last_message.write_text(final, encoding="utf-8")


def _limits(config: Config) -> Limits:
    return Limits(config.max_turns, config.max_wall_s, config.max_tokens)


def _local_model(config: Config, options: ExecOptions) -> str | None:
    from agentrt.model.local import local_model_for_run

    provider = config.provider
    return local_model_for_run(
        options.local, base_url=options.base_url, provider_id=provider.id, provider_url=provider.base_url,
        model=config.model,
    )  # fmt: skip


async def _run_local(
    name: str, home: Path, options: ExecOptions, env: Mapping[str, str], stdout: TextIO, stderr: TextIO
) -> int:
    """Serve ``name`` on a free loopback port for this run, run against it, and stop it."""
    from agentrt.model.local import serve_model

    async with serve_model(home, name, env, stderr=stderr, n_ctx=8192) as server:
        flags = {**options.extra_flags, "model_provider": "local"}
        served = replace(options, base_url=server.base_url, model=name, local=None, extra_flags=flags)
        return await server.guard(_run(served, env, stdout, stderr))


def _check_repo(cwd: Path, skip: bool) -> None:
    from agentrt.git import git_root

    if not cwd.is_dir():
        raise ExecError(f"working directory {cwd} does not exist")
    if not skip and git_root(cwd) is None:
        raise ExecError(
            f"{cwd} is not inside a git repository; agentrt exec works on repositories. "
            "Pass --skip-git-repo-check to run here anyway."
        )


def _check_env_policy(config: Config) -> None:
    """A mistake in ``[shell_environment_policy]`` stops the run now, not at the first command."""
    from agentrt.sandbox.env import check_env_policy

    try:
        check_env_policy(config.raw.get("shell_environment_policy"))
    except ValueError as exc:
        raise ExecError(f"config: {exc}") from exc


def _load_schema(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExecError(f"cannot read output schema {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ExecError(f"output schema {path} is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise ExecError(f"output schema {path} must be a JSON object")
    from agentrt.agent.schema import schema_problem

    problem = schema_problem(schema)
    if problem is not None:
        raise ExecError(f"output schema {path} is not a valid JSON Schema: {problem}")
    return schema


def _open_rollout(
    home: Path, cwd: Path, config: Config, options: ExecOptions, stderr: TextIO
) -> tuple[RolloutWriter | None, list[Message], str]:
    from agentrt.agent.rollout import find_session, history_from_rollout, read_rollout

    if options.resume is not None:
        last = options.resume == "--last"
        path = find_session(home, None if last else options.resume, last=last)
        rollout = read_rollout(path)
        history = history_from_rollout(rollout)
        writer = None if options.ephemeral else RolloutWriter.resume(path)
        note = rollout.damage if writer is None else writer.note
        if note:
            stderr.write(f"agentrt: warning: {note}\n")
        return writer, history, str(rollout.meta.get("id", path.stem))
    if options.ephemeral:
        import uuid

        return None, [], str(uuid.uuid4())
    meta = {"model": config.model, "model_provider": config.model_provider, "instructions": None}
    writer = RolloutWriter.create(home, cwd=cwd, meta=meta)
    return writer, [], writer.id


def _initial_history(cwd: Path, home: Path, config: Config, env: Mapping[str, str]) -> list[Message]:
    from agentrt.agent.instructions import agents_md_message, base_instructions, environment_context

    history: list[Message] = [{"role": "system", "content": base_instructions(config.base_prompt_kind)}]
    agents = agents_md_message(cwd, home, config.project_doc_max_bytes)
    if agents is not None:
        history.append(dict(agents))
    shell = os.path.basename(env.get("SHELL") or "bash")
    context = environment_context(
        cwd, approval_policy=config.approval_policy, sandbox_mode=config.sandbox_mode, shell=shell
    )
    history.append({"role": "user", "content": context})
    return history


@asynccontextmanager
async def _session_tools(config: Config, cwd: Path, env: Mapping[str, str]) -> AsyncIterator[ToolRegistry]:
    """The session's tools, every command and patch confined by the sandbox mode.

    The mechanism's start-up self-test runs in a thread while the model answers the first request;
    the first command waits for it. If nothing can enforce the mode, the run stops with the
    diagnostic before any command runs, and at the end of the run if no command ran.
    """
    from agentrt.agent.approvals import ApprovalGate, FixedApprover
    from agentrt.sandbox import confined_write, policy_for, private_tmpdir
    from agentrt.tools.apply_patch.fsops import local_write
    from agentrt.tools.coding import coding_tools

    policy = policy_for(config.sandbox_mode, cwd, home=config.home, raw=config.raw)
    with private_tmpdir(policy) as policy:
        binding = _SandboxBinding(config, policy, env)
        write: FileWrite = confined_write(policy) if policy.sandboxed else local_write
        gate = ApprovalGate(config.approval_policy, FixedApprover())  # exec never asks a person
        tools = coding_tools(binding.confinement, write, approvals=gate, hidden=policy.deny_read)
        try:
            yield ToolRegistry(tools, output_max_bytes=config.tool_output_max_bytes)
        finally:
            await binding.close()


class _SandboxBinding:
    """The sandbox being proven in a thread, and the command environment that goes with it."""

    def __init__(self, config: Config, policy: SandboxPolicy, env: Mapping[str, str]) -> None:
        from agentrt.sandbox import choose_sandbox

        self.config, self.policy, self.env = config, policy, env
        self.task = asyncio.create_task(asyncio.to_thread(choose_sandbox, policy))

    async def confinement(self) -> Confinement:
        from agentrt.sandbox import build_env
        from agentrt.sandbox.process import Confinement

        box = await self._box()
        table = self.config.raw.get("shell_environment_policy")
        env = build_env(
            self.env, table, tmpdir=self.policy.tmpdir, sandbox=box.name, network=self.policy.network_allowed
        )
        return Confinement(box, env)

    async def _box(self) -> Sandbox:
        from agentrt.sandbox import SandboxUnavailable

        try:
            return await self.task
        except SandboxUnavailable as exc:
            raise ExecError(str(exc)) from exc

    async def close(self) -> None:
        box = await self._box()
        box.close()


def _schema_checker(schema: dict[str, Any]) -> FinalCheck:
    from agentrt.agent.schema import validation_error

    async def check(text: str, ctx: ToolContext) -> str | None:
        try:
            value = json.loads(text)
        except ValueError as exc:
            problem: str | None = f"it must be JSON matching the output schema ({exc})"
        else:
            problem = validation_error(value, schema)
        if problem is None:
            return None
        return f"Your final answer is not valid: {problem}. Answer again, correctly."

    return check
