"""Unit tests of the simulated model's reply policies and script loading (no sockets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentrt.bench.dataset import Task, load_humaneval
from agentrt.model.sim import SimConfig, failing_ids, load_script
from agentrt.model.sim.config import check_loopback, validate_config
from agentrt.model.sim.policies import (
    TEST_COMMAND,
    WRONG_BODY,
    CodingAgentPolicy,
    HumanEvalPolicy,
    Reply,
    ScriptPolicy,
    last_exit_code,
    make_policy,
    prompt_tokens,
    tokens,
    tool_output,
)
from agentrt.tools.apply_patch import apply_patch


def _tasks(n: int) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "id": f"Fake/{i}",
            "spec": f'def f{i}(x):\n    """Return x + {i}."""\n',
            "test": f"assert f{i}(1) == {1 + i}\n",
            "solution": f"    return x + {i}\n",
        }
        for i in range(n)
    )


def test_tokens_join_back_to_text() -> None:
    text = "  Here is\n\n```python\ndef f():\n    return 1\n```\n"
    pieces = list(tokens(text))
    assert "".join(pieces) == text
    assert pieces[0] == "  Here"
    assert pieces[-1] == "\n"


def test_failing_set_size_and_determinism() -> None:
    tasks = _tasks(20)
    for rate in (0.0, 0.15, 0.5, 1.0):
        ids = failing_ids(SimConfig(tasks=tasks, fail_rate=rate, seed=3))
        assert len(ids) == round(rate * 20)
        assert ids == failing_ids(SimConfig(tasks=tasks, fail_rate=rate, seed=3))
    seeds = {failing_ids(SimConfig(tasks=tasks, fail_rate=0.5, seed=s)) for s in range(5)}
    assert len(seeds) > 1


def test_humaneval_attempts() -> None:
    tasks = _tasks(3)
    policy = HumanEvalPolicy(SimConfig(tasks=tasks, fail_rate=1.0))
    spec = tasks[1]["spec"]
    first = [{"role": "system", "content": "sys"}, {"role": "user", "content": f"Solve:\n{spec}"}]
    wrong = policy.reply(first).content
    assert "simulated wrong first attempt" in wrong
    again = [*first, {"role": "assistant", "content": wrong}, {"role": "user", "content": "tests failed"}]
    right = policy.reply(again).content
    assert f"```python\n{spec}{tasks[1]['solution']}\n```\n" in right
    stripped = policy.reply([{"role": "user", "content": f"Solve: {spec.strip()}"}], allow_fault=True).content
    assert f"```python\n{spec}" in stripped
    unknown = policy.reply([{"role": "user", "content": "what?"}]).content
    assert "```" not in unknown


def test_humaneval_rejects_bad_tasks() -> None:
    with pytest.raises(ValueError, match="unique"):
        HumanEvalPolicy(SimConfig(tasks=_tasks(2) + _tasks(1)))
    with pytest.raises(ValueError, match="task 0"):
        HumanEvalPolicy(SimConfig(tasks=({"id": "x"},)))


def test_script_steps_and_step_faults() -> None:
    script = (
        {"content": "one", "fault": "server_error"},
        {"tool_calls": [{"name": "run", "arguments": {"cmd": "ls"}}]},
    )
    policy = ScriptPolicy(SimConfig(policy="script", script=script))
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
    assert policy.reply(msgs).fault == "server_error"
    assert policy.reply(msgs).fault is None  # a step fault fires once by default
    later = [*msgs, {"role": "assistant", "content": "one"}, {"role": "user", "content": "go"}]
    call = policy.reply(later).tool_calls[0]
    assert (call.name, json.loads(call.arguments)) == ("run", {"cmd": "ls"})
    past_end = later + [{"role": "assistant", "content": ""}] * 3
    assert policy.reply(past_end).tool_calls[0].name == "run"


def test_load_script(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(["plain", {"content": "x", "tool_calls": [{"name": "t", "arguments": "{}"}]}]))
    assert load_script(good) == (
        {"content": "plain"},
        {"content": "x", "tool_calls": [{"name": "t", "arguments": "{}"}]},
    )
    for bad, match in (
        ("{}", "non-empty JSON list"),
        ("[1]", "reply 0"),
        ('[{"tool_calls": [{"arguments": "{}"}]}]', "name"),
        ('[{"fault": "explode"}]', "unknown fault"),
        ('[{"contnet": "typo"}]', "unknown keys"),
        ("[", "not valid JSON"),
    ):
        path = tmp_path / "bad.json"
        path.write_text(bad)
        with pytest.raises(ValueError, match=match):
            load_script(path)


def test_prompt_tokens_deterministic() -> None:
    msgs: list[dict[str, Any]] = [
        {"role": "user", "content": "x" * 40},
        {"role": "assistant", "content": [{"type": "text", "text": "yy"}]},
    ]
    assert prompt_tokens(msgs) == 42 // 4 + 1


def test_config_validation() -> None:
    for bad in (
        SimConfig(policy="nope"),
        SimConfig(fail_rate=1.5),
        SimConfig(fault="explode"),
        SimConfig(policy="script"),
        SimConfig(tps=-1),
        SimConfig(fault_count=-2),
    ):
        with pytest.raises(ValueError):
            validate_config(bad)
    assert check_loopback("localhost") == "127.0.0.1"
    assert check_loopback("127.0.0.2") == "127.0.0.2"
    assert check_loopback("::1") == "::1"
    for host in ("0.0.0.0", "10.0.0.1", "example.com", "127.0.0.256", ""):
        with pytest.raises(ValueError, match="loopback"):
            check_loopback(host)


# -- coding-agent policy ------------------------------------------------------------------------------
INSTRUCTION = "Implement the function in solution.py so that the tests in test_solution.py pass."
PASSING_STEPS = 4
"""cat, apply_patch (canonical body), pytest, final answer."""
FAILING_STEPS = 6
"""cat, apply_patch (wrong body), pytest, apply_patch (fix), pytest, final answer."""


def _shell_result(output: str, exit_code: int) -> str:
    return json.dumps({"output": output, "metadata": {"exit_code": exit_code, "duration_seconds": 0.1}})


def _repo(tmp_path: Path, task: Task) -> Path:
    """The repository the exec agent works in: the stub, the tests and a pytest.ini."""
    repo = tmp_path / task.id.replace("/", "_")
    repo.mkdir()
    (repo / "solution.py").write_text(task.spec, encoding="utf-8")
    (repo / "test_solution.py").write_text(task.test, encoding="utf-8")
    (repo / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return repo


def _run_shell(argv: list[str], cwd: Path) -> tuple[str, int]:
    argv = [sys.executable if a == "python" else a for a in argv]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout + done.stderr, done.returncode


def _execute(name: str, arguments: str, cwd: Path, shell_codes: list[int]) -> str:
    """Run one tool call for real and return the tool message content, in the shell tool's shape."""
    args = json.loads(arguments)
    if name == "apply_patch":
        return _shell_result(apply_patch(args["input"], cwd).summary(), 0)
    assert name == "shell", name
    output, code = _run_shell(args["command"], cwd)
    shell_codes.append(code)
    return _shell_result(output, code)


