"""The fork server keeps test modules rewritten and compiled as pytest's assertion rewriting does
(``_Rewritten``), for a test file it is asked to run a second time: a child running that file takes
the kept code under its own file name instead of rewriting; nothing a child does reaches the kept
code."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentrt.bench.executor import SpawnExecutor, fork_executor
from agentrt.bench.executor import TestRun as Run
from agentrt.bench.humaneval.loop import PYTEST_INI, LoopConfig
from agentrt.bench.humaneval.loop import test_confinement as confined
from agentrt.sandbox.process import use_pidfd_child_watcher

ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
ENV.pop("PYTEST_ADDOPTS", None)
CONFIG = LoopConfig(confine=None, test_env=ENV, test_timeout_s=20.0)
TEST = "from solution import f\n\n\ndef check(candidate):\n    assert candidate(1) == 3\n\n\ndef test_f():\n    check(f)\n"
ARGS = ["-q", "--tb=short", "-p", "no:cacheprovider", "test_solution.py"]

PROBE = r"""
import json, os, pathlib, sys
from agentrt.bench import forkserver
import _pytest.assertion.rewrite as rewrite

ws_a, ws_b, link = map(pathlib.Path, sys.argv[1:4])
args = json.loads(sys.argv[4])
original, calls = rewrite._rewrite_test, []


def counting(fn, config):
    calls.append(str(fn))
    return original(fn, config)


def names(code):
    return [code.co_filename] + [n for c in code.co_consts if hasattr(c, "co_code") for n in names(c)]


kept = forkserver._Rewritten()
kept.prepare(str(ws_a), args)
after_one = len([v for v in kept.entries.values() if v])
kept.prepare(str(ws_a), args)
after_two = len([v for v in kept.entries.values() if v])
rewrite._rewrite_test = counting
fresh = rewrite._rewrite_test(ws_a / "test_solution.py", None)
kept.install()
taken = rewrite._rewrite_test(ws_b / "test_solution.py", None)
for _ in range(2):
    kept.prepare(str(link), args)  # a symlinked test file is never read
print(json.dumps({
    "after_one": after_one,
    "after_two": after_two,
    "after_link": len(kept.entries),
    "calls": calls,
    "same_code": [c.co_code for c in fresh[1].co_consts if hasattr(c, "co_code")]
    == [c.co_code for c in taken[1].co_consts if hasattr(c, "co_code")],
    "same_hash": fresh[0] == taken[0],
    "names": sorted(set(names(taken[1]))),
}))
"""


def _workspace(path: Path, test: str, solution: str) -> Path:
    path.mkdir(parents=True)
    (path / "pytest.ini").write_text(PYTEST_INI)
    (path / "test_solution.py").write_text(test)
    (path / "solution.py").write_text(solution)
    return path


def test_a_file_asked_for_twice_is_kept_and_taken_under_the_childs_own_file_name(tmp_path: Path) -> None:
    ws_a = _workspace(tmp_path / "a", TEST, "def f(x):\n    return x\n")
    ws_b = _workspace(tmp_path / "b", TEST, "def f(x):\n    return x\n")
    link = tmp_path / "link"
    link.mkdir()
    (link / "test_solution.py").symlink_to(tmp_path / "secret.py")
    (tmp_path / "secret.py").write_text("def test_other():\n    assert 1 == 1\n")
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(ws_a), str(ws_b), str(link), json.dumps(ARGS)],
        capture_output=True, text=True, env=ENV, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert (report["after_one"], report["after_two"]) == (0, 1), "kept at the second sighting"
    assert report["after_link"] == 1, "nothing read through a symlink"
    assert report["calls"] == [str(ws_a / "test_solution.py")], "the second workspace took the kept code"
    assert report["same_code"] and report["same_hash"]
    assert report["names"] == [str(ws_b / "test_solution.py")], "every code object names the child's own file"


def test_a_module_whose_rewrite_warns_is_not_kept(tmp_path: Path) -> None:
    """The rewrite warns of an assertion that is always true; a kept module would not warn again."""
    from agentrt.bench import forkserver

    ws = _workspace(tmp_path / "w", "def test_t():\n    assert (1 == 2, 'always true')\n", "")
    kept = forkserver._Rewritten()
    for _ in range(3):
        kept.prepare(str(ws), ARGS)
    assert list(kept.entries.values()) == [None]


def _forked_three_times_then_spawned(tmp_path: Path) -> list[Run]:
    solution = "def f(x):\n    return x\n"
    ws_a = _workspace(tmp_path / "a", TEST, solution)

    async def main() -> list[Run]:
        use_pidfd_child_watcher()
        runs = []
        async with fork_executor(sys.executable, ENV) as fork:
            for ws in (ws_a, ws_a, None):
                if ws is None:  # the same test elsewhere, the first workspace gone
                    shutil.rmtree(ws_a)
                    ws = _workspace(tmp_path / "b", TEST, solution)
                with confined(ws, CONFIG) as confinement:
                    runs.append(
                        await fork.run(CONFIG.pytest_argv(), cwd=ws, timeout_s=20.0, confinement=confinement)
                    )
            with confined(ws, CONFIG) as confinement:
                runs.append(
                    await SpawnExecutor().run(
                        CONFIG.pytest_argv(), cwd=ws, timeout_s=20.0, confinement=confinement
                    )
                )
        return runs

    return asyncio.run(main())


def _report(run: Run) -> str:
    """The failure report, objects' addresses left out."""
    text = run.result.stdout
    return re.sub(r"0x[0-9a-f]+", "0x…", text[text.index("FAILURES") : text.rindex(" in ")])


@pytest.mark.slow
def test_runs_that_take_a_kept_module_report_a_failure_as_a_fresh_rewrite_does(tmp_path: Path) -> None:
    """Three forked runs of one failing test (the second and third take the kept module, the third
    in another workspace after the first is gone) and a spawned one: the same failure report, with
    the assertion's source line read from the run's own file and its values explained."""
    runs = _forked_three_times_then_spawned(tmp_path)
    reports = [_report(r) for r in runs]
    assert all(r.result.exit_code == 1 for r in runs)
    assert reports[1:] == [reports[0]] * 3, reports
    assert "assert candidate(1) == 3" in reports[0], "the source line, read from the run's own file"
    assert "+  where 1 = <function f at 0x…>(1)" in reports[0], "the rewritten assertion's values"
