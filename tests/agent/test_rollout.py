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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentrt.agent.rollout import (
    RolloutWriter,
    SessionError,
    find_session,
    history_from_rollout,
    list_sessions,
    read_rollout,
)

STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def new_session(home: Path, cwd: Path, prompt: str | None = None, *, answered: bool = False) -> RolloutWriter:
    writer = RolloutWriter.create(home, cwd=cwd, meta={"model": "m", "model_provider": "local"})
    writer.append("turn_context", {"cwd": str(cwd), "model": "m"})
    if prompt is not None:
        writer.append("event_msg", {"type": "user_message", "message": prompt})
    if answered:
        writer.append("event_msg", {"type": "token_count", "info": {}})
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


def line(kind: str, payload: object) -> bytes:
    return json.dumps({"timestamp": "x", "type": kind, "payload": payload}).encode() + b"\n"


def test_not_a_rollout_or_missing_is_a_session_error(tmp_path: Path) -> None:
    other = tmp_path / "x.jsonl"
    other.write_bytes(line("event_msg", {}))
    with pytest.raises(SessionError, match="first line is not session_meta"):
        read_rollout(other)
    with pytest.raises(SessionError, match="first line is not session_meta"):
        RolloutWriter.resume(other)
    with pytest.raises(SessionError, match=r"cannot read .*missing\.jsonl"):
        read_rollout(tmp_path / "missing.jsonl")
    with pytest.raises(SessionError, match=r"cannot read .*missing\.jsonl"):
        RolloutWriter.resume(tmp_path / "missing.jsonl")


def test_garbage_last_line_is_set_aside_on_resume_and_the_next_resume_works(tmp_path: Path) -> None:
    path = new_session(tmp_path, tmp_path, "hi").path
    good = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b"garbage\n")
    rollout = read_rollout(path)
    assert len(rollout.items) == 2
    assert rollout.damage is not None and f"{path}:4:" in rollout.damage
    with RolloutWriter.resume(path) as writer:
        writer.append("event_msg", {"type": "agent_message", "message": "ok"})
    aside = list(path.parent.glob(path.name + ".damaged-*"))
    assert [p.read_bytes() for p in aside] == [b"garbage\n"]
    assert writer.note is not None and str(aside[0]) in writer.note and f"{path}:4:" in writer.note
    assert path.read_bytes().startswith(good)
    assert read_rollout(path).damage is None
    with RolloutWriter.resume(path) as again:
        again.append("event_msg", {"type": "agent_message", "message": "again"})
    assert again.note is None
    assert [p.get("message") for _, p in read_rollout(path).items] == [None, "hi", "ok", "again"]


def test_garbage_in_the_middle_keeps_the_valid_prefix_and_sets_the_rest_aside(tmp_path: Path) -> None:
    path = new_session(tmp_path, tmp_path).path
    good = path.read_bytes()
    rest = b"not json\n" + line("event_msg", {"type": "agent_message", "message": "after"})
    with open(path, "ab") as fh:
        fh.write(rest)
    rollout = read_rollout(path)
    assert [kind for kind, _ in rollout.items] == ["turn_context"]
    assert rollout.damage is not None and f"{path}:3: invalid rollout line" in rollout.damage
    with RolloutWriter.resume(path) as writer:
        pass
    assert path.read_bytes() == good
    assert [p.read_bytes() for p in path.parent.glob(path.name + ".damaged-*")] == [rest]
    assert writer.note is not None and "2 lines" in writer.note
    assert [i.id for i in list_sessions(tmp_path)] == [writer.id]  # the set-aside file is no session


def test_unterminated_valid_last_line_is_kept_by_resume(tmp_path: Path) -> None:
    path = new_session(tmp_path, tmp_path).path
    with open(path, "ab") as fh:
        fh.write(line("event_msg", {"type": "agent_message", "message": "kept"})[:-1])
    assert read_rollout(path).items[-1][1]["message"] == "kept"
    with RolloutWriter.resume(path) as writer:
        writer.append("event_msg", {"type": "agent_message", "message": "next"})
    assert writer.note is None
    assert [p.get("message") for _, p in read_rollout(path).items] == [None, "kept", "next"]


