"""``agentrt bench tasks --agent exec`` on real tasks of the sample suite (``benchmarks/tasks/``): a
scripted model plays the coding agent and solves them through its tools — ``read_file`` and
``apply_patch`` with the container's ``/app/...`` paths, ``shell`` in the task's container — and the
task's own verifier judges; a model that games the tests instead gets reward 0."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from agentrt.bench.tasks.runner import TaskOutcome, TasksConfig, run_tasks
from agentrt.bench.tasks.spec import TaskSpec, load_task
from agentrt.model.scripted import ScriptedModel

TASKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def heredoc(task: str, tag: str) -> str:
    """The text the task's reference ``solve.sh`` writes with ``<<'TAG'`` (what a model would write)."""
    solve = (TASKS_DIR / task / "solution" / "solve.sh").read_text()
    match = re.search(rf"<<'{tag}'\n(.*?\n){tag}\n", solve, re.S)
    assert match is not None, f"{task}: no <<'{tag}' block in solve.sh"
    return match[1]


MEDIAN_FIX = """*** Begin Patch
*** Update File: /app/statkit/core.py
@@ def median(values):
     mid = n // 2
-    return data[mid]
+    if n % 2:
+        return data[mid]
+    return (data[mid - 1] + data[mid]) / 2
*** End Patch"""

TEST_CHEAT = """*** Begin Patch
*** Update File: /app/test_statkit.py
@@
     def test_median_even(self):
-        self.assertEqual(median([4, 1, 3, 2]), 2.5)
+        self.assertEqual(median([4, 1, 3, 2]), 3)
*** End Patch"""


def scripts() -> dict[str, list[Any]]:
    backup = "".join("+" + line + "\n" for line in heredoc("fix-shell-script", "SH").splitlines())
    replace_backup = (
        "*** Begin Patch\n*** Delete File: /app/backup.sh\n*** Add File: /app/backup.sh\n"
        + backup
        + "*** End Patch"
    )
    config = heredoc("config-repair-json", "JSON")
    return {
        "fix-failing-test": [
            tool("read_file", file_path="/app/statkit/core.py"),
            tool("apply_patch", input=MEDIAN_FIX),
            tool("shell", command=["python3", "-m", "unittest", "-q"]),
            "Fixed median for even counts; the suite passes.",
        ],
        "config-repair-json": [
            tool("shell", command=["bash", "-c", f"cat > config.json <<'JSON'\n{config}JSON\npython3 service.py"]),
            "config.json is strict JSON again.",
        ],
        "fix-shell-script": [
            tool("list_dir", dir_path="/app"),
            tool("apply_patch", input=replace_backup),
            tool("shell", command=["bash", "-c", "mkdir -p /tmp/s && touch '/tmp/s/a b.txt' && bash backup.sh /tmp/s /tmp/d"]),
            "backup.sh quotes every name now.",
        ],
    }  # fmt: skip


def run(names: list[str], replies: Mapping[str, list[Any]], out: Path) -> dict[str, TaskOutcome]:
    models = {name: ScriptedModel(replies[name]) for name in names}

    def model(spec: TaskSpec) -> ScriptedModel:
        return models[spec.id]

    config = TasksConfig(
        out_dir=out, agent="exec", concurrency=3, home=out / "home", model=model, base_prompt="You fix tasks."
    )
    outcome = asyncio.run(run_tasks([load_task(TASKS_DIR / n) for n in names], config))
    for scripted in models.values():
        scripted.assert_complete()  # every scripted step was asked for: the agent ran them all
    return {t.row.id: t for t in outcome.tasks}


def trajectory(out: Path, task: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "tasks" / task / "trajectory.jsonl").read_text().splitlines()]


def tool_outputs(out: Path, task: str) -> list[str]:
    """What the tools answered, in order (the ``tool`` messages of the history)."""
    found = []
    for event in trajectory(out, task):
        message = event.get("message") if isinstance(event.get("message"), dict) else event
        if isinstance(message, dict) and message.get("role") == "tool":
            found.append(str(message.get("content")))
    return found


def test_the_scripted_agent_solves_three_sample_tasks_through_its_tools(tmp_path: Path) -> None:
    out = tmp_path / "out"
    names = ["config-repair-json", "fix-failing-test", "fix-shell-script"]
    tasks = run(names, scripts(), out)
    for name in names:
        task = tasks[name]
        assert (task.outcome, task.reward) == ("passed", 1.0), (name, task.detail, _verifier(out, name))
        assert task.row.attempts == len(scripts()[name])
    outputs = tool_outputs(out, "fix-failing-test")
    assert outputs[0].startswith("L1: ") and "return data[mid]" in outputs[0]  # read_file took /app/...
    assert outputs[1].startswith("Success.") and "M /app/statkit/core.py" in outputs[1]
    assert '"exit_code": 0' in outputs[2]  # the suite passed in the container after the patch
    listing = tool_outputs(out, "fix-shell-script")[0]
    assert listing.splitlines()[0] == "Absolute path: /app" and "backup.sh" in listing


def test_an_agent_that_edits_the_tests_instead_gets_reward_zero(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cheat = [
        tool("apply_patch", input=TEST_CHEAT),
        tool("shell", command=["python3", "-m", "unittest", "-q"]),
        "All tests pass.",
    ]
    task = run(["fix-failing-test"], {"fix-failing-test": cheat}, out)["fix-failing-test"]
    assert '"exit_code": 0' in tool_outputs(out, "fix-failing-test")[1]  # its own run passed
    assert (task.outcome, task.reward) == ("failed", 0.0)
    assert "test_statkit.py was modified" in _verifier(out, "fix-failing-test")


def _verifier(out: Path, task: str) -> str:
    path = out / "tasks" / task / "verifier.txt"
    return path.read_text() if path.is_file() else ""
