"""Sub-agents (feature ``multi_agent``, ``agent.subagents``): scripted parent/child conversations.

One in-process model plays every agent: ``Router`` answers each request from the script of the
conversation it belongs to (found by the conversation's newest user prompt that names a script), so
parent and children run concurrently and still walk their own scripts. A ``Gate`` in a script holds
that conversation's next request until the test opens it (never opened: the agent stays busy), so no
test sleeps to synchronise. Some tests drive ``Agents`` directly; the others a whole session (``exec``
with ``--json``), with the real sandbox where the test is about what a child may do.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agentrt.agent.rollout import list_sessions, read_rollout
from agentrt.agent.session import ExecOptions, _run
from agentrt.agent.subagents import (
    AgentHost,
    Agents,
    AgentSettings,
    load_settings,
    narrowed,
)
from agentrt.agent.thread import INTERRUPTED_NOTE, Limits
from agentrt.events import AgentEvent, CollabToolCall, ItemCompleted, Recorder, TurnCompleted
from agentrt.messages import Completion, Message, StreamEvent, message_text
from agentrt.model.scripted import ScriptedModel
from agentrt.tools.registry import ToolContext, ToolRegistry

PARENT = "Split the work among helpers."

Step = object  # a ScriptedModel reply, a Gate, or a callable(messages) -> reply


class Gate:
    """Holds a conversation's next request until ``open``."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reached = asyncio.Event()

    def open(self) -> None:
        self.event.set()


class Router:
    """One model for every agent: each request is answered from its conversation's script."""

    name = "router"

    def __init__(self, scripts: dict[str, Sequence[Step]]) -> None:
        self.scripts = {key: deque(steps) for key, steps in scripts.items()}
        self.requests: list[tuple[str, list[Message], list[str]]] = []
        """(conversation, messages, names of the tools offered) of every request."""
        self.closed = 0

    def _route(self, messages: Sequence[Message]) -> str:
        for message in reversed(messages):
            if message["role"] == "user":
                text = message_text(message["content"])
                if text in self.scripts:
                    return text
        raise AssertionError(
            f"no script for this conversation: {[message_text(m['content'])[:60] for m in messages]}"
        )

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        key = self._route(messages)
        self.requests.append((key, list(messages), [t["function"]["name"] for t in tools if "function" in t]))
        queue = self.scripts[key]
        assert queue, f"the script of {key!r} is used up"
        step = queue.popleft()
        while isinstance(step, Gate):
            step.reached.set()
            await step.event.wait()
            step = queue.popleft()
        if callable(step):
            step = step(messages)
        async for event in ScriptedModel([step]).stream(messages, tools):
            yield event

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        completion = None
        async for event in self.stream(messages, tools):
            if isinstance(event, Completion):
                completion = event
        assert completion is not None
        return completion

    async def aclose(self) -> None:
        self.closed += 1

    def sent(self, key: str) -> list[list[Message]]:
        return [messages for k, messages, _ in self.requests if k == key]

    def offered(self, key: str) -> list[str]:
        return next(names for k, _, names in self.requests if k == key)


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def outputs(messages: Sequence[Message]) -> list[str]:
    return [message_text(m["content"]) for m in messages if m["role"] == "tool"]


def spawned(messages: Sequence[Message]) -> list[str]:
    """The agent ids the spawn_agent outputs in ``messages`` returned."""
    return [json.loads(text)["agent_id"] for text in outputs(messages) if text.startswith('{"agent_id"')]


def wait_all(**extra: Any) -> Callable[[Sequence[Message]], dict[str, Any]]:
    """A step: wait_agent on every agent spawned so far."""
    return lambda messages: call("wait_agent", targets=spawned(messages), **extra)


def until_all_done(messages: Sequence[Message]) -> object:
    """A step: wait for the spawned agents no wait has reported finished yet; answer when none is left."""
    done: set[str] = set()
    for text in outputs(messages):
        if text.startswith('{"status"'):
            done.update(json.loads(text)["status"])
    left = [a for a in spawned(messages) if a not in done]
    return call("wait_agent", targets=left) if left else "all done"


# -- Agents driven directly ------------------------------------------------------------------------------


class Fake:
    """A tool registry factory recording the sandbox modes children got."""

    def __init__(self) -> None:
        self.modes: list[str] = []
        self.closed = 0

    @asynccontextmanager
    async def __call__(self, mode: str) -> AsyncIterator[ToolRegistry]:
        self.modes.append(mode)
        try:
            yield ToolRegistry(())
        finally:
            self.closed += 1


