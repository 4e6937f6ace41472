"""The HumanEval contract loop as a user would write it without agentrt: the ``openai`` SDK, asyncio,
and pytest in a subprocess — a peer for ``benchmarks/peers.py``.

Same prompt, extraction and retry rules as ``agentrt bench humaneval`` (README, "Prompt, extraction
and retry rules"; the words are copied here, not imported, so this process loads none of agentrt):
stream one completion, take the longest ```python block, write ``solution.py``, run
``python -B -m pytest -q --tb=short -p no:cacheprovider test_solution.py``, and on failure send back a
2,000-character excerpt (a quarter head, the rest tail) of pytest's output, at most ``--max-retries``
times. Every task runs at once (``--concurrency``, default 100). The test runs are NOT sandboxed (a
user's first version would not be), which makes this peer cheaper per test run than agentrt's.

    pip install 'agentrt[peers]'        # openai>=1.40
    python benchmarks/naive_stack.py --base-url http://127.0.0.1:PORT/v1 --tasks tasks.json

Prints one JSON line: passed, tasks, wall_s, first_attempt, recovered, errors.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from openai import AsyncOpenAI

SYSTEM = (
    "You are an expert Python programmer. You write correct, complete Python modules. "
    "Answer with the whole module in a single ```python code block."
)
TASK = """Complete the following Python module so that its tests pass.

```python
{spec}```

The tests are run with pytest from a file that does `from solution import *`:

```python
{test}```

Reply with the complete module — the given imports and helper functions included, \
the function implemented — in a single ```python code block."""
RETRY = """Your solution failed its tests ({outcome}). pytest output:

```
{excerpt}
```

Fix the solution. Reply with the complete corrected module in a single ```python code block."""
NO_CODE = """Your reply contained no Python code block, so nothing could be tested. \
Reply with the complete module in a single ```python code block."""
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)


def extract(reply: str) -> str | None:
    """The longest python-labelled block, else the longest unlabelled one, else the longest of any."""
    blocks = [(m.group(2).lower(), m.group(3)) for m in FENCE.finditer(reply)]
    if not blocks:  # no fence: the whole reply, if it is Python
        try:
            ast.parse(reply)
        except SyntaxError:
            return None
        return reply if reply.strip() else None
    for wanted in (
        lambda label: label in ("python", "py", "python3"),
        lambda label: label == "",
        lambda _: True,
    ):
        chosen = [body for label, body in blocks if wanted(label)]
        if chosen:
            return max(chosen, key=len)
    return None


def excerpt(text: str, limit: int = 2000) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    head = limit // 4
    return text[:head] + f"\n[… {len(text) - limit} characters omitted …]\n" + text[-(limit - head) :]


async def pytest_run(workdir: Path, python: str, timeout_s: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        python, "-B", "-m", "pytest", "-q", "--tb=short", "-p", "no:cacheprovider", "test_solution.py",
        cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "timed out"
    return proc.returncode or 0, out.decode(errors="replace")


async def solve(
    client: AsyncOpenAI, model: str, task: dict[str, str], root: Path, args: argparse.Namespace
) -> str:
    """'first', 'recovered', 'failed' or 'error: …' for one task."""
    work = root / task["id"].replace("/", "_")
    work.mkdir()
    (work / "test_solution.py").write_text(task["test"])
    (work / "pytest.ini").write_text("[pytest]\n")
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK.format(**task)}]
    for attempt in range(1 + args.max_retries):
        try:
            stream = await client.chat.completions.create(model=model, messages=messages, stream=True)  # type: ignore[arg-type]
            reply = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        except Exception as exc:  # noqa: BLE001 - a user's loop records any API failure
            return f"error: {type(exc).__name__}: {exc}"
        messages.append({"role": "assistant", "content": reply})
        code = extract(reply)
        if code is None:
            messages.append({"role": "user", "content": NO_CODE})
            continue
        (work / "solution.py").write_text(code)
        status, output = await pytest_run(work, args.python, args.test_timeout)
        if status == 0:
            return "first" if attempt == 0 else "recovered"
        outcome = "the test run timed out" if status == -1 else f"pytest exit code {status}"
        messages.append({"role": "user", "content": RETRY.format(outcome=outcome, excerpt=excerpt(output))})
    return "failed"


async def main(args: argparse.Namespace) -> dict[str, object]:
    tasks = json.loads(Path(args.tasks).read_text())[: args.limit]
    for task in tasks:
        task["spec"] = task["spec"] if task["spec"].endswith("\n") else task["spec"] + "\n"
        task["test"] = task["test"] if task["test"].endswith("\n") else task["test"] + "\n"
    client = AsyncOpenAI(base_url=args.base_url, api_key="unused", max_retries=2, timeout=600)
    gate = asyncio.Semaphore(args.concurrency)
    root = Path(tempfile.mkdtemp(prefix="naive-stack-"))

    async def one(task: dict[str, str]) -> str:
        async with gate:
            return await solve(client, args.model, task, root, args)

    started = time.perf_counter()
    try:
        outcomes = await asyncio.gather(*(one(t) for t in tasks))
    finally:
        await client.close()
        shutil.rmtree(root, ignore_errors=True)
    wall = time.perf_counter() - started
    errors = [o for o in outcomes if o.startswith("error")]
    return {
        "tasks": len(tasks), "passed": sum(o in ("first", "recovered") for o in outcomes),
        "first_attempt": outcomes.count("first"), "recovered": outcomes.count("recovered"),
        "errors": len(errors), "first_error": errors[0] if errors else None, "wall_s": round(wall, 3),
    }  # fmt: skip


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", default="agentrt-sim")
    p.add_argument(
        "--tasks", required=True, help="tasks JSON ([{id, spec, test}], `agentrt bench humaneval --export`)"
    )
    p.add_argument("--limit", type=int)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--max-retries", type=int, default=3)
    p.add_argument("--test-timeout", type=float, default=60.0)
    p.add_argument("--python", default=sys.executable, help="the interpreter that runs pytest")
    return p.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args()))))
