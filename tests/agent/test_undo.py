"""Undo (``agent.undo``): real git repositories, a turn played on them, snapshots and restores."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentrt.agent import undo as undo_module
from agentrt.agent.rollout import RolloutWriter, history_from_rollout, read_rollout
from agentrt.agent.undo import (
    Repo,
    TurnRecord,
    TurnSnapshots,
    UndoError,
    UndoRefused,
    undo_turns,
    undoable,
)


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def tree(root: Path) -> dict[str, tuple[str, str]]:
    """Every path outside ``.git``: file → (sha256 or link target, mode kind), directory → ("dir", "")."""
    found: dict[str, tuple[str, str]] = {}
    for directory, dirs, files in os.walk(root):
        if directory == str(root):
            dirs.remove(".git")
        for name in dirs:
            full = os.path.join(directory, name)
            if os.path.islink(full):
                found[os.path.relpath(full, root)] = (os.readlink(full), "link")
            else:
                found[os.path.relpath(full, root)] = ("dir", "")
        for name in files:
            full = os.path.join(directory, name)
            if os.path.islink(full):
                found[os.path.relpath(full, root)] = (os.readlink(full), "link")
                continue
            kind = "exec" if os.access(full, os.X_OK) else "file"
            found[os.path.relpath(full, root)] = (hashlib.sha256(Path(full).read_bytes()).hexdigest(), kind)
    return found


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("def main():\n    return 1\n")
    (root / "src" / "util.py").write_text("X = 1\n")
    (root / "README.md").write_text("# project\n")
    (root / "old name.txt").write_text("renamed by the turn\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / ".gitignore").write_text("build/\n*.log\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    (root / "notes.txt").write_text("the user's untracked notes\n")
    (root / "draft.py").write_text("untracked, edited by the turn\n")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_bytes(b"\x00ignored build output")
    return root


def play(repo: Path, change: Callable[[Path], None], turn: int = 1) -> TurnRecord:
    """Snapshot, change the tree as a turn would, snapshot: the turn's record."""
    r = Repo.find(repo)
    before = r.snapshot("before")
    change(repo)
    after = r.snapshot("after")
    return TurnRecord(turn, before.commit, after.commit, str(r.root), 0, f"prompt {turn}")


def busy_turn(root: Path) -> None:
    (root / "src" / "app.py").write_text("def main():\n    return 2\n")  # edit
    (root / "src" / "util.py").unlink()  # delete
    (root / "old name.txt").rename(root / "src" / "new näme.txt")  # rename, into another directory
    (root / "pkg" / "deep").mkdir(parents=True)  # new files in new directories
    (root / "pkg" / "deep" / "mod.py").write_text("NEW = True\n")
    (root / "added.txt").write_text("new\n")
    (root / "draft.py").write_text("the turn rewrote the user's untracked draft\n")
    os.chmod(root / "README.md", 0o755)  # mode change only
    (root / "link").symlink_to("README.md")  # a new symlink
    (root / "build" / "new.o").write_bytes(b"ignored, made by the turn")
    (root / "debug.log").write_text("ignored log\n")


def test_undo_restores_edits_new_files_deletions_renames_and_modes(repo: Path) -> None:
    start = tree(repo)
    rec = play(repo, busy_turn)
    assert tree(repo) != start

    result = undo_turns([rec], 1)

    now = tree(repo)
    ignored_new = {"build/new.o", "debug.log"}  # ignored files are never snapshotted: left alone
    assert {k: v for k, v in now.items() if k not in ignored_new} == start
    assert set(now) - set(start) == ignored_new
    assert not (repo / "pkg").exists()  # the directories that held only new files went with them
    assert (repo / "notes.txt").read_text() == "the user's untracked notes\n"  # untouched untracked file
    assert (repo / "draft.py").read_text() == "untracked, edited by the turn\n"  # untracked, restored
    assert (repo / "build" / "out.o").read_bytes() == b"\x00ignored build output"
    assert set(result.removed) == {"added.txt", "link", "pkg/deep/mod.py", "src/new näme.txt"}
    assert set(result.restored) == {"README.md", "draft.py", "old name.txt", "src/app.py", "src/util.py"}
    assert "turn 1" in result.summary() and "9 files" in result.summary()
    note = result.note()
    assert note.startswith("<undo>") and "turn 1" in note and "src/util.py" in note and "added.txt" in note


