"""``--agent exec``: the full coding agent on HumanEval tasks, under the real OS sandbox, judged by the harness."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from agentrt.bench.dataset import Task, load_humaneval
from agentrt.bench.humaneval.coding import AgentConfig, solve_with_agent
from agentrt.bench.humaneval.loop import Confine, LoopConfig
from agentrt.bench.runner import BenchConfig, SimSettings, agent_env, prove_sandbox, run_bench
from agentrt.model.scripted import ScriptedModel
from agentrt.sandbox import SandboxUnavailable

ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


@pytest.fixture(scope="module")
def mechanism(tmp_path_factory: pytest.TempPathFactory) -> str:
    try:
        return prove_sandbox(tmp_path_factory.mktemp("home"))
    except SandboxUnavailable as exc:
        pytest.skip(f"no OS sandbox here: {exc}")


def tasks(*numbers: int) -> list[Task]:
    wanted = {f"HumanEval/{n}" for n in numbers}
    return [t for t in load_humaneval(limit=max(numbers) + 1) if t.id in wanted]


@pytest.mark.slow
def test_the_coding_agent_solves_tasks_and_recovers_the_seeded_share(tmp_path: Path, mechanism: str) -> None:
    chosen = tasks(0, 2, 32)  # HumanEval/32's test calls a helper the spec defines
    config = BenchConfig(
        chosen,
        tmp_path / "out",
        LoopConfig(confine=Confine(mechanism, tmp_path / "home"), test_env=ENV),
        agent="exec",
        concurrency=3,
        sim=SimSettings(seed=0, fail_rate=0.34),
        env=os.environ,
        home=tmp_path / "home",
    )
    outcome = asyncio.run(run_bench(config))
    s = outcome.summary
    assert s["agent"] == "exec" and s["simulated"] is True
    assert (s["passed"], s["recovered"], s["first_attempt"]) == (3, 1, 2)
    rows = {r.id: r for r in outcome.results}
    assert sorted(r.attempts for r in rows.values()) == [4, 4, 6]  # read, patch, test, answer (+ fix, test)
    assert all(r.test_s > 0 for r in rows.values())


def agent_config(tmp_path: Path, mechanism: str) -> AgentConfig:
    return AgentConfig(
        mechanism=mechanism,
        base_prompt="You are a test agent.",
        env=agent_env(os.environ),
        home=tmp_path / "home",
        check=LoopConfig(confine=Confine(mechanism, tmp_path / "home"), test_env=ENV),
    )


CHEAT = """*** Begin Patch
*** Update File: test_solution.py
@@
-def test_humaneval():
-    check(has_close_elements)
+def test_humaneval():
+    pass
*** Add File: conftest.py
+collect_ignore = []
*** End Patch"""


def test_the_harness_judges_on_its_own_copy_of_the_tests(tmp_path: Path, mechanism: str) -> None:
    (task,) = tasks(0)
    assert "check(has_close_elements)" in task.test
    py = sys.executable
    model = ScriptedModel(
        [
            {"tool_calls": [{"name": "apply_patch", "arguments": {"input": CHEAT}}]},
            {
                "tool_calls": [
                    {
                        "name": "shell",
                        "arguments": {"command": [py, "-m", "pytest", "-q", "-p", "no:cacheprovider"]},
                    }
                ]
            },
            "All tests pass.",
        ]
    )
    result = asyncio.run(solve_with_agent(task, model, tmp_path / "w", agent_config(tmp_path, mechanism)))
    model.assert_complete()
    assert result.status == "failed"  # the agent's own run passed; the harness's copy did not
    assert result.first_attempt_pass is False and result.attempts == 3
    assert "pass" in (tmp_path / "w" / "repo" / "test_solution.py").read_text()


def test_the_agent_cannot_write_outside_its_repository(tmp_path: Path, mechanism: str) -> None:
    (task,) = tasks(0)
    outside = tmp_path / "outside.txt"
    model = ScriptedModel(
        [
            {
                "tool_calls": [
                    {"name": "shell", "arguments": {"command": ["sh", "-c", f"echo x > {outside}"]}}
                ]
            },
            "Done.",
        ]
    )
    result = asyncio.run(solve_with_agent(task, model, tmp_path / "w", agent_config(tmp_path, mechanism)))
    assert not outside.exists()
    assert result.status == "failed"
    out = [m for m, _ in model.requests][-1][-1]["content"]
    assert "exit_code" in out and '"exit_code": 0' not in out


LEAKY = """```python
import os
import socket


def probe():
    leaks = []
    try:
        with open(os.environ["OUTSIDE"], "w") as f:
            f.write("pwned")
        leaks.append("wrote outside its workspace")
    except (OSError, KeyError):
        pass
    if os.environ.get("BENCH_SECRET_API_KEY"):
        leaks.append("read the API key")
    try:
        socket.create_connection(("127.0.0.1", int(os.environ.get("PORT", "9"))), timeout=2).close()
        leaks.append("reached the network")
    except OSError:
        pass
    return ", ".join(leaks) or "confined"
```"""


@pytest.mark.parametrize("confined", [True, False])
def test_model_written_code_under_test_is_confined(tmp_path: Path, mechanism: str, confined: bool) -> None:
    import socket

    from agentrt.bench.humaneval.loop import solve

    listener = socket.create_server(("127.0.0.1", 0))
    outside = tmp_path / "outside.txt"
    env = {
        **ENV,
        "OUTSIDE": str(outside),
        "PORT": str(listener.getsockname()[1]),
        "BENCH_SECRET_API_KEY": "sk-1",
    }
    task = Task("t/probe", 'def probe():\n    """Say how confined you are."""\n',
                'from solution import *\n\n\ndef test_probe():\n    assert probe() == "confined"\n', None)  # fmt: skip
    confine = Confine(mechanism, tmp_path / "home") if confined else None
    config = LoopConfig(confine=confine, test_env=env, max_retries=0)
    try:
        result = asyncio.run(solve(task, ScriptedModel([LEAKY]), tmp_path / "w", config))
    finally:
        listener.close()
    if confined:
        assert result.status == "passed" and not outside.exists()
    else:  # the same code run unconfined writes outside and reaches the network (the secret is scrubbed)
        assert result.status == "failed" and outside.read_text() == "pwned"
