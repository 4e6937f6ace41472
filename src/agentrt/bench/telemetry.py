"""Resource sampling for benchmark runs: memory and CPU of the runtime process and its descendants.

``ResourceSampler`` is an async context manager that, while open, samples every ``interval_s`` from
an asyncio task on the running loop:

* the RSS of the sampled process (by default the runtime itself),
* the summed RSS and the number of its live descendants (children, grandchildren, ...), found by
  walking ``/proc/<pid>/task/<tid>/children``.

A sample has to stay cheap while a hundred agents run their test subprocesses, so the sampler reads
``/proc/<pid>/stat`` (state, thread count and RSS in one read) and keeps the ``/proc`` files of the
processes it tracks open, re-reading them with ``pread`` instead of opening them again. How many
descriptors it may hold is bounded (a quarter of the soft ``RLIMIT_NOFILE``, at most 512); past that
it opens and closes per read. Processes that exit mid-read are skipped.

CPU comes from ``getrusage`` deltas over the sampled window: the runtime's own user+sys time, and the
user+sys time of children reaped during the window. Linux only; elsewhere samples read as zero.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

_MIB = 1024.0 * 1024.0
_CHUNK = 4096
_DEAD_STATES = (b"Z", b"X", b"x")
_MAX_HELD_FDS = 512


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample: seconds since the sampler started, the process's RSS, its descendants' RSS."""

    t_s: float
    rss_mib: float
    children_rss_mib: float
    live_children: int


@dataclass(frozen=True, slots=True)
class ResourceReport:
    """What the sampled process and its descendants cost over the sampled window."""

    peak_rss_mib: float
    """Max of the sampled RSS and the kernel's high-water mark (``VmHWM``), which also counts spikes
    between samples."""
    peak_children_rss_mib: float
    """Max over samples of the summed RSS of all live descendants."""
    peak_live_children: int
    runtime_cpu_s: float
    """User+sys CPU of the sampled process during the window (sampler included)."""
    children_cpu_s: float
    """User+sys CPU of children reaped during the window."""
    timeline: tuple[Sample, ...]
    sampler_cpu_s: float = 0.0
    """CPU the sampling itself took (part of ``runtime_cpu_s``)."""
    samples: int = 0
    """Samples taken; the timeline keeps an evenly spaced subset of them."""


def current_rss_mib(pid: int | None = None) -> float:
    """Resident set size of ``pid`` (default: this process) in MiB; 0.0 when it cannot be read."""
    data = _read_path(f"/proc/{'self' if pid is None else pid}/statm")
    fields = data.split()
    if len(fields) < 2:
        return 0.0
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE") / _MIB


def peak_rss_mib(pid: int | None = None) -> float:
    """Peak RSS (``VmHWM``) of ``pid`` (default: this process) in MiB.

    Without ``/proc`` it falls back to ``getrusage`` for this process, and 0.0 for another."""
    data = _read_path(f"/proc/{'self' if pid is None else pid}/status")
    start = data.find(b"VmHWM:")
    if start < 0:
        if pid is None or pid == os.getpid():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return 0.0
    end = data.find(b"kB", start)
    return int(data[start + 6 : end]) / 1024.0


