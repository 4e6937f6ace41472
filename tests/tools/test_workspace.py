"""Workspace confinement, atomic writes, listing and search, on real temporary directories."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentrt.sandbox.none import NoSandbox
from agentrt.tools import Workspace, WorkspaceError


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("SECRET needle\n")
    return path


@pytest.fixture
def ws(tmp_path: Path, outside: Path) -> Workspace:
    root = tmp_path / "root"
    root.mkdir()
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("import os\nneedle = 1\n")
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "secret-link.txt").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to(outside / "not-yet.txt")
    (root / "inner").symlink_to(root / "src", target_is_directory=True)
    return Workspace(root)


def umask() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    raise AssertionError("no Umask in /proc/self/status")


def test_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(WorkspaceError, match="not a directory"):
        Workspace(tmp_path / "file")
    assert Workspace(tmp_path / ".").root == tmp_path.resolve()


def test_resolve_confines(ws: Workspace, outside: Path) -> None:
    assert ws.resolve("src/a.py") == ws.root / "src" / "a.py"
    assert ws.resolve("src/../new.txt") == ws.root / "new.txt"
    assert ws.resolve(".") == ws.root
    assert ws.resolve(str(ws.root / "src")) == ws.root / "src"
    assert ws.resolve("inner/a.py") == ws.root / "src" / "a.py"
    for bad in ["..", "../x", "src/../../x", "/etc/passwd", str(outside / "secret.txt"), "out", "out/x"]:
        with pytest.raises(WorkspaceError, match="outside the workspace"):
            ws.resolve(bad)
    with pytest.raises(WorkspaceError, match="empty"):
        ws.resolve("")
    with pytest.raises(WorkspaceError, match="NUL"):
        ws.resolve("a\0b")


def test_symlink_loops_cannot_hide_an_escape(ws: Workspace, outside: Path) -> None:
    (ws.root / "loop").symlink_to("loop")
    (ws.root / "via-loop").symlink_to("loop/../out")
    (ws.root / "via-loop.txt").symlink_to("loop/../out/secret.txt")
    for rel in ["loop/../../x", "loop/../out/secret.txt", "via-loop/secret.txt", "via-loop.txt"]:
        with pytest.raises(WorkspaceError):
            ws.resolve(rel)
        with pytest.raises(WorkspaceError):
            ws.write_file(rel, "pwned")
    with pytest.raises(WorkspaceError):
        ws.resolve("loop/../out")
    assert sorted(os.listdir(outside)) == ["secret.txt"]


def test_symlink_escapes_rejected_for_resolve_and_write(ws: Workspace, outside: Path) -> None:
    for rel in ["out/secret.txt", "secret-link.txt", "../outside/secret.txt"]:
        with pytest.raises(WorkspaceError):
            ws.resolve(rel)
        with pytest.raises(WorkspaceError):
            ws.write_file(rel, "pwned")
    for rel in ["out/new.txt", "out/sub/new.txt", "dangling"]:
        with pytest.raises(WorkspaceError):
            ws.write_file(rel, "pwned")
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "SECRET needle\n"


def test_write_is_atomic_and_replaces(ws: Workspace) -> None:
    path = ws.write_file("solution.py", "one\n")
    assert path == ws.root / "solution.py" and path.read_text() == "one\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask()
    path.chmod(0o755)
    inode = path.stat().st_ino
    ws.write_file("solution.py", b"two\n")
    assert path.read_bytes() == b"two\n"
    assert path.stat().st_ino != inode, "the file was rewritten in place, not replaced"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert not [name for name in os.listdir(ws.root) if name.endswith(".tmp")]


def test_write_creates_parent_directories(ws: Workspace) -> None:
    ws.write_file("pkg/sub/mod.py", "x = 1\n")
    assert (ws.root / "pkg" / "sub" / "mod.py").read_text() == "x = 1\n"
    assert os.listdir(ws.root / "pkg") == ["sub"]
    with pytest.raises(WorkspaceError, match="directory"):
        ws.write_file("pkg", "x")
    with pytest.raises(WorkspaceError, match="directory"):
        ws.write_file(".", "x")


def test_write_never_goes_through_links(ws: Workspace, outside: Path) -> None:
    os.link(outside / "secret.txt", ws.root / "hard.txt")
    ws.write_file("hard.txt", "mine\n")
    assert (outside / "secret.txt").read_text() == "SECRET needle\n"
    assert (ws.root / "hard.txt").read_text() == "mine\n"
    (ws.root / "to-a").symlink_to("src/a.py")
    ws.write_file("to-a", "new\n")
    assert (ws.root / "src" / "a.py").read_text() == "new\n"
    assert (ws.root / "to-a").is_symlink()


def test_run_in_root(ws: Workspace) -> None:
    result = asyncio.run(ws.run("pwd; cat src/a.py | wc -l", timeout_s=10, sandbox=NoSandbox()))
    assert result.ok
    assert result.stdout.split() == [str(ws.root), "2"]


# --- fuzz: whatever the path, resolve() never lands outside the root ------------------------------


@pytest.fixture(scope="module")
def fuzz_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    base = tmp_path_factory.mktemp("fuzz")
    root = base / "root"
    (root / "a" / "b").mkdir(parents=True)
    (base / "outside").mkdir()
    (root / "out").symlink_to(base / "outside")
    (root / "up").symlink_to("..")
    (root / "a" / "upup").symlink_to("../..")
    (root / "in").symlink_to("a/b")
    (root / "abs-in").symlink_to(root / "a")
    (root / "loop").symlink_to("loop")
    (root / "via-loop").symlink_to("loop/../out")
    (root / "a" / "via-loop-in").symlink_to("../loop/../a")
    (root / "file").write_text("")
    yield Workspace(root)


SEGMENTS = st.sampled_from(
    ["", ".", "..", "a", "b", "out", "up", "upup", "in", "abs-in", "loop", "file", "x"]
)
PATHS = st.one_of(
    st.tuples(st.sampled_from(["", "/", "//"]), st.lists(SEGMENTS, max_size=8)).map(
        lambda t: t[0] + "/".join(t[1])
    ),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rel=PATHS)
@example(rel="loop/../out")
@example(rel="loop/../out/x/../..")
@example(rel="via-loop/x")
@example(rel="a/via-loop-in/../up/out")
def test_fuzz_resolve_never_escapes(fuzz_ws: Workspace, rel: str) -> None:
    root = fuzz_ws.root
    try:
        resolved = fuzz_ws.resolve(rel)
    except WorkspaceError:
        real = os.path.realpath(root / rel) if rel and "\0" not in rel else None
        inside = real is not None and Path(real).is_relative_to(root) and "loop" not in rel
        assert not inside, f"{rel!r} was refused although it resolves inside, to {real}"
        return
    assert resolved.is_relative_to(root)
    # Checked directly: no existing component below the root is a symlink the OS would follow.
    for prefix in [resolved, *resolved.parents]:
        if prefix == root:
            break
        if prefix.is_symlink():
            with pytest.raises(OSError):
                os.stat(prefix)  # only a loop may remain, and the OS refuses it


def test_a_bad_path_is_reported_before_content_that_cannot_be_encoded(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError):
        ws.write_file("../escape.py", "\ud800")
    with pytest.raises(UnicodeEncodeError):
        ws.write_file("plain.py", "\ud800")
    assert not (ws.root / "plain.py").exists()
    assert not [name for name in os.listdir(ws.root) if name.endswith(".tmp")]
