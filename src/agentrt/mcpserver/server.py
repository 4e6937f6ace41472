"""The MCP side of ``agentrt mcp-server``: the SDK's low-level server over stdio, agentrt sessions behind it.

Every ``agentrt`` call opens a session with ``open_session`` — the one agent core ``exec`` and the
interactive session use, so every session writes its normal rollout — runs one turn and keeps the
session for ``agentrt-reply``. Each session lives in its own task (``_Actor``: it enters and leaves
``open_session`` there); at most ``max_sessions`` stay open, the least recently used idle one is
closed to make room, and a reply to a closed (or older, or ``agentrt exec``) thread reopens it from
its rollout. All are closed when the client closes stdin.

Progress: each public event of the turn (``agentrt exec --json``'s schema: ``thread.started``,
``turn.started``, ``item.*``, ``turn.completed``…) goes to the client as a ``agentrt/event``
notification, shaped as Codex's ``codex/event``: ``{"_meta": {"requestId", "threadId"}, "id":
"<request id>", "msg": <event>}``. It is not named ``codex/event`` because the payload is agentrt's event,
not Codex's ``EventMsg``: a client that parses Codex's events would misread it. A call that carries a
``progressToken`` also gets ``notifications/progress`` (one step per event, the event's type as the
message), which clients that time out idle calls count as activity.

Approvals a person must give (``untrusted``, ``on-request``, ``on-failure``) are asked through MCP
elicitation: a form with ``decision`` (``approved``, ``approved_for_session``, ``denied``) and an
optional ``instead`` (what to do instead, sent to the model). On a handshake-era connection that is an
``elicitation/create`` request while the call runs; on a 2026-07-28 connection (no server-to-client
requests) the call answers ``InputRequiredResult`` carrying the same request, and the client's retry
(with ``requestState``) brings the answer back to the waiting turn. A client that declared no
elicitation capability is never asked: the command is denied and the model told why.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO, cast

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agentrt import __version__
from agentrt.agent.approvals import ApprovalRequest, Decision, Refusal
from agentrt.agent.session import SessionOptions, open_session
from agentrt.agent.thread import TurnStopped
from agentrt.events import Event, ThreadStarted
from agentrt.mcpserver.tools import (
    REPLY_TOOL,
    START_TOOL,
    ArgumentError,
    reply_arguments,
    start_arguments,
    tool_definitions,
)

EVENT_METHOD = "agentrt/event"
MAX_SESSIONS = 16
"""Sessions kept open at once by default (``--max-sessions``)."""
REMEMBERED = 1024
"""Closed sessions whose call options are kept to reopen them as they were opened."""
PENDING_TTL_S = 600.0
"""How long a 2026-07-28 client has to come back with an approval's answer before it counts as denied."""
APPROVAL_KEY = "approval"
NO_ELICITATION = (
    "the MCP client declared no elicitation capability, so no person can be asked; "
    "commands that need approval are denied (run it another way, or tell the user what to run)"
)
DECISIONS = ("approved", "approved_for_session", "denied")
ELICIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {
            "type": "string",
            "title": "Decision",
            "enum": list(DECISIONS),
            "description": "approved: run it once; approved_for_session: run it and do not ask again for "
            "this exact command in this session; denied: do not run it",
        },
        "instead": {
            "type": "string",
            "title": "Instead",
            "description": "With denied: what the agent should do instead (optional)",
        },
    },
    "required": ["decision"],
}


class McpSessionError(Exception):
    """A call that cannot be served (no such thread, a turn already running…): an error result."""


# -- one call's traffic between the turn and the client ----------------------------------------------


@dataclass
class _Question:
    request: ApprovalRequest
    answer: asyncio.Future[Decision | Refusal]


@dataclass
class _Run:
    """One turn as a tool call sees it: its events, its questions for a person, its outcome."""

    thread_id: str = ""
    can_elicit: bool = False
    sent: int = 0
    """Events sent so far: the progress of ``notifications/progress``."""
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    questions: asyncio.Queue[_Question] = field(default_factory=asyncio.Queue)
    outcome: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _Sink:
    """The session's event sink: public events of the running turn, queued for its call to send."""

    def __init__(self) -> None:
        self.run: _Run | None = None

    def emit(self, event: Event) -> None:
        run = self.run
        if run is None or not event.public:
            return
        if isinstance(event, ThreadStarted):
            run.thread_id = event.thread_id
        run.events.put_nowait(event.to_json())


