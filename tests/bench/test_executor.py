"""The fork executor against the spawn executor: same outcomes, no state carried between runs,
the same confinement, timeout and group kill."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agentrt.bench.dataset import Task, load_humaneval
from agentrt.bench.executor import ForkExecutor, SpawnExecutor, fork_executor
from agentrt.bench.executor import TestRun as Run
from agentrt.bench.humaneval.extract import assemble_module
from agentrt.bench.humaneval.loop import PYTEST_INI, Confine, LoopConfig
from agentrt.bench.humaneval.loop import test_confinement as confined
from agentrt.sandbox.confine import landlock_abi
from agentrt.sandbox.process import use_pidfd_child_watcher

ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
ENV.pop("PYTEST_ADDOPTS", None)
CONFIG = LoopConfig(confine=None, test_env=ENV, test_timeout_s=20.0)

WRONG: dict[str, str] = {
    "returns None": "{spec}    return None\n",
    "raises": "{spec}    raise ValueError('wrong')\n",
    "syntax error": "{spec}    return (\n",
    "exits at import": "import sys\nsys.exit(3)\n{spec}{solution}",
    "os._exit at import": "import os\nos._exit(7)\n{spec}{solution}",
    "killed by a signal": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n{spec}{solution}",
    "floods stdout": "{spec}    print('x' * 300000)\n    return None\n",
}
"""Wrong solutions, each a different way to fail: a wrong value, an exception, a module that does
not parse, an exit or a signal while pytest collects, output past the cap."""


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        use_pidfd_child_watcher()
        return await coro_fn()

    return asyncio.run(main())


def _workspace(root: Path, task: Task, module: str) -> Path:
    ws = root / re.sub(r"\W", "_", task.id)
    ws.mkdir(parents=True)
    (ws / "pytest.ini").write_text(PYTEST_INI)
    (ws / "test_solution.py").write_text(task.test)
    (ws / "solution.py").write_text(module)
    return ws


def _outcome(test: Run) -> tuple[object, ...]:
    r = test.result
    text = r.stdout + r.stderr
    last = text.strip().splitlines()[-1] if text.strip() else ""
    summary = re.sub(r" in [0-9.]+s", "", last)
    return (r.exit_code, r.signal, r.timed_out, r.ok, r.output_limited, r.stdout_truncated, summary)


async def _one(executor: Any, ws: Path, config: LoopConfig = CONFIG) -> Run:
    with confined(ws, config) as confinement:
        run: Run = await executor.run(
            config.pytest_argv(), cwd=ws, timeout_s=config.test_timeout_s, confinement=confinement
        )
    return run


def _cases(tasks: list[Task]) -> list[tuple[str, Task, str]]:
    cases = []
    for task in tasks:
        assert task.solution is not None
        cases.append(("canonical", task, assemble_module(task.spec, task.spec + task.solution)))
    for (name, template), task in zip(WRONG.items(), tasks, strict=False):
        body = template.format(spec=task.spec, solution=task.solution)
        cases.append((name, task, body))
    return cases


def test_fork_and_spawn_give_the_same_outcome_on_canonical_and_wrong_solutions(tmp_path: Path) -> None:
    tasks = load_humaneval(limit=100)[::10]
    cases = _cases(tasks)

    async def both() -> list[tuple[tuple[object, ...], tuple[object, ...]]]:
        spawn = SpawnExecutor()
        async with fork_executor(sys.executable, ENV) as fork:
            pairs = []
            for i, (_, task, module) in enumerate(cases):
                ws = _workspace(tmp_path / str(i), task, module)
                spawned, forked = await asyncio.gather(_one(spawn, ws), _one(fork, ws))
                pairs.append((_outcome(spawned), _outcome(forked)))
                assert forked.cpu_s is not None and forked.peak_rss_mib is not None
        return pairs

    pairs = _run(both)
    for (name, task, _), (spawned, forked) in zip(cases, pairs, strict=True):
        assert spawned == forked, f"{task.id} ({name}): spawn {spawned} != fork {forked}"
    assert sum(1 for (name, _, _), (s, _) in zip(cases, pairs, strict=True) if s[3]) == len(tasks)
    flagged = {name: s for (name, _, _), (s, _) in zip(cases, pairs, strict=True)}
    assert flagged["killed by a signal"][1] == 9
    assert flagged["floods stdout"][5] is True


LEAKER = """\
import builtins, json, os, sys
json.LEAKED = True
builtins.leaked_builtin = 1
sys.modules["leaked_module"] = json
sys.path.append("/leaked")
os.environ["LEAKED_ENV"] = "1"
import sqlite3  # a module the server never imported

def f():
    return 1
