"""The one seam through which applying a patch changes the filesystem, and path resolution.

Every write and delete goes through a :data:`FileWrite` callable: ``write(path, data)`` writes
``data`` to ``path`` (creating missing parent directories) and ``write(path, None)`` deletes the
file at ``path``; it raises :class:`OSError` on failure. :func:`local_write` is the default; a
sandbox can pass its own to confine what a patch may touch. Reads do not go through the seam.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

FileWrite = Callable[[Path, bytes | None], None]


def local_write(path: Path, data: bytes | None) -> None:
    """Write ``data`` to ``path`` (creating parents), or delete the file when ``data`` is ``None``."""
    if data is None:
        os.remove(path)
        return
    if not path.parent.is_dir():
        os.makedirs(path.parent, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def resolve(cwd: Path, path: str) -> Path:
    """``path`` joined to ``cwd`` (an absolute ``path`` stands alone), normalised lexically.

    ``.`` components and repeated slashes vanish and ``..`` removes the previous component without
    looking at the filesystem (so ``missing/../f`` is ``f``).
    """
    parts: list[str] = []
    for part in os.path.join(os.fspath(cwd), path).split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return Path("/" + "/".join(parts))