class _Approver:
    """The session's ``Approver``: a question for the running call to put to the client (elicitation),
    or, when the client cannot be asked, a denial that names the reason."""

    def __init__(self) -> None:
        self.run: _Run | None = None

    @property
    def reviewer(self) -> str:
        return "the user" if self.run is not None and self.run.can_elicit else "the MCP client"

    async def decide(self, request: ApprovalRequest) -> Decision | Refusal:
        run = self.run
        if run is None or not run.can_elicit:
            return Refusal(NO_ELICITATION)
        answer: asyncio.Future[Decision | Refusal] = asyncio.get_running_loop().create_future()
        run.questions.put_nowait(_Question(request, answer))
        return await answer


# -- a session in its own task -------------------------------------------------------------------------


class _Actor:
    """One open session, entered and left in its own task; turns are asked of it one at a time."""

    def __init__(self, options: SessionOptions, env: Mapping[str, str], stderr: TextIO) -> None:
        self.options, self.env, self.stderr = options, env, stderr
        self.sink, self.approver = _Sink(), _Approver()
        self.thread_id = ""
        self.busy = False
        self._inbox: asyncio.Queue[tuple[str, _Run] | None] = asyncio.Queue()
        self._turn: asyncio.Task[str] | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, run: _Run) -> str:
        """Open the session (its ``thread.started`` goes to ``run``); its thread id, or what stopped it."""
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.sink.run = run
        self._task = asyncio.create_task(self._main(ready))
        self.thread_id = await asyncio.shield(ready)
        return self.thread_id

    def begin(self, prompt: str, run: _Run) -> None:
        """Start a turn; its outcome arrives in ``run.outcome``."""
        self.busy = True
        run.thread_id = self.thread_id
        self.sink.run, self.approver.run = run, run
        self._inbox.put_nowait((prompt, run))

    def interrupt(self) -> None:
        if self._turn is not None:
            self._turn.cancel()

    async def close(self) -> None:
        self.interrupt()
        self._inbox.put_nowait(None)
        if self._task is not None:
            await asyncio.wait({self._task})

    async def _main(self, ready: asyncio.Future[str]) -> None:
        try:
            async with open_session(
                self.options, self.env, self.sink, stderr=self.stderr, approver=self.approver
            ) as session:
                ready.set_result(session.thread_id)
                while (item := await self._inbox.get()) is not None:
                    await self._run_turn(session.run_turn, *item)
        except BaseException as exc:  # the session could not open, or closing it failed
            if not ready.done():
                ready.set_exception(exc)
            elif not isinstance(exc, Exception):
                raise
            else:
                self.stderr.write(f"agentrt mcp-server: session {self.thread_id}: {exc}\n")

    async def _run_turn(self, run_turn: Any, prompt: str, run: _Run) -> None:
        self._turn = asyncio.create_task(run_turn(prompt))
        try:
            await asyncio.wait({self._turn})
        finally:
            turn, self._turn = self._turn, None
            self.sink.run = self.approver.run = None
            self.busy = False
        if run.outcome.done():
            return
        if turn.cancelled():
            run.outcome.set_exception(McpSessionError("the turn was interrupted"))
        elif (exc := turn.exception()) is not None:
            run.outcome.set_exception(exc)
        else:
            run.outcome.set_result(turn.result())


# -- the server ------------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """A 2026-07-28 call that answered ``InputRequiredResult``: the turn waits for the retry."""

    run: _Run
    question: _Question
    expiry: asyncio.TimerHandle


