"""MCP client: the tools of the servers in ``[mcp_servers.NAME]``, offered to the model as ``NAME__tool``.

A server is a process speaking MCP on stdin/stdout (``command``, ``args``, ``env``, ``env_vars``,
``cwd``) or a streamable-HTTP endpoint (``url``, ``bearer_token_env_var``, ``http_headers``,
``env_http_headers``), as Codex reads them; per server ``startup_timeout_sec`` (10), ``tool_timeout_sec``
(60), ``enabled``, ``enabled_tools``, ``disabled_tools``.

``McpHub`` owns the connections. ``start`` returns at once: each server is connected by a task of its
own while the session goes on; a server's tools join the registry when it is up, and the session's
first model request waits for every server to be up or to have failed (``ready``), so no server holds
it longer than that server's startup timeout. A server that fails to start (or times out) is reported
once, as an ``error`` item, and the session goes on without it. ``close`` stops every server: the SDK's
transports close stdin, wait, then kill the process group (stdio servers run in a session of their own).

The official ``mcp`` SDK (extra ``[mcp]``) costs 42–55 MiB to import: it is imported, in a thread,
only when a server is configured — never by a session without one. Its clients are anyio context
managers whose cancel scopes must be entered and left by one task: each server's connection is opened,
held and closed inside one task (``_Server.run``), under one cancel scope whose deadline is the
startup timeout; nothing else enters or leaves its contexts.

**Approvals.** A call of a tool whose server marks it read-only (``readOnlyHint``, and not
``destructiveHint``) never asks. Any other call has side effects: under ``untrusted`` and ``on-request``
it is asked like a command (``ask``; "for this session" is remembered per server and tool); under
``on-failure`` and ``never`` it runs, as Codex runs it there (agentrt does not sandbox an MCP server,
so there is no sandbox failure to escalate from). A refused call is an ``mcp_tool_call`` item with
status ``failed`` and error ``user rejected MCP tool call``; the model is told so.

Every call produces an ``mcp_tool_call`` item (``server, tool, arguments, result | error, status``), as
Codex's exec does, and is bounded by the server's ``tool_timeout_sec`` (the SDK then sends
``notifications/cancelled``). The resource tools ``list_mcp_resources``,
``list_mcp_resource_templates`` and ``read_mcp_resource`` are offered with the servers' tools.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from agentrt.events import ErrorItem, ItemCompleted, ItemStarted, McpToolCall
from agentrt.tools.registry import ToolContext, ToolRegistry, function_spec

if TYPE_CHECKING:
    import anyio

DEFAULT_STARTUP_TIMEOUT_S = 10.0
DEFAULT_TOOL_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 8.0
"""How long ``close`` waits for the servers to stop (the SDK's stdio shutdown takes at most ~6 s)."""
NAME_MAX = 64
"""The longest tool name the model APIs accept (``^[a-zA-Z0-9_-]{1,64}$``)."""
DELIMITER = "__"
REJECTED = "user rejected MCP tool call"
ASKING_POLICIES = ("untrusted", "on-request")
"""Approval policies under which a call with side effects is asked first."""

Ask = Callable[[Sequence[str], str, str], Awaitable[str | None]]
"""``ask(argv, cwd, reason)``: ``None`` when approved, else the tail of the refusal (the person's words)."""

State = Literal["disabled", "starting", "ready", "failed", "stopped"]


# -- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    """One ``[mcp_servers.NAME]`` entry, as checked by ``agentrt.config.schema``."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    env_vars: tuple[str, ...] = ()
    cwd: str | None = None
    url: str | None = None
    bearer_token_env_var: str | None = None
    http_headers: Mapping[str, str] = field(default_factory=dict)
    env_http_headers: Mapping[str, str] = field(default_factory=dict)
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    tool_timeout_s: float = DEFAULT_TOOL_TIMEOUT_S
    enabled: bool = True
    enabled_tools: tuple[str, ...] | None = None
    disabled_tools: tuple[str, ...] = ()
    explicit_timeouts: tuple[float | None, float | None] = (None, None)
    """``startup_timeout_sec`` and ``tool_timeout_sec`` as written (``None``: not set), for ``mcp list``."""

    @property
    def transport(self) -> Literal["stdio", "streamable_http"]:
        return "stdio" if self.command is not None else "streamable_http"

    def offers(self, tool: str) -> bool:
        """Whether ``enabled_tools`` / ``disabled_tools`` let ``tool`` through."""
        if self.enabled_tools is not None and tool not in self.enabled_tools:
            return False
        return tool not in self.disabled_tools


def server_configs(raw: Mapping[str, Any]) -> list[ServerConfig]:
    """Every ``[mcp_servers.NAME]`` of a loaded config's ``raw`` table, enabled or not, in file order."""
    table = raw.get("mcp_servers") or {}
    return [server_config(name, body) for name, body in table.items()]


def server_config(name: str, body: Mapping[str, Any]) -> ServerConfig:
    startup: float | None = body.get("startup_timeout_sec")
    if startup is None and body.get("startup_timeout_ms") is not None:
        startup = body["startup_timeout_ms"] / 1000
    tool_timeout: float | None = body.get("tool_timeout_sec")
    names = tuple(n if isinstance(n, str) else str(n["name"]) for n in body.get("env_vars", ()))
    enabled_tools = body.get("enabled_tools")
    return ServerConfig(
        name=name, command=body.get("command"), args=tuple(body.get("args", ())), env=dict(body.get("env", {})),
        env_vars=names, cwd=body.get("cwd"), url=body.get("url"),
        bearer_token_env_var=body.get("bearer_token_env_var"), http_headers=dict(body.get("http_headers", {})),
        env_http_headers=dict(body.get("env_http_headers", {})),
        startup_timeout_s=float(startup) if startup is not None else DEFAULT_STARTUP_TIMEOUT_S,
        tool_timeout_s=float(tool_timeout) if tool_timeout is not None else DEFAULT_TOOL_TIMEOUT_S,
        enabled=bool(body.get("enabled", True)),
        enabled_tools=tuple(enabled_tools) if enabled_tools is not None else None,
        disabled_tools=tuple(body.get("disabled_tools", ())), explicit_timeouts=(startup, tool_timeout),
    )  # fmt: skip


def server_env(
    server: ServerConfig, env: Mapping[str, str], policy: Mapping[str, Any] | None
) -> dict[str, str]:
    """A stdio server's environment: the session's ``[shell_environment_policy]`` applied to ``env`` (no
    ``*KEY*``/``*SECRET*``/``*TOKEN*`` by default), then the variables ``env_vars`` names passed through
    from ``env``, then the server's own ``env``. (The SDK adds ``HOME``, ``LOGNAME``, ``PATH``, ``SHELL``,
    ``TERM`` and ``USER`` where these leave them out.)"""
    from agentrt.sandbox.env import build_env

    out = build_env(env, policy, tmpdir=None)
    out.update({name: env[name] for name in server.env_vars if name in env})
    out.update(server.env)
    return out


def http_headers(server: ServerConfig, env: Mapping[str, str]) -> dict[str, str]:
    """A streamable-HTTP server's request headers: ``http_headers``, ``env_http_headers`` (header → the
    variable holding its value; unset variables are left out) and the bearer token."""
    headers = dict(server.http_headers)
    headers.update({h: env[var] for h, var in server.env_http_headers.items() if env.get(var)})
    if server.bearer_token_env_var is not None:
        token = env.get(server.bearer_token_env_var)
        if not token:
            raise McpStartError(
                f"environment variable {server.bearer_token_env_var} (bearer_token_env_var) is not set"
            )
        headers["Authorization"] = f"Bearer {token}"
    return headers


class McpStartError(Exception):
    """A server that cannot be started as configured; the message is the reason shown."""


# -- names and schemas ---------------------------------------------------------------------------------


def qualified_name(server: str, tool: str) -> str:
    """``server__tool`` as the model APIs accept a name: other characters become ``_``; a name longer than
    64 characters keeps its head and ends in a SHA-1 of the whole (as Codex shortens them)."""
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", f"{server}{DELIMITER}{tool}")
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()
    return name[: NAME_MAX - len(digest)] + digest


_TYPES = ("object", "array", "string", "number", "integer", "boolean")
_KEPT = {
    "object": ("properties", "required", "additionalProperties"),
    "array": ("items",),
    "string": ("enum",),
    "number": ("enum",),
    "integer": ("enum",),
    "boolean": (),
}
_REF_DEPTH = 8


def sanitize_schema(schema: object) -> dict[str, Any]:
    """An MCP tool's ``inputSchema`` as the Responses and Chat APIs take a function's parameters.

    Codex's rules (``sanitize_json_schema``): every schema gets a ``type`` (a union's first supported
    type, else inferred: ``properties``/``required``/``additionalProperties`` → object, ``items`` →
    array, ``enum``/``const``/``format`` → string, bounds → number, else string), an object gets
    ``properties``, an array ``items``; then only what its type takes is kept (``description``, and
    ``enum``, ``items``, ``properties``/``required``/``additionalProperties``), as Codex's own schema
    type keeps it — ``$ref``, ``anyOf``, ``format``, ``default``, ``title``… go. Unlike Codex, a local
    ``$ref`` (``#/$defs/X``) is first inlined, so a pydantic model's fields survive.
    """
    root = schema if isinstance(schema, dict) else {}
    out = _sanitize(root, root, 0)
    if out.get("type") != "object":
        out = {"type": "object", "properties": {}}
    return out


def _sanitize(node: object, root: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict):  # boolean schemas (true/false): an accept-all string, as Codex does
        return {"type": "string"}
    node = _resolved(node, root, depth)
    kind = _type_of(node)
    if kind is None:  # a union without a type of its own: its first member that has one
        for key in ("anyOf", "oneOf", "allOf"):
            members = node.get(key)
            if isinstance(members, list):
                for member in members:
                    inner = _resolved(member, root, depth) if isinstance(member, dict) else {}
                    if _type_of(inner) is not None and inner.get("type") != "null":
                        merged = {**inner, **{k: v for k, v in node.items() if k == "description"}}
                        return _sanitize(merged, root, depth + 1)
        kind = _inferred(node)
    out: dict[str, Any] = {"type": kind}
    if isinstance(node.get("description"), str):
        out["description"] = node["description"]
    for key in _KEPT[kind]:
        if key not in node:
            continue
        value = node[key]
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _sanitize(sub, root, depth + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = (
                _sanitize(value, root, depth + 1) if not isinstance(value, list) else {"type": "string"}
            )
        elif key == "additionalProperties":
            out[key] = value if isinstance(value, bool) else _sanitize(value, root, depth + 1)
        elif key in ("enum", "required") and isinstance(value, list):
            out[key] = list(value)
    if kind == "object":
        props = out.setdefault("properties", {})
        if "required" in out:
            out["required"] = [r for r in out["required"] if isinstance(r, str) and r in props]
    if kind == "array" and "items" not in out:
        out["items"] = {"type": "string"}
    if kind == "string" and "enum" not in out and "const" in node:
        out["enum"] = [node["const"]]
    return out


def _resolved(node: dict[str, Any], root: dict[str, Any], depth: int) -> dict[str, Any]:
    """``node`` with a local ``$ref`` (``#/...``) replaced by what it points at (bounded: recursion)."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/") or depth > _REF_DEPTH:
        return node
    target: object = root
    for part in ref[2:].split("/"):
        target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        return {k: v for k, v in node.items() if k != "$ref"}
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return _resolved(merged, root, depth + 1)


def _type_of(node: Mapping[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, str):
        return kind if kind in _TYPES else None
    if isinstance(kind, list):
        return next((k for k in kind if k in _TYPES), None)
    return None


def _inferred(node: Mapping[str, Any]) -> str:
    if any(k in node for k in ("properties", "required", "additionalProperties")):
        return "object"
    if any(k in node for k in ("items", "prefixItems")):
        return "array"
    if any(k in node for k in ("enum", "const", "format")):
        return "string"
    if any(k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


# -- results -------------------------------------------------------------------------------------------


def result_json(result: Any) -> dict[str, Any]:
    """A ``CallToolResult`` as the ``mcp_tool_call`` item's ``result``: ``{content, structured_content}``."""
    content = [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content]
    return {"content": content, "structured_content": result.structured_content}


def result_text(result: Mapping[str, Any], is_error: bool) -> str:
    """What the model reads of a call's result: its text blocks; other blocks (images, resources) as
    JSON, an image as a note (the text tools cannot show it); structured content when there is no text."""
    parts: list[str] = []
    for block in result["content"]:
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "image":
            parts.append(f"<image content ({block.get('mimeType', 'image')}) omitted>")
        else:
            parts.append(json.dumps(block, ensure_ascii=False))
    if not parts and result.get("structured_content") is not None:
        parts.append(json.dumps(result["structured_content"], ensure_ascii=False))
    text = "\n".join(parts)
    return f"error: the tool reported an error: {text}" if is_error else text


# -- one server ----------------------------------------------------------------------------------------


class _Server:
    """One server's connection, opened, held and closed by one task (``run``)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.state: State = "starting" if config.enabled else "disabled"
        self.error: str | None = None
        self.client: Any = None
        self.tools: list[Any] = []
        """The server's tools (``mcp_types.Tool``) that its config lets through."""
        self.done_starting = asyncio.Event()
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.scope: anyio.CancelScope | None = None
        self.started_at = self.ready_at = 0.0
        self.stderr: IO[str] | None = None

    @property
    def startup_s(self) -> float | None:
        """Seconds from spawning to the tool list (``None``: not up)."""
        return self.ready_at - self.started_at if self.ready_at else None

    async def run(self, env: Mapping[str, str], cwd: Path, policy: Mapping[str, Any] | None) -> None:
        c = self.config
        self.started_at = time.monotonic()
        try:
            await asyncio.wait_for(load_sdk(), c.startup_timeout_s)
        except (ImportError, TimeoutError) as exc:
            self._failed(f"the MCP SDK cannot be loaded ({_reason(exc)}): pip install 'agentrt[mcp]'")
            self.done_starting.set()
            return
        if c.transport == "stdio":  # the server's stderr: its last lines explain a failure
            self.stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed below)
        try:
            await self._connected(env, cwd, policy)
        finally:
            if self.stderr is not None:
                self.stderr.close()

    async def _connected(self, env: Mapping[str, str], cwd: Path, policy: Mapping[str, Any] | None) -> None:
        import anyio

        from agentrt.tools.mcp.sdk import connect

        c = self.config
        with anyio.CancelScope(deadline=anyio.current_time() + c.startup_timeout_s - self._since()) as scope:
            self.scope = scope
            try:
                async with AsyncExitStack() as stack:
                    self.client = await connect(stack, c, env, cwd, policy, self.stderr)
                    listing = await self.client.list_tools()
                    self.tools = [t for t in listing.tools if c.offers(t.name)]
                    scope.deadline = float("inf")
                    self.state, self.ready_at = "ready", time.monotonic()
                    self.done_starting.set()
                    await self.stop.wait()
            except Exception as exc:  # a server that cannot start, or whose connection fails later
                self._failed(_reason(exc))
            finally:
                self.client = None
                if self.state == "ready" and not self.stop.is_set():  # the connection ended by itself
                    self.lost("the connection ended")
                elif self.state == "ready":
                    self.state = "stopped"
        if scope.cancelled_caught and self.state == "starting":
            self._failed(f"timed out after {c.startup_timeout_s:g} s (startup_timeout_sec)")
        self.done_starting.set()

    def _since(self) -> float:
        return time.monotonic() - self.started_at

    def _failed(self, reason: str) -> None:
        if self.state != "starting":
            return
        tail = _tail(self.stderr)
        self.state, self.error = "failed", reason + (f"; its stderr ends: {tail}" if tail else "")

    def lost(self, reason: str) -> None:
        """The connection broke mid-session (the process died): the server is marked failed."""
        if self.state == "ready":
            self.state, self.error = "failed", reason


async def load_sdk() -> None:
    """Import the SDK (``agentrt.tools.mcp.sdk``) in a thread, once: the event loop goes on meanwhile."""
    import importlib
    import sys

    if "agentrt.tools.mcp.sdk" not in sys.modules:
        await asyncio.to_thread(importlib.import_module, "agentrt.tools.mcp.sdk")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    text = str(exc) or type(exc).__name__
    return text if not isinstance(exc, OSError) or exc.filename is None else f"{exc.strerror}: {exc.filename}"


def _tail(stream: IO[str] | None, limit: int = 300) -> str:
    if stream is None or stream.closed:
        return ""
    try:
        stream.seek(0)
        text = stream.read()
    except (OSError, ValueError):
        return ""
    return " ".join(text.split())[-limit:]


# -- the hub -------------------------------------------------------------------------------------------


class McpHub:
    """The session's MCP servers: started in the background, their tools added to the registry when up.

    ``registry`` is called when a server is up and gives the registry to add its tools to (the
    thread's current one); ``ctx`` is where the startup failures are reported; ``policy`` gives the
    approval policy in force at each call; ``ask`` asks about a call with side effects.
    """

    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        env: Mapping[str, str],
        cwd: Path,
        env_policy: Mapping[str, Any] | None = None,
        registry: Callable[[], ToolRegistry],
        ctx: Callable[[], ToolContext | None],
        policy: Callable[[], str],
        ask: Ask,
    ) -> None:
        self.servers = {s.name: _Server(s) for s in servers}
        self.env, self.cwd, self.env_policy = env, cwd, env_policy
        self._registry, self._ctx, self.policy, self.ask = registry, ctx, policy, ask
        self.tools: list[McpTool] = []
        """The servers' tools, once every server has started or failed (the registry has them too)."""
        self._all_started: asyncio.Task[None] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        """Start connecting every enabled server (never waits; ``ready`` does)."""
        live = [s for s in self.servers.values() if s.state == "starting"]
        self.started_at = time.monotonic()
        self._registry().add(*ResourceTools(self).tools())
        for server in live:
            server.task = asyncio.create_task(server.run(self.env, self.cwd, self.env_policy))
        self._all_started = asyncio.create_task(self._offer(live))

    async def _offer(self, servers: Sequence[_Server]) -> None:
        """As each server finishes starting: its tools into the registry, or its failure reported once."""

        async def one(server: _Server) -> None:
            await server.done_starting.wait()
            if server.state == "failed":
                self._report(f"MCP client for `{server.config.name}` failed to start: {server.error}")

        await asyncio.gather(*(one(s) for s in servers))
        taken = {*self._registry().tools}
        tools: dict[str, McpTool] = {}
        for server in servers:
            for tool in server.tools if server.state == "ready" else ():
                name = qualified_name(server.config.name, tool.name)
                if name not in taken and name not in tools:  # a duplicate name is skipped, as in Codex
                    tools[name] = McpTool(self, server, tool, name)
        self.tools = [tools[name] for name in sorted(tools)]  # sorted, as Codex: a stable prompt prefix
        self._registry().add(*self.tools)

    async def ready(self) -> None:
        """Wait until every server is up or has failed (each bounded by its own startup timeout)."""
        if self._all_started is not None:
            await asyncio.shield(self._all_started)

    def _report(self, message: str) -> None:
        ctx = self._ctx()
        if ctx is not None:
            ctx.emit(ItemCompleted(ErrorItem(ctx.ids.new(), message)))

    async def close(self) -> None:
        """Stop every server and wait for its process to end (bounded by ``CLOSE_TIMEOUT_S``, then cancelled)."""
        if self._all_started is not None:
            self._all_started.cancel()
        tasks = [s.task for s in self.servers.values() if s.task is not None]
        for server in self.servers.values():
            server.stop.set()
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
        for server in self.servers.values():
            if server.task in pending and server.scope is not None:
                server.scope.cancel()
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_TIMEOUT_S)
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved: run() reports its failures itself

    def status(self) -> list[dict[str, Any]]:
        """Each server: name, transport, state, error, startup seconds and its tools (``/mcp``)."""
        return [
            {
                "name": name,
                "transport": s.config.transport,
                "state": s.state,
                "error": s.error,
                "startup_s": s.startup_s,
                "tools": [t.name for t in s.tools],
            }
            for name, s in self.servers.items()
        ]

    def live(self, name: str) -> _Server:
        server = self.servers.get(name)
        if server is None:
            raise McpCallError(f"unknown MCP server '{name}'; servers: {', '.join(self.servers) or 'none'}")
        if server.state != "ready" or server.client is None:
            why = f": {server.error}" if server.error else ""
            raise McpCallError(f"MCP server '{name}' is not available ({server.state}{why})")
        return server

    async def request(self, server: _Server, call: Callable[[Any], Awaitable[Any]]) -> Any:
        """One request to ``server``, bounded by its tool timeout; a broken connection marks it failed."""
        from agentrt.tools.mcp.sdk import MCPError

        timeout = server.config.tool_timeout_s
        try:
            async with asyncio.timeout(
                timeout + 1
            ):  # the SDK's own timeout is ``timeout``; this is a backstop
                return await call(server.client)
        except TimeoutError:
            raise McpCallError(f"timed out after {timeout:g} s (tool_timeout_sec)") from None
        except MCPError as exc:
            message = str(exc)
            if "timed out" in message:
                raise McpCallError(f"timed out after {timeout:g} s (tool_timeout_sec)") from None
            if "onnection closed" in message:
                server.lost(f"the connection closed ({_exit_note(server)})")
                raise McpCallError(f"the MCP server '{server.config.name}' went away: {message}") from None
            raise McpCallError(message) from None