def test_tool_call_without_function_names_the_file_and_line(tmp_path: Path) -> None:
    path = new_session(tmp_path, tmp_path).path
    with open(path, "ab") as fh:
        fh.write(line("response_item", {"role": "user", "content": "hi"}))
        fh.write(line("response_item", {"role": "assistant", "tool_calls": [{"id": "c1"}]}))
    rollout = read_rollout(path)
    with pytest.raises(SessionError, match=rf"^{re.escape(str(path))}:4: .*'function'"):
        history_from_rollout(rollout)
    with pytest.raises(SessionError, match="^rollout item 3: "):
        history_from_rollout(rollout.items)


SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
KEYS = st.sampled_from(["role", "content", "tool_calls", "tool_call_id", "id", "function", "name", "type"])
JSON = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(KEYS | st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
ID = st.sampled_from(["c1", "c2"]) | JSON
CALL = st.fixed_dictionaries(
    {}, optional={"id": ID, "function": st.fixed_dictionaries({}, optional={"name": ID}) | JSON}
)
ROLES = st.sampled_from(["assistant", "tool", "user", "system"])
MESSAGE = st.fixed_dictionaries(
    {"role": ROLES},
    optional={"tool_calls": st.lists(CALL, max_size=3) | JSON, "tool_call_id": ID, "content": JSON},
)
LINE = st.one_of(
    st.binary(max_size=40),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.builds(line, st.sampled_from(["response_item", "event_msg", "session_meta"]), JSON | MESSAGE),
    st.builds(lambda n: b"[" * n, st.integers(1, 200_000)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=6), first=st.booleans())
def test_random_lines_raise_nothing_but_session_error(
    tmp_path: Path, lines: list[bytes], first: bool
) -> None:
    path = tmp_path / "fuzz.jsonl"
    head = [line("session_meta", {"id": "x"})] if first else []
    path.write_bytes(b"\n".join([*head, *lines]))
    for aside in tmp_path.glob("fuzz.jsonl.damaged-*"):
        aside.unlink()
    try:
        before = read_rollout(path)
    except SessionError:
        return
    try:
        history_from_rollout(before)
    except SessionError:
        pass
    with RolloutWriter.resume(path) as writer:  # the valid lines stay, and only they
        writer.append("event_msg", {"n": 1})
    after = read_rollout(path)
    assert after.damage is None and after.items == [*before.items, ("event_msg", {"n": 1})]
    assert (writer.note is None) == (before.damage is None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["response_item", "event_msg"]), MESSAGE), max_size=6))
def test_random_items_raise_nothing_but_session_error(items: list[tuple[str, dict[str, object]]]) -> None:
    try:
        history = history_from_rollout(items)
    except SessionError:
        return
    json.dumps(history)  # still JSON, ready to send


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
    s1, s2, s3 = (new_session(home, d, answered=True) for d in (a, b, a))
    assert find_session(home, s2.id) == s2.path
    assert find_session(home, s2.id.upper()) == s2.path
    unique = next(n for n in range(1, 37) if sum(s.id.startswith(s2.id[:n]) for s in (s1, s2, s3)) == 1)
    assert find_session(home, s2.id[:unique]) == s2.path
    assert find_session(home, str(s1.path)) == s1.path
    unanswered = new_session(home, a, answered=False)  # newest, but the model never answered it
    assert find_session(home, unanswered.id) == unanswered.path
    assert find_session(home, last=True) == s3.path
    assert find_session(home, last=True, cwd=a) == s3.path
    assert find_session(home, last=True, cwd=b) == s2.path
    shared = os.path.commonprefix([s1.id, s2.id, s3.id, unanswered.id])  # time-ordered ids share their start
    assert shared
    with pytest.raises(SessionError, match="ambiguous: it starts 4 session ids"):
        find_session(home, shared)
    with pytest.raises(SessionError, match="no session with id 'zzzz'"):
        find_session(home, "zzzz")
    with pytest.raises(SessionError, match="no session started in .* that got an answer"):
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
