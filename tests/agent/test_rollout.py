"""Session (rollout) files: real files under a temporary AGENTRT_HOME, real git repos, a real SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from agentrt.agent.rollout import (
    RolloutWriter,
    SessionError,
    find_session,
    list_sessions,
    read_rollout,
)

STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def new_session(home: Path, cwd: Path, prompt: str | None = None) -> RolloutWriter:
    writer = RolloutWriter.create(home, cwd=cwd, meta={"model": "m", "model_provider": "local"})
    writer.append("turn_context", {"cwd": str(cwd), "model": "m"})
    if prompt is not None:
        writer.append("event_msg", {"type": "user_message", "message": prompt})
    writer.close()
    time.sleep(0.003)  # distinct millisecond in the time-ordered id
    return writer


def test_round_trip_path_shape_and_mode(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with RolloutWriter.create(home, cwd=tmp_path, meta={"model": "gpt-x", "instructions": "be brief"}) as w:
        w.append("response_item", {"type": "message", "role": "user", "content": [{"text": "héllo"}]})
        w.append("event_msg", {"type": "agent_message", "message": "done"})
    rel = w.path.relative_to(home).as_posix()
    match = re.fullmatch(
        r"sessions/(\d{4})/(\d{2})/(\d{2})/rollout-(\d{4})-(\d{2})-(\d{2})T\d{2}-\d{2}-\d{2}-([0-9a-f-]{36})\.jsonl",
        rel,
    )
    assert match is not None, rel
    assert match.group(1, 2, 3) == match.group(4, 5, 6)
    assert match.group(7) == w.id and uuid.UUID(w.id).version == 7
    assert stat.S_IMODE(w.path.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in w.path.read_text(encoding="utf-8").splitlines()]
    assert [line["type"] for line in lines] == ["session_meta", "response_item", "event_msg"]
    assert all(re.fullmatch(STAMP, line["timestamp"]) for line in lines)
    rollout = read_rollout(w.path)
    meta = rollout.meta
    assert (meta["id"], meta["originator"], meta["source"], meta["model"]) == (
        w.id,
        "agentrt",
        "exec",
        "gpt-x",
    )
    assert meta["cwd"] == str(tmp_path) and meta["instructions"] == "be brief" and "cli_version" in meta
    assert re.fullmatch(STAMP, meta["timestamp"])
    assert rollout.items == [
        ("response_item", {"type": "message", "role": "user", "content": [{"text": "héllo"}]}),
        ("event_msg", {"type": "agent_message", "message": "done"}),
    ]
    with pytest.raises(ValueError, match="closed"):
        w.append("event_msg", {})


def test_git_info_read_from_dot_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    branch = git(repo, "symbolic-ref", "--short", "HEAD")
    meta = read_rollout(new_session(tmp_path / "h", repo).path).meta
    assert meta["git"] == {"branch": branch}  # unborn branch: no commit yet
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    sha = git(repo, "rev-parse", "HEAD")
    sub = repo / "sub"
    sub.mkdir()
    assert read_rollout(new_session(tmp_path / "h", sub).path).meta["git"] == {
        "branch": branch,
        "commit_hash": sha,
    }
    git(repo, "pack-refs", "--all")
    assert read_rollout(new_session(tmp_path / "h", repo).path).meta["git"]["commit_hash"] == sha
    git(repo, "checkout", "-q", "--detach")
    assert read_rollout(new_session(tmp_path / "h", repo).path).meta["git"] == {"commit_hash": sha}


def test_resume_appends_to_same_file(tmp_path: Path) -> None:
    first = new_session(tmp_path, tmp_path, "hi")
    writer = RolloutWriter.resume(first.path)
    assert writer.id == first.id and writer.path == first.path
    writer.append("event_msg", {"type": "user_message", "message": "again"})
    writer.close()
    items = read_rollout(first.path).items
    assert [p.get("message") for _, p in items] == [None, "hi", "again"]
    assert len(list((tmp_path / "sessions").rglob("*.jsonl"))) == 1


def test_torn_last_line_is_skipped_and_cut_on_resume(tmp_path: Path) -> None:
    path = new_session(tmp_path, tmp_path, "hi").path
    with open(path, "ab") as fh:
        fh.write(b'{"timestamp":"x","type":"event_msg","payl')
    assert len(read_rollout(path).items) == 2
    with RolloutWriter.resume(path) as writer:
        writer.append("event_msg", {"type": "agent_message", "message": "ok"})
    rollout = read_rollout(path)
    assert rollout.items[-1] == ("event_msg", {"type": "agent_message", "message": "ok"})
    assert len(rollout.items) == 3


def test_invalid_middle_line_names_the_line(tmp_path: Path) -> None:
    path = new_session(tmp_path, tmp_path).path
    with open(path, "ab") as fh:
        fh.write(b"not json\n")
        fh.write(b'{"timestamp":"x","type":"event_msg","payload":{}}\n')
    with pytest.raises(ValueError, match=r":3: invalid rollout line"):
        read_rollout(path)
    other = tmp_path / "x.jsonl"
    other.write_text('{"timestamp":"x","type":"event_msg","payload":{}}\n')
    with pytest.raises(ValueError, match="first line is not session_meta"):
        read_rollout(other)


KILL_LOOP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from agentrt.agent.rollout import RolloutWriter

    writer = RolloutWriter.create(Path(sys.argv[1]), cwd=Path(sys.argv[1]), meta={})
    print(writer.path, flush=True)
    i = 0
    while True:
        writer.append("event_msg", {"type": "agent_message", "n": i, "text": "x" * (i % 7 * 40000)})
        i += 1
    """
)


