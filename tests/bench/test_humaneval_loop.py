"""The write → pytest → retry loop on real workspaces, real pytest runs and the real simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agentrt.bench.dataset import Task
from agentrt.bench.humaneval.loop import LoopConfig, solve
from agentrt.bench.result import TaskResult
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint, Timeouts
from agentrt.model.retry import RetryPolicy
from agentrt.model.sim import SimConfig, start_sim_server

ADD = Task(
    "t/add",
    'def add(a, b):\n    """Return a + b."""\n',
    "from solution import *\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    "    return a + b\n",
)


def run_solve(tmp_path: Path, config: SimConfig, task: Task = ADD, **loop_kw: Any) -> TaskResult:
    async def main() -> TaskResult:
        async with await start_sim_server(config) as server:
            client = OpenAIClient(
                Endpoint(server.base_url, config.model, simulated=True),
                retry=RetryPolicy(max_retries=1, base_delay_s=0.01),
                timeouts=Timeouts(headers_s=1, idle_s=1),
            )
            try:
                return await solve(task, client, tmp_path / "ws", LoopConfig(confine=None, **loop_kw))
            finally:
                await client.aclose()

    return asyncio.run(main())


def test_first_attempt_pass(tmp_path: Path) -> None:
    r = run_solve(tmp_path, SimConfig(tasks=(ADD.as_dict(),), fail_rate=0.0))
    assert (r.status, r.attempts, r.retries, r.first_attempt_pass) == ("passed", 1, 0, True)
    assert r.completion_tokens > 0 and r.prompt_tokens > 0
    assert r.test_s > 0 and r.model_s > 0 and r.ttft_s is not None
    assert "return a + b" in (tmp_path / "ws" / "solution.py").read_text()


def test_wrong_first_attempt_is_recovered_with_pytest_feedback(tmp_path: Path) -> None:
    r = run_solve(tmp_path, SimConfig(tasks=(ADD.as_dict(),), fail_rate=1.0))
    assert (r.status, r.attempts, r.retries, r.first_attempt_pass) == ("passed", 2, 1, False)


def test_always_wrong_fails_after_max_retries(tmp_path: Path) -> None:
    script = ({"content": "```python\ndef add(a, b):\n    return a - b\n```"},)
    r = run_solve(tmp_path, SimConfig(policy="script", script=script), max_retries=2)
    assert (r.status, r.attempts, r.retries) == ("failed", 3, 2)


def test_reply_without_code_is_an_attempt_that_fails(tmp_path: Path) -> None:
    script = ({"content": "I would rather not."},)
    r = run_solve(tmp_path, SimConfig(policy="script", script=script), max_retries=1)
    assert (r.status, r.attempts) == ("failed", 2)
    assert r.test_s == 0
    assert not (tmp_path / "ws" / "solution.py").exists()


def test_truncated_stream_never_writes_a_solution(tmp_path: Path) -> None:
    config = SimConfig(tasks=(ADD.as_dict(),), fail_rate=0.0, fault="truncate", fault_count=-1)
    r = run_solve(tmp_path, config)
    assert r.status == "error" and "TruncatedStream" in r.error
    assert not (tmp_path / "ws" / "solution.py").exists()


def test_test_timeout_is_a_failed_attempt(tmp_path: Path) -> None:
    slow = Task(
        ADD.id,
        ADD.spec,
        "import time\nfrom solution import *\n\ndef test_add():\n    time.sleep(30)\n",
        ADD.solution,
    )
    r = run_solve(
        tmp_path,
        SimConfig(tasks=(slow.as_dict(),), fail_rate=0.0),
        task=slow,
        max_retries=0,
        test_timeout_s=1.0,
    )
    assert r.status == "failed" and r.test_s < 5