def _exit_note(server: _Server) -> str:
    tail = _tail(server.stderr)
    return "the server process ended" + (f"; its stderr ends: {tail}" if tail else "")


class McpCallError(Exception):
    """A call that did not get a result; the message goes to the model and into the item's ``error``."""


# -- the tools -----------------------------------------------------------------------------------------


class McpTool:
    """One server tool, ``server__tool``: asks when it has side effects, reports an ``mcp_tool_call`` item."""

    def __init__(self, hub: McpHub, server: _Server, tool: Any, name: str) -> None:
        self.hub, self.server, self.tool, self.name = hub, server, tool, name
        notes = tool.annotations
        self.read_only = bool(
            notes is not None and notes.read_only_hint is True and notes.destructive_hint is not True
        )
        description = tool.description or tool.title or ""
        self._spec = {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": sanitize_schema(tool.input_schema),
            },
        }

    def spec(self) -> dict[str, Any]:
        return self._spec

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        server, tool = self.server.config.name, self.tool.name
        item_id = ctx.ids.new()
        ctx.emit(ItemStarted(McpToolCall(item_id, server, tool, args)))
        try:
            refusal = await self._approve(args, str(ctx.cwd))
            if refusal is not None:
                raise McpCallError(refusal)
            live = self.hub.live(server)
            result = await self.hub.request(
                live,
                lambda client: client.call_tool(tool, args, read_timeout_seconds=live.config.tool_timeout_s),
            )
        except McpCallError as exc:
            ctx.emit(ItemCompleted(McpToolCall(item_id, server, tool, args, error=str(exc), status="failed")))
            return f"error: {exc}"
        shown = result_json(result)
        status = "failed" if result.is_error else "completed"
        ctx.emit(ItemCompleted(McpToolCall(item_id, server, tool, args, result=shown, status=status)))
        return result_text(shown, bool(result.is_error))

    async def _approve(self, args: Mapping[str, Any], cwd: str) -> str | None:
        """``None`` when the call may go ahead; else why not (the item's error, told to the model)."""
        if self.read_only or self.hub.policy() not in ASKING_POLICIES:
            return None
        argv = ("mcp", self.server.config.name, self.tool.name)  # "for this session": this server's tool
        shown = json.dumps(args, ensure_ascii=False)
        reason = f"MCP tool call with side effects (no read-only hint), arguments {shown}"
        refusal = await self.hub.ask(argv, cwd, reason)
        if refusal is None:
            return None
        return REJECTED + refusal


