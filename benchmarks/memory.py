"""Memory (feature ``memories``): retrieval quality, retrieval latency over 10,000 memories, start-up cost.

1. **Quality.** A labelled set written for this benchmark — 30 memories a coding agent might save
   about one repository, 20 prompts each with the memory it should be offered — scored as recall@1
   and recall@3 (the expected memory is among the first 1 / 3 offered) for lexical retrieval (FTS5,
   BM25) and, when the ``[memory]`` extra is installed, semantic retrieval (all-MiniLM-L6-v2, int8
   ONNX). Half the prompts share words with their memory, half are paraphrases that share none.
2. **Latency.** The 30 memories plus synthetic ones up to ``--memories`` (default 10,000) in the
   same repository (the worst case: every memory is a candidate), then each of the 20 prompts
   retrieved ``--repeat`` times through the session's path (``Memories.relevant``: query, BM25,
   freshness weighting); mean, p50, p95, max per query. Target (issue 13): ≤ 20 ms.
3. **Start-up cost.** A fresh interpreter imports what ``agentrt exec`` imports, then does what a
   session with ``--enable memories`` adds before its first request (the tool, the opening block
   for the prompt): with no store file and with an empty store file. Resident set size before and
   after (``/proc/self/statm``), median of 5 processes. Target: ≤ 2 MiB.

    python benchmarks/memory.py                  # lexical; semantic too when the extra is installed
    python benchmarks/memory.py --memories 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentrt.agent.memory import Embedder, EmbedderUnavailable, Memories, MemoryStore, pack, scope_for

TARGET_MS = 20.0
TARGET_RSS_MIB = 2.0

MEMORIES = [
    "Run the test suite with `make check`; plain pytest misses the database fixtures.",  # 0
    "The configuration loader lives in src/app/config/load.py; every key is declared in schema.py.",
    "Database migrations are written with alembic; run `alembic upgrade head` after pulling.",
    "Releases are tagged vX.Y.Z on main and published to PyPI by the release workflow.",
    "Frontend assets are built with `npm run build` inside web/; the output goes to web/dist.",
    "Lint with `ruff check` and format with `ruff format`; CI fails on either.",  # 5
    "Type checking is mypy --strict over src/ only; tests are not type-checked.",
    "The HTTP client retries 3 times with exponential backoff; see src/app/net/retry.py.",
    "Logging goes through structlog; never call print in library code.",
    "Secrets come from the vault at start-up; locally they are read from .env (never committed).",
    "The docs site is built with mkdocs; `make docs` serves it on port 8000.",  # 10
    "Feature flags are read from flags.toml and can be overridden with APP_FLAG_* variables.",
    "The Docker image is built from docker/Dockerfile; the base image is python:3.11-slim.",
    "Benchmarks live in benchmarks/; results are recorded in benchmarks/results with the command.",
    "The CLI entry point is src/app/cli/main.py; each subcommand is one module with add_parser.",
    "Time zones: store timestamps in UTC; convert only in the presentation layer.",  # 15
    "The cache is Redis in production and an in-memory dict in tests (APP_CACHE=memory).",
    "Translations are gettext .po files under locale/; run `make messages` to extract strings.",
    "Large files in tests/data are stored with git LFS; run `git lfs pull` before the slow tests.",
    "The public API is versioned under /api/v2; v1 is frozen and only gets security fixes.",
    "Use pathlib, not os.path, in new code; the style guide in CONTRIBUTING.md says so.",  # 20
    "Windows is not supported: the sandbox needs Linux namespaces.",
    "The search index is rebuilt nightly by a cron job in ops/cron/reindex.sh.",
    "Payments go through Stripe's API in src/app/billing; test mode keys live in the vault.",
    "The GraphQL schema is generated: edit schema.graphql, then run `make codegen`.",
    "Memory leaks were found in the image resizer; it now runs in a subprocess per request.",  # 25
    "The onboarding email templates are Jinja2 files under templates/email/.",
    "Profiling: run with APP_PROFILE=1 to write a pstats file per request to /tmp/profiles.",
    "The staging deploy runs automatically on merge to main; production needs a manual approval.",
    "Rate limiting is 100 requests per minute per token, enforced in the API gateway.",
]

QUERIES = [  # (prompt, index of the memory it should be offered); the first 10 share words with it
    ("How do I run the tests?", 0),
    ("Add a new config key for the timeout", 1),
    ("Write a migration that adds a column", 2),
    ("Lint errors in CI, how do I fix the formatting?", 5),
    ("Add retry logic to the HTTP client", 7),
    ("Update the Dockerfile base image", 12),
    ("Add a new subcommand to the CLI", 14),
    ("The GraphQL schema needs a new field", 24),
    ("Where are the email templates?", 26),
    ("Why is the staging deploy not running?", 28),
    ("How do I ship a new version?", 3),  # paraphrases from here on: no word in common
    ("Where do I compile the javascript bundle?", 4),
    ("Is the code statically verified?", 6),
    ("Where should debugging output go instead of stdout?", 8),
    ("How do I switch an experimental option on?", 11),
    ("Dates look wrong for users in Europe", 15),
    ("Make the UI available in German", 17),
    ("Can this run on Windows?", 21),
    ("Find why the service is slow and uses CPU", 27),
    ("Clients get HTTP 429 errors", 29),
]

_VOCABULARY = (
    "parser lexer token buffer socket handler worker queue scheduler cache index table column row "
    "request response session cookie header payload schema model view template router middleware "
    "plugin adapter driver client server proxy gateway service daemon thread process signal timeout "
    "retry backoff logger metric trace span event stream batch chunk page cursor snapshot commit "
    "branch merge rebase release deploy build test fixture mock patch stub coverage benchmark profile "
    "memory disk network file path directory archive image video audio text json yaml toml csv xml"
)
_WORDS = _VOCABULARY.split()


def synthetic(n: int, rng: random.Random) -> list[str]:
    """``n`` notes of 8–30 words: common programming words and rarer made-up identifiers."""
    out = []
    for i in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 24))]
        words += [f"ident{rng.randrange(5000)}" for _ in range(rng.randint(2, 6))]
        rng.shuffle(words)
        out.append(f"Note {i}: " + " ".join(words) + ".")
    return out


def quality(retrieval: str, root: Path) -> tuple[float, float, list[str]]:
    memories = Memories(root / retrieval, root / "repo", {}, retrieval=retrieval)
    ids = [memories.remember(text).id for text in MEMORIES]
    hits1 = hits3 = 0
    misses = []
    for prompt, want in QUERIES:
        got = [m.id for m in memories.relevant(prompt, limit=3)]
        hits1 += got[:1] == [ids[want]]
        hits3 += ids[want] in got
        if ids[want] not in got:
            misses.append(prompt)
    memories.close()
    return hits1 / len(QUERIES), hits3 / len(QUERIES), misses


def latency(retrieval: str, root: Path, total: int, repeat: int) -> list[float]:
    home = root / f"lat-{retrieval}"
    home.mkdir()
    store = MemoryStore.at(home)
    scope = scope_for(root / "repo")
    texts = MEMORIES + synthetic(total - len(MEMORIES), random.Random(13))
    vecs: list[bytes | None] = [None] * len(texts)
    if retrieval == "semantic":
        embedder = Embedder()
        start = time.perf_counter()
        matrix = embedder.embed(texts, batch=64)
        print(f"  (embedded {len(texts):,} memories in {time.perf_counter() - start:.1f} s)")
        vecs = [pack(row) for row in matrix]
    store.db.execute("BEGIN")
    for text, vec in zip(texts, vecs, strict=True):
        store.add(scope, text, (), vec)
    store.db.execute("COMMIT")
    store.close()
    memories = Memories(home, root / "repo", {}, retrieval=retrieval)
    memories.relevant("warm up the cache")
    times = []
    for _ in range(repeat):
        for prompt, _want in QUERIES:
            start = time.perf_counter()
            memories.relevant(prompt)
            times.append((time.perf_counter() - start) * 1000)
    memories.close()
    return times


STARTUP = r"""
import sys
from pathlib import Path

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1048576

