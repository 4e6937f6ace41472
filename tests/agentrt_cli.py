"""Running the ``agentrt`` command as a user does, for the tests: a real process, a given
``AGENTRT_HOME``, no model endpoint from the environment."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

AGENTRT = [sys.executable, "-m", "agentrt"]


def agentrt(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``agentrt ARGS…`` in ``cwd`` with ``AGENTRT_HOME=home``, a 160-column terminal, stdin closed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    return subprocess.run(
        [*AGENTRT, *args],
        cwd=cwd,
        env=env | {"AGENTRT_HOME": str(home), "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


class LiveRun:
    """An ``agentrt`` process in the background whose stderr (its progress lines) can be waited for."""

    def __init__(self, argv: list[str], env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env))
        self.stderr = ""

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Read stderr until ``text`` shows (``select`` with a deadline, not a sleep)."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while text not in self.stderr:
            ready, _, _ = select.select([fd], [], [], timeout)
            assert ready, f"no {text!r} within {timeout} s; stderr so far:\n{self.stderr}"
            chunk = os.read(fd, 65536)
            assert chunk, f"the run ended before {text!r}:\n{self.stderr}"
            self.stderr += chunk.decode()

    def finish(self, sig: signal.Signals | None = None, timeout: float = 180) -> tuple[int, str]:
        """Send ``sig`` (if given), wait for the exit; the exit status and the whole stderr."""
        if sig is not None:
            self.proc.send_signal(sig)
        _, rest = self.proc.communicate(timeout=timeout)
        self.stderr += rest.decode()
        return self.proc.returncode, self.stderr
