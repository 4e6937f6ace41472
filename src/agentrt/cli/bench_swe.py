"""``agentrt bench swe``: SWE-bench predictions from the coding agent (``bench.swe``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentrt.bench.swe.runner import InstanceOutcome, Job, SweConfig, SweOutcome
    from agentrt.model.client import OpenAIClient

HELP = """\
Let agentrt's coding agent (the one --agent exec runs: shell, apply_patch, the file tools, the OS
sandbox) work on SWE-bench instances and write the predictions SWE-bench's evaluation harness reads.

--instances FILE is JSONL, one instance per line: instance_id, repo (owner/name), base_commit and
problem_statement are used, every other field is ignored. --repos DIR holds a local clone of each
repository, at DIR/owner__name (SWE-bench's spelling: DIR/django__django), DIR/owner/name or
DIR/name (the first that exists). Every instance's clone and base commit are checked before any agent
starts; a problem stops the run with one line naming the instance (exit 2).

Each instance gets a fresh checkout at its base commit (git clone --shared of the local clone, which
is never written to; refs and reflogs removed, so the later history is out of sight). The agent gets
the problem statement and works there under the workspace-write sandbox (no network); then the diff of
the checkout against the base commit (git add -A; text files, new ones included, binaries left out and
named) becomes the instance's model_patch. The model: --base-url/--model (or the environment);
--local [NAME], a llama.cpp server started for the run with `agentrt exec --local`'s settings (tool
calls as text, greedy, the compact prompt, an 8,192-token window); or --script FILE.

Results in OUT: predictions.jsonl ({instance_id, model_name_or_path, model_patch} per instance that
ran to the end; appended as each finishes), instances/<id>/ (result.json, model.patch, trajectory.jsonl:
the agent's events and history), raw/swe_<stamp>_instances.csv (status patched|empty|error, patch
bytes and files, tokens, wall time per instance), raw/swe_<stamp>.csv and _summary.json (the usual
bench columns and summary; status passed = a non-empty patch, failed = none: nothing is evaluated).

Evaluation needs SWE-bench's Docker images and is not done here. Run its harness on the predictions,
on a machine with Docker:
  pip install swebench
  python -m swebench.harness.run_evaluation --dataset_name princeton-nlp/SWE-bench_Verified \\
      --predictions_path OUT/predictions.jsonl --max_workers 8 --run_id agentrt

--resume RUN_DIR continues a run (its --out directory): instances that ran to the end are kept
(recorded with the same repo and base commit; the model name must match), errors and interrupted or
missing ones run again; predictions.jsonl is rewritten with all of them.

Exit status: 0 every instance ran to the end (patched or empty); 1 some instance ended in an error
(model, checkout, harness); 2 bad usage, a bad instances file, a missing clone or commit; 130
interrupted (Ctrl-C, SIGTERM: finished instances are written; --resume continues).

environment:
  LLM_BASE_URL, LLM_MODEL   endpoint and model (or OPENAI_BASE_URL, OPENAI_MODEL)
  LLM_API_KEY               bearer key (or OPENAI_API_KEY)