"""
LEAK_TEST = """\
import builtins, json, os, sys
from solution import *

def test_nothing_leaked():
    assert f() == 2, "the solution module is the previous run's"
    assert not hasattr(json, "LEAKED")
    assert not hasattr(builtins, "leaked_builtin")
    assert "leaked_module" not in sys.modules
    assert "sqlite3" not in sys.modules
    assert "/leaked" not in sys.path
    assert "LEAKED_ENV" not in os.environ
"""


def test_no_state_leaks_from_one_forked_run_to_the_next(tmp_path: Path) -> None:
    leaker = Task("t/leak", "", "from solution import *\n\ndef test_f():\n    assert f() == 1\n")
    checker = Task("t/check", "", LEAK_TEST)

    async def runs() -> list[Run]:
        async with fork_executor(sys.executable, ENV) as fork:
            first = _workspace(tmp_path / "a", leaker, LEAKER)
            out = [await _one(fork, first)]
            (first / "solution.py").write_text("def f():\n    return 2\n")  # same dir, same module name
            (first / "test_solution.py").write_text(LEAK_TEST)
            out.append(await _one(fork, first))
            out.append(await _one(fork, _workspace(tmp_path / "b", checker, "def f():\n    return 2\n")))
        return out

    results = _run(runs)
    assert [r.result.ok for r in results] == [True, True, True], [r.result.stdout[-800:] for r in results]


TIMEOUT_TEST = """\
import os, subprocess, sys, time
from solution import *

def test_hangs():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open("grandchild.pid.tmp", "w") as f:  # then renamed: whoever sees the file sees the pid
        f.write(str(child.pid))
    os.replace("grandchild.pid.tmp", "grandchild.pid")
    time.sleep(60)
"""


def test_a_forked_run_times_out_and_its_whole_group_is_killed(tmp_path: Path) -> None:
    task = Task("t/hang", "", TIMEOUT_TEST)
    ws = _workspace(tmp_path, task, "")
    config = LoopConfig(confine=None, test_env=ENV, test_timeout_s=2.0)

    async def run() -> Run:
        async with fork_executor(sys.executable, ENV) as fork:
            return await _one(fork, ws, config)

    test = _run(run)
    assert test.result.timed_out and not test.result.ok
    assert _gone(int((ws / "grandchild.pid").read_text()))


def test_the_server_ends_with_its_context_and_kills_what_is_left(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, Task("t/hang", "", TIMEOUT_TEST), "")
    seen: dict[str, int] = {}

    async def run() -> None:
        async with fork_executor(sys.executable, ENV) as fork:
            seen["server"] = fork.server_pid
            running = asyncio.ensure_future(_one(fork, ws))
            for _ in range(200):  # polls a file the test run writes: no event to wait on
                if (ws / "grandchild.pid").exists():
                    break
                await asyncio.sleep(0.05)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running

    _run(run)
    assert _gone(seen["server"]) and _gone(int((ws / "grandchild.pid").read_text()))


def _gone(pid: int) -> bool:
    """True once ``pid`` is dead (gone, or a zombie waiting for whoever adopted it), within 2 s."""
    for _ in range(40):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in (b"Z", b"X"):
            return True
        time.sleep(0.05)
    return False


CONFINED_TEST = """\
import os, socket, tempfile
from solution import *

def test_confined():
    open("inside.txt", "w").write("ok")
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"ok")
    assert tempfile.gettempdir() == os.environ["TMPDIR"], "the run's private temporary directory"
    for path in ("{outside}/escaped.txt", "/etc/agentrt-escaped"):
        try:
            open(path, "w").write("escaped")
        except PermissionError:
            pass
        else:
            raise AssertionError(f"wrote {{path}}")
    try:
        socket.socket()
    except PermissionError:
        pass
    else:
        raise AssertionError("opened a socket")
    assert not any("KEY" in name or "SECRET" in name for name in os.environ)