def test_snapshots_touch_neither_index_nor_stash_nor_refs(repo: Path) -> None:
    (repo / "src" / "app.py").write_text("staged change\n")
    git(repo, "add", "src/app.py")
    (repo / "README.md").write_text("stashed change\n")
    git(repo, "stash", "push", "-q", "--", "README.md")
    index = (repo / ".git" / "index").read_bytes()
    refs = git(repo, "for-each-ref")
    stash = git(repo, "stash", "list")
    head = git(repo, "rev-parse", "HEAD")
    status = git(repo, "status", "--porcelain")
    index = (repo / ".git" / "index").read_bytes()  # as `git status` left it

    rec = play(repo, busy_turn)
    assert (repo / ".git" / "index").read_bytes() == index
    undo_turns([rec], 1)

    assert (repo / ".git" / "index").read_bytes() == index
    assert git(repo, "for-each-ref") == refs and git(repo, "stash", "list") == stash
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "branch", "--contains", rec.before) == ""  # on no branch
    assert git(repo, "status", "--porcelain") == status
    assert git(repo, "cat-file", "-t", rec.before).strip() == "commit"
    assert git(repo, "rev-parse", f"{rec.before}^") == head  # parent: HEAD


def test_a_second_undo_goes_one_turn_further_back_and_n_undoes_several(repo: Path, tmp_path: Path) -> None:
    start = tree(repo)
    one = play(repo, lambda r: (r / "a.txt").write_text("turn 1\n"), turn=1)
    after_one = tree(repo)
    two = play(repo, lambda r: (r / "a.txt").write_text("turn 2\n"), turn=2)
    three = play(repo, lambda r: (r / "README.md").unlink(), turn=3)
    items: list[tuple[str, dict[str, Any]]] = [("event_msg", r.payload()) for r in (one, two, three)]

    first = undo_turns(undoable(items), 1)
    assert [r.turn for r in first.turns] == [3] and (repo / "README.md").exists()
    items.append(("event_msg", first.payload()))
    assert [r.turn for r in undoable(items)] == [1, 2]
    second = undo_turns(undoable(items), 1)
    assert [r.turn for r in second.turns] == [2] and tree(repo) == after_one
    items.append(("event_msg", second.payload()))
    assert [r.turn for r in undoable(items)] == [1]

    # and from the start again, all three at once
    (repo / "a.txt").write_text("turn 2\n")
    (repo / "README.md").unlink()
    both = undo_turns([one, two, three], 3)
    assert tree(repo) == start and [r.turn for r in both.turns] == [3, 2, 1]
    assert both.removed == ("a.txt",) and both.restored == ("README.md",)
    with pytest.raises(UndoError, match="only 3 turns can be undone"):
        undo_turns([one, two, three], 4)
    with pytest.raises(UndoError, match="no turn to undo"):
        undo_turns([], 1)


@pytest.mark.parametrize(
    "user_change",
    [
        pytest.param(lambda r: (r / "src" / "app.py").write_text("the user's own edit\n"), id="edited"),
        pytest.param(lambda r: (r / "src" / "util.py").write_text("brought back\n"), id="recreated"),
        pytest.param(lambda r: (r / "added.txt").unlink(), id="deleted-a-new-file"),
        pytest.param(lambda r: os.chmod(r / "src" / "app.py", 0o755), id="chmod"),
    ],
)
def test_undo_refuses_when_the_user_changed_a_touched_file_since(
    repo: Path, user_change: Callable[[Path], None]
) -> None:
    rec = play(repo, busy_turn)
    user_change(repo)
    (repo / "unrelated.txt").write_text("the user's other work, fine\n")
    changed = tree(repo)

    with pytest.raises(UndoRefused, match="changed since that turn ended") as refused:
        undo_turns([rec], 1)

    assert len(refused.value.paths) == 1 and refused.value.paths[0] in str(refused.value)
    assert tree(repo) == changed  # nothing was undone


def test_undo_of_several_refuses_when_the_user_changed_a_file_between_them(repo: Path) -> None:
    one = play(repo, lambda r: (r / "a.txt").write_text("turn 1\n"), turn=1)
    (repo / "a.txt").write_text("the user fixed turn 1's file\n")
    two = play(repo, lambda r: (r / "b.txt").write_text("turn 2\n"), turn=2)
    changed = tree(repo)
    with pytest.raises(UndoRefused, match=r"cannot undo turn 1: a\.txt"):
        undo_turns([one, two], 2)
    assert tree(repo) == changed
    undo_turns([one, two], 1)  # the last turn alone is fine
    assert not (repo / "b.txt").exists()


def test_undo_refuses_to_write_where_the_user_put_a_file_in_the_way(repo: Path) -> None:
    rec = play(repo, lambda r: subprocess.run(["rm", "-r", str(r / "src")], check=True))
    assert not (repo / "src").exists()
    (repo / "src").write_text("the user's file where the directory was\n")
    with pytest.raises(UndoRefused, match="src is now a file"):
        undo_turns([rec], 1)
    assert (repo / "src").read_text() == "the user's file where the directory was\n"


