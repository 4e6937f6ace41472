"""``agentrt bench swe``: SWE-bench instances on real local git repositories, the coding agent played by
a scripted model through its real tools under the OS sandbox, predictions checked with ``git apply``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentrt.agent.thread import Limits
from agentrt.bench.repo_agent import RepoAgent
from agentrt.bench.runner import agent_env, prove_sandbox
from agentrt.bench.swe.instances import InstanceError, load_instances
from agentrt.bench.swe.runner import SweConfig, SweOutcome, check_instances, run_swe
from agentrt.cli.main import main
from agentrt.model.scripted import ScriptedModel
from agentrt.sandbox import SandboxUnavailable

pytestmark = pytest.mark.slow  # real git repositories and sandboxed agents, several per test

BUGGY = '"""calc: arithmetic."""\n\n\ndef add(a, b):\n    """The sum of a and b."""\n    return a - b\n'
FIXED = BUGGY.replace("return a - b", "return a + b")
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
PROBLEM = "calc.add(2, 3) returns -1 instead of 5: add() subtracts its arguments."
FIX = """*** Begin Patch
*** Update File: calc/__init__.py
@@ def add(a, b):
     \"\"\"The sum of a and b.\"\"\"
-    return a - b
+    return a + b
*** Add File: calc/ops.py
+\"\"\"More operations.\"\"\"
+
+
+def double(a):
+    return add(a, a)
+
+
+from calc import add  # noqa: E402
*** End Patch"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str], later: dict[str, str] | None = None) -> str:
    """A repository with one commit of ``files`` (the base, returned) and one after it (``later``)."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    base = git(path, "rev-parse", "HEAD")
    if later:
        for rel, text in later.items():
            (path / rel).write_text(text)
        git(path, "commit", "-q", "-am", "the upstream fix")
        git(path, "tag", "v2")
    return base


@pytest.fixture(scope="module")
def mechanism(tmp_path_factory: pytest.TempPathFactory) -> str:
    try:
        return prove_sandbox(tmp_path_factory.mktemp("home"))
    except SandboxUnavailable as exc:
        pytest.skip(f"no OS sandbox here: {exc}")


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """Two clones (``owner__name`` and bare ``name`` layouts) and an instances file naming them."""
    repos = tmp_path / "repos"
    calc = {"calc/__init__.py": BUGGY, "tests/test_calc.py": TEST}
    base = make_repo(repos / "acme__calc", calc, later={"calc/__init__.py": FIXED})
    other = make_repo(repos / "tool", {"README": "tool\n"})
    rows = [
        {"instance_id": "acme__calc-1", "repo": "acme/calc", "base_commit": base, "problem_statement": PROBLEM,
         "patch": "ignored", "FAIL_TO_PASS": ["tests/test_calc.py::test_add"], "version": 1.0},
        {"instance_id": "other__tool-7", "repo": "other/tool", "base_commit": other[:12],
         "problem_statement": "Nothing to change here."},
    ]  # fmt: skip
    instances = tmp_path / "instances.jsonl"
    instances.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    return {"repos": repos, "instances": instances, "base": base, "other": other, "home": tmp_path / "home"}


def config(
    world: dict[str, Any], mechanism: str, out: Path, models: dict[str, ScriptedModel], **kw: Any
) -> SweConfig:
    agent = RepoAgent(
        mechanism=mechanism, base_prompt="You fix issues.", env=agent_env(os.environ), home=world["home"],
        limits=Limits(max_turns=10, max_wall_s=120.0),
    )  # fmt: skip
    return SweConfig(
        out_dir=out,
        repos=world["repos"],
        agent=agent,
        model=lambda i: models[i.id],
        model_name="test-model",
        **kw,
    )


def run(world: dict[str, Any], cfg: SweConfig) -> SweOutcome:
    async def both() -> SweOutcome:
        jobs = await check_instances(load_instances(world["instances"]), world["repos"])
        return await run_swe(jobs, cfg)

    return asyncio.run(both())


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def fixing_agent() -> ScriptedModel:
    return ScriptedModel(
        [
            tool("shell", command=["git", "log", "--all", "--oneline"]),
            tool("apply_patch", input=FIX),
            tool("shell", command=["sh", "-c", "printf '\\000\\001' > blob.bin && git add blob.bin"]),
            tool("shell", command=[sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]),
            "Fixed add().",
        ]
    )


def idle_agent() -> ScriptedModel:
    return ScriptedModel([tool("read_file", file_path="README"), "Nothing needed changing."])


def predictions(out: Path) -> dict[str, dict[str, str]]:
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return {r["instance_id"]: r for r in rows}


def fresh_clone_applies(world: dict[str, Any], tmp: Path, patch: str) -> Path:
    """A fresh clone of the calc repository at the base commit with ``patch`` applied by ``git apply``."""
    clone = tmp / "fresh"
    git(tmp, "clone", "-q", str(world["repos"] / "acme__calc"), str(clone))
    git(clone, "checkout", "-q", world["base"])
    (tmp / "model.patch").write_text(patch)
    git(clone, "apply", "--check", str(tmp / "model.patch"))
    git(clone, "apply", str(tmp / "model.patch"))
    return clone


def test_predictions_apply_to_a_fresh_clone_at_the_base_commit(
    world: dict[str, Any], mechanism: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    models = {"acme__calc-1": fixing_agent(), "other__tool-7": idle_agent()}
    outcome = run(world, config(world, mechanism, out, models, concurrency=2))
    for model in models.values():
        model.assert_complete()
    by_id = {o.instance.id: o for o in outcome.instances}
    fixed, idle = by_id["acme__calc-1"], by_id["other__tool-7"]
    assert (fixed.status, idle.status) == ("patched", "empty"), (fixed.detail, idle.detail)

    found = predictions(out)
    assert list(found) == ["acme__calc-1", "other__tool-7"]  # the instances file's order
    for row in found.values():
        assert set(row) == {"instance_id", "model_name_or_path", "model_patch"}
        assert row["model_name_or_path"] == "test-model"
    assert found["other__tool-7"]["model_patch"] == ""
    patch = found["acme__calc-1"]["model_patch"]
    assert patch == fixed.patch and "+++ b/calc/ops.py" in patch and "blob.bin" not in patch
    clone = fresh_clone_applies(world, tmp_path, patch)
    assert (clone / "calc" / "__init__.py").read_text() == FIXED and (clone / "calc" / "ops.py").is_file()
    check = subprocess.run(
        [sys.executable, "-c", "from calc.ops import double; assert double(4) == 8"], cwd=clone
    )
    assert check.returncode == 0
    assert fixed.left_out == ("blob.bin",) and "blob.bin" in fixed.detail

    # the agent saw the base commit's history only, and the clone was not touched
    log_output = json.loads(models["acme__calc-1"].requests[1][0][-1]["content"])["output"]
    assert log_output.count("\n") == 1 and "base" in log_output and "upstream fix" not in log_output
    src = world["repos"] / "acme__calc"
    assert git(src, "status", "--porcelain") == "" and git(src, "worktree", "list").count("\n") == 0
    assert git(src, "rev-parse", "HEAD") != world["base"]  # still at the later commit

    # rows: per instance, and the run's
    record = json.loads((out / "instances" / "acme__calc-1" / "result.json").read_text())
    assert record["status"] == "patched" and record["patch_bytes"] == len(patch.encode())
    assert record["files"] == ["calc/__init__.py", "calc/ops.py"] and record["row"]["attempts"] == 5
    assert (out / "instances" / "acme__calc-1" / "model.patch").read_text() == patch
    assert '"role": "tool"' in (out / "instances" / "acme__calc-1" / "trajectory.jsonl").read_text()
    lines = outcome.instances_csv.read_text().splitlines()
    assert lines[0].startswith("instance_id,status,patch_bytes,patch_files,attempts,prompt_tokens")
    assert lines[1].startswith(f"acme__calc-1,patched,{len(patch.encode())},2,5,")
    s = outcome.summary
    assert (s["instances"], s["patched"], s["empty"], s["errors"]) == (2, 1, 1, 0)
    assert s["evaluated"] is False and "pass_at_1" not in s and s["prompt_tokens"] > 0
    assert outcome.csv_path.read_text().splitlines()[1].startswith("acme__calc-1,passed,5,")


def test_resume_keeps_finished_instances_and_runs_errors_again(
    world: dict[str, Any], mechanism: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    broken = ScriptedModel([{"fault": "server_error"}])
    first = run(
        world, config(world, mechanism, out, {"acme__calc-1": fixing_agent(), "other__tool-7": broken})
    )
    statuses = {o.instance.id: o.status for o in first.instances}
    assert statuses == {"acme__calc-1": "patched", "other__tool-7": "error"}
    assert list(predictions(out)) == ["acme__calc-1"]  # an error has no prediction: it runs again

    unused, idle = fixing_agent(), idle_agent()
    second = run(
        world, config(world, mechanism, out, {"acme__calc-1": unused, "other__tool-7": idle}, resume=True)
    )
    assert unused.requests == [] and len(idle.requests) == 2  # the patched one was kept, not run again
    assert [(o.instance.id, o.status, o.kept) for o in second.instances] == [
        ("acme__calc-1", "patched", True), ("other__tool-7", "empty", False),
    ]  # fmt: skip
    found = predictions(out)
    assert list(found) == ["acme__calc-1", "other__tool-7"]
    assert found["acme__calc-1"]["model_patch"] == first.instances[0].patch
    assert second.summary["kept"] == 1

    renamed = config(world, mechanism, out, {}, resume=True)
    with pytest.raises(ValueError, match="model_name_or_path 'test-model', now 'other'"):
        run(world, SweConfig(**{**renamed.__dict__, "model_name": "other"}))


def test_cli_writes_predictions_with_a_scripted_model(world: dict[str, Any], mechanism: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    script = tmp_path / "script.json"
    script.write_text(json.dumps([tool("shell", command=["sh", "-c", "echo note > NOTES.txt"]), "Done."]))
    out = tmp_path / "out"
    argv = ["bench", "swe", "--instances", str(world["instances"]), "--repos", str(world["repos"]),
            "--script", str(script), "--out", str(out), "--limit", "1"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "patched 1/1 (empty 0, errors 0)" in captured.out and "acme__calc-1: patched" in captured.err
    (row,) = predictions(out).values()
    assert row["model_name_or_path"] == "agentrt-scripted" and "+++ b/NOTES.txt" in row["model_patch"]
    assert (tmp_path / "fresh").exists() is False
    clone = fresh_clone_applies(world, tmp_path, row["model_patch"])
    assert (clone / "NOTES.txt").read_text() == "note\n"


def bad_input(
    world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str]
) -> str:
    bad, script = tmp_path / "bad.jsonl", tmp_path / "script.json"
    bad.write_text("\n".join(lines) + "\n")
    script.write_text('["Done."]')
    argv = ["bench", "swe", "--instances", str(bad), "--repos", str(world["repos"]), "--script", str(script),
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert not (tmp_path / "out" / "predictions.jsonl").exists()
    return err[0]


def test_bad_inputs_are_refused_in_one_line_naming_the_instance(
    world: dict[str, Any], mechanism: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = world["instances"].read_text().splitlines()[0]
    row = json.loads(good)
    malformed = '{"instance_id": "acme__calc-2", "repo": "acme/calc", "base_commit": '
    line = bad_input(world, tmp_path, capsys, [good, malformed])
    assert "bad.jsonl line 2 (instance acme__calc-2): not valid JSON" in line

    missing_repo = json.dumps({**row, "instance_id": "ghost__x-1", "repo": "ghost/x"})
    line = bad_input(world, tmp_path, capsys, [good, missing_repo])
    assert "instance ghost__x-1: no clone of ghost/x" in line and "ghost__x" in line

    unknown = json.dumps({**row, "instance_id": "acme__calc-3", "base_commit": "0123abcd" * 5})
    line = bad_input(world, tmp_path, capsys, [unknown, good])
    assert f"instance acme__calc-3: commit {'0123abcd' * 5} is not in" in line

    # a plain directory inside another repository is no clone, even when that repository has the commit
    outer = make_repo(tmp_path / "outer", {"plain__dir/README": "not a clone\n"})
    world = {**world, "repos": tmp_path / "outer"}
    plain = json.dumps({**row, "instance_id": "plain__dir-1", "repo": "plain/dir", "base_commit": outer})
    line = bad_input(world, tmp_path, capsys, [plain])
    assert "instance plain__dir-1:" in line and "is not a git repository" in line

    no_commit = json.dumps({k: v for k, v in row.items() if k != "base_commit"})
    line = bad_input(world, tmp_path, capsys, [no_commit])
    assert "line 1: instance acme__calc-1: base_commit is missing" in line
    line = bad_input(world, tmp_path, capsys, [good, good])
    assert "line 2: instance acme__calc-1: instance_id already given on line 1" in line
    with pytest.raises(InstanceError, match="not owner/name"):
        (tmp_path / "r.jsonl").write_text(json.dumps({**row, "repo": "calc"}))
        load_instances(tmp_path / "r.jsonl")
