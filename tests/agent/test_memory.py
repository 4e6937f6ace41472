"""Memory across sessions (``agentrt.agent.memory``): save, retrieve, the bounded block, cite-to-keep,
decay and pruning (an injected clock), secret refusal, repositories kept apart, FTS5 query escaping."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentrt.agent import memory as mem
from agentrt.agent.instructions import is_context_message
from agentrt.agent.memory import (
    BLOCK_COUNT,
    BLOCK_TOKENS,
    DB_NAME,
    HALF_LIFE_DAYS,
    Memories,
    MemoryStore,
    citations,
    fts_query,
    memory_block,
    secret_in,
)
from agentrt.events import ItemIds
from agentrt.messages import ToolCall
from agentrt.tools.registry import ToolContext, ToolRegistry

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_000_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float) -> None:
        self.now += days * DAY


def repo(path: Path) -> Path:
    (path / ".git").mkdir(parents=True)
    (path / "src").mkdir()
    return path


NOTES = [
    ("Run the test suite with `python -m pytest -q` from the repository root.", ["tests"]),
    ("The configuration loader lives in src/agentrt/config/load.py; keys are listed in schema.py.", []),
    ("Releases are tagged vX.Y.Z and built by the release workflow.", ["release"]),
    ("The database migrations run with `alembic upgrade head`.", ["database"]),
    ("Frontend assets are built with npm run build inside web/.", ["frontend"]),
]


def filled(home: Path, cwd: Path, clock: Clock | None = None) -> Memories:
    memories = Memories(home, cwd, {}, clock=clock or Clock())
    for text, tags in NOTES:
        memories.remember(text, tags)
    return memories


def test_save_then_retrieve_by_relevance(tmp_path: Path) -> None:
    work, clock = repo(tmp_path / "work"), Clock()
    memories = filled(tmp_path / "home", work, clock)
    assert (tmp_path / "home" / DB_NAME).is_file()
    found = memories.relevant("How do I run the tests?")
    assert found and found[0].text.startswith("Run the test suite")
    assert memories.relevant("where is the config loader")[0].text.startswith("The configuration loader")
    assert memories.relevant("upgrade the database schema")[0].tags == ("database",)
    assert memories.relevant("tagged releases")[0].tags == ("release",)  # stemmed: tagged ~ tag
    assert memories.relevant("the of and") == []  # nothing to search for: nothing offered
    # a new session in the same repository, another directory inside it, finds them too
    again = Memories(tmp_path / "home", work / "src", {}, clock=clock)
    assert [m.text for m in again.relevant("npm build frontend")] == [NOTES[4][0]]


def test_the_same_text_twice_is_one_memory(tmp_path: Path) -> None:
    clock = Clock()
    memories = Memories(tmp_path / "home", repo(tmp_path / "w"), {}, clock=clock)
    first = memories.remember("Use ruff for lint.", ["lint"])
    clock.advance(3)
    second = memories.remember("  Use ruff for lint.\n", ["style"])
    assert second.id == first.id and second.tags == ("lint", "style") and second.last_used == clock.now
    store = memories.store()
    assert store is not None and store.count() == 1


def test_the_opening_block_is_bounded_marked_and_carries_ids(tmp_path: Path) -> None:
    memories = Memories(tmp_path / "home", repo(tmp_path / "w"), {})
    saved = [memories.remember(f"Fact {i} about the parser: {'detail ' * (10 + i * 15)}") for i in range(12)]
    block = memories.opening_block("tell me about the parser")
    assert block is not None
    assert block.startswith("<memories>\n") and block.endswith("\n</memories>")
    assert is_context_message({"role": "user", "content": block})
    entries = [line for line in block.splitlines() if line.startswith("[mem:")]
    assert 1 <= len(entries) <= BLOCK_COUNT
    assert sum(len(e) for e in entries) <= BLOCK_TOKENS * 4
    ids = citations(block)
    assert set(ids) <= {m.id for m in saved} and len(ids) == len(entries)
    assert memories.offered == tuple(ids)
    assert "[mem:ID]" in block  # the model is told how to cite
    assert memories.opening_block("tell me about the parser") is None  # once per session


def test_block_limits_count_and_tokens() -> None:
    def m(i: int, text: str) -> mem.Memory:
        return mem.Memory(i, "/r", text, (), 0.0, 0.0, 0)

    many = [m(i, f"short note {i}") for i in range(20)]
    assert len(citations(memory_block(many) or "")) == BLOCK_COUNT
    huge = [m(1, "x" * (BLOCK_TOKENS * 4 + 10)), m(2, "fits")]
    assert citations(memory_block(huge) or "") == [2]  # the one that does not fit is skipped
    assert memory_block([huge[0]]) is None
    assert memory_block([]) is None


def test_resumed_session_and_missing_store_offer_nothing(tmp_path: Path) -> None:
    work = repo(tmp_path / "w")
    filled(tmp_path / "home", work)
    assert Memories(tmp_path / "home", work, {}, resumed=True).opening_block("run the tests") is None
    empty = Memories(tmp_path / "empty", work, {})
    assert empty.opening_block("run the tests") is None
    assert not (tmp_path / "empty").exists()  # no store is created to find nothing


def test_no_store_means_no_sqlite_import(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from agentrt.agent.memory import Memories; "
        f"m = Memories(Path({str(tmp_path / 'home')!r}), Path({str(tmp_path)!r}), {{}}); "
        "assert m.opening_block('run the tests') is None; m.end_turn('see [mem:1]'); "
        "print('sqlite3' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_cite_to_keep_and_decay_and_prune(tmp_path: Path) -> None:
    clock = Clock()
    home, work = tmp_path / "home", repo(tmp_path / "w")
    memories = Memories(home, work, {}, clock=clock)
    kept = memories.remember("The CI runs on the nightly image.", ["ci"])
    dropped = memories.remember("The old CI ran on the weekly image.", ["ci"])
    assert kept.freshness(clock.now) == 1.0
    clock.advance(HALF_LIFE_DAYS)
    store = memories.store()
    assert store is not None
    assert store.get(dropped.id).freshness(clock.now) == pytest.approx(0.5)  # type: ignore[union-attr]
    clock.advance(100 - HALF_LIFE_DAYS)  # day 100: both faded, one is cited
    assert memories.end_turn(f"Used [mem:{kept.id}] and [mem:{kept.id}] and [mem:99999].") == [kept.id]
    cited = store.get(kept.id)
    assert cited is not None and cited.uses == 1 and cited.last_used == clock.now
    assert cited.freshness(clock.now) == 1.0
    faded = store.get(dropped.id)
    assert faded is not None and faded.freshness(clock.now) < 0.15 and faded.uses == 0
    # a citation also makes it decay slower: one use doubles the half-life
    assert mem.freshness(HALF_LIFE_DAYS * DAY, 1) == pytest.approx(2**-0.5)
    clock.advance(21)  # day 121: the uncited one is past 4 half-lives
    assert store.prune() == 1
    assert store.get(dropped.id) is None and store.get(kept.id) is not None
    # and the cited one goes too once unused for its longer time: 4 half-lives of 2 x 30 days after day 100
    clock.advance(100 + 8 * HALF_LIFE_DAYS - 121 - 1)
    assert store.prune() == 0
    clock.advance(2)
    assert store.prune() == 1 and store.count() == 0


def test_prune_runs_on_open_at_most_daily(tmp_path: Path) -> None:
    clock = Clock()
    home, work = tmp_path / "home", repo(tmp_path / "w")
    Memories(home, work, {}, clock=clock).remember("An old note about the build.")
    clock.advance(4 * HALF_LIFE_DAYS + 1)
    reopened = MemoryStore.at(home, clock=clock)  # opening prunes (last prune was a day+ ago)
    assert reopened.count() == 0
    reopened.add(mem.scope_for(work), "Another note.")
    clock.advance(4 * HALF_LIFE_DAYS + 1)
    assert MemoryStore.at(home, clock=clock).count() == 0
    reopened.add(mem.scope_for(work), "A third note.")
    clock.advance(0.5)
    assert MemoryStore.at(home, clock=clock).prune_if_due() == 0  # pruned less than a day ago


def test_fresher_memory_wins_a_tie(tmp_path: Path) -> None:
    clock = Clock()
    memories = Memories(tmp_path / "home", repo(tmp_path / "w"), {}, clock=clock)
    old = memories.remember("Deploys go through the staging cluster first.")
    clock.advance(60)
    new = memories.remember("Deploys go through the staging cluster first!")  # same terms, fresher
    assert [m.id for m in memories.relevant("staging deploys")] == [new.id, old.id]
    memories.end_turn(f"[mem:{old.id}]")
    assert [m.id for m in memories.relevant("staging deploys")] == [old.id, new.id]


AWS = "AKIA" + "IOSFODNN7EXAMPLE"
SECRETS = [
    (f"The deploy key is {AWS}", "AWS"),
    ("Use token ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 for the API", "GitHub"),
    ("github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "GitHub"),
    ("OpenAI: sk-" + "proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv", "OpenAI"),
    ("Slack bot xoxb-" + "123456789012-abcdefghijkl", "Slack"),
    ("-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "private key"),
    (
        "session: eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
        "JSON Web Token",
    ),
    ("set DB_PASSWORD=Tr0ub4dor3xyz in .env", "DB_PASSWORD"),
    ('config["api_key"] = "a8f5f167f44f4964e6c998dee827110c"', "api_key"),
    ("the staging value is s3cr3t-value-from-env", "MY_SERVICE_TOKEN"),
]


@pytest.mark.parametrize(("text", "kind"), SECRETS)
def test_secrets_are_refused_with_a_note_and_never_stored(tmp_path: Path, text: str, kind: str) -> None:
    env = {"MY_SERVICE_TOKEN": "s3cr3t-value-from-env", "HOME": "/root"}
    memories = Memories(tmp_path / "home", repo(tmp_path / "w"), env)
    ctx = ToolContext(tmp_path, lambda event: None, ItemIds())
    registry = ToolRegistry([memories.tool])
    call = ToolCall("c1", "remember", json.dumps({"text": text, "tags": ["ops"]}))
    out = asyncio.run(registry.dispatch(call, ctx))
    assert out.startswith("Not saved: the text holds what looks like a secret")
    assert kind in out
    assert text not in out and "Tr0ub4dor3xyz" not in out  # the note never repeats the secret
    assert not (tmp_path / "home" / DB_NAME).exists()
    # a store that exists is not written either
    memories.remember("A harmless note.")
    assert asyncio.run(registry.dispatch(call, ctx)).startswith("Not saved")
    store = memories.store()
    assert store is not None and [m.text for m in store.entries()] == ["A harmless note."]


def test_ordinary_text_is_not_taken_for_a_secret() -> None:
    for text in [
        "max_tokens = 4096 and TOKEN_LIMIT=128000",
        "api_key = os.environ['OPENAI_API_KEY']",
        "The key binding is ctrl-k; the monkey test is flaky.",
        "Run `sk-learn` style scripts with python -m tools.fit",
        "KEY_PATH=/etc/ssl/private",
    ]:
        assert secret_in(text, {"PATH": "/usr/bin", "SHORT_KEY": "abc"}) is None, text


def test_tool_result_and_bad_arguments(tmp_path: Path) -> None:
    memories = Memories(tmp_path / "home", repo(tmp_path / "w"), {})
    ctx = ToolContext(tmp_path, lambda event: None, ItemIds())
    registry = ToolRegistry([memories.tool])

    def call(args: object) -> str:
        return asyncio.run(registry.dispatch(ToolCall("c", "remember", json.dumps(args)), ctx))

    assert call({"text": "Lint with ruff.", "tags": ["Lint"]}) == "Saved as [mem:1]."
    assert "invalid arguments" in call({"text": "x", "tags": ["two words"]})
    assert "invalid arguments" in call({"text": "x", "tags": [f"t{i}" for i in range(9)]})
    assert "missing required argument" in call({"tags": ["a"]})
    assert call({"text": "   "}) == "Not saved: the text is empty."
    assert "at most 2000" in call({"text": "y" * 2001})
    store = memories.store()
    assert store is not None and [m.tags for m in store.entries()] == [("lint",)]


def test_two_repositories_are_kept_apart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a, b = repo(tmp_path / "a"), repo(tmp_path / "b")
    in_a = Memories(home, a, {})
    in_b = Memories(home, b / "src", {})
    note_a = in_a.remember("Run the tests with make test.", ["tests"])
    note_b = in_b.remember("Run the tests with cargo test.", ["tests"])
    assert [m.id for m in in_a.relevant("run the tests")] == [note_a.id]
    assert [m.id for m in in_b.relevant("run the tests")] == [note_b.id]
    block = in_b.opening_block("make test")  # a's memory is never offered in b
    assert block is not None and citations(block) == [note_b.id] and "make test" not in block
    assert in_b.end_turn(f"[mem:{note_a.id}]") == []  # nor kept fresh by b's answers
    store = in_a.store()
    assert store is not None
    assert [m.id for m in store.entries(mem.scope_for(a))] == [note_a.id]
    assert not store.forget(note_a.id, mem.scope_for(b)) and store.get(note_a.id) is not None
    assert store.clear(mem.scope_for(b)) == 1 and store.count() == 1
    # a directory outside any repository is its own scope
    loose = tmp_path / "loose"
    loose.mkdir()
    assert mem.scope_for(loose) == str(loose.resolve()) and mem.scope_for(a / "src") == str(a.resolve())


ODD = [
    'he said "hi"',
    '"unterminated',
    "NEAR(a b, 3)",
    "a AND OR NOT b",
    "col:term ^start *",
    "(((",
    "-- DROP TABLE memories; --",
    "naïve café 東京 🙂",
    "'single' `back` {brace} [bracket] +plus -minus",
    "",
]


@pytest.mark.parametrize("prompt", ODD)
def test_odd_prompts_are_plain_queries(tmp_path: Path, prompt: str) -> None:
    memories = filled(tmp_path / "home", repo(tmp_path / "w"))
    store = memories.store()
    assert store is not None
    store.search(memories.scope, prompt)  # never an FTS5 syntax error
    query = fts_query(prompt)
    assert query is None or all(part.startswith('"') and part.endswith('"') for part in query.split(" OR "))


def test_query_terms_drop_noise() -> None:
    assert mem.query_terms("How do I run THE tests, tests and x?") == ["run", "tests"]
    assert fts_query('grep "foo" AND bar* -- foo') == '"grep" OR "foo" OR "bar"'
    assert fts_query("what is it") is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(prompt="__")  # once a query term SQLite's tokenizer has no word for
@given(st.one_of(st.text(max_size=200), st.text(st.characters(max_codepoint=127), max_size=200)))
def test_fuzzed_prompts_never_break_the_query(tmp_path: Path, prompt: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61')")
    db.execute("INSERT INTO t(text) VALUES ('run the tests'), (?)", (prompt,))
    query = fts_query(prompt)
    if query is None:
        return
    rows = db.execute("SELECT rowid FROM t WHERE t MATCH ?", (query,)).fetchall()
    assert len(query.split(" OR ")) <= mem.MAX_QUERY_TERMS
    # an ASCII prompt finds the memory that is the prompt itself (beyond ASCII, SQLite's idea of a word
    # character is not Python's: an unassigned code point is one to SQLite only; no error either way)
    if prompt.isascii():
        assert (2,) in rows


def test_citations_are_parsed_once_in_order() -> None:
    assert citations("see [mem:3], [mem:12] and [mem:3]; not [mem:x] or mem:4") == [3, 12]


def test_semantic_retrieval_falls_back_to_lexical_without_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mem.Embedder, "MODEL_PACKAGE", "agentrt_no_such_package")
    err = io.StringIO()
    memories = Memories(tmp_path / "home", repo(tmp_path / "w"), {}, retrieval="semantic", stderr=err)
    memories.remember("Run the tests with make test.")
    assert [m.text for m in memories.relevant("run tests")] == ["Run the tests with make test."]
    assert "pip install 'agentrt[memory]'" in err.getvalue() and "lexical" in err.getvalue()
    assert memories.retrieval == "lexical"


def test_semantic_retrieval_finds_paraphrases(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    memories = Memories(tmp_path / "home", repo(tmp_path / "w"), {}, retrieval="semantic")
    for text, tags in NOTES:
        memories.remember(text, tags)
    assert memories.embedder() is not None
    # no word in common with the memory it should find
    assert memories.relevant("where are settings read")[0].text == NOTES[1][0]
    assert memories.relevant("apply schema changes to the db")[0].tags == ("database",)
    assert memories.relevant("ship a new version")[0].tags == ("release",)
    assert [m.text for m in memories.relevant("where are settings read")][:1] != [
        m.text for m in Memories(tmp_path / "home", tmp_path / "w", {}).relevant("where are settings read")
    ][:1]  # lexical finds nothing (or something else) here


def test_slash_memory_lists_this_repository_only(tmp_path: Path) -> None:
    clock = Clock()
    home, a, b = tmp_path / "home", repo(tmp_path / "a"), repo(tmp_path / "b")
    assert mem.listing(home, a, enabled=False, clock=clock) == [
        f"No memories of {a.resolve()}.",
        "The memories feature is off: --enable memories (or [features] memories = true).",
    ]
    assert not (home / DB_NAME).exists()
    Memories(home, a, {}, clock=clock).remember("Run the tests with make check.")
    Memories(home, b, {}, clock=clock).remember("Run the tests with cargo test.")
    clock.advance(2)
    header, row, hint = mem.listing(home, a / "src", enabled=True, clock=clock)
    assert header.split() == ["ID", "USED", "USES", "TEXT"]
    assert row.split()[:4] == ["1", "2d", "ago", "0"] and row.endswith("Run the tests with make check.")
    assert "agentrt memory" in hint


def test_retrieval_comes_from_config() -> None:
    class Raw:
        def __init__(self, raw: dict[str, object]) -> None:
            self.raw = raw

    assert mem.retrieval_of(Raw({})) == "lexical"  # type: ignore[arg-type]
    assert mem.retrieval_of(Raw({"memory_retrieval": "semantic"})) == "semantic"  # type: ignore[arg-type]
    assert mem.retrieval_of(Raw({"memory_retrieval": "psychic"})) == "lexical"  # type: ignore[arg-type]


class BagOfWords:
    """A stand-in embedder (no model): hashed word counts, L2-normalised; counts its texts."""

    dim = 384

    def __init__(self) -> None:
        self.embedded = 0

    def embed(self, texts: list[str], batch: int = 32) -> object:
        import numpy as np

        self.embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in mem.query_terms(text, 1000):
                out[row, sum(map(ord, word)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-9, None)


def test_semantic_search_backfills_a_bounded_number_and_fills_with_lexical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("numpy")
    clock = Clock()
    home, work = tmp_path / "home", repo(tmp_path / "w")
    lexical = Memories(home, work, {}, clock=clock)  # saved without embeddings
    for i in range(mem.BACKFILL + 8):
        lexical.remember(f"Filler note number {i} about nothing.")
    target = lexical.remember("Deploys go through the staging cluster.")
    other = Memories(home, repo(tmp_path / "other"), {}, clock=clock)
    other.remember("Deploys go through the staging cluster.")  # another repository's twin
    fake = BagOfWords()
    semantic = Memories(home, work, {}, retrieval="semantic", clock=clock)
    monkeypatch.setattr(semantic, "embedder", lambda: fake)
    found = semantic.relevant("staging cluster deploys")
    assert found[0].id == target.id  # the newest, embedded in the first backfill
    assert fake.embedded == mem.BACKFILL + 1  # the backfill (bounded) and the query
    store = semantic.store()
    assert store is not None
    unembedded = "SELECT count(*) FROM memories WHERE vec IS NULL AND scope = ?"
    assert store.db.execute(unembedded, (semantic.scope,)).fetchone()[0] == 8 + 1
    assert store.db.execute(unembedded, (other.scope,)).fetchone()[0] == 1  # never another repository's
    (blob,) = store.db.execute("SELECT vec FROM memories WHERE id = ?", (target.id,)).fetchone()
    assert len(blob) == 384  # int8
    # an embedded memory that matches nothing semantically is still found by its words
    store.db.execute("UPDATE memories SET vec = zeroblob(384) WHERE id = 1")
    assert [m.id for m in semantic.relevant("filler note number 0")][:1] != []
    # a new memory saved under semantic retrieval is embedded as it is saved
    saved = semantic.remember("Benchmarks print their command first.")
    assert store.db.execute("SELECT vec IS NOT NULL FROM memories WHERE id = ?", (saved.id,)).fetchone() == (
        1,
    )


def test_pack_keeps_cosine() -> None:
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=384), rng.normal(size=384)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    qa = np.frombuffer(mem.pack(a), dtype=np.int8).astype(np.float32)
    assert len(mem.pack(a)) == 384
    assert float(qa @ b) / 127 == pytest.approx(float(a @ b), abs=0.01)


def test_memory_retrieval_is_a_checked_config_key(tmp_path: Path) -> None:
    from agentrt.config import ConfigError, load_config

    (tmp_path / "config.toml").write_text('memory_retrieval = "semantic"\n')
    config = load_config(tmp_path, env={})
    assert config.raw["memory_retrieval"] == "semantic" and config.unknown_keys == ()
    (tmp_path / "config.toml").write_text('memory_retrieval = "psychic"\n')
    with pytest.raises(ConfigError, match="memory_retrieval"):
        load_config(tmp_path, env={})