"""


def add_swe(suites: Any) -> None:
    from agentrt.cli.bench import _positive, add_local_options

    s = suites.add_parser(
        "swe",
        help="SWE-bench predictions (predictions.jsonl) from the coding agent",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--instances", type=Path, required=True, metavar="FILE", help="SWE-bench instances, JSONL")
    s.add_argument(
        "--repos", type=Path, required=True, metavar="DIR", help="local clones: DIR/owner__name (or above)"
    )
    s.add_argument("--out", type=Path, help="results directory (default ./results; not with --resume)")
    s.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR (see above)")
    s.add_argument("--concurrency", type=_positive, default=4, help="instances at once (default 4)")
    s.add_argument("--limit", type=_positive, metavar="N", help="only the first N instances")
    s.add_argument("--model", help="model id at the endpoint")
    s.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    s.add_argument(
        "--script",
        type=Path,
        metavar="FILE",
        help="scripted model replies, a JSON array, replayed per instance",
    )
    add_local_options(s)
    s.add_argument(
        "--model-name",
        metavar="NAME",
        help="model_name_or_path of the predictions (default: the model id; agentrt-scripted with --script)",
    )
    s.add_argument("--max-turns", type=_positive, default=50, help="model requests per instance (default 50)")
    s.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="the agent's seconds per instance (default 1800)",
    )
    s.add_argument("--keep-checkouts", action="store_true", help="keep each instance's checkout")
    s.set_defaults(run=run_swe_command)


def run_swe_command(args: argparse.Namespace) -> int:
    from agentrt.bench.swe.instances import load_instances
    from agentrt.bench.swe.runner import SweInterrupted, check_instances, run_swe
    from agentrt.cli.bench import _run_async

    if args.resume is not None and args.out is not None:
        raise ValueError("--resume writes into the run's own directory (RUN_DIR): leave out --out")
    if not args.timeout > 0:
        raise ValueError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if not args.repos.is_dir():
        raise ValueError(f"--repos {args.repos}: no such directory")
    instances = load_instances(args.instances)[: args.limit]
    config, client, where = _config(args)

    async def main() -> SweOutcome:
        jobs = await check_instances(instances, args.repos)
        if args.local is not None:
            return await _run_local(args, jobs, config)
        try:
            if client is not None:
                from agentrt.bench.runner import preflight

                await preflight(client)
            print(
                f"agentrt bench swe: {len(jobs)} instances, {where}, concurrency {config.concurrency}",
                file=sys.stderr,
            )
            return await run_swe(jobs, config, _print_done)
        finally:
            if client is not None:
                await client.aclose()

    try:
        outcome = _run_async(main(), "asyncio")
    except SweInterrupted as stop:
        _print_summary(stop.outcome)
        print(f"interrupted: continue with --resume {config.out_dir} (and no --out)", file=sys.stderr)
        return 130
    _print_summary(outcome)
    errors = [o for o in outcome.instances if o.status == "error"]
    if errors:
        first = errors[0]
        print(
            f"agentrt: {len(errors)} instance(s) ended in an error; first: {first.instance.id}: {first.detail}; "
            f"--resume {config.out_dir} runs them again",
            file=sys.stderr,
        )
        return 1
    return 0


def _config(args: argparse.Namespace) -> tuple[SweConfig, OpenAIClient | None, str]:
    """The run's settings, the endpoint's client (``None`` with --script) and a label for the model."""
    import shlex

    from agentrt.agent.instructions import base_instructions
    from agentrt.agent.thread import Limits
    from agentrt.bench.repo_agent import RepoAgent
    from agentrt.bench.runner import agent_env, prove_sandbox
    from agentrt.bench.swe.runner import SweConfig
    from agentrt.config import agentrt_home
    from agentrt.sandbox import SandboxUnavailable

    factory, client, name, where = _model(args)
    home = agentrt_home(os.environ)
    try:
        mechanism = prove_sandbox(home)
    except SandboxUnavailable as exc:
        raise ValueError(f"the coding agent runs under the OS sandbox, and none works here: {exc}") from exc
    agent = RepoAgent(
        mechanism=mechanism, base_prompt=base_instructions("full"), env=agent_env(os.environ), home=home,
        limits=Limits(max_turns=args.max_turns, max_wall_s=args.timeout),
    )  # fmt: skip
    resume = args.resume is not None
    meta = {
        "instances_file": str(args.instances), "model": where,
        "command": shlex.join(["agentrt", *sys.argv[1:]]),
    }  # fmt: skip
    config = SweConfig(
        out_dir=args.resume if resume else (args.out or Path("results")), repos=args.repos, agent=agent,
        model=factory, model_name=args.model_name or name, concurrency=args.concurrency, resume=resume,
        keep_checkouts=args.keep_checkouts, meta=meta,
    )  # fmt: skip
    return config, client, where


async def _run_local(args: argparse.Namespace, jobs: list[Job], config: SweConfig) -> SweOutcome:
    """The run against a llama.cpp server started for it, with ``agentrt exec --local``'s settings."""
    from dataclasses import replace

    from agentrt.bench.local import local_agent_model
    from agentrt.bench.swe.runner import run_swe

    home, threads = config.agent.home, args.local_threads or 2
    async with local_agent_model(home, args.local, os.environ, stderr=sys.stderr, threads=threads) as local:
        agent = replace(config.agent, base_prompt=local.base_prompt, context=local.context)
        meta = {**config.meta, "model": local.label, "local_model": local.name, "local_threads": threads}
        served = replace(config, agent=agent, model=lambda _i: local.model(), meta=meta)
        print(
            f"agentrt bench swe: {len(jobs)} instances, {local.label}, concurrency {config.concurrency}",
            file=sys.stderr,
        )
        return await local.server.guard(run_swe(jobs, served, _print_done))


def _model(args: argparse.Namespace) -> tuple[Any, OpenAIClient | None, str, str]:
    """(a model per instance, the client to close, the default model name, a label); with ``--local``
    the model comes from the server the run starts (``_run_local``)."""
    from agentrt.cli.bench import check_local_options

    check_local_options(args)
    if args.local is not None:
        if args.script is not None:
            raise ValueError("--script replaces the model: leave out --local")
        return None, None, args.local, f"local model {args.local}"
    if args.script is not None:
        if args.base_url or args.model:
            raise ValueError("--script replaces the endpoint: leave out --base-url and --model")
        import copy
        import json

        from agentrt.model.scripted import ScriptedModel

        try:
            replies = json.loads(args.script.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"--script {args.script}: cannot read it as JSON ({exc})") from None
        if not isinstance(replies, list):
            raise ValueError(f"--script {args.script}: not a JSON array of replies")
        label = f"scripted model ({args.script})"
        return (lambda _i: ScriptedModel(copy.deepcopy(replies))), None, "agentrt-scripted", label
    from agentrt.cli.bench import _provider
    from agentrt.model.factory import build_client

    provider, model = _provider(args)
    if provider is None:
        raise ValueError("bench swe needs a model: --base-url and --model (or LLM_BASE_URL), or --script")
    client = build_client(provider, model, os.environ)
    return (lambda _i: client), client, model, f"{model} at {provider.base_url}"


def _print_done(o: InstanceOutcome) -> None:
    size = f" {o.patch_bytes} B in {len(o.files)} file(s)" if o.status == "patched" else ""
    detail = f" ({o.detail})" if o.detail else ""
    print(f"  {o.instance.id}: {o.status}{size} {o.row.wall_s:.1f}s{detail}", file=sys.stderr)


def _print_summary(outcome: SweOutcome) -> None:
    s = outcome.summary
    kept = f", kept {s['kept']}" if s["kept"] else ""
    print(
        f"patched {s['patched']}/{s['instances']} (empty {s['empty']}, errors {s['errors']}{kept}); "
        f"predictions: {outcome.predictions}"
    )
    print(
        f"results: {outcome.csv_path}\nsummary: {outcome.summary_path}\ninstances: {outcome.instances_csv}",
        file=sys.stderr,
    )
