"""The runner in-process: error isolation, the embedded simulator, the dataset loader."""

from __future__ import annotations

import asyncio
import gzip
import resource
from pathlib import Path

import pytest

from agentrt.bench.dataset import DatasetError, Task, load_humaneval, load_tasks_file
from agentrt.bench.humaneval.loop import LoopConfig
from agentrt.bench.runner import BenchConfig, BenchOutcome, raise_nofile, run_bench, sim_in_own_process
from agentrt.config import ProviderConfig
from agentrt.events import Recorder, TaskFinished
from agentrt.model.sim import SimConfig, start_sim_server

LOOP = LoopConfig(confine=None)


def add_task(i: int) -> Task:
    return Task(
        f"t/{i}",
        f'def add{i}(a, b):\n    """Return a + b."""\n',
        f"from solution import *\n\n\ndef test_add():\n    assert add{i}(2, 3) == 5\n",
        "    return a + b\n",
    )


def test_one_tasks_error_never_stops_the_others(tmp_path: Path) -> None:
    tasks = [add_task(i) for i in range(4)]

    async def main() -> BenchOutcome:
        # The first request gets a malformed stream (not retryable): exactly one task errors.
        sim = SimConfig(
            tasks=tuple(t.as_dict() for t in tasks), fail_rate=0.0, fault="malformed", fault_count=1
        )
        async with await start_sim_server(sim) as server:
            provider = ProviderConfig("sim", "sim", server.base_url, requires_api_key=False)
            config = BenchConfig(
                tasks, tmp_path / "out", LOOP, concurrency=1, provider=provider, model=sim.model
            )
            return await run_bench(config, recorder)

    recorder = Recorder()

    outcome = asyncio.run(main())
    statuses = [r.status for r in outcome.results]
    assert statuses == ["error", "passed", "passed", "passed"]
    assert "MalformedResponse" in outcome.results[0].error
    assert outcome.summary["errors"] == 1 and outcome.summary["passed"] == 3
    assert outcome.csv_path.exists() and outcome.summary_path.exists()
    finished = [e for e in recorder.events if isinstance(e, TaskFinished)]
    assert [(e.task_id, e.status) for e in finished] == [(r.id, r.status) for r in outcome.results]


def test_embedded_simulator_is_labelled_and_recovers_the_failing_share(tmp_path: Path) -> None:
    tasks = [add_task(i) for i in range(10)]
    config = BenchConfig(tasks, tmp_path / "out", LOOP, concurrency=10)
    outcome = asyncio.run(run_bench(config))
    s = outcome.summary
    assert s["simulated"] is True and s["passed"] == 10 and s["agent"] == "loop"
    assert s["recovered"] == round(0.15 * 10) and s["first_attempt"] == 10 - round(0.15 * 10)


def test_simulator_in_its_own_process_gives_the_same_outcomes_and_is_not_counted(tmp_path: Path) -> None:
    tasks = [add_task(i) for i in range(10)]
    own = BenchConfig(tasks, tmp_path / "own", LOOP, concurrency=10, repeat=2, sim_process=True)
    inproc = BenchConfig(tasks, tmp_path / "in", LOOP, concurrency=10, repeat=2, sim_process=False)
    a, b = asyncio.run(run_bench(own)), asyncio.run(run_bench(inproc))
    assert [(r.id, r.status, r.attempts) for r in a.results] == [
        (r.id, r.status, r.attempts) for r in b.results
    ]
    s = a.summary
    assert s["simulated"] is True and s["sim_process"] is True and s["passed"] == 20
    assert s["recovered"] == 2 * round(0.15 * 10)
    sim_rss = s["sim_peak_rss_mib"]
    assert isinstance(sim_rss, float) and sim_rss > 5  # a whole interpreter, measured apart
    peak_live = s["peak_live_children"]
    assert isinstance(peak_live, int) and peak_live <= 10  # the test runs only, never the simulator
    assert b.summary["sim_process"] is False and "sim_peak_rss_mib" not in b.summary


def test_the_simulator_leaves_the_process_above_100_agents_unless_told(tmp_path: Path) -> None:
    tasks = [add_task(i) for i in range(60)]

    def config(concurrency: int, repeat: int = 1, sim_process: bool | None = None) -> BenchConfig:
        return BenchConfig(
            tasks, tmp_path, LOOP, concurrency=concurrency, repeat=repeat, sim_process=sim_process
        )

    assert not sim_in_own_process(config(1000))  # 60 tasks: 60 agents at most
    assert sim_in_own_process(config(1000, repeat=2))
    assert not sim_in_own_process(config(100, repeat=2))
    assert not sim_in_own_process(config(1000, repeat=2, sim_process=False))
    assert sim_in_own_process(config(1, sim_process=True))


def test_descriptors_are_raised_for_a_large_run_and_put_back() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("the hard descriptor limit is below 2048")
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    try:
        assert raise_nofile(256) is None, "enough already: nothing changed"
        assert raise_nofile(2048) == (512, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 2048
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_pinned_dataset_first_100_in_numeric_order() -> None:
    tasks = load_humaneval()
    assert [t.id for t in tasks] == [f"HumanEval/{i}" for i in range(100)]
    assert all(t.test.startswith("from solution import *") and "def test_humaneval" in t.test for t in tasks)
    assert "def poly" in tasks[32].spec


def test_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "HumanEval.jsonl.gz"
    bad.write_bytes(gzip.compress(b"{}\n"))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_humaneval(bad)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"id": 1}', "JSON array"),
        ('[{"id": "a", "spec": "x"}]', "lacks string field"),
        (
            '[{"id": "a", "spec": "x", "test": "t"}, {"id": "a", "spec": "y", "test": "t"}]',
            "duplicate task id",
        ),
    ],
)
def test_bad_dataset_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "d.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_tasks_file(path)