class ResourceTools:
    """``list_mcp_resources``, ``list_mcp_resource_templates``, ``read_mcp_resource`` (read-only)."""

    def __init__(self, hub: McpHub) -> None:
        self.hub = hub

    def tools(self) -> list[_ResourceTool]:
        return [
            _ResourceTool(self.hub, "list_mcp_resources", "resources", LIST_RESOURCES),
            _ResourceTool(self.hub, "list_mcp_resource_templates", "resourceTemplates", LIST_TEMPLATES),
            _ResourceTool(self.hub, "read_mcp_resource", "contents", READ_RESOURCE),
        ]


LIST_RESOURCES = (
    "Lists resources provided by MCP servers. Resources allow servers to share data that provides context "
    "to language models, such as files, database schemas, or application-specific information. Prefer "
    "resources over web search when possible."
)
LIST_TEMPLATES = (
    "Lists resource templates provided by MCP servers. Parameterized resource templates allow servers to "
    "share data that takes parameters and provides context to language models, such as files, database "
    "schemas, or application-specific information. Prefer resource templates over web search when possible."
)
READ_RESOURCE = (
    "Read a specific resource from an MCP server given the server name and resource URI. Use "
    "list_mcp_resources to find them."
)


class _ResourceTool:
    read_only = True

    def __init__(self, hub: McpHub, name: str, key: str, description: str) -> None:
        self.hub, self.name, self.key = hub, name, key
        if name == "read_mcp_resource":
            props = {
                "server": {"type": "string", "description": "MCP server name exactly as configured."},
                "uri": {"type": "string", "description": "Resource URI to read (from list_mcp_resources)."},
            }
            required: list[str] = ["server", "uri"]
        else:
            props = {
                "server": {
                    "type": "string",
                    "description": "Optional MCP server name; all servers when omitted.",
                },
                "cursor": {
                    "type": "string",
                    "description": "Opaque cursor from a previous call's nextCursor.",
                },
            }
            required = []
        self._spec = function_spec(name, description, props, required)

    def spec(self) -> dict[str, Any]:
        return self._spec

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        shown_server = str(args.get("server") or "agentrt")
        item_id = ctx.ids.new()
        ctx.emit(ItemStarted(McpToolCall(item_id, shown_server, self.name, args)))
        try:
            payload = await self._call(args)
        except McpCallError as exc:
            ctx.emit(
                ItemCompleted(
                    McpToolCall(item_id, shown_server, self.name, args, error=str(exc), status="failed")
                )
            )
            return f"error: {exc}"
        text = json.dumps(payload, ensure_ascii=False)
        result = {"content": [{"type": "text", "text": text}], "structured_content": payload}
        ctx.emit(
            ItemCompleted(
                McpToolCall(item_id, shown_server, self.name, args, result=result, status="completed")
            )
        )
        return text

    async def _call(self, args: Mapping[str, Any]) -> dict[str, Any]:
        hub = self.hub
        if self.name == "read_mcp_resource":
            server = hub.live(str(args["server"]))
            uri = str(args["uri"])
            result = await hub.request(server, lambda c: c.read_resource(uri))
            contents = [x.model_dump(mode="json", by_alias=True, exclude_none=True) for x in result.contents]
            return {"server": server.config.name, "uri": uri, "contents": contents}
        cursor = args.get("cursor")
        names = (
            [str(args["server"])]
            if args.get("server")
            else [n for n, s in hub.servers.items() if s.state == "ready"]
        )
        if cursor is not None and len(names) != 1:
            raise McpCallError("cursor can only be used when a server is specified")
        listed: list[dict[str, Any]] = []
        next_cursor = None
        for name in names:
            server = hub.live(name)
            result = await hub.request(server, lambda client: self._list(client, cursor))
            items = result.resources if self.key == "resources" else result.resource_templates
            listed.extend(
                {"server": name, **item.model_dump(mode="json", by_alias=True, exclude_none=True)}
                for item in items
            )
            next_cursor = result.next_cursor
        out: dict[str, Any] = {self.key: listed}
        if next_cursor is not None and len(names) == 1:
            out["nextCursor"] = next_cursor
        return out

    async def _list(self, client: Any, cursor: object) -> Any:
        after = str(cursor) if cursor is not None else None
        if self.key == "resources":
            return await client.list_resources(cursor=after)
        return await client.list_resource_templates(cursor=after)