class AgentrtMcp:
    """The two tools over live sessions; ``server()`` is the SDK's low-level server serving them."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        overrides: Sequence[str] = (),
        max_sessions: int = MAX_SESSIONS,
        stderr: TextIO | None = None,
    ) -> None:
        self.env, self.overrides, self.max_sessions = env, tuple(overrides), max(1, max_sessions)
        self.stderr = stderr or sys.stderr
        self.live: OrderedDict[str, _Actor] = OrderedDict()
        self.remembered: OrderedDict[str, SessionOptions] = OrderedDict()
        self.pending: dict[str, _Pending] = {}
        self._closing: set[asyncio.Future[None]] = set()

    def server(self) -> Server[Any]:
        return Server(
            "agentrt",
            version=__version__,
            title="agentrt",
            instructions="agentrt, a coding agent: `agentrt` starts a session on a prompt and answers "
            "{threadId, content}; `agentrt-reply` continues a thread.",
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in tool_definitions()])

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        if params.request_state is not None:
            return await self._resume(ctx, params)
        args = params.arguments or {}
        try:
            if params.name == START_TOOL:
                return await self._start(ctx, args)
            if params.name == REPLY_TOOL:
                return await self._reply(ctx, args)
            return _error(f"unknown tool {params.name!r} (this server has {START_TOOL}, {REPLY_TOOL})")
        except (ArgumentError, McpSessionError) as exc:
            return _error(str(exc))

    async def aclose(self) -> None:
        """Close every session (their rollouts stay); answer every waiting approval with a denial."""
        for pending in self.pending.values():
            pending.expiry.cancel()
            _settle(pending.question.answer, Decision.DENIED)
        self.pending.clear()
        actors = list(self.live.values())
        self.live.clear()
        await asyncio.gather(*(actor.close() for actor in actors), *self._closing, return_exceptions=True)

    # -- the tools ----------------------------------------------------------------------------------------

    async def _start(
        self, ctx: ServerRequestContext[Any], args: Mapping[str, Any]
    ) -> types.CallToolResult | types.InputRequiredResult:
        start = start_arguments(args, self.overrides)
        await self._make_room()
        run = _Run(can_elicit=_can_elicit(ctx))
        actor = _Actor(start.options, self.env, self.stderr)
        try:
            thread_id = await self._open(actor, run)
        except Exception as exc:
            return _error(f"Failed to start agentrt session: {_describe(exc)}")
        self._keep(thread_id, actor, start.options)
        actor.begin(start.prompt, run)
        return await self._serve(ctx, run, actor)

    async def _reply(
        self, ctx: ServerRequestContext[Any], args: Mapping[str, Any]
    ) -> types.CallToolResult | types.InputRequiredResult:
        reply = reply_arguments(args)
        run = _Run(can_elicit=_can_elicit(ctx))
        actor = self.live.get(reply.thread_id) or await self._reopen(reply.thread_id, run)
        if actor.busy:
            raise McpSessionError(
                f"a turn is already running on thread {actor.thread_id}; wait for its answer"
            )
        self.live.move_to_end(actor.thread_id)
        actor.begin(reply.prompt, run)
        return await self._serve(ctx, run, actor)

    async def _reopen(self, thread_id: str, run: _Run) -> _Actor:
        """A thread that is not open: reopened from its rollout, with the options it was opened with
        when this server opened it, else in the directory it was recorded in."""
        from agentrt.agent.rollout import SessionError, find_session, session_info
        from agentrt.config import agentrt_home

        try:
            info = session_info(find_session(agentrt_home(self.env), thread_id))
        except SessionError:
            info = None
        if info is None:
            raise McpSessionError(f"Session not found for thread_id: {thread_id}")
        if (open_actor := self.live.get(info.id)) is not None:  # a prefix of an open thread's id
            return open_actor
        options = self.remembered.get(info.id) or SessionOptions(
            cwd=Path(info.cwd or "."), overrides=self.overrides, skip_git_repo_check=True
        )
        await self._make_room()
        actor = _Actor(replace(options, resume=info.id), self.env, self.stderr)
        try:
            await self._open(actor, run)
        except Exception as exc:
            raise McpSessionError(f"Failed to reopen agentrt session {info.id}: {_describe(exc)}") from exc
        self._keep(info.id, actor, options)
        return actor

    async def _open(self, actor: _Actor, run: _Run) -> str:
        try:
            return await actor.open(run)
        except asyncio.CancelledError:  # the call was cancelled while the session opened: close it after
            task = asyncio.ensure_future(actor.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            raise

    def _keep(self, thread_id: str, actor: _Actor, options: SessionOptions) -> None:
        self.live[thread_id] = actor
        self.remembered[thread_id] = options
        self.remembered.move_to_end(thread_id)
        while len(self.remembered) > REMEMBERED:
            self.remembered.popitem(last=False)

    async def _make_room(self) -> None:
        while len(self.live) >= self.max_sessions:
            idle = next((tid for tid, actor in self.live.items() if not actor.busy), None)
            if idle is None:
                raise McpSessionError(
                    f"{len(self.live)} sessions are running a turn (the most this server keeps open: "
                    f"{self.max_sessions}, --max-sessions); try again when one has answered"
                )
            await self.live.pop(idle).close()

    # -- one call, while its turn runs -----------------------------------------------------------------------

    async def _serve(
        self, ctx: ServerRequestContext[Any], run: _Run, actor: _Actor | None = None
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Send the turn's events as they come, put its questions to the client, and answer the call
        with its outcome. A cancelled call interrupts the turn."""
        try:
            while True:
                await self._flush(ctx, run)
                if run.outcome.done():
                    return _outcome(run)
                event_wait = asyncio.ensure_future(run.events.get())
                question_wait = asyncio.ensure_future(run.questions.get())
                waits: set[asyncio.Future[Any]] = {event_wait, question_wait, run.outcome}
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:  # an item a cancelled get had not taken yet stays in its queue
                    event_wait.cancel()
                    question_wait.cancel()
                if event_wait.done() and not event_wait.cancelled():
                    await self._notify(ctx, run, event_wait.result())
                if question_wait.done() and not question_wait.cancelled():
                    question = question_wait.result()
                    if _modern(ctx):
                        await self._flush(ctx, run)
                        return self._input_required(run, question)
                    _settle(question.answer, await self._elicit(ctx, run, question))
        except asyncio.CancelledError:
            if actor is not None:
                actor.interrupt()
            else:
                self._interrupt(run)
            raise

    def _interrupt(self, run: _Run) -> None:
        for actor in self.live.values():
            if actor.sink.run is run:
                actor.interrupt()

    async def _flush(self, ctx: ServerRequestContext[Any], run: _Run) -> None:
        while not run.events.empty():
            await self._notify(ctx, run, run.events.get_nowait())

    async def _notify(self, ctx: ServerRequestContext[Any], run: _Run, event: dict[str, Any]) -> None:
        params = {
            "_meta": {"requestId": ctx.request_id, "threadId": run.thread_id},
            "id": str(ctx.request_id),
            "msg": event,
        }
        note = types.Notification[dict[str, Any], str](method=EVENT_METHOD, params=params)
        run.sent += 1
        try:
            await ctx.session.send_notification(cast(Any, note), related_request_id=ctx.request_id)
            await ctx.session.report_progress(run.sent, message=_progress(event))  # with a progressToken
        except Exception as exc:  # a client gone mid-turn: the turn goes on, its rollout records it
            self.stderr.write(f"agentrt mcp-server: could not send an event: {exc}\n")

    async def _elicit(
        self, ctx: ServerRequestContext[Any], run: _Run, question: _Question
    ) -> Decision | Refusal:
        try:
            result = await ctx.session.send_request(
                types.ElicitRequest(params=_elicit_params(run, question.request)),
                types.ElicitResult,
                metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
            )
        except Exception as exc:
            return Refusal(f"the approval could not be asked of the MCP client ({_describe(exc)}); denied")
        return _decision(result)

    def _input_required(self, run: _Run, question: _Question) -> types.InputRequiredResult:
        token = uuid.uuid4().hex
        expiry = asyncio.get_running_loop().call_later(PENDING_TTL_S, self._expire, token)
        self.pending[token] = _Pending(run, question, expiry)
        request = types.ElicitRequest(params=_elicit_params(run, question.request))
        return types.InputRequiredResult(input_requests={APPROVAL_KEY: request}, request_state=token)

    def _expire(self, token: str) -> None:
        pending = self.pending.pop(token, None)
        if pending is not None:
            _settle(pending.question.answer, Refusal("no answer came from the MCP client in time; denied"))

    async def _resume(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        assert params.request_state is not None
        pending = self.pending.pop(params.request_state, None)
        if pending is None:
            return _error("no approval is waiting for this requestState (answered already, or expired)")
        pending.expiry.cancel()
        response = (params.input_responses or {}).get(APPROVAL_KEY)
        decision = _decision(response) if isinstance(response, types.ElicitResult) else Decision.DENIED
        pending.run.can_elicit = _can_elicit(ctx)
        _settle(pending.question.answer, decision)
        return await self._serve(ctx, pending.run)


# -- small pieces ------------------------------------------------------------------------------------------


def _modern(ctx: ServerRequestContext[Any]) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _can_elicit(ctx: ServerRequestContext[Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def _elicit_params(run: _Run, request: ApprovalRequest) -> types.ElicitRequestFormParams:
    command = shlex.join(request.command)
    meta = {
        "threadId": run.thread_id,
        "agentrt_elicitation": "exec-approval",
        "agentrt_command": list(request.command),
        "agentrt_cwd": request.cwd,
        "agentrt_reason": request.reason,
    }
    return types.ElicitRequestFormParams(
        message=f"Allow agentrt to run `{command}` in `{request.cwd}`? ({request.reason})",
        requested_schema=ELICIT_SCHEMA,
        _meta=cast(Any, meta),
    )


def _decision(result: types.ElicitResult) -> Decision | Refusal:
    """A person's answer: ``accept`` with a decision (``approved`` when the form came back without one);
    ``decline`` and ``cancel`` deny."""
    if result.action != "accept":
        return Decision.DENIED
    content = result.content or {}
    decision = content.get("decision", "approved")
    if decision == "approved":
        return Decision.APPROVED
    if decision == "approved_for_session":
        return Decision.APPROVED_FOR_SESSION
    instead = content.get("instead")
    return Refusal(instead) if isinstance(instead, str) and instead.strip() else Decision.DENIED


def _progress(event: Mapping[str, Any]) -> str:
    """``item.completed command_execution``: what a ``notifications/progress`` message says."""
    item = event.get("item")
    kind = item.get("type") if isinstance(item, dict) else None
    return f"{event.get('type')} {kind}" if kind else str(event.get("type"))


def _settle(future: asyncio.Future[Decision | Refusal], answer: Decision | Refusal) -> None:
    if not future.done():
        future.set_result(answer)


def _outcome(run: _Run) -> types.CallToolResult:
    """The finished turn as Codex answers a tool call: the text as content and as ``{threadId, content}``."""
    exc = run.outcome.exception()
    if exc is None:
        return _result(run.thread_id, run.outcome.result())
    if isinstance(exc, TurnStopped | McpSessionError):
        return _result(run.thread_id, str(exc), error=True)
    return _result(run.thread_id, f"agentrt runtime error: {_describe(exc)}", error=True)


def _result(thread_id: str, text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content={"threadId": thread_id, "content": text},
        is_error=error,
    )


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# -- the process -------------------------------------------------------------------------------------------


async def serve_stdio(
    env: Mapping[str, str], *, overrides: Sequence[str] = (), max_sessions: int = MAX_SESSIONS
) -> None:
    """Serve on stdin/stdout until the client closes stdin; then close every session."""
    mcp = AgentrtMcp(env, overrides=overrides, max_sessions=max_sessions)
    server = mcp.server()
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        with contextlib.suppress(Exception):
            await mcp.aclose()


def run_server(
    env: Mapping[str, str], *, overrides: Sequence[str] = (), max_sessions: int = MAX_SESSIONS
) -> int:
    """``agentrt mcp-server``: harden the process as ``exec`` does, then serve; 0 when stdin closed."""
    from agentrt.sandbox import become_subreaper, harden_runtime
    from agentrt.sandbox.process import use_pidfd_child_watcher

    harden_runtime()  # the commands the model runs cannot read this process's environment
    become_subreaper()  # orphans of those commands come back here to be reaped

    async def main() -> None:
        use_pidfd_child_watcher()
        await serve_stdio(env, overrides=overrides, max_sessions=max_sessions)

    asyncio.run(main())
    return 0
