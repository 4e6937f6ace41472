"""Unit tests of the simulated model's reply policies and script loading (no sockets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentrt.model.sim import SimConfig, failing_ids, load_script
from agentrt.model.sim.config import check_loopback, validate_config
from agentrt.model.sim.policies import HumanEvalPolicy, ScriptPolicy, prompt_tokens, tokens


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
