"""The simulator as a separate process: for benchmarks that must not count its cost, and for tests
that drive agentrt as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from types import TracebackType

_READY = re.compile(r"http://127\.0\.0\.1:\d+/v1")


class SimProcess:
    """``agentrt sim-server --port 0 ARGS…`` in a child process; ``url`` once started. A context manager."""

    def __init__(self, args: Sequence[str] = (), *, python: str = sys.executable) -> None:
        self.argv = [python, "-m", "agentrt", "sim-server", "--port", "0", *args]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        self.proc = subprocess.Popen(self.argv, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = _READY.search(line)
        if not match:
            self.close()
            raise RuntimeError(f"the simulator did not start: {line.strip()!r}")
        self.url = match.group(0)
        return self.url

    def close(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> SimProcess:
        self.start()
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.close()