# -- the session's side ------------------------------------------------------------------------------


def configured(raw: Mapping[str, Any]) -> list[ServerConfig]:
    """The servers a session starts: the enabled ones (``[]``: no MCP, and the SDK is never imported)."""
    return [s for s in server_configs(raw) if s.enabled]


def hub_tools(registry: ToolRegistry) -> Iterable[str]:
    """The names of the MCP tools in ``registry`` (tests, ``/mcp``)."""
    return [name for name, tool in registry.tools.items() if isinstance(tool, McpTool | _ResourceTool)]


def status_lines(raw: Mapping[str, Any], hub: McpHub | None) -> list[str]:
    """``/mcp``: each configured server, its transport and state (and why it failed), then its tools."""
    configs = server_configs(raw)
    if not configs:
        return ["No MCP servers configured. `agentrt mcp add NAME -- COMMAND…` adds one."]
    lines = []
    for config in configs:
        server = hub.servers.get(config.name) if hub is not None else None
        state = server.state if server is not None else ("disabled" if not config.enabled else "not started")
        where = " ".join([config.command, *config.args]) if config.command is not None else str(config.url)
        startup = f", up in {server.startup_s:.2f} s" if server is not None and server.startup_s else ""
        lines.append(f"• {config.name} ({config.transport}: {where}): {state}{startup}")
        if server is not None and server.error:
            lines.append(f"    error: {server.error}")
        if server is not None and server.state == "ready":
            names = [qualified_name(config.name, t.name) for t in server.tools]
            lines.append(f"    tools: {', '.join(names) if names else '(none)'}")
    return lines


