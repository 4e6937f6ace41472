"""The fork server keeps test modules as pytest's assertion rewriting compiled them (``_Rewritten``):
a retry takes the kept code instead of rewriting, with its own file name; the kept code comes only
from a child that ran nothing of its workspace yet, through a channel closed before the module runs."""

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

PROBE = r"""
import json, os, pathlib, sys
from agentrt.bench import forkserver
import _pytest.assertion.rewrite as rewrite

ws_a, ws_b = map(pathlib.Path, sys.argv[1:3])
original, calls = rewrite._rewrite_test, []


def counting(fn, config):
    calls.append(str(fn))
    return original(fn, config)


def closed(fd):
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def child(kept, ws, before=None):
    rewrite._rewrite_test = counting
    r, w = os.pipe()
    kept.install(w, str(ws))
    if before:
        before()
    result = rewrite._rewrite_test(ws / "test_solution.py", None)
    was_closed = closed(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    return result, was_closed, data


def names(code):
    return [code.co_filename] + [n for c in code.co_consts if hasattr(c, "co_code") for n in names(c)]


kept = forkserver._Rewritten()
first, closed_a, sent = child(kept, ws_a)
kept.store(sent)
second, closed_b, sent_again = child(kept, ws_b)


def import_helper():
    helper = type(sys)("workspace_helper")
    helper.__file__ = str(ws_a / "helper.py")
    sys.modules["workspace_helper"] = helper


_, closed_c, sent_after_import = child(forkserver._Rewritten(), ws_a, before=import_helper)
print(json.dumps({
    "calls": calls,
    "sent": len(sent) > 33,
    "closed": [closed_a, closed_b, closed_c],
    "sent_again": len(sent_again),
    "sent_after_import": len(sent_after_import),
    "same_code": [c.co_code for c in first[1].co_consts if hasattr(c, "co_code")]
    == [c.co_code for c in second[1].co_consts if hasattr(c, "co_code")],
    "same_hash": first[0] == second[0],
    "names_b": sorted(set(names(second[1]))),
}))
"""


def _workspace(path: Path, test: str, solution: str) -> Path:
    path.mkdir(parents=True)
    (path / "pytest.ini").write_text(PYTEST_INI)
    (path / "test_solution.py").write_text(test)
    (path / "solution.py").write_text(solution)
    return path


def test_a_second_child_takes_the_kept_module_under_its_own_file_name(tmp_path: Path) -> None:
    ws_a = _workspace(tmp_path / "a", TEST, "def f(x):\n    return x\n")
    ws_b = _workspace(tmp_path / "b", TEST, "def f(x):\n    return x\n")
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(ws_a), str(ws_b)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    a_test, b_test = str(ws_a / "test_solution.py"), str(ws_b / "test_solution.py")
    assert report["calls"] == [a_test, a_test], "the second child took the kept module, not a rewrite"
    assert report["sent"], "the first child sent what it rewrote"
    assert report["closed"] == [True, True, True], "the channel is closed at a child's first rewrite"
    assert report["sent_again"] == 0, "a kept module is not sent again"
    assert report["sent_after_import"] == 0, "nothing sent once a module of the workspace was imported"
    assert report["same_code"] and report["same_hash"]
    assert report["names_b"] == [b_test], "every code object names the second child's own file"


def test_a_module_whose_rewrite_warns_is_not_kept(tmp_path: Path) -> None:
    """The rewrite warns of an assertion that is always true; a kept module would not warn again."""
    ws = _workspace(tmp_path / "w", "def test_t():\n    assert (1 == 2, 'always true')\n", "")
    code = f"""
import os, pathlib, sys, warnings
import _pytest.assertion.rewrite as rewrite
from agentrt.bench import forkserver
kept = forkserver._Rewritten()
r, w = os.pipe()
kept.install(w, {str(ws)!r})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    rewrite._rewrite_test(pathlib.Path({str(ws / "test_solution.py")!r}), None)
print(len(caught), len(os.read(r, 1 << 20)))
"""
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["1", "0"], "the warning is issued, the module not sent"


def _run_twice_then_elsewhere(tmp_path: Path) -> list[Run]:
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
                await asyncio.sleep(0.1)  # the server has taken what the run sent
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
    runs = _run_twice_then_elsewhere(tmp_path)
    reports = [_report(r) for r in runs]
    assert all(r.result.exit_code == 1 for r in runs)
    assert reports[1:] == [reports[0]] * 3, reports
    assert "assert candidate(1) == 3" in reports[0], "the source line, read from the run's own file"
    assert "+  where 1 = <function f at 0x…>(1)" in reports[0], "the rewritten assertion's values"