def test_sigkill_mid_write_leaves_readable_file(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_LOOP, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        path = Path(proc.stdout.readline().strip())
        deadline = time.monotonic() + 10
        while path.stat().st_size < 4_000_000 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    rollout = read_rollout(path)
    numbers = [payload["n"] for _, payload in rollout.items]
    assert numbers == list(range(len(numbers))) and len(numbers) > 10
    complete = path.read_bytes().split(b"\n")[:-1]  # every newline-terminated line parses
    assert all(json.loads(line)["type"] for line in complete)


def test_find_session_by_prefix_and_last(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    s1, s2, s3 = new_session(home, a), new_session(home, b), new_session(home, a)
    assert find_session(home, s2.id) == s2.path
    assert find_session(home, s2.id.upper()) == s2.path
    unique = next(n for n in range(1, 37) if sum(s.id.startswith(s2.id[:n]) for s in (s1, s2, s3)) == 1)
    assert find_session(home, s2.id[:unique]) == s2.path
    assert find_session(home, str(s1.path)) == s1.path
    assert find_session(home, last=True) == s3.path
    assert find_session(home, last=True, cwd=b) == s2.path
    shared = os.path.commonprefix([s1.id, s2.id, s3.id])  # time-ordered ids share their start
    assert shared
    with pytest.raises(SessionError, match="ambiguous: it starts 3 session ids"):
        find_session(home, shared)
    with pytest.raises(SessionError, match="no session with id 'zzzz'"):
        find_session(home, "zzzz")
    with pytest.raises(SessionError, match="no sessions started in"):
        find_session(home, last=True, cwd=tmp_path)
    with pytest.raises(SessionError, match="name a session id"):
        find_session(home)


def test_list_sessions_order_prompt_and_filter(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert list_sessions(home) == []
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    made = [new_session(home, a, "first"), new_session(home, b, None), new_session(home, a, "third")]
    (home / "sessions" / "junk.txt").write_text("ignored")
    infos = list_sessions(home)
    assert [i.id for i in infos] == [w.id for w in reversed(made)]
    assert [i.first_prompt for i in infos] == ["third", None, "first"]
    assert [i.cwd for i in infos] == [str(a), str(b), str(a)]
    assert all(re.fullmatch(STAMP, i.started_at) for i in infos)
    assert infos[0].path == made[2].path
    assert [i.id for i in list_sessions(home, limit=2)] == [made[2].id, made[1].id]
    assert [i.id for i in list_sessions(home, cwd=a)] == [made[2].id, made[0].id]
    assert [i.id for i in list_sessions(home, limit=0)] == [w.id for w in reversed(made)]