class Harness:
    def __init__(
        self, tmp_path: Path, router: Router, settings: AgentSettings | None = None, *, home: bool = False
    ) -> None:
        self.router, self.recorder, self.tools = router, Recorder(), Fake()
        self.host = AgentHost(
            cwd=tmp_path, sink=self.recorder, root_id="root", model=lambda: router, tools=self.tools,
            history=list, sandbox_mode=lambda: "workspace-write", limits=Limits,
            home=tmp_path / "home" if home else None,
        )  # fmt: skip
        self.agents = Agents(self.host, settings or AgentSettings(wait_min_ms=1))
        self.ctx = ToolContext(tmp_path, self.recorder.emit, __import__("agentrt.events").events.ItemIds())
        self.tool = {t.name: t for t in self.agents.tools()}

    async def __call__(self, name: str, **args: Any) -> Any:
        text = await self.tool[name].run(args, self.ctx)
        return text if text.startswith("error:") else json.loads(text)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_spawn_returns_id_and_nickname_and_wait_returns_the_answer(tmp_path: Path) -> None:
    async def main() -> None:
        router = Router({"Count the files.": ["There are 3 files."]})
        h = Harness(tmp_path, router)
        out = await h("spawn_agent", message="Count the files.")
        assert set(out) == {"agent_id", "nickname"} and out["nickname"] == "Ada"
        result = await h("wait_agent", targets=[out["agent_id"]], timeout_ms=60_000)
        assert result == {
            "status": {out["agent_id"]: {"completed": "There are 3 files."}},
            "timed_out": False,
        }
        assert h.agents.live() == 1  # done but open until closed
        # a child inherits the parent's live model: the one client served both
        assert [k for k, _, _ in router.requests] == ["Count the files."]
        await h.agents.aclose()
        assert h.agents.live() == 0 and h.tools.closed == 1

    run(main())


def test_wait_times_out_while_the_child_is_busy_then_sees_it_finish(tmp_path: Path) -> None:
    async def main() -> None:
        gate = Gate()
        h = Harness(tmp_path, Router({"Slow work.": [gate, "finished"]}))
        child = (await h("spawn_agent", message="Slow work."))["agent_id"]
        await gate.reached.wait()
        assert await h("wait_agent", targets=[child], timeout_ms=20) == {"status": {}, "timed_out": True}
        waiting = asyncio.create_task(h("wait_agent", targets=[child], timeout_ms=60_000))
        gate.open()
        assert await waiting == {"status": {child: {"completed": "finished"}}, "timed_out": False}
        await h.agents.aclose()

    run(main())


def test_wait_ends_at_the_first_finished_and_reports_unknown_ids(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path, Router({"Fast.": ["quick"], "Blocked.": [Gate()]}))
        fast = (await h("spawn_agent", message="Fast."))["agent_id"]
        slow = (await h("spawn_agent", message="Blocked."))["agent_id"]
        result = await h("wait_agent", ids=[slow, fast], timeout_ms=60_000)  # `ids`: the name
        assert result == {"status": {fast: {"completed": "quick"}}, "timed_out": False}
        result = await h("wait_agent", targets=[slow, "no-such-agent"])
        assert result == {"status": {"no-such-agent": "not_found"}, "timed_out": False}
        await h.agents.aclose()

    run(main())


def test_send_input_gives_a_finished_child_another_turn(tmp_path: Path) -> None:
    async def main() -> None:
        router = Router({"First.": ["one", "two"]})
        h = Harness(tmp_path, router)
        child = (await h("spawn_agent", message="First."))["agent_id"]
        await h("wait_agent", targets=[child])
        sent = await h("send_input", target=child, message="And now the second part.")
        assert set(sent) == {"submission_id"}
        assert await h("wait_agent", targets=[child]) == {
            "status": {child: {"completed": "two"}},
            "timed_out": False,
        }
        second = router.sent("First.")[-1]
        assert message_text(second[-1]["content"]) == "And now the second part."
        await h.agents.aclose()

    run(main())


