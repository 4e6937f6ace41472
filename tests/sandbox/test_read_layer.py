"""The shared first Landlock layer a forking process makes once (``ReadLayer``): a child confined
with it and its own small layer may do exactly what a child confined with the single layer may.

Each probe forks children from a real process: one confined the single-layer way, one with the
shared layer (made in the parent, as the fork server does), and both try the same reads, writes,
renames and sockets; the answers must match, and must be the sandbox's answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrt.sandbox import confine as helper
from agentrt.sandbox.confine import ReadLayer, ReadLayers, landlock_abi, outermost_existing, syscalls

pytestmark = pytest.mark.skipif(landlock_abi() < 1, reason="Landlock is not available here")

PROBE = r"""
import json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import confine as helper

root, ws, tmp, secret_dir = sys.argv[2:6]
options = ["--write", ws, "--write", tmp, "--deny-read", secret_dir, "--rlimit", "core=0"]
opts = helper.parse_args([*options, "--", "x"])
libc = helper.syscalls()
layers = helper.ReadLayers(libc)
layer = layers.for_options(opts)


def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return type(exc).__name__


def write(path):
    with open(path, "w") as f:
        f.write("x")


def read(path):
    with open(path) as f:
        f.read()


def probe():
    os.makedirs(os.path.join(ws, "a"), exist_ok=True)
    os.makedirs(os.path.join(ws, "b"), exist_ok=True)
    write(os.path.join(ws, "a", "moved"))
    return {
        "read outside": attempt(lambda: read("/etc/hostname") if os.path.exists("/etc/hostname") else read(sys.executable)),
        "read own file": attempt(lambda: read(os.path.join(ws, "a", "moved"))),
        "read sibling": attempt(lambda: read(os.path.join(root, "other", "note.txt"))),
        "read denied": attempt(lambda: read(os.path.join(secret_dir, "key"))),
        "write workspace": attempt(lambda: write(os.path.join(ws, "new.txt"))),
        "write tmp": attempt(lambda: write(os.path.join(tmp, "new.txt"))),
        "write sibling": attempt(lambda: write(os.path.join(root, "other", "new.txt"))),
        "write root": attempt(lambda: write(os.path.join(root, "new.txt"))),
        "mkdir sibling": attempt(lambda: os.mkdir(os.path.join(root, "other", "d"))),
        "write denied": attempt(lambda: write(os.path.join(secret_dir, "new"))),
        "rename across dirs": attempt(lambda: os.rename(os.path.join(ws, "a", "moved"), os.path.join(ws, "b", "moved"))),
        "rename to tmp": attempt(lambda: os.rename(os.path.join(ws, "b", "moved"), os.path.join(tmp, "moved"))),
        "rename out": attempt(lambda: os.rename(os.path.join(tmp, "moved"), os.path.join(root, "other", "moved"))),
        "devnull": attempt(lambda: write(os.devnull)),
        "socket": attempt(lambda: socket.socket().close()),
    }


def child(use_layer):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            helper.confine(opts, libc=libc, layer=layer if use_layer else None)
            report = probe()
        except BaseException as exc:
            report = {"error": repr(exc)}
        os.write(w, json.dumps(report).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.waitpid(pid, 0)
    for name in ("a", "b"):
        path = os.path.join(ws, name)
        for entry in os.listdir(path):
            os.unlink(os.path.join(path, entry))
    for path in (os.path.join(ws, "new.txt"), os.path.join(tmp, "new.txt"), os.path.join(tmp, "moved")):
        if os.path.exists(path):
            os.unlink(path)
    return json.loads(data)


print(json.dumps({"layered": layer is not None, "single": child(False), "shared": child(True)}))
"""


def _tree(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    root = tmp_path / "runs"
    ws = root / "0001"
    other = root / "other"
    for d in (ws, other):
        d.mkdir(parents=True)
    (other / "note.txt").write_text("note\n")
    tmp = tmp_path / "tmp" / "private-tmp"  # beside, not above, the denied directory
    tmp.mkdir(parents=True)
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    (secret_dir / "key").write_text("s3cret\n")
    return root, ws, tmp, secret_dir


def test_a_child_confined_with_the_shared_layer_may_do_exactly_what_the_single_layer_lets_it(
    tmp_path: Path,
) -> None:
    root, ws, tmp, secret_dir = _tree(tmp_path)
    helper_dir = str(Path(helper.__file__).parent)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, helper_dir, str(root), str(ws), str(tmp), str(secret_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["layered"], "the parent made a shared layer for these options"
    assert report["shared"] == report["single"]
    expected_ok = {"read outside", "read own file", "read sibling", "write workspace", "write tmp"}
    expected_ok |= {"rename across dirs", "rename to tmp", "devnull"}
    assert {k for k, v in report["shared"].items() if v == "ok"} == expected_ok, report["shared"]


def test_no_shared_layer_where_it_would_grant_more_than_the_single_one(tmp_path: Path) -> None:
    """A root holding a denied path (or inside one) would open that path: no layer, the child makes
    its own single one."""
    root, ws, tmp, secret_dir = _tree(tmp_path)
    inside = root / "secret-in-root"
    inside.mkdir()
    libc = syscalls()
    denied = outermost_existing([str(inside)])
    assert ReadLayer.make(denied, [str(root)], network=False, libc=libc) is None
    assert ReadLayer.make(outermost_existing([str(tmp_path)]), [str(root)], network=False, libc=libc) is None
    layer = ReadLayer.make(outermost_existing([str(secret_dir)]), [str(root)], network=False, libc=libc)
    assert layer is not None
    layer.close()


def test_the_shared_layer_is_made_again_when_a_listed_directory_changes(tmp_path: Path) -> None:
    """The read rules list the directories on the way to a denied path; an entry created there later
    would have no rule, so the layer is made again for the next child."""
    root, ws, tmp, secret_dir = _tree(tmp_path)
    os.utime(tmp_path, ns=(1, 1))  # so that the entry made below moves its mtime, whatever the clock's tick
    opts = helper.parse_args(["--write", str(ws), "--deny-read", str(secret_dir), "--", "x"])
    layers = ReadLayers(syscalls())
    first = layers.for_options(opts)
    assert first is not None
    assert layers.for_options(opts) is first, "unchanged: the same layer"
    (tmp_path / "created-later").write_text("new\n")  # tmp_path is on the way to secrets/
    second = layers.for_options(opts)
    assert second is not None and second is not first
    assert second.current()
    other = helper.parse_args(["--write", str(tmp), "--deny-read", str(secret_dir), "--", "x"])
    assert layers.for_options(other) is not second, "other roots: a layer of their own"
    assert not first.covers(outermost_existing(opts.deny_read), [os.path.realpath(tmp)])
