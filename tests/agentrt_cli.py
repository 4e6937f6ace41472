"""Running the ``agentrt`` command as a user does, for the tests: a real process, a given
``AGENTRT_HOME``, no model endpoint from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

AGENTRT = [sys.executable, "-m", "agentrt"]


def agentrt(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``agentrt ARGS…`` in ``cwd`` with ``AGENTRT_HOME=home``, a 160-column terminal, stdin closed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    return subprocess.run(
        [*AGENTRT, *args],
        cwd=cwd,
        env=env | {"AGENTRT_HOME": str(home), "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