def test_interrupt_stops_the_running_turn_and_handles_the_new_input(tmp_path: Path) -> None:
    async def main() -> None:
        gate = Gate()
        router = Router({"Long task.": [gate], "Stop; answer now.": ["stopped early"]})
        h = Harness(tmp_path, router)
        child = (await h("spawn_agent", message="Long task."))["agent_id"]
        await gate.reached.wait()
        await h("send_input", target=child, message="Stop; answer now.", interrupt=True)
        assert await h("wait_agent", targets=[child]) == {
            "status": {child: {"completed": "stopped early"}},
            "timed_out": False,
        }
        texts = [
            message_text(m["content"]) for m in router.sent("Stop; answer now.")[0] if m["role"] == "user"
        ]
        assert texts == ["Long task.", INTERRUPTED_NOTE, "Stop; answer now."]
        assert not gate.event.is_set()  # the first turn never got its reply: it was cancelled
        await h.agents.aclose()

    run(main())


def test_a_childs_failure_reaches_the_parent_as_errored(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path, Router({"Doomed.": [{"fault": "server_error"}]}))
        child = (await h("spawn_agent", message="Doomed."))["agent_id"]
        result = await h("wait_agent", targets=[child])
        (status,) = result["status"].values()
        assert "errored" in status and "ServerError" in status["errored"]
        await h.agents.aclose()

    run(main())


def test_close_closes_descendants_and_frees_their_places(tmp_path: Path) -> None:
    async def main() -> None:
        router = Router({
            "Delegate further.": [call("spawn_agent", message="Grandchild work."), "delegated"],
            "Grandchild work.": [Gate()],
        })  # fmt: skip
        h = Harness(tmp_path, router, AgentSettings(max_depth=2, wait_min_ms=1))
        child = (await h("spawn_agent", message="Delegate further."))["agent_id"]
        await h("wait_agent", targets=[child])
        (grandchild,) = [a for a in h.agents.agents() if a.depth == 2]
        assert grandchild.open() and h.agents.live() == 2
        assert await h("close_agent", target=child) == {"previous_status": {"completed": "delegated"}}
        assert [a.status for a in h.agents.agents()] == ["shutdown", "shutdown"]
        assert (
            h.agents.live() == 0
            and h.tools.closed == 2
            and grandchild.task is not None
            and grandchild.task.done()
        )
        assert await h("wait_agent", targets=[child]) == {"status": {child: "shutdown"}, "timed_out": False}
        refused = await h("send_input", target=child, message="more")
        assert refused.startswith("error:") and "shutdown" in refused

    run(main())


def test_depth_limit_hides_the_tools_from_a_child_at_the_limit_and_refuses_spawns(tmp_path: Path) -> None:
    async def main() -> None:
        router = Router(
            {
                "Helper.": ["ok"],
                "Nested helper.": [call("spawn_agent", message="Too deep."), "fine"],
                "Too deep.": [],
            }
        )
        h = Harness(tmp_path, router)  # max_depth 1
        child = (await h("spawn_agent", message="Helper."))["agent_id"]
        await h("wait_agent", targets=[child])
        assert "spawn_agent" not in router.offered("Helper.")
        h2 = Harness(tmp_path, router, AgentSettings(max_depth=2, wait_min_ms=1))
        mid = (await h2("spawn_agent", message="Nested helper."))["agent_id"]
        await h2("wait_agent", targets=[mid])
        assert {"spawn_agent", "send_input", "wait_agent", "close_agent", "resume_agent"} <= set(
            router.offered("Nested helper.")
        )
        flat = Harness(tmp_path, router, AgentSettings(max_depth=0))
        refused = await flat("spawn_agent", message="Helper.")
        assert refused.startswith("error: the agent depth limit (0) is reached")
        await h.agents.aclose()
        await h2.agents.aclose()

    run(main())


def test_thread_limit_refuses_spawns_until_one_is_closed(tmp_path: Path) -> None:
    async def main() -> None:
        router = Router({"A.": ["a"], "B.": ["b"], "C.": ["c"]})
        h = Harness(tmp_path, router, AgentSettings(max_threads=2, wait_min_ms=1))
        a = (await h("spawn_agent", message="A."))["agent_id"]
        await h("spawn_agent", message="B.")
        refused = await h("spawn_agent", message="C.")
        assert refused.startswith("error: 2 sub-agents are open, the limit")
        await h("close_agent", target=a)
        assert "agent_id" in await h("spawn_agent", message="C.")
        await h.agents.aclose()

    run(main())


