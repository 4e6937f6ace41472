"""A session assembled: config → model → tools → thread → rollout → sinks, for every face.

``open_session`` opens one (new or resumed) as an ``AgentSession``; ``agentrt exec`` (``run_exec``)
runs one turn on it, the interactive session many. Everything here is plain objects passed in
(environment mapping, streams), so tests drive it the same way the CLI does.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from agentrt.agent.context import Context, ContextPolicy, window_for
from agentrt.agent.cost import Price, price_for
from agentrt.agent.render import HumanSink
from agentrt.agent.rollout import RolloutSink, RolloutWriter, append_message
from agentrt.agent.thread import FinalCheck, Limits, Thread, TurnStopped, accept_any
from agentrt.config import Config
from agentrt.events import EventSink, Fanout, JsonlSink, ThreadStarted, TokenUsage
from agentrt.interfaces import Approvals, Sandbox
from agentrt.messages import Message
from agentrt.tools.registry import Tool, ToolContext, ToolRegistry

if TYPE_CHECKING:
    from agentrt.agent.approvals import Approver
    from agentrt.agent.memory import Memories
    from agentrt.agent.subagents import Agents
    from agentrt.agent.undo import TurnSnapshots
    from agentrt.sandbox.policy import SandboxPolicy
    from agentrt.sandbox.process import Confinement
    from agentrt.tools.apply_patch.fsops import FileWrite
    from agentrt.tools.goals import UsageMeter
    from agentrt.tools.mcp import McpHub


class ExecError(Exception):
    """A session that cannot start (no sandbox, no key…): one line for the user (exit status 1)."""


class BadInput(ExecError):
    """What the user gave cannot be used (no such directory, not a repository, a bad schema or
    image…): bad usage, exit status 2."""


@dataclass
class SessionOptions:
    """How to open a session: where, against which model, under which config, new or resumed."""

    cwd: Path = Path(".")
    model: str | None = None
    base_url: str | None = None
    profile: str | None = None
    overrides: Sequence[str] = ()
    skip_git_repo_check: bool = False
    ephemeral: bool = False
    resume: str | None = None
    """A session id (or unique prefix), or ``"--last"`` (the newest of this directory that got an answer)."""
    any_dir: bool = False
    """With ``resume="--last"``: the newest of any directory."""
    fork: bool = False
    """With ``resume``: start a new session from a copy of that one's history instead of continuing it."""
    local: str | None = None
    """``--local``: the local model to serve for this session (``agentrt.model.models``)."""
    sim_script: Path | None = None
    """``--sim FILE``: serve the simulator's script policy in-process and talk to it (no key, offline)."""
    strict_config: bool = False
    """``--strict-config``: unknown keys and Codex keys agentrt does not use are errors."""
    ignore_user_config: bool = False
    """``--ignore-user-config``: leave ``config.toml`` out (overrides and flags still apply)."""
    enable: Sequence[str] = ()
    """``--enable KEY``: feature flags switched on over every config layer."""
    disable: Sequence[str] = ()
    """``--disable KEY``: feature flags switched off over every config layer."""
    add_dirs: Sequence[Path] = ()
    """``--add-dir``: more writable roots under ``workspace-write``."""
    extra_flags: dict[str, Any] = field(default_factory=dict)
    """Config keys set by flags (``sandbox_mode``, ``approval_policy``…); ``None`` values are ignored."""
    base_instructions: str | None = None
    """Instead of agentrt's base prompt (``agentrt mcp-server``'s ``base-instructions``); new sessions only."""
    developer_instructions: str | None = None
    """One more instructions message after the base prompt (``developer-instructions``); new sessions only."""


@dataclass
class ExecOptions(SessionOptions):
    """One ``agentrt exec`` run: a session plus the prompt and where the answer goes."""

    prompt: str = ""
    images: Sequence[Path] = ()
    """``-i FILE``: images sent with the prompt."""
    json: bool = False
    output_last_message: Path | None = None
    output_schema: Path | None = None
    color: bool = False


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
    schema = _load_schema(options.output_schema)
    parts = [image_part(path) for path in options.images]  # bad input stops the run before it starts
    human = HumanSink(stderr, color=options.color, cwd=options.cwd.resolve())
    shown: EventSink = JsonlSink(stdout) if options.json else human
    async with open_session(options, env, shown, stderr=stderr, output_schema=schema) as session:
        if not options.json:
            stderr.write(header(session))
        try:
            final = await session.run_turn(options.prompt, parts)
        except SchemaNotMet as stop:
            if options.output_last_message is not None:  # the last answer, for whoever reads -o
                options.output_last_message.write_text(stop.answer, encoding="utf-8")
            return 1
        except TurnStopped:
            return 1
    _deliver(final, options, stdout)
    return 0


