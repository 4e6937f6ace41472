"""Approval policies: what runs, what is asked, what is remembered."""

from __future__ import annotations

import asyncio

import pytest

from agentrt.agent.approvals import (
    ApprovalGate,
    Decision,
    FixedApprover,
    Refusal,
    is_known_safe,
)
from agentrt.sandbox.denial import looks_like_sandbox_denial


@pytest.mark.parametrize(
    ("argv", "safe"),
    [
        (["ls", "-la"], True),
        (["git", "status"], True),
        (["git", "push"], False),
        (["rm", "-rf", "x"], False),
        (["find", ".", "-name", "*.py"], True),
        (["find", ".", "-delete"], False),
        (["sed", "-n", "1,5p", "f"], True),
        (["sed", "-i", "s/a/b/", "f"], False),
        (["bash", "-lc", "ls && git diff | wc -l"], True),
        (["bash", "-lc", "ls > out.txt"], False),
        (["bash", "-lc", "echo $(rm -rf /)"], False),
        (["bash", "-lc", "ls; rm x"], False),
        ([], False),
    ],
)
def test_known_safe_commands(argv: list[str], safe: bool) -> None:
    assert is_known_safe(argv) is safe


def test_untrusted_asks_for_unsafe_commands_and_remembers_session_approvals() -> None:
    approver = FixedApprover(Decision.APPROVED_FOR_SESSION)
    gate = ApprovalGate("untrusted", approver)
    assert asyncio.run(gate.before_run(["ls"], "/w")) is None
    assert asyncio.run(gate.before_run(["make", "test"], "/w")) is None
    assert asyncio.run(gate.before_run(["make", "test"], "/w")) is None
    assert [r.command for r in approver.asked] == [("make", "test")]


def test_untrusted_denial_is_told_to_the_model() -> None:
    gate = ApprovalGate("untrusted", FixedApprover(Decision.DENIED))
    assert "not approve" in (asyncio.run(gate.before_run(["rm", "x"], "/w")) or "")


def test_never_never_asks_and_refuses_escalation() -> None:
    approver = FixedApprover(Decision.APPROVED)
    gate = ApprovalGate("never", approver)
    assert asyncio.run(gate.before_run(["rm", "x"], "/w")) is None
    assert "cannot be requested" in (asyncio.run(gate.escalate(["rm", "x"], "/w", "please")) or "")
    assert asyncio.run(gate.rerun_unsandboxed(["rm", "x"], "/w", "Permission denied")) is False
    assert approver.asked == []


def test_on_request_escalation_and_on_failure_rerun() -> None:
    yes = FixedApprover(Decision.APPROVED)
    assert (
        asyncio.run(ApprovalGate("on-request", yes).escalate(["pip", "install", "x"], "/w", "needs network"))
        is None
    )
    assert yes.asked[0].reason == "needs network"
    assert asyncio.run(
        ApprovalGate("on-failure", yes).rerun_unsandboxed(["touch", "/etc/x"], "/w", "Read-only file system")
    )
    no = FixedApprover(Decision.DENIED)
    assert not asyncio.run(
        ApprovalGate("on-failure", no).rerun_unsandboxed(["touch", "/etc/x"], "/w", "denied")
    )
    assert asyncio.run(ApprovalGate("on-request", no).escalate(["x"], "/w", "j")) is not None


def test_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="approval policy"):
        ApprovalGate("sometimes")


def test_denial_detection() -> None:
    assert looks_like_sandbox_denial(1, "touch: cannot touch '/etc/x': Read-only file system") is not None
    assert looks_like_sandbox_denial(0, "Permission denied") is None
    assert looks_like_sandbox_denial(1, "AssertionError: 2 != 3") is None


def test_a_refusal_with_words_reaches_the_model() -> None:
    gate = ApprovalGate("untrusted", FixedApprover(Refusal("use pytest -x instead")))
    reason = asyncio.run(gate.before_run(["rm", "-rf", "build"], "/w"))
    assert reason is not None and reason.startswith("the user did not approve this command")
    assert reason.endswith("The user said what to do instead: use pytest -x instead")
    escalation = asyncio.run(gate.escalate(["rm", "x"], "/w", "j"))
    assert escalation is not None and "outside the sandbox" in escalation  # policy untrusted: not asked
    bare = ApprovalGate("on-request", FixedApprover(Refusal("  ")))
    said = asyncio.run(bare.escalate(["rm", "x"], "/w", "cleanup"))
    assert said == "the user did not approve running this command outside the sandbox"