import agentrt.agent.session, agentrt.cli.agent, agentrt.model.factory, agentrt.tools.coding  # exec's imports
home, cwd = Path(sys.argv[1]), Path(sys.argv[2])
import gc; gc.collect()
before = rss()
from agentrt.agent.memory import Memories
memories = Memories(home, cwd, {})
memories.tool.spec()
block = memories.opening_block("Find out how to run the tests of this repository")
memories.end_turn("Done.")
assert block is None
print(rss() - before, "sqlite3" in sys.modules)
"""


def startup(root: Path, with_file: bool) -> tuple[float, bool]:
    """As installed: modules load from cached bytecode (a private pycache, written by a first run that
    is not counted; this machine sets PYTHONDONTWRITEBYTECODE, which would make every import compile)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    runs = []
    loaded = False
    for i in range(6):
        home = root / f"start-{int(with_file)}-{i}"
        home.mkdir()
        if with_file:
            MemoryStore.at(home).close()
        done = subprocess.run(
            [sys.executable, "-c", STARTUP, str(home), str(root / "repo")],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        delta, imported = done.stdout.split()
        if i > 0:
            runs.append(float(delta))
        loaded = imported == "True"
    return statistics.median(runs), loaded


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    try:
        Embedder()
        retrievals = ["lexical", "semantic"]
    except EmbedderUnavailable as exc:
        print(f"semantic retrieval not measured: {exc}")
        retrievals = ["lexical"]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "repo" / ".git").mkdir(parents=True)
        print(
            f"quality: {len(MEMORIES)} memories, {len(QUERIES)} labelled prompts (10 share words, 10 paraphrase)"
        )
        for retrieval in retrievals:
            r1, r3, misses = quality(retrieval, root)
            print(f"  {retrieval:<8} recall@1 {r1:.2f}  recall@3 {r3:.2f}  missed@3: {len(misses)}")
            for prompt in misses:
                print(f"           - {prompt}")
        print(
            f"latency: {args.memories:,} memories in one repository, {len(QUERIES)} prompts x {args.repeat}"
        )
        for retrieval in retrievals:
            t = sorted(latency(retrieval, root, args.memories, args.repeat))
            p95 = t[int(len(t) * 0.95) - 1]
            print(
                f"  {retrieval:<8} mean {statistics.fmean(t):.2f} ms  p50 {statistics.median(t):.2f} ms  "
                f"p95 {p95:.2f} ms  max {t[-1]:.2f} ms  (target <= {TARGET_MS:g} ms)"
            )
            ok &= retrieval != "lexical" or p95 <= TARGET_MS
        print(
            "start-up cost (memories on, first prompt, RSS after - before, median of 5 processes, bytecode cached)"
        )
        for with_file in (False, True):
            delta, loaded = startup(root, with_file)
            what = "empty store file" if with_file else "no store file   "
            print(
                f"  {what} +{delta:.2f} MiB  (sqlite3 imported: {loaded}; target <= {TARGET_RSS_MIB:g} MiB)"
            )
            ok &= delta <= TARGET_RSS_MIB
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
