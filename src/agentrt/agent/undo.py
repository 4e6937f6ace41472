"""Undo (feature ``undo``): a snapshot of the working tree around each turn, and turning back to it.

**Snapshots.** Before a turn that may change files and again when it ends (also when it fails or is
cancelled) the repository's working tree is written as a git commit that is on no branch: git
plumbing only, against a *temporary* index file (``GIT_INDEX_FILE`` in the git processes' own
environment), seeded from a copy of the user's index so that only changed files are hashed. Tracked
and untracked files are taken, ignored ones are not (``.gitignore``), and an untracked file over
``MAX_FILE_BYTES`` is skipped and named in a note. No ref, the user's index and the user's stash are
never touched; the commits are unreachable objects, so ``git gc`` prunes them after its grace
period (two weeks by default), as it does Codex's ghost snapshots.

**Records.** Each turn's pair is one rollout line, written when the turn ends::

    {"type": "event_msg", "payload": {"type": "undo_snapshot", "turn": 3, "before": SHA, "after": SHA,
     "files": 12, "prompt": "first line of the prompt", "root": "/abs/repo",
     "ended_at": "2026-01-02T03:04:05Z", "skipped": [...]}}

and each undo done is one more::

    {"type": "event_msg", "payload": {"type": "undo_done", "snapshots": [SHA, ...], "turns": [3],
     "files": 12}}

(``snapshots`` are the ``before`` ids undone.) The turns that can be undone are the recorded ones not
yet undone, in order, so a second undo goes one turn further back. A turn whose process was killed
before it ended has no record and cannot be undone. Codex and older agentrt readers skip these lines.

**Undo.** Undoing the last N turns makes every path those turns changed (``git diff-tree`` between
each turn's two snapshots, renames as a deletion plus an addition) what it was before the oldest of
them: files the turns changed or deleted are written back, files they created are removed (with the
directories that held only them); every other path, untracked files that were there before and
ignored files included, is left alone. It refuses, changing nothing, when the tree now differs from
a turn's after-snapshot in a path that turn touched (the user changed it since), naming the paths.
The model is told on its next request: ``note`` of the result is a user-role message.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from agentrt.agent.rollout import RolloutWriter

SNAPSHOT = "undo_snapshot"
"""The ``event_msg`` payload type of a turn's snapshot pair."""
UNDONE = "undo_done"
"""The ``event_msg`` payload type of an undo done."""
MAX_FILE_BYTES = 10 * 1024 * 1024
"""Untracked files larger than this are left out of snapshots (and so never restored or removed)."""
GIT_TIMEOUT_S = 120.0
_SHOWN = 20
"""Paths named in a note or refusal before "and N more"."""
_GITLINK = "160000"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "agentrt",
    "GIT_AUTHOR_EMAIL": "agentrt@localhost",
    "GIT_COMMITTER_NAME": "agentrt",
    "GIT_COMMITTER_EMAIL": "agentrt@localhost",
}

Entry = tuple[str, str]
"""A path's (mode, object id) in a tree."""


class UndoError(Exception):
    """Undo cannot be done (no repository, nothing to undo, a snapshot gone): one line for the user."""


class UndoRefused(UndoError):
    """The user changed files the turns touched since they ended; nothing was changed."""

    def __init__(self, message: str, paths: Sequence[str]) -> None:
        super().__init__(message)
        self.paths = tuple(paths)


@dataclass(frozen=True)
class Snapshot:
    """One snapshot: its commit (``""`` when only the tree was written), tree, and the files left out."""

    commit: str
    tree: str
    skipped: tuple[str, ...] = ()


