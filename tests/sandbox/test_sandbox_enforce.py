"""What the OS sandboxes enforce, for bwrap and Landlock alike: writes, protected paths, network."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_support import make_workspace, policy, run, sandbox

from agentrt.sandbox import private_tmpdir


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return make_workspace(tmp_path)


def test_workspace_write_confines_writes(mechanism: str, dirs: tuple[Path, Path]) -> None:
    ws, outside = dirs
    victim = outside / "victim.txt"
    (ws / "up").symlink_to(outside)
    (ws / "victim-link").symlink_to(victim)
    pol = policy("workspace-write", ws)
    script = f"""
        echo in > inside.txt && echo wrote-inside
        echo x > /dev/null && echo wrote-devnull
        echo pwned > {victim}
        echo pwned > ../outside/victim.txt
        echo pwned > up/victim.txt
        echo pwned > victim-link
        echo new > up/new.txt
        mkdir ../outside/newdir
        rm -f ../outside/victim.txt
        ln {victim} hardlink
        true
    """
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, script)
    assert result.stdout == "wrote-inside\nwrote-devnull\n", result.stderr
    assert (ws / "inside.txt").read_text() == "in\n"
    assert victim.read_text() == "original\n"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert not (ws / "hardlink").exists(), "a hard link to an outside file was created inside"


def test_git_and_home_stay_read_only(mechanism: str, dirs: tuple[Path, Path]) -> None:
    ws, _ = dirs
    home = ws / ".agentrt"  # missing: the sandbox must not let a command create it
    pol = policy("workspace-write", ws, home=home)
    assert pol.protected == (ws / ".git", home)
    script = """
        echo evil > .git/hooks/pre-commit
        echo evil >> .git/config
        rm -f .git/config
        mv .git .git-moved
        echo evil > .agentrt/config.toml
        rmdir .agentrt
        echo ok > src.txt && echo wrote-src
    """
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, script)
    assert result.stdout == "wrote-src\n"
    assert (ws / ".git" / "config").read_text() == "[core]\n"
    assert list((ws / ".git" / "hooks").iterdir()) == []
    assert home.is_dir() and list(home.iterdir()) == []


def test_gitdir_file_target_is_protected(mechanism: str, tmp_path: Path) -> None:
    ws = tmp_path / "wt"
    ws.mkdir()
    real_git = ws / "nested" / "gitdir"
    real_git.mkdir(parents=True)
    (ws / ".git").write_text("gitdir: nested/gitdir\n")
    pol = policy("workspace-write", ws)
    assert real_git in pol.protected and ws / ".git" in pol.protected
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, "echo x > nested/gitdir/HEAD; echo y > .git; echo z > nested/ok && echo ok")
    assert result.stdout == "ok\n"
    assert not (real_git / "HEAD").exists()
    assert (ws / ".git").read_text() == "gitdir: nested/gitdir\n"


def test_read_only_denies_writes_even_in_cwd(mechanism: str, dirs: tuple[Path, Path]) -> None:
    ws, _ = dirs
    pol = policy("read-only", ws)
    with sandbox(pol, mechanism) as box:
        result = run(
            box, pol, "cat .git/config && echo x > here.txt; mkdir d; echo y > /dev/null && echo devnull"
        )
    assert result.stdout == "[core]\ndevnull\n"
    assert sorted(p.name for p in ws.iterdir()) == [".git"]


def test_private_tmpdir_is_writable_and_exported(mechanism: str, dirs: tuple[Path, Path]) -> None:
    ws, _ = dirs
    with private_tmpdir(policy("workspace-write", ws)) as pol, sandbox(pol, mechanism) as box:
        assert pol.tmpdir is not None
        result = run(box, pol, 'echo t > "$TMPDIR/t" && cat "$TMPDIR/t" && echo "$TMPDIR"')
        assert result.stdout == f"t\n{pol.tmpdir}\n", result.stderr
        tmpdir = pol.tmpdir
    assert not tmpdir.exists()


def test_root_cannot_regain_privileges(mechanism: str, dirs: tuple[Path, Path]) -> None:
    ws, outside = dirs
    pol = policy("workspace-write", ws)
    script = f"""
        grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status
        mount -o remount,rw,bind / 2>/dev/null
        mount -o remount,rw,bind {outside} 2>/dev/null
        echo pwned > {outside}/victim.txt
        true
    """
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, script)
    assert "CapEff:\t0000000000000000" in result.stdout
    assert "CapPrm:\t0000000000000000" in result.stdout
    assert (outside / "victim.txt").read_text() == "original\n"


@pytest.fixture
def server() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on 127.0.0.1 in the test process; yields its port and what clients sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    received.append(conn.recv(100))
                    conn.sendall(b"pong")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], received
    stop.set()
    thread.join(5)
    listener.close()


CONNECT = """
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"ping")
    print("connected", s.recv(10).decode())
