"""Sub-agents (feature ``multi_agent``, issue 13): a session's agent delegates to helper agents.

Every sub-agent is one more ``Thread`` driven by the same loop, as an asyncio task of this process: it
shares the session's live model client (one connection pool) and gets tools built as the session's
are, so a live helper costs a history, a tool registry and a task — a fraction of a process.

The model sees Codex's v1 tools (names and argument shapes of Codex 0.169's ``multi_agent_v1``):

``spawn_agent {message | items, agent_type?, fork_context?, model?, reasoning_effort?}``
    → ``{"agent_id", "nickname"}``; the child starts from the prompt alone (its own base instructions
    and environment) unless ``fork_context`` copies the caller's history.
``send_input {target, message | items, interrupt?}`` → ``{"submission_id"}``; queued after the running
    turn, or (``interrupt``) in its place.
``wait_agent {targets (alias ids), timeout_ms?}`` → ``{"status": {id: status}, "timed_out"}``: returns
    once one target is final (then with every target final by then), or at the timeout (30 s by
    default, bounded to 10 s – 1 h).
``close_agent {target}`` → ``{"previous_status"}``; its descendants close with it.
``resume_agent {id}`` → ``{"status"}``: a closed agent (or one of a resumed session) back from its rollout.

Statuses: ``pending_init``, ``running``, ``interrupted``, ``shutdown``, ``not_found``,
``{"completed": text}``, ``{"errored": text}``. Anything refused (a limit, an unknown agent, bad
arguments) goes back to the model as an ``error: …`` text.

Limits: ``[agents] max_threads`` (open sub-agents in the whole tree, default 6) and ``max_depth``
(default 1: the session's own agent is depth 0, a child at depth ``max_depth`` is not offered these
tools). Roles: ``default``, ``explorer`` (read-only sandbox), ``worker``, and user roles from
``$AGENTRT_HOME/agents/*.toml`` (Codex's role-file keys: ``name``, ``description``,
``developer_instructions``, ``nickname_candidates``, ``model``, ``model_reasoning_effort``,
``sandbox_mode``) or ``[agents.NAME] {description, config_file, nickname_candidates}``. A role may
narrow the sandbox, never widen it past the parent's.

Records: every child has its own rollout (``session_meta`` with ``source = "subagent"``,
``parent_thread_id``, ``agent_nickname``, ``agent_role``, ``agent_depth``); the spawning agent's
rollout gets an ``event_msg`` ``agent_spawned {agent_id, nickname, role, depth, path}``, which is how a
resumed session finds its children again (``resume_agent``). Events a child reports reach the
session's sink wrapped in ``AgentEvent`` (its id and nickname); the calls themselves are
``collab_tool_call`` items, as in Codex's ``exec --json``.
"""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentrt.agent.rollout import RolloutSink, RolloutWriter, append_message, new_session_id
from agentrt.agent.thread import Limits, Thread, TurnStopped
from agentrt.events import (
    AgentEvent,
    CollabToolCall,
    Event,
    EventSink,
    Fanout,
    ItemCompleted,
    ItemStarted,
)
from agentrt.interfaces import Model
from agentrt.messages import Message
from agentrt.tools.registry import Tool, ToolContext, ToolRegistry, function_spec

if TYPE_CHECKING:
    from agentrt.agent.session import AgentSession
    from agentrt.config import Config

WAIT_DEFAULT_MS = 30_000
WAIT_MIN_MS = 10_000
WAIT_MAX_MS = 3_600_000

SANDBOX_ORDER = ("read-only", "workspace-write", "danger-full-access")
"""Sandbox modes from the narrowest; a role may move a child left of its parent's mode, never right."""

_FINAL = frozenset({"completed", "errored", "shutdown", "not_found", "interrupted"})
"""Statuses a wait ends on: the agent is not working (``interrupted``: idle until new input)."""

NICKNAMES = (
    "Ada", "Basil", "Cleo", "Dario", "Edda", "Fenn", "Greta", "Hugo", "Iris", "Jonas", "Kira", "Lior",
    "Mira", "Nils", "Orla", "Pavel", "Quinn", "Rosa", "Soren", "Tova", "Ugo", "Vera", "Wren", "Yann",
)  # fmt: skip
"""Display names handed out in order (a role's ``nickname_candidates`` first); repeats get a number."""


class AgentConfigError(ValueError):
    """``[agents]`` or a role file is unusable: one line for the user."""


# -- roles and limits ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Role:
    """What a spawned agent is for: a description for the model, instructions for the child, and
    optionally its own model, reasoning effort, sandbox mode and nicknames."""

    name: str
    description: str
    instructions: str | None = None
    model: str | None = None
    reasoning_effort: str | None = None
    sandbox_mode: str | None = None
    nicknames: tuple[str, ...] = ()