def _read_path(path: str) -> bytes:
    """The whole content of a ``/proc`` file, or ``b""`` when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        return _read_fd(fd)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _read_fd(fd: int) -> bytes:
    """Re-read a ``/proc`` file from offset 0 (the kernel regenerates it on each read)."""
    data = os.pread(fd, _CHUNK, 0)
    if len(data) < _CHUNK:
        return data
    parts = [data]
    offset = len(data)
    while True:
        part = os.pread(fd, _CHUNK, offset)
        if not part:
            return b"".join(parts)
        parts.append(part)
        offset += len(part)


def process_cpu_s(pid: int | None = None) -> float:
    """User+sys CPU seconds of ``pid`` (default: this process) so far; 0.0 when it cannot be read."""
    return _cpu_times(os.getpid() if pid is None else pid)[0]


def _cpu_times(pid: int) -> tuple[float, float]:
    """(own user+sys, reaped children's user+sys) of ``pid`` in seconds."""
    if pid == os.getpid():
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime
    data = _read_path(f"/proc/{pid}/stat")
    fields = data[data.rfind(b")") + 2 :].split()
    if len(fields) < 15:
        return 0.0, 0.0
    tick = float(os.sysconf("SC_CLK_TCK"))
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


class _Proc:
    """A tracked process: its held ``/proc`` descriptors (-1: open per read) and its last stat."""

    __slots__ = ("child_fds", "gen", "live", "pid", "rss_pages", "stat_fd", "threads")

    def __init__(self, pid: int, stat_fd: int) -> None:
        self.pid = pid
        self.stat_fd = stat_fd
        self.child_fds: dict[int, int] = {}
        self.gen = 0
        self.live = False
        self.threads = 1
        self.rss_pages = 0


class _ProcTable:
    """Walks a process tree through ``/proc``, holding descriptors of the processes it has seen."""

    def __init__(self, fd_budget: int) -> None:
        self._procs: dict[int, _Proc] = {}
        self._stack: list[int] = []
        self._budget = fd_budget
        self._held = 0
        self._gen = 0

    def scan(self, root_pid: int, exclude: frozenset[int] = frozenset()) -> tuple[int, int, int]:
        """(root RSS pages, summed RSS pages of live descendants, live descendants); the processes
        in ``exclude`` and their descendants are not counted."""
        self._gen += 1
        gen = self._gen
        root = self._visit(root_pid, gen)
        if root is None:
            self.close()
            return 0, 0, 0
        stack = self._stack
        self._push_children(root, stack)
        pages = live = 0
        visited = 1
        while stack:
            pid = stack.pop()
            if pid in exclude:
                continue
            proc = self._visit(pid, gen)
            if proc is None:
                continue
            visited += 1
            if proc.live:
                pages += proc.rss_pages
                live += 1
                self._push_children(proc, stack)
        if visited != len(self._procs):
            self._sweep(gen)
        return root.rss_pages, pages, live

    def close(self) -> None:
        """Release every held descriptor."""
        for proc in list(self._procs.values()):
            self._drop(proc)

    def _visit(self, pid: int, gen: int) -> _Proc | None:
        proc = self._procs.get(pid)
        if proc is not None:
            if proc.gen == gen:
                return None
            if self._refresh(proc):
                proc.gen = gen
                return proc
            self._drop(proc)  # exited, or the pid now names another process
        try:
            proc = _Proc(pid, self._open(f"/proc/{pid}/stat"))
        except OSError:
            return None
        self._procs[pid] = proc
        if not self._refresh(proc):
            self._drop(proc)
            return None
        proc.gen = gen
        return proc

    def _refresh(self, proc: _Proc) -> bool:
        try:
            data = _read_fd(proc.stat_fd) if proc.stat_fd >= 0 else _read_path(f"/proc/{proc.pid}/stat")
        except OSError:
            return False
        fields = data[data.rfind(b")") + 2 :].split(None, 22)
        if len(fields) < 22:
            return False
        proc.live = fields[0] not in _DEAD_STATES
        proc.threads = int(fields[17])
        proc.rss_pages = int(fields[21])
        return True

    def _push_children(self, proc: _Proc, stack: list[int]) -> None:
        pid = proc.pid
        fds = proc.child_fds
        if proc.threads > 1:
            try:
                tids = [int(name) for name in os.listdir(f"/proc/{pid}/task")]
            except OSError:
                return
            self._set_tids(proc, tids)
        elif len(fds) != 1 or pid not in fds:
            self._set_tids(proc, (pid,))
        for tid, fd in fds.items():
            try:
                data = _read_fd(fd) if fd >= 0 else _read_path(f"/proc/{pid}/task/{tid}/children")
            except OSError:
                continue  # thread exited since the listing
            stack.extend(map(int, data.split()))

    def _set_tids(self, proc: _Proc, tids: list[int] | tuple[int, ...]) -> None:
        fds = proc.child_fds
        if len(tids) == len(fds) and all(tid in fds for tid in tids):
            return
        wanted = set(tids)
        for tid in [tid for tid in fds if tid not in wanted]:
            self._release(fds.pop(tid))
        for tid in tids:
            if tid not in fds:
                try:
                    fds[tid] = self._open(f"/proc/{proc.pid}/task/{tid}/children")
                except OSError:
                    continue

    def _open(self, path: str) -> int:
        """A held descriptor for ``path``, or -1 (read by path each time) once the budget is spent."""
        if self._held >= self._budget:
            return -1
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._held += 1
        return fd

    def _release(self, fd: int) -> None:
        if fd >= 0:
            os.close(fd)
            self._held -= 1

    def _drop(self, proc: _Proc) -> None:
        self._release(proc.stat_fd)
        proc.stat_fd = -1
        for fd in proc.child_fds.values():
            self._release(fd)
        proc.child_fds.clear()
        self._procs.pop(proc.pid, None)

    def _sweep(self, gen: int) -> None:
        for proc in [proc for proc in self._procs.values() if proc.gen != gen]:
            self._drop(proc)


class ResourceSampler:
    """Samples a process (default: this one) and its descendants while the context is open.

    ``async with ResourceSampler() as sampler: ...`` then ``sampler.report()``. The timeline keeps
    at most ``max_samples`` evenly spaced samples (it halves itself when full); peaks cover every
    sample taken. Descendants whose pid is in ``exclude`` (set it while open, too) are left out with
    their own descendants: a helper that is not part of what is measured."""

    def __init__(
        self,
        interval_s: float = 0.05,
        pid: int | None = None,
        *,
        max_samples: int = 4096,
        exclude: frozenset[int] = frozenset(),
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if max_samples < 2:
            raise ValueError(f"max_samples must be >= 2, got {max_samples}")
        self._interval = interval_s
        self._pid = os.getpid() if pid is None else pid
        self._max_samples = max_samples
        self._page_mib = os.sysconf("SC_PAGE_SIZE") / _MIB
        self._table: _ProcTable | None = None
        self._task: asyncio.Task[None] | None = None
        self.exclude = exclude
        """Left out from the first sample on (given here) or from when it is set."""
        self._reset()

    def _reset(self) -> None:
        self._t0 = time.monotonic()
        self._cpu0 = (0.0, 0.0)
        self._cpu1: tuple[float, float] | None = None
        self._hwm_mib: float | None = None
        self._timeline: list[Sample] = []
        self._stride = 1
        self._count = 0
        self._peak_rss = 0.0
        self._peak_kids = 0.0
        self._peak_live = 0
        self._sampler_cpu = 0.0

    async def __aenter__(self) -> ResourceSampler:
        if self._task is not None:
            raise RuntimeError("ResourceSampler is already running")
        self._reset()
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        budget = _MAX_HELD_FDS if soft == resource.RLIM_INFINITY else min(_MAX_HELD_FDS, soft // 4)
        self._table = _ProcTable(budget)
        self._cpu0 = _cpu_times(self._pid)
        self._take(force=True)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="agentrt-resource-sampler")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        try:
            if task is not None:
                task.cancel()
                await asyncio.wait((task,))
                if not task.cancelled() and task.exception() is not None and exc is None:
                    raise RuntimeError("resource sampler failed") from task.exception()
            self._take(force=True)
            self._cpu1 = _cpu_times(self._pid)
            self._hwm_mib = peak_rss_mib(self._pid)
        finally:
            if self._table is not None:
                self._table.close()
                self._table = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += self._interval
            delay = deadline - loop.time()
            if delay < 0:  # fell behind (blocked loop): resume the cadence from now, no burst
                deadline = loop.time()
                delay = 0.0
            await asyncio.sleep(delay)
            self._take(force=False)

    def _take(self, *, force: bool) -> None:
        """Take one sample; keep it in the timeline when it falls on the stride (or ``force``)."""
        if self._table is None:
            return
        cpu_start = time.thread_time()
        root_pages, kid_pages, live = self._table.scan(self._pid, self.exclude)
        rss = root_pages * self._page_mib
        kids = kid_pages * self._page_mib
        self._peak_rss = max(self._peak_rss, rss)
        self._peak_kids = max(self._peak_kids, kids)
        self._peak_live = max(self._peak_live, live)
        index = self._count
        self._count += 1
        timeline = self._timeline
        if force or index % self._stride == 0:
            timeline.append(Sample(time.monotonic() - self._t0, rss, kids, live))
            if len(timeline) > self._max_samples:
                del timeline[1::2]
                self._stride *= 2
        self._sampler_cpu += time.thread_time() - cpu_start

    def report(self) -> ResourceReport:
        """The report so far: final once the context has exited, live while it is open."""
        cpu1 = self._cpu1 if self._cpu1 is not None else _cpu_times(self._pid)
        hwm = self._hwm_mib if self._hwm_mib is not None else peak_rss_mib(self._pid)
        return ResourceReport(
            peak_rss_mib=max(self._peak_rss, hwm),
            peak_children_rss_mib=self._peak_kids,
            peak_live_children=self._peak_live,
            runtime_cpu_s=max(0.0, cpu1[0] - self._cpu0[0]),
            children_cpu_s=max(0.0, cpu1[1] - self._cpu0[1]),
            timeline=tuple(self._timeline),
            sampler_cpu_s=self._sampler_cpu,
            samples=self._count,
        )
