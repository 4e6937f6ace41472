"""The guardian (``approvals_reviewer = "guardian"``, feature ``guardian_approval``): real sessions
(``agentrt exec``'s path, real tools, real commands, real rollout files) whose two models — the
session's and the guardian's — are in-process ``ScriptedModel``s handed out by the model factory.

Allow runs the command; deny does not and tells the model why; a malformed verdict, an unreachable
reviewer and a timeout are denials that say so; three denials in a row stop the turn with a valid
history; every verdict is a JSON item and a rollout line; Codex's spellings of the reviewer work;
``"user"`` (and a guardian whose feature is off) leaves the questions to the person.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentrt.agent.approvals import ApprovalRequest, Decision, FixedApprover, Refusal
from agentrt.agent.guardian import (
    VERDICT_SCHEMA,
    GuardianApprover,
    GuardianStopped,
    parse_verdict,
    transcript,
)
from agentrt.agent.rollout import history_from_rollout, read_rollout
from agentrt.agent.session import ExecOptions, SessionOptions, _run, open_session
from agentrt.config import ConfigError, load_config
from agentrt.events import GuardianAssessment, ItemCompleted, Recorder
from agentrt.interfaces import Model
from agentrt.messages import Message, message_text
from agentrt.model.scripted import ScriptedModel

PROMPT = "Please create the marker files."


def verdict(outcome: str, rationale: str, risk: str = "low", authorization: str = "explicit") -> str:
    return json.dumps(
        {"risk_level": risk, "user_authorization": authorization, "outcome": outcome, "rationale": rationale}
    )


def touch(name: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "shell", "arguments": {"command": ["touch", name]}}]}


class Closing:
    """A model that counts ``aclose`` calls (the guardian's must close with the session)."""

    def __init__(self, inner: Model) -> None:
        self.inner, self.name, self.closed = inner, inner.name, 0

    def stream(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Any:
        return self.inner.stream(messages, tools)

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Any:
        return await self.inner.complete(messages, tools)

    async def aclose(self) -> None:
        self.closed += 1
        await self.inner.aclose()


class Setup:
    """A home with a config, a working directory, and the factory handing out the two models."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session: list[object]) -> None:
        self.home, self.cwd = tmp_path / "home", tmp_path / "work"
        self.home.mkdir()
        self.cwd.mkdir()
        self.session = ScriptedModel(session, name="session")
        self.guardian: Closing | None = None
        self.guardian_schemas: list[object] = []
        self.env = {"AGENTRT_HOME": str(self.home), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        monkeypatch.setattr("agentrt.model.factory.model_for", self._model_for)

    def reviewer(self, model: Model) -> None:
        self.guardian = Closing(model)

    def config(
        self,
        text: str = "",
        *,
        reviewer: str = "guardian",
        feature: str = "guardian_approval",
        on: bool = True,
    ) -> None:
        (self.home / "config.toml").write_text(
            'approval_policy = "untrusted"\nsandbox_mode = "danger-full-access"\n'
            "model_context_window = 100000\nsuppress_unstable_features_warning = true\n"
            f'approvals_reviewer = "{reviewer}"\n{text}\n[features]\n{feature} = {str(on).lower()}\n'
        )

    def _model_for(self, config: Any, env: Any, *, output_schema: Any = None, **kw: Any) -> Model:
        if output_schema is None:
            return self.session
        self.guardian_schemas.append(output_schema)
        assert self.guardian is not None, "the test gave the guardian no model"
        return self.guardian

    def exec(self, *, json_mode: bool = True) -> tuple[int, str, str]:
        options = ExecOptions(cwd=self.cwd, skip_git_repo_check=True, prompt=PROMPT, json=json_mode)
        stdout, stderr = io.StringIO(), io.StringIO()
        code = asyncio.run(_run(options, self.env, stdout, stderr))
        return code, stdout.getvalue(), stderr.getvalue()

    def rollout(self) -> Path:
        (path,) = self.home.glob("sessions/*/*/*/rollout-*.jsonl")
        return path

    def sent(self, request: int) -> list[Message]:
        """The messages of the session model's ``request``-th request."""
        return self.session.requests[request][0]


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def assessments(stdout: str) -> list[dict[str, Any]]:
    return [
        e["item"]
        for e in events(stdout)
        if e["type"] == "item.completed" and e["item"]["type"] == "guardian_assessment"
    ]


def guardian_lines(path: Path) -> list[dict[str, Any]]:
    return [
        p
        for kind, p in read_rollout(path).items
        if kind == "event_msg" and p["type"] == "guardian_assessment"
    ]


def assert_consistent(messages: Sequence[Message]) -> None:
    """Every tool call has exactly one output, right after its assistant message."""
    pending: list[str] = []
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] == pending.pop(0)
        else:
            assert not pending, f"calls {pending} have no output"
            pending = [c["id"] for c in message.get("tool_calls") or ()]
    assert not pending, f"calls {pending} have no output"


def last_tool_output(messages: Sequence[Message]) -> str:
    return message_text([m for m in messages if m["role"] == "tool"][-1]["content"])


# -- allow, deny, fail closed ------------------------------------------------------------------------------


def test_allow_runs_the_command_and_is_reported_in_json_and_the_rollout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("made.txt"), "Created it."])
    s.reviewer(ScriptedModel([verdict("allow", "The user asked for this file.")], name="guardian"))
    s.config()
    code, stdout, _ = s.exec()
    assert code == 0 and (s.cwd / "made.txt").exists()
    assert s.guardian_schemas == [VERDICT_SCHEMA]
    (item,) = assessments(stdout)
    assert item == {
        "id": item["id"], "type": "guardian_assessment", "command": "touch made.txt", "status": "approved",
        "risk_level": "low", "user_authorization": "explicit", "rationale": "The user asked for this file.",
    }  # fmt: skip
    assert item["id"].startswith("item_")
    (line,) = guardian_lines(s.rollout())
    assert line["status"] == "approved" and line["risk_level"] == "low"
    assert line["action"] == {
        "type": "command",
        "source": "shell",
        "command": "touch made.txt",
        "cwd": str(s.cwd),
    }
    # The reviewer saw its instructions, the command, why it is asked, and the person's request.
    assert s.guardian is not None
    inner = s.guardian.inner
    assert isinstance(inner, ScriptedModel)
    system, user = inner.requests[0][0]
    assert system["role"] == "system" and "JSON" in system["content"]
    assert "touch made.txt" in user["content"] and "not a known-safe command" in user["content"]
    assert PROMPT in user["content"] and str(s.cwd) in user["content"]
    assert inner.requests[0][1] == []  # the reviewer is offered no tools
    assert s.guardian.closed == 1  # closed with the session