except OSError as exc:
    print("refused", type(exc).__name__)
"""


@pytest.mark.parametrize("network", [False, True], ids=["network-off", "network-on"])
def test_network_to_a_loopback_server(
    mechanism: str, dirs: tuple[Path, Path], server: tuple[int, list[bytes]], network: bool
) -> None:
    port, received = server
    ws, _ = dirs
    pol = policy("workspace-write", ws, network=network)
    bash_tcp = f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo ping >&3 && echo bash-connected"
    with sandbox(pol, mechanism) as box:
        py = run(box, pol, [sys.executable, "-c", CONNECT, str(port)])
        sh = run(box, pol, ["bash", "-c", bash_tcp])
        marker = run(box, pol, "echo ${AGENTRT_SANDBOX_NETWORK_DISABLED:-0} $AGENTRT_SANDBOX")
    if network:
        assert py.stdout == "connected pong\n", py.stderr
        assert sh.stdout == "bash-connected\n", sh.stderr
        assert marker.stdout == f"0 {mechanism}\n"
    else:
        assert py.stdout.startswith("refused"), py.stdout
        assert sh.exit_code != 0 and "bash-connected" not in sh.stdout
        assert received == []
        assert marker.stdout == f"1 {mechanism}\n"


def test_read_only_mode_has_no_network_even_if_asked(
    mechanism: str, dirs: tuple[Path, Path], server: tuple[int, list[bytes]]
) -> None:
    port, received = server
    ws, _ = dirs
    pol = policy("read-only", ws, network=True)
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, [sys.executable, "-c", CONNECT, str(port)])
    assert result.stdout.startswith("refused") and received == []


def test_commands_still_read_anywhere(mechanism: str, dirs: tuple[Path, Path]) -> None:
    ws, outside = dirs
    pol = policy("workspace-write", ws)
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, ["cat", str(outside / "victim.txt"), "/etc/hostname"])
    assert result.ok and result.stdout.startswith("original\n")
    assert os.path.exists("/etc/hostname")


def test_preexisting_hard_link_is_written_through(mechanism: str, dirs: tuple[Path, Path]) -> None:
    """Pins a documented limit shared with Codex: both kernels check the path, not the inode.

    A hard link that already exists inside a writable root (made by someone outside the sandbox)
    is writable through, and so changes the outside file; a command cannot create such a link
    (EXDEV), and agentrt's own writes (``confined_write``) replace the link instead.
    """
    ws, outside = dirs
    (ws / "hardlink").hardlink_to(outside / "victim.txt")
    pol = policy("workspace-write", ws)
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, "echo appended >> hardlink")
    assert result.ok
    assert (outside / "victim.txt").read_text() == "original\nappended\n"


UDP_SEND = """
import socket, sys
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"leak", ("127.0.0.1", int(sys.argv[1])))
    print("sent")
except OSError as exc:
    print("refused", type(exc).__name__)
"""


def test_udp_is_denied_without_network(mechanism: str, dirs: tuple[Path, Path]) -> None:
    ws, _ = dirs
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.3)
    pol = policy("workspace-write", ws)
    try:
        with sandbox(pol, mechanism) as box:
            result = run(box, pol, [sys.executable, "-c", UDP_SEND, str(receiver.getsockname()[1])])
        with pytest.raises(TimeoutError):
            receiver.recv(10)
    finally:
        receiver.close()
    assert result.ok, result.stderr
