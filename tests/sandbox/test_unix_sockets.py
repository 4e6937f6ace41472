"""With the network off, a sandboxed command reaches no Unix socket outside its writable roots — a host
daemon's socket (a container engine's is root on the host) — while one in its workspace still works."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_support import policy, run, sandbox

CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    s = socket.socket(socket.AF_UNIX)\n"
    "    s.connect(sys.argv[1]); s.sendall(b'hello'); print('connected')\n"
    "except OSError as e:\n"
    "    print('refused', e.errno)\n"
    "a, b = socket.socketpair(); a.sendall(b'x'); assert b.recv(1) == b'x'  # still works everywhere\n"
)


class HostServer:
    """A Unix socket server that records whether anything arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received = b""
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received += conn.recv(100)
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def host_server(tmp_path: Path) -> Iterator[HostServer]:
    (tmp_path / "outside").mkdir()
    server = HostServer(tmp_path / "outside" / "daemon.sock")
    yield server
    server.close()


def test_host_unix_sockets_are_unreachable_without_network(
    tmp_path: Path, mechanism: str, host_server: HostServer
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    pol = policy("workspace-write", ws)
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, [sys.executable, "-c", CONNECT, str(host_server.path)])
    assert result.stdout.startswith("refused"), result.stdout + result.stderr
    assert host_server.received == b""


def test_a_socket_inside_the_workspace_stays_reachable(tmp_path: Path, mechanism: str) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    server = HostServer(ws / "app.sock")
    try:
        pol = policy("workspace-write", ws)
        with sandbox(pol, mechanism) as box:
            result = run(box, pol, [sys.executable, "-c", CONNECT, str(ws / "app.sock")])
    finally:
        server.close()
    if mechanism == "landlock":
        # Landlock cannot tell one socket path from another: with the network off no Unix socket
        # can be opened at all (socketpair still works). Stricter than needed, never looser.
        assert result.stdout.startswith("refused"), result.stdout + result.stderr
    else:
        assert result.stdout.strip() == "connected", result.stdout + result.stderr


def test_network_on_leaves_unix_sockets_alone(
    tmp_path: Path, mechanism: str, host_server: HostServer
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    pol = policy("workspace-write", ws, network=True)
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, [sys.executable, "-c", CONNECT, str(host_server.path)])
    assert result.stdout.strip() == "connected", result.stdout + result.stderr