BUILTIN_ROLES: Mapping[str, Role] = {
    "default": Role("default", "A general helper with the parent's tools and permissions."),
    "explorer": Role(
        "explorer",
        "Reads the repository and answers questions about it; cannot change files (read-only sandbox).",
        instructions=(
            "You are an explorer sub-agent: find things out and report them concisely, with file paths "
            "and line numbers. You cannot change files; do not try."
        ),
        sandbox_mode="read-only",
    ),
    "worker": Role(
        "worker",
        "Carries out a well-defined piece of work (code changes, test runs) and reports what it did.",
        instructions=(
            "You are a worker sub-agent: do the task you are given, verify it, and end with a short "
            "report of what you changed and how you checked it."
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """``[agents]`` and the roles: how many sub-agents may be open, how deep they may nest."""

    max_threads: int = 6
    max_depth: int = 1
    roles: Mapping[str, Role] = field(default_factory=lambda: dict(BUILTIN_ROLES))
    wait_min_ms: int = WAIT_MIN_MS
    """The shortest wait ``wait_agent`` honours (shorter ones are raised to it)."""


def load_settings(config: Config) -> AgentSettings:
    """``config``'s ``[agents]`` table and the role files of ``$AGENTRT_HOME/agents``;
    ``AgentConfigError`` names what is wrong."""
    table = config.raw.get("agents") or {}
    if not isinstance(table, dict):
        raise AgentConfigError("config: [agents] must be a table")
    max_threads = _int(table, "max_threads", 6, low=1)
    max_depth = _int(table, "max_depth", 1, low=0)
    roles = dict(BUILTIN_ROLES)
    directory = Path(config.home) / "agents"
    if directory.is_dir():
        for path in sorted(directory.glob("*.toml")):
            role = _role_file(path, path.stem)
            roles[role.name] = role
    for name, entry in table.items():
        if isinstance(entry, dict):
            roles[name] = _role_table(config.home, name, entry)
    return AgentSettings(max_threads=max_threads, max_depth=max_depth, roles=roles)


def _int(table: Mapping[str, Any], key: str, default: int, *, low: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise AgentConfigError(f"config: agents.{key} must be an integer >= {low}, got {value!r}")
    return value


def _role_file(path: Path, default_name: str) -> Role:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AgentConfigError(f"agent role file {path}: {exc}") from exc
    return _role(str(path), data.get("name", default_name), data)


def _role_table(home: Path, name: str, entry: Mapping[str, Any]) -> Role:
    """``[agents.NAME] {description, config_file, nickname_candidates}``: Codex's role declaration,
    ``config_file`` (relative to ``$AGENTRT_HOME``) holding the rest."""
    data: dict[str, Any] = {}
    config_file = entry.get("config_file")
    if config_file is not None:
        if not isinstance(config_file, str):
            raise AgentConfigError(f"config: agents.{name}.config_file must be a string")
        data = dict(_role_data(Path(home) / Path(config_file).expanduser()))
    data.update({k: v for k, v in entry.items() if k != "config_file"})
    return _role(f"config: agents.{name}", name, data)


def _role_data(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AgentConfigError(f"agent role file {path}: {exc}") from exc


def _role(where: str, name: object, data: Mapping[str, Any]) -> Role:
    def text(key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise AgentConfigError(f"{where}: {key} must be a string")
        return value

    if not isinstance(name, str) or not name.strip():
        raise AgentConfigError(f"{where}: name must be a non-empty string")
    sandbox = text("sandbox_mode")
    if sandbox is not None and sandbox not in SANDBOX_ORDER:
        raise AgentConfigError(f"{where}: sandbox_mode must be one of {', '.join(SANDBOX_ORDER)}")
    nicknames = data.get("nickname_candidates", ())
    if not isinstance(nicknames, list | tuple) or not all(isinstance(n, str) and n for n in nicknames):
        raise AgentConfigError(f"{where}: nickname_candidates must be a list of names")
    return Role(
        name=name.strip(),
        description=text("description") or f"The {name} role.",
        instructions=text("developer_instructions"),
        model=text("model"),
        reasoning_effort=text("model_reasoning_effort"),
        sandbox_mode=sandbox,
        nicknames=tuple(nicknames),
    )


def narrowed(parent: str, wanted: str | None) -> str:
    """The sandbox mode of a child whose role asks for ``wanted`` under a parent in ``parent``."""
    if wanted is None or parent not in SANDBOX_ORDER:
        return parent
    return min(parent, wanted, key=SANDBOX_ORDER.index)


# -- what the registry needs from its session ----------------------------------------------------------


@dataclass
class AgentHost:
    """What sub-agents take from the session that owns them. Callables are read at spawn time, so a
    child inherits the session's *live* model, sandbox mode and approvals."""

    cwd: Path
    sink: EventSink
    """The session's sink: children's events arrive here wrapped in ``AgentEvent``."""
    root_id: str
    model: Callable[[], Model]
    tools: Callable[[str], AbstractAsyncContextManager[ToolRegistry]]
    """A child's tools under a sandbox mode, opened and closed as the session opens its own."""
    history: Callable[[], list[Message]]
    """A new thread's opening messages (base instructions, environment)."""
    sandbox_mode: Callable[[], str]
    limits: Callable[[], Limits] = Limits
    home: Path | None = None
    """Where children's rollouts go (``None``: not recorded, as an ephemeral session)."""
    meta: Callable[[], dict[str, Any]] = dict
    writer: RolloutWriter | None = None
    """The session's rollout: spawns are recorded in it."""
    messages: Callable[[], list[Message]] = list
    """The session's history, for ``fork_context``."""
    model_with: Callable[[str | None, str | None, str], Model] | None = None
    """A model client for a ``model`` / ``reasoning_effort`` override (owned and closed by the child)."""


# -- the agents ----------------------------------------------------------------------------------------


class _Agent:
    """One agent of the tree: the session's own (``depth`` 0, no task) or a sub-agent."""

    __slots__ = (
        "id", "nickname", "role", "depth", "parent", "children", "status", "message", "thread", "writer",
        "path", "inbox", "wake", "changed", "task", "turn", "closing",
    )  # fmt: skip

    def __init__(
        self, id: str, nickname: str, role: str, depth: int, parent: _Agent | None, path: Path | None = None
    ) -> None:
        self.id, self.nickname, self.role, self.depth, self.parent = id, nickname, role, depth, parent
        self.children: list[_Agent] = []
        self.status = "pending_init"
        self.message: str | None = None
        self.thread: Thread | None = None
        self.writer: RolloutWriter | None = None
        self.path = path
        self.inbox: deque[tuple[str, list[dict[str, Any]]]] = deque()
        self.wake = asyncio.Event()
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.turn: asyncio.Task[str] | None = None
        self.closing = False

    def status_json(self) -> object:
        if self.status in ("completed", "errored"):
            return {self.status: self.message}
        return self.status

    def open(self) -> bool:
        """Counts against ``max_threads``: started and not closed."""
        return self.task is not None and not self.task.done()


class _Tagged:
    """Forwards a child's events to its parent's sink, tagged with the child (once: a grandchild's
    events pass through already tagged)."""

    __slots__ = ("agent", "sink")

    def __init__(self, sink: EventSink, agent: _Agent) -> None:
        self.sink, self.agent = sink, agent

    def emit(self, event: Event) -> None:
        if not isinstance(event, AgentEvent):
            event = AgentEvent(self.agent.id, self.agent.nickname, event)
        self.sink.emit(event)


class _Refused(Exception):
    """A tool call that cannot be done: its message goes back to the model as ``error: …``."""


class Agents:
    """The session's tree of agents: spawns, messages, waits on and closes sub-agents; owns their
    tasks and cancels and awaits them in ``aclose``."""

    def __init__(self, host: AgentHost, settings: AgentSettings | None = None) -> None:
        self.host = host
        self.settings = settings or AgentSettings()
        self.root = _Agent(host.root_id, "main", "default", 0, None)
        self.root.status = "running"
        self.root.writer = host.writer
        self.spawn_s: list[float] = []
        """Wall time of each successful ``spawn_agent`` call (telemetry)."""
        self._named = 0
        self._strings: dict[str, str] = {}
        self._closed = False

    # -- tools ---------------------------------------------------------------------------------------

    def tools(self, owner: _Agent | None = None) -> list[Tool]:
        """The five tools, bound to the agent that calls them (default: the session's own)."""
        me = owner or self.root
        return [
            _AgentTool("spawn_agent", _SPAWN, lambda a, c: self.spawn(me, a, c)),
            _AgentTool("send_input", _SEND, lambda a, c: self.send(me, a, c)),
            _AgentTool("wait_agent", _WAIT, lambda a, c: self.wait(me, a, c)),
            _AgentTool("close_agent", _CLOSE, lambda a, c: self.close_agent(me, a, c)),
            _AgentTool("resume_agent", _RESUME, lambda a, c: self.resume(me, a, c)),
        ]

    def agents(self) -> list[_Agent]:
        """Every sub-agent, depth first in spawn order."""
        out: list[_Agent] = []
        stack = list(reversed(self.root.children))
        while stack:
            agent = stack.pop()
            out.append(agent)
            stack.extend(reversed(agent.children))
        return out

    def live(self) -> int:
        """Open sub-agents (what ``max_threads`` bounds)."""
        return sum(agent.open() for agent in self.agents())

    async def spawn(self, owner: _Agent, args: dict[str, Any], ctx: ToolContext) -> str:
        started = time.perf_counter()
        depth = owner.depth + 1
        if depth > self.settings.max_depth:
            raise _Refused(
                f"the agent depth limit ({self.settings.max_depth}) is reached: do this task yourself"
            )
        if self.live() >= self.settings.max_threads:
            raise _Refused(
                f"{self.settings.max_threads} sub-agents are open, the limit (agents.max_threads): wait for "
                "one to finish and close it (close_agent) before spawning another, or do the work yourself"
            )
        text, parts = _input(args, "spawn_agent")
        role_name = (args.get("agent_type") or "default").strip() or "default"
        role = self.settings.roles.get(role_name)
        if role is None:
            raise _Refused(
                f"unknown agent_type {role_name!r}; the roles are: {', '.join(self.settings.roles)}"
            )
        fork = bool(args.get("fork_context"))
        if fork and (args.get("agent_type") or args.get("model") or args.get("reasoning_effort")):
            raise _Refused(
                "fork_context copies this agent as it is: leave out agent_type, model and reasoning_effort"
            )
        item = ctx.ids.new()
        ctx.emit(ItemStarted(CollabToolCall(item, "spawn_agent", owner.id, prompt=text)))
        try:
            child = self._start(
                owner, role, text, parts, fork, args.get("model"), args.get("reasoning_effort")
            )
        except Exception as exc:
            ctx.emit(
                ItemCompleted(CollabToolCall(item, "spawn_agent", owner.id, prompt=text, status="failed"))
            )
            raise _Refused(f"the agent could not be started: {exc}") from exc
        ctx.emit(ItemCompleted(self._item(item, "spawn_agent", owner, [child], text)))
        self.spawn_s.append(time.perf_counter() - started)
        return json.dumps({"agent_id": child.id, "nickname": child.nickname})

    async def send(self, owner: _Agent, args: dict[str, Any], ctx: ToolContext) -> str:
        agent = self._target(owner, str(args["target"]))
        text, parts = _input(args, "send_input")
        if not agent.open():
            raise _Refused(
                f"agent {agent.id} ({agent.nickname}) is {agent.status}: it takes no input "
                "(resume_agent brings back a closed agent)"
            )
        item = ctx.ids.new()
        ctx.emit(ItemStarted(CollabToolCall(item, "send_input", owner.id, (agent.id,), text)))
        turn = agent.turn
        if args.get("interrupt") and turn is not None and not turn.done():
            turn.cancel()
            await asyncio.wait([turn])
        agent.inbox.append((text, parts))
        agent.wake.set()
        if agent.status in _FINAL:
            self._set(agent, "running")
        ctx.emit(ItemCompleted(self._item(item, "send_input", owner, [agent], text)))
        return json.dumps({"submission_id": new_session_id()})

    async def wait(self, owner: _Agent, args: dict[str, Any], ctx: ToolContext) -> str:
        targets = args.get("targets", args.get("ids"))
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
            raise _Refused("wait_agent needs targets: a non-empty list of agent ids")
        timeout_ms = args.get("timeout_ms", WAIT_DEFAULT_MS)
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int | float):
            raise _Refused("timeout_ms must be a number of milliseconds")
        if timeout_ms <= 0:
            raise _Refused("timeout_ms must be greater than zero")
        timeout_s = min(max(timeout_ms, self.settings.wait_min_ms), WAIT_MAX_MS) / 1000
        found = {t: self._find(owner, t) for t in dict.fromkeys(targets)}
        agents = [a for a in found.values() if a is not None]
        item = ctx.ids.new()
        ctx.emit(ItemStarted(CollabToolCall(item, "wait", owner.id, tuple(a.id for a in agents))))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not (done := [a for a in agents if a.status in _FINAL]) and len(agents) == len(found):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or not await _any_change(agents, left):
                break
        missing = {t: "not_found" for t, a in found.items() if a is None}
        status: dict[str, object] = {**missing, **{a.id: a.status_json() for a in done}}
        ctx.emit(ItemCompleted(self._item(item, "wait", owner, done, None, missing=tuple(missing))))
        return json.dumps({"status": status, "timed_out": not status})

    async def close_agent(self, owner: _Agent, args: dict[str, Any], ctx: ToolContext) -> str:
        agent = self._target(owner, str(args["target"]))
        previous = agent.status_json()
        item = ctx.ids.new()
        ctx.emit(ItemStarted(CollabToolCall(item, "close_agent", owner.id, (agent.id,))))
        await self._shutdown(agent)
        ctx.emit(ItemCompleted(self._item(item, "close_agent", owner, [agent], None)))
        return json.dumps({"previous_status": previous})

    async def resume(self, owner: _Agent, args: dict[str, Any], ctx: ToolContext) -> str:
        agent = self._target(owner, str(args["id"]))
        if agent.open():
            return json.dumps({"status": agent.status_json()})
        if agent.path is None:
            raise _Refused(f"agent {agent.id} was not recorded (an ephemeral session): it cannot be resumed")
        if self.live() >= self.settings.max_threads:
            raise _Refused(f"{self.settings.max_threads} sub-agents are open, the limit: close one first")
        item = ctx.ids.new()
        ctx.emit(ItemStarted(CollabToolCall(item, "resume_agent", owner.id, (agent.id,))))
        try:
            self._reopen(agent)
        except Exception as exc:
            ctx.emit(
                ItemCompleted(CollabToolCall(item, "resume_agent", owner.id, (agent.id,), status="failed"))
            )
            raise _Refused(f"agent {agent.id} cannot be resumed: {exc}") from exc
        ctx.emit(ItemCompleted(self._item(item, "resume_agent", owner, [agent], None)))
        return json.dumps({"status": agent.status_json()})

    # -- lifecycle ------------------------------------------------------------------------------------

    def _start(
        self,
        owner: _Agent,
        role: Role,
        text: str,
        parts: list[dict[str, Any]],
        fork: bool,
        model_name: str | None,
        effort: str | None,
    ) -> _Agent:
        host = self.host
        mode = narrowed(host.sandbox_mode(), role.sandbox_mode)
        nickname = self._nickname(role)
        child = _Agent(new_session_id(), nickname, role.name, owner.depth + 1, owner)
        history = _forked(self._messages(owner)) if fork else self._fresh(role)
        model, owned = host.model(), None
        name, effort = model_name or role.model, effort or role.reasoning_effort
        if name is not None or effort is not None:
            if host.model_with is None:
                raise _Refused("this session cannot give a sub-agent another model")
            model = owned = host.model_with(name, effort, child.id)
        if host.home is not None:
            meta = {
                **host.meta(), "source": "subagent", "parent_thread_id": owner.id, "agent_nickname": nickname,
                "agent_role": role.name, "agent_depth": child.depth,
            }  # fmt: skip
            if name is not None:
                meta["model"] = name
            child.writer = RolloutWriter.create(host.home, cwd=host.cwd, meta=meta)
            child.id, child.path = child.writer.id, child.writer.path
            for message in history:
                append_message(child.writer, message)
        owner.children.append(child)
        if owner.writer is not None:
            owner.writer.append("event_msg", self._spawn_line(child))
        child.inbox.append((text, parts))
        child.wake.set()
        self._launch(child, mode, model, owned, history)
        return child

    def _launch(
        self, agent: _Agent, mode: str, model: Model, owned: Model | None, history: list[Message]
    ) -> None:
        agent.closing = False
        agent.task = asyncio.create_task(
            self._run(agent, mode, model, owned, history), name=f"agent {agent.id}"
        )

    async def _run(
        self, agent: _Agent, mode: str, model: Model, owned: Model | None, history: list[Message]
    ) -> None:
        """A sub-agent's life: open its tools, then run a turn per input until closed."""
        try:
            async with AsyncExitStack() as stack:
                if owned is not None:
                    stack.push_async_callback(owned.aclose)
                tools = await stack.enter_async_context(self.host.tools(mode))
                if agent.depth < self.settings.max_depth:
                    tools.add(*self.tools(agent))
                tagged = _Tagged(self.host.sink, agent)
                sink: EventSink = (
                    tagged if agent.writer is None else Fanout([RolloutSink(agent.writer), tagged])
                )
                agent.thread = Thread(
                    model, tools, sink, cwd=self.host.cwd, limits=self.host.limits(), history=history
                )
                await self._serve(agent, agent.thread)
        except asyncio.CancelledError:
            if not agent.closing:
                raise
        except Exception as exc:  # the tools could not open: the agent failed to start
            self._set(agent, "errored", f"{type(exc).__name__}: {exc}")
        finally:
            agent.thread = None
            if agent.writer is not None:
                agent.writer.close()
                agent.writer = None
            if agent.closing:
                self._set(agent, "shutdown")

    async def _serve(self, agent: _Agent, thread: Thread) -> None:
        me = asyncio.current_task()
        while True:
            while not agent.inbox:
                agent.wake.clear()
                await agent.wake.wait()
            text, parts = agent.inbox.popleft()
            self._set(agent, "running")
            agent.turn = turn = asyncio.create_task(thread.run_turn(text, parts))
            try:
                answer = await turn
            except asyncio.CancelledError:
                if me is not None and me.cancelling():
                    turn.cancel()
                    raise
                if not agent.inbox:
                    self._set(agent, "interrupted")
            except TurnStopped as stop:
                self._set(agent, "errored", stop.message)
            except Exception as exc:
                self._set(agent, "errored", f"{type(exc).__name__}: {exc}")
            else:
                self._set(agent, "completed", answer)
            finally:
                agent.turn = None

    def _set(self, agent: _Agent, status: str, message: str | None = None) -> None:
        agent.status, agent.message = status, message
        changed, agent.changed = agent.changed, asyncio.Event()
        changed.set()

    async def _shutdown(self, agent: _Agent) -> None:
        """Close ``agent`` and its descendants (deepest first), awaiting their tasks."""
        for child in reversed(agent.children):
            await self._shutdown(child)
        task = agent.task
        if task is not None and not task.done():
            agent.closing = True
            task.cancel()
            await asyncio.wait([task])
        if agent is not self.root:
            if agent.status != "shutdown":
                self._set(agent, "shutdown")
            agent.inbox.clear()

    async def aclose(self) -> None:
        """Close every sub-agent: cancel their tasks and await them (never raises)."""
        if self._closed:
            return
        self._closed = True
        for child in list(self.root.children):
            try:
                await self._shutdown(child)
            except Exception:  # one agent failing to close must not keep the others open
                continue

    # -- resume ---------------------------------------------------------------------------------------

    def restore(self, items: Sequence[tuple[str, dict[str, Any]]], owner: _Agent | None = None) -> None:
        """Register the children a rollout recorded (``agent_spawned`` lines) as closed agents that
        ``resume_agent`` can bring back."""
        me = owner or self.root
        known = {c.id for c in me.children}
        for kind, payload in items:
            if kind != "event_msg" or payload.get("type") != "agent_spawned":
                continue
            agent_id, path = payload.get("agent_id"), payload.get("path")
            if not isinstance(agent_id, str) or agent_id in known:
                continue
            known.add(agent_id)
            child = _Agent(
                agent_id, str(payload.get("nickname") or agent_id[:8]), str(payload.get("role") or "default"),
                me.depth + 1, me, Path(path) if isinstance(path, str) else None,
            )  # fmt: skip
            child.status = "shutdown"
            me.children.append(child)
            self._named += 1

    def _reopen(self, agent: _Agent) -> None:
        from agentrt.agent.rollout import history_from_rollout, read_rollout

        assert agent.path is not None
        rollout = read_rollout(agent.path)
        history = history_from_rollout(rollout)
        writer = RolloutWriter.resume(agent.path)
        agent.writer = writer
        last = None
        for kind, payload in rollout.items:
            if kind == "event_msg" and payload.get("type") == "agent_message":
                last = payload.get("message")
        self.restore(rollout.items, agent)
        role = self.settings.roles.get(agent.role, BUILTIN_ROLES["default"])
        mode = narrowed(self.host.sandbox_mode(), role.sandbox_mode)
        self._set(
            agent,
            "completed" if isinstance(last, str) else "pending_init",
            last if isinstance(last, str) else None,
        )
        self._launch(agent, mode, self.host.model(), None, history)

    # -- helpers --------------------------------------------------------------------------------------

    def _find(self, owner: _Agent, target: str) -> _Agent | None:
        """A descendant of ``owner`` by id, unique id prefix (8+ characters) or nickname."""
        wanted = target.strip()
        below = [a for a in self.agents() if _descends(a, owner)]
        for agent in below:
            if agent.id == wanted:
                return agent
        matches = [a for a in below if a.nickname == wanted or (len(wanted) >= 8 and a.id.startswith(wanted))]
        return matches[0] if len(matches) == 1 else None

    def _target(self, owner: _Agent, target: str) -> _Agent:
        agent = self._find(owner, target)
        if agent is None:
            raise _Refused(f"no agent {target!r} among the agents this agent spawned (not_found)")
        return agent

    def _nickname(self, role: Role) -> str:
        names = role.nicknames or NICKNAMES
        n, self._named = self._named, self._named + 1
        name = names[n % len(names)]
        return name if n < len(names) else f"{name}-{n // len(names) + 1}"

    def _messages(self, owner: _Agent) -> list[Message]:
        if owner is self.root:
            return list(self.host.messages())
        return list(owner.thread.messages) if owner.thread is not None else []

    def _fresh(self, role: Role) -> list[Message]:
        """A new child's opening messages, each text kept once for every child (they are alike)."""
        history = [self._shared(m) for m in self.host.history()]
        if role.instructions:
            history.insert(
                1,
                {"role": "system", "content": self._strings.setdefault(role.instructions, role.instructions)},
            )
        return history

    def _shared(self, message: Message) -> Message:
        content = message.get("content")
        if isinstance(content, str):
            return {**message, "content": self._strings.setdefault(content, content)}
        return message

    def _spawn_line(self, child: _Agent) -> dict[str, Any]:
        return {
            "type": "agent_spawned", "agent_id": child.id, "nickname": child.nickname, "role": child.role,
            "depth": child.depth, "path": str(child.path) if child.path is not None else None,
        }  # fmt: skip

    def _item(
        self,
        item: str,
        tool: str,
        owner: _Agent,
        agents: Sequence[_Agent],
        prompt: str | None,
        missing: tuple[str, ...] = (),
    ) -> CollabToolCall:
        states = tuple((a.id, a.status, a.message) for a in agents)
        states += tuple((m, "not_found", None) for m in missing)
        return CollabToolCall(
            item, tool, owner.id, tuple(a.id for a in agents), prompt, states, "completed",
            tuple((a.id, a.nickname) for a in agents),
        )  # fmt: skip


def _descends(agent: _Agent, owner: _Agent) -> bool:
    parent = agent.parent
    while parent is not None:
        if parent is owner:
            return True
        parent = parent.parent
    return False


async def _any_change(agents: Sequence[_Agent], within_s: float) -> bool:
    """Wait until one of ``agents`` changes status; False at the timeout."""
    waits = [asyncio.create_task(a.changed.wait()) for a in agents]
    try:
        done, _ = await asyncio.wait(waits, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
    return bool(done)


def _forked(messages: list[Message]) -> list[Message]:
    """The caller's history for a forked child: a call of the caller's last reply that has no output
    yet (the ``spawn_agent`` call itself) gets one, as an API requires."""
    answered = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
    out = list(messages)
    last = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
    for call in (last or {}).get("tool_calls") or ():
        if call["id"] not in answered:
            note = "You are the agent this call spawned, with a copy of this conversation; your task follows."
            out.append({"role": "tool", "tool_call_id": call["id"], "content": note})
    return out


def _input(args: Mapping[str, Any], tool: str) -> tuple[str, list[dict[str, Any]]]:
    """``message`` or ``items`` as a prompt text and image parts; ``_Refused`` when neither says anything."""
    message, items = args.get("message"), args.get("items")
    if message is not None and items is not None:
        raise _Refused(f"{tool}: give either message or items, not both")
    if isinstance(message, str) and message.strip():
        return message, []
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    for entry in items or ():
        if not isinstance(entry, dict):
            raise _Refused(f"{tool}: every item must be an object")
        kind = entry.get("type", "text")
        if kind == "text" and isinstance(entry.get("text"), str):
            texts.append(entry["text"])
        elif kind == "image" and isinstance(entry.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": entry["image_url"]}})
        elif kind == "local_image" and isinstance(entry.get("path"), str):
            from agentrt.agent.session import ExecError, image_part

            try:
                parts.append(image_part(Path(entry["path"])))
            except ExecError as exc:
                raise _Refused(f"{tool}: {exc}") from exc
        elif isinstance(entry.get("path") or entry.get("name"), str):
            texts.append(f"[{kind}: {entry.get('name') or ''} {entry.get('path') or ''}]".replace("  ", " "))
        else:
            raise _Refused(f"{tool}: item of type {kind!r} is missing its text, image_url or path")
    text = "\n".join(texts)
    if not text.strip() and not parts:
        raise _Refused(f"{tool}: give a message (or items) saying what to do")
    return text, parts


# -- the tools -----------------------------------------------------------------------------------------


class _AgentTool:
    """One of the five tools; a refusal becomes the ``error: …`` text the model reads."""

    __slots__ = ("name", "_run", "_spec")

    def __init__(
        self, name: str, spec: dict[str, Any], run: Callable[[dict[str, Any], ToolContext], Any]
    ) -> None:
        self.name, self._spec, self._run = name, spec, run

    def spec(self) -> dict[str, Any]:
        return self._spec

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        try:
            result: str = await self._run(args, ctx)
        except _Refused as exc:
            return f"error: {exc}"
        return result


_ITEMS = {
    "type": "array",
    "description": "Input as typed items instead of message: {type: text, text}, {type: image, image_url}, "
    "{type: local_image, path}; other types (skill, mention) are passed on by name and path.",
    "items": {
        "type": "object",
        "properties": {
            key: {"type": "string", "description": what}
            for key, what in (
                ("audio_url", "type audio: the audio's data URL."),
                ("image_url", "type image: the image's URL."),
                ("name", "type skill or mention: its name."),
                ("path", "type local_image, local_audio, skill or mention: the file or target."),
                ("text", "type text: the text."),
                ("type", "text, image, local_image, audio, local_audio, skill or mention."),
            )
        },
        "additionalProperties": False,
    },
}

_SPAWN = function_spec(
    "spawn_agent",
    "Start a sub-agent on a self-contained task; it works in parallel with you in the same repository "
    "under your permissions and returns its id and nickname at once. It sees only the task you give it "
    "(unless fork_context), so say everything it needs. Collect its answer with wait_agent.",
    {
        "message": {"type": "string", "description": "The task for the new agent (or use items)."},
        "items": _ITEMS,
        "agent_type": {
            "type": "string",
            "description": "Role of the new agent: default, explorer (read-only: investigates and "
            "reports), worker (makes changes), or a role the user defined. Default: default.",
        },
        "fork_context": {
            "type": "boolean",
            "description": "Give the new agent a copy of this conversation so far instead of the task alone.",
        },
        "model": {"type": "string", "description": "Another model for the new agent; omit to use yours."},
        "reasoning_effort": {
            "type": "string",
            "description": "Another reasoning effort for the new agent; omit to use yours.",
        },
    },
    (),
)

_SEND = function_spec(
    "send_input",
    "Send more input to a sub-agent you spawned. It is handled after the agent's current turn, or at "
    "once with interrupt: true (the current turn stops).",
    {
        "target": {"type": "string", "description": "The agent's id (from spawn_agent) or nickname."},
        "message": {"type": "string", "description": "What to tell the agent (or use items)."},
        "items": _ITEMS,
        "interrupt": {"type": "boolean", "description": "Stop the agent's current turn and handle this now."},
    },
    ("target",),
)

_WAIT = function_spec(
    "wait_agent",
    "Wait for sub-agents to finish. Returns as soon as one of them is done (with every one done by "
    "then) or when the timeout passes; statuses: pending_init, running, interrupted, shutdown, "
    "not_found, {completed: answer}, {errored: why}. `ids` is accepted as another name for targets.",
    {
        "targets": {"type": "array", "items": {"type": "string"}, "description": "Agent ids to wait for."},
        "ids": {"type": "array", "items": {"type": "string"}, "description": "Same as targets."},
        "timeout_ms": {
            "type": "number",
            "description": f"Longest wait in milliseconds: default {WAIT_DEFAULT_MS}, at least "
            f"{WAIT_MIN_MS}, at most {WAIT_MAX_MS}. Wait long rather than poll.",
        },
    },
    (),
)

_CLOSE = function_spec(
    "close_agent",
    "Close a sub-agent you no longer need, with every agent it spawned; returns its status before closing. "
    "Closing frees a place under the limit of open agents.",
    {"target": {"type": "string", "description": "The agent's id (from spawn_agent) or nickname."}},
    ("target",),
)

_RESUME = function_spec(
    "resume_agent",
    "Bring back a closed sub-agent (or one from before this session was resumed) with its history, "
    "so send_input can give it more work; returns its status.",
    {"id": {"type": "string", "description": "The agent's id."}},
    ("id",),
)


# -- a session's agents --------------------------------------------------------------------------------


def open_agents(session: AgentSession) -> Agents:
    """The sub-agents of ``session`` (feature ``multi_agent``): children inherit its live model,
    approvals, sandbox mode, environment policy and working directory; ``session.close`` closes them."""
    from agentrt.agent.rollout import read_rollout
    from agentrt.agent.session import BadInput, _initial_history, _limits

    s = session.setup
    try:
        settings = load_settings(session.config)
    except AgentConfigError as exc:
        raise BadInput(str(exc)) from exc

    def tools(mode: str) -> AbstractAsyncContextManager[ToolRegistry]:
        return session._open_tools(replace(session.config, sandbox_mode=mode))

    def model_with(name: str | None, effort: str | None, key: str) -> Model:
        from agentrt.model.factory import model_for

        config = session.config
        config = replace(
            config, model=name or config.model, model_reasoning_effort=effort or config.model_reasoning_effort
        )
        return model_for(config, s.env, base_url=s.options.base_url, cache_key=key)

    host = AgentHost(
        cwd=s.cwd,
        sink=session.sink,
        root_id=session.thread_id,
        model=lambda: session.thread.model,
        tools=tools,
        history=lambda: _initial_history(s.cwd, s.home, session.config, s.env),
        sandbox_mode=lambda: session.config.sandbox_mode,
        limits=lambda: _limits(session.config),
        home=s.home if session.writer is not None else None,
        meta=lambda: {
            "model": session.config.model,
            "model_provider": session.config.model_provider,
            "instructions": None,
        },
        writer=session.writer,
        messages=lambda: session.thread.messages,
        model_with=model_with,
    )
    agents = Agents(host, settings)
    if session.resumed and session.writer is not None:
        agents.restore(read_rollout(session.writer.path).items)
    return agents


@asynccontextmanager
async def agents_of(host: AgentHost, settings: AgentSettings | None = None) -> AsyncIterator[Agents]:
    """An ``Agents`` for ``host`` closed on exit (tests, the benchmark)."""
    agents = Agents(host, settings)
    try:
        yield agents
    finally:
        await agents.aclose()