def header(session: AgentSession) -> str:
    """The lines a human-mode run starts with: what runs where, under which rules, as which session."""
    from agentrt import __version__

    config = session.config
    rows = [
        ("workdir", str(session.cwd)),
        ("model", config.model),
        ("provider", f"{config.provider.id} ({config.provider.base_url})"),
        ("sandbox", config.sandbox_mode),
        ("approvals", config.approval_policy),
        ("session id", session.thread_id + ("" if session.writer is not None else " (not recorded)")),
    ]
    rule = "-" * 8
    body = "".join(f"{label}: {value}\n" for label, value in rows)
    return f"agentrt {__version__}\n{rule}\n{body}{rule}\n"


Guard = Callable[[Awaitable[str]], Awaitable[str]]
"""Wraps each turn: the local model server's watch (a turn fails at once when the server dies)."""


async def _unguarded(turn: Awaitable[str]) -> str:
    return await turn


@asynccontextmanager
async def open_session(
    options: SessionOptions,
    env: Mapping[str, str],
    shown: EventSink,
    *,
    stderr: TextIO,
    approver: Approver | None = None,
    output_schema: dict[str, Any] | None = None,
) -> AsyncIterator[AgentSession]:
    """Open a session — new or resumed — that reports to ``shown`` and its rollout; close it after.

    ``approver`` answers the questions the approval policy asks (``None``: nobody is asked, every
    question is a denial the model is told about, as in ``exec``). Bad input (config, directory,
    schema) is refused before any model server starts.
    """
    from agentrt.config import agentrt_home

    home = agentrt_home(env)
    config = load_session_config(home, options, env)
    for line in config.warnings():
        stderr.write(line + "\n")
    cwd = check_cwd(options)
    _check_env_policy(config)
    async with _endpoint(home, config, options, env, stderr) as (served, guard):
        if served is not options:  # pointed at a model server started for the session: its config
            config = load_session_config(home, served, env)
        setup = _Setup(served, env, home, cwd, stderr, approver, output_schema, guard)
        session = AgentSession(setup, config, shown)
        try:
            await session.start()
            yield session
        finally:
            await session.close()


def session_price(config: Config) -> Price | None | Literal[False]:
    """The model's price when cost tracking is on (``None``: not known), else ``False``."""
    if not config.features.enabled("cost_tracking"):
        return False
    table = config.raw.get("model_prices")
    return price_for(config.model, table if isinstance(table, dict) else None)


def context_policy(config: Config) -> ContextPolicy:
    """The thread's context accounting from config: window, compaction, masking, output cap."""
    window, known = window_for(config.model, config.model_context_window)
    return ContextPolicy(
        window=window,
        compact_at=config.model_auto_compact_token_limit,
        masking=config.tool_output_masking,
        keep_turns=config.tool_output_mask_keep_turns,
        output_cap=config.tool_output_token_limit,
        known_window=known,
        instructions=config.compact_prompt or _prompt_file(config.experimental_compact_prompt_file),
    )


