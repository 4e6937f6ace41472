"""Where a path the model names lies on this host: ``PathMap``, the tools' one translation seam.

A benchmark task's commands run in a container layout (``bench.tasks``): its workspace is bound at
the Dockerfile's ``WORKDIR`` (``/app``), its logs at ``/logs``. agentrt's in-process tools
(``apply_patch``, the file tools, a command's ``workdir``) run on the host, where the same workspace
is a scratch directory. A ``PathMap`` lists those mounts (container path → host directory); the tools
read every path the model gives through ``ToolContext.path``, so ``*** Update File: /app/x.py`` edits
the file that commands see as ``/app/x.py``, and paths they print back are shown as the container
has them. The empty map, every session's but a task's, changes nothing.

The translation is lexical: ``..`` and ``.`` are folded before a path is matched against a mount, and
a path outside every mount is left as it is. It decides *where* a path is, never *whether* a tool may
touch it: the write policy and the hidden paths still judge the host path.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PathMap:
    """Container paths that are host directories (real paths), the most specific first (see the
    module)."""

    mounts: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, Path]]) -> PathMap:
        """A map of ``(container path, host directory)`` pairs; ``ValueError`` for a relative one."""
        mounts: list[tuple[str, Path]] = []
        for inside, host in pairs:
            if not inside.startswith("/") or not Path(host).is_absolute():
                raise ValueError(f"a mount joins two absolute paths, got {inside!r} -> {host}")
            mounts.append((_fold(inside), Path(os.path.realpath(host))))
        return cls(tuple(sorted(mounts, key=lambda m: len(m[0]), reverse=True)))

    def host(self, raw: str) -> str:
        """``raw`` as the host knows it: an absolute path at or under a mount's container path is
        translated; anything else (relative, or outside every mount) is returned unchanged."""
        if not self.mounts or not raw.startswith("/"):
            return raw
        folded = _fold(raw)
        for inside, host in self.mounts:
            if folded == inside:
                return str(host)
            if inside == "/" or folded.startswith(inside + "/"):
                return str(host / folded[len(inside) :].lstrip("/"))
        return raw

    def shown(self, path: Path) -> str:
        """Host ``path`` as the container shows it (``str(path)`` outside every mount)."""
        for inside, host in self.mounts:
            if path == host:
                return inside
            if path.is_relative_to(host):
                return posixpath.join(inside, path.relative_to(host).as_posix())
        return str(path)


def _fold(path: str) -> str:
    """``path`` with ``.``, ``..`` and repeated slashes folded; one leading slash."""
    return "/" + posixpath.normpath(path).lstrip("/")