def test_errors_go_back_to_the_model_as_text(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path, Router({}))
        assert (await h("send_input", target="nobody", message="hi")).startswith("error: no agent 'nobody'")
        assert (await h("close_agent", target="nobody")).startswith("error: no agent")
        assert (await h("wait_agent", targets=[])).startswith("error: wait_agent needs targets")
        assert (
            await h("wait_agent", targets=["x"], timeout_ms=0)
        ) == "error: timeout_ms must be greater than zero"
        assert (await h("spawn_agent")).startswith("error: spawn_agent: give a message")
        assert "the roles are: default, explorer, worker" in await h(
            "spawn_agent", message="x", agent_type="poet"
        )
        forked = await h("spawn_agent", message="x", fork_context=True, agent_type="worker")
        assert forked.startswith("error: fork_context")
        # a malformed call is refused by the registry before the tool runs, also as text
        from agentrt.messages import ToolCall

        registry = ToolRegistry(h.agents.tools())
        bad = await registry.dispatch(ToolCall("c1", "close_agent", "{}"), h.ctx)
        assert bad.startswith(
            "error: invalid arguments for close_agent: missing required argument(s): target"
        )
        assert h.agents.agents() == []

    run(main())


def test_events_of_children_reach_the_parent_tagged_and_calls_are_collab_items(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path, Router({"Tagged.": ["done here"]}))
        out = await h("spawn_agent", message="Tagged.")
        await h("wait_agent", targets=[out["agent_id"]])
        tagged = [e for e in h.recorder.events if isinstance(e, AgentEvent)]
        assert {e.agent_id for e in tagged} == {out["agent_id"]} and {e.nickname for e in tagged} == {"Ada"}
        assert any(isinstance(e.event, TurnCompleted) and e.event.final == "done here" for e in tagged)
        items = [
            e.item
            for e in h.recorder.events
            if isinstance(e, ItemCompleted) and isinstance(e.item, CollabToolCall)
        ]
        spawn, wait = (i.to_json() for i in items)
        assert spawn == {
            "id": "item_0", "type": "collab_tool_call", "tool": "spawn_agent", "sender_thread_id": "root",
            "receiver_thread_ids": [out["agent_id"]], "prompt": "Tagged.",
            "agents_states": {out["agent_id"]: {"status": "pending_init", "message": None}}, "status": "completed",
        }  # fmt: skip
        assert wait["tool"] == "wait" and wait["agents_states"] == {
            out["agent_id"]: {"status": "completed", "message": "done here"}
        }
        await h.agents.aclose()

    run(main())


def test_fork_context_gives_the_child_the_parents_history(tmp_path: Path) -> None:
    async def main() -> None:
        router = Router({"Continue from here.": ["forked ok"]})
        h = Harness(tmp_path, router)
        parent_history: list[Message] = [
            {"role": "user", "content": "Earlier request."},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "c9", "type": "function", "function": {"name": "spawn_agent", "arguments": "{}"}}
                ],
            },
        ]
        h.host.messages = lambda: parent_history
        child = (await h("spawn_agent", message="Continue from here.", fork_context=True))["agent_id"]
        await h("wait_agent", targets=[child])
        (first,) = router.sent("Continue from here.")
        assert message_text(first[0]["content"]) == "Earlier request."
        assert first[2]["role"] == "tool" and first[2]["tool_call_id"] == "c9"  # the pending call answered
        await h.agents.aclose()

    run(main())


def test_roles_narrow_the_sandbox_and_load_from_home(tmp_path: Path) -> None:
    assert narrowed("workspace-write", "read-only") == "read-only"
    assert narrowed("read-only", "danger-full-access") == "read-only"  # never wider than the parent
    home = tmp_path / "home"
    (home / "agents").mkdir(parents=True)
    (home / "agents" / "reviewer.toml").write_text(
        'description = "Reviews diffs."\ndeveloper_instructions = "Review only."\nsandbox_mode = "read-only"\n'
        'nickname_candidates = ["Rev"]\n'
    )

    class Cfg:
        raw = {"agents": {"max_threads": 3, "max_depth": 2}}

    Cfg.home = home  # type: ignore[attr-defined]
    settings = load_settings(Cfg)  # type: ignore[arg-type]
    assert (settings.max_threads, settings.max_depth) == (3, 2)
    reviewer = settings.roles["reviewer"]
    assert (reviewer.instructions, reviewer.sandbox_mode, reviewer.nicknames) == (
        "Review only.",
        "read-only",
        ("Rev",),
    )

    async def main() -> None:
        router = Router({"Review it.": ["looks fine"], "Look around.": ["seen"]})
        h = Harness(tmp_path, router, settings)
        out = await h("spawn_agent", message="Review it.", agent_type="reviewer")
        assert out["nickname"] == "Rev"
        await h("spawn_agent", message="Look around.", agent_type="explorer")
        await h("wait_agent", targets=[out["agent_id"]], timeout_ms=60_000)
        assert h.tools.modes == ["read-only", "read-only"]
        (first,) = router.sent("Review it.")
        assert first[0] == {"role": "system", "content": "Review only."}
        await h.agents.aclose()

    run(main())