def test_deny_does_not_run_it_and_the_model_sees_the_rationale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("made.txt"), "I will not create it."])
    rationale = "Nothing in the conversation asks for a file outside the task."
    s.reviewer(ScriptedModel([verdict("deny", rationale, "medium", "none")], name="guardian"))
    s.config()
    code, stdout, _ = s.exec()
    assert code == 0 and not (s.cwd / "made.txt").exists()
    told = last_tool_output(s.sent(1))
    assert (
        rationale in told
        and told.startswith("error: the guardian did not approve")
        and "(risk medium)" in told
    )
    assert "the user" not in told  # a reviewer refused, not the person
    (item,) = assessments(stdout)
    assert (item["status"], item["risk_level"], item["user_authorization"]) == ("denied", "medium", "none")
    (line,) = guardian_lines(s.rollout())
    assert line["status"] == "denied" and line["rationale"] == rationale


@pytest.mark.parametrize(
    "answer, problem",
    [
        ("Sure, go ahead!", "not a valid verdict: it is not JSON"),
        (json.dumps({"outcome": "allow", "rationale": "fine"}), "not a valid verdict"),
        (verdict("maybe", "fine"), "not a valid verdict"),
        (verdict("allow", "   "), "the rationale is empty"),
    ],
)
def test_a_malformed_verdict_is_a_denial_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str, problem: str
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("made.txt"), "Could not."])
    s.reviewer(ScriptedModel([answer], name="guardian"))
    s.config()
    code, stdout, _ = s.exec()
    assert code == 0 and not (s.cwd / "made.txt").exists()
    (item,) = assessments(stdout)
    assert item["status"] == "denied" and problem in item["rationale"]
    assert item["risk_level"] is None and item["user_authorization"] is None
    assert problem in last_tool_output(s.sent(1))