"""


@pytest.mark.skipif(landlock_abi() < 1, reason="Landlock is not available here")
def test_a_forked_run_is_confined_to_its_workspace_like_a_spawned_one(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    task = Task("t/confined", "", CONFINED_TEST.format(outside=outside))
    ws = _workspace(tmp_path / "w", task, "")
    env = {**ENV, "AGENTRT_TEST_API_KEY": "secret"}
    config = LoopConfig(confine=Confine("landlock", tmp_path / "home"), test_env=env)

    async def run() -> tuple[Run, Run]:
        async with fork_executor(sys.executable, env) as fork:
            return await _one(fork, ws, config), await _one(SpawnExecutor(), ws, config)

    forked, spawned = _run(run)
    assert forked.result.ok, forked.result.stdout[-1500:] + forked.result.stderr
    assert spawned.result.ok, spawned.result.stdout[-1500:] + spawned.result.stderr
    assert not (outside / "escaped.txt").exists()


def test_a_child_takes_its_tmpdir_as_known_only_where_its_confinement_lets_it_write(tmp_path: Path) -> None:
    """``tempfile`` skips its probe (a file written and removed) only for a TMPDIR the run may write."""
    from agentrt.bench.forkserver import _known_tempdir
    from agentrt.sandbox.confine import parse_args

    def writable(*options: str) -> list[str]:  # as the server parses a run's options
        return parse_args([*options, "--", "pytest"]).writable

    private = tmp_path / "private"
    private.mkdir()
    env = {"TMPDIR": str(private)}
    writes = writable("--write", str(tmp_path / "ws"), "--write", str(private), "--rlimit", "core=0")
    assert _known_tempdir(env, writes) == str(private)
    assert _known_tempdir(env, writable("--write", str(tmp_path / "ws"), "--deny-read", str(private))) is None
    assert _known_tempdir(env, None) is None, "unconfined: tempfile looks for itself"
    assert _known_tempdir({}, writes) is None
    private.rmdir()
    assert _known_tempdir(env, writes) is None, "gone: tempfile falls back as it would"


def test_fork_refuses_bubblewrap_with_the_reason(tmp_path: Path) -> None:
    if not any(os.access(os.path.join(d, "bwrap"), os.X_OK) for d in os.get_exec_path()):
        pytest.skip("bubblewrap is not installed")
    ws = _workspace(tmp_path, Task("t/x", "", "def test_x():\n    pass\n"), "")
    config = LoopConfig(confine=Confine("bwrap", tmp_path / "home"), test_env=ENV)

    async def run() -> None:
        async with fork_executor(sys.executable, ENV) as fork:
            assert isinstance(fork, ForkExecutor)
            await _one(fork, ws, config)

    with pytest.raises(ValueError, match="bubblewrap confines only a program it execs"):
        _run(run)


def test_the_server_keeps_what_pytest_imported_from_the_interpreter_not_from_the_warm_up_directory(
    tmp_path: Path,
) -> None:
    import importlib.util
    import json
    import types

    from agentrt.bench.forkserver import _keep

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "test_warm.py").write_text("X = 1\n")
    spec = importlib.util.spec_from_file_location("test_warm", scratch / "test_warm.py")
    assert spec is not None
    warm_test = importlib.util.module_from_spec(spec)
    assert _keep("json", json, str(scratch)), "the standard library: what pytest loads as it configures"
    assert _keep("_pytest.debugging", sys.modules["_pytest.debugging"], str(scratch))
    assert _keep("faulthandler", sys.modules.get("faulthandler"), str(scratch)), "built in"
    assert not _keep("test_warm", warm_test, str(scratch)), "the warm-up's own test module"
    assert not _keep("made_up", types.ModuleType("made_up"), str(scratch)), "no origin: not kept"
    assert not _keep("blocked", None, str(scratch))


PREBUILT_PROBE = r"""
import json, os, pathlib, sys
from agentrt.bench import forkserver
import _pytest.config as pytest_config

