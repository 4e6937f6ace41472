"""In-process write confinement, for writes agentrt makes itself (``apply_patch``) outside a sandbox.

The strong way to confine ``apply_patch`` is Codex's: run ``python -m agentrt apply-patch PATCH``
under the chosen ``Sandbox`` like any other command, so the kernel checks every path. When the
runtime applies a patch in-process instead, pass ``confined_write(policy)`` as its ``write`` seam:

* the target is resolved the way the kernel will resolve it (symlinks, then ``..``) and must lie
  beneath a writable root of the policy and outside every protected path;
* the write goes to a temporary file in the (pinned, re-checked) target directory, then replaces
  the target with ``rename``; so a symlink swapped in after the check cannot redirect it, and a
  hard link to a file outside the roots is replaced, not written through: the outside file keeps
  its contents (the kernel sandboxes differ here: both bwrap and Landlock let a command write
  through a hard link that already exists inside a writable root, because they check the path
  used, not the inode; neither lets a command create such a link to an outside file);
* a delete removes the directory entry (a symlink, not what it points to).

``write_allowed`` is the check alone, for code that writes in place: it also refuses a regular file
with more than one hard link, since writing it in place would change every other name of it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from agentrt.sandbox.policy import SandboxPolicy, within_any

FileWrite = Callable[[Path, bytes | None], None]


def _allowed_real(policy: SandboxPolicy, real: Path) -> bool:
    """Whether the resolved path ``real`` is writable under ``policy`` (hard links not considered)."""
    if not policy.sandboxed or real == Path("/dev/null"):
        return True
    roots = tuple(Path(os.path.realpath(root)) for root in policy.write_roots())
    protected = tuple(Path(os.path.realpath(p)) for p in policy.protected)
    return within_any(real, roots) and not within_any(real, protected)


def write_allowed(policy: SandboxPolicy, path: Path) -> bool:
    """Whether writing ``path`` in place stays within what ``policy`` lets commands write."""
    real = Path(os.path.realpath(path))
    if not _allowed_real(policy, real):
        return False
    try:
        info = os.stat(real)
    except OSError:
        return True
    return not (policy.sandboxed and stat.S_ISREG(info.st_mode) and info.st_nlink > 1)


def _denied(path: Path) -> PermissionError:
    return PermissionError(errno.EACCES, "outside the sandbox's writable roots", str(path))


def _open_dir(policy: SandboxPolicy, directory: Path) -> int:
    """Open ``directory`` and check, through the open descriptor, that it is where writes may go."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if not _allowed_real(policy, Path(os.readlink(f"/proc/self/fd/{fd}"))):
        os.close(fd)
        raise _denied(directory)
    return fd


def _replace(policy: SandboxPolicy, target: Path, data: bytes) -> None:
    if not _allowed_real(policy, target):
        raise _denied(target)
    if not target.parent.is_dir():
        os.makedirs(target.parent, exist_ok=True)
    dirfd = _open_dir(policy, target.parent)
    temp = f".{target.name}.agentrt-{secrets.token_hex(4)}"
    try:
        try:
            mode: int | None = stat.S_IMODE(os.stat(target.name, dir_fd=dirfd).st_mode)
        except FileNotFoundError:
            mode = None
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666, dir_fd=dirfd)
        try:
            with open(fd, "wb", closefd=False) as out:
                out.write(data)
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(temp, target.name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    except BaseException:
        try:
            os.unlink(temp, dir_fd=dirfd)
        except OSError:
            pass
        raise
    finally:
        os.close(dirfd)


def _delete(policy: SandboxPolicy, path: Path) -> None:
    parent = Path(os.path.realpath(path.parent))
    if not _allowed_real(policy, parent / path.name):
        raise _denied(path)
    dirfd = _open_dir(policy, parent)
    try:
        os.unlink(path.name, dir_fd=dirfd)
    finally:
        os.close(dirfd)


def confined_write(policy: SandboxPolicy) -> FileWrite:
    """A ``FileWrite`` for ``apply_patch`` that writes only where ``policy`` allows (module docstring)."""

    def write(path: Path, data: bytes | None) -> None:
        if data is None:
            _delete(policy, path)
        else:
            _replace(policy, Path(os.path.realpath(path)), data)

    return write