class WaitForTools:
    """A model whose first request waits for the MCP servers to be up (``hub.ready``, each server bounded by
    its startup timeout) and then carries the tools that arrived; afterwards it only passes through.

    Wraps the session's model (``inner``), so the servers start while the session does the rest of its
    start-up and the first request is not sent before their tools are in the registry.
    """

    def __init__(self, inner: Any, hub: McpHub, specs: Callable[[], list[dict[str, Any]]]) -> None:
        self.inner, self.hub, self._specs = inner, hub, specs
        self.name = inner.name
        self._waited = False

    async def _wait(self, tools: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        if self._waited:
            return tools
        await self.hub.ready()
        self._waited = True
        if not tools:  # a request without tools (a compaction) stays without them
            return tools
        have = {_spec_name(t) for t in tools}
        return [*tools, *(t for t in self._specs() if _spec_name(t) not in have)]

    async def stream(self, messages: Sequence[Any], tools: Sequence[dict[str, Any]] = ()) -> Any:
        tools = await self._wait(tools)
        async for event in self.inner.stream(messages, tools):
            yield event

    async def complete(self, messages: Sequence[Any], tools: Sequence[dict[str, Any]] = ()) -> Any:
        return await self.inner.complete(messages, await self._wait(tools))

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _spec_name(spec: Mapping[str, Any]) -> str:
    return str(spec.get("function", {}).get("name", spec.get("name", spec.get("type", ""))))