def test_a_file_turned_into_a_directory_and_back(repo: Path) -> None:
    start = tree(repo)

    def swap(root: Path) -> None:
        (root / "README.md").unlink()
        (root / "README.md").mkdir()
        (root / "README.md" / "index.md").write_text("now a directory\n")
        (root / "src" / "app.py").unlink()
        (root / "src").rename(root / "src-old")
        (root / "src").write_text("a file where the directory was\n")

    rec = play(repo, swap)
    undo_turns([rec], 1)
    assert tree(repo) == start


def test_a_large_untracked_file_is_skipped_with_a_note(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(undo_module, "MAX_FILE_BYTES", 1000)
    (repo / "old.bin").write_bytes(b"\x01" * 2000)  # there before the turn
    stderr = io.StringIO()
    snaps = TurnSnapshots(repo, None, stderr)

    async def turn() -> None:
        pending = await snaps.before_turn("make a big file")
        assert pending is not None and pending.before.skipped == ("old.bin",)
        (repo / "big.bin").write_bytes(os.urandom(5000))
        (repo / "small.txt").write_text("small\n")
        await snaps.after_turn(pending)

    asyncio.run(turn())
    assert "not snapshotted for undo (over 0 MiB): big.bin" in stderr.getvalue()
    [rec] = snaps.records()
    assert rec.skipped == ("big.bin",) and rec.files == 1
    assert "big.bin" not in git(repo, "ls-tree", "-r", "--name-only", rec.after)
    result = asyncio.run(snaps.undo(1))
    assert (repo / "big.bin").exists() and (repo / "old.bin").exists() and not (repo / "small.txt").exists()
    assert "left as they are" in result.summary() and "big.bin" in result.summary()
    assert "Not reverted (too large to snapshot): big.bin" in result.note()
    assert snaps.records() == []


def test_a_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    (root / "kept.txt").write_text("before\n")
    rec = play(root, lambda r: (r / "kept.txt").write_text("after\n") or (r / "new.txt").write_text("x\n"))
    undo_turns([rec], 1)
    assert (root / "kept.txt").read_text() == "before\n" and not (root / "new.txt").exists()
    assert git(root, "for-each-ref") == "" and not (root / ".git" / "index").exists()


def test_not_a_repository_says_why_once(tmp_path: Path) -> None:
    with pytest.raises(UndoError, match="not inside a git work tree"):
        Repo.find(tmp_path)
    stderr = io.StringIO()
    snaps = TurnSnapshots(tmp_path, None, stderr)

    async def turns() -> list[object]:
        return [await snaps.before_turn("one"), await snaps.before_turn("two")]

    assert asyncio.run(turns()) == [None, None]
    assert stderr.getvalue().count("undo is unavailable") == 1
    with pytest.raises(UndoError, match="no turn to undo"):
        asyncio.run(snaps.undo(1))


def test_snapshot_pairs_and_undos_are_rollout_lines(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    writer = RolloutWriter.create(home, cwd=repo, meta={"model": "m"})
    snaps = TurnSnapshots(repo, writer, io.StringIO())

    async def turn(prompt: str, change: Callable[[], object]) -> None:
        pending = await snaps.before_turn(prompt)
        assert pending is not None
        change()
        await snaps.after_turn(pending)

    asyncio.run(turn("write a\nsecond line", lambda: (repo / "a.txt").write_text("a\n")))
    asyncio.run(turn("write b", lambda: (repo / "b.txt").write_text("b\n")))
    lines = [json.loads(line) for line in writer.path.read_text().splitlines()]
    snapshots = [line["payload"] for line in lines if line["payload"].get("type") == "undo_snapshot"]
    assert [(s["turn"], s["files"], s["prompt"]) for s in snapshots] == [(1, 1, "write a"), (2, 1, "write b")]
    assert all(line["type"] == "event_msg" for line in lines[1:])
    assert snapshots[0]["ended_at"].endswith("Z") and snapshots[0]["root"] == str(repo)

    result = asyncio.run(snaps.undo(1))
    assert not (repo / "b.txt").exists() and (repo / "a.txt").exists()
    done = json.loads(writer.path.read_text().splitlines()[-1])["payload"]
    assert done == {"type": "undo_done", "snapshots": [snapshots[1]["before"]], "turns": [2], "files": 1}
    assert [r.turn for r in snaps.records()] == [1]
    assert result.summary().startswith("undid turn 2: 1 file back as before")
    assert history_from_rollout(read_rollout(writer.path)) == []  # not history: the model never sees them
    writer.close()


def test_gone_snapshots_are_an_error_not_a_crash(repo: Path) -> None:
    rec = play(repo, busy_turn)
    fake = TurnRecord(1, "0" * 40, rec.after, rec.root, 0, "p")
    with pytest.raises(UndoError, match="gone from the repository"):
        undo_turns([fake], 1)


SCRIPT: list[dict[str, Any]] = [
    {
        "tool_calls": [
            {
                "name": "apply_patch",
                "arguments": {
                    "input": "*** Begin Patch\n*** Add File: hello.py\n+print('hi')\n"
                    "*** Update File: README.md\n@@\n-# project\n+# project, patched\n*** End Patch"
                },
            }
        ]
    },
    {"content": "Done."},
]


def test_a_session_snapshots_its_turns_and_undo_tells_the_model(repo: Path, tmp_path: Path) -> None:
    from agentrt.agent.session import SessionOptions, open_session
    from agentrt.events import Fanout
    from agentrt.interactive.commands import command_table, dispatch

    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    home = tmp_path / "home"
    home.mkdir()
    start = tree(repo)
    options = SessionOptions(
        cwd=repo,
        sim_script=script,
        enable=["undo"],
        extra_flags={"sandbox_mode": "danger-full-access", "approval_policy": "never"},
    )
    notices: list[str] = []

    class Host:
        def __init__(self, session: Any) -> None:
            self.session = session
            self.view = self

        def notice(self, text: str, *, style: str = "dim") -> None:
            notices.append(text)

        def turn_running(self) -> bool:
            return False

    async def main() -> list[Any]:
        async with open_session(options, {"AGENTRT_HOME": str(home)}, Fanout([]), stderr=io.StringIO()) as s:
            assert await s.run_turn("patch the readme") == "Done."
            assert (repo / "hello.py").exists()
            await dispatch(Host(s), command_table(), "/undo")  # type: ignore[arg-type]
            await dispatch(Host(s), command_table(), "/undo")  # type: ignore[arg-type]
            await dispatch(Host(s), command_table(), "/undo x")  # type: ignore[arg-type]
            return list(s.thread.messages)

    messages = asyncio.run(main())
    assert tree(repo) == start
    assert notices[0].startswith("undid turn 1: 2 files back as before")
    assert notices[1].startswith("/undo: no turn to undo") and notices[2].startswith("usage: /undo [N]")
    assert messages[-1]["role"] == "user" and messages[-1]["content"].startswith(
        "<undo>The user undid turn 1"
    )
    [path] = (home / "sessions").rglob("rollout-*.jsonl")
    recorded = history_from_rollout(read_rollout(path))
    assert recorded[-1] == messages[-1]  # a resumed session sends it too


def test_read_only_sessions_and_the_flag_off_take_no_snapshots(repo: Path, tmp_path: Path) -> None:
    from agentrt.agent.session import SessionOptions, open_session
    from agentrt.events import Fanout

    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"content": "nothing to do"}]))
    home = tmp_path / "home"
    home.mkdir()
    for enable, sandbox in ((["undo"], "read-only"), ([], "danger-full-access")):
        options = SessionOptions(
            cwd=repo,
            sim_script=script,
            enable=enable,
            disable=[] if enable else ["undo"],
            extra_flags={"sandbox_mode": sandbox, "approval_policy": "never"},
        )

        async def main(options: SessionOptions = options) -> None:
            async with open_session(
                options, {"AGENTRT_HOME": str(home)}, Fanout([]), stderr=io.StringIO()
            ) as s:
                await s.run_turn("hello")

        asyncio.run(main())
    for path in (home / "sessions").rglob("rollout-*.jsonl"):
        assert "undo_snapshot" not in path.read_text()


def test_a_turn_that_stops_early_is_still_snapshotted_after(repo: Path, tmp_path: Path) -> None:
    from agentrt.agent.session import SessionOptions, open_session
    from agentrt.agent.thread import TurnStopped
    from agentrt.events import Fanout

    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    home = tmp_path / "home"
    home.mkdir()
    start = tree(repo)
    options = SessionOptions(
        cwd=repo,
        sim_script=script,
        enable=["undo"],
        overrides=["max_turns=1"],  # the patch is applied, then the turn stops at its limit
        extra_flags={"sandbox_mode": "danger-full-access", "approval_policy": "never"},
    )

    async def main() -> str:
        async with open_session(options, {"AGENTRT_HOME": str(home)}, Fanout([]), stderr=io.StringIO()) as s:
            with pytest.raises(TurnStopped):
                await s.run_turn("patch the readme")
            assert (repo / "hello.py").exists()
            return await s.undo()

    assert asyncio.run(main()).startswith("undid turn 1: 2 files back as before")
    assert tree(repo) == start
