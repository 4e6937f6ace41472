"""A real terminal for the interactive session's tests: a private tmux server with one pane.

Keys go in with ``send-keys`` (``paste`` uses tmux's bracketed paste, as a terminal does when text is
pasted); what a person would see comes back with ``capture-pane``, scrollback included.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

AGENTRT = [sys.executable, "-m", "agentrt"]


def need_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it; apt-get install tmux)")


class Terminal:
    """One pane running ``argv`` in ``cwd`` with exactly ``env``; closed with its tmux server."""

    def __init__(
        self,
        tmp: Path,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        *,
        width: int = 110,
        height: int = 40,
    ) -> None:
        need_tmux()
        self.socket = str(tmp / "tmux.sock")
        conf = tmp / "tmux.conf"
        conf.write_text("set -g remain-on-exit on\nset -g history-limit 20000\nset -g status off\n")
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        self._tmux(
            "-f", str(conf), "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
            "-c", str(cwd), *env_args, f"{' '.join(_quote(a) for a in argv)}; echo \"[exit $?]\"",
        )  # fmt: skip

    def _tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=20, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def keys(self, *keys: str) -> None:
        """Named keys (``Enter``, ``Escape``, ``C-c``…) or literal words, as ``tmux send-keys``."""
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        """Type ``text`` literally, character by character as a terminal would deliver it."""
        self._tmux("send-keys", "-t", "t", "-l", text)

    def paste(self, text: str) -> None:
        """Paste ``text`` as a terminal does: bracketed when the program asked for bracketed paste."""
        self._tmux("set-buffer", "-b", "p", text)
        self._tmux("paste-buffer", "-p", "-b", "p", "-t", "t")

    def screen(self) -> str:
        """Everything shown so far — scrollback and screen — as plain text, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")

    def visible(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, pattern: str, *, timeout: float = 20.0, count: int = 1) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) shows ``count`` times on ``screen()``; the last of those matches."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.M)
        while True:
            text = self.screen()
            found = list(regex.finditer(text))
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} did not show {count}× within {timeout} s; the terminal shows:\n{text}"
                )
            time.sleep(0.05)

    def exit_status(self, *, timeout: float = 15.0) -> int:
        """Wait for the program to end; its exit status (the pane's shell prints it as ``[exit N]``)."""
        return int(self.wait_for(r"^\[exit (\d+)\]$", timeout=timeout).group(1))

    def pid(self) -> int:
        return int(self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())

    def close(self) -> None:
        self._tmux("kill-server", check=False)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def session_env(home: Path) -> dict[str, str]:
    """The environment the session runs with: this one without model keys, ``AGENTRT_HOME`` set."""
    dropped = ("OPENAI_", "LLM_", "TMUX", "COLUMNS", "LINES", "NO_COLOR")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return keep | {"AGENTRT_HOME": str(home), "TERM": "xterm-256color"}


def write_script(path: Path, replies: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(replies))
    return path


def processes_with(marker: str) -> list[str]:
    """Command lines of live processes that contain ``marker`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(cmdline)
    return found
