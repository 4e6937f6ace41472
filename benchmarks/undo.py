"""Undo's cost on a large repository: snapshot and restore of a turn that touched 1,000 of 10,000 files.

Builds a git repository of ``--files`` committed files (default 10,000, about 1 KiB each, in 100
directories) plus untracked and ignored files in a temporary directory, then plays one turn the way
a session does (``agent.undo``): a snapshot before, ``--changed`` files changed (default 1,000: 60 %
edited, 20 % added — some in new directories —, 10 % deleted, 10 % renamed, one made executable),
a snapshot after, then the undo. It prints the time of each snapshot and of the restore, checks that
every file (content and executable bit) is byte-identical to before the turn, that the user's index
file is unchanged and that no ref was created; then one snapshot with no index file to seed from (the
worst case: every file hashed). The target (issue 12 §4): snapshot ≤ 1 s, restore ≤ 2 s.

    python benchmarks/undo.py                          # 10,000 files, 1,000 changed, best of 3
    python benchmarks/undo.py --files 50000 --changed 5000 --repeat 1
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentrt.agent.undo import Repo, TurnRecord, undo_turns

TARGET_SNAPSHOT_S = 1.0
TARGET_RESTORE_S = 2.0


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def build(root: Path, files: int, rng: random.Random) -> None:
    """``files`` committed files in 100 directories, 20 untracked files, an ignored build directory."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    git(root, "config", "user.name", "bench")
    git(root, "config", "user.email", "bench@localhost")
    for i in range(files):
        path = root / f"pkg{i % 100:02d}" / f"mod{i:05d}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"# module {i}\n" + "".join(f"VALUE_{k} = {rng.random()!r}\n" for k in range(40)))
    (root / ".gitignore").write_text("build/\n*.pyc\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    for i in range(20):
        (root / f"notes{i}.txt").write_text(f"untracked note {i}\n")
    (root / "build").mkdir()
    for i in range(50):
        (root / "build" / f"out{i}.o").write_bytes(os.urandom(512))
    git(root, "status", "--porcelain")  # refresh the user's index, as any git use would


def play_turn(root: Path, changed: int, rng: random.Random) -> dict[str, int]:
    """What a busy turn does: edits, new files (some in new directories), deletions, renames."""
    tracked = sorted(git(root, "ls-files", "-z").split("\0")[:-1])
    tracked = [p for p in tracked if p.endswith(".py")]
    chosen = rng.sample(tracked, (changed * 8) // 10)
    edits, deletes, renames = (
        chosen[: changed * 6 // 10],
        chosen[changed * 6 // 10 : changed * 7 // 10],
        chosen[changed * 7 // 10 :],
    )
    for path in edits:
        with open(root / path, "a", encoding="utf-8") as fh:
            fh.write("EDITED = True\n")
    for path in deletes:
        (root / path).unlink()
    for n, path in enumerate(renames):
        target = root / f"moved{n % 10}" / Path(path).name
        target.parent.mkdir(exist_ok=True)
        (root / path).rename(target)
    adds = changed - len(edits) - len(deletes) - len(renames)
    for n in range(adds):
        target = root / (f"new{n % 20}" if n % 2 else f"pkg{n % 100:02d}") / f"added{n}.py"
        target.parent.mkdir(exist_ok=True)
        target.write_text(f"ADDED = {n}\n")
    os.chmod(root / edits[0], 0o755)
    return {"edited": len(edits), "added": adds, "deleted": len(deletes), "renamed": len(renames)}


def tree_digest(root: Path) -> dict[str, tuple[str, bool]]:
    """Every file outside ``.git``: path → (sha256 of its bytes, executable?)."""
    found: dict[str, tuple[str, bool]] = {}
    for directory, dirs, files in os.walk(root):
        if directory == str(root):
            dirs.remove(".git")
        for name in files:
            full = os.path.join(directory, name)
            data = Path(full).read_bytes()
            found[os.path.relpath(full, root)] = (
                hashlib.sha256(data).hexdigest(),
                os.access(full, os.X_OK),
            )
    return found


def dirs_of(root: Path) -> set[str]:
    return {os.path.relpath(d, root) for d, _, _ in os.walk(root) if "/.git" not in d + "/"}


def run_once(files: int, changed: int, seed: int) -> tuple[float, float, float, int]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="agentrt-undo-bench-") as tmp:
        root = Path(tmp) / "repo"
        build(root, files, rng)
        expected, expected_dirs = tree_digest(root), dirs_of(root)
        index_before = (root / ".git" / "index").read_bytes()
        refs_before = git(root, "for-each-ref")
        repo = Repo.find(root)

        started = time.perf_counter()
        before = repo.snapshot("before")
        snap_before = time.perf_counter() - started

        play_turn(root, changed, rng)

        started = time.perf_counter()
        after = repo.snapshot("after")
        snap_after = time.perf_counter() - started
        touched = len(repo.changes(before.commit, after.commit))

        record = TurnRecord(1, before.commit, after.commit, str(repo.root), touched, "bench")
        started = time.perf_counter()
        result = undo_turns([record], 1)
        restore = time.perf_counter() - started

        problems = []
        got = tree_digest(root)
        if got != expected:
            wrong = sorted(p for p in set(got) | set(expected) if got.get(p) != expected.get(p))
            problems.append(f"{len(wrong)} files differ from before the turn, e.g. {wrong[:5]}")
        if dirs_of(root) != expected_dirs:
            problems.append(f"directories differ: {sorted(dirs_of(root) ^ expected_dirs)[:5]}")
        if (root / ".git" / "index").read_bytes() != index_before:
            problems.append("the user's index file changed")
        if git(root, "for-each-ref") != refs_before or git(root, "stash", "list"):
            problems.append("a ref or a stash entry was created")
        if result.files != touched:
            problems.append(f"undo reported {result.files} files, the turn touched {touched}")
        if problems:
            sys.exit("FAILED: " + "; ".join(problems))
        return snap_before, snap_after, restore, touched


def cold_snapshot(files: int) -> float:
    """The worst case: no index file to copy (``git read-tree HEAD``, so every file is hashed)."""
    with tempfile.TemporaryDirectory(prefix="agentrt-undo-bench-") as tmp:
        root = Path(tmp) / "repo"
        build(root, files, random.Random(0))
        (root / ".git" / "index").unlink()
        repo = Repo.find(root)
        started = time.perf_counter()
        repo.snapshot("cold")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000, help="committed files (default 10,000)")
    parser.add_argument("--changed", type=int, default=1_000, help="files the turn changes (default 1,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best and the worst are shown")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"undo: {args.files:,} files, a turn that changes {args.changed:,} of them; {args.repeat} runs")
    runs = []
    for n in range(args.repeat):
        snap_before, snap_after, restore, touched = run_once(args.files, args.changed, args.seed + n)
        runs.append((snap_before, snap_after, restore))
        print(
            f"run {n + 1}: snapshot before {snap_before:.3f} s, snapshot after {snap_after:.3f} s, "
            f"restore {restore:.3f} s ({touched:,} paths touched, tree byte-identical, index and refs untouched)"
        )
    print(f"snapshot with no index to start from (every file hashed): {cold_snapshot(args.files):.3f} s")
    worst_snap = max(max(r[0], r[1]) for r in runs)
    worst_restore = max(r[2] for r in runs)
    print(
        f"snapshot: best {min(min(r[0], r[1]) for r in runs):.3f} s, worst {worst_snap:.3f} s "
        f"(target <= {TARGET_SNAPSHOT_S:g} s)"
    )
    print(
        f"restore:  best {min(r[2] for r in runs):.3f} s, worst {worst_restore:.3f} s "
        f"(target <= {TARGET_RESTORE_S:g} s)"
    )
    ok = worst_snap <= TARGET_SNAPSHOT_S and worst_restore <= TARGET_RESTORE_S
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