def test_a_reviewer_that_never_answers_times_out_into_a_denial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("made.txt"), "Could not."])
    s.reviewer(ScriptedModel([verdict("allow", "too late")], name="guardian", delay_s=30))
    s.config("guardian_timeout_s = 0.2")
    code, stdout, _ = s.exec()
    assert code == 0 and not (s.cwd / "made.txt").exists()
    (item,) = assessments(stdout)
    assert item["status"] == "timed_out" and "no verdict within 0.2 s" in item["rationale"]
    assert "no verdict within 0.2 s" in last_tool_output(s.sent(1))
    (line,) = guardian_lines(s.rollout())
    assert line["status"] == "timed_out"


def test_a_reviewer_that_cannot_be_reached_is_a_denial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("made.txt"), "Could not."])
    s.reviewer(ScriptedModel([{"content": "x", "fault": "server_error", "fault_count": -1}], name="guardian"))
    s.config()
    code, stdout, _ = s.exec()
    assert code == 0 and not (s.cwd / "made.txt").exists()
    (item,) = assessments(stdout)
    assert item["status"] == "denied" and "could not be asked" in item["rationale"]


# -- three denials in a row ----------------------------------------------------------------------------------


def test_three_denials_in_a_row_stop_the_turn_with_a_valid_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("a"), touch("b"), touch("c"), "never asked"])
    denials = [verdict("deny", f"No reason to create {name}.", "high", "none") for name in "abc"]
    s.reviewer(ScriptedModel(denials, name="guardian"))
    s.config()
    code, stdout, _ = s.exec()
    assert code == 1 and not any((s.cwd / name).exists() for name in "abc")
    assert len(s.session.requests) == 3  # the turn stopped: the model was not asked again
    assert [a["status"] for a in assessments(stdout)] == ["denied"] * 3
    failed = [e for e in events(stdout) if e["type"] == "turn.failed"]
    assert len(failed) == 1 and "guardian denied 3 requests in a row" in failed[0]["error"]["message"]
    rollout = read_rollout(s.rollout())
    history = history_from_rollout(rollout)
    assert_consistent(history)
    assert "the turn stopped while shell was pending" in last_tool_output(history)
    aborted = [p for kind, p in rollout.items if kind == "event_msg" and p["type"] == "turn_aborted"]
    assert [a["reason"] for a in aborted] == ["guardian_denied"]
    assert len(guardian_lines(s.rollout())) == 3


def test_exec_ends_the_stopped_turn_with_a_message_for_a_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("a"), touch("b"), touch("c")])
    s.reviewer(ScriptedModel([verdict("deny", "Not asked for.", "high", "none")] * 3, name="guardian"))
    s.config()
    code, stdout, stderr = s.exec(json_mode=False)
    assert code == 1 and stdout == ""
    assert stderr.count("guardian denied `touch ") == 3
    (error,) = [line for line in stderr.splitlines() if line.startswith("agentrt: error:")]
    assert "the guardian denied 3 requests in a row" in error and "a person can review" in error


def test_an_allow_breaks_the_run_of_denials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script: list[object] = [touch("a"), touch("b"), touch("c"), touch("d"), touch("e"), "Done."]
    s = Setup(tmp_path, monkeypatch, script)
    no, yes = verdict("deny", "No.", "high", "none"), verdict("allow", "Yes.")
    s.reviewer(ScriptedModel([no, no, yes, no, no], name="guardian"))
    s.config()
    code, stdout, _ = s.exec()
    assert (
        code == 0
        and [a["status"] for a in assessments(stdout)] == ["denied"] * 2 + ["approved"] + ["denied"] * 2
    )
    assert [name for name in "abcde" if (s.cwd / name).exists()] == ["c"]


def test_the_count_starts_again_with_each_turn() -> None:
    async def main() -> None:
        recorder = Recorder()
        history: list[Message] = [{"role": "user", "content": "first"}]
        no = verdict("deny", "No.", "high", "none")
        guardian = GuardianApprover(ScriptedModel([no] * 5), recorder, history=lambda: history)
        request = ApprovalRequest(("rm", "x"), "/tmp", "not a known-safe command")
        assert isinstance(await guardian.decide(request), Refusal)
        assert isinstance(await guardian.decide(request), Refusal)
        history.append({"role": "user", "content": "second turn"})
        assert isinstance(await guardian.decide(request), Refusal)
        assert isinstance(await guardian.decide(request), Refusal)
        with pytest.raises(GuardianStopped) as stop:
            await guardian.decide(request)
        assert stop.value.reason == "guardian_denied"
        items = [e.item for e in recorder.events if isinstance(e, ItemCompleted)]
        assert len(items) == 5 and all(isinstance(i, GuardianAssessment) for i in items)

    asyncio.run(main())


