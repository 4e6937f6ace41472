"""``agentrt exec`` end to end: real processes, real git repositories, the simulator's script policy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentrt.agent.rollout import history_from_rollout, read_rollout
from agentrt.model.sim.process import SimProcess

AGENTRT = [sys.executable, "-m", "agentrt"]
PY = sys.executable

CALC_PATCH = """*** Begin Patch
*** Add File: calc.py
+def add(a, b):
+    return a + b
*** Add File: test_calc.py
+from calc import add
+
+
+def test_add():
+    assert add(2, 3) == 5
*** End Patch"""


def plan(*statuses: str) -> dict[str, Any]:
    steps = ["write calc.py and its test", "run the tests"]
    return {
        "name": "update_plan",
        "arguments": {"plan": [{"step": s, "status": st} for s, st in zip(steps, statuses, strict=True)]},
    }


SCRIPT: list[dict[str, Any]] = [
    {
        "content": "I'll plan first.",
        "reasoning": "Start with a plan.",
        "tool_calls": [plan("in_progress", "pending")],
    },
    {"tool_calls": [{"name": "apply_patch", "arguments": {"input": CALC_PATCH}}]},
    {
        "tool_calls": [
            {"name": "shell", "arguments": {"command": [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider"]}}
        ]
    },
    {"tool_calls": [plan("completed", "completed")]},
    {"content": "Added calc.add with a passing test."},
]


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Any]:
    sims: list[SimProcess] = []

    def start(script: list[dict[str, Any]]) -> str:
        path = tmp_path / f"script{len(sims)}.json"
        path.write_text(json.dumps(script))
        sims.append(SimProcess(["--policy", "script", "--script", str(path)]))
        return sims[-1].start()

    yield start
    for sim in sims:
        sim.close()


def home_with_provider(tmp_path: Path, url: str, *, wire_api: str = "chat", text_tools: bool = False) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        'model = "agentrt-sim"\nmodel_provider = "sim"\n\n[model_providers.sim]\nname = "simulator"\n'
        f'base_url = "{url}"\nwire_api = "{wire_api}"\nrequires_api_key = false\ntext_tools = {str(text_tools).lower()}\n'
    )
    return home


def run_exec(home: Path, cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))} | {
        "AGENTRT_HOME": str(home)
    }
    return subprocess.run(
        [*AGENTRT, "exec", "-C", str(cwd), "-s", "workspace-write", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


EVENT_SCHEMA = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {
            "enum": [
                "thread.started",
                "turn.started",
                "turn.completed",
                "turn.failed",
                "item.started",
                "item.updated",
                "item.completed",
                "error",
            ]
        },
        "thread_id": {"type": "string"},
        "usage": {
            "type": "object",
            "required": ["input_tokens", "cached_input_tokens", "output_tokens"],
            "properties": {
                k: {"type": "integer", "minimum": 0}
                for k in ("input_tokens", "cached_input_tokens", "output_tokens")
            },
        },
        "error": {"type": "object", "required": ["message"]},
        "item": {
            "type": "object",
            "required": ["id", "type"],
            "properties": {
                "id": {"type": "string", "pattern": "^item_[0-9]+$"},
                "type": {
                    "enum": [
                        "agent_message",
                        "reasoning",
                        "command_execution",
                        "file_change",
                        "todo_list",
                        "error",
                    ]
                },
            },
            "allOf": [
                {"if": {"properties": {"type": {"const": "agent_message"}}}, "then": {"required": ["text"]}},
                {
                    "if": {"properties": {"type": {"const": "command_execution"}}},
                    "then": {
                        "required": ["command", "aggregated_output", "exit_code", "status"],
                        "properties": {
                            "status": {"enum": ["in_progress", "completed", "failed", "declined"]}
                        },
                    },
                },
                {
                    "if": {"properties": {"type": {"const": "file_change"}}},
                    "then": {
                        "required": ["changes", "status"],
                        "properties": {
                            "status": {"enum": ["in_progress", "completed", "failed"]},
                            "changes": {
                                "type": "array",
                                "items": {
                                    "required": ["path", "kind"],
                                    "properties": {"kind": {"enum": ["add", "delete", "update"]}},
                                },
                            },
                        },
                    },
                },
                {"if": {"properties": {"type": {"const": "todo_list"}}}, "then": {"required": ["items"]}},
            ],
        },
    },
}


def events_of(stdout: str) -> list[dict[str, Any]]:
    import jsonschema

    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    for event in events:
        jsonschema.validate(event, EVENT_SCHEMA)
    return events


def shape(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] + (f":{e['item']['type']}" if "item" in e else "") for e in events]


@pytest.mark.parametrize("wire_api", ["chat", "responses"])
def test_session_edits_runs_tests_plans_and_answers(
    tmp_path: Path, git_repo: Path, start_sim: Any, wire_api: str
) -> None:
    home = home_with_provider(tmp_path, start_sim(SCRIPT), wire_api=wire_api)
    proc = run_exec(home, git_repo, "--json", "-o", str(tmp_path / "last.txt"), "add calc.add with a test")
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    reasoning = ["item.completed:reasoning"] if wire_api == "responses" else []  # chat has no reasoning items
    assert shape(events) == [
        "thread.started",
        "turn.started",
        *reasoning,
        "item.completed:agent_message",
        "item.started:todo_list",
        "item.started:file_change",
        "item.completed:file_change",
        "item.started:command_execution",
        "item.completed:command_execution",
        "item.updated:todo_list",
        "item.completed:agent_message",
        "item.completed:todo_list",
        "turn.completed",
    ]
    events = [e for e in events if e.get("item", {}).get("type") != "reasoning"]
    assert events[4]["item"]["status"] == "in_progress" and events[4]["item"]["id"] == events[5]["item"]["id"]
    change = events[5]["item"]
    assert change["status"] == "completed"
    assert sorted((c["path"], c["kind"]) for c in change["changes"]) == [  # absolute, as Codex's
        (str(git_repo.resolve() / "calc.py"), "add"),
        (str(git_repo.resolve() / "test_calc.py"), "add"),
    ]
    command = events[7]["item"]
    assert command["exit_code"] == 0 and "1 passed" in command["aggregated_output"]
    assert events[-3]["item"]["text"] == "Added calc.add with a passing test."
    assert all(i["completed"] for i in events[-2]["item"]["items"])
    assert events[-1]["usage"]["output_tokens"] > 0
    assert (git_repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (tmp_path / "last.txt").read_text() == "Added calc.add with a passing test."
    rollouts = list((home / "sessions").rglob("rollout-*.jsonl"))
    assert len(rollouts) == 1
    assert events[0]["thread_id"] in rollouts[0].name


def test_human_mode_prints_progress_on_stderr_and_answer_on_stdout(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    home = home_with_provider(tmp_path, start_sim(SCRIPT))
    proc = run_exec(home, git_repo, "--ephemeral", "add calc.add with a test")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Added calc.add with a passing test.\n"
    assert "A calc.py" in proc.stderr and "+def add(a, b):" in proc.stderr
    assert "pytest" in proc.stderr and "exit 0" in proc.stderr
    assert "tokens used" in proc.stderr
    assert not (home / "sessions").exists()


def test_text_tool_call_protocol_session(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    def as_text(reply: dict[str, Any]) -> dict[str, Any]:
        calls = "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in reply.get("tool_calls", ()))
        return {"content": (reply.get("content", "") + "\n" + calls).strip()}

    home = home_with_provider(tmp_path, start_sim([as_text(r) for r in SCRIPT]), text_tools=True)
    proc = run_exec(home, git_repo, "--json", "add calc.add with a test")
    assert proc.returncode == 0, proc.stderr
    kinds = shape(events_of(proc.stdout))
    assert "item.completed:file_change" in kinds and "item.completed:command_execution" in kinds
    assert (git_repo / "test_calc.py").exists()


def test_model_mistakes_are_told_to_the_model_and_the_session_goes_on(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    bad_patch = "*** Begin Patch\n*** Update File: missing.py\n@@\n-x\n+y\n*** End Patch"
    script = [
        {"tool_calls": [{"name": "apply_patch", "arguments": {"input": bad_patch}}]},
        {"tool_calls": [{"name": "no_such_tool", "arguments": {}}]},
        {"tool_calls": [{"name": "shell", "arguments": "{not json"}]},
        {"tool_calls": [{"name": "shell", "arguments": {"command": "ls"}}]},
        {"content": "Recovered."},
    ]
    home = home_with_provider(tmp_path, start_sim(script))
    proc = run_exec(home, git_repo, "--json", "try things")
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    assert events[-2]["item"]["text"] == "Recovered."
    failed = [
        e["item"] for e in events if e.get("type") == "item.completed" and e["item"]["type"] == "file_change"
    ]
    assert failed and failed[0]["status"] == "failed"
    recorded = history_from_rollout(read_rollout(next((home / "sessions").rglob("rollout-*.jsonl"))))
    outputs = [m["content"] for m in recorded if m["role"] == "tool"]
    assert len(outputs) == 4
    assert "missing.py" in outputs[0]
    assert "unknown tool 'no_such_tool'" in outputs[1]
    assert "not valid JSON" in outputs[2] and "did not run" in outputs[2]
    assert "must be of type array" in outputs[3]


def test_sigkill_mid_turn_then_resume_loses_nothing(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    script = [
        {"tool_calls": [{"name": "apply_patch", "arguments": {"input": CALC_PATCH}}]},
        {"tool_calls": [{"name": "shell", "arguments": {"command": ["sleep", "30"]}}]},
        {"content": "Resumed and finished."},
    ]
    home = home_with_provider(tmp_path, start_sim(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))} | {
        "AGENTRT_HOME": str(home)
    }
    proc = subprocess.Popen(
        [*AGENTRT, "exec", "-C", str(git_repo), "-s", "workspace-write", "--json", "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["type"] == "item.started" and seen[-1]["item"]["type"] == "command_execution":
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()
    rollout = next((home / "sessions").rglob("rollout-*.jsonl"))
    before = rollout.read_text().splitlines()
    assert any("Success. Updated the following files" in line for line in before), (
        "the completed patch was recorded"
    )
    thread_id = seen[0]["thread_id"]

    resumed = run_exec(home, git_repo, "--json", "resume", "--last", "please continue")
    assert resumed.returncode == 0, resumed.stderr
    events = events_of(resumed.stdout)
    assert events[0] == {"type": "thread.started", "thread_id": thread_id}
    assert events[-2]["item"]["text"] == "Resumed and finished."
    after = rollout.read_text().splitlines()
    assert after[: len(before)] == before, "resume appends to the same file"
    assert len(after) > len(before)
    assert list((home / "sessions").rglob("rollout-*.jsonl")) == [rollout]


def test_not_a_git_repo_missing_key_and_bad_config_are_one_line(tmp_path: Path, start_sim: Any) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    home = home_with_provider(tmp_path, start_sim(SCRIPT))
    proc = run_exec(home, plain, "hello")
    assert (
        proc.returncode != 0
        and "not inside a git repository" in proc.stderr
        and "Traceback" not in proc.stderr
    )

    keyless = tmp_path / "keyless"
    keyless.mkdir()
    (keyless / "config.toml").write_text('model_provider = "openai"\n')
    proc = run_exec(keyless, plain, "--skip-git-repo-check", "hello")
    assert proc.returncode != 0 and "OPENAI_API_KEY" in proc.stderr and "Traceback" not in proc.stderr

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.toml").write_text("model = [unclosed\n")
    proc = run_exec(broken, plain, "--skip-git-repo-check", "hello")
    assert proc.returncode != 0 and "config.toml" in proc.stderr and "Traceback" not in proc.stderr


def test_output_schema_invalid_answer_is_sent_back_then_valid_one_accepted(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    schema = {
        "type": "object",
        "properties": {"files": {"type": "integer"}},
        "required": ["files"],
        "additionalProperties": False,
    }
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    script = [
        {"content": "There are 3 files."},
        {"content": '{"files": "three"}'},
        {"content": '{"files": 3}'},
    ]
    home = home_with_provider(tmp_path, start_sim(script))
    proc = run_exec(
        home,
        git_repo,
        "--output-schema",
        str(tmp_path / "schema.json"),
        "-o",
        str(tmp_path / "out.json"),
        "count files",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"files": 3}
    assert json.loads((tmp_path / "out.json").read_text()) == {"files": 3}
    rollout = next((home / "sessions").rglob("rollout-*.jsonl")).read_text()
    assert "Your final answer is not valid" in rollout and "'three' is not of type 'integer'" in rollout


def test_bad_output_schema_and_unreachable_endpoint(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    home = home_with_provider(tmp_path, "http://127.0.0.1:9/v1")
    (tmp_path / "bad.json").write_text('{"type": "nonsense"}')
    proc = run_exec(home, git_repo, "--output-schema", str(tmp_path / "bad.json"), "x")
    assert (
        proc.returncode == 2 and "not a valid JSON Schema" in proc.stderr and "Traceback" not in proc.stderr
    )
    proc = run_exec(home, git_repo, "-c", "model_providers.sim.request_max_retries=0", "hello")
    assert proc.returncode == 1
    assert "cannot connect" in proc.stderr and "Traceback" not in proc.stderr


def run_exec_env(
    home: Path, cwd: Path, *args: str, extra_env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    env |= {"AGENTRT_HOME": str(home), **extra_env}
    return subprocess.run(
        [*AGENTRT, "exec", "-C", str(cwd), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def command_outputs(stdout: str) -> list[str]:
    return [
        e["item"]["aggregated_output"]
        for e in events_of(stdout)
        if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"
    ]


def test_default_read_only_sandbox_blocks_every_write(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    script = [
        {"tool_calls": [{"name": "apply_patch", "arguments": {"input": CALC_PATCH}}]},
        {"tool_calls": [{"name": "shell", "arguments": {"command": ["touch", "made.txt"]}}]},
        {"content": "Could not write."},
    ]
    home = home_with_provider(tmp_path, start_sim(script))
    proc = run_exec_env(home, git_repo, "--json", "try to write", extra_env={})
    assert proc.returncode == 0, proc.stderr
    changes = [e["item"] for e in events_of(proc.stdout) if e.get("item", {}).get("type") == "file_change"]
    assert [c["status"] for c in changes] == ["in_progress", "failed"]
    assert (
        "Read-only file system" in command_outputs(proc.stdout)[0]
        or "Permission denied" in command_outputs(proc.stdout)[0]
    )
    assert sorted(p.name for p in git_repo.iterdir()) == [".git"]


def test_workspace_write_protects_git_and_hides_the_runtimes_secrets(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    probe = "env; cat /proc/$PPID/environ; cat /proc/1/environ; echo hooked > .git/hooks/pre-commit; echo x >> .git/config"
    script = [
        {"tool_calls": [{"name": "shell", "arguments": {"command": ["bash", "-c", probe]}}]},
        {"content": "done"},
    ]
    home = home_with_provider(tmp_path, start_sim(script))
    canary = "canary-5f1d2c9e"
    config_before = (git_repo / ".git" / "config").read_text()
    proc = run_exec_env(
        home,
        git_repo,
        "-s",
        "workspace-write",
        "--json",
        "probe",
        extra_env={"AGENTRT_TEST_SECRET_TOKEN": canary, "MY_API_KEY": canary},
    )
    assert proc.returncode == 0, proc.stderr
    (output,) = command_outputs(proc.stdout)
    assert "AGENTRT_SANDBOX=" in output  # the probe really ran and printed its environment
    assert canary not in output
    assert not (git_repo / ".git" / "hooks" / "pre-commit").exists()
    assert (git_repo / ".git" / "config").read_text() == config_before


def test_a_damaged_rollout_is_resumed_from_its_valid_prefix_twice(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    home = home_with_provider(tmp_path, start_sim(["First answer.", "Second answer.", "Third answer."]))
    assert run_exec(home, git_repo, "--json", "begin").returncode == 0
    rollout = next((home / "sessions").rglob("rollout-*.jsonl"))
    with rollout.open("a") as f:
        f.write("this is not json\n")
    first = run_exec(home, git_repo, "--json", "resume", "--last", "go on")
    assert first.returncode == 0, first.stderr
    assert "agentrt: warning:" in first.stderr and "invalid rollout line" in first.stderr
    assert list(rollout.parent.glob(rollout.name + ".damaged-*")), "the damaged tail is set aside"
    second = run_exec(home, git_repo, "--json", "resume", "--last", "and again")
    assert second.returncode == 0, second.stderr
    assert "warning" not in second.stderr
    assert events_of(second.stdout)[-2]["item"]["text"] == "Third answer."


def test_a_bad_shell_environment_policy_stops_exec_before_the_model_is_asked(
    tmp_path: Path, git_repo: Path
) -> None:
    home = home_with_provider(tmp_path, "http://127.0.0.1:9/v1")  # nothing listens there
    with (home / "config.toml").open("a") as f:
        f.write('\n[shell_environment_policy]\ninherit = "some"\n')
    proc = run_exec(home, git_repo, "--json", "hello")
    assert proc.returncode == 2 and proc.stdout == ""  # bad usage: a config value
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("agentrt: error:")]
    assert "shell_environment_policy.inherit" in line and "some" in line


def _sessions(home: Path) -> list[Path]:
    return sorted((home / "sessions").rglob("rollout-*.jsonl"))


def _prompts(path: Path) -> list[str]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [
        x["payload"]["message"]
        for x in lines
        if x["type"] == "event_msg" and x["payload"].get("type") == "user_message"
    ]


def test_resume_last_is_this_directorys_newest_answered_session(tmp_path: Path, start_sim: Any) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "ok"}]))
    here, there = tmp_path / "here", tmp_path / "there"
    for repo in (here, there):
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert run_exec(home, here, "first here").returncode == 0
    assert run_exec(home, there, "first there").returncode == 0
    # a session that never reached its model is no "last" session
    unreachable = run_exec(home, here, "-c", 'model_providers.sim.base_url="http://127.0.0.1:9/v1"', "lost")
    assert unreachable.returncode == 1
    assert run_exec(home, here, "resume", "--last", "again here").returncode == 0
    by_prompt = {tuple(_prompts(p)): p for p in _sessions(home)}
    assert ("first here", "again here") in by_prompt and ("first there",) in by_prompt
    assert run_exec(home, here, "resume", "--last", "--all", "any dir").returncode == 0
    assert ("first there", "any dir") in {tuple(_prompts(p)) for p in _sessions(home)}


def test_resume_elsewhere_tells_the_model_the_new_directory(tmp_path: Path, start_sim: Any) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "ok"}]))
    first, second = tmp_path / "first", tmp_path / "second"
    for repo in (first, second):
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert run_exec(home, first, "start").returncode == 0
    [path] = _sessions(home)
    session_id = json.loads(path.read_text().splitlines()[0])["payload"]["id"]
    assert run_exec(home, second, "resume", session_id, "continue here").returncode == 0
    history = history_from_rollout(read_rollout(path))
    contexts = [
        m["content"] for m in history if m["role"] == "user" and "<environment_context>" in m["content"]
    ]
    assert len(contexts) == 2 and f"<cwd>{second}</cwd>" in contexts[-1]
    assert history.index(next(m for m in history if m["content"] == "continue here")) > history.index(
        next(m for m in history if m["content"] == contexts[-1])
    )


def test_fork_starts_a_new_session_from_a_copy(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "one"}, {"content": "two"}]))
    assert run_exec(home, git_repo, "the original").returncode == 0
    [original] = _sessions(home)
    before = original.read_bytes()
    session_id = json.loads(before.splitlines()[0])["payload"]["id"]
    forked = run_exec(home, git_repo, "fork", session_id, "a branch of it")
    assert forked.returncode == 0, forked.stderr
    assert forked.stdout.strip() == "two"  # the copied history reached the model (second script step)
    assert original.read_bytes() == before
    [copy] = [p for p in _sessions(home) if p != original]
    meta = json.loads(copy.read_text().splitlines()[0])["payload"]
    assert meta["forked_from"] == session_id and meta["id"] != session_id
    assert [m["content"] for m in history_from_rollout(read_rollout(copy)) if m["role"] == "user"][-2:] == [
        "the original",
        "a branch of it",
    ]


def test_command_output_keeps_the_order_it_was_written_in(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    script = [
        {
            "tool_calls": [
                {"name": "shell", "arguments": {"command": ["bash", "-c", "echo a; echo b >&2; echo c"]}}
            ]
        },
        {"content": "done"},
    ]
    home = home_with_provider(tmp_path, start_sim(script))
    proc = run_exec(home, git_repo, "--json", "interleave")
    assert proc.returncode == 0, proc.stderr
    assert command_outputs(proc.stdout)[0] == "a\nb\nc\n"
    usage = events_of(proc.stdout)[-1]["usage"]
    assert set(usage) == {
        "input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens", "reasoning_output_tokens"
    }  # fmt: skip


PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _first_user_content(home: Path) -> Any:
    [path] = _sessions(home)
    history = history_from_rollout(read_rollout(path))
    return [m["content"] for m in history if m["role"] == "user"][-1]


def test_image_flag_sends_the_image_with_the_prompt(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "a red dot"}]), wire_api="responses")
    image = tmp_path / "dot.png"
    image.write_bytes(PNG_1x1)
    proc = run_exec(home, git_repo, "-i", str(image), "what is this?")
    assert proc.returncode == 0, proc.stderr
    [path] = _sessions(home)
    items = [json.loads(x)["payload"] for x in path.read_text().splitlines() if '"input_image"' in x]
    assert len(items) == 1 and items[0]["content"][0] == {"type": "input_text", "text": "what is this?"}
    assert items[0]["content"][1]["image_url"].startswith("data:image/png;base64,iVBOR")
    bad = run_exec(home, git_repo, "-i", str(tmp_path / "notes.txt"), "and this?")
    assert bad.returncode == 2 and "not an image agentrt can send" in bad.stderr


def test_add_dir_makes_another_root_writable(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    touch = {"tool_calls": [{"name": "shell", "arguments": {"command": ["touch", str(extra / "made.txt")]}}]}
    home = home_with_provider(tmp_path, start_sim([touch, {"content": "done"}, touch, {"content": "done"}]))
    assert run_exec(home, git_repo, "--json", "write there").returncode == 0
    assert not (extra / "made.txt").exists()  # outside the workspace: refused by the sandbox
    assert run_exec(home, git_repo, "--add-dir", str(extra), "write there").returncode == 0
    assert (extra / "made.txt").exists()


def test_piped_stdin_and_a_prompt_go_together(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "read it"}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))} | {
        "AGENTRT_HOME": str(home)
    }
    proc = subprocess.run(
        [*AGENTRT, "exec", "-C", str(git_repo), "summarise the log"],
        input="line 1\nline 2\n", capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _first_user_content(home) == "summarise the log\n\n<stdin>\nline 1\nline 2\n</stdin>"


def test_an_unknown_flag_prints_execs_usage(tmp_path: Path, git_repo: Path) -> None:
    proc = run_exec(tmp_path, git_repo, "--no-such-flag", "hi")
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith("usage: agentrt exec")
        and "unrecognized arguments: --no-such-flag" in proc.stderr
    )


def test_yolo_is_no_sandbox_and_no_questions(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    outside = tmp_path / "outside.txt"
    touch = {"tool_calls": [{"name": "shell", "arguments": {"command": ["touch", str(outside)]}}]}
    home = home_with_provider(tmp_path, start_sim([touch, {"content": "done"}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))} | {
        "AGENTRT_HOME": str(home)
    }
    proc = subprocess.run(
        [*AGENTRT, "exec", "-C", str(git_repo), "--yolo", "write anywhere"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert outside.exists()
    both = subprocess.run(
        [*AGENTRT, "exec", "-C", str(git_repo), "--yolo", "-s", "read-only", "x"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert both.returncode == 2 and "goes with neither -s nor -a" in both.stderr


def test_a_codex_config_warns_once_and_strict_config_refuses_it(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "ok"}, {"content": "ok"}]))
    config = home / "config.toml"
    config.write_text('notify = ["notify-send"]\nhide_agent_reasoning = true\n' + config.read_text())
    proc = run_exec(home, git_repo, "hi")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("agentrt: warning: config keys")]
    assert warnings == [
        "agentrt: warning: config keys agentrt does not use yet: hide_agent_reasoning, notify"
    ]
    strict = run_exec(home, git_repo, "--strict-config", "hi")
    assert strict.returncode != 0
    assert "hide_agent_reasoning" in strict.stderr and "notify" in strict.stderr
    assert strict.stderr.startswith("agentrt: error:")


def test_ignore_user_config_leaves_config_toml_out(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    url = start_sim([{"content": "from the flags"}])
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('model = "no-such-model"\nmodel_provider = "missing"\n')
    assert run_exec(home, git_repo, "hi").returncode != 0  # the file names a provider that does not exist
    provider = f'model_providers.sim={{name = "sim", base_url = "{url}", wire_api = "chat", requires_api_key = false}}'
    proc = run_exec(
        home, git_repo, "--ignore-user-config", "-c", provider, "-c", 'model_provider="sim"',
        "-m", "agentrt-sim", "hi",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "from the flags"


def test_an_answer_that_never_matches_the_schema_is_asked_twice_more_then_fails(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "not json, sorry"}]))  # repeated forever
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["ok"]}))
    last = tmp_path / "last.txt"
    proc = run_exec(home, git_repo, "--output-schema", str(schema), "-o", str(last), "answer in JSON")
    assert proc.returncode == 1
    assert "did not match --output-schema after 2 re-asks" in proc.stderr
    assert last.read_text() == "not json, sorry"
    [path] = _sessions(home)
    requests = [x for x in path.read_text().splitlines() if '"token_count"' in x]
    assert len(requests) == 3  # the answer and two re-asks, not the 50-request limit


def test_a_refused_edit_says_the_sandbox_refused_it_and_how_to_allow_it(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+one\n*** Add File: b.txt\n+two\n*** End Patch"
    script = [{"tool_calls": [{"name": "apply_patch", "arguments": {"input": patch}}]}, {"content": "tried"}]
    home = home_with_provider(tmp_path, start_sim(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))} | {
        "AGENTRT_HOME": str(home)
    }
    proc = subprocess.run(
        [*AGENTRT, "exec", "-C", str(git_repo), "write two files"],  # the default: read-only
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "the sandbox refused the write" in proc.stderr and "-s workspace-write" in proc.stderr
    header = proc.stderr.split("--------")[1]
    for label in (
        "workdir:",
        "model: agentrt-sim",
        "provider: sim",
        "sandbox: read-only",
        "approvals:",
        "session id:",
    ):
        assert label in header
    [path] = _sessions(home)
    outputs = [m["content"] for m in history_from_rollout(read_rollout(path)) if m["role"] == "tool"]
    assert "the sandbox refused the write" in outputs[0]


def test_a_patch_that_fails_partway_names_what_it_already_changed(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    patch = "*** Begin Patch\n*** Add File: first.txt\n+one\n*** Update File: missing.txt\n@@\n-x\n+y\n*** End Patch"
    script = [{"tool_calls": [{"name": "apply_patch", "arguments": {"input": patch}}]}, {"content": "tried"}]
    home = home_with_provider(tmp_path, start_sim(script))
    assert run_exec(home, git_repo, "edit").returncode == 0
    [path] = _sessions(home)
    outputs = [m["content"] for m in history_from_rollout(read_rollout(path)) if m["role"] == "tool"]
    assert "already changed and stay changed" in outputs[0] and "first.txt" in outputs[0]
    assert (git_repo / "first.txt").read_text() == "one\n"


def test_bad_usage_exits_2_and_failures_exit_1(tmp_path: Path, git_repo: Path) -> None:
    home = home_with_provider(tmp_path, "http://127.0.0.1:9/v1")  # nothing listens there
    missing = run_exec(home, tmp_path / "no-such-dir", "x")
    assert missing.returncode == 2 and missing.stderr.startswith("agentrt: error: working directory")
    bad_override = run_exec(home, git_repo, "-c", "nonsense", "x")
    assert bad_override.returncode == 2 and bad_override.stderr.startswith("agentrt: error: -c")
    unreachable = run_exec(home, git_repo, "-c", "model_providers.sim.request_max_retries=0", "x")
    assert unreachable.returncode == 1 and unreachable.stderr.splitlines()[-1].startswith("agentrt: error:")


def test_usage_on_a_resumed_turn_is_the_sessions_total_as_codex_reports_it(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "one"}, {"content": "two"}]))
    first = run_exec(home, git_repo, "--json", "first")
    second = run_exec(home, git_repo, "--json", "resume", "--last", "second")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    u1, u2 = (events_of(p.stdout)[-1]["usage"] for p in (first, second))
    assert u2["input_tokens"] > 2 * u1["input_tokens"] - 50  # both turns' requests (the second is longer)
    assert u2["output_tokens"] == u1["output_tokens"] + 1  # "one", then "two": a token each


def test_turn_completed_carries_the_cost_unless_cost_tracking_is_off(
    tmp_path: Path, git_repo: Path, start_sim: Any
) -> None:
    home = home_with_provider(tmp_path, start_sim([{"content": "ok"}]))
    config = home / "config.toml"
    config.write_text(
        config.read_text() + '\n[model_prices."agentrt-sim"]\ninput = 1000.0\noutput = 2000.0\n'
    )
    priced = events_of(run_exec(home, git_repo, "--json", "hi").stdout)[-1]
    usage = priced["usage"]
    expected = (usage["input_tokens"] * 1000.0 + usage["output_tokens"] * 2000.0) / 1_000_000
    assert priced["cost_usd"] == pytest.approx(expected)
    untracked = events_of(run_exec(home, git_repo, "--json", "--disable", "cost_tracking", "hi").stdout)[-1]
    assert "cost_usd" not in untracked
    human = run_exec(home, git_repo, "hi")
    assert "· cost $" in human.stderr


def test_max_cost_ends_an_exec_turn_cleanly(tmp_path: Path, git_repo: Path, start_sim: Any) -> None:
    touch = {"tool_calls": [{"name": "shell", "arguments": {"command": ["true"]}}]}
    home = home_with_provider(tmp_path, start_sim([touch, touch, touch, {"content": "done"}]))
    config = home / "config.toml"
    config.write_text(
        config.read_text() + '\n[model_prices."agentrt-sim"]\ninput = 1000.0\noutput = 1000.0\n'
    )
    proc = run_exec(home, git_repo, "--max-cost", "0.5", "--json", "work")  # about one request's worth
    assert proc.returncode == 1
    failed = [e for e in events_of(proc.stdout) if e["type"] == "turn.failed"]
    assert failed and "cost limit of $0.5" in failed[0]["error"]["message"]
    bad = run_exec(home, git_repo, "--max-cost", "-1", "work")
    assert bad.returncode == 2 and "max_cost_usd" in bad.stderr
