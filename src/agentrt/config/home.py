"""Where agentrt keeps its files: ``$AGENTRT_HOME``, else ``~/.agentrt`` (read, never written)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def agentrt_home(env: Mapping[str, str]) -> Path:
    """``$AGENTRT_HOME`` (``~`` expanded with ``env['HOME']``), else ``~/.agentrt``."""
    raw = env.get("AGENTRT_HOME", "").strip()
    if not raw:
        return user_home(env) / ".agentrt"
    if raw == "~" or raw.startswith("~/"):
        return user_home(env) / raw[2:]
    return Path(raw).absolute()


def user_home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()