args = tuple(json.loads(sys.argv[1]))
prebuilt = forkserver._prebuilt({}, args)
assert prebuilt is not None, "no pre-built config for the contract loop's arguments"
os.chdir(sys.argv[2])
prebuilt.install()
same = pytest_config.get_config(list(args), None, **prebuilt.kwargs)
other = pytest_config.get_config(["-q", "other.py"], None, **prebuilt.kwargs)
code = forkserver._run_pytest(sys.argv[2], list(args))
print(json.dumps({
    "reused": same is prebuilt.config,
    "dir": str(same.invocation_params.dir),
    "other_fresh": other is not prebuilt.config,
    "code": code,
}))
"""


def test_a_forked_run_takes_pytest_config_prebuilt_in_the_server_and_runs_as_a_fresh_one(
    tmp_path: Path,
) -> None:
    """The server registers pytest's plugins once (``_Prebuilt``); a run with the same arguments takes
    that config with its own directory, any other call builds its own, and the run behaves alike."""
    import json
    import subprocess

    from agentrt.bench.executor import _pytest_args

    task = Task("t/prebuilt", "", "from solution import f\n\ndef test_f():\n    assert f() == 2\n")
    ws = _workspace(tmp_path, task, "def f():\n    return 1\n")
    args = _pytest_args(CONFIG.pytest_argv())
    probe = subprocess.run(
        [sys.executable, "-c", PREBUILT_PROBE, json.dumps(args), str(ws)],
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    lines = probe.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert report == {"reused": True, "dir": str(ws), "other_fresh": True, "code": 1}
    assert "assert 1 == 2" in probe.stdout, "the assertion was rewritten as in a spawned run"


def test_the_server_plans_which_fixture_scans_a_child_skips_or_narrows() -> None:
    """A plugin module with no fixture (defined there or wrapped) is skipped, one with fixtures is
    scanned as a stand-in with only those, one with its own ``__dir__`` as usual; instances are
    skipped only for pytest's own classes without a fixture."""
    import functools
    import types

    import _pytest.legacypath
    import _pytest.main
    import _pytest.python
    import _pytest.terminal
    import _pytest.tmpdir

    from agentrt.bench import forkserver

    plain = types.ModuleType("plain")
    plain.helper = lambda: 1  # type: ignore[attr-defined]
    plain.wrapped = functools.wraps(plain.helper)(lambda: 2)  # type: ignore[attr-defined]
    with_fixture = types.ModuleType("with_fixture")
    with_fixture.thing = pytest.fixture(lambda: 1)  # type: ignore[attr-defined]
    with_fixture.other = 3  # type: ignore[attr-defined]
    hidden = types.ModuleType("hidden")
    hidden.thing = functools.wraps(with_fixture.thing)(lambda: 1)  # type: ignore[attr-defined]
    lazy = types.ModuleType("lazy")
    lazy.__dir__ = lambda: ["late"]  # type: ignore[method-assign]
    lazy.__getattr__ = lambda name: pytest.fixture(lambda: 1)  # type: ignore[method-assign]

    class Holder:
        @pytest.fixture
        def value(self) -> int:
            return 1

    modules = [plain, with_fixture, hidden, lazy, _pytest.python, _pytest.tmpdir, Holder]
    scans = forkserver._FixtureScans(modules)
    plan = {getattr(p, "__name__", ""): stand_in for p, stand_in in scans.holders.values()}
    assert set(plan) == {"plain", "with_fixture", "hidden", "_pytest.python", "_pytest.tmpdir"}
    assert plan["plain"] is None and plan["_pytest.python"] is None
    named = {name: {k for k in vars(m) if not k.startswith("__")} for name, m in plan.items() if m}
    assert named == {
        "with_fixture": {"thing"},
        "hidden": {"thing"},
        "_pytest.tmpdir": {"tmp_path", "tmp_path_factory"},
    }
    assert plan["with_fixture"].thing is with_fixture.thing  # type: ignore[union-attr]
    assert scans.types.get(id(_pytest.terminal.TerminalReporter)) is _pytest.terminal.TerminalReporter
    assert id(_pytest.legacypath.LegacyTmpdirPlugin) not in scans.types, "it holds the tmpdir fixture"
    assert id(Holder) not in scans.types
    assert id(_pytest.python.Module) not in scans.types, "a node stands for the module it collects"
    assert scans.nodes.get(id(_pytest.main.Session)) is _pytest.main.Session, "as a plugin: no fixture"


FIXTURES_CONFTEST = """\
import pytest

@pytest.fixture(autouse=True)
def marked(monkeypatch):
    monkeypatch.setenv("MARKED", "1")
"""
FIXTURES_TEST = """\
import os, warnings
import pytest
from solution import *

@pytest.fixture
def base():
    return 40

def test_fixtures(base, tmp_path, capsys, monkeypatch, caplog, recwarn, request, record_property):
    assert os.environ["MARKED"] == "1", "the conftest's autouse fixture ran"
    (tmp_path / "x").write_text("y")
    print("out")
    assert capsys.readouterr().out == "out\\n"
    monkeypatch.setattr(warnings, "probe", 1, raising=False)
    warnings.warn("w")
    assert len(recwarn) == 1 and request.node.name == "test_fixtures"
    record_property("k", 1)
    assert f(base) == 42
"""


def test_a_forked_run_has_every_fixture_a_spawned_one_has(tmp_path: Path) -> None:
    """The child skips scanning fixture-free plugins; pytest's own fixtures, a conftest's autouse
    one and the test module's are all there, as in a spawned run."""
    task = Task("t/fixtures", "", FIXTURES_TEST)

    async def both() -> tuple[Run, Run]:
        ws = _workspace(tmp_path, task, "def f(x):\n    return x + 2\n")
        (ws / "conftest.py").write_text(FIXTURES_CONFTEST)
        async with fork_executor(sys.executable, ENV) as fork:
            return await _one(SpawnExecutor(), ws), await _one(fork, ws)

    spawned, forked = _run(both)
    assert spawned.result.ok, spawned.result.stdout
    assert forked.result.ok, forked.result.stdout
    assert _outcome(spawned) == _outcome(forked)