# -- who reviews ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reviewer", ["auto_review", "guardian_subagent"])
def test_codex_spellings_select_the_guardian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reviewer: str
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("made.txt"), "Created it."])
    s.reviewer(ScriptedModel([verdict("allow", "Asked for.")], name="guardian"))
    s.config(reviewer=reviewer)
    code, stdout, _ = s.exec()
    assert code == 0 and (s.cwd / "made.txt").exists() and len(assessments(stdout)) == 1


@pytest.mark.parametrize(
    "reviewer, on, warned",
    [("user", True, False), ("guardian", False, True)],
)
def test_the_person_is_asked_when_the_guardian_is_not_selected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reviewer: str, on: bool, warned: bool
) -> None:
    s = Setup(tmp_path, monkeypatch, [touch("made.txt"), "Created it."])
    s.config(reviewer=reviewer, on=on)
    person = FixedApprover(Decision.APPROVED)
    recorder, stderr = Recorder(), io.StringIO()

    async def main() -> None:
        options = SessionOptions(cwd=s.cwd, skip_git_repo_check=True)
        async with open_session(options, s.env, recorder, stderr=stderr, approver=person) as session:
            await session.run_turn(PROMPT)

    asyncio.run(main())
    assert [r.command for r in person.asked] == [("touch", "made.txt")] and (s.cwd / "made.txt").exists()
    assert s.guardian_schemas == []  # no guardian model was even built
    assert not any(
        isinstance(e, ItemCompleted) and isinstance(e.item, GuardianAssessment) for e in recorder.events
    )
    assert ("needs the feature guardian_approval" in stderr.getvalue()) is warned


def test_approvals_reviewer_values_are_checked(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('approvals_reviewer = "robot"\n')
    with pytest.raises(ConfigError, match="approvals_reviewer"):
        load_config(tmp_path, env={})
    (tmp_path / "config.toml").write_text("guardian_timeout_s = 0\n")
    with pytest.raises(ConfigError, match="guardian_timeout_s"):
        load_config(tmp_path, env={})
    (tmp_path / "config.toml").write_text('approvals_reviewer = "auto_review"\nguardian_timeout_s = 5\n')
    config = load_config(tmp_path, env={})
    assert (config.raw["approvals_reviewer"], config.raw["guardian_timeout_s"]) == ("auto_review", 5)
    assert "approvals_reviewer" not in " ".join(config.warnings())  # applied, not "does not use yet"


# -- the pieces ----------------------------------------------------------------------------------------------------


def test_a_fenced_verdict_is_read_and_anything_more_is_refused() -> None:
    parsed = parse_verdict("```json\n" + verdict("allow", "ok") + "\n```")
    assert not isinstance(parsed, str) and parsed.outcome == "allow"
    assert isinstance(parse_verdict("Here: " + verdict("allow", "ok")), str)
    extra = json.dumps({**json.loads(verdict("allow", "ok")), "extra": 1})
    assert isinstance(parse_verdict(extra), str)


def test_the_transcript_keeps_the_newest_messages_and_the_persons_request() -> None:
    history: list[Message] = [
        {"role": "system", "content": "SYSTEM PROMPT"},
        {"role": "user", "content": "<environment_context>cwd</environment_context>"},
        {"role": "user", "content": "Build the thing."},
    ]
    for i in range(30):
        call = {
            "id": f"c{i}",
            "type": "function",
            "function": {"name": "shell", "arguments": f'{{"n": {i}}}'},
        }
        history += [
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"c{i}", "content": "x" * 5000},
        ]
    text = transcript(history)
    assert "SYSTEM PROMPT" not in text and "environment_context" not in text
    assert text.startswith("[user] Build the thing.") and "later messages left out" in text
    assert '{"n": 29}' in text and '{"n": 0}' not in text
    assert len(text) < 20000