class Repo:
    """A repository's work tree, read and restored with git plumbing."""

    def __init__(self, root: Path, gitdir: Path) -> None:
        self.root, self.gitdir = root, gitdir

    @classmethod
    def find(cls, cwd: Path) -> Repo:
        """The repository holding ``cwd``; ``UndoError`` saying why there is none."""
        try:
            done = subprocess.run(
                ["git", "rev-parse", "--show-toplevel", "--absolute-git-dir"],
                cwd=cwd, env=_env(), capture_output=True, timeout=GIT_TIMEOUT_S, check=False,
            )  # fmt: skip
        except FileNotFoundError:
            raise UndoError("git is not installed") from None
        except OSError as exc:
            raise UndoError(f"cannot run git in {cwd}: {exc.strerror or exc}") from None
        lines = done.stdout.decode("utf-8", "surrogateescape").splitlines()
        if done.returncode != 0 or len(lines) != 2:
            raise UndoError(f"{cwd} is not inside a git work tree")
        return cls(Path(lines[0]), Path(lines[1]))

    def git(self, *args: str, index: Path | None = None, stdin: bytes | None = None) -> bytes:
        """Run git in the work tree's root; its stdout. ``UndoError`` with git's message on failure."""
        try:
            done = subprocess.run(
                ["git", *args], cwd=self.root, env=_env(index), input=stdin, capture_output=True,
                timeout=GIT_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UndoError(f"git {args[0]} failed: {exc}") from None
        if done.returncode != 0:
            message = (
                " ".join(done.stderr.decode("utf-8", "replace").split()) or f"exit status {done.returncode}"
            )
            raise UndoError(f"git {args[0]} failed: {message}")
        return done.stdout

    def head(self) -> str | None:
        """The commit HEAD names; ``None`` before the first commit."""
        try:
            return self.git("rev-parse", "-q", "--verify", "HEAD^{commit}").decode().strip() or None
        except UndoError:
            return None

    def snapshot(self, message: str = "agentrt snapshot", *, commit: bool = True) -> Snapshot:
        """The work tree now as a tree (and a commit on no branch, parent HEAD, when ``commit``)."""
        head = self.head()
        with tempfile.TemporaryDirectory(prefix="agentrt-undo-") as tmp:
            index = Path(tmp) / "index"
            try:
                tree, skipped = self._write_tree(index, head, seeded=True)
            except UndoError:  # an index git cannot read as a copy (split index…): start from HEAD
                index.unlink(missing_ok=True)
                tree, skipped = self._write_tree(index, head, seeded=False)
        if not commit:
            return Snapshot("", tree, skipped)
        parents = ["-p", head] if head else []
        sha = self.git("commit-tree", "--no-gpg-sign", tree, *parents, "-m", message).decode().strip()
        return Snapshot(sha, tree, skipped)

    def _write_tree(self, index: Path, head: str | None, *, seeded: bool) -> tuple[str, tuple[str, ...]]:
        user_index = self.gitdir / "index"
        if seeded and user_index.is_file():
            # copy2 keeps the file's mtime, which git's racy-entry check compares each entry's with:
            # a fresh mtime would make a file rewritten at the same size in the same second look clean.
            shutil.copy2(user_index, index)
        elif head:
            self.git("read-tree", head, index=index)
        listed = self.git("ls-files", "-z", "--others", "--exclude-standard", index=index)
        skipped = tuple(sorted(p for p in _split(listed) if _too_big(self.root / p)))
        if skipped:
            specs = [":(top)", *(f":(top,exclude,literal){p}" for p in skipped)]
            stdin = b"".join(os.fsencode(s) + b"\0" for s in specs)
            self.git("add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul", index=index, stdin=stdin)
        else:
            self.git("add", "-A", "--", ":(top)", index=index)
        return self.git("write-tree", index=index).decode().strip(), skipped

    def changes(self, before: str, after: str) -> dict[str, tuple[Entry | None, Entry | None]]:
        """Every file path that differs between two trees or commits: (before, after) entries, ``None``
        where the path is absent. Submodule entries are left out (undo does not move submodules)."""
        out = self.git("diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", before, after)
        fields = _split(out)
        found: dict[str, tuple[Entry | None, Entry | None]] = {}
        for head, path in zip(fields[::2], fields[1::2], strict=False):
            old_mode, new_mode, old_id, new_id, _ = head.lstrip(":").split(" ")
            old = None if set(old_mode) == {"0"} else (old_mode, old_id)
            new = None if set(new_mode) == {"0"} else (new_mode, new_id)
            if _GITLINK not in (old_mode, new_mode):
                found[path] = (old, new)
        return found

    def entries(self, tree: str) -> dict[str, Entry]:
        """Every file of a tree: path → (mode, object id)."""
        found: dict[str, Entry] = {}
        for record in _split(self.git("ls-tree", "-r", "-z", "--full-tree", tree)):
            meta, _, path = record.partition("\t")
            mode, _, rest = meta.partition(" ")
            if mode != _GITLINK:
                found[path] = (mode, rest.rpartition(" ")[2])
        return found

    def has(self, *objects: str) -> bool:
        """Whether every object is still in the repository (``git gc`` prunes unreachable snapshots)."""
        stdin = "".join(f"{o}\n" for o in objects).encode()
        out = self.git("cat-file", "--batch-check", stdin=stdin).decode()
        return "missing" not in out

    def write(self, target: Mapping[str, Entry | None], now: Mapping[str, Entry]) -> None:
        """Make each path of ``target`` hold its entry (``None``: not exist). ``now`` is the work tree's
        state; paths already as wanted are not rewritten. Checked first, then files removed, then written."""
        remove = sorted(p for p, e in target.items() if e is None and p in now)
        write = {p: e for p, e in target.items() if e is not None and now.get(p) != e}
        self._check_writable(write, set(remove))
        for path in remove:
            try:
                os.unlink(self.root / path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise UndoError(f"cannot remove {path}: {exc.strerror or exc}") from None
        _prune_dirs(self.root, remove)
        if not write:
            return
        with tempfile.TemporaryDirectory(prefix="agentrt-undo-") as tmp:
            index = Path(tmp) / "index"
            info = b"".join(os.fsencode(f"{m} {oid}\t{p}") + b"\0" for p, (m, oid) in sorted(write.items()))
            self.git("update-index", "--add", "-z", "--index-info", index=index, stdin=info)
            self.git("checkout-index", "-f", "-a", index=index)

    def _check_writable(self, write: Mapping[str, Entry], removed: set[str]) -> None:
        """Refuse before anything changes when writing would delete something undo does not own: a
        directory with other files where a file goes, or a file where a directory goes."""
        blocked: list[str] = []
        for path in write:
            full = self.root / path
            if full.is_dir() and not full.is_symlink():
                inside = {
                    os.path.relpath(os.path.join(d, f), self.root)
                    for d, _, files in os.walk(full)
                    for f in files
                }
                if not inside <= removed:
                    blocked.append(f"{path} (now a directory)")
            parts = Path(path).parts
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                full_parent = self.root / parent
                if (full_parent.is_symlink() or full_parent.is_file()) and parent not in removed:
                    blocked.append(f"{path} ({parent} is now a file)")
                    break
        if blocked:
            raise UndoRefused(
                f"cannot restore {_listing(blocked)}: the user changed the tree there since", blocked
            )


def _env(index: Path | None = None) -> dict[str, str]:
    """The git processes' environment: ours, a fixed identity for the snapshot commits, no prompts,
    no optional locks, and ``GIT_INDEX_FILE`` only when a temporary index is given."""
    env = {k: v for k, v in os.environ.items() if k != "GIT_INDEX_FILE"}
    env |= _IDENTITY | {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    return env


def _split(out: bytes) -> list[str]:
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def _too_big(path: Path) -> bool:
    try:
        return path.lstat().st_size > MAX_FILE_BYTES
    except OSError:
        return False


def _prune_dirs(root: Path, removed: Iterable[str]) -> None:
    """Remove the directories that removing ``removed`` left empty, deepest first, never ``root``."""
    dirs = {parent for path in removed for parent in Path(path).parents if parent != Path(".")}
    for directory in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        try:
            os.rmdir(root / directory)
        except OSError:
            pass


def _listing(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


@dataclass(frozen=True)
class TurnRecord:
    """One turn that can be undone: its snapshots and what a listing shows of it."""

    turn: int
    before: str
    after: str
    root: str
    files: int
    prompt: str
    ended_at: str = ""
    """When the turn ended: UTC, ``YYYY-MM-DDThh:mm:ssZ``."""
    skipped: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        """The rollout line's payload."""
        return {
            "type": SNAPSHOT,
            "turn": self.turn,
            "before": self.before,
            "after": self.after,
            "root": self.root,
            "files": self.files,
            "prompt": self.prompt,
            "ended_at": self.ended_at,
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> TurnRecord | None:
        fields = (payload.get("before"), payload.get("after"), payload.get("root"))
        if not all(isinstance(f, str) and f for f in fields):
            return None
        turn, files, prompt = payload.get("turn"), payload.get("files"), payload.get("prompt")
        skipped, ended = payload.get("skipped"), payload.get("ended_at")
        return cls(
            turn=turn if isinstance(turn, int) else 0,
            before=str(fields[0]), after=str(fields[1]), root=str(fields[2]),
            files=files if isinstance(files, int) else 0,
            prompt=prompt if isinstance(prompt, str) else "",
            ended_at=ended if isinstance(ended, str) else "",
            skipped=tuple(str(s) for s in skipped) if isinstance(skipped, list) else (),
        )  # fmt: skip


def undoable(items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[TurnRecord]:
    """The turns a session's rollout items (``(type, payload)``) recorded and no undo has undone yet,
    oldest first."""
    records: list[TurnRecord] = []
    for kind, payload in items:
        if kind != "event_msg":
            continue
        if payload.get("type") == SNAPSHOT:
            record = TurnRecord.from_payload(payload)
            if record is not None:
                records.append(record)
        elif payload.get("type") == UNDONE and isinstance(payload.get("snapshots"), list):
            gone = set(payload["snapshots"])
            records = [r for r in records if r.before not in gone]
    return records


@dataclass(frozen=True)
class UndoResult:
    """What an undo did: the turns undone (newest first), the paths written back and removed."""

    turns: tuple[TurnRecord, ...]
    restored: tuple[str, ...]
    removed: tuple[str, ...]
    left: tuple[str, ...] = ()
    """Large files left out of the snapshots, so left as they are."""

    @property
    def files(self) -> int:
        return len(self.restored) + len(self.removed)

    def summary(self) -> str:
        """One line for the user."""
        which = _turns_text(self.turns)
        if not self.files:
            text = f"undid {which}: it changed no files"
        else:
            text = (
                f"undid {which}: {self.files} file{'s' * (self.files != 1)} back as before "
                f"({len(self.restored)} restored, {len(self.removed)} removed)"
            )
        if self.left:
            text += f"; left as they are (over {MAX_FILE_BYTES >> 20} MiB, not snapshotted): {_listing(self.left)}"
        return text

    def note(self) -> str:
        """The user-role message that tells the model on its next request."""
        lines = [
            f"<undo>The user undid {_turns_text(self.turns)} of this conversation: every file change "
            f"made during {'that turn' if len(self.turns) == 1 else 'those turns'} was reverted, so the "
            "working tree is as it was before it. Do not assume those changes exist; look again before "
            "relying on a file's content."
        ]
        if self.restored:
            lines.append(f"Restored to their earlier content: {_listing(self.restored)}")
        if self.removed:
            lines.append(f"Removed (created during the undone turns): {_listing(self.removed)}")
        if self.left:
            lines.append(f"Not reverted (too large to snapshot): {_listing(self.left)}")
        return "\n".join(lines) + "</undo>"

    def payload(self) -> dict[str, Any]:
        """The ``undo_done`` rollout payload."""
        return {
            "type": UNDONE,
            "snapshots": [r.before for r in self.turns],
            "turns": [r.turn for r in self.turns],
            "files": self.files,
        }


def _turns_text(turns: Sequence[TurnRecord]) -> str:
    numbers = sorted(r.turn for r in turns)
    if len(numbers) == 1:
        return f"turn {numbers[0]}"
    return f"turns {', '.join(map(str, numbers[:-1]))} and {numbers[-1]}"


def undo_turns(records: Sequence[TurnRecord], n: int = 1) -> UndoResult:
    """Undo the last ``n`` of ``records`` (oldest first, as ``undoable`` gives them) in the work tree.

    All or nothing: every check (the user changed nothing the turns touched since, the snapshots
    still exist, nothing undo does not own is in the way) is done before any file changes.
    ``UndoRefused`` / ``UndoError`` say why not.
    """
    if n < 1:
        raise ValueError(f"the number of turns to undo must be 1 or more, got {n}")
    if not records:
        raise UndoError(
            "no turn to undo in this session (turns are snapshotted while the undo feature is on: "
            "--enable undo, or [features] undo = true)"
        )
    if n > len(records):
        raise UndoError(
            f"cannot undo {n} turns: only {len(records)} turn{'s' * (len(records) != 1)} can be undone"
        )
    chosen = list(records[-n:])
    roots = {r.root for r in chosen}
    if len(roots) != 1:
        raise UndoError("the turns to undo were recorded in different repositories; undo them one at a time")
    root = Path(roots.pop())
    if not root.is_dir():
        raise UndoError(f"the repository the turns changed, {root}, is gone")
    repo = Repo.find(root)
    if not repo.has(*(sha for r in chosen for sha in (r.before, r.after))):
        raise UndoError("the snapshots of the turns to undo are gone from the repository (pruned by git gc?)")
    now = repo.entries(repo.snapshot(commit=False).tree)
    state: dict[str, Entry | None] = dict(now)
    touched: dict[str, Entry | None] = {}
    for record in reversed(chosen):
        changes = repo.changes(record.before, record.after)
        changed = sorted(p for p, (_, after) in changes.items() if state.get(p) != after)
        if changed:
            raise UndoRefused(
                f"cannot undo turn {record.turn}: {_listing(changed)} changed since that turn ended "
                "(undo would lose those changes); nothing was undone",
                changed,
            )
        for path, (before, _) in changes.items():
            state[path] = before
            touched[path] = before
    repo.write(touched, now)
    restored = tuple(sorted(p for p, e in touched.items() if e is not None and now.get(p) != e))
    removed = tuple(sorted(p for p, e in touched.items() if e is None and p in now))
    left = tuple(sorted({p for r in chosen for p in r.skipped}))
    return UndoResult(tuple(reversed(chosen)), restored, removed, left)


def first_line(prompt: str, limit: int = 200) -> str:
    """A prompt's first non-blank line, cut to ``limit`` characters."""
    line = next((s.strip() for s in prompt.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class _Pending:
    turn: int
    prompt: str
    before: Snapshot


@dataclass
class TurnSnapshots:
    """A session's undo state: snapshots around its turns, recorded in its rollout (or in memory when
    the session is not recorded), and ``undo`` for ``/undo``."""

    cwd: Path
    writer: RolloutWriter | None
    stderr: TextIO
    _repo: Repo | None = None
    _unavailable: bool = False
    _turns: int | None = None
    _memory: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _repository(self) -> Repo | None:
        if self._repo is None and not self._unavailable:
            try:
                self._repo = Repo.find(self.cwd)
            except UndoError as exc:
                self._unavailable = True
                self.stderr.write(f"agentrt: note: undo is unavailable: {exc}\n")
        return self._repo

    def _next_turn(self) -> int:
        if self._turns is None:
            from agentrt.agent.rollout import count_turns

            self._turns = count_turns(self.writer.path) if self.writer is not None else 0
        self._turns += 1
        return self._turns

    async def before_turn(self, prompt: str) -> _Pending | None:
        """Snapshot the tree before a turn; ``None`` (said once) when there is no repository."""
        turn = self._next_turn()
        repo = self._repository()
        if repo is None:
            return None
        try:
            snap = await asyncio.to_thread(repo.snapshot, f"agentrt: before turn {turn}")
        except (UndoError, OSError) as exc:
            self.stderr.write(f"agentrt: note: no undo snapshot for this turn: {exc}\n")
            return None
        return _Pending(turn, prompt, snap)

    async def after_turn(self, pending: _Pending) -> None:
        """Snapshot the tree after the turn and record the pair. Never raises: the turn's own outcome
        is what the caller reports."""
        assert self._repo is not None
        repo = self._repo
        try:
            after = await asyncio.to_thread(repo.snapshot, f"agentrt: after turn {pending.turn}")
            files = await asyncio.to_thread(repo.changes, pending.before.commit, after.commit)
        except (UndoError, OSError) as exc:
            self.stderr.write(f"agentrt: note: turn {pending.turn} cannot be undone: {exc}\n")
            return
        skipped = sorted(set(after.skipped) - set(pending.before.skipped))
        record = TurnRecord(
            turn=pending.turn, before=pending.before.commit, after=after.commit, root=str(repo.root),
            files=len(files), prompt=first_line(pending.prompt), skipped=tuple(skipped),
            ended_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )  # fmt: skip
        if skipped:
            self.stderr.write(
                f"agentrt: note: not snapshotted for undo (over {MAX_FILE_BYTES >> 20} MiB): {_listing(skipped)}\n"
            )
        self._record(record.payload())

    def _record(self, payload: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.append("event_msg", payload)
        else:
            self._memory.append(("event_msg", payload))

    def records(self) -> list[TurnRecord]:
        """The turns that can be undone now, oldest first (read from the rollout: an ``agentrt undo``
        run elsewhere counts)."""
        if self.writer is None:
            return undoable(self._memory)
        from agentrt.agent.rollout import read_rollout

        return undoable(read_rollout(self.writer.path).items)

    async def undo(self, n: int = 1) -> UndoResult:
        """Undo the last ``n`` turns and record it; the caller tells the model (``UndoResult.note``)."""
        records = self.records()
        result = await asyncio.to_thread(undo_turns, records, n)
        self._record(result.payload())
        return result
