"""The contract loop's retry strategies: what a retry is sent (sampling, context) and shown (feedback)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.capture_server import capture_server

from agentrt.bench.dataset import Task
from agentrt.bench.humaneval.failure import describe, read_failure
from agentrt.bench.humaneval.loop import LoopConfig, feedback, solve
from agentrt.bench.humaneval.retry import AttemptModel, fresh_view, retry_model
from agentrt.bench.humaneval.strategy import LOCAL_RETRY, RetryStrategy
from agentrt.config.providers import ProviderConfig
from agentrt.model.factory import build_client

ASSERTION_OUTPUT = """\
F                                                                        [100%]
=================================== FAILURES ===================================
________________________________ test_humaneval ________________________________
test_solution.py:16: in test_humaneval
    check(truncate_number)
test_solution.py:10: in check
    assert candidate(3.5) == 0.5
E   assert 3.5 == 0.5
E    +  where 3.5 = <function truncate_number at 0x7fee8b3b34c0>(3.5)
=========================== short test summary info ============================
FAILED test_solution.py::test_humaneval - assert 3.5 == 0.5
1 failed in 1.04s
"""

RAISED_OUTPUT = """\
F                                                                        [100%]
=================================== FAILURES ===================================
________________________________ test_humaneval ________________________________
test_solution.py:16: in test_humaneval
    check(truncate_number)
test_solution.py:10: in check
    assert candidate(3.5) == 0.5
           ^^^^^^^^^^^^^^
solution.py:2: in truncate_number
    return undefined_x
           ^^^^^^^^^^^
E   NameError: name 'undefined_x' is not defined
=========================== short test summary info ============================
FAILED test_solution.py::test_humaneval - NameError: name 'undefined_x' is no...
1 failed in 0.84s
"""


def test_the_failing_check_is_named_with_the_function_under_test() -> None:
    failure = read_failure(ASSERTION_OUTPUT)
    assert failure is not None
    assert failure.check is not None and failure.check.source == "assert truncate_number(3.5) == 0.5"
    assert failure.raised_in is None  # test_solution.py is not solution.py
    assert failure.verdict == ("assert 3.5 == 0.5", "+  where 3.5 = truncate_number(3.5)")
    assert "0x7fee" not in describe(failure)


def test_where_the_solution_raised_is_kept() -> None:
    failure = read_failure(RAISED_OUTPUT)
    assert failure is not None and failure.raised_in is not None
    assert (failure.raised_in.line, failure.raised_in.source) == (2, "return undefined_x")
    assert failure.verdict == ("NameError: name 'undefined_x' is not defined",)


def test_unreadable_output_falls_back_to_the_excerpt() -> None:
    config = LoopConfig(confine=None, retry=RetryStrategy(feedback="assertion"))
    message = feedback("the test run timed out", "Timeout: killed after 60 s\n", config)
    assert "Timeout: killed after 60 s" in message and "pytest says" not in message


def test_reason_first_replaces_the_last_instruction() -> None:
    plain = feedback("pytest exit code 1", ASSERTION_OUTPUT, LoopConfig(confine=None))
    reason = feedback(
        "pytest exit code 1", ASSERTION_OUTPUT, LoopConfig(confine=None, retry=RetryStrategy(reason=True))
    )
    assert plain.endswith(
        "Fix the solution. Reply with the complete corrected module in a single ```python code block."
    )
    assert "why the test failed" in reason and "Fix the solution" not in reason
    assert "short test summary info" in reason  # the output itself is still there


@given(st.text(max_size=400))
def test_read_failure_never_raises(text: str) -> None:
    failure = read_failure(text)
    if failure is not None:
        assert failure.verdict and describe(failure)


def _history(*replies_and_feedback: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "TASK"}]
    for i, text in enumerate(replies_and_feedback):
        messages.append({"role": "assistant" if i % 2 == 0 else "user", "content": text})
    return messages


def test_a_fresh_retry_sends_the_task_with_the_last_answer_and_its_feedback() -> None:
    history = _history(
        "```python\ndef f(): return 1\n```", "FEEDBACK 1", "```python\ndef f(): return 2\n```", "FEEDBACK 2"
    )
    sent = fresh_view(history)
    assert [m["role"] for m in sent] == ["system", "user"]
    text = sent[1]["content"]
    assert text.startswith("TASK") and "def f(): return 2" in text and text.endswith("FEEDBACK 2")
    assert "return 1" not in text and "FEEDBACK 1" not in text
    assert fresh_view(history[:2]) == history[:2]  # the first attempt is never changed


def test_a_fresh_retry_without_code_sends_the_task_and_the_last_feedback_alone() -> None:
    history = _history(
        "```python\ndef f(): return 1\n```", "FEEDBACK 1", "```python\ndef f(): return 2\n```", "FEEDBACK 2"
    )
    sent = fresh_view(history, code=False)
    assert sent == [history[0], {"role": "user", "content": "TASK\n\nFEEDBACK 2"}]
    assert fresh_view(history[:2], code=False) == history[:2]


def test_strategies_that_change_no_request_leave_the_model_alone() -> None:
    client = build_client(ProviderConfig(id="x", name="x", base_url="http://127.0.0.1:9/v1"), "m", {})
    assert retry_model(client, RetryStrategy(feedback="assertion", reason=True), 3) is client
    assert retry_model(client, LOCAL_RETRY, 0) is client
    assert isinstance(retry_model(client, LOCAL_RETRY, 3), AttemptModel)


@pytest.mark.parametrize("code", [True, False], ids=["code shown", "no code"])
def test_retries_are_sampled_and_seeded_per_attempt_and_the_first_is_not(tmp_path: Path, code: bool) -> None:
    """A real loopback server records what each attempt sent: the first attempt keeps the run's
    settings; attempt k sends the retry temperature and seed N+k, in a fresh conversation (with the
    last answer's code, or without it)."""
    wrong = "```python\ndef add(a, b):\n    return a - b\n```"
    script = [{"text": wrong}, {"text": wrong}, {"text": "```python\ndef add(a, b):\n    return a + b\n```"}]
    task = Task(
        "t/0",
        "def add(a, b):\n    pass\n",
        "from solution import *\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    )
    strategy = RetryStrategy(temperature=0.9, seed=40, feedback="assertion", context="fresh", code=code)

    async def main(url: str) -> None:
        client = build_client(
            ProviderConfig(id="cap", name="cap", base_url=url, wire_api="responses"), "m", {}
        )
        model = retry_model(client, strategy, 3)
        config = LoopConfig(confine=None, max_retries=3, retry=strategy)
        result = await solve(task, model, tmp_path / "w", config)
        await model.aclose()
        assert (result.status, result.attempts) == ("passed", 3)

    with capture_server(script, by_requests=True) as server:
        asyncio.run(main(server.url))
    bodies = [r.body for r in server.requests]
    assert len(bodies) == 3
    assert "temperature" not in bodies[0] and "seed" not in bodies[0]
    assert [(b["temperature"], b["seed"]) for b in bodies[1:]] == [(0.9, 42), (0.9, 43)]
    for body in bodies[1:]:  # fresh: no earlier reply is sent; the task's message carries the last one
        roles = [item.get("role") for item in body["input"]]
        assert "assistant" not in roles and roles.count("user") == 1
        text = json.dumps(body["input"])
        assert ("return a - b" in text) is code
        assert "assert add(2, 3) == 5" in text and "The check that failed" in text
