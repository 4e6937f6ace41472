"""Where a benchmark run keeps its scratch: the agents' workspaces and their test runs' ``TMPDIR``s.

A run makes some five files and directories per task (the workspace, ``pytest.ini``, the test file,
``solution.py``, a private temporary directory) and removes them again. On a RAM-backed file system
(tmpfs) each costs ~5 us of CPU; on an ext4 without a journal, as on the machines this project is
measured on, ext4 skips every inode freed in the last seconds to minutes when it picks a new one, so
under a benchmark's churn each new file or directory cost 160-260 us (measured: 1,000 workspaces of
three files, 1.5-2.4 ms CPU each on that ext4, 0.45 ms on ``/dev/shm``; a 1,000-agent run spent ~1 s
of its ~7 s there). So by default the scratch goes to ``/dev/shm`` where that is a tmpfs this user
can write with room to spare, and to the usual temporary directory otherwise, or when the
workspaces are to be kept (``--keep-workspaces``: RAM does not outlive a reboot). ``--work-dir``
chooses.

The run's directory is named after its process (``agentrt-bench-<owner_tag>-XXXXXXXX``): one left
by a run that was killed is removed by the next run that looks in the same place (a tmpfs holds
memory until then).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from agentrt.sandbox.hygiene import owned_dir

RAM_DIR = Path("/dev/shm")
MIN_FREE_BYTES = 256 << 20
"""A RAM-backed directory with less room than this left is passed over."""
_PREFIX = "agentrt-bench-"


def work_parent(chosen: Path | None, *, keep: bool, ram: Path = RAM_DIR) -> Path:
    """The directory a run's scratch directory is made in: ``chosen`` when given, else ``ram``
    where it is usable (module docstring) and the workspaces are not kept, else the temporary
    directory (``TMPDIR``)."""
    if chosen is not None:
        return chosen
    if not keep and ram_backed(ram) and _roomy(ram):
        return ram
    return Path(tempfile.gettempdir())


def make_work_root(parent: Path) -> Path:
    """A new, private directory for one run in ``parent``, after removing those of runs gone."""
    return Path(owned_dir(parent, _PREFIX))


def ram_backed(path: Path, mountinfo: str = "/proc/self/mountinfo") -> bool:
    """Whether ``path`` lies on a tmpfs (its mount as ``mountinfo`` lists it); ``False`` when unknown."""
    try:
        real = os.fsencode(os.path.realpath(path))
        with open(mountinfo, "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    best, fstype = b"", b""
    for line in lines:
        left, sep, right = line.partition(b" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        point = _unescape(fields[4])
        inside = real == point or real.startswith(point.rstrip(b"/") + b"/")
        if inside and len(point) >= len(best):
            best, fstype = point, right.split()[0]
    return fstype == b"tmpfs"


def _unescape(field: bytes) -> bytes:
    r"""A mountinfo path: space, tab, newline and backslash are written as ``\040`` and the like."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8) & 0xFF]), field)


def _roomy(path: Path) -> bool:
    try:
        stats = os.statvfs(path)
    except OSError:
        return False
    free = stats.f_bavail * stats.f_frsize
    return free >= MIN_FREE_BYTES and os.access(path, os.W_OK | os.X_OK)