def _prompt_file(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read experimental_compact_prompt_file {path}: {exc.strerror or exc}") from exc


def load_session_config(home: Path, options: SessionOptions, env: Mapping[str, str]) -> Config:
    """The session's config: file, profile, ``-c`` overrides, then flags (``None`` flags ignored)."""
    from agentrt.config import load_config

    flags = {k: v for k, v in {"model": options.model, **options.extra_flags}.items() if v is not None}
    config = load_config(
        home, env=env, profile=options.profile, overrides=options.overrides, flags=flags,
        strict=options.strict_config, user_config=not options.ignore_user_config,
        enable=options.enable, disable=options.disable,
    )  # fmt: skip
    if not options.add_dirs:
        return config
    raw = copy.deepcopy(config.raw)
    table = raw.setdefault("sandbox_workspace_write", {})
    table["writable_roots"] = [
        *table.get("writable_roots", []),
        *(str(d.resolve()) for d in options.add_dirs),
    ]
    return replace(config, raw=raw)


IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def image_part(path: Path) -> dict[str, Any]:
    """An image file as a chat content part (a data URL); the Responses wire sends it as ``input_image``."""
    import base64

    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise BadInput(f"{path}: not an image agentrt can send (use one of {', '.join(sorted(IMAGE_TYPES))})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read image {path}: {exc.strerror or exc}") from exc
    url = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    return {"type": "image_url", "image_url": {"url": url}}


def check_cwd(options: SessionOptions) -> Path:
    """The session's working directory, resolved; ``ExecError`` when it is missing or not a repository."""
    cwd = options.cwd.resolve()
    _check_repo(cwd, options.skip_git_repo_check)
    return cwd


@dataclass(frozen=True)
class _Setup:
    """What a session was opened with, kept to reconfigure it (``/model``, ``/approvals``)."""

    options: SessionOptions
    env: Mapping[str, str]
    home: Path
    cwd: Path
    stderr: TextIO
    approver: Approver | None
    output_schema: dict[str, Any] | None
    guard: Guard


class AgentSession:
    """One open conversation: config, model, tools, rollout and the thread that drives them.

    ``exec`` runs one turn on it; the interactive session runs many, and may switch the model or the
    approval policy and sandbox between turns (``reconfigure``).
    """

    def __init__(self, setup: _Setup, config: Config, shown: EventSink) -> None:
        self.setup, self.config = setup, config
        self.approved: set[tuple[str, ...]] = set()
        """Commands approved "for this session": kept across reconfiguration."""
        opened = _open_rollout(setup.home, setup.cwd, config, setup.options, setup.env, setup.stderr)
        self.writer, history, self.thread_id = opened.writer, opened.history, opened.thread_id
        self._spent = opened.spent
        self.resumed = bool(history)
        self._meter = _usage_meter(config)
        sinks: list[EventSink] = [shown] if self.writer is None else [RolloutSink(self.writer), shown]
        self.sink = Fanout(sinks if self._meter is None else [*sinks, self._meter])
        self._history = history
        self._tools = AsyncExitStack()
        self._thread: Thread | None = None
        self._undo: TurnSnapshots | None = None
        self._memories: Memories | None = None
        """Feature ``memories`` (``agent.memory``): the ``remember`` tool and the opening block."""
        self._agents: Agents | None = None
        """Feature ``multi_agent`` (``agent.subagents``): the sub-agents and their tools."""
        self._mcp: McpHub | None = None
        self._goal_tools: list[Tool] | None = None
        """``[mcp_servers]`` (``tools.mcp``): connected in the background; the first request waits."""

    @property
    def thread(self) -> Thread:
        assert self._thread is not None, "the session is started"
        return self._thread

    @property
    def cwd(self) -> Path:
        return self.setup.cwd

    async def start(self) -> None:
        from agentrt.model.factory import model_for

        s = self.setup
        model = model_for(
            self.config,
            s.env,
            base_url=s.options.base_url,
            output_schema=s.output_schema,
            cache_key=self.thread_id,
        )
        try:
            tools = await self._tools.enter_async_context(self._open_tools(self.config))
            history = self._history or _new_history(s.cwd, s.home, self.config, s.env, self.writer, s.options)
        except BaseException:
            await model.aclose()
            raise
        self.sink.emit(ThreadStarted(self.thread_id))
        context = Context(context_policy(self.config))
        if not context.policy.known_window:
            s.stderr.write(
                f"agentrt: note: the context window of model {self.config.model} is not known; assuming "
                f"{context.policy.window:,} tokens (set model_context_window to say)\n"
            )
        self._thread = Thread(
            model, tools, self.sink, cwd=s.cwd, limits=_limits(self.config), history=history,
            check_final=_schema_checker(s.output_schema) if s.output_schema is not None else accept_any,
            context=context,
        )  # fmt: skip
        self._thread.spent = self._spent
        self._thread.price = session_price(self.config)
        if self.config.max_cost_usd is not None and not self._thread.price:
            s.stderr.write(
                f"agentrt: warning: max_cost_usd is not enforced: no price for model {self.config.model} "
                '(add [model_prices."NAME"] to config.toml) or cost_tracking is off\n'
            )
        if self.config.features.enabled("memories"):
            from agentrt.agent.memory import open_memories

            self._memories = open_memories(
                s.home, s.cwd, self.config, s.env, resumed=self.resumed, stderr=s.stderr
            )
            self._thread.tools.add(self._memories.tool)
        if self.config.features.enabled("multi_agent"):
            from agentrt.agent.subagents import open_agents

            self._agents = open_agents(self)
            self._thread.tools.add(*self._agents.tools())
        if self.config.raw.get("mcp_servers"):
            self._mcp = self._start_mcp()

    def _extension_tools(self) -> list[Tool]:
        """The tools the session's extensions added to its registry: offered again when reconfiguring
        replaces the registry."""
        tools: list[Tool] = [] if self._agents is None else self._agents.tools()
        if self._memories is not None:
            tools.append(self._memories.tool)
        if self._mcp is not None:
            from agentrt.tools.mcp import ResourceTools

            tools += [*ResourceTools(self._mcp).tools(), *self._mcp.tools]
        return tools

    def _start_mcp(self) -> McpHub | None:
        """The MCP servers, starting: their tools join the thread's registry as each is up, and the model's
        first request waits for them (each server bounded by its startup timeout). A call with side
        effects is asked of the session's approver under ``untrusted``/``on-request``, per server and tool."""
        from agentrt.agent.approvals import ApprovalGate, FixedApprover
        from agentrt.tools.mcp import McpHub, WaitForTools, configured

        s, thread = self.setup, self.thread
        if not (servers := configured(self.config.raw)):
            return None
        gate = ApprovalGate("untrusted", s.approver or FixedApprover(), self.approved)
        hub = McpHub(
            servers, env=s.env, cwd=s.cwd, env_policy=self.config.raw.get("shell_environment_policy"),
            registry=lambda: self.thread.tools, ctx=lambda: self.thread.ctx,
            policy=lambda: self.config.approval_policy, ask=gate.ask,
        )  # fmt: skip
        hub.start()
        thread.model = WaitForTools(thread.model, hub, lambda: self.thread.tools.specs())
        return hub

    async def run_turn(self, prompt: str, parts: Sequence[Mapping[str, Any]] = ()) -> str:
        """One user turn to its answer (``parts``: images, see ``image_part``); ``TurnStopped`` when it
        ends early, ``CancelledError`` when interrupted. With the ``undo`` feature on and a sandbox
        that may write, the work tree is snapshotted before the turn and after it, however it ends."""
        if self.writer is not None:
            self.writer.append("turn_context", self._turn_context())
        snapshots = self._snapshots() if self.config.sandbox_mode != "read-only" else None
        before = await snapshots.before_turn(prompt) if snapshots is not None else None
        if self._memories is not None:  # the first turn of a new session: the relevant memories first
            self._memories.start_turn(self.thread, prompt)
        try:
            answer = await self.setup.guard(self.thread.run_turn(prompt, parts))
            if self._memories is not None:  # memories the answer cites ([mem:ID]) are kept fresh
                self._memories.end_turn(answer)
            return answer
        finally:
            if snapshots is not None and before is not None:
                await snapshots.after_turn(before)

    def _snapshots(self) -> TurnSnapshots | None:
        """The session's undo snapshots (``agent.undo``) when the ``undo`` feature is on."""
        if self._undo is None and self.config.features.enabled("undo"):
            from agentrt.agent.undo import TurnSnapshots

            self._undo = TurnSnapshots(self.cwd, self.writer, self.setup.stderr)
        return self._undo if self.config.features.enabled("undo") else None

    async def undo(self, n: int = 1) -> str:
        """``/undo``: put the files back as they were before the last ``n`` turns and tell the model on
        the next turn; a one-line summary. ``UndoError`` (``UndoRefused``) says why not."""
        from agentrt.agent.undo import TurnSnapshots

        undo = self._undo or TurnSnapshots(self.cwd, self.writer, self.setup.stderr)
        result = await undo.undo(n)
        self.thread.add({"role": "user", "content": result.note()})
        return result.summary()

    def _turn_context(self) -> dict[str, Any]:
        """The rollout's ``turn_context`` line, in Codex's shape: where and under which rules the turn runs."""
        config = self.config
        table = config.raw.get("sandbox_workspace_write") or {}
        sandbox: dict[str, Any] = {"type": config.sandbox_mode}
        if config.sandbox_mode == "workspace-write":
            sandbox |= {
                "writable_roots": list(table.get("writable_roots", [])),
                "network_access": bool(table.get("network_access", False)),
                "exclude_tmpdir_env_var": False,
                "exclude_slash_tmp": False,
            }
        return {
            "cwd": str(self.cwd),
            "approval_policy": config.approval_policy,
            "sandbox_policy": sandbox,
            "model": config.model,
            "effort": config.model_reasoning_effort,
            "summary": config.model_reasoning_summary or "none",
        }

    async def reconfigure(self, **flags: str) -> None:
        """Switch config keys (``model``, ``approval_policy``, ``sandbox_mode``) for the next turn."""
        from agentrt.model.factory import model_for

        s = self.setup
        options = replace(s.options, extra_flags={**s.options.extra_flags, **flags})
        config = load_session_config(s.home, options, s.env)
        thread = self.thread
        if config.model != self.config.model:
            model = model_for(
                config,
                s.env,
                base_url=options.base_url,
                output_schema=s.output_schema,
                cache_key=self.thread_id,
            )
            await thread.model.aclose()
            thread.model, thread.context = model, Context(context_policy(config))
            thread.price = session_price(config)
        if (config.sandbox_mode, config.approval_policy) != (
            self.config.sandbox_mode,
            self.config.approval_policy,
        ):
            fresh = AsyncExitStack()
            thread.tools = await fresh.enter_async_context(self._open_tools(config))
            thread.tools.add(*self._extension_tools())  # sub-agent and MCP tools stay offered
            old, self._tools = self._tools, fresh
            await old.aclose()
            thread.add({"role": "user", "content": _environment(s.cwd, config, s.env)})
        self.setup, self.config = replace(s, options=options), config

    def _open_tools(self, config: Config) -> AbstractAsyncContextManager[ToolRegistry]:
        """The tools under ``config``'s approvals: asked of the session's approver, or of the guardian
        (``approvals_reviewer = "guardian"``, feature ``guardian_approval``), whose model closes with them."""
        from agentrt.agent.approvals import ApprovalGate, FixedApprover
        from agentrt.agent.guardian import guardian_selected, open_guardian, reviewer_warning

        s = self.setup
        if (warning := reviewer_warning(config)) is not None:
            s.stderr.write(warning + "\n")
        goals = self._goals(config)
        if not guardian_selected(config):
            gate = ApprovalGate(config.approval_policy, s.approver or FixedApprover(), self.approved)
            return _session_tools(config, s.cwd, s.env, gate, goals)
        guardian = open_guardian(
            config, s.env, self.sink, base_url=s.options.base_url, cache_key=f"{self.thread_id}-guardian",
            history=lambda: self._thread.messages if self._thread is not None else (),
            new_id=lambda: self.thread.ids.new(),
        )  # fmt: skip
        gate = ApprovalGate(config.approval_policy, guardian, self.approved)
        return guardian.closing(_session_tools(config, s.cwd, s.env, gate, goals))

    def _goals(self, config: Config) -> list[Tool]:
        """Codex's goal tools (parity mode), counting the session's tokens with its usage meter: made
        once, so the thread's goal outlives a switch of approvals or sandbox (which rebuilds the tools)."""
        if not config.parity or self._meter is None:
            return []
        if self._goal_tools is None:
            from agentrt.tools.goals import Goals

            self._goal_tools = Goals(self.thread_id, self._meter.total).tools()
        return self._goal_tools

    async def close(self) -> None:
        try:
            if self._agents is not None:  # sub-agents first: their tasks, tools, rollouts (never raises)
                await self._agents.aclose()
            await self._tools.aclose()
        finally:
            if self._memories is not None:
                self._memories.close()
            try:
                if self._mcp is not None:
                    await self._mcp.close()  # the MCP servers stop with the session, however it ends
            finally:
                if self._thread is not None:
                    await self._thread.model.aclose()
                if self.writer is not None:
                    self.writer.close()


@asynccontextmanager
async def _endpoint(
    home: Path, config: Config, options: SessionOptions, env: Mapping[str, str], stderr: TextIO
) -> AsyncIterator[tuple[SessionOptions, Guard]]:
    """The options that reach the model: as given, or pointed at a model server started for this session."""
    if options.sim_script is not None:
        async with _simulated(options) as simulated:
            yield simulated, _unguarded
        return
    local = _local_model(config, options)
    if local is None:
        yield options, _unguarded
        return
    from agentrt.model.local import LOCAL_CONTEXT, serve_model

    async with serve_model(home, local, env, stderr=stderr, n_ctx=LOCAL_CONTEXT) as server:
        flags = {**options.extra_flags, "model_provider": "local", "model_context_window": LOCAL_CONTEXT}
        served = replace(options, base_url=server.base_url, model=local, local=None, extra_flags=flags)
        yield served, server.guard


@asynccontextmanager
async def _simulated(options: SessionOptions) -> AsyncIterator[SessionOptions]:
    """The simulator replaying ``options.sim_script``, in-process on a free loopback port."""
    from agentrt.model.sim import SimConfig, load_script, start_sim_server

    if options.local is not None or options.base_url is not None:
        raise BadInput("--sim serves its own model: leave out --local and --base-url")
    assert options.sim_script is not None
    try:
        script = load_script(options.sim_script)
    except OSError as exc:
        raise BadInput(f"cannot read the script {options.sim_script}: {exc.strerror or exc}") from exc
    server = await start_sim_server(SimConfig(policy="script", script=script, tps=200.0))
    provider = (
        f'model_providers.sim={{name = "agentrt simulator", base_url = "{server.base_url}", '
        'wire_api = "responses", requires_api_key = false}'
    )
    try:
        yield replace(
            options,
            model="agentrt-sim",
            overrides=[*options.overrides, provider],
            extra_flags={**options.extra_flags, "model_provider": "sim"},
            sim_script=None,
        )
    finally:
        await server.close()


def _new_history(
    cwd: Path,
    home: Path,
    config: Config,
    env: Mapping[str, str],
    writer: RolloutWriter | None,
    options: SessionOptions | None = None,
) -> list[Message]:
    """A new session's opening messages (with ``options``' own instructions), recorded in its rollout."""
    history = _initial_history(cwd, home, config, env)
    if options is not None and options.base_instructions is not None:  # agentrt mcp-server's arguments
        history[0] = {"role": "system", "content": options.base_instructions}
    if options is not None and options.developer_instructions is not None:
        leading = next((i for i, m in enumerate(history) if m["role"] != "system"), len(history))
        history.insert(leading, {"role": "system", "content": options.developer_instructions})
    if writer is not None:
        for message in history:
            append_message(writer, message)
    return history


def _deliver(final: str, options: ExecOptions, stdout: TextIO) -> None:
    """The answer on stdout (unless ``--json`` printed it as an event) and in ``-o FILE``."""
    if not options.json:
        stdout.write(final + ("\n" if not final.endswith("\n") else ""))
        stdout.flush()
    if options.output_last_message is not None:
        options.output_last_message.write_text(final, encoding="utf-8")


def _limits(config: Config) -> Limits:
    return Limits(config.max_turns, config.max_wall_s, config.max_tokens, config.max_cost_usd)


def _local_model(config: Config, options: SessionOptions) -> str | None:
    from agentrt.model.local import local_model_for_run

    provider = config.provider
    return local_model_for_run(
        options.local, base_url=options.base_url, provider_id=provider.id, provider_url=provider.base_url,
        model=config.model,
    )  # fmt: skip


def _check_repo(cwd: Path, skip: bool) -> None:
    from agentrt.git import git_root

    if not cwd.is_dir():
        raise BadInput(f"working directory {cwd} does not exist")
    if not skip and git_root(cwd) is None:
        raise BadInput(
            f"{cwd} is not inside a git repository; agentrt exec works on repositories. "
            "Pass --skip-git-repo-check to run here anyway."
        )


def _check_env_policy(config: Config) -> None:
    """A mistake in ``[shell_environment_policy]`` stops the run now, not at the first command."""
    from agentrt.sandbox.env import check_env_policy

    try:
        check_env_policy(config.raw.get("shell_environment_policy"))
    except ValueError as exc:
        raise BadInput(f"config: {exc}") from exc


def _load_schema(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"cannot read output schema {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise BadInput(f"output schema {path} is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise BadInput(f"output schema {path} must be a JSON object")
    from agentrt.agent.schema import schema_problem

    problem = schema_problem(schema)
    if problem is not None:
        raise BadInput(f"output schema {path} is not a valid JSON Schema: {problem}")
    return schema


@dataclass(frozen=True)
class _Opened:
    """A session's record as opened: where it is written, its history, its id, its tokens so far."""

    writer: RolloutWriter | None
    history: list[Message]
    thread_id: str
    spent: TokenUsage = TokenUsage()


def _open_rollout(
    home: Path, cwd: Path, config: Config, options: SessionOptions, env: Mapping[str, str], stderr: TextIO
) -> _Opened:
    if options.resume is not None:
        return _reopen(home, cwd, config, options, env, stderr)
    if options.ephemeral:
        import uuid

        return _Opened(None, [], str(uuid.uuid4()))
    writer = RolloutWriter.create(home, cwd=cwd, meta=_meta(config))
    return _Opened(writer, [], writer.id)


def _meta(config: Config) -> dict[str, Any]:
    return {"model": config.model, "model_provider": config.model_provider, "instructions": None}


def _reopen(
    home: Path, cwd: Path, config: Config, options: SessionOptions, env: Mapping[str, str], stderr: TextIO
) -> _Opened:
    """A recorded session continued (same file, its token count carried on) or forked (a new file with
    a copy of its history). When the working directory is not the recorded one, a fresh environment
    message tells the model where commands now run.
    """
    from agentrt.agent.rollout import find_session, history_from_rollout, read_rollout, spent_in

    last = options.resume == "--last"
    where = None if options.any_dir else cwd
    path = find_session(home, None if last else options.resume, last=last, cwd=where)
    rollout = read_rollout(path)
    history = history_from_rollout(rollout)
    source_id = str(rollout.meta.get("id", path.stem))
    moved = _moved(rollout.meta.get("cwd"), cwd)
    if moved:
        history.append({"role": "user", "content": _environment(cwd, config, env)})
    if options.fork:
        return _forked(home, cwd, config, options, history, source_id)
    writer = None if options.ephemeral else RolloutWriter.resume(path)
    note = rollout.damage if writer is None else writer.note
    if note:
        stderr.write(f"agentrt: warning: {note}\n")
    if writer is not None and moved:
        append_message(writer, history[-1])
    return _Opened(writer, history, source_id, spent_in(rollout))


def _moved(recorded: object, cwd: Path) -> bool:
    return isinstance(recorded, str) and os.path.realpath(recorded) != os.path.realpath(cwd)


def _forked(
    home: Path, cwd: Path, config: Config, options: SessionOptions, history: list[Message], source: str
) -> _Opened:
    if options.ephemeral:
        import uuid

        return _Opened(None, history, str(uuid.uuid4()))
    writer = RolloutWriter.create(home, cwd=cwd, meta={**_meta(config), "forked_from": source})
    for message in history:
        append_message(writer, message)
    return _Opened(writer, history, writer.id)


def _initial_history(cwd: Path, home: Path, config: Config, env: Mapping[str, str]) -> list[Message]:
    """Base instructions, AGENTS.md, environment. In parity mode, as Codex 0.169 opens a thread: a
    second instructions message on permissions, and one user message holding AGENTS.md and the
    environment as two parts."""
    from agentrt.agent.instructions import agents_md_message, base_instructions

    history: list[Message] = [{"role": "system", "content": base_instructions(config.base_prompt_kind)}]
    agents = agents_md_message(cwd, home, config.project_doc_max_bytes)
    if config.parity:
        history.append({"role": "system", "content": _permissions(config)})
        texts = [str(agents["content"])] if agents is not None else []
        texts.append(_environment(cwd, config, env))
        history.append({"role": "user", "content": [{"type": "input_text", "text": t} for t in texts]})
        return history
    if agents is not None:
        history.append(dict(agents))
    history.append({"role": "user", "content": _environment(cwd, config, env)})
    return history


def _environment(cwd: Path, config: Config, env: Mapping[str, str]) -> str:
    """The environment context message: where the agent works and under which rules."""
    from agentrt.agent.instructions import environment_context

    shell = os.path.basename(env.get("SHELL") or "bash")
    today = None
    if config.parity:
        now = datetime.now().astimezone()
        today = (now.date().isoformat(), env.get("TZ") or _zone_name() or str(now.tzname()))
    return environment_context(
        cwd,
        approval_policy=config.approval_policy,
        sandbox_mode=config.sandbox_mode,
        shell=shell,
        today=today,
    )


def _zone_name() -> str | None:
    """The system's IANA time zone name (``Etc/UTC``), from ``/etc/localtime``'s link, if it is one."""
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return None
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else None


def _permissions(config: Config) -> str:
    from agentrt.agent.instructions import permissions_instructions

    roots: list[str] = []
    if config.sandbox_mode == "workspace-write":
        table = config.raw.get("sandbox_workspace_write") or {}
        roots = [str(r) for r in table.get("writable_roots", [])]
    return permissions_instructions(
        sandbox_mode=config.sandbox_mode, approval_policy=config.approval_policy, writable_roots=roots
    )


def _usage_meter(config: Config) -> UsageMeter | None:
    """In parity mode, a meter of the session's tokens (Codex's goal tools report them)."""
    if not config.parity:
        return None
    from agentrt.tools.goals import UsageMeter

    return UsageMeter()


@asynccontextmanager
async def _session_tools(
    config: Config, cwd: Path, env: Mapping[str, str], approvals: Approvals, goals: Sequence[Tool] = ()
) -> AsyncIterator[ToolRegistry]:
    """The session's tools, every command and patch confined by the sandbox mode: agentrt's own, or
    in parity mode Codex 0.169's (``goals``: its goal tools).

    The mechanism's start-up self-test runs in a thread while the model answers the first request;
    the first command waits for it. If nothing can enforce the mode, the run stops with the
    diagnostic before any command runs, and at the end of the run if no command ran.
    """
    from agentrt.sandbox import confined_write, policy_for, private_tmpdir
    from agentrt.tools.apply_patch.fsops import local_write
    from agentrt.tools.coding import codex_tools, coding_tools

    policy = policy_for(config.sandbox_mode, cwd, home=config.home, raw=config.raw)
    with private_tmpdir(policy) as policy:
        binding = _SandboxBinding(config, policy, env)
        write: FileWrite = confined_write(policy) if policy.sandboxed else local_write
        runner = None
        if config.parity:
            tools, runner = codex_tools(
                binding.confinement, write, approvals=approvals, hidden=policy.deny_read,
                enabled=config.features.enabled, goals=goals, web_search=_web_search(config),
                output_max_bytes=config.tool_output_max_bytes,
            )  # fmt: skip
        else:
            tools = coding_tools(binding.confinement, write, approvals=approvals, hidden=policy.deny_read)
            if "web_search" in config.raw and (mode := _web_search(config)) is not None:
                from agentrt.tools.web_search import WebSearchTool

                tools.append(WebSearchTool(mode))  # asked for in config.toml: offered outside parity too
        try:
            yield ToolRegistry(tools, output_max_bytes=config.tool_output_max_bytes)
        finally:
            try:
                if runner is not None:
                    await runner.aclose()
            finally:
                await binding.close()


def _web_search(config: Config) -> str | None:
    """The ``web_search`` mode to offer, or ``None``: disabled, or an endpoint whose wire (chat) has no
    such tool. Codex 0.169's default: ``live`` with no sandbox (danger-full-access), else ``cached``."""
    default = "live" if config.sandbox_mode == "danger-full-access" else "cached"
    mode = str(config.raw.get("web_search", default))
    return None if mode == "disabled" or config.provider.wire_api != "responses" else mode


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


SCHEMA_RETRIES = 2
"""Re-asks for an answer that does not match ``--output-schema`` before the turn gives up."""


class SchemaNotMet(TurnStopped):
    """The model kept answering outside ``--output-schema``; ``answer`` is its last answer."""

    def __init__(self, problem: str, answer: str) -> None:
        super().__init__(
            "output_schema",
            f"the final answer did not match --output-schema after {SCHEMA_RETRIES} re-asks: {problem}",
        )
        self.answer = answer


def _schema_checker(schema: dict[str, Any]) -> FinalCheck:
    from agentrt.agent.schema import validation_error

    refused = 0

    async def check(text: str, ctx: ToolContext) -> str | None:
        nonlocal refused
        try:
            value = json.loads(text)
        except ValueError as exc:
            problem: str | None = f"it must be JSON matching the output schema ({exc})"
        else:
            problem = validation_error(value, schema)
        if problem is None:
            return None
        refused += 1
        if refused > SCHEMA_RETRIES:
            raise SchemaNotMet(problem, text)
        return f"Your final answer is not valid: {problem}. Answer again, correctly."

    return check