# -- whole sessions ----------------------------------------------------------------------------------------


class Session:
    """A home, a working directory, and ``model_for`` handing the router to the session."""

    def __init__(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, router: Router, config: str = ""
    ) -> None:
        self.home, self.cwd = tmp_path / "home", tmp_path / "work"
        self.home.mkdir(exist_ok=True)
        self.cwd.mkdir(exist_ok=True)
        self.router = router
        self.env = {"AGENTRT_HOME": str(self.home), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        (self.home / "config.toml").write_text(
            'approval_policy = "never"\nsandbox_mode = "workspace-write"\nmodel_context_window = 100000\n'
            f"suppress_unstable_features_warning = true\n{config}\n[features]\nmulti_agent = true\n"
        )
        monkeypatch.setattr("agentrt.model.factory.model_for", lambda *a, **k: self.router)

    def exec(self, prompt: str = PARENT, resume: str | None = None) -> tuple[int, list[dict[str, Any]], str]:
        options = ExecOptions(cwd=self.cwd, skip_git_repo_check=True, prompt=prompt, json=True, resume=resume)
        stdout, stderr = io.StringIO(), io.StringIO()
        code = asyncio.run(_run(options, self.env, stdout, stderr))
        return code, [json.loads(line) for line in stdout.getvalue().splitlines()], stderr.getvalue()

    def rollouts(self) -> list[Path]:
        return sorted(self.home.glob("sessions/*/*/*/rollout-*.jsonl"))


def sh(*argv: str) -> dict[str, Any]:
    return call("shell", command=list(argv))


def test_session_spawns_a_child_with_its_own_linked_rollout_and_resumes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = Router({
        PARENT: [call("spawn_agent", message="Say hello."), wait_all(), "The helper said hello."],
        "Say hello.": ["hello", "hello again"],
        "Pick up your helper again.": [
            lambda m: call("resume_agent", id=CHILD[0]),
            lambda m: call("send_input", target=CHILD[0], message="Once more."),
            lambda m: call("wait_agent", targets=[CHILD[0]]),
            "It answered again.",
        ],
        "Once more.": [],
    })  # fmt: skip
    CHILD: list[str] = []
    s = Session(tmp_path, monkeypatch, router)
    code, events, stderr = s.exec()
    assert code == 0, stderr
    items = [
        e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "collab_tool_call"
    ]
    assert [i["tool"] for i in items] == ["spawn_agent", "wait"]
    thread_id = next(e["thread_id"] for e in events if e["type"] == "thread.started")
    child_id = items[0]["receiver_thread_ids"][0]
    CHILD.append(child_id)
    assert items[0]["sender_thread_id"] == thread_id
    assert items[1]["agents_states"] == {child_id: {"status": "completed", "message": "hello"}}
    # the child's own rollout links to the parent; the parent's records the spawn with the child's path
    parent_path, child_path = (next(p for p in s.rollouts() if i in p.name) for i in (thread_id, child_id))
    child = read_rollout(child_path)
    assert (child.meta["parent_thread_id"], child.meta["source"], child.meta["agent_nickname"]) == (
        thread_id,
        "subagent",
        "Ada",
    )
    (line,) = [
        p for k, p in read_rollout(parent_path).items if k == "event_msg" and p["type"] == "agent_spawned"
    ]
    assert (line["agent_id"], line["path"]) == (child_id, str(child_path))
    # the child started from its prompt (with its own base instructions), not the parent's conversation
    (first,) = router.sent("Say hello.")[:1]
    assert PARENT not in [message_text(m["content"]) for m in first]
    assert {s.id for s in list_sessions(s.home, limit=0)} == {thread_id, child_id}

    # resume the parent: its child is found again from the rollout and resumed from its own
    router.scripts["Once more."] = deque(["hello again"])
    code, events, stderr = s.exec("Pick up your helper again.", resume=thread_id)
    assert code == 0, stderr
    resumed = [m for m in router.sent("Once more.")[-1] if m["role"] in ("user", "assistant")]
    assert [message_text(m["content"]) for m in resumed if m["role"] == "assistant"] == ["hello"]
    last = router.sent("Pick up your helper again.")[-1]
    resumed_status, sent, waited = (json.loads(o) for o in outputs(last)[-3:])
    assert resumed_status == {"status": {"completed": "hello"}} and "submission_id" in sent
    assert waited == {
        "status": {child_id: {"completed": "hello again"}},
        "timed_out": False,
    }
    assert len(s.rollouts()) == 2  # the child continued its own file
    assert "hello again" in child_path.read_text()


def test_a_child_is_denied_what_the_parents_sandbox_denies_and_explorer_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("agentrt.sandbox")
    outside = tmp_path / "outside"
    outside.mkdir()
    router = Router({
        PARENT: [
            call("spawn_agent", message="Write outside."),
            call("spawn_agent", message="Write inside.", agent_type="explorer"),
            call("spawn_agent", message="Write inside as worker.", agent_type="worker"),
            *[until_all_done] * 4,
        ],
        "Write outside.": [sh("touch", str(outside / "escaped")), "tried outside"],
        "Write inside.": [sh("touch", "explorer-was-here"), "tried inside"],
        "Write inside as worker.": [sh("touch", "worker-was-here"), "worker wrote"],
    })  # fmt: skip
    s = Session(tmp_path, monkeypatch, router)
    code, _, stderr = s.exec()
    if "no sandbox can enforce" in stderr:
        pytest.skip("no sandbox mechanism works here")
    assert code == 0, stderr
    assert not (outside / "escaped").exists()
    assert not (s.cwd / "explorer-was-here").exists()
    assert (s.cwd / "worker-was-here").exists()  # the parent's workspace-write reaches a worker
    for key in ("Write outside.", "Write inside."):
        result = json.loads(outputs(router.sent(key)[-1])[-1])
        assert result["metadata"]["exit_code"] != 0, result


def test_session_without_the_flag_offers_no_agent_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = Router({PARENT: ["alone"]})
    s = Session(tmp_path, monkeypatch, router)
    (s.home / "config.toml").write_text(
        'approval_policy = "never"\nsandbox_mode = "read-only"\n[features]\nmulti_agent = false\n'
    )
    code, _, stderr = s.exec()
    assert code == 0, stderr
    assert "spawn_agent" not in router.offered(PARENT)


def test_bad_agents_config_stops_the_session_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Session(tmp_path, monkeypatch, Router({PARENT: ["never asked"]}), config="[agents]\nmax_threads = 0")
    with pytest.raises(Exception, match=r"agents.max_threads must be an integer >= 1"):
        s.exec()


def test_human_renderer_shows_children_compactly(tmp_path: Path) -> None:
    from agentrt.agent.render import HumanSink
    from agentrt.events import AgentMessageDelta, TurnFailed

    async def main() -> str:
        out = io.StringIO()
        h = Harness(
            tmp_path, Router({"Find the bug.": ["It is in parse()."], "Crash.": [{"fault": "server_error"}]})
        )
        h.recorder = h.host.sink = HumanSink(out, color=False)  # type: ignore[assignment]
        h.ctx = ToolContext(tmp_path, h.host.sink.emit, h.ctx.ids)
        a = (await h("spawn_agent", message="Find the bug."))["agent_id"]
        b = (await h("spawn_agent", message="Crash."))["agent_id"]
        await h("wait_agent", targets=[a])
        await h("wait_agent", targets=[b])
        h.host.sink.emit(AgentEvent(a, "Ada", AgentMessageDelta("streamed text is not shown")))
        h.host.sink.emit(AgentEvent(a, "Ada", TurnFailed("the turn was interrupted", "interrupted")))
        await h.agents.aclose()
        return out.getvalue()

    lines = run(main()).splitlines()
    assert lines[:2] == ["spawned Ada: Find the bug.", "spawned Basil: Crash."]
    assert "[Ada] finished: It is in parse()." in lines and "[Ada] interrupted" in lines
    assert any(line.startswith("[Basil] failed: ServerError") for line in lines)
    assert "waited: Ada completed" in lines and not any("streamed" in line for line in lines)
