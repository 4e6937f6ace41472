"""Telling a sandbox denial from an ordinary failure, by what the failed command printed."""

from __future__ import annotations

_DENIAL_MARKERS = (
    "permission denied",
    "read-only file system",
    "operation not permitted",
    "network is unreachable",
    "temporary failure in name resolution",
    "could not resolve host",
    "connection refused",
)


def looks_like_sandbox_denial(exit_code: int | None, output: str) -> str | None:
    """The line that suggests the sandbox blocked a failed command, if any."""
    if exit_code == 0:
        return None
    for line in output.splitlines():
        if any(marker in line.lower() for marker in _DENIAL_MARKERS):
            return line.strip()[:200]
    return None
