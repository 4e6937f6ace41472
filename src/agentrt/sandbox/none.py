"""The no-op sandbox: commands run with the runtime's own privileges, argv unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class NoSandbox:
    """A ``Sandbox`` that confines nothing; ``run_command`` uses it when no sandbox is given."""

    __slots__ = ("death_signal", "name", "pass_fds")

    def __init__(self) -> None:
        self.name = "none"
        self.pass_fds: tuple[int, ...] = ()
        self.death_signal = True

    def wrap(self, argv: Sequence[str], cwd: Path) -> list[str]:
        """Return ``argv`` as a new list; ``cwd`` is not needed when nothing is confined."""
        return list(argv)

    def close(self) -> None:
        """Nothing to release."""
