"""ResourceSampler against real processes and the real /proc."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentrt.bench.telemetry import (
    ResourceReport,
    ResourceSampler,
    _ProcTable,
    current_rss_mib,
    peak_rss_mib,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

# Touches 30 MiB (b"x" * n is written, so resident), says so, then waits for stdin to close.
HOLD_30MB = "import sys; b = b'x' * (30 << 20); print('ready', flush=True); sys.stdin.read()"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _spawn(code: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


async def _hold_until_sampled(proc: asyncio.subprocess.Process, samples: float = 0.15) -> None:
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    await asyncio.sleep(samples)
    await proc.communicate(b"")  # closes stdin: the holder exits


def test_helpers_read_this_process() -> None:
    rss = current_rss_mib()
    assert 5 < rss < 1024
    assert peak_rss_mib() >= rss - 1
    assert current_rss_mib(os.getpid()) > 5


def test_child_memory_is_counted() -> None:
    async def run() -> ResourceReport:
        async with ResourceSampler(interval_s=0.02) as sampler:
            await _hold_until_sampled(await _spawn(HOLD_30MB))
        return sampler.report()

    report = asyncio.run(run())
    assert report.peak_children_rss_mib >= 25
    assert report.peak_live_children >= 1
    assert 5 < report.peak_rss_mib < 1024
    assert report.timeline[-1].live_children == 0  # the final sample comes after the child was reaped
    assert report.samples >= 5
    assert any(s.children_rss_mib >= 25 and s.live_children >= 1 for s in report.timeline)
    assert report.sampler_cpu_s <= report.runtime_cpu_s + 0.01


def test_an_excluded_child_and_its_descendants_are_not_counted() -> None:
    # Like the simulator in its own process: a helper whose memory is not part of what is measured.
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOLD_30MB!r}])"

    async def run() -> ResourceReport:
        async with ResourceSampler(interval_s=0.02) as sampler:
            helper = await _spawn(parent)
            sampler.exclude = frozenset({helper.pid})
            counted = _hold_until_sampled(await _spawn(HOLD_30MB))
            await asyncio.gather(counted, _hold_until_sampled(helper))
        return sampler.report()

    report = asyncio.run(run())
    assert report.peak_live_children == 1, "the helper and its grandchild are left out"
    assert 25 <= report.peak_children_rss_mib < 55, "one 30 MiB holder counted, not two"


def test_a_child_excluded_from_the_start_is_not_in_the_first_sample() -> None:
    # Like a --local model server, started before the run: its RSS was once the children's peak, taken
    # by the sample the sampler makes as it opens, before an exclusion set afterwards applied.
    async def run() -> ResourceReport:
        helper = await _spawn(HOLD_30MB)
        assert helper.stdout is not None
        assert (await helper.stdout.readline()).strip() == b"ready"
        async with ResourceSampler(interval_s=0.02, exclude=frozenset({helper.pid})) as sampler:
            await asyncio.sleep(0.1)
        await helper.communicate(b"")
        return sampler.report()

    report = asyncio.run(run())
    assert report.peak_live_children == 0 and report.peak_children_rss_mib == 0


def test_grandchildren_are_counted() -> None:
    # The child is a small interpreter; the 30 MiB live in the grandchild, which shares its pipes.
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOLD_30MB!r}])"

    async def run() -> ResourceReport:
        async with ResourceSampler(interval_s=0.02) as sampler:
            await _hold_until_sampled(await _spawn(parent))
        return sampler.report()

    report = asyncio.run(run())
    assert report.peak_live_children >= 2
    assert report.peak_children_rss_mib >= 30


def test_children_of_other_threads_are_found() -> None:
    # A process's children are listed per thread: one forked from a worker thread must still count.
    def spawn_from_thread() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", HOLD_30MB], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    async def run() -> ResourceReport:
        async with ResourceSampler(interval_s=0.02) as sampler:
            proc = await asyncio.to_thread(spawn_from_thread)
            try:
                assert proc.stdout is not None
                assert await asyncio.to_thread(proc.stdout.readline) == b"ready\n"
                await asyncio.sleep(0.15)
            finally:
                await asyncio.to_thread(proc.communicate)
        return sampler.report()

    report = asyncio.run(run())
    assert report.peak_live_children >= 1
    assert report.peak_children_rss_mib >= 25


def test_cpu_of_runtime_and_reaped_children() -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass"

    async def run() -> ResourceReport:
        async with ResourceSampler(interval_s=0.05) as sampler:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", burn)
            assert await proc.wait() == 0
            start = time.process_time()
            while time.process_time() - start < 0.05:
                pass
        return sampler.report()

    report = asyncio.run(run())
    assert report.children_cpu_s >= 0.15
    assert report.runtime_cpu_s >= 0.04


def test_timeline_stays_bounded_and_evenly_spaced() -> None:
    async def run() -> ResourceReport:
        async with ResourceSampler(interval_s=0.002, max_samples=16) as sampler:
            await asyncio.sleep(0.3)
        return sampler.report()

    report = asyncio.run(run())
    assert report.samples > 32
    assert len(report.timeline) <= 17  # max_samples, plus the final sample taken on exit
    times = [s.t_s for s in report.timeline]
    assert times == sorted(times)
    gaps = [b - a for a, b in zip(times[:-2], times[1:-1], strict=True)]
    assert max(gaps) < 4 * min(gaps) + 0.02


@pytest.mark.skipif(shutil.which("true") is None, reason="needs the `true` executable")
def test_churn_of_short_lived_processes_is_tolerated_and_fds_released() -> None:
    true = shutil.which("true")
    assert true is not None
    before = _open_fds()

    async def run() -> ResourceReport:
        async with ResourceSampler(interval_s=0.001) as sampler:
            for _ in range(4):
                procs = [await asyncio.create_subprocess_exec(true) for _ in range(10)]
                await asyncio.gather(*(p.wait() for p in procs))
        return sampler.report()

    report = asyncio.run(run())
    assert report.samples >= 2
    assert _open_fds() == before


def test_sampling_another_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_30MB], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"

        async def run() -> ResourceReport:
            async with ResourceSampler(interval_s=0.02, pid=proc.pid) as sampler:
                await asyncio.sleep(0.06)
            return sampler.report()

        report = asyncio.run(run())
    finally:
        proc.communicate()
    assert report.peak_rss_mib >= 25
    assert report.peak_live_children == 0
    assert max(s.rss_mib for s in report.timeline) >= 25


def test_descriptor_budget_only_changes_cost_not_results() -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_30MB], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        held, unheld = _ProcTable(512), _ProcTable(0)
        try:
            for _ in range(3):
                with_fds, without = held.scan(os.getpid()), unheld.scan(os.getpid())
                assert with_fds[2] == without[2] >= 1
                assert abs(with_fds[1] - without[1]) * os.sysconf("SC_PAGE_SIZE") < 8 << 20
        finally:
            held.close()
            unheld.close()
    finally:
        proc.communicate()


def test_error_in_block_propagates_and_releases_descriptors() -> None:
    before = _open_fds()

    async def run() -> None:
        async with ResourceSampler(interval_s=0.01):
            await asyncio.sleep(0.03)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        asyncio.run(run())
    assert _open_fds() == before


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        ResourceSampler(interval_s=0)
    with pytest.raises(ValueError):
        ResourceSampler(max_samples=1)