def _assistant(reply: Reply, turn: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{turn}_{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    return message


def _drive(
    policy: CodingAgentPolicy, repo: Path, max_turns: int = 10
) -> tuple[list[dict[str, Any]], list[int]]:
    """Play the agent loop: ask the policy, execute its tool calls, feed the results back, until it
    answers without a tool call. Returns the conversation and the exit codes of the shell commands."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": INSTRUCTION},
    ]
    shell_codes: list[int] = []
    for turn in range(max_turns):
        reply = policy.reply(messages)
        assert reply.fault is None
        assistant = _assistant(reply, turn)
        messages.append(assistant)
        if not reply.tool_calls:
            return messages, shell_codes
        for call in assistant["tool_calls"]:
            content = _execute(call["function"]["name"], call["function"]["arguments"], repo, shell_codes)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    raise AssertionError(f"the policy made {max_turns} tool-calling turns without a final answer")


def _tool_names(messages: list[dict[str, Any]]) -> list[str]:
    calls = (m.get("tool_calls") or [] for m in messages if m["role"] == "assistant")
    return [c["function"]["name"] for turn in calls for c in turn]


@pytest.fixture(scope="module")
def humaneval_tasks() -> list[Task]:
    wanted = ("HumanEval/0", "HumanEval/2", "HumanEval/32")
    tasks = {t.id: t for t in load_humaneval(limit=40)}
    return [tasks[tid] for tid in wanted]


def test_patch_with_only_added_lines_appends_at_the_end(tmp_path: Path) -> None:
    """The policy's first patch relies on this: an update chunk without context appends to the file."""
    path = tmp_path / "solution.py"
    path.write_text('def f():\n    """Doc."""\n\n\ndef g():\n    """Doc."""\n', encoding="utf-8")
    patch = "*** Begin Patch\n*** Update File: solution.py\n@@\n+    return 1\n+\n+    # end\n*** End Patch\n"
    apply_patch(patch, tmp_path)
    assert path.read_text(encoding="utf-8").endswith('def g():\n    """Doc."""\n    return 1\n\n    # end\n')


@pytest.mark.slow
@pytest.mark.parametrize("fail_rate", [0.0, 1.0])
def test_coding_agent_solves_real_tasks(
    tmp_path: Path, humaneval_tasks: list[Task], fail_rate: float
) -> None:
    config = SimConfig(
        policy="coding-agent", tasks=tuple(t.as_dict() for t in humaneval_tasks), fail_rate=fail_rate
    )
    policy = make_policy(config)
    assert isinstance(policy, CodingAgentPolicy)
    for task in humaneval_tasks:
        repo = _repo(tmp_path, task)
        messages, codes = _drive(policy, repo)
        final = messages[-1]["content"]
        assert final == f"Implemented {task.id}; the tests pass."
        assert _run_shell(list(TEST_COMMAND), repo)[1] == 0  # the final solution.py passes its tests
        assert (repo / "solution.py").read_text(encoding="utf-8") == task.spec + (task.solution or "")
        turns = sum(1 for m in messages if m["role"] == "assistant")
        if fail_rate:
            assert turns == FAILING_STEPS
            assert codes == [0, 1, 0]  # cat, the failing first run, the passing second run
            assert _tool_names(messages) == ["shell", "apply_patch", "shell", "apply_patch", "shell"]
        else:
            assert turns == PASSING_STEPS
            assert codes == [0, 0]
            assert _tool_names(messages) == ["shell", "apply_patch", "shell"]


@pytest.mark.slow
def test_coding_agent_fails_only_the_seeded_share(tmp_path: Path, humaneval_tasks: list[Task]) -> None:
    config = SimConfig(
        policy="coding-agent", tasks=tuple(t.as_dict() for t in humaneval_tasks), fail_rate=0.34
    )
    failing = failing_ids(config)
    assert len(failing) == 1
    policy = CodingAgentPolicy(config)
    for task in humaneval_tasks:
        messages, codes = _drive(policy, _repo(tmp_path, task))
        first_run = json.loads(messages[7]["content"])  # system, user, then cat, patch, pytest turns
        assert first_run["metadata"]["exit_code"] == codes[1]
        if task.id in failing:
            assert codes == [0, 1, 0]
            assert "simulated wrong first attempt" in first_run["output"]
        else:
            assert codes == [0, 0]
        assert messages[-1]["content"] == f"Implemented {task.id}; the tests pass."


def test_coding_agent_step_zero_reads_the_stub() -> None:
    policy = CodingAgentPolicy(SimConfig(policy="coding-agent", tasks=_tasks(2)))
    reply = policy.reply([{"role": "user", "content": INSTRUCTION}])
    assert reply.content == "Reading the stub."
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("shell", {"command": ["cat", "solution.py"]})
    ]


def test_coding_agent_unknown_task(tmp_path: Path) -> None:
    policy = CodingAgentPolicy(SimConfig(policy="coding-agent", tasks=_tasks(2)))
    repo = _repo(
        tmp_path, Task("Other/1", 'def other(x):\n    """Not a known task."""\n', "def test_x():\n    pass\n")
    )
    messages, codes = _drive(policy, repo)
    assert messages[-1] == {"role": "assistant", "content": "I could not identify the task."}
    assert sum(1 for m in messages if m["role"] == "assistant") == 2
    assert codes == [0]


def test_coding_agent_finds_the_spec_in_raw_or_json_tool_output() -> None:
    tasks = _tasks(12)
    policy = CodingAgentPolicy(SimConfig(policy="coding-agent", tasks=tasks, fail_rate=0.0))
    head = [
        {"role": "user", "content": INSTRUCTION},
        _assistant(policy.reply([{"role": "user", "content": INSTRUCTION}]), 0),
    ]
    for content in (tasks[11]["spec"], _shell_result("  " + tasks[11]["spec"] + "\n", 0)):
        reply = policy.reply([*head, {"role": "tool", "tool_call_id": "call_0_0", "content": content}])
        (call,) = reply.tool_calls
        assert call.name == "apply_patch"
        # f11's spec contains f1's ("Return x + 1" is a prefix of "Return x + 11"): the longest wins.
        assert "+    return x + 11\n" in json.loads(call.arguments)["input"]


def test_coding_agent_fix_patch_replaces_the_wrong_line() -> None:
    tasks = _tasks(1)
    policy = CodingAgentPolicy(SimConfig(policy="coding-agent", tasks=tasks, fail_rate=1.0))
    fix = policy.plan(("Fake/0", tasks[0]["spec"], tasks[0]["solution"]))[3]
    patch = json.loads(fix.tool_calls[0].arguments)["input"]
    assert patch.splitlines() == [
        "*** Begin Patch",
        "*** Update File: solution.py",
        "@@",
        '     """Return x + 0."""',  # context: the stub's last line
        "-" + WRONG_BODY.rstrip("\n"),
        "+    return x + 0",
        "*** End Patch",
    ]


def test_coding_agent_final_answer_quotes_a_failing_exit_code() -> None:
    tasks = _tasks(1)
    policy = CodingAgentPolicy(SimConfig(policy="coding-agent", tasks=tasks, fail_rate=0.0))
    messages: list[dict[str, Any]] = [{"role": "user", "content": INSTRUCTION}]
    outputs = [
        tasks[0]["spec"],
        "Success. Updated the following files:\nM solution.py",
        _shell_result("1 failed", 2),
    ]
    for turn, output in enumerate(outputs):
        messages.append(_assistant(policy.reply(messages), turn))
        messages.append({"role": "tool", "tool_call_id": f"call_{turn}_0", "content": output})
    final = policy.reply(messages)
    assert final.tool_calls == ()
    assert final.content == "Implemented Fake/0, but the last test run exited with code 2."
    later = [
        *messages,
        {"role": "assistant", "content": final.content},
        {"role": "user", "content": "again?"},
    ]
    assert policy.reply(later) == final  # past the end it keeps answering


def test_tool_output_and_exit_code_decoding() -> None:
    assert tool_output({"role": "tool", "content": _shell_result("out", 3)}) == "out"
    assert tool_output({"role": "tool", "content": "plain text"}) == "plain text"
    assert tool_output({"role": "tool", "content": "[1, 2]"}) == "[1, 2]"
    assert tool_output({"role": "tool", "content": '{"other": 1}'}) == '{"other": 1}'
    tool = {"role": "tool", "content": _shell_result("x", 5)}
    assert last_exit_code([tool, {"role": "assistant", "content": ""}]) == 5
    assert last_exit_code([tool, {"role": "tool", "content": "Success."}]) is None
    assert last_exit_code([{"role": "user", "content": "hi"}]) is None


def test_coding_agent_is_a_known_policy() -> None:
    validate_config(SimConfig(policy="coding-agent"))
    assert isinstance(make_policy(SimConfig(policy="coding-agent")), CodingAgentPolicy)
