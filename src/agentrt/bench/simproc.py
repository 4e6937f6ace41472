"""The benchmark's simulated model in a process of its own (``--sim-process``).

In-process, the simulator's imports, its connections and its pacing timers count in the runtime's
peak RSS and CPU; at a thousand paced streams that is several MiB and a share of the CPU that is not
the runtime's. ``SimChild`` runs ``agentrt sim-server`` on the same tasks and settings instead, so the
runtime's numbers are its own, and reports what the simulator itself cost.

The child is started before the sampled window and stopped after it (its CPU never reaches the
runtime's ``children_cpu_s``), is left out of the children's sampled RSS, and dies with the runtime.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from agentrt.bench.dataset import Task, export_tasks
from agentrt.bench.telemetry import peak_rss_mib, process_cpu_s
from agentrt.process_group import die_with_parent

_READY = re.compile(rb"http://127\.0\.0\.1:\d+/v1")
_START_S = 60.0
_STOP_S = 5.0


class SimChild:
    """``agentrt sim-server --port 0 …`` as a child; ``base_url`` once ``start`` has returned."""

    def __init__(self, proc: asyncio.subprocess.Process, base_url: str) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.base_url = base_url
        self._drain: asyncio.Task[None] | None = None
        self.peak_rss_mib = 0.0
        self.cpu_s = 0.0

    @classmethod
    async def start(
        cls,
        tasks: list[Task],
        scratch: Path,
        *,
        policy: str,
        seed: int,
        fail_rate: float,
        ttft_ms: float,
        tps: float,
        model: str,
        python: str = sys.executable,
    ) -> SimChild:
        """Start the server on ``tasks`` (written as JSON into ``scratch``) and wait until it listens."""
        dataset = scratch / "sim-tasks.json"
        export_tasks(tasks, dataset)
        argv = [
            python, "-m", "agentrt", "sim-server", "--port", "0", "--policy", policy,
            "--dataset", str(dataset), "--seed", str(seed), "--fail-rate", repr(fail_rate),
            "--ttft-ms", repr(ttft_ms), "--tps", repr(tps), "--model", model,
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, preexec_fn=die_with_parent(),
        )  # fmt: skip
        assert proc.stderr is not None
        try:
            line = await asyncio.wait_for(proc.stderr.readline(), _START_S)
        except BaseException:
            await _stop(proc)
            raise
        match = _READY.search(line)
        if match is None:
            rest = b""
            if proc.returncode is None:
                await _stop(proc)
            else:
                rest = await proc.stderr.read()
            text = (line + rest).decode("utf-8", "replace").strip()
            raise RuntimeError(f"the simulator process did not start: {text[-500:]!r}")
        child = cls(proc, match.group(0).decode())
        child._drain = asyncio.get_running_loop().create_task(_discard(proc.stderr))
        return child

    def measure(self) -> None:
        """Take the child's peak RSS and CPU so far (``peak_rss_mib``, ``cpu_s``)."""
        self.peak_rss_mib = max(self.peak_rss_mib, peak_rss_mib(self.pid))
        self.cpu_s = max(self.cpu_s, process_cpu_s(self.pid))

    async def close(self) -> None:
        """Measure, then stop the child (TERM, a grace, KILL) and wait for it."""
        if self.proc.returncode is None:
            self.measure()
        await _stop(self.proc)
        if self._drain is not None:
            await asyncio.wait((self._drain,), timeout=_STOP_S)
            self._drain.cancel()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(proc.wait(), _STOP_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _discard(stream: asyncio.StreamReader) -> None:
    """Read what the child writes on stderr after its ready line, so it never blocks on a full pipe."""
    while await stream.read(65536):
        pass
